"""Learn a PCA shape space (Allen et al. 2003) from a collection of shapes that share one topology,
and write it into Blender as the mean mesh with one shape key per principal component."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, FloatProperty, IntProperty

from .mesh_bridge import SceneWriter, read_collection, set_custom_properties, write_shape_keys
from .model_store import add_model_entry, new_model_path, stored_path
from .operator_support import reports_errors

KEY_SIGMAS = 3.0  # a component's shape key at value 1 is the mean moved by 3 standard deviations
OUTPUT_COLLECTION = "Design Space Shape Spaces"


def learn_shape_space(context, collection, alignment: str, k: int | None, variance: float | None):
    """Fit the space, save its model file, write the shape-space object; returns (object, space)."""
    from ..learning.shape_space import fit_shape_space, save_shape_space
    from ..shapespace.correspondence import procrustes_align, stack_same_topology
    from ..shapespace.mesh_arrays import MeshArrays

    shapes = read_collection(collection)
    if len(shapes) < 3:
        raise ValueError(f"'{collection.name}' holds {len(shapes)} shapes; a shape space needs at least 3")
    stacked = stack_same_topology(shapes)
    if k is not None and k > len(shapes) - 1:
        raise ValueError(f"{k} components asked for, but {len(shapes)} shapes give at most {len(shapes) - 1}; "
                         "lower the count or add shapes")
    if alignment != 'NONE':
        stacked, *_ = procrustes_align(stacked, scaling=alignment == 'SIMILARITY')
    space = fit_shape_space(stacked, k=k, variance=variance, names=[s.name for s in shapes])
    first = shapes[0]
    name = f"{collection.name} Shape Space"
    path = new_model_path(name)
    save_shape_space(path, space, first.face_sizes, first.corner_vertices, collection=collection.name,
                     shape_names=[s.name for s in shapes], alignment=alignment.lower())
    try:
        with SceneWriter() as writer:
            target = writer.collection(OUTPUT_COLLECTION)
            mean = MeshArrays(name, space.mean.reshape(-1, 3), first.face_sizes, first.corner_vertices,
                              face_parts=first.face_parts, part_labels=first.part_labels)
            obj = writer.mesh_object(mean, target, color_parts=True)
            keys = {}
            for i, ratio in enumerate(space.explained_ratio):
                offset = KEY_SIGMAS * space.standard_deviations[i] * space.components[i]
                keys[f"PC{i + 1} ({100 * ratio:.1f}%)"] = (space.mean + offset).reshape(-1, 3)
            blocks = write_shape_keys(obj, keys)
            for block in blocks:
                block.slider_min = -1.0
            set_custom_properties(obj, {"design_space_model": stored_path(path), "design_space_kind": "shape_space",
                                        "shape_space_collection": collection.name})
            obj.location = (0.0, 0.0, 0.0)
    except Exception:
        path.unlink(missing_ok=True)  # no model file without its object
        raise
    metrics = f"{space.k} components, {100 * space.explained_ratio.sum():.1f}% of the variance"
    add_model_entry(context.scene, name, "shape_space", path, collection.name, "", metrics)
    return obj, space


class DESIGN_SPACE_OT_learn_shape_space(bpy.types.Operator):
    """Learn a space of plausible shapes (PCA) from the training collection, whose shapes must share one topology; writes the mean shape with one shape key per component"""

    bl_idname = "design_space.learn_shape_space"
    bl_label = "Learn Shape Space"
    bl_options = {'REGISTER', 'UNDO'}

    alignment: EnumProperty(
        name="Alignment", description="How the shapes are aligned before learning",
        items=[('NONE', "None", "Use the shapes where they are (their local coordinates)"),
               ('RIGID', "Rigid", "Remove rotation and translation differences (Procrustes)"),
               ('SIMILARITY', "Similarity", "Also remove size differences")],
        default='NONE')
    component_mode: EnumProperty(
        name="Components", description="How many principal components to keep",
        items=[('VARIANCE', "By Variance", "As many as explain the chosen share of the variance"),
               ('COUNT', "By Count", "A fixed number")],
        default='VARIANCE')
    components: IntProperty(name="Count", description="Number of components to keep", default=8, min=1, max=500)
    variance: FloatProperty(name="Variance", description="Share of the shape variance to explain", default=0.95,
                            min=0.05, max=1.0, subtype='FACTOR')

    @reports_errors
    def execute(self, context):
        collection = context.scene.design_space.training_collection
        by_count = self.component_mode == 'COUNT'
        obj, space = learn_shape_space(context, collection, self.alignment, self.components if by_count else None,
                                       None if by_count else self.variance)
        self.report({'INFO'}, f"Learned '{obj.name}': {space.k} components explain "
                              f"{100 * space.explained_ratio.sum():.1f}% of the variance")
        return {'FINISHED'}
