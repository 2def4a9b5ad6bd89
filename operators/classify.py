"""Classify the selected shapes with the active multi-view classifier."""

from __future__ import annotations

import bpy

from .classifiers import active_classifier, shape_views
from .mesh_bridge import set_custom_properties
from .operator_support import reports_errors


class DESIGN_SPACE_OT_classify(bpy.types.Operator):
    """Say what each selected shape is, with the active classifier: writes predicted_category and predicted_confidence on each"""

    bl_idname = "design_space.classify"
    bl_label = "Classify Selected"
    bl_options = {'REGISTER', 'UNDO'}

    @reports_errors
    def execute(self, context):
        classifier, _, _, _ = active_classifier(context)
        objects = [o for o in context.selected_objects if o.type == 'MESH' and o.parent is None]
        if not objects:
            raise ValueError("Select the shapes to classify (mesh objects)")
        probabilities = classifier.probabilities(shape_views(objects, classifier.resolution))
        said = []
        for obj, p in zip(objects, probabilities):
            best = int(p.argmax())
            set_custom_properties(obj, {"predicted_category": classifier.classes[best],
                                        "predicted_confidence": float(p[best])})
            said.append(f"{obj.name}: {classifier.classes[best]} ({100 * p[best]:.0f}%)")
        self.report({'INFO'}, "; ".join(said[:6]) + (f"; and {len(said) - 6} more" if len(said) > 6 else ""))
        return {'FINISHED'}
