"""Sidebar panels (3D viewport, tab "Design Space"): drawing only, state lives in properties.py."""

import bpy

from .data_panel import DESIGN_SPACE_PT_data

classes = (DESIGN_SPACE_PT_data,)


# Registered in order, unregistered in reverse.
register, unregister = bpy.utils.register_classes_factory(classes)
