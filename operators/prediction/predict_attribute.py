"""Apply the active attribute predictor to the selected shapes."""

from __future__ import annotations

import bpy

from ..mesh_bridge import read_shape, set_custom_properties
from ..model_store import absolute_path, active_model
from ..operator_support import reports_errors


def predict_attribute(context, objects, entry) -> dict:
    """{object name: predicted value} for mesh objects, written as 'predicted_<target>' properties."""
    from ...learning.models import load_model
    from ...shapespace.descriptors import descriptor_matrix, descriptor_names

    if entry.kind not in ("mlp_regressor", "ridge_regression"):
        raise ValueError(f"The active model '{entry.name}' is a {entry.kind.replace('_', ' ')} model, not an attribute "
                         "predictor; pick one in the model list (Train Attribute Predictor makes one)")
    path = absolute_path(entry.filepath)
    model = load_model(path)
    if list(model.feature_names) != descriptor_names():
        raise ValueError(f"Model '{entry.name}' ({path.name}) was trained on other features than this version of "
                         "Design Space computes; train it again")
    selected = {o.name_full for o in objects}
    # shapes as training sees them: a root (mesh, or an empty holding mesh parts) with its mesh children
    meshes = [o for o in objects if (o.type == 'MESH' or any(c.type == 'MESH' for c in o.children_recursive))
              and (o.parent is None or o.parent.name_full not in selected)]
    if not meshes:
        raise ValueError("Select one or more mesh objects to predict for")
    shapes = [read_shape(o, children=[c for c in o.children_recursive if c.type == 'MESH']) for o in meshes]
    values = model.predict(descriptor_matrix(shapes)).reshape(len(shapes), -1)[:, 0]
    for obj, value in zip(meshes, values):
        set_custom_properties(obj, {f"predicted_{entry.target}": float(value)})
    return {o.name: float(v) for o, v in zip(meshes, values)}


class DESIGN_SPACE_OT_predict_attribute(bpy.types.Operator):
    """Predict the active model's attribute for the selected shapes and store it as a 'predicted_…' custom property"""

    bl_idname = "design_space.predict_attribute"
    bl_label = "Predict Attribute"
    bl_options = {'REGISTER', 'UNDO'}

    # No poll(): "no model yet" is something to explain (execute does), not a greyed-out button.

    @reports_errors
    def execute(self, context):
        entry = active_model(context.scene)
        if entry is None:
            raise ValueError("This scene has no trained model; train an attribute predictor (Train Attribute "
                             "Predictor) or load one (Load Model File) first")
        predictions = predict_attribute(context, context.selected_objects, entry)
        shown = ", ".join(f"{name}: {value:.3g}" for name, value in list(predictions.items())[:4])
        count = len(predictions)
        self.report({'INFO'}, f"Predicted {entry.target} for {count} object{'' if count == 1 else 's'} ({shown})")
        return {'FINISHED'}
