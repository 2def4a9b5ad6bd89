"""The Data section of the Design Space sidebar tab."""

import bpy

from .sidebar import DesignSpaceSidebar


class DESIGN_SPACE_PT_data(DesignSpaceSidebar, bpy.types.Panel):
    bl_label = "Data"
    bl_idname = "DESIGN_SPACE_PT_data"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.design_space

        layout.label(text="Training Collection")
        layout.prop(settings, "training_collection", text="")
        collection = settings.training_collection
        if collection is not None:
            meshes = sum(1 for o in collection.all_objects if o.type == 'MESH')
            layout.label(text=f"{meshes} mesh objects, {len(collection.children)} child collections",
                         icon='OUTLINER_COLLECTION')

        box = layout.box()
        box.label(text="Import", icon='IMPORT')
        box.operator("design_space.import_dataset", text="Import Dataset Folder…", icon='FILE_FOLDER')

        box = layout.box()
        box.label(text="Built-in Data", icon='MESH_MONKEY')
        column = box.column(align=True)
        column.prop(settings, "demo_shapes_per_family")
        column.prop(settings, "demo_body_count")
        column.prop(settings, "demo_seed")
        box.operator("design_space.create_demo_collections", icon='ADD')
