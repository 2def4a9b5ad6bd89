"""Operators: read the scene, call the pure core, write results through the mesh bridge."""

import bpy

from .create_demo_collections import DESIGN_SPACE_OT_create_demo_collections
from .import_dataset import DESIGN_SPACE_OT_import_dataset

classes = (
    DESIGN_SPACE_OT_import_dataset,
    DESIGN_SPACE_OT_create_demo_collections,
)


# Registered in order, unregistered in reverse.
register, unregister = bpy.utils.register_classes_factory(classes)
