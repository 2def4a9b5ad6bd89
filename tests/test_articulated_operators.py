"""The articulated shape space end to end in Blender (issue 17): a height slider on a rigged
projection keeps the pose, the written rig deforms as the model's own skinning when a bone is
turned in Blender, Generate makes rigged people in a chosen pose, and the skeleton comes from the
collection itself (its own armature, or learned) when the meshes are not MakeHuman bodies."""

import time

import numpy as np
import pytest

from blender_helpers import positions

LEARN_PEOPLE, POSES = 4, 2


def _posed_collection(bpy, addon, people, poses, seed, name="Posed", properties=True):
    """people × poses posed MakeHuman bodies in a new collection (person as a custom property);
    returns (collection, the PosedBodySet)."""
    from shapespace.mesh_arrays import MeshArrays
    from shapespace.posed_bodies import posed_body_set

    bodies = posed_body_set(people, poses, seed=seed)
    with addon.operators.mesh_bridge.SceneWriter() as writer:
        collection = writer.collection(name)
        for person in range(people):
            for pose in range(poses):
                writer.mesh_object(MeshArrays(f"p{person}_{pose}", bodies.vertices[person, pose], bodies.face_sizes,
                                              bodies.corner_vertices), collection,
                                   properties={"person": person} if properties else None)
    return collection, bodies


def _read(prop):
    """A copy of an array custom property (np.asarray would be a view that later writes change)."""
    return np.array(list(prop), dtype=np.float64)


def _space_path(bpy, addon):
    entry = next(m for m in bpy.context.scene.design_space.models if m.kind == "shape_space")
    return addon.operators.model_store.absolute_path(entry.filepath)


def _posed_joints(bridge, rig, bone_names, rest_joints):
    """Where Blender's posed bones carry the rest joints: each bone's deformation (read from the
    evaluated armature) applied to its joint."""
    deformations = bridge.read_bone_deformations(rig, bone_names)
    return np.einsum("jab,jb->ja", deformations[:, :3, :3], rest_joints) + deformations[:, :3, 3]


def _limb_turns_degrees(before, after, parents):
    """Per joint j > 0: the angle between its limb (joint − parent joint) before and after."""
    limbs_before, limbs_after = before[1:] - before[parents[1:]], after[1:] - after[parents[1:]]
    cosine = np.sum(limbs_before * limbs_after, axis=1) / (np.linalg.norm(limbs_before, axis=1)
                                                           * np.linalg.norm(limbs_after, axis=1))
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def _largest_turn_degrees(before, after, parents):
    return float(_limb_turns_degrees(before, after, parents).max())


def _turned_by_hand(bpy, bridge, rig, bone_names, bone, axis, degrees, articulated, rest, joints, translation):
    """Turn pose bone `bone` of `rig` by `degrees` about `axis` in Blender, as a user does; returns (every
    bone's rotation read back, the model's own LBS of the rest mesh `rest` about `joints` with them)."""
    from mathutils import Quaternion

    from shapespace import body_rig

    pose_bone = rig.pose.bones[bone]
    pose_bone.rotation_quaternion = Quaternion(axis, np.radians(degrees)) @ pose_bone.rotation_quaternion
    bpy.context.view_layer.update()
    _, rest_frames = bridge.read_bone_rest(rig, bone_names)
    basis = np.array([np.array(rig.pose.bones[n].rotation_quaternion.to_matrix()) for n in bone_names])
    rotations = body_rig.rotations_from_basis(basis, rest_frames)
    expected, _ = body_rig.pose_vertices(rest, joints, rotations, articulated.parents, articulated.weights,
                                         translation)
    return rotations, expected


def test_a_turned_bone_deforms_as_the_model_and_a_height_slider_keeps_the_pose(bpy, addon):
    from learning.articulated_space import rest_height

    collection, _ = _posed_collection(bpy, addon, LEARN_PEOPLE + 1, POSES, seed=5)
    unseen = collection.objects[f"p{LEARN_PEOPLE}_1"]
    for pose in range(POSES):  # the unseen person stays outside the training collection
        body = collection.objects[f"p{LEARN_PEOPLE}_{pose}"]
        collection.objects.unlink(body)
        bpy.context.scene.collection.objects.link(body)
    bpy.context.scene.design_space.training_collection = collection
    assert bpy.ops.design_space.learn_shape_space(alignment='ARTICULATED', component_mode='COUNT',
                                                  components=6) == {'FINISHED'}
    bpy.context.view_layer.objects.active = unseen
    assert bpy.ops.design_space.project_shape(target='COPY') == {'FINISHED'}
    copy = bpy.context.active_object
    assert "height_m" in copy.design_space_edit.sliders
    bridge = addon.operators.mesh_bridge
    articulated, _, _, bone_names = addon.operators.shape_space.project_shape.articulated_model(_space_path(bpy, addon))
    parents = articulated.parents
    rig = copy.modifiers["Armature"].object
    coefficients = _read(copy["shape_space_coefficients"])
    fitted = _read(copy["design_space_pose_rotations"]).reshape(-1, 3, 3)
    translation = _read(copy["design_space_pose_translation"])

    # a bone turned by hand in Blender: the mesh follows as the model's own LBS of the written rest body
    arm = next(n for n in bone_names if n.startswith("upperarm"))
    turned, expected = _turned_by_hand(bpy, bridge, rig, bone_names, arm, (0.0, 0.0, 1.0), 50.0, articulated,
                                       positions(copy), articulated.joints(coefficients), translation)
    shown = bridge.read_evaluated_positions(copy)
    assert np.linalg.norm(expected - articulated.pose(coefficients, fitted, translation), axis=1).max() > 0.1
    error = np.linalg.norm(shown - expected, axis=1)
    assert error.max() < 2e-3, error.max()  # weights are written to 1/1024

    # +10 cm through the real edit path (Edit Attribute sets the slider; its update moves the body)
    height_before = rest_height(positions(copy))  # the rest body as written (shape + this pose's correctives)
    joints_before = _posed_joints(bridge, rig, bone_names, articulated.joints(coefficients))
    started = time.perf_counter()
    assert bpy.ops.design_space.edit_attributes(attribute="height_m", value=0.10, relative=True) == {'FINISHED'}
    print(f"one height edit of a rigged 13,380-vertex body: {1000 * (time.perf_counter() - started):.0f} ms")
    edited = _read(copy["shape_space_coefficients"])
    kept = _read(copy["design_space_pose_rotations"]).reshape(-1, 3, 3)
    change = rest_height(positions(copy)) - height_before
    turns = _limb_turns_degrees(joints_before, _posed_joints(bridge, rig, bone_names, articulated.joints(edited)),
                                parents)
    siblings = np.bincount(parents[1:], minlength=len(parents))[parents[1:]] > 1  # a parent with several limbs
    held = _limb_turns_degrees(joints_before, articulated.posed_joints(edited, turned, translation), parents)
    model = _limb_turns_degrees(joints_before, articulated.posed_joints(
        edited, articulated.keep_pose(turned, coefficients, edited), translation), parents)
    print(f"+10 cm height edit on an unseen posed body: rest height +{100 * change:.2f} cm; limbs turn at most "
          f"{turns[~siblings].max():.2f}° (one limb per parent joint), {turns.max():.2f}° (all; rotations held: "
          f"{held.max():.2f}°; the model's keep_pose: {model.max():.2f}°), read from Blender's posed bones")
    assert abs(change - 0.10) <= 0.005, change
    assert turns[~siblings].max() <= 1.0, turns
    # the spine's three limbs (neck, both clavicles) keep their directions too: bones leaving a branching
    # joint keep their mean direction under shape edits (2.24° on this 4-person space before; now 0.00°)
    assert turns.max() <= 1.0 and held.max() > 3 * turns.max(), (turns, held)
    assert np.abs(turns - model).max() < 0.15  # Blender shows the model's re-aimed pose (float32 bones)
    # the hand-turned arm stayed turned, and the mesh is the model's pose of the new shape
    arm_index = bone_names.index(arm)
    assert np.abs(kept[arm_index] - turned[arm_index]).max() < 0.15 < 0.3 < np.abs(kept - fitted).max()
    shown = bridge.read_evaluated_positions(copy)
    error = np.linalg.norm(shown - articulated.pose(edited, kept, translation), axis=1)
    assert error.max() < 2e-3, error.max()

    # after the edit a bone turned by hand still pivots on the model's joint (the rest bones moved)
    forearm = next(n for n in bone_names if n.startswith("lowerarm"))
    bent, expected = _turned_by_hand(bpy, bridge, rig, bone_names, forearm, (1.0, 0.0, 0.0), 40.0, articulated,
                                     positions(copy), articulated.joints(edited), translation)
    assert np.linalg.norm(expected - articulated.pose(edited, kept, translation), axis=1).max() > 0.05
    error = np.linalg.norm(bridge.read_evaluated_positions(copy) - expected, axis=1)
    assert error.max() < 2e-3, error.max()


def _learn(bpy, addon, people=LEARN_PEOPLE, poses=POSES, seed=5, components=4):
    collection, bodies = _posed_collection(bpy, addon, people, poses, seed=seed)
    bpy.context.scene.design_space.training_collection = collection
    assert bpy.ops.design_space.learn_shape_space(alignment='ARTICULATED', component_mode='COUNT',
                                                  components=components) == {'FINISHED'}
    articulated, _, _, bone_names = addon.operators.shape_space.project_shape.articulated_model(_space_path(bpy, addon))
    return collection, bodies, articulated, bone_names


def test_the_mean_bodys_rig_follows_its_own_shape_keys(bpy, addon):
    """Dragging a component's key in Blender's Shape Keys panel moves the mean body's skeleton too."""
    from shapespace import body_rig

    _, _, articulated, bone_names = _learn(bpy, addon)
    bridge = addon.operators.mesh_bridge
    mean = next(o for o in bpy.data.objects if o.type == 'MESH' and o.get("design_space_kind") == "shape_space"
                and "Armature" in o.modifiers)
    rig = mean.modifiers["Armature"].object
    mean.data.shape_keys.key_blocks[1].value = 0.8  # as the panel's slider does
    bpy.context.view_layer.update()
    coefficients = np.zeros(articulated.k)
    coefficients[0] = 0.8 * addon.operators.shape_space.learn_shape_space.KEY_SIGMAS * articulated.standard_deviations[0]
    np.testing.assert_allclose(_read(mean["design_space_rig_coefficients"]), coefficients, atol=1e-6)
    posed_now = bridge.read_evaluated_positions(mean)  # before the rest bones move: already the model's body
    assert np.linalg.norm(posed_now - articulated.rest(coefficients), axis=1).max() < 2e-3
    addon.operators.shape_space.shape_editing.settle_rest_bones()  # what the timer runs once the drag pauses
    arm = next(n for n in bone_names if n.startswith("upperarm"))
    turned, expected = _turned_by_hand(bpy, bridge, rig, bone_names, arm, (0.0, 0.0, 1.0), 50.0, articulated,
                                       articulated.rest(coefficients), articulated.joints(coefficients), np.zeros(3))
    about_the_mean, _ = body_rig.pose_vertices(articulated.rest(coefficients), articulated.joints(), turned,
                                               articulated.parents, articulated.weights, np.zeros(3))
    assert np.linalg.norm(expected - about_the_mean, axis=1).max() > 0.005  # the joints did move
    error = np.linalg.norm(bridge.read_evaluated_positions(mean) - expected, axis=1)
    assert error.max() < 2e-3, error.max()


def _people_made(bpy, title):
    return [o for o in bpy.data.collections[title].objects if o.type == 'MESH']


def test_generate_makes_rigged_people_in_the_chosen_pose(bpy, addon, capfd):
    from learning.shape_space import load_articulated_arrays

    bridge = addon.operators.mesh_bridge
    collection, _, articulated, bone_names = _learn(bpy, addon)
    training = load_articulated_arrays(_space_path(bpy, addon))[0]["training_rotations"]
    assert training.shape == (LEARN_PEOPLE * POSES, len(bone_names), 3, 3)

    def check_person(obj):
        """Rigged, its coefficients and pose stored, and Blender shows the model's pose of it."""
        rig = obj.modifiers["Armature"].object
        assert len(rig.data.bones) == len(bone_names) and len(obj.vertex_groups) == len(bone_names)
        c = _read(obj["shape_space_coefficients"])
        rotations = _read(obj["design_space_pose_rotations"]).reshape(-1, 3, 3)
        assert len(c) == articulated.k and "height_m" in obj.design_space_edit.sliders
        shown = bridge.read_evaluated_positions(obj)
        expected = articulated.pose(c, rotations)
        assert np.linalg.norm(shown - expected, axis=1).max() < 2e-3
        return c, rotations

    assert bpy.ops.design_space.generate_shapes(count=2, seed=3, pose='REST', collection="Rest people") == {'FINISHED'}
    rest_people = [check_person(o) for o in _people_made(bpy, "Rest people")]
    assert len(rest_people) == 2 and np.abs(rest_people[0][0] - rest_people[1][0]).max() > 0.1  # two people
    assert all(np.allclose(r, np.eye(3)) for _, r in rest_people)

    assert bpy.ops.design_space.generate_shapes(count=3, seed=1, pose='SAMPLED', collection="Sampled") == {'FINISHED'}
    for c, rotations in (check_person(o) for o in _people_made(bpy, "Sampled")):
        gaps = np.abs(training - rotations[None]).reshape(len(training), -1).max(axis=1)
        assert gaps.min() < 1e-6  # one of the collection's own fitted poses
        limbs = articulated.posed_joints(c, rotations) - articulated.joints(c)
        assert np.linalg.norm(limbs - limbs[:1], axis=1).max() > 0.05  # really posed, not the rest pose

    # the selected mesh's pose: a training body (fitted), then a generated rigged person (read off its rig)
    body = collection.objects["p1_1"]
    bpy.context.view_layer.objects.active = body
    assert bpy.ops.design_space.generate_shapes(count=2, seed=4, pose='SELECTED', collection="Like p1_1") == {'FINISHED'}
    fitted = articulated.fit(positions(body).astype(np.float64))[1]
    for _, rotations in (check_person(o) for o in _people_made(bpy, "Like p1_1")):
        np.testing.assert_allclose(rotations, fitted, atol=1e-6)
    source = _people_made(bpy, "Sampled")[0]
    bpy.context.view_layer.objects.active = source
    assert bpy.ops.design_space.generate_shapes(count=1, seed=5, pose='SELECTED', collection="Like") == {'FINISHED'}
    _, rotations = check_person(_people_made(bpy, "Like")[0])
    np.testing.assert_allclose(rotations, _read(source["design_space_pose_rotations"]).reshape(-1, 3, 3), atol=1e-4)

    # a mesh without the space's pose is refused by name, and nothing is made
    from shapespace.mesh_arrays import MeshArrays
    with bridge.SceneWriter() as writer:
        other = writer.mesh_object(MeshArrays("not a body", np.eye(3, dtype=np.float32), np.array([3], np.int32),
                                              np.arange(3, dtype=np.int32)), bpy.context.scene.collection)
    bpy.context.view_layer.objects.active = other
    before = set(bpy.data.objects.keys())
    with pytest.raises(RuntimeError, match="'not a body' has 3 vertices and no rig of this space"):
        bpy.ops.design_space.generate_shapes(count=2, pose='SELECTED', collection="Refused")
    assert set(bpy.data.objects.keys()) == before and "Refused" not in bpy.data.collections


# --- a skeleton from the collection itself (not MakeHuman bodies) ---------------------------------

def _tube(rings=41, around=12, height=3.0, radius=0.2):
    """A closed-sided tube standing on z = 0: `rings` rings of `around` vertices, quads between them."""
    z = np.linspace(0.0, height, rings)
    angle = np.linspace(0.0, 2 * np.pi, around, endpoint=False)
    vertices = np.stack([np.tile(radius * np.cos(angle), rings), np.tile(radius * np.sin(angle), rings),
                         np.repeat(z, around)], axis=1)
    ring, step = np.meshgrid(np.arange(rings - 1), np.arange(around), indexing="ij")
    a = ring * around + step
    b = ring * around + (step + 1) % around
    corners = np.stack([a, b, b + around, a + around], axis=-1).reshape(-1)
    return vertices, np.full(len(corners) // 4, 4, np.int32), corners.astype(np.int32)


def _posed_tubes(people, poses, seed):
    """A three-part articulated figure (tubes of varied height and girth, bent at two joints by known
    rotations): (meshes (people, poses, V, 3), face sizes, corners)."""
    from shapespace import body_rig

    rng = np.random.default_rng(seed)
    parents = np.array([-1, 0, 1])
    meshes = []
    for _ in range(people):
        height, radius = rng.uniform(2.5, 3.5), rng.uniform(0.15, 0.3)
        vertices, sizes, corners = _tube(height=height, radius=radius)
        heads = np.array([[0, 0, 0], [0, 0, height / 3], [0, 0, 2 * height / 3]])
        z = vertices[:, 2:3]
        weights = np.concatenate([z < height / 3, (z >= height / 3) & (z < 2 * height / 3), z >= 2 * height / 3],
                                 axis=1).astype(np.float64)
        own = []
        for _ in range(poses):
            bends = [body_rig.axis_angle_to_matrix(np.radians([rng.uniform(-60, 60), rng.uniform(-60, 60), 0.0]))
                     for _ in range(2)]
            rotations = np.stack([body_rig.axis_angle_to_matrix(np.radians(rng.uniform(-10, 10, 3)))] + bends)
            own.append(body_rig.pose_vertices(vertices, heads, rotations, parents, weights)[0])
        meshes.append(own)
    return np.asarray(meshes, dtype=np.float32), sizes, corners


def test_a_skeleton_is_learned_from_a_collection_that_is_not_makehuman(bpy, addon, capfd):
    from shapespace.correspondence import align_to, procrustes_align
    from learning.shape_space import fit_shape_space
    from shapespace.mesh_arrays import MeshArrays

    meshes, sizes, corners = _posed_tubes(5, 4, seed=0)
    bridge = addon.operators.mesh_bridge
    with bridge.SceneWriter() as writer:
        collection = writer.collection("Tubes")
        for person in range(4):
            for pose in range(4):
                writer.mesh_object(MeshArrays(f"tube{person}_{pose}", meshes[person, pose], sizes, corners),
                                   collection, properties={"person": f"t{person}"})
        unseen = writer.mesh_object(MeshArrays("unseen tube", meshes[4, 0], sizes, corners),
                                    bpy.context.scene.collection)
    bpy.context.scene.design_space.training_collection = collection
    # the learning job (in the worker process): progress as it goes, Cancel stops it, its folder goes
    prepare = addon.operators.shape_space.learn_shape_space.prepare_articulated_space
    job, fractions = prepare(bpy.context, collection, 3, None), []
    assert job.work(lambda progress: fractions.append(progress.fraction), lambda: False) is not None
    assert len(fractions) >= 16 and fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    job.discard("done")
    stopped = prepare(bpy.context, collection, 3, None)
    assert stopped.work(lambda progress: None, lambda: True) is None
    stopped.discard("cancelled")
    assert not job.workdir.exists() and not stopped.workdir.exists()
    capfd.readouterr()
    assert bpy.ops.design_space.learn_shape_space(alignment='ARTICULATED', component_mode='COUNT',
                                                  components=3) == {'FINISHED'}
    out = capfd.readouterr().out
    assert "alignment Articulated (skeleton learned from the collection: 3 bones" in out, out[-2000:]
    space_object = bpy.data.objects["Tubes Shape Space"]
    assert len(space_object.modifiers["Armature"].object.data.bones) == 3 and len(space_object.vertex_groups) == 3
    bpy.context.view_layer.objects.active = unseen
    assert bpy.ops.design_space.project_shape(target='COPY') == {'FINISHED'}
    copy = bpy.context.active_object
    error = float(copy["design_space_projection_error"])
    # plain rigid-aligned PCA of the same 16 meshes, same number of components, on the same unseen tube
    learn = meshes[:4].reshape(16, -1, 3).astype(np.float64)
    aligned, *_ = procrustes_align(learn)
    pca = fit_shape_space(aligned.reshape(16, -1).astype(np.float32), k=3)
    moved, *_ = align_to(meshes[4, 0].astype(np.float64), pca.mean.reshape(-1, 3))
    back = pca.reconstruct(pca.project(moved.reshape(1, -1).astype(np.float32))).reshape(-1, 3)
    plain = float(np.linalg.norm(back - moved, axis=1).mean())
    print(f"unseen tube: articulated with a learned skeleton {100 * error:.2f} cm, rigid PCA {100 * plain:.2f} cm")
    assert error < 0.5 * plain and error < 0.03, (error, plain)


def test_shapes_in_one_pose_fall_back_to_a_plain_space_and_say_so(bpy, addon, capfd):
    from blender_helpers import demo_collection

    demo_collection(bpy, "VASE", "Vases", 6)
    capfd.readouterr()
    assert bpy.ops.design_space.learn_shape_space(alignment='ARTICULATED', component_mode='COUNT',
                                                  components=2) == {'FINISHED'}
    out = capfd.readouterr().out
    assert "'Vases' do not move as rigid parts" in out and "all in one pose" in out and "a plain shape space was learned instead" in out, out[-1500:]
    assert _space_path(bpy, addon).exists()
    assert "Armature" not in bpy.data.objects["Vases Shape Space"].modifiers


def _rigged_tubes(bpy, addon, people, poses, seed, collection_name):
    """Rest tubes, each deformed by its own armature (same three bone names) posed by known rotations,
    as a user's rigged characters are: the mesh data is the rest pose, the evaluated mesh the pose."""
    from shapespace import body_rig
    from shapespace.mesh_arrays import MeshArrays

    bridge = addon.operators.mesh_bridge
    rng = np.random.default_rng(seed)
    names, parents, rolls = ("root", "middle", "top"), np.array([-1, 0, 1]), np.array([0.3, -0.5, 1.0])
    with bridge.SceneWriter() as writer:
        collection = writer.collection(collection_name)
    made = []
    for person in range(people):
        height, radius = rng.uniform(2.5, 3.5), rng.uniform(0.15, 0.3)
        vertices, sizes, corners = _tube(height=height, radius=radius)
        heads = np.array([[0, 0, 0], [0, 0, height / 3], [0, 0, 2 * height / 3]])
        tails = np.array([[0, 0, height / 3], [0, 0, 2 * height / 3], [0, 0, height]])
        z = vertices[:, 2:3]
        weights = np.exp(-((z - (heads[:, 2] + tails[:, 2])[None] / 2) / (height / 7)) ** 2)
        weights /= weights.sum(axis=1, keepdims=True)
        for pose in range(poses):
            with bridge.SceneWriter() as writer:
                obj = writer.mesh_object(MeshArrays(f"rigged{person}_{pose}", vertices, sizes, corners), collection,
                                         properties={"person": person})
            armature = bridge.write_armature(f"rig{person}_{pose}", heads, tails, rolls, parents, names,
                                             bpy.context.scene.collection)
            bridge.write_vertex_weights(obj, weights, names)
            bridge.add_armature_modifier(obj, armature)
            rotations = np.stack([body_rig.axis_angle_to_matrix(np.radians(rng.uniform(-10, 10, 3)))] + [
                body_rig.axis_angle_to_matrix(np.radians([rng.uniform(-60, 60), rng.uniform(-60, 60), 0.0]))
                for _ in range(2)])
            frames = body_rig.bone_rest_matrices(heads, tails, rolls)
            bridge.pose_armature(armature, body_rig.basis_from_rotations(rotations, frames), names)
            made.append((obj, body_rig.pose_vertices(vertices, heads, rotations, parents, weights)[0]))
    return collection, made


def test_the_collections_own_armature_is_used_and_a_mismatch_refused(bpy, addon, capfd):
    from shapespace.mesh_arrays import MeshArrays

    bridge = addon.operators.mesh_bridge
    collection, made = _rigged_tubes(bpy, addon, 5, 4, seed=2, collection_name="Rigged")
    np.testing.assert_allclose(bridge.read_evaluated_positions(made[1][0]), made[1][1], atol=2e-3)
    held_out = [obj for obj, _ in made[16:]]
    unseen_vertices = made[16][1]
    for obj in held_out:  # the fifth person stays out
        collection.objects.unlink(obj)
        bpy.context.scene.collection.objects.link(obj)
    with bridge.SceneWriter() as writer:
        sizes, corners = bridge.read_topology(made[0][0].data)
        unseen = writer.mesh_object(MeshArrays("unseen", unseen_vertices.astype(np.float32), sizes, corners),
                                    bpy.context.scene.collection)
    bpy.context.scene.design_space.training_collection = collection

    # a mesh whose vertex groups do not name the armature's bones: refused by name, nothing made
    first = collection.objects["rigged0_0"]
    first.vertex_groups["middle"].name = "spine"
    before = (set(bpy.data.objects.keys()), len(bpy.context.scene.design_space.models))
    with pytest.raises(RuntimeError, match="'rigged0_0' has no vertex group for bone 'middle' of 'rig0_0'"):
        bpy.ops.design_space.learn_shape_space(alignment='ARTICULATED', component_mode='COUNT', components=3)
    assert (set(bpy.data.objects.keys()), len(bpy.context.scene.design_space.models)) == before
    first.vertex_groups["spine"].name = "middle"

    capfd.readouterr()
    assert bpy.ops.design_space.learn_shape_space(alignment='ARTICULATED', component_mode='COUNT',
                                                  components=3) == {'FINISHED'}
    out = capfd.readouterr().out
    assert "alignment Articulated (the armature 'rig0_0': 3 bones" in out, out[-1500:]
    bpy.context.view_layer.objects.active = unseen
    assert bpy.ops.design_space.project_shape(target='COPY') == {'FINISHED'}
    copy = bpy.context.active_object
    error = float(copy["design_space_projection_error"])
    print(f"unseen rigged tube: articulated with the user's armature {100 * error:.2f} cm")
    assert error < 0.01, error
    # the written rig keeps the user's bone axes (rolls), and its rest bones sit on the model's joints
    from shapespace import body_rig

    rig = copy.modifiers["Armature"].object
    heads, frames = bridge.read_bone_rest(rig, ("root", "middle", "top"))
    tails = np.array([rig.data.bones[n].tail_local[:] for n in ("root", "middle", "top")])
    np.testing.assert_allclose(body_rig.rolls_from_frames(heads, tails, frames), [0.3, -0.5, 1.0], atol=1e-3)


def test_a_user_armatures_joints_are_regressed_onto_its_bone_heads(addon):
    """The regressor rows that carry a user armature's bone heads with the mesh's shape land exactly on
    the heads of the rest mesh (the old Gaussian centroid of the skin missed off-axis heads by up to
    6 cm in a 0.2 m tube) without extrapolating (Σ|w| ≤ 2), and move with the mesh when it grows."""
    rows_of = addon.operators.shape_space.learn_shape_space._neighbourhood_rows
    vertices, _, _ = _tube(rings=61, around=16, height=3.0, radius=0.2)
    heads = np.array([[0.0, 0.0, 1.0], [0.05, 0.0, 1.5], [0.1, 0.05, 2.0], [0.0, 0.0, 3.0], [0.0, 0.2, 0.5]])
    rows = rows_of(vertices, heads)
    assert np.abs(rows @ vertices - heads).max() < 1e-6
    assert np.abs(rows).sum(axis=1).max() <= 2.0 + 1e-9 and np.allclose(rows.sum(axis=1), 1.0)
    np.testing.assert_allclose(rows @ (1.2 * vertices), 1.2 * heads, atol=1e-6)  # a bigger body, joints alike
