"""The articulated shape space through the operators as a demanding user drives it (issue 17):
bad input — a collection mixing topologies, NaN vertices, bodies all in one pose, a user armature
whose bones are not in its mesh, bodies lying Y-up among Z-up ones, Y-up scan files — and the
projection written in place (the mesh itself rigged, its detail kept). Refusals name the object
and the next step and leave the scene as it was (objects, meshes, armatures, collections, model
entries)."""

import numpy as np
import pytest

from blender_helpers import positions
from test_articulated_operators import _posed_collection, _rigged_tubes, _space_path, _tube


def _census(bpy):
    """What a refused operator must leave as it was."""
    data = bpy.data
    return (len(data.objects), len(data.meshes), len(data.armatures), len(data.collections),
            len(bpy.context.scene.design_space.models))


def _learn_articulated(bpy, components=3):
    return bpy.ops.design_space.learn_shape_space(alignment='ARTICULATED', component_mode='COUNT',
                                                  components=components)


def _write_positions(obj, vertices):
    obj.data.attributes["position"].data.foreach_set("vector", np.ascontiguousarray(vertices, np.float32).ravel())
    obj.data.update()


def test_mixed_topologies_and_nan_vertices_are_refused_by_name(bpy, addon):
    from shapespace.mesh_arrays import MeshArrays

    collection, _ = _posed_collection(bpy, addon, 3, 2, seed=5)
    bpy.context.scene.design_space.training_collection = collection
    vertices, sizes, corners = _tube()
    with addon.operators.mesh_bridge.SceneWriter() as writer:
        odd = writer.mesh_object(MeshArrays("odd tube", vertices.astype(np.float32), sizes, corners), collection)
    before = _census(bpy)
    with pytest.raises(RuntimeError, match="'odd tube' has 492 vertices but 'p0_0' has 13380.*remove the odd ones"):
        _learn_articulated(bpy)
    assert _census(bpy) == before
    collection.objects.unlink(odd)

    body = collection.objects["p1_0"]
    broken = positions(body).copy()
    broken[10] = np.nan
    _write_positions(body, broken)
    before = _census(bpy)
    with pytest.raises(RuntimeError, match="'p1_0' has 1 vertex at a non-finite position.*delete or move"):
        _learn_articulated(bpy)
    assert _census(bpy) == before


def test_bodies_all_in_the_rest_pose_fall_back_to_a_plain_space_and_say_so(bpy, addon, capfd):
    from shapespace.mesh_arrays import MeshArrays
    from shapespace.posed_bodies import posed_body_set

    bodies = posed_body_set(4, 1, seed=3)
    with addon.operators.mesh_bridge.SceneWriter() as writer:
        collection = writer.collection("Standing")
        for person, rest in enumerate(bodies.rest_vertices):
            writer.mesh_object(MeshArrays(f"rest{person}", rest, bodies.face_sizes, bodies.corner_vertices),
                               collection)
    bpy.context.scene.design_space.training_collection = collection
    capfd.readouterr()
    assert _learn_articulated(bpy, components=2) == {'FINISHED'}
    out = capfd.readouterr().out
    assert "the bodies of 'Standing' are all in one pose" in out and "a plain shape space was learned instead" in out, \
        out[-1500:]
    assert "Armature" not in bpy.data.objects["Standing Shape Space"].modifiers
    assert _space_path(bpy, addon).exists()


def test_a_user_armature_whose_bones_are_not_in_its_mesh_is_refused(bpy, addon):
    collection, _ = _rigged_tubes(bpy, addon, 3, 2, seed=2, collection_name="Rigged")
    bpy.context.scene.design_space.training_collection = collection
    rig = collection.objects["rigged0_1"].modifiers["Armature"].object  # not the first mesh's: each is checked
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode='EDIT')
    for bone in rig.data.edit_bones:  # the rig moved aside in Edit Mode: it still deforms the tube, about points
        bone.head.x += 2.0            # 2 m away from it
        bone.tail.x += 2.0
    bpy.ops.object.mode_set(mode='OBJECT')
    before = _census(bpy)
    with pytest.raises(RuntimeError, match=r"Bone '\w+' of 'rig0_1' lies \d\.\d+ m from every vertex of 'rigged0_1'.*"
                                           "the armature does not match the mesh"):
        _learn_articulated(bpy)
    assert _census(bpy) == before

    # the bones put back: learned; a mesh of another topology is refused without calling the tubes bodies
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode='EDIT')
    for bone in rig.data.edit_bones:
        bone.head.x -= 2.0
        bone.tail.x -= 2.0
    bpy.ops.object.mode_set(mode='OBJECT')
    assert _learn_articulated(bpy) == {'FINISHED'}
    from shapespace.mesh_arrays import MeshArrays

    vertices, sizes, corners = _tube(rings=21)
    with addon.operators.mesh_bridge.SceneWriter() as writer:
        short = writer.mesh_object(MeshArrays("short tube", vertices.astype(np.float32), sizes, corners),
                                   bpy.context.scene.collection)
    bpy.context.view_layer.objects.active = short
    before = _census(bpy)
    for target in ('COPY', 'IN_PLACE'):
        with pytest.raises(RuntimeError, match=r"'short tube' has 252 vertices; the articulated space 'Rigged[^']*' "
                                               r"holds meshes of one topology \(492 vertices\)") as refused:
            bpy.ops.design_space.project_shape(target=target)
        assert "MakeHuman" not in str(refused.value)
    assert _census(bpy) == before


def test_bodies_lying_y_up_are_posed_upright_by_the_root_joint(bpy, addon):
    """Two of eight bodies turned 90° about X in their mesh data (a Y-up import): the root joint takes
    the turn, so each keeps its person's shape coordinates and fits as well as the upright ones."""
    collection, _ = _posed_collection(bpy, addon, 4, 2, seed=5)
    y_up = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    for name in ("p0_1", "p2_0"):
        body = collection.objects[name]
        _write_positions(body, positions(body) @ y_up.T)
    bpy.context.scene.design_space.training_collection = collection
    assert _learn_articulated(bpy, components=3) == {'FINISHED'}
    articulated = addon.operators.shape_space.project_shape.articulated_model(_space_path(bpy, addon))[0]
    fits = {}
    for name in ("p0_0", "p0_1", "p1_0", "p2_0", "p2_1"):
        vertices = positions(collection.objects[name]).astype(np.float64)
        coefficients, rotations, translation, _ = articulated.fit(vertices)
        error = np.linalg.norm(articulated.pose(coefficients, rotations, translation) - vertices, axis=1).mean()
        fits[name] = coefficients, error
    between_people = np.linalg.norm(fits["p0_0"][0] - fits["p1_0"][0])
    print("turned vs upright, share of the gap between people:",
          {t: round(float(np.linalg.norm(fits[t][0] - fits[u][0]) / between_people), 3)
           for t, u in (("p0_1", "p0_0"), ("p2_0", "p2_1"))},
          "fit errors (mm):", {n: round(1000 * f[1], 2) for n, f in fits.items()})
    for turned, upright in (("p0_1", "p0_0"), ("p2_0", "p2_1")):
        # measured 0.4% and 4% of the gap (9% in Blender 4.3 with numpy 2): person 2's two upright-or-not
        # poses differ about as much as its fit error (1.3-1.6 mm, upright too) allows on a 3-component space
        assert np.linalg.norm(fits[turned][0] - fits[upright][0]) < 0.15 * between_people, fits
        assert fits[turned][1] < 0.005, fits  # metres: as close as the upright bodies (0.2-1.2 mm measured)


def _write_obj(path, vertices, triangles):
    path.write_text("".join(f"v {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in vertices)
                    + "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in triangles))


def test_a_y_up_scan_imports_standing_with_blenders_own_axes(bpy, addon, tmp_path):
    """import_dataset's Forward/Up read an OBJ as Blender's own OBJ importer does (vertex by vertex),
    so a Y-up scan (tall along the file's Y) stands up along Z; parallel axes are refused."""
    rng = np.random.default_rng(0)
    scan = rng.normal(size=(8, 3)) * [0.2, 1.7, 0.4]  # tall along Y, deep along Z: every axis distinguishable
    folder = tmp_path / "scans"
    folder.mkdir()
    _write_obj(folder / "person.obj", scan, [(0, 1, 2), (3, 4, 5), (0, 6, 7), (1, 3, 7)])
    for forward, up in (("AUTO", "AUTO"), ("X", "Y"), ("Y", "Z"), ("NEGATIVE_X", "NEGATIVE_Z")):
        bpy.ops.wm.read_homefile(use_empty=True)
        assert bpy.ops.design_space.import_dataset(directory=str(folder), collection="Scans", axis_forward=forward,
                                                   axis_up=up) == {'FINISHED'}
        ours = positions(bpy.data.collections["Scans"].all_objects[0]).astype(np.float64)
        bpy.ops.wm.read_homefile(use_empty=True)
        axes = {name: axis for name, axis in (("forward_axis", forward), ("up_axis", up)) if axis != "AUTO"}
        bpy.ops.wm.obj_import(filepath=str(folder / "person.obj"), **axes)
        imported = next(o for o in bpy.data.objects if o.type == 'MESH')
        world = np.array(imported.matrix_world, dtype=np.float64)
        theirs = positions(imported).astype(np.float64) @ world[:3, :3].T + world[:3, 3]
        np.testing.assert_allclose(ours, theirs, atol=1e-5, err_msg=f"{forward}/{up}")
        if (forward, up) == ("AUTO", "AUTO"):
            assert np.ptp(ours, axis=0).argmax() == 2  # the Y-up scan stands along Z
    bpy.ops.wm.read_homefile(use_empty=True)
    before = _census(bpy)
    with pytest.raises(RuntimeError, match="(?i)parallel|same axis|perpendicular"):
        bpy.ops.design_space.import_dataset(directory=str(folder), collection="Scans", axis_forward='Y', axis_up='Y')
    assert _census(bpy) == before


def test_projecting_in_place_rigs_the_mesh_itself_and_keeps_its_detail(bpy, addon, capfd):
    """project_shape(target='IN_PLACE') on an unseen posed body: the mesh gets an armature posed like
    it and shows exactly what it showed (its own detail, not the space's version), its error is the
    space's (as the copy's), and a height slider changes its rest height with the pose kept."""
    from learning.articulated_space import rest_height

    collection, _ = _posed_collection(bpy, addon, 4, 2, seed=5)
    unseen = [collection.objects[f"p3_{pose}"] for pose in range(2)]
    for body in unseen:  # the fourth person stays outside the training collection
        collection.objects.unlink(body)
        bpy.context.scene.collection.objects.link(body)
    bpy.context.scene.design_space.training_collection = collection
    capfd.readouterr()
    assert _learn_articulated(bpy, components=3) == {'FINISHED'}
    out = capfd.readouterr().out
    assert "'Posed' shows 3 people (their 'person' property), so components beyond PC2" in out, out[-1500:]
    body = unseen[1]
    before_positions = positions(body).astype(np.float64)
    bpy.context.view_layer.objects.active = body
    assert bpy.ops.design_space.project_shape(target='COPY') == {'FINISHED'}
    copy_error = float(bpy.context.active_object["design_space_projection_error"])
    bridge = addon.operators.mesh_bridge
    copy_shown = bridge.read_evaluated_positions(bpy.context.active_object).astype(np.float64)

    holder = bpy.data.objects.new("Holder", None)  # the body follows a parent, as in a user's scene
    bpy.context.scene.collection.objects.link(holder)
    holder.location = (1.0, 0.0, 0.0)
    bpy.context.view_layer.update()
    body.parent = holder
    body.matrix_parent_inverse = holder.matrix_world.inverted()
    bpy.context.view_layer.update()
    world_before = np.array(body.matrix_world)
    census = _census(bpy)
    bpy.context.view_layer.objects.active = body
    capfd.readouterr()
    assert bpy.ops.design_space.project_shape(target='IN_PLACE') == {'FINISHED'}
    rig = body.modifiers["Armature"].object
    bpy.context.view_layer.update()
    assert rig.parent == holder and np.allclose(np.array(body.matrix_world), world_before, atol=1e-6)
    holder.location = (2.0, 0.0, 0.0)  # it still follows its old parent, through the armature
    bpy.context.view_layer.update()
    assert np.array(body.matrix_world)[0, 3] == pytest.approx(world_before[0, 3] + 1.0)
    holder.location = (1.0, 0.0, 0.0)
    bpy.context.view_layer.update()
    out = capfd.readouterr().out
    # 3 people give 2 components between people: PC3 is what unposing leaves, and the unseen person
    # lands at about 19σ along it (measured) — said, since the slider's first move would jump to ±3σ
    sliders = body.design_space_edit.sliders
    assert abs(sliders["PC3"].value) > 3.0 and max(abs(sliders[n].value) for n in ("PC1", "PC2")) < 3.0
    assert "1 slider (PC3) of 'p3_1' lies outside the training range ('PC3' is" in out, out[-1500:]
    assert bpy.context.active_object == body
    assert _census(bpy) == (census[0] + 1, census[1], census[2] + 1) + census[3:]  # only its armature is new
    rig = body.modifiers["Armature"].object
    assert rig is not None and len(rig.data.bones) == len(body.vertex_groups)
    shown = bridge.read_evaluated_positions(body).astype(np.float64)
    kept = np.linalg.norm(shown - before_positions, axis=1)
    model_gap = np.linalg.norm(copy_shown - before_positions, axis=1).mean()
    assert kept.max() < 2e-3 and model_gap > 5 * kept.mean(), (kept.max(), kept.mean(), model_gap)
    error = float(body["design_space_projection_error"])
    print(f"in place: the rigged mesh shows itself within {1000 * kept.max():.2f} mm (the space's version is "
          f"{1000 * model_gap:.1f} mm away on average); error {1000 * error:.2f} mm, the copy's "
          f"{1000 * copy_error:.2f} mm")
    assert error == pytest.approx(copy_error, rel=0.1) and error > 1e-3, (error, copy_error)

    height = rest_height(positions(body))
    assert bpy.ops.design_space.edit_attributes(attribute="height_m", value=0.05, relative=True) == {'FINISHED'}
    assert abs(rest_height(positions(body)) - height - 0.05) < 0.005
    # projected again into a copy: fitted as it is shown (posed), not as its rest mesh
    shown = bridge.read_evaluated_positions(body).astype(np.float64)
    assert bpy.ops.design_space.project_shape(target='COPY') == {'FINISHED'}
    again = bridge.read_evaluated_positions(bpy.context.active_object).astype(np.float64)
    assert np.linalg.norm(again - shown, axis=1).mean() < 0.02
    bpy.context.view_layer.objects.active = body
    # people generated in its pose take the pose its rig shows
    assert bpy.ops.design_space.generate_shapes(count=1, seed=2, pose='SELECTED', collection="Like it") == {'FINISHED'}
    person = next(o for o in bpy.data.collections["Like it"].objects if o.type == 'MESH')
    np.testing.assert_allclose(np.array(list(person["design_space_pose_rotations"])),
                               np.array(list(body["design_space_pose_rotations"])), atol=1e-4)
    bpy.context.view_layer.objects.active = body
    # a mesh that already has the rig is refused by name, and nothing changes
    census = _census(bpy)
    with pytest.raises(RuntimeError, match=f"'{body.name}' is already deformed by '{rig.name}'; edit a copy"):
        bpy.ops.design_space.project_shape(target='IN_PLACE')
    assert _census(bpy) == census
