"""Bring an existing mesh into a learned shape space: its coordinates, how well the space
reproduces it, and sliders that then edit it (or a copy of it).

A copy is the projection itself: the space's version of the mesh (rebuilt from its coordinates),
put back in the mesh's own frame with the full similarity (rotation, scale, translation) the
space's alignment found, so it overlaps the input and every slider edit stays where the input was.
Its reconstruction error is kept on it as custom properties. With learned attributes active the
sliders are the attributes; with only a shape space, they are its components (in standard
deviations).
"""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import EnumProperty

from .mesh_bridge import SceneWriter, read_shape, set_custom_properties, update_positions
from .operator_support import reports_errors
from .shape_editing import POSE_ROTATIONS, POSE_TRANSLATION, attach_sliders, slider_model, slider_model_path_of

OUTPUT_COLLECTION = "Design Space Edits"
ERROR_PROPERTY = "design_space_projection_error"  # mean vertex distance to the input, in metres (world scale)
RELATIVE_ERROR_PROPERTY = "design_space_projection_error_relative"  # the same over the bounding-box diagonal


class ProjectionOutcome:
    """What project_shape did, for the report."""

    def __init__(self, edited, projection, estimates, residual, alignment, attributes: bool, error_m: float):
        self.edited, self.projection, self.estimates = edited, projection, estimates
        self.residual, self.alignment, self.attributes, self.error_m = residual, alignment, attributes, error_m


def _world_length(obj, local_offsets: np.ndarray) -> float:
    """Mean length of per-vertex offsets given in `obj`'s local coordinates, as seen in the scene."""
    linear = np.array(obj.matrix_world, dtype=np.float64)[:3, :3]
    return float(np.linalg.norm(local_offsets @ linear.T, axis=1).mean())


def project_shape(context, obj, target: str) -> ProjectionOutcome:
    from ..learning.shape_space import project_in_frame
    from ..shapespace.correspondence import align_to
    from ..shapespace.mesh_arrays import MeshArrays
    from ..shapespace.template_fitting import fit_template

    if obj is None or obj.type != 'MESH':
        raise ValueError("Select the mesh object to bring into the shape space (the active object must be a mesh)")
    model_path, attributes = slider_model_path_of(context)
    model = slider_model(model_path)
    space = model.space
    shape = read_shape(obj)
    same = (len(shape.vertices) * 3 == len(space.mean) and np.array_equal(shape.corner_vertices,
                                                                           model.corner_vertices))
    residual = None
    mean = space.mean.reshape(-1, 3)
    if model.space_metadata["info"].get("alignment") == "articulated":
        return project_articulated(obj, shape, same, target, model_path, model, attributes)
    if not same:
        if target == 'IN_PLACE':
            raise ValueError(f"'{obj.name}' has {len(shape.vertices)} vertices and the shape space {len(mean)}: "
                             "edit a copy instead (the template is fitted to it)")
        template = MeshArrays("template", mean, model.face_sizes, model.corner_vertices)
        fit = fit_template(template, shape)
        residual = fit.residual_ratio
        positions = np.asarray(fit.vertices, dtype=np.float64)
    else:
        positions = shape.vertices.astype(np.float64)
    alignment = model.space_metadata["info"].get("alignment", "none")
    rotation, scale, translation = np.eye(3), 1.0, np.zeros(3)
    if alignment != "none":
        _, rotation, scale, translation = align_to(positions, mean, scaling=alignment == "similarity")
    projection = project_in_frame(space, positions, rotation, scale, translation)
    frame = (rotation, scale, translation)
    estimates = model.estimate(projection.coefficients[None])[0]
    with SceneWriter() as writer:
        if target == 'COPY':
            collection = writer.collection(OUTPUT_COLLECTION)
            if same:  # a duplicate keeps materials, UVs and modifiers; its vertices become the projection
                edited = obj.copy()
                edited.data = obj.data.copy()
                edited.name = f"{obj.name} (projected)"
                writer.adopt([edited])
                collection.objects.link(edited)
                if edited.data.shape_keys is not None:  # the input's keys would hide the written positions
                    edited.shape_key_clear()
                for own in ("design_space_kind", "design_space_model"):  # a copy of the space's object is a mesh
                    edited.pop(own, None)
                update_positions(edited.data, projection.rebuilt)
            else:
                edited = writer.mesh_object(MeshArrays(f"{obj.name} (fitted)", projection.rebuilt, model.face_sizes,
                                                       model.corner_vertices), collection)
                edited.matrix_world = obj.matrix_world.copy()
            set_custom_properties(edited, {"design_space_source": obj.name})
        else:
            edited = obj
        error_m = _world_length(obj, projection.rebuilt.astype(np.float64) - positions)
        set_custom_properties(edited, {ERROR_PROPERTY: error_m, RELATIVE_ERROR_PROPERTY: projection.relative_error})
        attach_sliders(edited, model_path, estimates, projection.coefficients, frame)
    return ProjectionOutcome(edited, projection, dict(zip(model.columns, estimates)), residual, alignment,
                             attributes, error_m)


_articulated_cache: dict = {}


def articulated_model(space_path):
    """(ArticulatedSpace, tail regressor, rolls, bone names) of an articulated shape space, loaded once."""
    from ..learning.articulated_space import ArticulatedSpace
    from ..learning.shape_space import load_articulated_arrays

    key = (str(space_path), space_path.stat().st_mtime_ns)
    if key not in _articulated_cache:
        arrays, metadata = load_articulated_arrays(space_path)
        names = tuple(metadata["info"]["articulated"]["bone_names"])
        _articulated_cache.clear()
        space, tail_regressor = ArticulatedSpace.from_arrays(arrays), np.asarray(arrays["tail_regressor"], np.float64)
        if space.tail_mean is None:  # the regressor is linear in the rest mesh: tails(c) without reading the mesh
            space.tail_mean = tail_regressor @ space.mean
            space.tail_basis = np.einsum("jv,kvc->kjc", tail_regressor, space.components)
        _articulated_cache[key] = (space, tail_regressor, arrays["rolls"], names)
    return _articulated_cache[key]


def project_articulated(obj, shape, same: bool, target: str, model_path, model, attributes: bool):
    """Fit pose and shape together and write the projection as a rigged copy: the body in its rest
    pose (shape components and correctives of this pose) with an armature posed like the input, so
    sliders change the rest body and the pose stays."""
    from ..learning.shape_space import Projection
    from ..shapespace.mesh_arrays import MeshArrays
    from .learn_shape_space import attach_rig
    from .mesh_bridge import read_evaluated_positions

    if not same:
        raise ValueError(f"'{obj.name}' has {len(shape.vertices)} vertices; the articulated space "
                         f"'{model.space_path.stem}' holds MakeHuman bodies of {len(model.space.mean) // 3}: project "
                         "a body of that topology")
    if target != 'COPY':
        raise ValueError(f"'{obj.name}' would need a rig to keep its pose under the sliders; use Edit a Copy (the "
                         "copy is the projection, rigged and posed like the mesh)")
    articulated, tail_regressor, rolls, bone_names = articulated_model(model.space_path)
    positions = shape.vertices.astype(np.float64)
    bad = int(np.count_nonzero(~np.isfinite(positions).all(axis=1)))
    if bad:
        raise ValueError(f"'{obj.name}' has {bad} vert{'ex' if bad == 1 else 'ices'} at a non-finite position (NaN or "
                         "infinity); delete or move them, then project it again")
    coefficients, rotations, translation, _ = articulated.fit(positions)
    rest = articulated.rest(coefficients) + articulated.correctives(rotations)
    estimates = model.estimate(coefficients[None])[0]
    with SceneWriter() as writer:
        collection = writer.collection(OUTPUT_COLLECTION)
        edited = writer.mesh_object(MeshArrays(f"{obj.name} (projected)", rest, model.face_sizes,
                                               model.corner_vertices), collection)
        edited.matrix_world = obj.matrix_world.copy()
        writer.adopt([attach_rig(edited, articulated, tail_regressor, rolls, bone_names, coefficients, rotations,
                                 translation)])
        posed = read_evaluated_positions(edited).astype(np.float64)  # what Blender shows: the rig's deformation
        distances = np.linalg.norm(posed - positions, axis=1)
        diagonal = float(np.linalg.norm(positions.max(axis=0) - positions.min(axis=0))) or 1.0
        error_m = _world_length(obj, posed - positions)
        set_custom_properties(edited, {"design_space_source": obj.name, ERROR_PROPERTY: error_m,
                                       RELATIVE_ERROR_PROPERTY: float(distances.mean()) / diagonal})
        attach_sliders(edited, model_path, estimates, coefficients, None)
        set_custom_properties(edited, {POSE_ROTATIONS: np.ravel(rotations), POSE_TRANSLATION: np.ravel(translation)})
    projection = Projection(coefficients, posed.astype(np.float32), float(distances.mean()),
                            float(distances.mean()) / diagonal)
    return ProjectionOutcome(edited, projection, dict(zip(model.columns, estimates)), None, "articulated",
                             attributes, error_m)


def projection_report(outcome: ProjectionOutcome, target: str) -> str:
    fitted = f"template fitted (residual {100 * outcome.residual:.2f}%), " if outcome.residual is not None else ""
    what = "the copy is the space's version of it" if target == 'COPY' else "the mesh keeps its own detail"
    message = (f"'{outcome.edited.name}': {fitted}the space reproduces it within {1000 * outcome.error_m:.3g} mm "
               f"per vertex on average ({100 * outcome.projection.relative_error:.2f}% of its size; {what}; "
               f"{outcome.alignment} alignment)")
    if outcome.attributes:
        return message + "; estimated " + ", ".join(f"{k} {v:.3g}" for k, v in outcome.estimates.items())
    components = sum(1 for name in outcome.estimates if name.startswith("PC"))
    measured = [name for name in outcome.estimates if not name.startswith("PC")]  # e.g. an articulated height_m
    also = f", and {', '.join(measured)} measured on the rest body" if measured else ""
    return (message + f"; no attributes are learned for this space, so its sliders are its "
            f"{components} components in standard deviations{also} (Learn Attributes gives named sliders)")


class DESIGN_SPACE_OT_project_shape(bpy.types.Operator):
    """Bring the active mesh into the active shape space (or learned attributes): report how well the space reproduces it, and give it sliders (its attributes, or the space's components)"""

    bl_idname = "design_space.project_shape"
    bl_label = "Edit with Attribute Sliders"
    bl_options = {'REGISTER', 'UNDO'}

    target: EnumProperty(name="Edit", description="Which mesh the sliders change",
                         items=[('IN_PLACE', "This Mesh", "The sliders change the selected mesh itself, keeping its "
                                                          "detail (Ctrl+Z undoes each move)"),
                                ('COPY', "A Copy", "A new copy that is the projection (the space's version of the "
                                                   "mesh, where the mesh is); the sliders change it and the "
                                                   "selected mesh stays as it is (needed when its topology "
                                                   "differs: the template is fitted)")],
                         default='COPY')

    @reports_errors
    def execute(self, context):
        outcome = project_shape(context, context.active_object, self.target)
        self.report({'INFO'}, projection_report(outcome, self.target))
        for obj in context.selected_objects:
            obj.select_set(False)
        outcome.edited.select_set(True)
        context.view_layer.objects.active = outcome.edited
        return {'FINISHED'}
