"""The Shape Space section: learn a PCA space from the training collection (or an articulated one of
posed meshes), sample new shapes (rigged people in a chosen pose), learn attribute sliders and edit
meshes with them."""

import bpy

from ..operators.image_bridge import picture_icon
from ..operators.shape_space.learn_attributes import FIT_IMAGE
from ..operators.shape_space.learn_shape_space import VARIANCE_IMAGE
from .sidebar import DesignSpaceSidebar


def _picture(layout, name: str, caption: str) -> None:
    icon = picture_icon(name)
    if icon is not None:
        layout.label(text=caption)
        layout.template_icon(icon_value=icon, scale=10.0)


class DESIGN_SPACE_PT_shape_space(DesignSpaceSidebar, bpy.types.Panel):
    bl_label = "Shape Space"
    bl_idname = "DESIGN_SPACE_PT_shape_space"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.design_space
        column = layout.column()
        column.enabled = settings.training_collection is not None
        column.operator("design_space.learn_shape_space", icon='MOD_MESHDEFORM')
        column.operator("design_space.learn_shape_space", text="Learn Articulated (Posed Meshes)",
                        icon='ARMATURE_DATA').alignment = 'ARTICULATED'
        row = column.row(align=True)
        row.prop(settings, "shape_template", text="")
        row.operator("design_space.learn_shape_space", text="Fit Template",
                     icon='MOD_SHRINKWRAP').correspondence = 'TEMPLATE'
        column.operator("design_space.generate_shapes", icon='SHADERFX')
        column.operator_menu_enum("design_space.generate_shapes", "pose", text="Generate Posed People",
                                  icon='POSE_HLT')  # articulated spaces: rest, selected or sampled pose

        layout.prop(settings, "shape_attributes", icon='PROPERTIES')
        layout.operator("design_space.learn_attributes", icon='OPTIONS')
        row = layout.row(align=True)
        row.operator("design_space.project_shape", text="Edit a Copy", icon='DUPLICATE').target = 'COPY'
        row.operator("design_space.project_shape", text="Edit Mesh", icon='EDITMODE_HLT').target = 'IN_PLACE'

        obj = context.active_object
        if obj is not None and obj.type == 'MESH' and len(obj.design_space_edit.sliders):
            box = layout.box()
            components = obj.design_space_edit.sliders[0].name == "PC1"  # a bare shape space's sliders
            box.label(text=f"{'Components (σ)' if components else 'Attributes'} of {obj.name}", icon='OBJECT_DATA')
            for item in obj.design_space_edit.sliders:
                box.prop(item, "value", text=item.name)
            if obj.design_space_edit.message:
                box.label(text=obj.design_space_edit.message, icon='ERROR')
            elif obj.design_space_edit.notice:
                box.label(text=obj.design_space_edit.notice, icon='INFO')
            error = obj.get("design_space_projection_error")
            if error is not None:
                box.label(text=f"Projection error {1000 * float(error):.3g} mm per vertex", icon='DRIVER_DISTANCE')
        if obj is not None and obj.get("design_space_kind") == "shape_space" and obj.data.shape_keys:
            box = layout.box()
            box.label(text="Components (shape keys)", icon='SHAPEKEY_DATA')
            for block in obj.data.shape_keys.key_blocks[1:]:
                box.prop(block, "value", text=block.name, slider=True)
        _picture(layout, VARIANCE_IMAGE, "Variance explained (%) by components")
        _picture(layout, FIT_IMAGE, "Attribute fit: error against log10 λ")
