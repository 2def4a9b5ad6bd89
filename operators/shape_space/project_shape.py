"""Bring an existing mesh into a learned shape space: its coordinates, how well the space
reproduces it, and sliders that then edit it (or a copy of it).

A copy is the projection itself: the space's version of the mesh (rebuilt from its coordinates),
put back in the mesh's own frame with the full similarity (rotation, scale, translation) the
space's alignment found, so it overlaps the input and every slider edit stays where the input was.
Its reconstruction error is kept on it as custom properties. With learned attributes active the
sliders are the attributes; with only a shape space, they are its components (in standard
deviations).

In an articulated space the projection is rigged: a copy is the space's body in its rest pose under
an armature posed like the mesh; in place, the mesh itself gets the rig, its own vertices unposed
(inverse skinning), so it looks exactly as before and keeps its detail while sliders keep its pose.
"""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import EnumProperty

from ..mesh_bridge import SceneWriter, read_shape, set_custom_properties, update_positions
from ..operator_support import reports_errors
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
    from ...learning.shape_space import project_in_frame
    from ...shapespace.correspondence import align_to
    from ...shapespace.mesh_arrays import MeshArrays
    from ...shapespace.template_fitting import fit_template

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
    from ...learning.articulated_space import ArticulatedSpace
    from ...learning.shape_space import load_articulated_arrays

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
    from ...learning.shape_space import Projection
    from ...shapespace.mesh_arrays import MeshArrays
    from .learn_shape_space import attach_rig
    from ..mesh_bridge import armature_of, read_evaluated_positions

    if not same:
        count = len(model.space.mean) // 3
        what = (f"{count} vertices but other faces" if len(shape.vertices) == count
                else f"{len(shape.vertices)} vertices")
        raise ValueError(f"'{obj.name}' has {what}; the articulated space '{model.space_path.stem}' holds meshes of "
                         f"one topology ({count} vertices): project a mesh of that topology (a copy of one of its "
                         "training meshes, reshaped or reposed)")
    articulated, tail_regressor, rolls, bone_names = articulated_model(model.space_path)
    # a rigged mesh (a projection made in place, a user's character) is fitted as Blender shows it, posed
    positions = np.asarray(read_evaluated_positions(obj) if armature_of(obj) is not None else shape.vertices,
                           dtype=np.float64)
    bad = int(np.count_nonzero(~np.isfinite(positions).all(axis=1)))
    if bad:
        raise ValueError(f"'{obj.name}' has {bad} vert{'ex' if bad == 1 else 'ices'} at a non-finite position (NaN or "
                         "infinity); delete or move them, then project it again")
    if target == 'IN_PLACE':
        check_rigged_in_place(obj, bone_names)
    coefficients, rotations, translation, _ = articulated.fit(positions)
    rest = articulated.rest(coefficients) + articulated.correctives(rotations)
    estimates = model.estimate(coefficients[None])[0]
    if target == 'IN_PLACE':
        return rig_in_place(obj, positions, coefficients, rotations, translation, rest, estimates, model_path, model,
                            attributes)
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


def check_rigged_in_place(obj, bone_names) -> None:
    """Refuse, by name, an in-place projection that would mix with a rig the mesh already has."""
    from ..mesh_bridge import armature_of

    rig = armature_of(obj)
    if rig is not None:
        raise ValueError(f"'{obj.name}' is already deformed by '{rig.name}'; edit a copy (the copy is the projection, "
                         "rigged and posed like the mesh), or remove its Armature modifier first")
    if obj.data.shape_keys is not None:
        raise ValueError(f"'{obj.name}' has shape keys, which would hide the rest body written under its rig; apply "
                         "or delete them (Object Data > Shape Keys), or edit a copy")
    clashing = [g.name for g in obj.vertex_groups if g.name in set(bone_names)]
    if clashing:
        raise ValueError(f"'{obj.name}' already has vertex groups named like the space's bones ('{clashing[0]}', "
                         f"{len(clashing)} in all), which the rig's weights would mix with; delete them, or edit a "
                         "copy")


def rig_in_place(obj, positions, coefficients, rotations, translation, model_rest, estimates, model_path, model,
                 attributes: bool) -> ProjectionOutcome:
    """The mesh itself rigged: its own vertices unposed by the fitted pose (inverse LBS with the
    weights as Blender's Armature modifier applies them, so the rig shows the mesh exactly as it
    was, detail kept), an armature posed like it, and sliders that edit its rest body and keep
    the pose. The error reported is the space's own (its version of the mesh against the mesh)."""
    from ...learning.articulated_space import unpose
    from ...learning.shape_space import Projection
    from .learn_shape_space import attach_rig
    from ..mesh_bridge import WEIGHT_LEVELS, read_evaluated_positions

    articulated, tail_regressor, rolls, bone_names = articulated_model(model.space_path)
    shown_weights = np.rint(np.clip(np.asarray(articulated.weights, np.float64), 0.0, 1.0) * WEIGHT_LEVELS)
    shown_weights /= np.maximum(shown_weights.sum(axis=1, keepdims=True), 1.0)  # the modifier normalises
    own_rest = unpose(positions, articulated.joints(coefficients), rotations, translation, shown_weights,
                      articulated.parents)
    lost = ~np.isfinite(own_rest).all(axis=1)  # a vertex whose blended transform cannot be inverted
    own_rest[lost] = model_rest[lost]
    modelled = articulated.pose(coefficients, rotations, translation)
    distances = np.linalg.norm(modelled - positions, axis=1)
    diagonal = float(np.linalg.norm(positions.max(axis=0) - positions.min(axis=0))) or 1.0
    error_m = _world_length(obj, modelled - positions)
    parent, parent_inverse, world = obj.parent, obj.matrix_parent_inverse.copy(), obj.matrix_world.copy()
    try:
        with SceneWriter() as writer:  # a failure removes the armature; the mesh is put back below
            writer.adopt([attach_rig(obj, articulated, tail_regressor, rolls, bone_names, coefficients, rotations,
                                     translation)])
            update_positions(obj.data, own_rest)
            read_evaluated_positions(obj)  # evaluated once, so Blender shows the rigged mesh
            set_custom_properties(obj, {ERROR_PROPERTY: error_m,
                                        RELATIVE_ERROR_PROPERTY: float(distances.mean()) / diagonal})
            attach_sliders(obj, model_path, estimates, coefficients, None)
            set_custom_properties(obj, {POSE_ROTATIONS: np.ravel(rotations), POSE_TRANSLATION: np.ravel(translation)})
    except Exception:
        _unrig(obj, positions, bone_names, parent, parent_inverse, world)
        raise
    projection = Projection(coefficients, modelled.astype(np.float32), float(distances.mean()),
                            float(distances.mean()) / diagonal)
    return ProjectionOutcome(obj, projection, dict(zip(model.columns, estimates)), None, "articulated", attributes,
                             error_m)


def _unrig(obj, positions, bone_names, parent, parent_inverse, world) -> None:
    """Undo a half-made in-place rig: the modifier, the bones' vertex groups, the parent, the vertices."""
    for modifier in [m for m in obj.modifiers if m.type == 'ARMATURE' and m.object is None]:
        obj.modifiers.remove(modifier)
    for group in [g for g in obj.vertex_groups if g.name in set(bone_names)]:
        obj.vertex_groups.remove(group)
    obj.parent, obj.matrix_parent_inverse = parent, parent_inverse
    obj.matrix_world = world
    for name in (ERROR_PROPERTY, RELATIVE_ERROR_PROPERTY, POSE_ROTATIONS, POSE_TRANSLATION):
        obj.pop(name, None)
    update_positions(obj.data, positions)


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


def out_of_range_note(outcome: ProjectionOutcome) -> str:
    """A warning when the projection's slider values lie outside the training range (a space learned
    from few shapes places an unseen one at many standard deviations along its small components):
    the sliders stay within that range, so the first move of such a slider jumps back into it."""
    from ..model_store import absolute_path

    model = slider_model(absolute_path(outcome.edited.design_space_edit.attribute_model))
    if model.value_ranges is None:
        return ""
    values = np.array([outcome.estimates[name] for name in model.columns], dtype=np.float64)
    low, high = model.value_ranges[:, 0], model.value_ranges[:, 1]
    outside = np.flatnonzero((values < low) | (values > high))
    if not len(outside):
        return ""
    worst = int(outside[np.argmax(np.maximum(low - values, values - high)[outside])])
    listed = ", ".join(model.columns[i] for i in outside[:5]) + ("…" if len(outside) > 5 else "")
    verb = "lies" if len(outside) == 1 else "lie"
    return (f"{len(outside)} slider{'' if len(outside) == 1 else 's'} ({listed}) of '{outcome.edited.name}' {verb} "
            f"outside the training range ('{model.columns[worst]}' is {values[worst]:.3g}; the training shapes span "
            f"{low[worst]:.3g} to {high[worst]:.3g}): the space has seen no shape like it there, and a slider stays "
            "within that range, so its first move jumps back into it; learn the space from more shapes like this one "
            "or with fewer components")


class DESIGN_SPACE_OT_project_shape(bpy.types.Operator):
    """Bring the active mesh into the active shape space (or learned attributes): report how well the space reproduces it, and give it sliders (its attributes, or the space's components)"""

    bl_idname = "design_space.project_shape"
    bl_label = "Edit with Attribute Sliders"
    bl_options = {'REGISTER', 'UNDO'}

    target: EnumProperty(name="Edit", description="Which mesh the sliders change",
                         items=[('IN_PLACE', "This Mesh", "The sliders change the selected mesh itself, keeping its "
                                                          "detail (Ctrl+Z undoes each move); an articulated space "
                                                          "rigs it, posed as it is"),
                                ('COPY', "A Copy", "A new copy that is the projection (the space's version of the "
                                                   "mesh, where the mesh is); the sliders change it and the "
                                                   "selected mesh stays as it is (needed when its topology "
                                                   "differs: the template is fitted)")],
                         default='COPY')

    @reports_errors
    def execute(self, context):
        outcome = project_shape(context, context.active_object, self.target)
        note = out_of_range_note(outcome)
        self.report({'WARNING' if note else 'INFO'}, "; ".join([projection_report(outcome, self.target)]
                                                               + ([note] if note else [])))
        for obj in context.selected_objects:
            obj.select_set(False)
        outcome.edited.select_set(True)
        context.view_layer.objects.active = outcome.edited
        return {'FINISHED'}
