"""Complete a partial shape: the user marks the missing part with a box (a mesh or an empty); the
active volumetric model fills it in and the result is written as a new object (the source stays).

The shape and the box are read on the main thread; voxelising (the known part: what the surface outside
the box encloses, decided by rays that never cross the box), the completion and the surface run as
a background job (progress, Esc or Cancel); the new object is written only when it has finished. With
an implicit model the known part is the shape's signed distances outside the box (grown by one
truncation) in the model's pose, the code is refined step by step (the progress), and what the model
adds is made at Resolution³: with Keep Original Faces (the default) the shape's own faces as they are
plus a closed patch overlapping them at the cut, else the whole shape remeshed as one closed surface
(volumetric_support.complete_implicit)."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import BoolProperty, IntProperty
from mathutils import Vector

from ..background_jobs import Job, JobOperator, StepReporter
from ..mesh_bridge import SceneWriter, read_shape
from ...learning.implicit_decoder import IMPLICIT_KIND
from .volumetric_support import (active_volumetric_path, box_voxels, class_piece_count, complete_implicit,
                                 grid_mesh, load_volumetric_once, partial_shape_grid)


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


def unknown_voxels(frame, low, high) -> np.ndarray:
    """(R, R, R) bool: the voxels whose centres lie in the box [low, high]."""
    return box_voxels(frame, low, high)


def filled_share(completed: np.ndarray, unknown: np.ndarray) -> float:
    """The share of the completed shape's volume that lies in the unknown region (what the model made),
    at the level the surface is extracted at."""
    from ...shapespace.isosurface import expected_volume_level

    occupied = completed > expected_volume_level(completed)
    return float((occupied & unknown).sum()) / max(int(occupied.sum()), 1)


class CompletionJob(Job):
    """Voxelises the partial shape, completes it with the volumetric model and extracts the surface
    (off the main thread: numpy and torch), then writes the new object in `apply`."""

    def __init__(self, entry, path, shape_obj, region, shape, low, high, smoothing: int, resolution: int = 64,
                 keep_faces: bool = True):
        self.model_file, self.path, self.shape, self.low, self.high = entry.filepath, path, shape, low, high
        self.resolution = resolution  # an implicit model's decoding grid
        self.keep_faces = keep_faces  # an implicit model: the shape's own faces plus a patch, not a remesh
        self.shape_name, self.region_name, self.smoothing = shape_obj.name, region.name, smoothing
        self.matrix = shape_obj.matrix_world.copy()
        self.label = f"Complete '{shape_obj.name}'"
        self.applied = False

    def work(self, report, should_stop):
        steps = StepReporter(report)
        steps.send(0.0, "loading the model and voxelising the shape", force=True)
        model, metadata = load_volumetric_once(self.path)
        if model.kind == IMPLICIT_KIND:
            category = self.shape.attributes.get("category")
            done = complete_implicit(model, metadata, self.shape, self.shape_name, self.low, self.high,
                                     self.region_name, category if isinstance(category, str) else None,
                                     steps.phase(0.05, 1.0), should_stop, resolution=self.resolution,
                                     keep_faces=self.keep_faces)
            if done is None:
                return None
            mesh, label, filled, note = done
            return {"mesh": mesh, "category": model.conditions.classes[label], "kind": model.kind,
                    "size": float(max(self.high[0], self.shape.vertices[:, 0].max())
                                  - min(self.low[0], self.shape.vertices[:, 0].min())),  # the whole, not the part
                    "filled": filled, "note": note}
        # The known part is what the surface outside the region encloses (rays that never cross the region
        # decide), not a guess at closing the cut; what lies inside the region is unknown, even if some
        # geometry is left there.
        grid, frame, unknown = partial_shape_grid(self.shape, self.shape_name, model.resolution, self.low,
                                                  self.high, self.region_name)
        steps.send(0.05, "completing the shape", force=True)
        completed, label = model.complete(grid, ~unknown, progress=steps.phase(0.05, 0.9), should_stop=should_stop)
        if should_stop():
            return None
        steps.send(0.9, "extracting and smoothing the surface", force=True)
        # as many pieces as the class's training shapes have, or as what is there has when that is more:
        # a loose speck the model guessed goes (the demo's half chair had one), none of the user's own pieces
        pieces = class_piece_count(model, label)
        if pieces is not None:
            from ...learning.volumetric import class_pieces

            pieces = max(pieces, int(class_pieces(np.where(unknown, 0.0, grid)[None], [0], 1)[0]))
        mesh = grid_mesh(completed, f"{self.shape_name} completed", frame=frame, smoothing=self.smoothing,
                         pieces=pieces)
        if mesh is None:
            raise ValueError(f"The completion of '{self.shape_name}' came out empty")
        return {"mesh": mesh, "category": model.conditions.classes[label], "kind": model.kind,
                "size": frame.size, "filled": filled_share(completed, unknown)}

    def apply(self, context, result):
        source = bpy.data.objects.get(self.shape_name)
        matrix = source.matrix_world.copy() if source is not None else self.matrix
        with SceneWriter() as writer:
            target = (source.users_collection[0] if source is not None and source.users_collection
                      else context.scene.collection)
            obj = writer.mesh_object(result["mesh"], target, properties={
                "category": result["category"], "design_space_model": self.model_file,
                "completed_from": self.shape_name, "design_space_method": result["kind"]})
            obj.matrix_world = matrix
            obj.location = obj.location + Vector((1.3 * result["size"], 0.0, 0.0))
        self.applied = True
        done = f"Completed '{self.shape_name}' as a {result['category']} into '{obj.name}'"
        if result.get("note"):  # an implicit model's note names the region and says what was kept and added
            # a copy with nothing added is not what was asked for: said as a warning
            return 'INFO' if result["filled"] > 0 else 'WARNING', f"{done}; {result['note']}"
        return 'INFO', (f"{done}; the model made {100 * result['filled']:.0f}% of its volume, inside "
                        f"'{self.region_name}'")


class DESIGN_SPACE_OT_complete_volumetric(JobOperator, bpy.types.Operator):
    """Fill in the missing part of the active shape inside the other selected object's box (a cube mesh or an empty) with the active volumetric model; the completed shape is a new object beside it (runs in the background; Esc cancels)"""

    bl_idname = "design_space.complete_volumetric"
    bl_label = "Complete Shape"
    bl_options = {'REGISTER', 'UNDO'}

    smoothing: IntProperty(name="Smoothing", description="Smoothing passes over the extracted surface", default=5,
                           min=0, max=100)
    resolution: IntProperty(name="Resolution", description="The grid an implicit model is decoded at (occupancy "
                            "models use their own)", default=64, min=16, max=128)
    keep_faces: BoolProperty(name="Keep Original Faces", description="An implicit model: keep the shape's own "
                             "faces exactly as they are and add only a patch for the missing part (overlapping them "
                             "at the cut). Off: remesh the whole shape as one closed surface at Resolution (thin "
                             "parts may be lost)", default=True)

    def job(self, context) -> CompletionJob:
        entry, path = active_volumetric_path(context)
        shape_obj, region = completion_inputs(context)
        low, high = region_bounds(region, shape_obj)
        if np.any(high - low <= 0):
            raise ValueError(f"'{region.name}' is flat: the region box needs a volume")
        corners = np.array([tuple(c) for c in shape_obj.bound_box])
        if np.all(low <= corners.min(axis=0)) and np.all(high >= corners.max(axis=0)):
            raise ValueError(f"'{region.name}' hides all of '{shape_obj.name}': nothing is left to complete from; "
                             "make the box cover only the missing part")
        return CompletionJob(entry, path, shape_obj, region, read_shape(shape_obj), low, high, self.smoothing,
                             self.resolution, self.keep_faces)
