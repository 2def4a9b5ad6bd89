"""Attribute sliders inside Blender: learn_attributes, project_shape, edit_attributes, and the
template-fitted shape space."""

import numpy as np
import pytest
from blender_helpers import positions


@pytest.fixture
def vase_space(bpy):
    bpy.ops.design_space.create_demo_collections(families={'VASE'}, shapes_per_family=16, body_count=0,
                                                 topology='SAME', seed=4)
    collection = bpy.data.collections["Vases"]
    bpy.context.scene.design_space.training_collection = collection
    bpy.ops.design_space.learn_shape_space(component_mode='VARIANCE', variance=0.999)
    bpy.ops.design_space.learn_attributes(attributes="height, max_radius, neck_radius", method='RIDGE')
    return collection


def test_learn_attributes_lists_a_model_and_gives_the_space_sliders(bpy, vase_space):
    settings = bpy.context.scene.design_space
    entry = settings.models[settings.active_model_index]
    assert entry.kind == "shape_attributes" and entry.target == "height, max_radius, neck_radius"
    assert "held-out error" in entry.metrics
    space_object = bpy.data.objects["Vases Shape Space"]
    sliders = space_object.design_space_edit.sliders
    assert [s.name for s in sliders] == ["height", "max_radius", "neck_radius"]
    mean_height = np.mean([o["height"] for o in vase_space.objects])
    assert abs(sliders["height"].value - mean_height) < 0.01
    assert bpy.data.images.get("Design Space Attribute Fit") is not None
    # on the space object the slider drives the component shape keys (kept for export and keyframes)
    sliders["height"].value += 0.1
    keys = space_object.data.shape_keys.key_blocks
    assert any(abs(k.value) > 1e-3 for k in keys[1:])
    evaluated = space_object.evaluated_get(bpy.context.evaluated_depsgraph_get()).data
    z = np.array([v.co.z for v in evaluated.vertices])  # reference read of the evaluated mesh (small)
    assert abs(np.ptp(z) - (mean_height + 0.1)) < 0.01


def test_edit_a_copy_moves_one_attribute_and_leaves_the_source(bpy, vase_space):
    source = vase_space.objects[3]
    before = positions(source).copy()
    bpy.context.view_layer.objects.active = source
    assert bpy.ops.design_space.project_shape(target='COPY') == {'FINISHED'}
    copy = bpy.context.active_object
    assert copy is not source and copy.name.startswith(source.name)
    estimates = {s.name: s.value for s in copy.design_space_edit.sliders}
    assert abs(estimates["height"] - source["height"]) < 0.01
    radius = copy.design_space_edit.sliders["max_radius"].value
    bpy.ops.design_space.edit_attributes(attribute="height", value=0.05, relative=True)
    after = positions(copy)
    assert abs(np.ptp(after[:, 2]) - (np.ptp(before[:, 2]) + 0.05)) < 0.005
    assert copy.design_space_edit.sliders["max_radius"].value == pytest.approx(radius)
    np.testing.assert_array_equal(positions(source), before)


def test_edit_in_place_writes_the_mesh(bpy, vase_space):
    source = vase_space.objects[2]
    bpy.context.view_layer.objects.active = source
    bpy.ops.design_space.project_shape(target='IN_PLACE')
    height = np.ptp(positions(source)[:, 2])
    source.design_space_edit.sliders["height"].value -= 0.04
    assert np.ptp(positions(source)[:, 2]) == pytest.approx(height - 0.04, abs=0.004)
    evaluated = source.evaluated_get(bpy.context.evaluated_depsgraph_get())
    assert np.ptp(positions(evaluated)[:, 2]) == pytest.approx(height - 0.04, abs=0.004)  # what the viewport shows
    # Ctrl+Z: the undo step of the move brings the mesh back
    name = source.name
    bpy.ops.ed.undo_push(message="before")
    source.design_space_edit.sliders["height"].value += 0.08
    bpy.ops.ed.undo_push(message="slider")
    bpy.ops.ed.undo()
    source = bpy.data.objects[name]
    assert np.ptp(positions(source)[:, 2]) == pytest.approx(height - 0.04, abs=0.004)
    assert source.design_space_edit.sliders["height"].value == source.design_space_edit.sliders["height"].applied


def test_learn_attributes_names_what_is_wrong(bpy, vase_space):
    vase_space.objects[5]["height"] = float("nan")
    with pytest.raises(RuntimeError, match=r"1 shape has no usable 'height' \(missing or NaN\): 'vase_005'"):
        bpy.ops.design_space.learn_attributes(attributes="height")
    bpy.context.view_layer.objects.active = bpy.data.objects["Vases Shape Space"]
    assert bpy.ops.design_space.learn_attributes(attributes="height", skip_incomplete=True) == {'FINISHED'}
    for obj in vase_space.objects:
        obj["glaze"] = 1.0
    with pytest.raises(RuntimeError, match="'glaze' is 1 on every shape"):
        bpy.ops.design_space.learn_attributes(attributes="glaze")
    with pytest.raises(RuntimeError, match="the shapes have: .*max_radius"):
        bpy.ops.design_space.learn_attributes(attributes="")


def test_template_fitting_learns_a_space_from_varied_topology(bpy, addon):
    bpy.ops.design_space.create_demo_collections(families={'VASE'}, shapes_per_family=5, body_count=0,
                                                 topology='BOTH', seed=5)
    template = bpy.data.collections["Vases"].objects[0]
    varied = bpy.data.collections["Vases (varied topology)"]
    assert len({len(o.data.vertices) for o in varied.objects}) > 1
    bpy.context.scene.design_space.training_collection = varied
    result = bpy.ops.design_space.learn_shape_space(correspondence='TEMPLATE', template=template.name,
                                                    component_mode='COUNT', components=3)
    assert result == {'FINISHED'}
    space_object = bpy.data.objects["Vases (varied topology) Shape Space"]
    assert len(space_object.data.vertices) == len(template.data.vertices)
    entry = bpy.context.scene.design_space.models[0]
    assert "template fit" in entry.metrics
    # a mesh of another topology can only be edited as a fitted copy
    other = next(o for o in varied.objects if len(o.data.vertices) != len(template.data.vertices))
    bpy.context.view_layer.objects.active = other
    bpy.ops.design_space.learn_attributes(attributes="height")
    with pytest.raises(RuntimeError, match=f"'{other.name}' has {len(other.data.vertices)} vertices .* edit a copy"):
        bpy.ops.design_space.project_shape(target='IN_PLACE')
    assert bpy.ops.design_space.project_shape(target='COPY') == {'FINISHED'}
    fitted = bpy.context.active_object
    assert fitted.name == f"{other.name} (fitted)" and len(fitted.data.vertices) == len(template.data.vertices)
    assert abs(fitted.design_space_edit.sliders["height"].value - other["height"]) < 0.02


def test_shapes_that_do_not_fit_are_refused_by_name(bpy, addon):
    bpy.ops.design_space.create_demo_collections(families={'VASE', 'CHAIR'}, shapes_per_family=4, body_count=0,
                                                 topology='SAME', seed=5)
    vases = bpy.data.collections["Vases"]
    chair = bpy.data.collections["Chairs"].objects[0]
    vases.objects.link(chair)
    bpy.context.scene.design_space.training_collection = vases
    bpy.ops.design_space.learn_shape_space(correspondence='TEMPLATE', component_mode='COUNT', components=2)
    entry = bpy.context.scene.design_space.models[0]
    from learning.model_files import load_model_file

    shapes = load_model_file(addon.operators.model_store.absolute_path(entry.filepath)).metadata["attribute_names"]
    assert chair.name not in shapes and len(shapes) == 4
    assert bpy.context.window_manager.design_space_job.last_result.count(f"'{chair.name}'") == 1


def test_unapplied_transforms_and_modifiers_are_stated(bpy, capfd):
    bpy.ops.design_space.create_demo_collections(families={'VASE'}, shapes_per_family=5, body_count=0,
                                                 topology='SAME', seed=2)
    vases = bpy.data.collections["Vases"]
    vases.objects[1].rotation_euler.z = 0.5
    vases.objects[2].modifiers.new("Smooth", 'SUBSURF')
    bpy.context.scene.design_space.training_collection = vases
    capfd.readouterr()
    assert bpy.ops.design_space.learn_shape_space(component_mode='COUNT', components=2) == {'FINISHED'}
    out = capfd.readouterr().out
    assert "'vase_001'…) have an unapplied rotation or scale: their local coordinates were used" in out
    assert "'vase_002'…) have modifiers: their meshes without modifiers were used" in out
