"""Classify the selected shapes with the active multi-view classifier."""

from __future__ import annotations

import bpy
import numpy as np

from .classifiers import active_classifier, shape_views
from .mesh_bridge import set_custom_properties
from .model_store import active_model
from .operator_support import reports_errors


def active_class_model(context):
    """(class names, objects -> (N, C) probabilities) of the active model: a multi-view classifier, or a
    deep volumetric model (its encoder names the class from the voxel grid)."""
    from ..learning.volumetric import VAE_KIND

    entry = active_model(context.scene)
    if entry is not None and entry.kind == VAE_KIND:
        from .volumetric_support import active_volumetric, mesh_grid

        _, model, _ = active_volumetric(context)
        return model.conditions.classes, lambda objects: model.classify(
            np.array([mesh_grid(obj, model.resolution)[0] for obj in objects]))
    classifier, _, _, _ = active_classifier(context)
    return classifier.classes, lambda objects: classifier.probabilities(shape_views(objects, classifier.resolution))


class DESIGN_SPACE_OT_classify(bpy.types.Operator):
    """Say what each selected shape is, with the active classifier (multi-view or deep volumetric): writes predicted_category and predicted_confidence on each"""

    bl_idname = "design_space.classify"
    bl_label = "Classify Selected"
    bl_options = {'REGISTER', 'UNDO'}

    @reports_errors
    def execute(self, context):
        classes, probabilities_of = active_class_model(context)
        objects = [o for o in context.selected_objects if o.type == 'MESH' and o.parent is None]
        if not objects:
            raise ValueError("Select the shapes to classify (mesh objects)")
        probabilities = probabilities_of(objects)
        said = []
        for obj, p in zip(objects, probabilities):
            best = int(p.argmax())
            set_custom_properties(obj, {"predicted_category": classes[best],
                                        "predicted_confidence": float(p[best])})
            said.append(f"{obj.name}: {classes[best]} ({100 * p[best]:.0f}%)")
        self.report({'INFO'}, "; ".join(said[:6]) + (f"; and {len(said) - 6} more" if len(said) > 6 else ""))
        return {'FINISHED'}
