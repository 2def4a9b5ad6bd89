"""Skeletons and skinning weights learned from posed meshes with no rig (learning.skeleton_learning):
a synthetic capsule figure posed with known joints, and MakeHuman bodies posed with the MPFB2 rig."""

import itertools

import numpy as np
import pytest

from learning.skeleton_learning import (assignment_min_cost, fit_bone_transforms, learn_skeleton, match_joints,
                                        skin_vertices)
from shapespace.isosurface import extract_surface, taubin_smooth

# A capsule figure: (parent, head = joint, tail, radius); the torso is the root.
FIGURE_BONES = [(-1, (0, 0, 0.0), (0, 0, 0.40), 0.12),
                (0, (0, 0, 0.47), (0, 0, 0.62), 0.08),
                (0, (0.14, 0, 0.36), (0.40, 0, 0.36), 0.045), (2, (0.40, 0, 0.36), (0.64, 0, 0.36), 0.04),
                (0, (-0.14, 0, 0.36), (-0.40, 0, 0.36), 0.045), (4, (-0.40, 0, 0.36), (-0.64, 0, 0.36), 0.04),
                (0, (0.07, 0, -0.02), (0.09, 0, -0.42), 0.06), (6, (0.09, 0, -0.42), (0.10, 0, -0.80), 0.05),
                (0, (-0.07, 0, -0.02), (-0.09, 0, -0.42), 0.06), (8, (-0.09, 0, -0.42), (-0.10, 0, -0.80), 0.05)]
FIGURE_HEIGHT = 1.62  # metres, feet to the top of the head


def _segment_distance(points, head, tail):
    head, tail = np.asarray(head, float), np.asarray(tail, float)
    along = tail - head
    t = np.clip(((points - head) @ along) / (along @ along), 0.0, 1.0)
    return np.linalg.norm(points - (head + t[..., None] * along), axis=-1)


def _rotation(axis, angle):
    axis = axis / np.linalg.norm(axis)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross


def posed_capsule_figure(poses=12, seed=0, pitch=0.028, blend_width=0.03):
    """One connected mesh of ten capsules (marching tetrahedra on their distance field), posed by LBS
    with smooth weights and random joint turns of 17–46°. Returns (mesh, poses (M, V, 3), heads, parents)."""
    low, high = np.array([-0.75, -0.16, -0.9]), np.array([0.75, 0.16, 0.75])
    offset = 0.0037  # keeps grid points off the capsule surfaces
    counts = np.ceil((high - low) / pitch).astype(int)
    axes = [low[i] + offset + (np.arange(counts[i]) + 0.5) * pitch for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    distance = np.min([_segment_distance(grid, h, t) - r for _, h, t, r in FIGURE_BONES], axis=0)
    mesh = taubin_smooth(extract_surface(-distance, 0.0, low=low + offset, pitch=pitch), 5)
    rest = mesh.vertices.astype(np.float64)
    to_bones = np.stack([_segment_distance(rest, h, t) for _, h, t, _ in FIGURE_BONES], axis=1)
    weights = np.exp(-((to_bones - to_bones.min(axis=1, keepdims=True)) / blend_width) ** 2)
    weights[weights < 1e-3] = 0.0
    weights /= weights.sum(axis=1, keepdims=True)
    heads = np.array([b[1] for b in FIGURE_BONES], float)
    parents = np.array([b[0] for b in FIGURE_BONES])
    rng = np.random.default_rng(seed)
    posed = []
    for _ in range(poses):
        world = np.zeros((len(FIGURE_BONES), 3, 4))
        for j in range(len(FIGURE_BONES)):
            turn = _rotation(rng.normal(size=3), rng.uniform(0.3, 0.8) if j else rng.uniform(0.0, 0.5))
            local = np.concatenate([turn, (heads[j] - turn @ heads[j])[:, None]], axis=1)
            if j == 0:
                local[:, 3] += rng.normal(scale=0.1, size=3)
                world[j] = local
            else:
                up = world[parents[j]]
                world[j] = np.concatenate([up[:, :3] @ local[:, :3], (up[:, :3] @ local[:, 3] + up[:, 3])[:, None]], 1)
        posed.append(skin_vertices(rest, weights, world[None])[0])
    return mesh, np.array(posed), heads, parents


@pytest.fixture(scope="module")
def figure():
    mesh, poses, heads, parents = posed_capsule_figure()
    learned = learn_skeleton(poses, mesh.face_sizes, mesh.corner_vertices, reference=mesh.vertices)
    return mesh, poses, heads, parents, learned


def test_capsule_figure_joints_within_one_percent_of_its_size(figure):
    mesh, poses, heads, parents, learned = figure
    assert 10 <= learned.bone_count <= 12, learned.bone_count  # ten bones, chosen from the motion alone
    _, assignment = match_joints(learned, heads)
    root = int(np.flatnonzero(learned.parents < 0)[0])
    assert assignment[root] == 0  # the torso is the root
    for true_joint in range(1, len(heads)):  # every joint but the root's (no motion says where that is)
        ours = np.flatnonzero(assignment == true_joint)
        assert len(ours) == 1, f"joint {true_joint} has no learned counterpart"
        error = np.linalg.norm(learned.joints[ours[0]] - heads[true_joint])
        assert error < 0.01 * FIGURE_HEIGHT, (true_joint, error)
        # The learned tree is the true one: the matched parent of a joint is its true parent.
        assert assignment[learned.parents[ours[0]]] == parents[true_joint]


def test_capsule_figure_weights_reproduce_the_poses(figure):
    mesh, poses, heads, parents, learned = figure
    weights = learned.weights
    assert weights.min() >= 0 and np.allclose(weights.sum(axis=1), 1.0)
    assert (weights > 0).sum(axis=1).max() <= 4
    rebuilt = learned.posed_vertices()
    error = np.linalg.norm(rebuilt - poses, axis=2)
    assert learned.transforms.shape == (len(poses), learned.bone_count, 3, 4)
    assert abs(error.mean() - learned.fit_error) < 1e-9
    assert error.mean() < 0.002 and np.percentile(error, 99) < 0.01  # metres, figure 1.6 m tall


def test_asking_for_a_bone_count_gets_it(figure):
    mesh, poses, heads, parents, _ = figure
    learned = learn_skeleton(poses[:6], mesh.face_sizes, mesh.corner_vertices, bones=6, reference=mesh.vertices)
    assert learned.bone_count == 6
    assert learned.weights.shape == (len(mesh.vertices), 6) and np.allclose(learned.weights.sum(axis=1), 1.0)


def test_several_people_learn_from_one_and_pose_the_rest(figure):
    mesh, poses, heads, parents, _ = figure
    other_person = poses[8:] * 1.05  # a larger body of the same topology, in other poses
    meshes = np.concatenate([poses[:4], other_person])
    ids = np.repeat([0, 1], 4)
    learned = learn_skeleton(meshes, mesh.face_sizes, mesh.corner_vertices, person_ids=ids)
    alone = learn_skeleton(poses[:4], mesh.face_sizes, mesh.corner_vertices)
    assert learned.learned_from.tolist() == list(range(4))
    np.testing.assert_allclose(learned.joints, alone.joints)
    assert learned.transforms.shape == (8, learned.bone_count, 3, 4)
    rebuilt = skin_vertices(learned.reference_vertices, learned.weights, learned.transforms[4:])
    unposed = np.linalg.norm(learned.reference_vertices[None] - other_person, axis=2).mean()
    error = np.linalg.norm(rebuilt - other_person, axis=2).mean()
    assert error < 0.01 and error < 0.05 * unposed, (error, unposed)  # measured 5 mm of 36 cm: the size change


# --------------------------------------------------------------------------------------------------
# MakeHuman bodies posed with the MPFB2 default rig (shapespace.posed_bodies)

MAJOR_LIMB_JOINTS = ("upperarm01.L", "upperarm01.R", "lowerarm01.L", "lowerarm01.R", "wrist.L", "wrist.R",
                     "upperleg01.L", "upperleg01.R", "lowerleg01.L", "lowerleg01.R", "foot.L", "foot.R")
NECK_CHAIN = ("neck01", "neck02", "neck03", "head")
LEARNING_POSES = 12


@pytest.fixture(scope="module")
def body(makehuman_dir):
    from shapespace.posed_bodies import posed_body_set

    # Body seed 2: before small leaf parts joined their parent, a split-off piece of its upper arm took
    # the right shoulder's match (13.2 cm off).
    posed = posed_body_set(1, 16, seed=2)
    poses = posed.vertices[0].astype(np.float64)
    learned = learn_skeleton(poses[:LEARNING_POSES], posed.face_sizes, posed.corner_vertices)
    return posed, poses, learned


def test_body_limb_joints_within_3_cm_of_the_makehuman_rig(body):
    posed, poses, learned = body
    names = list(posed.joint_names)
    rig_joints = posed.joints_posed[0, 0]  # pose 0 is the reference pose
    mean_distance, assignment = match_joints(learned, rig_joints)
    errors = {}
    for name in MAJOR_LIMB_JOINTS:
        ours = np.flatnonzero(assignment == names.index(name))
        assert len(ours) == 1, f"no learned joint matched {name}"
        errors[name] = float(np.linalg.norm(learned.joints[ours[0]] - rig_joints[names.index(name)]))
    # Measured here 0.1–2.0 cm; the worst joint per body over seeds 0–9 is 1.4–2.8 cm (a shoulder or a hip).
    # Shoulders are the hard ones: the chest part also carries the clavicle and shoulder bones (no rigid
    # part of their own), and from the chest's whole core even the rig's own bone transforms put the
    # shoulder's pivot up to 5 cm off; hence joints against the parent's vertices next to the child.
    assert max(errors.values()) < 0.03, errors
    # The neck is four joints turning together (neck01–03, head), so only the nearest of them is asked
    # for (measured 0.2–1.8 cm over seeds 0–9; before the local joints up to 4.1 cm).
    neck = np.array([rig_joints[names.index(n)] for n in NECK_CHAIN])
    assert np.linalg.norm(learned.joints[:, None] - neck[None], axis=2).min() < 0.03


def test_body_lbs_reproduces_learned_and_unseen_poses(body):
    posed, poses, learned = body
    assert learned.fit_error < 0.002, learned.fit_error  # metres; measured 0.7 mm
    unseen = poses[LEARNING_POSES:]
    transforms = fit_bone_transforms(learned, unseen)
    error = np.linalg.norm(skin_vertices(learned.reference_vertices, learned.weights, transforms) - unseen, axis=2)
    assert error.mean() < 0.002 and np.percentile(error, 99) < 0.015, (error.mean(), np.percentile(error, 99))
    weights = learned.weights
    assert weights.min() >= 0 and np.allclose(weights.sum(axis=1), 1.0) and (weights > 0).sum(axis=1).max() <= 4


# --------------------------------------------------------------------------------------------------
# Matching and bad input


def test_assignment_matches_brute_force():
    rng = np.random.default_rng(4)
    for rows, cols in ((4, 4), (3, 6), (5, 7)):
        cost = rng.random((rows, cols))
        best = min(itertools.permutations(range(cols), rows), key=lambda p: cost[np.arange(rows), p].sum())
        found = assignment_min_cost(cost)
        assert len(set(found)) == rows
        assert np.isclose(cost[np.arange(rows), found].sum(), cost[np.arange(rows), best].sum())


def test_match_joints_with_more_learned_than_reference_joints():
    reference = np.array([[0.0, 0, 0], [1, 0, 0]])
    learned = np.array([[1.01, 0, 0], [0.5, 0, 0], [0.0, 0.02, 0]])
    mean_distance, assignment = match_joints(learned, reference)
    assert assignment.tolist() == [1, -1, 0] and np.isclose(mean_distance, 0.015)


def test_bad_input_is_refused_with_a_reason(figure):
    mesh, poses, *_ = figure
    with pytest.raises(ValueError, match="only one pose"):
        learn_skeleton(poses[:1], mesh.face_sizes, mesh.corner_vertices)
    broken = poses[:3].copy()
    broken[1, 5] = np.nan
    with pytest.raises(ValueError, match=r"pose\(s\) \[1\]"):
        learn_skeleton(broken, mesh.face_sizes, mesh.corner_vertices)
    with pytest.raises(ValueError, match="outside"):
        learn_skeleton(poses[:3, :100], mesh.face_sizes, mesh.corner_vertices)
    with pytest.raises(ValueError, match="rest shape"):
        learn_skeleton(poses[:3], mesh.face_sizes, mesh.corner_vertices, reference=np.zeros((4, 3)))
