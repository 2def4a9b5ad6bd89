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

    filepath: StringProperty(name="File", description="A Design Space model file (.npz)", subtype='FILE_PATH')
    filter_glob: StringProperty(default="*.npz", options={'HIDDEN'})

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {'RUNNING_MODAL'}

    @reports_errors
    def execute(self, context):
        from ..learning.models import load_model

        path = Path(bpy.path.abspath(self.filepath))
        model = load_model(path)  # verifies format, hash and kind; raises ModelFileError
        target = model.target_names[0] if len(model.target_names) == 1 else ""
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in (model.metrics or {}).items()
                            if isinstance(v, float) and k.startswith("val_"))
        add_model_entry(context.scene, path.stem, model.kind, path, model.collection or "", target, metrics)
        self.report({'INFO'}, f"Loaded {model.kind} '{path.stem}'")
        return {'FINISHED'}
