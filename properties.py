"""Scene state of Design Space (the panels only draw it)."""

import bpy
from bpy.props import IntProperty, PointerProperty


class DesignSpaceSceneProperties(bpy.types.PropertyGroup):
    training_collection: PointerProperty(
        name="Training Collection",
        description="Collection of shapes that Design Space learns from",
        type=bpy.types.Collection,
    )
    demo_shapes_per_family: IntProperty(
        name="Shapes per Family",
        description="How many procedural shapes to make for each family",
        default=12, min=1, max=500,
    )
    demo_body_count: IntProperty(
        name="MakeHuman Bodies",
        description="How many MakeHuman bodies to make (0 for none; needs the MakeHuman data in preferences)",
        default=8, min=0, max=500,
    )
    demo_seed: IntProperty(
        name="Seed",
        description="Random seed: the same seed makes the same shapes",
        default=0, min=0,
    )


classes = (DesignSpaceSceneProperties,)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.design_space = PointerProperty(type=DesignSpaceSceneProperties)


def unregister():
    del bpy.types.Scene.design_space
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
