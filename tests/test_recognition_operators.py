"""Recognition inside Blender: train_classifier (in the worker process), classify, find_similar."""

import numpy as np
import pytest


@pytest.fixture
def families(bpy):
    bpy.ops.design_space.create_demo_collections(families={'CHAIR', 'TABLE', 'LAMP', 'VASE'}, shapes_per_family=16,
                                                 body_count=0, topology='VARIED', seed=4)
    root = bpy.data.collections["Design Space Demo"]
    bpy.context.scene.design_space.training_collection = root
    return root


def test_train_classify_and_find_similar(bpy, families):
    settings = bpy.context.scene.design_space
    assert bpy.ops.design_space.train_classifier(epochs=15, resolution=32) == {'FINISHED'}
    entry = settings.models[settings.active_model_index]
    assert entry.kind == "mvcnn_classifier" and entry.target == "chair, lamp, table, vase"
    accuracy = float(entry.metrics.split("accuracy ")[1].split("%")[0])
    assert accuracy >= 85, entry.metrics
    assert bpy.data.images.get("Design Space Confusion") is not None

    lamps = bpy.data.collections["Lamps (varied topology)"]
    for obj in bpy.context.view_layer.objects:
        obj.select_set(obj.name in {lamps.objects[0].name, lamps.objects[1].name})
    bpy.ops.design_space.classify()
    for obj in list(lamps.objects)[:2]:
        assert obj["predicted_category"] == "lamp" and 0.5 < obj["predicted_confidence"] <= 1.0

    vase = bpy.data.collections["Vases (varied topology)"].objects[3]
    bpy.context.view_layer.objects.active = vase
    assert bpy.ops.design_space.find_similar(count=4, place=True) == {'FINISHED'}
    found = [m.name for m in settings.matches]
    assert len(found) == 4 and vase.name not in found
    assert sum(bpy.data.objects[n]["category"] == "vase" for n in found) >= 3
    assert bpy.data.images.get("Design Space Match 0") is not None
    scores = [m.score for m in settings.matches]
    assert scores == sorted(scores, reverse=True)


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
    assert bpy.ops.design_space.train_sketch_search(pairs=2000, epochs=8) == {'FINISHED'}
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
    placed = bpy.context.active_object
    assert placed.data == bpy.data.objects[found[0]].data and tuple(placed.location) == (0.0, 0.0, 0.0)
    with pytest.raises(RuntimeError, match="The sketch has no strokes"):
        bpy.ops.design_space.sketch_search()
