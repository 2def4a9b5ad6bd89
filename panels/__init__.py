"""Sidebar panels (3D viewport, tab "Design Space"): drawing only, state lives in properties.py."""

import bpy

from .comparisons_panel import DESIGN_SPACE_PT_comparisons
from .data_panel import DESIGN_SPACE_PT_data
from .learning_panel import DESIGN_SPACE_PT_learning, DESIGN_SPACE_UL_models
from .parts_panel import DESIGN_SPACE_PT_parts
from .recognition_panel import DESIGN_SPACE_PT_recognition
from .shape_space_panel import DESIGN_SPACE_PT_shape_space
from .volumes_panel import DESIGN_SPACE_PT_volumes

classes = (DESIGN_SPACE_PT_data, DESIGN_SPACE_PT_shape_space, DESIGN_SPACE_PT_parts, DESIGN_SPACE_PT_comparisons,
           DESIGN_SPACE_PT_recognition, DESIGN_SPACE_PT_volumes, DESIGN_SPACE_UL_models, DESIGN_SPACE_PT_learning)


# Registered in order, unregistered in reverse.
register, unregister = bpy.utils.register_classes_factory(classes)
