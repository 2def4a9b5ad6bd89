"""Recognition inside Blender: train_classifier (in the worker process), classify, find_similar —
on the built-in families and on the project's hard benchmark, with PyTorch made unimportable for the
training-free search."""

import sys

import numpy as np
import pytest


@pytest.fixture
def families(bpy):
    bpy.ops.design_space.create_demo_collections(families={'CHAIR', 'TABLE', 'LAMP', 'VASE'}, shapes_per_family=16,
                                                 body_count=0, topology='VARIED', seed=4)
    root = bpy.data.collections["Design Space Demo"]
    bpy.context.scene.design_space.training_collection = root
    return root


def test_train_classify_and_find_similar(bpy, families, monkeypatch, capfd):
    settings = bpy.context.scene.design_space
    assert bpy.ops.design_space.train_classifier(epochs=40, copies=1) == {'FINISHED'}
    entry = settings.models[settings.active_model_index]
    assert entry.kind == "view_network" and entry.target == "chair, lamp, table, vase"
    accuracy = float(entry.metrics.split("accuracy ")[1].split("%")[0])
    assert accuracy >= 85 and "softmax regression" in entry.metrics, entry.metrics
    assert bpy.data.images.get("Design Space Confusion") is not None
    assert bpy.ops.design_space.train_classifier(epochs=2, copies=0) == {'FINISHED'}
    assert settings.models[-1].name == settings.models[-2].name + " 2"  # two models, two names
    settings.active_model_index = len(settings.models) - 2

    lamps = bpy.data.collections["Lamps (varied topology)"]
    for obj in bpy.context.view_layer.objects:
        obj.select_set(obj.name in {lamps.objects[0].name, lamps.objects[1].name})
    bpy.ops.design_space.classify()
    for obj in list(lamps.objects)[:2]:
        assert obj["predicted_category"] == "lamp" and 0.5 < obj["predicted_confidence"] <= 1.0

    vase = bpy.data.collections["Vases (varied topology)"].objects[3]
    bpy.context.view_layer.objects.active = vase
    before = len(bpy.data.objects)
    assert bpy.ops.design_space.find_similar(count=4, place=True) == {'FINISHED'}
    found = [m.name for m in settings.matches]
    assert len(found) == 4 and vase.name not in found
    assert sum(bpy.data.objects[n]["category"] == "vase" for n in found) >= 3
    assert len(bpy.data.objects) == before + 4
    assert bpy.data.images.get("Design Space Match 0") is not None
    scores = [m.score for m in settings.matches]
    assert scores == sorted(scores, reverse=True)
    assert bpy.ops.design_space.find_similar(count=4, method='LEARNED') == {'FINISHED'}
    assert sum(bpy.data.objects[m.name]["category"] == "vase" for m in settings.matches) >= 3
    learned = [(m.name, round(m.score, 4)) for m in settings.matches]
    # the learned metric is read from the model file with numpy: the same matches without PyTorch
    monkeypatch.setitem(sys.modules, "torch", None)
    capfd.readouterr()
    assert bpy.ops.design_space.find_similar(count=4, method='AUTO') == {'FINISHED'}
    assert [(m.name, round(m.score, 4)) for m in settings.matches] == learned
    assert "by light field + learned metric" in capfd.readouterr().out


def test_find_similar_without_training_or_torch_on_the_hard_benchmark(bpy, addon, monkeypatch):
    """A collection never trained on, PyTorch unimportable: same-class neighbours first (NN ≥ 80%)."""
    from shapespace.hard_benchmark import hard_benchmark

    bench = hard_benchmark(per_class=6, seed=9)
    bridge = addon.operators.mesh_bridge
    with bridge.SceneWriter() as writer:
        library = writer.collection("Downloaded Library")
        for shape, label in zip(bench.shapes, bench.labels):
            writer.mesh_object(shape, library, properties={"category": bench.classes[label]})
    settings = bpy.context.scene.design_space
    settings.library_collection = library
    assert not settings.models
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails
    with pytest.raises(ImportError):
        import torch  # noqa: F401
    objects = list(library.objects)
    right = 0
    queries = objects[::2]
    for query in queries:
        bpy.context.view_layer.objects.active = query
        assert bpy.ops.design_space.find_similar(count=3) == {'FINISHED'}
        right += bpy.data.objects[settings.matches[0].name]["category"] == query["category"]
    nn = right / len(queries)
    print(f"training-free find_similar NN on the hard benchmark: {nn:.3f} ({len(bench.classes)} classes)")
    assert nn >= 0.80


def test_find_similar_refuses_what_it_cannot_compare(bpy, addon):
    from shapespace.primitives import box

    bridge = addon.operators.mesh_bridge
    with bridge.SceneWriter() as writer:
        lonely = writer.collection("Lonely")
        only = writer.mesh_object(box((0, 0, 0), (1, 1, 1)), lonely, name="Only")
        flat = writer.mesh_object(bridge_mesh_without_faces(), lonely, name="Flat")
    settings = bpy.context.scene.design_space
    settings.library_collection = lonely
    bpy.context.view_layer.objects.active = flat
    with pytest.raises(RuntimeError, match="'Flat' has no surface to compare"):
        bpy.ops.design_space.find_similar()
    bpy.context.view_layer.objects.active = only
    with pytest.raises(RuntimeError, match="No shape in 'Lonely' has a surface"):
        bpy.ops.design_space.find_similar()
    with pytest.raises(RuntimeError, match="There is no collection 'Nowhere'"):
        bpy.ops.design_space.find_similar(library="Nowhere")
    with pytest.raises(RuntimeError, match="Make a multi-view network the active model first"):
        bpy.ops.design_space.find_similar(method='LEARNED')
    assert not settings.matches


def bridge_mesh_without_faces():
    from shapespace.mesh_arrays import MeshArrays

    return MeshArrays("flat", np.zeros((3, 3), np.float32), np.zeros(0, np.int32), np.zeros(0, np.int32))


def test_bad_input(bpy, families):
    with pytest.raises(RuntimeError, match="Make a classifier the active model first"):
        bpy.ops.design_space.classify()
    chairs = bpy.data.collections["Chairs (varied topology)"]
    bpy.context.scene.design_space.training_collection = chairs
    with pytest.raises(RuntimeError, match="Every shape of 'Chairs \\(varied topology\\)' is 'chair'"):
        bpy.ops.design_space.train_classifier()
    with pytest.raises(RuntimeError, match="16 shapes have no 'style'"):
        bpy.ops.design_space.train_classifier(label_property="style")


def test_sketch_search_from_an_image(bpy, families, tmp_path):
    from learning.sketch import contour, hand_drawn
    from learning.training_plot import write_png
    from shapespace.views import render_views

    settings = bpy.context.scene.design_space
    assert bpy.ops.design_space.train_sketch_search(pairs=2000, epochs=8, doodle_epochs=3) == {'FINISHED'}
    entry = settings.models[settings.active_model_index]
    assert entry.kind == "sketch_retrieval" and "right class first" in entry.metrics
    # a sketch of a new lamp's outline, drawn shakily, as dark lines on white
    from shapespace.procedural import make_shape

    views = render_views(make_shape("lamp", 999, same_topology=False), resolution=96)
    lines = hand_drawn(contour(views["mask"][2]), np.random.default_rng(1))
    write_png(tmp_path / "sketch.png", np.dstack([1 - lines] * 3 + [np.ones_like(lines)]))
    assert bpy.ops.design_space.sketch_search(filepath=str(tmp_path / "sketch.png"), count=5) == {'FINISHED'}
    found = [m.name for m in settings.matches]
    assert bpy.data.objects[found[0]]["category"] == "lamp"
    assert all(-1.0 <= m.score <= 1.0 + 1e-6 for m in settings.matches)  # a similarity, shown as a cosine
    placed = bpy.context.active_object
    assert placed.data == bpy.data.objects[found[0]].data and tuple(placed.location) == (0.0, 0.0, 0.0)
    with pytest.raises(RuntimeError, match="The sketch has no strokes"):
        bpy.ops.design_space.sketch_search()


def test_a_network_of_another_light_field_layout_is_refused_by_name(bpy, addon, tmp_path):
    import importlib

    from shapespace.primitives import box

    view_network = importlib.import_module(addon.__name__ + ".learning.view_network")
    network = view_network.ViewNetwork.create(["a", "b"], 20, 72)
    path = tmp_path / "old.npz"
    network.save(path, collection="Old Shapes", info={"layout": "lfd:dodeca20:32px:zernike8"})
    addon.operators.model_store.add_model_entry(bpy.context.scene, "Old Classifier", "view_network", path,
                                                "Old Shapes", "a, b", "")
    with addon.operators.mesh_bridge.SceneWriter() as writer:
        cube = writer.mesh_object(box((0, 0, 0), (1, 1, 1)), writer.collection("Shapes"), name="Cube")
    cube.select_set(True)
    bpy.context.view_layer.objects.active = cube
    with pytest.raises(RuntimeError, match=r"'Old Classifier' was trained on light fields of another layout "
                                           r"\(lfd:dodeca20:32px:zernike8; .*train it again on 'Old Shapes'"):
        bpy.ops.design_space.classify()
    assert "predicted_category" not in cube
