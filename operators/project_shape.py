"""Bring an existing mesh into a learned shape space: its coordinates, how well the space
reproduces it, and its estimated attributes as sliders that then edit it (or a copy of it)."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import EnumProperty

from .mesh_bridge import SceneWriter, read_shape, set_custom_properties
from .operator_support import reports_errors
from .shape_editing import attach_sliders, attribute_model_path_of, slider_model

OUTPUT_COLLECTION = "Design Space Edits"


def project_shape(context, obj, target: str):
    """Returns (edited object, relative reconstruction error, estimates dict, template residual or None)."""
    from ..shapespace.correspondence import align_to
    from ..shapespace.mesh_arrays import MeshArrays
    from ..shapespace.template_fitting import fit_template

    if obj is None or obj.type != 'MESH':
        raise ValueError("Select the mesh object to bring into the shape space")
    model_path = attribute_model_path_of(context)
    model = slider_model(model_path)
    space = model.space
    shape = read_shape(obj)
    same = (len(shape.vertices) * 3 == len(space.mean) and np.array_equal(shape.corner_vertices,
                                                                           model.corner_vertices))
    residual = None
    mean = space.mean.reshape(-1, 3)
    if not same:
        if target == 'IN_PLACE':
            raise ValueError(f"'{obj.name}' has {len(shape.vertices)} vertices and the shape space {len(mean)}: "
                             "edit a copy instead (the template is fitted to it)")
        template = MeshArrays("template", mean, model.face_sizes, model.corner_vertices)
        fit = fit_template(template, shape)
        residual = fit.residual_ratio
        positions = fit.vertices
    else:
        positions = shape.vertices
    alignment = model.space_metadata["info"].get("alignment", "none")
    frame = None
    aligned = positions
    if alignment != "none":
        aligned, rotation, scale, _ = align_to(positions, mean, scaling=alignment == "similarity")
        frame = (rotation, scale)
    coefficients = space.project(aligned[None])[0]
    rebuilt = space.reconstruct(coefficients[None]).reshape(-1, 3)
    diagonal = float(np.linalg.norm(np.ptp(aligned, axis=0))) or 1.0
    error = float(np.sqrt(((rebuilt - aligned) ** 2).sum(axis=1).mean())) / diagonal
    estimates = model.estimate(coefficients[None])[0]
    if target == 'COPY':
        with SceneWriter() as writer:
            collection = writer.collection(OUTPUT_COLLECTION)
            if same:  # a real duplicate: materials, UVs and modifiers come along
                edited = obj.copy()
                edited.data = obj.data.copy()
                edited.name = f"{obj.name} (edited)"
                writer.adopt([edited])
                collection.objects.link(edited)
            else:
                arrays = MeshArrays(f"{obj.name} (fitted)", positions, model.face_sizes, model.corner_vertices)
                edited = writer.mesh_object(arrays, collection)
                edited.matrix_world = obj.matrix_world.copy()
            set_custom_properties(edited, {"design_space_source": obj.name})
            attach_sliders(edited, model_path, estimates, coefficients, frame)
    else:
        edited = obj
        attach_sliders(edited, model_path, estimates, coefficients, frame)
    return edited, error, dict(zip(model.columns, estimates)), residual


class DESIGN_SPACE_OT_project_shape(bpy.types.Operator):
    """Bring the active mesh into the active learned attributes' shape space: report how well the space reproduces it and its estimated attributes, and give it attribute sliders"""

    bl_idname = "design_space.project_shape"
    bl_label = "Edit with Attribute Sliders"
    bl_options = {'REGISTER', 'UNDO'}

    target: EnumProperty(name="Edit", description="Which mesh the sliders change",
                         items=[('IN_PLACE', "This Mesh", "The sliders change the selected mesh itself (Ctrl+Z "
                                                          "undoes each move)"),
                                ('COPY', "A Copy", "The sliders change a new copy; the selected mesh stays as it "
                                                   "is (needed when its topology differs: the template is fitted)")],
                         default='COPY')

    @reports_errors
    def execute(self, context):
        edited, error, estimates, residual = project_shape(context, context.active_object, self.target)
        shown = ", ".join(f"{k} {v:.3g}" for k, v in estimates.items())
        fitted = f"template fitted (residual {100 * residual:.2f}%), " if residual is not None else ""
        self.report({'INFO'}, f"'{edited.name}': {fitted}the space reproduces it within {100 * error:.2f}% of its "
                              f"size; estimated {shown}")
        for obj in context.selected_objects:
            obj.select_set(False)
        edited.select_set(True)
        context.view_layer.objects.active = edited
        return {'FINISHED'}
