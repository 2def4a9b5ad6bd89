"""The Shape Space section: learn a PCA space from the training collection, sample new shapes."""

import bpy

from .sidebar import DesignSpaceSidebar


class DESIGN_SPACE_PT_shape_space(DesignSpaceSidebar, bpy.types.Panel):
    bl_label = "Shape Space"
    bl_idname = "DESIGN_SPACE_PT_shape_space"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.design_space
        column = layout.column()
        column.enabled = settings.training_collection is not None
        column.operator("design_space.learn_shape_space", icon='MOD_MESHDEFORM')
        column.operator("design_space.generate_shapes", icon='SHADERFX')
        obj = context.active_object
        if obj is not None and obj.get("design_space_kind") == "shape_space" and obj.data.shape_keys:
            layout.label(text=f"Components of {obj.name}:")
            for block in obj.data.shape_keys.key_blocks[1:]:
                layout.prop(block, "value", text=block.name, slider=True)
