"""Operators: read the scene, call the pure core, write results through the mesh bridge."""

import bpy

from .create_demo_collections import DESIGN_SPACE_OT_create_demo_collections
from .import_dataset import DESIGN_SPACE_OT_import_dataset

classes = (
    DESIGN_SPACE_OT_import_dataset,
    DESIGN_SPACE_OT_create_demo_collections,
)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
