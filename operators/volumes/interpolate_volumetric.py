"""Walk from one selected shape to another through the volumetric model's shape codes.

A Deep (3D VAE) model encodes each shape's voxels and decodes the codes between. An implicit model
has no encoder: each shape is posed as the training shapes were (signed_distance.align_to_references,
or the collection's own frame for an aligned model), its signed distances on the model's grid are
sampled, and a code is fitted to them (ImplicitSDF.fit_codes, the same fit completion uses); the codes
and condition vectors between are decoded at Resolution³ and cleaned like generated shapes. Both run
as a background job (progress, Esc or Cancel); the shapes are written when it has finished."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import IntProperty

from ...learning.volumetric import IMPLICIT_KIND, LOGISTIC_KIND
from ..background_jobs import Job, JobOperator, StepReporter
from ..mesh_bridge import SceneWriter, read_shape
from .volumetric_support import (active_volumetric, class_piece_count, grid_mesh, implicit_frame, implicit_mesh,
                                 mesh_grid, shape_condition, standing_on_ground)

CODE_SAMPLES = 4096  # signed distances a whole shape's code is fitted to (twice a completion's: all is known)


def two_shapes(context):
    """The two selected mesh objects, the active one last."""
    selected = [o for o in context.selected_objects if o.type == 'MESH']
    if len(selected) != 2:
        raise ValueError(f"Select exactly two mesh objects to interpolate between ({len(selected)} selected)")
    active = context.active_object
    return sorted(selected, key=lambda o: o == active)


def implicit_code(model, metadata, shape, name: str):
    """(code, condition vector, class index) of a whole shape under an implicit model."""
    from ...shapespace.signed_distance import align_to_references, canonical_mesh, signed_distance_grid
    from ...shapespace.voxels import GridFrame

    r = int(model.frame[4])
    frame = GridFrame(tuple(float(x) for x in model.frame[:3]), float(model.frame[3]), r)
    aligned = bool(metadata.get("info", {}).get("aligned", False))
    if not aligned and model.references is not None:
        grid = align_to_references(shape, frame, model.truncation, model.references, None, aligned=False)[0]
    else:
        moved, _ = canonical_mesh(shape, aligned)
        grid = signed_distance_grid(moved.vertices, moved.triangles, frame, model.truncation, name)
    if not (grid < 0).any():
        raise ValueError(f"'{name}' encloses no volume (flat or open), so it has no signed distances to fit a code "
                         "to; give it thickness (Solidify modifier, applied) or pick a closed shape")
    points, distances = model.grid_samples(grid, samples=CODE_SAMPLES)
    return model.fit_codes(points, distances)


def diagonal(vertices) -> float:
    """The length of a point set's bounding-box diagonal."""
    vertices = np.asarray(vertices, np.float64)
    return float(np.linalg.norm(vertices.max(axis=0) - vertices.min(axis=0)))


class InterpolationJob(Job):
    """Computes the shapes between two (codes, decoding, surfaces) off the main thread; `apply`
    writes them into a new collection."""

    def __init__(self, entry, model, metadata, first, last, steps: int, smoothing: int, resolution: int):
        self.model_file, self.model, self.metadata = entry.filepath, model, metadata
        self.names = (first.name, last.name)
        self.steps, self.smoothing, self.resolution = steps, smoothing, resolution
        self.label = f"Interpolate '{first.name}' → '{last.name}'"
        self.applied = False
        if model.kind == IMPLICIT_KIND:
            self.shapes = (read_shape(first), read_shape(last))
        else:  # voxelised here: reading the objects needs the main thread
            self.grids = [mesh_grid(obj, model.resolution) for obj in (first, last)]

    def work(self, report, should_stop):
        progress = StepReporter(report)
        if self.model.kind == IMPLICIT_KIND:
            return self._implicit(progress, should_stop)
        conditions, classes = [], []
        for grid, _, shape in self.grids:
            vector, category = shape_condition(self.model, shape, grid)
            conditions.append(vector), classes.append(category)
        progress.send(0.3, "decoding the shapes between", force=True)
        strip = self.model.interpolate(self.grids[0][0], self.grids[1][0], conditions[0], conditions[1], self.steps)
        sizes = np.linspace(self.grids[0][1].size, self.grids[1][1].size, self.steps)
        labels = [self.model.conditions.classes.index(c) if c in self.model.conditions.classes else None
                  for c in classes]
        counts = [class_piece_count(self.model, k) for k in labels]
        pieces = None if None in counts else max(counts)  # the in-between shape keeps what either end has
        meshes = []
        for i, (grid, size) in enumerate(zip(strip, sizes)):
            if should_stop():
                return None
            progress.send(0.3 + 0.7 * i / self.steps, f"surface {i + 1} of {self.steps}")
            meshes.append(grid_mesh(grid, self._name(i), size=float(size), smoothing=self.smoothing, pieces=pieces))
        return {"meshes": meshes, "classes": classes}

    def _implicit(self, progress, should_stop):
        model, metadata = self.model, self.metadata
        ends = []
        for n, (shape, name) in enumerate(zip(self.shapes, self.names)):
            progress.send(0.25 * n, f"fitting the code of '{name}'", force=True)
            ends.append(implicit_code(model, metadata, shape, name))
            if should_stop():
                return None
        (code_a, vector_a, label_a), (code_b, vector_b, label_b) = ends
        scale_a = implicit_frame(model, metadata, label_a, vector_a[None])[1]
        scale_b = implicit_frame(model, metadata, label_b, vector_b[None])[1]
        meshes = []
        for i, t in enumerate(np.linspace(0.0, 1.0, self.steps)):
            if should_stop():
                return None
            progress.send(0.5 + 0.5 * i / self.steps, f"decoding shape {i + 1} of {self.steps}")
            label = label_a if t < 0.5 else label_b  # its cleaning (piece count) and frame: the nearer end's class
            vector = ((1 - t) * vector_a + t * vector_b).astype(np.float32)
            grid = model.decode_grid(((1 - t) * code_a + t * code_b)[None], vector[None], self.resolution)[0]
            mesh, _ = implicit_mesh(model, grid, self._name(i), label, self.resolution)
            if mesh is not None:
                rotation = implicit_frame(model, metadata, label, vector[None])[0]
                scale = (1 - t) * scale_a + t * scale_b
                mesh.vertices = (mesh.vertices.astype(np.float64) @ rotation * scale).astype(np.float32)
                mesh = standing_on_ground(mesh)
            meshes.append(mesh)
        # The size model gives a class's typical size; the ends should have their shapes' own, so each
        # decoded shape is scaled by the ends' ratio (real to decoded bounding diagonal), interpolated.
        ratios = [1.0, 1.0]
        for end, (mesh, shape) in enumerate(((meshes[0], self.shapes[0]), (meshes[-1], self.shapes[1]))):
            if mesh is not None:
                ratios[end] = diagonal(shape.vertices) / max(diagonal(mesh.vertices), 1e-12)
        for mesh, t in zip(meshes, np.linspace(0.0, 1.0, self.steps)):
            if mesh is not None:
                mesh.vertices = (mesh.vertices * ((1 - t) * ratios[0] + t * ratios[1])).astype(np.float32)
        classes = [model.conditions.classes[label_a], model.conditions.classes[label_b]]
        return {"meshes": meshes, "classes": classes}

    def _name(self, i: int) -> str:
        return f"{self.names[0]}_to_{self.names[1]}_{i:02d}"

    def apply(self, context, result):
        first, last = self.names
        made = []
        with SceneWriter() as writer:
            target = writer.collection(f"Interpolation {first} → {last}", reuse=False)
            x = 0.0
            for i, mesh in enumerate(result["meshes"]):
                if mesh is None:
                    continue
                width = float(np.ptp(mesh.vertices[:, 0]))
                depth = float(np.ptp(mesh.vertices[:, 1]))
                made.append(writer.mesh_object(mesh, target, location=(x + width / 2, -2.0 * depth - 1.0, 0.0),
                                               properties={"design_space_model": self.model_file,
                                                           "interpolation_t": i / (self.steps - 1),
                                                           "interpolation_from": first, "interpolation_to": last}))
                x += width * 1.25
        if not made:
            raise ValueError(f"Every shape between '{first}' and '{last}' came out empty; learn the model with more "
                             "epochs")
        self.applied = True
        classes = result["classes"]
        empty = len(result["meshes"]) - len(made)
        return ('WARNING' if empty else 'INFO'), (
            f"Made {len(made)} shapes from '{first}' ({classes[0]}) to '{last}' ({classes[1]}) in '{target.name}'"
            + (f"; {empty} came out empty and were left out" if empty else ""))


class DESIGN_SPACE_OT_interpolate_volumetric(JobOperator, bpy.types.Operator):
    """Make the shapes between the two selected shapes (from the other one to the active one) by walking between their codes in the active deep or implicit volumetric model (runs in the background; Esc cancels)"""

    bl_idname = "design_space.interpolate_volumetric"
    bl_label = "Interpolate Volumes"
    bl_options = {'REGISTER', 'UNDO'}

    steps: IntProperty(name="Steps", description="How many shapes, the two ends included", default=6, min=3,
                       max=50)
    smoothing: IntProperty(name="Smoothing", description="Smoothing passes over each extracted surface (occupancy "
                           "models; an implicit model's surfaces are smooth already)", default=5, min=0, max=100)
    resolution: IntProperty(name="Resolution", description="The grid an implicit model is decoded at (occupancy "
                            "models use their own)", default=64, min=16, max=128)

    def job(self, context) -> InterpolationJob:
        entry, model, metadata = active_volumetric(context)
        if model.kind == LOGISTIC_KIND:
            raise ValueError(f"'{entry.name}' is a per-voxel logistic model, which has no shape codes to walk "
                             "between; learn a Deep (3D VAE) or Implicit model to interpolate")
        first, last = two_shapes(context)
        return InterpolationJob(entry, model, metadata, first, last, self.steps, self.smoothing, self.resolution)
