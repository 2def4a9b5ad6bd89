"""Classify the selected shapes with the active recognition model: the multi-view network (its light
fields are computed in the background with progress and Cancel), the older image CNN, or a deep
volumetric model."""

from __future__ import annotations

import bpy
import numpy as np

from ..background_jobs import start_and_report
from .classifiers import LightFieldJob, active_classifier, read_shapes, shape_views
from ..mesh_bridge import set_custom_properties
from ..model_store import active_model
from ..operator_support import reports_errors


def write_classes(objects, classes, probabilities) -> tuple[str, str]:
    said = []
    for obj, p in zip(objects, probabilities):
        best = int(p.argmax())
        set_custom_properties(obj, {"predicted_category": classes[best], "predicted_confidence": float(p[best])})
        said.append(f"{obj.name}: {classes[best]} ({100 * p[best]:.0f}%)")
    return 'INFO', "; ".join(said[:6]) + (f"; and {len(said) - 6} more" if len(said) > 6 else "")


class DESIGN_SPACE_OT_classify(bpy.types.Operator):
    """Say what each selected shape is, with the active classifier (multi-view or deep volumetric): writes predicted_category and predicted_confidence on each"""

    bl_idname = "design_space.classify"
    bl_label = "Classify Selected"
    bl_options = {'REGISTER', 'UNDO'}

    @reports_errors
    def execute(self, context):
        from ...learning.volumetric import VAE_KIND

        entry = active_model(context.scene)
        if entry is not None and entry.kind == VAE_KIND:
            from ..volumes.volumetric_support import active_volumetric, mesh_grid

            _, model, _ = active_volumetric(context)
            objects = self._objects(context)
            grids = np.array([mesh_grid(obj, model.resolution)[0] for obj in objects])
            self.report({'INFO'}, write_classes(objects, model.conditions.classes, model.classify(grids))[1])
            return {'FINISHED'}
        model, metadata, extra, entry = active_classifier(context)
        objects = self._objects(context)
        if entry.kind != "view_network":  # the older image CNN: rendered here
            self.report({'INFO'}, write_classes(objects, model.classes,
                                                model.probabilities(shape_views(objects, model.resolution)))[1])
            return {'FINISHED'}
        names = [obj.name for obj in objects]

        def finish(context, _, descriptors):  # described as library shapes, as in training
            alive = [bpy.data.objects.get(name) for name in names]
            kept = [(obj, d) for obj, d in zip(alive, descriptors) if obj is not None]
            if not kept:
                return 'WARNING', "The shapes to classify were deleted meanwhile; nothing was written"
            library = (extra["library"], extra["library_labels"])
            probabilities = model.class_probabilities(np.stack([d for _, d in kept]), library)
            return write_classes([o for o, _ in kept], model.classes, probabilities)

        aligned = bool(metadata["info"].get("aligned", False))
        start_and_report(self, LightFieldJob(f"Classify {len(objects)} shape{'s' * (len(objects) != 1)}",
                                             read_shapes(objects), aligned, finish), context)
        return {'FINISHED'}

    @staticmethod
    def _objects(context):
        objects = [o for o in context.selected_objects if o.type == 'MESH' and o.parent is None]
        if not objects:
            raise ValueError("Select the shapes to classify (mesh objects)")
        return objects
