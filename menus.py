"""Object ▸ Design Space in the 3D viewport: every operator, grouped as the sidebar is, so F3 finds
them all (Blender's search covers menus) and each shows its tooltip."""

import bpy

# (submenu label, icon, operator idnames without the "design_space." prefix)
SECTIONS = (
    ("Data", 'IMPORT', ("import_dataset", "create_demo_collections", "export_training_dataset")),
    ("Learning", 'PREFERENCES', ("train_attribute_predictor", "predict_attribute", "load_model", "cancel_job",
                                            "install_torch")),
    ("Shape Space", 'SHAPEKEY_DATA', ("learn_shape_space", "generate_shapes", "learn_attributes", "project_shape",
                                      "edit_attributes")),
    ("Part Assembly", 'MOD_BUILD', ("learn_part_model", "assemble_parts", "swap_part", "keep_assembly",
                                    "adjust_part")),
    ("Comparisons", 'SORTSIZE', ("next_comparison", "answer_comparison", "learn_comparisons", "rank_by_attribute",
                                 "score_attribute", "edit_by_phrase", "import_comparisons", "export_comparisons")),
    ("Recognition", 'VIEWZOOM', ("train_classifier", "classify", "find_similar", "train_sketch_search",
                                 "sketch_search")),
    ("Volumes", 'MESH_CUBE', ("learn_volumetric", "generate_volumetric", "interpolate_volumetric",
                              "complete_volumetric")),
)


def _submenu(label: str, idnames: tuple):
    def draw(self, context):
        for idname in idnames:
            self.layout.operator(f"design_space.{idname}")

    name = "VIEW3D_MT_design_space_" + label.lower().replace(" ", "_")
    return type(name, (bpy.types.Menu,), {"bl_idname": name, "bl_label": label, "draw": draw})


SUBMENUS = tuple(_submenu(label, idnames) for label, _, idnames in SECTIONS)


class VIEW3D_MT_design_space(bpy.types.Menu):
    bl_idname = "VIEW3D_MT_design_space"
    bl_label = "Design Space"

    def draw(self, context):
        for (label, icon, _), submenu in zip(SECTIONS, SUBMENUS):
            self.layout.menu(submenu.bl_idname, icon=icon)


def draw_in_object_menu(self, context):
    self.layout.separator()
    self.layout.menu(VIEW3D_MT_design_space.bl_idname)


classes = SUBMENUS + (VIEW3D_MT_design_space,)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register():
    _register_classes()
    bpy.types.VIEW3D_MT_object.append(draw_in_object_menu)


def unregister():
    bpy.types.VIEW3D_MT_object.remove(draw_in_object_menu)
    _unregister_classes()
