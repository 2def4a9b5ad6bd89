"""Sample new, plausible shapes from a learned shape space."""

from __future__ import annotations

import bpy
from bpy.props import FloatProperty, IntProperty, StringProperty

from .mesh_bridge import SceneWriter
from .model_store import absolute_path, active_model
from .operator_support import reports_errors


def generate_shapes(context, entry, count: int, seed: int, truncate_sigma: float, collection_name: str):
    from ..learning.shape_space import load_shape_space
    from ..shapespace.mesh_arrays import MeshArrays

    if entry is None or entry.kind != "shape_space":
        raise ValueError("Make a shape space the active model first (Learn Shape Space, or pick one in the list)")
    path = absolute_path(entry.filepath)
    space, face_sizes, corners, _ = load_shape_space(path)
    coefficients = space.sample(count, seed=seed, truncate_sigma=truncate_sigma)
    shapes = space.reconstruct(coefficients).reshape(count, -1, 3)
    made = []
    with SceneWriter() as writer:
        target = writer.collection(collection_name or f"Generated from {entry.name}", reuse=False)
        width = float(shapes[0][:, 0].max() - shapes[0][:, 0].min()) + 0.5
        for i, (vertices, c) in enumerate(zip(shapes, coefficients)):
            arrays = MeshArrays(f"{entry.collection}_generated_{i:03d}", vertices, face_sizes, corners)
            made.append(writer.mesh_object(arrays, target, location=(i * width, 0.0, 0.0), properties={
                "design_space_model": entry.filepath, "design_space_seed": seed, "design_space_index": i,
                "shape_space_coefficients": [float(x) for x in c]}))
    return target, made


class DESIGN_SPACE_OT_generate_shapes(bpy.types.Operator):
    """Sample new shapes from the active shape space (Gaussian in component coordinates, truncated; the same seed makes the same shapes)"""

    bl_idname = "design_space.generate_shapes"
    bl_label = "Generate Shapes"
    bl_options = {'REGISTER', 'UNDO'}

    count: IntProperty(name="Count", description="How many shapes to make", default=6, min=1, max=1000)
    seed: IntProperty(name="Seed", description="The same seed makes the same shapes", default=0, min=0)
    truncate_sigma: FloatProperty(name="Truncate at σ", description="Leave out samples further than this many "
                                  "standard deviations along any component (0: no limit)", default=2.0, min=0.0,
                                  max=6.0)
    collection: StringProperty(name="Collection", description="Output collection (empty: named after the space)")

    @reports_errors
    def execute(self, context):
        target, made = generate_shapes(context, active_model(context.scene), self.count, self.seed,
                                       self.truncate_sigma, self.collection.strip())
        self.report({'INFO'}, f"Generated {len(made)} shapes into '{target.name}'")
        return {'FINISHED'}
