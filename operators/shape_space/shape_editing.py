"""Attribute sliders on meshes that live in a shape space: which models an object uses, the slider
directions (cached per model file), and the update that moves the mesh when a slider moves.

A slider step is one fixed direction in vertex space (learning.attribute_space), so an update is a
bulk read, one multiply-add and a bulk write of the positions. The shape-space object itself keeps
its shape keys (for export and keyframes): there the slider sets the component keys' values instead.

A shape space without learned attributes still gives sliders: one per component, in standard
deviations of the training shapes along it (so every slider is bounded at ±SLIDER_LIMIT_SIGMAS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from ..mesh_bridge import add_to_positions, armature_of, set_custom_properties
from ..model_store import absolute_path, active_model, stored_path

COEFFICIENTS = "shape_space_coefficients"
# The similarity between the object's own coordinates and the space's: 3×3 rotation (row-major),
# scale, translation (13 numbers; older files stored the first 10): aligned = scale · local · Rᵀ + t
FRAME = "shape_space_frame"
# A rigged projection (articulated space) keeps its pose: joint rotations (J × 9, relative to the
# parent, body_rig's convention) and the root's translation, so the joints can follow the shape.
POSE_ROTATIONS = "design_space_pose_rotations"
# The pose the rest mesh's pose correctives were made for, when it differs from the pose shown: a
# slider step re-aims the joints by a fraction of a degree, and refreshing the correctives for that
# (under 0.1 mm here) streams the whole corrective basis (300 MB for a 100k-vertex body) every step.
CORRECTIVE_ROTATIONS = "design_space_corrective_rotations"
REST_DRIFT = 0.005  # m a rig's rest bone may lag its joint before the bones are moved (follow_joints)
CORRECTIVE_REFRESH = 0.02  # largest change of a pose feature (an entry of R − I, ~1.1°) left without refresh
POSE_TRANSLATION = "design_space_pose_translation"


@dataclass
class SliderModel:
    """What sliders need from a model file: attribute columns, how to estimate them from component
    coordinates, and the step per unit of each (learned attributes, or semantic attributes learned
    from comparisons over the space's coordinates)."""

    columns: list
    estimate: object  # (N, k) coordinates -> (N, m) attribute values
    space: object  # ShapeSpace
    face_sizes: np.ndarray
    corner_vertices: np.ndarray
    space_metadata: dict
    space_path: Path
    coefficient_directions: np.ndarray  # (m, k) per unit of each attribute
    vertex_directions: np.ndarray  # (m, 3V) float32
    value_ranges: np.ndarray | None = None  # (m, 2) lowest and highest value a slider may take


# A slider stops this many standard deviations of the training shapes' attribute values (as the
# space models them) from their mean: far enough for any shape like the training ones, short of
# the 10³⁰-unit chairs an unbounded value makes.
SLIDER_LIMIT_SIGMAS = 3.0


def attribute_value_ranges(estimate, space) -> np.ndarray:
    """(m, 2) range of each attribute within SLIDER_LIMIT_SIGMAS standard deviations of the
    training shapes: the estimates are linear in the component coordinates, so an attribute's
    spread over the space's Gaussian is the length of its gradient scaled by the components' σ."""
    sigma = space.standard_deviations
    center = np.asarray(estimate(np.zeros((1, space.k))), dtype=np.float64)[0]
    spread = np.linalg.norm(np.asarray(estimate(np.diag(sigma)), dtype=np.float64) - center, axis=0)
    half = np.where(spread > 0, SLIDER_LIMIT_SIGMAS * spread, np.inf)  # a constant estimate: nothing to bound
    return np.stack([center - half, center + half], axis=1)


_models: dict = {}


def slider_model(path: Path) -> SliderModel:
    """The attribute model at `path` with its shape space, loaded once per file version."""
    from ...learning.attribute_space import ATTRIBUTE_SPACE_KIND, load_attribute_space
    from ...learning.model_files import read_archive
    from ...learning.ranking import load_rankings
    from ...learning.shape_space import SHAPE_SPACE_KIND, load_shape_space

    path = Path(path)
    key = (str(path), path.stat().st_mtime_ns if path.exists() else None)
    model = _models.get(key)
    if model is None:
        _, metadata, _ = read_archive(path, "model file")
        if metadata.get("kind") == SHAPE_SPACE_KIND:  # no attributes learned: component sliders
            model = component_slider_model(path)
            _models.clear()
            _models[key] = model
            return model
        if metadata.get("kind") == ATTRIBUTE_SPACE_KIND:
            attributes, metadata = load_attribute_space(path)
            columns, estimate, directions = attributes.columns, attributes.estimate, attributes.slider_directions()
        else:
            rankings, metadata = load_rankings(path)
            if metadata["info"].get("feature_source") != "shape_space":
                raise ValueError(f"'{path.name}' ranks shapes by their descriptors, not in a shape space; learn it "
                                 "on a collection that has a shape space to get sliders")
            columns = [r.attribute for r in rankings]
            directions = np.stack([r.raw_direction() for r in rankings])
            estimate = lambda c, rankings=rankings: np.stack(  # noqa: E731
                [r.strength(c) for r in rankings], axis=1)
        space_path = resolve_relative(metadata["info"]["shape_space"], path)
        space, sizes, corners, space_metadata = load_shape_space(space_path)
        model = SliderModel(list(columns), estimate, space, sizes, corners, space_metadata, space_path, directions,
                            (directions @ space.components.astype(np.float64)).astype(np.float32),
                            attribute_value_ranges(estimate, space))
        _models.clear()  # one model at a time is plenty; a new file version replaces the old
        _models[key] = model
    return model


def component_names(k: int) -> list[str]:
    return [f"PC{i + 1}" for i in range(k)]


# An articulated space's extra slider: the rest body's height (metres, its Z extent), measured on
# the space's own bodies (ArticulatedSpace.measured_direction), so "+0.10" adds 10 cm in rest pose.
HEIGHT_COLUMN = "height_m"


def component_slider_model(path: Path) -> SliderModel:
    """Sliders for a bare shape space: slider i is component i's coordinate in standard deviations;
    an articulated space also gets HEIGHT_COLUMN."""
    from ...learning.shape_space import load_shape_space

    space, sizes, corners, space_metadata = load_shape_space(path)
    sigma = np.maximum(space.standard_deviations, 1e-30)
    columns = component_names(space.k)
    directions = np.diag(sigma)  # one σ of coordinate per unit of slider
    if space_metadata["info"].get("alignment") == "articulated":
        from ...learning.articulated_space import rest_height
        from .project_shape import articulated_model

        articulated = articulated_model(Path(path))[0]
        intercept, slope = articulated.measurement_line(rest_height)
        columns.append(HEIGHT_COLUMN)
        directions = np.vstack([directions, articulated.measured_direction(rest_height)])

        def estimate(c, sigma=sigma, intercept=intercept, slope=slope):
            c = np.atleast_2d(np.asarray(c, dtype=np.float64))
            return np.concatenate([c / sigma, intercept + c @ slope[:, None]], axis=1)
    else:
        estimate = lambda c, sigma=sigma: np.atleast_2d(np.asarray(c, dtype=np.float64)) / sigma  # noqa: E731
    return SliderModel(columns, estimate, space, sizes, corners, space_metadata, Path(path),
                       directions, (directions @ space.components.astype(np.float64)).astype(np.float32),
                       attribute_value_ranges(estimate, space))


def resolve_relative(stored: str, beside: Path) -> Path:
    """A path kept in a model file: absolute, or just a file name in the same folder."""
    candidate = Path(stored)
    return candidate if candidate.is_absolute() else Path(beside).parent / candidate


def shape_space_path_of(context, obj=None) -> Path:
    """The shape-space model file of the given object, else of the active model."""
    if obj is not None and obj.get("design_space_kind") == "shape_space" and obj.get("design_space_model"):
        return absolute_path(obj["design_space_model"])
    entry = active_model(context.scene)
    if entry is not None and entry.kind == "shape_space":
        return absolute_path(entry.filepath)
    if entry is not None and entry.kind in SLIDER_KINDS:
        return slider_model(absolute_path(entry.filepath)).space_path
    raise ValueError("Select a shape-space object or make a shape space the active model first "
                     "(Learn Shape Space, or pick one in the model list)")


SLIDER_KINDS = ("shape_attributes", "semantic_attributes")


def attribute_model_path_of(context) -> Path:
    entry = active_model(context.scene)
    if entry is None or entry.kind not in SLIDER_KINDS:
        raise ValueError("Make learned attributes the active model first (Learn Attributes or Learn from "
                         "Comparisons, or pick one in the model list)")
    return absolute_path(entry.filepath)


def slider_model_path_of(context) -> tuple[Path, bool]:
    """(the model file sliders use, whether it holds learned attributes): the active model if it is
    learned attributes or a shape space (then the sliders are its components)."""
    entry = active_model(context.scene)
    if entry is not None and entry.kind in SLIDER_KINDS:
        return absolute_path(entry.filepath), True
    if entry is not None and entry.kind == "shape_space":
        return absolute_path(entry.filepath), False
    raise ValueError("Make a shape space or learned attributes the active model first (Learn Shape Space, Learn "
                     "Attributes or Learn from Comparisons, or pick one in the model list)")


def attach_sliders(obj, model_path: Path, estimates, coefficients, frame=None) -> None:
    """Give `obj` one slider per attribute, set to its estimated attributes."""
    model = slider_model(model_path)
    state = obj.design_space_edit
    state.attribute_model = stored_path(model_path)
    state.sliders.clear()
    for name, value in zip(model.columns, estimates):
        item = state.sliders.add()
        item.name = name
        item.applied = float(value)
        item.value = float(value)  # equal to applied: the update leaves the mesh alone
    state.message = state.notice = ""
    properties = {COEFFICIENTS: [float(c) for c in coefficients]}
    if frame is not None:
        rotation, scale, translation = frame
        properties[FRAME] = ([float(x) for x in np.ravel(rotation)] + [float(scale)]
                             + [float(x) for x in np.ravel(translation)])
    set_custom_properties(obj, properties)


def frame_of(obj):
    """(rotation (3, 3), scale, translation (3,)) of FRAME on `obj`, identity when it has none."""
    frame = obj.get(FRAME)
    if frame is None:
        return np.eye(3), 1.0, np.zeros(3)
    frame = np.asarray(frame, dtype=np.float64)
    translation = frame[10:13] if len(frame) >= 13 else np.zeros(3)
    return frame[:9].reshape(3, 3), float(frame[9]), translation


def move_attribute(obj, index: int, delta: float, model=None) -> None:
    """Move attribute `index` of `obj` by `delta` with the others held, writing the new geometry. The
    model is the object's sliders' model, or `model` — another model over the same shape space (a
    semantic attribute learned from comparisons, moved by a phrase)."""
    from .learn_shape_space import KEY_SIGMAS

    if model is None:
        model = slider_model(absolute_path(obj.design_space_edit.attribute_model))
    change = delta * model.coefficient_directions[index]
    coefficients = np.asarray(obj.get(COEFFICIENTS, np.zeros(model.space.k)), dtype=np.float64) + change
    if obj.get("design_space_kind") == "shape_space" and obj.data.shape_keys is not None:
        blocks = obj.data.shape_keys.key_blocks
        values = coefficients / (KEY_SIGMAS * np.maximum(model.space.standard_deviations, 1e-30))
        for block, value in zip(blocks[1:], values):
            block.value = float(value)
    else:
        offsets = delta * model.vertex_directions[index]
        if obj.get(FRAME) is not None:  # the space's frame back to the object's own: Δlocal = Δaligned · R / scale
            rotation, scale, _ = frame_of(obj)
            offsets = (offsets.reshape(-1, 3).astype(np.float64) @ rotation) / scale
        if obj.get(POSE_ROTATIONS) is not None:
            offsets = keep_pose_of_rig(obj, model, coefficients - change, coefficients, offsets)
        add_to_positions(obj.data, offsets)
    obj[COEFFICIENTS] = [float(c) for c in coefficients]


def keep_pose_of_rig(obj, model, coefficients, new_coefficients, offsets):
    """A shape edit of a rigged projection that keeps its pose: the joints' rotations re-aimed so
    every limb keeps its posed direction (ArticulatedSpace.keep_pose: rest bone directions change
    with the shape, and with the rotations held the neck and head turned up to 14° for +10 cm of
    height), the rig moved so its joints sit where the space puts them for the new shape, and the
    stored pose updated. Returns the rest-mesh offsets plus the change of the pose correctives."""
    from .project_shape import articulated_model

    from ...learning.articulated_space import pose_features

    articulated, _, _, bone_names = articulated_model(model.space_path)
    # the pose the mesh's correctives were made for
    corrected = np.asarray(obj.get(CORRECTIVE_ROTATIONS, obj[POSE_ROTATIONS]), dtype=np.float64).reshape(-1, 3, 3)
    rotations, translation = rig_pose(obj, articulated, bone_names, coefficients)
    kept = articulated.keep_pose(rotations, coefficients, new_coefficients)
    offsets = np.asarray(offsets, dtype=np.float64).reshape(-1, 3)
    if np.abs(pose_features(kept) - pose_features(corrected)).max() > CORRECTIVE_REFRESH:
        offsets = offsets + articulated.corrective_change(kept, corrected)
        obj[CORRECTIVE_ROTATIONS] = [float(x) for x in np.ravel(kept)]
    follow_joints(obj, model, new_coefficients, kept, translation)
    obj[POSE_ROTATIONS] = [float(x) for x in np.ravel(kept)]
    obj[POSE_TRANSLATION] = [float(x) for x in np.ravel(translation)]
    return offsets


def rig_pose(obj, articulated, bone_names, coefficients):
    """(rotations (J, 3, 3), root translation (3,)) the rig of a rigged projection shows now, bones
    the user turned by hand included (so a slider keeps them); the stored pose when it has no rig.
    The root translation is its location in its rest frame, t = F₀ l₀, less the shift s = joint −
    rest head when the rest bones are not on the joints of `coefficients`: t = F₀ l₀ − s + Q₀ s."""
    from ...shapespace.body_rig import nearest_rotations, pose_transforms, rotations_from_basis
    from ..mesh_bridge import read_bone_pose, read_bone_rest

    armature = armature_of(obj)
    if armature is None:
        return (np.asarray(obj[POSE_ROTATIONS], dtype=np.float64).reshape(-1, 3, 3),
                np.asarray(obj[POSE_TRANSLATION], dtype=np.float64))
    rest_heads, rest_frames = read_bone_rest(armature, bone_names)
    basis, locations = read_bone_pose(armature, bone_names)
    rotations = nearest_rotations(rotations_from_basis(basis, rest_frames))
    joints = articulated.joints(coefficients)
    world, _ = pose_transforms(joints, rotations, articulated.parents)
    shift = joints[0] - rest_heads[0]
    return rotations, rest_frames[0] @ locations[0] - shift + world[0] @ shift


def follow_joints(obj, model, coefficients, rotations=None, translation=None, move_rest: bool = True) -> None:
    """Pose the rig of a rigged projection with `rotations` (J, 3, 3; the stored pose if None) about
    the joints the articulated space puts there for `coefficients`. While the rest bones are within
    REST_DRIFT of those joints they stay, and each bone gets the location that makes it deform exactly
    as the model's joint (body_rig.basis_about_rest): moving rest bones needs Edit Mode, which
    re-evaluates and rebuilds the pose, the slowest part of a slider step. Beyond it the rest bones are
    moved onto the joints, so a bone the user turns later pivots where the model's joint is; with
    `move_rest` False they stay wherever they are (no Edit Mode: a depsgraph handler may not enter it)."""
    from ...shapespace.body_rig import basis_about_rest, bone_rest_matrices
    from ..mesh_bridge import move_bone_rest, pose_armature, read_bone_rest
    from .project_shape import articulated_model

    armature = armature_of(obj)
    if armature is None:
        return  # the user removed the rig: the rest mesh still moved
    articulated, _, rolls, bone_names = articulated_model(model.space_path)
    if rotations is None:
        rotations = np.asarray(obj[POSE_ROTATIONS], dtype=np.float64).reshape(-1, 3, 3)
    if translation is None:
        translation = np.asarray(obj[POSE_TRANSLATION], dtype=np.float64)
    heads = articulated.joints(coefficients)
    rest_heads, rest_frames = read_bone_rest(armature, bone_names)
    if move_rest and np.linalg.norm(rest_heads - heads, axis=1).max() > REST_DRIFT:
        tails = articulated.tails(coefficients)  # = tail regressor · rest mesh (articulated_model)
        move_bone_rest(armature, bone_names, heads, tails, rolls, update=False)  # one evaluation, after the pose
        rest_heads, rest_frames = heads, bone_rest_matrices(heads, tails, rolls)
    basis, locations = basis_about_rest(heads, rotations, articulated.parents, translation, rest_heads, rest_frames)
    # no evaluation here: the caller writes the rest mesh next, and one evaluation deforms both
    pose_armature(armature, basis, bone_names, locations=locations, update=False)


def bounded_slider_value(obj, name: str, value: float) -> tuple[float, str]:
    """(the value a slider of `obj` may take, a note when it had to be clamped; else "").

    Refuses values that are not numbers; clamps to the attribute's SLIDER_LIMIT_SIGMAS range."""
    if not math.isfinite(value):
        raise ValueError(f"{value} is not a usable value for '{name}' of '{obj.name}'; enter a finite number")
    state = obj.design_space_edit
    model = slider_model(absolute_path(state.attribute_model))
    low, high = model.value_ranges[state.sliders.find(name)]
    bounded = min(max(float(value), float(low)), float(high))
    if math.isclose(bounded, value, rel_tol=1e-6, abs_tol=1e-9):  # a float32 slider at a float64 limit is at it
        return float(value), ""
    return bounded, (f"'{name}' of '{obj.name}' was set to {bounded:.4g} instead of {value:.4g}: the training shapes "
                     f"span {low:.4g} to {high:.4g} (±{SLIDER_LIMIT_SIGMAS:g} standard deviations), and a slider "
                     "stays within that")


def on_slider_change(item, context) -> None:
    """Update callback of an attribute slider: apply the change since the last applied value.

    A value outside the attribute's range moves the mesh to the range's end; a move that fails
    puts the slider back where the mesh is (raw writes: they do not call this callback again)."""
    obj = item.id_data
    if item.value == item.applied or not isinstance(obj, bpy.types.Object) or obj.type != 'MESH':
        return
    state = obj.design_space_edit
    try:
        value, note = bounded_slider_value(obj, item.name, item.value)
        if value != item.applied:
            move_attribute(obj, state.sliders.find(item.name), value - item.applied)
    except (OSError, ValueError, KeyError, RuntimeError) as error:  # e.g. the model file was moved away
        state.message = f"Cannot edit '{obj.name}': {error}"
        item["value"] = item.applied
        print(f"[Design Space] {state.message}")
        return
    state.message = ""
    state.notice = note  # shown under the sliders, so a clamped slider says why it stopped
    if note:
        print(f"[Design Space] {note}")
    item["value"] = item.applied = value


# The component coefficients a rigged mean body's rig was last placed for (its shape keys' values
# then); absent means the mean (all keys at 0), where attach_rig put it.
RIG_COEFFICIENTS = "design_space_rig_coefficients"
_following_keys = False  # set while follow_shape_keys poses a rig: its own update must not re-enter


def key_coefficients(obj, space) -> np.ndarray:
    """The component coefficients the shape keys of the shape-space object `obj` show: key i at value
    v is component i at v · KEY_SIGMAS standard deviations (learn_shape_space); a muted key counts 0."""
    from .learn_shape_space import KEY_SIGMAS

    blocks = obj.data.shape_keys.key_blocks[1:space.k + 1]
    values = np.array([0.0 if b.mute else b.value for b in blocks] + [0.0] * (space.k - len(blocks)))
    return values * KEY_SIGMAS * np.asarray(space.standard_deviations, dtype=np.float64)


def rig_follows_shape_keys(obj) -> bool:
    """Move the rig of the rigged mean body `obj` (an articulated shape space's object) onto the joints
    its shape keys' values put there, the bones' rotations held; True when the rig moved. Dragging a
    component's key in Blender's own Shape Keys panel changes the rest body, and
    without this the skeleton stayed where the mean body's joints are, so a turned arm pivoted off
    its shoulder."""
    from .project_shape import articulated_model

    path = absolute_path(obj["design_space_model"])
    articulated, _, _, bone_names = articulated_model(path)
    new = key_coefficients(obj, articulated)
    old = np.asarray(obj.get(RIG_COEFFICIENTS, np.zeros(articulated.k)), dtype=np.float64)
    if len(old) != len(new) or np.abs(new - old).max() <= 1e-9:
        return False
    rotations, translation = rig_pose(obj, articulated, bone_names, old)
    follow_joints(obj, SliderSpace(path), new, rotations, translation, move_rest=False)
    obj[RIG_COEFFICIENTS] = [float(c) for c in new]
    _rest_bones_to_settle.add(obj.name)
    if not bpy.app.timers.is_registered(settle_rest_bones):
        bpy.app.timers.register(settle_rest_bones, first_interval=0.2)  # once the drag pauses
    return True


_rest_bones_to_settle: set = set()  # names of mean bodies whose rest bones lag their joints


def settle_rest_bones():
    """Timer: move the rest bones of the mean bodies whose keys changed onto their joints (Edit Mode,
    which a depsgraph handler may not enter). Until then the rig deforms exactly as the model, but a
    bone turned by hand would pivot on its old rest head, off the joint by what the keys moved it."""
    global _following_keys
    from .project_shape import articulated_model

    if bpy.context.mode != 'OBJECT':
        return 1.0  # the user is editing something: try again later
    names = list(_rest_bones_to_settle)
    _rest_bones_to_settle.clear()
    _following_keys = True
    try:
        for name in names:
            obj = bpy.data.objects.get(name)
            if obj is None or armature_of(obj) is None or obj.get(RIG_COEFFICIENTS) is None:
                continue
            path = absolute_path(obj["design_space_model"])
            try:
                articulated, _, _, bone_names = articulated_model(path)
                coefficients = np.asarray(obj[RIG_COEFFICIENTS], dtype=np.float64)
                rotations, translation = rig_pose(obj, articulated, bone_names, coefficients)
                follow_joints(obj, SliderSpace(path), coefficients, rotations, translation)
            except (OSError, ValueError, KeyError, RuntimeError) as error:
                print(f"[Design Space] the rest bones of '{name}' cannot follow its shape keys: {error}")
        bpy.context.view_layer.update()
    finally:
        _following_keys = False
    return None


@dataclass
class SliderSpace:
    """The part of a SliderModel follow_joints reads: where the articulated space's file is."""

    space_path: Path


@bpy.app.handlers.persistent
def follow_shape_keys(scene, depsgraph=None) -> None:
    """depsgraph_update_post handler: rigs of mean bodies whose shape keys changed follow them."""
    global _following_keys
    if _following_keys or depsgraph is None:
        return
    _following_keys = True
    try:
        for update in depsgraph.updates:
            obj = getattr(update.id, "original", None)
            if (not isinstance(obj, bpy.types.Object) or obj.type != 'MESH'
                    or obj.get("design_space_kind") != "shape_space" or obj.get("design_space_model") is None
                    or obj.data.shape_keys is None or armature_of(obj) is None):
                continue
            try:
                rig_follows_shape_keys(obj)
            except (OSError, ValueError, KeyError, RuntimeError) as error:  # e.g. the model file was moved away
                print(f"[Design Space] the rig of '{obj.name}' cannot follow its shape keys: {error}")
    finally:
        _following_keys = False
