"""The pose-aware (articulated) shape space on posed MakeHuman bodies (pure core, no Blender).

One module fixture builds the posed set (8 people × 10 poses to learn, 2 unseen people × 10 poses to
test), learns the space once and fits every test mesh once; the tests read those results.
"""

import numpy as np
import pytest

from learning.articulated_space import ArticulatedSpace, fit_articulated_space, rest_height
from learning.shape_space import fit_shape_space
from shapespace import body_rig
from shapespace.correspondence import align_to, procrustes_align
from shapespace.makehuman import MakeHumanData, body_from_macros
from shapespace.posed_bodies import posed_body_set

LEARN_PEOPLE, TEST_PEOPLE, POSES, K = 8, 2, 10, 20


@pytest.fixture(scope="module")
def makehuman(makehuman_dir, tmp_path_factory):
    return MakeHumanData.open(makehuman_dir, cache_path=tmp_path_factory.mktemp("cache") / "targets.npz")


@pytest.fixture(scope="module")
def learned(makehuman):
    bodies = posed_body_set(LEARN_PEOPLE + TEST_PEOPLE, POSES, seed=3, data=makehuman)
    rig = body_rig.load_body_rig(makehuman.source, makehuman.vertex_count)
    template = body_from_macros(makehuman, body_only=False).vertices  # the default body, not a learner
    vertex_count = bodies.vertices.shape[2]
    learn = bodies.vertices[:LEARN_PEOPLE].reshape(-1, vertex_count, 3)
    space = fit_articulated_space(
        learn, bodies.parents, bodies.weights, np.repeat(bodies.joints_rest[:LEARN_PEOPLE], POSES, 0),
        np.repeat(np.arange(LEARN_PEOPLE), POSES), k=K, rest_template=template[:vertex_count],
        template_joints=rig.heads(template), tails=np.repeat(bodies.tails_rest[:LEARN_PEOPLE], POSES, 0),
        joint_names=bodies.joint_names)
    test = bodies.vertices[LEARN_PEOPLE:].reshape(-1, vertex_count, 3)
    fits = [space.fit(mesh) for mesh in test]
    return bodies, space, learn, test, fits


def test_posed_body_set_is_skinned_by_the_makehuman_rig(learned):
    bodies, *_ = learned
    assert bodies.vertices.shape == (LEARN_PEOPLE + TEST_PEOPLE, POSES, 13380, 3)
    assert len(bodies.joint_names) == 28 and bodies.parents[0] == -1
    assert np.allclose(bodies.weights.sum(axis=1), 1.0, atol=1e-5)
    # posing is reproducible from the stored rotations, and poses really move the body
    again, joints = body_rig.pose_vertices(bodies.rest_vertices[0], bodies.joints_rest[0], bodies.rotations[0],
                                           bodies.parents, bodies.weights)
    assert np.abs(again - bodies.vertices[0]).max() < 1e-4
    assert np.abs(joints - bodies.joints_posed[0]).max() < 1e-6
    moved = np.linalg.norm(bodies.vertices[0] - bodies.rest_vertices[0][None], axis=2).mean(axis=1)
    assert moved.min() > 0.03, moved
    heights = bodies.rest_vertices[:, :, 2].max(axis=1) - bodies.rest_vertices[:, :, 2].min(axis=1)
    assert heights.min() > 1.2 and heights.max() < 2.2 and heights.std() > 0.03


def test_rig_joints_match_mpfb2_default_positions(makehuman):
    """The joints placed on MPFB2's default body land where the rig file says (within 2 mm)."""
    import json

    from shapespace.makehuman import macro_target_weights, obj_to_blender, read_makehuman_file

    rig = body_rig.load_body_rig(makehuman.source, makehuman.vertex_count)
    default_body = obj_to_blender(makehuman.blend(macro_target_weights(0.5, 0.5, 0.5, 0.5)))
    bones = json.loads(read_makehuman_file(makehuman.source, body_rig.RIG_FILE))
    expected = np.array([bones[name]["head"]["default_position"] for name in rig.bone_names])
    assert np.linalg.norm(rig.heads(default_body) - expected, axis=1).max() < 0.002


def test_held_out_error_is_at_most_half_of_aligned_pca(learned):
    _, space, learn, test, fits = learned
    articulated = float(np.mean([error for *_, error in fits]))
    aligned, *_ = procrustes_align(learn)
    pca = fit_shape_space(aligned.reshape(len(learn), -1), k=K)
    errors = []
    for mesh in test:
        moved, *_ = align_to(mesh, pca.mean.reshape(-1, 3))
        back = pca.reconstruct(pca.project(moved.reshape(1, -1))).reshape(-1, 3)
        errors.append(np.linalg.norm(back - moved, axis=1).mean())
    plain = float(np.mean(errors))
    print(f"held-out mean vertex error at k={K}: articulated {100 * articulated:.2f} cm, "
          f"aligned PCA {100 * plain:.2f} cm ({len(test)} meshes of {TEST_PEOPLE} unseen people)")
    assert space.k == K
    assert articulated <= 0.5 * plain
    assert articulated < 0.005  # measured 0.2-0.25 cm


def _limb_turns(space, coefficients, rotations, translation, edited) -> np.ndarray:
    """(J-1,) degrees each posed joint-to-joint direction turns when the shape moves from `coefficients`
    to `edited` with the rotations re-aimed by keep_pose."""
    before = space.posed_joints(coefficients, rotations, translation)
    after = space.posed_joints(edited, space.keep_pose(rotations, coefficients, edited), translation)
    limbs_before = before[1:] - before[space.parents[1:]]
    limbs_after = after[1:] - after[space.parents[1:]]
    cos = np.sum(limbs_before * limbs_after, axis=1) / (
        np.linalg.norm(limbs_before, axis=1) * np.linalg.norm(limbs_after, axis=1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def test_height_edit_keeps_the_pose(learned):
    """+10 cm along the height direction, rotations re-aimed by keep_pose so that limbs keep their
    posed directions (without it the neck and head turn up to 14°: rest bone directions change with
    height)."""
    _, space, _, _, fits = learned
    direction = space.measured_direction(rest_height)
    worst_turn, changes = 0.0, []
    for coefficients, rotations, translation, _ in fits[::POSES // 2]:  # two poses of each unseen person
        edited = coefficients + 0.10 * direction
        changes.append(rest_height(space.rest(edited)) - rest_height(space.rest(coefficients)))
        worst_turn = max(worst_turn, float(_limb_turns(space, coefficients, rotations, translation, edited).max()))
    print(f"+10 cm height edits: rest height changed by {np.round(100 * np.array(changes), 2)} cm; "
          f"largest limb turn {worst_turn:.2f}°")
    assert np.all(np.abs(np.array(changes) - 0.10) <= 0.005)
    assert worst_turn <= 1.0


def test_any_shape_edit_keeps_the_bones_of_a_branching_joint(learned):
    """spine01 holds the neck and both clavicles, the root the spine and both hips: one rotation of such
    a joint cannot re-aim several children whose angles to each other change with the shape, so the
    joint regression keeps the directions of those bones (fixed_branch_directions) and only their
    lengths follow the shape. Every component pushed 3 standard deviations then turns no limb, where
    the free regression turned the neck and clavicles (0.38° on this space for +10 cm of height, 2.2°
    on a 4-person space; measured here up to 0.00°)."""
    bodies, space, _, _, fits = learned
    names = list(bodies.joint_names)
    children = np.flatnonzero(np.isin(space.parents, [names.index("root"), names.index("spine01")]))
    assert len(children) == 6  # spine05, both pelvis bones, neck01, both clavicles
    coefficients, rotations, translation, _ = fits[0]
    worst = np.zeros(len(names) - 1)
    rest_turn = 0.0
    for component in range(space.k):
        for sign in (-3.0, 3.0):
            edited = coefficients.copy()
            edited[component] += sign * space.standard_deviations[component]
            worst = np.maximum(worst, _limb_turns(space, coefficients, rotations, translation, edited))
            joints, mean_joints = space.joints(edited), space.joint_mean
            offsets = joints[children] - joints[space.parents[children]]
            mean_offsets = mean_joints[children] - mean_joints[space.parents[children]]
            cos = np.sum(offsets * mean_offsets, axis=1) / (
                np.linalg.norm(offsets, axis=1) * np.linalg.norm(mean_offsets, axis=1))
            rest_turn = max(rest_turn, float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).max()))
    print(f"±3σ edits of all {space.k} components: largest limb turn {worst.max():.3f}° "
          f"({names[int(np.argmax(worst)) + 1]}), branch bones' rest directions {rest_turn:.4f}°")
    assert rest_turn < 1e-3
    assert worst.max() < 0.05, dict(zip(names[1:], np.round(worst, 3)))


def test_model_arrays_round_trip(learned):
    _, space, _, test, fits = learned
    again = ArticulatedSpace.from_arrays({name: np.array(value) for name, value in space.to_arrays().items()})
    coefficients, rotations, translation, _ = fits[0]
    assert np.allclose(again.pose(coefficients, rotations, translation),
                       space.pose(coefficients, rotations, translation), atol=1e-5)
    assert again.joint_names == space.joint_names
    assert np.allclose(again.tails(coefficients), space.tails(coefficients))


def test_bad_input_names_the_problem(learned):
    bodies, space, learn, *_ = learned
    with pytest.raises(ValueError, match="vertices"):
        space.fit(learn[0][:100])
    broken = learn[0].copy()
    broken[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        space.fit(broken)
    with pytest.raises(ValueError, match="parents"):
        fit_articulated_space(learn[:2], bodies.parents[::-1], bodies.weights, bodies.joints_rest[:2])


def _makehuman_armature(bpy, makehuman, name):
    """(the MakeHuman rig, its bone heads and tails on the base body, an armature object of it built in Blender:
    unconnected bones, as write_armature makes them)."""
    from shapespace.makehuman import obj_to_blender

    rig = body_rig.load_body_rig(makehuman.source, makehuman.vertex_count)
    body = obj_to_blender(makehuman.base_vertices)
    heads, tails = rig.heads(body), rig.tails(body)
    armature = bpy.data.armatures.new(name)
    rig_object = bpy.data.objects.new(name, armature)
    bpy.context.scene.collection.objects.link(rig_object)
    bpy.context.view_layer.objects.active = rig_object
    bpy.ops.object.mode_set(mode="EDIT")
    for j, bone_name in enumerate(rig.bone_names):
        bone = armature.edit_bones.new(bone_name)
        bone.head, bone.tail, bone.roll = heads[j], tails[j], float(rig.rolls[j])
        bone.use_connect = False
        if rig.parents[j] >= 0:
            bone.parent = armature.edit_bones[rig.bone_names[rig.parents[j]]]
    bpy.ops.object.mode_set(mode="OBJECT")
    return rig, heads, tails, rig_object


def test_bone_rest_matrices_match_blender(bpy, makehuman):
    """The rig's bones built in Blender (head, tail, roll) have the rest orientation body_rig computes,
    and a basis rotation set on a pose bone turns it as rotations_from_basis says: what an operator
    needs to write the rig as an armature and pose it like a fitted mesh."""
    rig, heads, tails, rig_object = _makehuman_armature(bpy, makehuman, "rig_check")
    armature = rig_object.data
    blender_rest = np.array([np.array(armature.bones[name].matrix_local)[:3, :3] for name in rig.bone_names])
    ours = body_rig.bone_rest_matrices(heads, tails, rig.rolls)
    assert np.abs(blender_rest - ours).max() < 1e-4
    # a pose-bone basis rotation is the world-aligned rotation B R Bᵀ about the bone's head
    rotations = body_rig.axis_angle_to_matrix(np.random.default_rng(0).normal(size=(rig.joint_count, 3)) * 0.3)
    basis = body_rig.basis_from_rotations(rotations, ours)
    for j, name in enumerate(rig.bone_names):
        pose_bone = rig_object.pose.bones[name]
        pose_bone.rotation_mode = "QUATERNION"
        import mathutils

        pose_bone.rotation_quaternion = mathutils.Matrix(basis[j].tolist()).to_quaternion()
    bpy.context.view_layer.update()
    world, posed_heads = body_rig.pose_transforms(heads, rotations, rig.parents)
    blender_heads = np.array([np.array(rig_object.pose.bones[name].head) for name in rig.bone_names])
    blender_world = np.array([np.array(rig_object.pose.bones[name].matrix)[:3, :3] for name in rig.bone_names])
    assert np.abs(blender_heads - posed_heads).max() < 1e-4
    assert np.abs(blender_world - world @ ours).max() < 1e-4


def test_rest_bones_off_their_joints_are_posed_to_deform_as_the_model(bpy, makehuman):
    """A slider step leaves the rig's rest bones where they were (moving them needs Edit Mode) and
    poses them with locations (body_rig.basis_about_rest): every bone must then deform exactly as
    the model's joint about the new joints, read back from Blender's posed bones."""
    import mathutils

    rig, heads, _, rig_object = _makehuman_armature(bpy, makehuman, "rig_offset")
    armature = rig_object.data
    rest_frames = np.array([np.array(armature.bones[name].matrix_local)[:3, :3] for name in rig.bone_names])
    rng = np.random.default_rng(1)
    joints = heads + rng.normal(scale=0.01, size=heads.shape)  # the shape moved; the rest bones did not
    rotations = body_rig.axis_angle_to_matrix(rng.normal(size=(rig.joint_count, 3)) * 0.3)
    translation = np.array([0.1, -0.2, 0.05])
    basis, locations = body_rig.basis_about_rest(joints, rotations, rig.parents, translation, heads, rest_frames)
    assert np.abs(locations[1:]).max() > 0.005  # the bones off their joints do need locations
    for j, name in enumerate(rig.bone_names):
        pose_bone = rig_object.pose.bones[name]
        pose_bone.rotation_mode = "QUATERNION"
        pose_bone.rotation_quaternion = mathutils.Matrix(basis[j].tolist()).to_quaternion()
        pose_bone.location = locations[j].tolist()
    bpy.context.view_layer.update()
    posed = np.array([np.array(rig_object.pose.bones[name].matrix) for name in rig.bone_names])
    rest = np.array([np.array(armature.bones[name].matrix_local) for name in rig.bone_names])
    shown = posed @ np.linalg.inv(rest)
    world, posed_joints = body_rig.pose_transforms(joints, rotations, rig.parents, translation)
    assert np.abs(shown[:, :3, :3] - world).max() < 1e-4
    carried = np.einsum("jab,jb->ja", shown[:, :3, :3], joints) + shown[:, :3, 3]
    assert np.abs(carried - posed_joints).max() < 1e-4  # each joint lands where the model poses it
