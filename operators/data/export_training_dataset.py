"""Export a collection as a dataset file, to train outside Blender (`python -m learning train`)."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import StringProperty

from ..mesh_bridge import read_collection
from ..operator_support import reports_errors
from ..shape_properties import numeric_attribute_names


def export_training_dataset(collection, filepath: str, target: str = "") -> int:
    """Descriptors of every shape (and, if named, the target attribute) into an npz dataset file."""
    from ...learning.datasets import save_dataset
    from ...shapespace.descriptors import DESCRIPTOR_LAYOUT, descriptor_matrix, descriptor_names

    shapes = read_collection(collection)
    targets = None
    if target:
        from ..shape_properties import attribute_targets

        shapes, targets = attribute_targets(shapes, target, skip_incomplete=False)
    features = descriptor_matrix(shapes)
    attributes = {name: np.array([float(s.attributes.get(name, np.nan)) for s in shapes], dtype=np.float32)
                  for name in numeric_attribute_names(shapes)}
    save_dataset(filepath, features, targets, feature_names=descriptor_names(),
                 target_names=[target] if target else None, sample_names=[s.name for s in shapes],
                 collection=collection.name,
                 metadata={"descriptor": DESCRIPTOR_LAYOUT, "attributes": {k: v.tolist() for k, v in attributes.items()}})
    return len(shapes)


class DESIGN_SPACE_OT_export_training_dataset(bpy.types.Operator):
    """Save the training collection's shape descriptors and attributes as a dataset file for training outside Blender"""

    bl_idname = "design_space.export_training_dataset"
    bl_label = "Export Training Dataset"
    bl_options = {'REGISTER'}

    filepath: StringProperty(name="File", description="Dataset file to write (.npz)", subtype='FILE_PATH')
    target: StringProperty(name="Attribute", description="Numeric attribute to store as the target (optional)")
    filter_glob: StringProperty(default="*.npz", options={'HIDDEN'})

    def invoke(self, context, event):
        if not self.filepath:
            collection = context.scene.design_space.training_collection
            self.filepath = bpy.path.ensure_ext(bpy.path.clean_name(collection.name if collection else "dataset"), ".npz")
        context.window_manager.fileselect_add(self)
        return {'RUNNING_MODAL'}

    @reports_errors
    def execute(self, context):
        collection = context.scene.design_space.training_collection
        if not self.filepath:
            raise ValueError("Choose a file to write the dataset to")
        count = export_training_dataset(collection, bpy.path.abspath(self.filepath), self.target.strip())
        self.report({'INFO'}, f"Wrote {count} shapes of '{collection.name}' to {self.filepath}")
        return {'FINISHED'}
