"""List a model file (for example one trained with `python -m learning train`) in the scene."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import StringProperty

from .model_store import add_model_entry
from .operator_support import reports_errors


class DESIGN_SPACE_OT_load_model(bpy.types.Operator):
    """Add a trained model file to this scene's models (the file is checked first; it is data, never code)"""

    bl_idname = "design_space.load_model"
    bl_label = "Load Model File"
    bl_options = {'REGISTER', 'UNDO'}

    filepath: StringProperty(name="File", description="A Design Space model file (.npz) of any kind it trains",
                             subtype='FILE_PATH')
    filter_glob: StringProperty(default="*.npz", options={'HIDDEN'})

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {'RUNNING_MODAL'}

    @reports_errors
    def execute(self, context):
        path = Path(bpy.path.abspath(self.filepath))
        model, predictor = checked_model_file(path)
        kind = model.kind
        names = model.metadata.get("attribute_names") or []
        if predictor is not None:
            target = predictor.target_names[0] if len(predictor.target_names) == 1 else ""
        else:
            target = ", ".join(map(str, names[:12])) if kind not in ("shape_space", "part_model") else ""
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in (model.metrics or {}).items()
                            if isinstance(v, float) and k.startswith("val_"))
        add_model_entry(context.scene, path.stem, kind, path, model.metadata.get("collection") or "", target, metrics)
        self.report({'INFO'}, f"Loaded {MODEL_KIND_NAMES[kind]} '{path.stem}' ({kind})")
        return {'FINISHED'}


# Every kind of model file Design Space writes, and what a person calls it.
MODEL_KIND_NAMES = {
    "mlp_regressor": "attribute predictor (neural network)",
    "ridge_regression": "attribute predictor (ridge regression)",
    "shape_space": "shape space",
    "shape_attributes": "attribute sliders",
    "semantic_attributes": "attributes learned from comparisons",
    "part_model": "part model",
    "voxel_logistic": "volumetric model (logistic)",
    "voxel_vae": "volumetric model (VAE)",
    "implicit_sdf": "volumetric model (implicit signed distance)",
    "mvcnn_classifier": "multi-view classifier",
    "view_network": "multi-view network",
    "sketch_retrieval": "sketch search",
}
REGRESSOR_KINDS = ("mlp_regressor", "ridge_regression")
# Arrays in which NaN is a value ("this class has no such attribute"), not damage: the volumetric
# models' conditioning ranges (learning.volumetric.Conditions).
MISSING_MEANS_ABSENT = {"cond.low", "cond.high"}


def checked_model_file(path: Path):
    """(the model file at `path`, the attribute predictor in it or None), verified (format, hash,
    a kind Design Space writes, finite numbers; a predictor fully rebuilt), without running
    anything from it."""
    import numpy as np

    from ..learning.model_files import ModelFileError, load_model_file
    from ..learning.models import load_model

    model = load_model_file(path, known_kinds=MODEL_KIND_NAMES)
    def usable(name, a):  # a volumetric model's class ranges hold NaN where a class lacks an attribute
        if a.dtype.kind != "f":
            return True
        if name in MISSING_MEANS_ABSENT:
            return not np.isinf(a).any()
        return bool(np.isfinite(a).all())

    bad = [name for name, a in sorted(model.arrays.items()) if not usable(name, a)]
    if bad:
        raise ModelFileError(path, f"array '{bad[0]}' holds NaN or infinite numbers"
                             + (f" (and {len(bad) - 1} more arrays)" if len(bad) > 1 else "")
                             + "; a model with them gives no usable answers", "Choose another model file")
    predictor = load_model(path) if model.kind in REGRESSOR_KINDS else None  # every layer present, right sizes
    return model, predictor
