"""Sidebar panels (3D viewport, tab "Design Space"): drawing only, state lives in properties.py."""

import bpy

from .data_panel import DESIGN_SPACE_PT_data

classes = (DESIGN_SPACE_PT_data,)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
