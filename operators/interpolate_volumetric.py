"""Walk from one selected shape to another through the volumetric model's shape codes."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import IntProperty

from .mesh_bridge import SceneWriter
from .operator_support import reports_errors
from .volumetric_support import active_volumetric, grid_mesh, mesh_grid, shape_condition


def two_shapes(context):
    """The two selected mesh objects, the active one last."""
    selected = [o for o in context.selected_objects if o.type == 'MESH']
    if len(selected) != 2:
        raise ValueError(f"Select exactly two mesh objects to interpolate between ({len(selected)} selected)")
    active = context.active_object
    return sorted(selected, key=lambda o: o == active)


class DESIGN_SPACE_OT_interpolate_volumetric(bpy.types.Operator):
    """Make the shapes between the two selected shapes (from the other one to the active one) by walking between their codes in the active deep volumetric model"""

    bl_idname = "design_space.interpolate_volumetric"
    bl_label = "Interpolate Volumes"
    bl_options = {'REGISTER', 'UNDO'}

    steps: IntProperty(name="Steps", description="How many shapes, the two ends included", default=6, min=3,
                       max=50)
    smoothing: IntProperty(name="Smoothing", description="Smoothing passes over each extracted surface", default=5,
                           min=0, max=100)

    @reports_errors
    def execute(self, context):
        from ..learning.volumetric import VAE_KIND

        entry, model, _ = active_volumetric(context)
        if model.kind != VAE_KIND:
            what = "a per-voxel logistic model, which has no shape codes to walk between" \
                if model.kind == "voxel_logistic" else "an implicit model, which cannot interpolate yet"
            raise ValueError(f"'{entry.name}' is {what}; learn a Deep (3D VAE) model to interpolate")
        first, last = two_shapes(context)
        grids, frames, conditions, classes = [], [], [], []
        for obj in (first, last):
            grid, frame, shape = mesh_grid(obj, model.resolution)
            vector, category = shape_condition(model, shape, grid)
            grids.append(grid), frames.append(frame), conditions.append(vector), classes.append(category)
        strip = model.interpolate(grids[0], grids[1], conditions[0], conditions[1], self.steps)
        sizes = np.linspace(frames[0].size, frames[1].size, self.steps)
        made = []
        with SceneWriter() as writer:
            target = writer.collection(f"Interpolation {first.name} → {last.name}", reuse=False)
            x = 0.0
            for i, (grid, size) in enumerate(zip(strip, sizes)):
                mesh = grid_mesh(grid, f"{first.name}_to_{last.name}_{i:02d}", size=float(size),
                                 smoothing=self.smoothing)
                if mesh is None:
                    continue
                width = float(np.ptp(mesh.vertices[:, 0]))
                made.append(writer.mesh_object(mesh, target, location=(x + width / 2, -2.0 * float(size), 0.0),
                                               properties={"design_space_model": entry.filepath,
                                                           "interpolation_t": i / (self.steps - 1),
                                                           "interpolation_from": first.name,
                                                           "interpolation_to": last.name}))
                x += width * 1.25
        self.report({'INFO'}, f"Made {len(made)} shapes from '{first.name}' ({classes[0]}) to '{last.name}' "
                    f"({classes[1]}) in '{target.name}'")
        return {'FINISHED'}
