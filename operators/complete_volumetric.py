"""Complete a partial shape: the user marks the missing part with a box (a mesh or an empty); the
active volumetric model fills it in and the result is written as a new object (the source stays)."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import IntProperty
from mathutils import Vector

from .mesh_bridge import SceneWriter
from .operator_support import reports_errors
from .volumetric_support import active_volumetric, grid_mesh, mesh_grid


def region_bounds(region, shape_obj) -> tuple[np.ndarray, np.ndarray]:
    """The region object's bounding box, in the shape's own coordinates."""
    to_shape = shape_obj.matrix_world.inverted() @ region.matrix_world
    if region.type == 'EMPTY':
        size = region.empty_display_size
        corners = [Vector((x, y, z)) * size for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
    else:
        corners = [Vector(c) for c in region.bound_box]
    points = np.array([tuple(to_shape @ c) for c in corners])
    return points.min(axis=0), points.max(axis=0)


def completion_inputs(context):
    """(shape object, region object): the active mesh and one other selected object."""
    shape = context.active_object
    if shape is None or shape.type != 'MESH':
        raise ValueError("Make the partial shape the active object (select the region box first, the shape last)")
    others = [o for o in context.selected_objects if o != shape]
    if len(others) != 1:
        raise ValueError(f"Nothing is marked missing on '{shape.name}': select one box (a mesh cube or an empty) "
                         "covering the missing part, then the shape last"
                         if not others else f"Select one region box besides '{shape.name}', not {len(others)}")
    return shape, others[0]


class DESIGN_SPACE_OT_complete_volumetric(bpy.types.Operator):
    """Fill in the missing part of the active shape inside the other selected object's box (a cube mesh or an empty) with the active volumetric model; the completed shape is a new object beside it"""

    bl_idname = "design_space.complete_volumetric"
    bl_label = "Complete Shape"
    bl_options = {'REGISTER', 'UNDO'}

    smoothing: IntProperty(name="Smoothing", description="Smoothing passes over the extracted surface", default=5,
                           min=0, max=100)

    @reports_errors
    def execute(self, context):
        entry, model, _ = active_volumetric(context)
        shape_obj, region = completion_inputs(context)
        low, high = region_bounds(region, shape_obj)
        if np.any(high - low <= 0):
            raise ValueError(f"'{region.name}' is flat: the region box needs a volume")
        corners = np.array([tuple(c) for c in shape_obj.bound_box])
        if np.all(low <= corners.min(axis=0)) and np.all(high >= corners.max(axis=0)):
            raise ValueError(f"'{region.name}' hides all of '{shape_obj.name}': nothing is left to complete from; "
                             "make the box cover only the missing part")
        grid, frame, _ = mesh_grid(shape_obj, model.resolution, low, high)
        centres = [frame.centres(a) for a in range(3)]
        inside = [(c >= low[a]) & (c <= high[a]) for a, c in enumerate(centres)]
        unknown = inside[0][:, None, None] & inside[1][None, :, None] & inside[2][None, None, :]
        if not unknown.any():
            raise ValueError(f"'{region.name}' covers no voxel of '{shape_obj.name}' at {model.resolution}³: nothing "
                             "is missing; make the box bigger")
        if not (grid * ~unknown).any():
            raise ValueError(f"'{region.name}' hides all of '{shape_obj.name}': nothing is left to complete from")
        grid = grid * ~unknown  # what lies inside the region is unknown, even if some geometry is left there
        completed, label = model.complete(grid, ~unknown)
        category = model.conditions.classes[label]
        with SceneWriter() as writer:
            mesh = grid_mesh(completed, f"{shape_obj.name} completed", frame=frame, smoothing=self.smoothing)
            if mesh is None:
                raise ValueError(f"The completion of '{shape_obj.name}' came out empty")
            target = shape_obj.users_collection[0] if shape_obj.users_collection else context.scene.collection
            obj = writer.mesh_object(mesh, target, properties={
                "category": category, "design_space_model": entry.filepath,
                "completed_from": shape_obj.name, "design_space_method": model.kind})
            obj.matrix_world = shape_obj.matrix_world.copy()
            obj.location = obj.location + Vector((1.3 * frame.size, 0.0, 0.0))
        share = float(unknown.mean())
        self.report({'INFO'}, f"Completed '{shape_obj.name}' as a {category} into '{obj.name}' "
                    f"({100 * share:.0f}% of its grid was unknown)")
        return {'FINISHED'}
