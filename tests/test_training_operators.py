"""The training runtime inside Blender (background mode: synchronous, progress printed)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def chairs(bpy, request):
    count = getattr(request, "param", 30)
    bpy.ops.design_space.create_demo_collections(families={'CHAIR'}, shapes_per_family=count, body_count=0,
                                                 topology='SAME', seed=5)
    collection = bpy.data.collections["Chairs"]
    bpy.context.scene.design_space.training_collection = collection
    return collection


@pytest.fixture
def runner(addon):
    return addon.operators.background_jobs.runner


def _model_files(addon):
    folder = addon.operators.model_store.model_directory()
    return sorted(folder.glob("*.npz"))


@pytest.mark.parametrize("chairs", [80], indirect=True)
def test_mlp_learns_height_with_progress_curves_and_a_safe_model_file(bpy, addon, chairs, capsys):
    before = set(_model_files(addon))
    result = bpy.ops.design_space.train_attribute_predictor(target="height", model_kind='MLP', epochs=150,
                                                            learning_rate=0.01, seed=1)
    assert result == {'FINISHED'}
    out = capsys.readouterr().out
    assert "describing shapes 80/80" in out and "epoch 1/150" in out and "s left" in out
    assert "training curves saved to" in out
    models = bpy.context.scene.design_space.models
    assert len(models) == 1 and models[0].target == "height" and models[0].kind == "mlp_regressor"
    path = addon.operators.model_store.absolute_path(models[0].filepath)
    assert path.exists() and path not in before and path.with_suffix(".png").exists()
    image = bpy.data.images["Design Space Training"]
    assert tuple(image.size) == (480, 360)
    pixels = np.empty(480 * 360 * 4, np.float32)
    image.pixels.foreach_get(pixels)
    assert len(np.unique(pixels.reshape(-1, 4)[:, :3], axis=0)) > 5  # curves, axes, background
    from learning.models import load_model

    model = load_model(path)
    assert model.feature_names[0] == "box6+d2x32[0]" and model.target_names == ["height"]
    assert model.metrics["val_r2"] > 0.75, model.metrics
    for obj in chairs.objects[:3]:
        obj.select_set(True)
    assert bpy.ops.design_space.predict_attribute() == {'FINISHED'}
    for obj in chairs.objects[:3]:
        assert obj["predicted_height"] == pytest.approx(obj["height"], abs=0.1)


def test_ridge_needs_no_gradient_descent_and_is_exact_on_a_linear_attribute(bpy, chairs):
    result = bpy.ops.design_space.train_attribute_predictor(target="height", model_kind='RIDGE', ridge_lambda=1e-6)
    assert result == {'FINISHED'}
    (entry,) = bpy.context.scene.design_space.models
    assert entry.kind == "ridge_regression"
    rmse = float(entry.metrics.split("RMSE ")[1].split(",")[0])
    assert rmse < 0.02  # the descriptor holds the z extent, which is the height


def test_cancel_leaves_no_model_and_no_entry(bpy, addon, chairs, runner, capsys):
    files = set(_model_files(addon))

    def cancel_after_a_few_epochs(progress):
        if progress is not None and "epoch 3/" in progress.message:
            runner.cancel()

    runner.listeners.append(cancel_after_a_few_epochs)
    try:
        result = bpy.ops.design_space.train_attribute_predictor(target="height", epochs=500)
    finally:
        runner.listeners.remove(cancel_after_a_few_epochs)
    assert result == {'CANCELLED'}  # like every job operator: nothing was made, no undo step
    assert "cancelled; nothing was changed" in capsys.readouterr().out
    assert len(bpy.context.scene.design_space.models) == 0
    assert set(_model_files(addon)) == files
    assert not runner.running


def test_a_diverging_learning_rate_stops_says_so_and_keeps_the_last_good_model(bpy, chairs, capsys):
    result = bpy.ops.design_space.train_attribute_predictor(target="height", optimizer='sgd', learning_rate=50.0,
                                                            epochs=200)
    assert result == {'FINISHED'}
    out = capsys.readouterr().out
    assert "Warning" in out and "diverg" in out.lower()
    assert len(bpy.context.scene.design_space.models) == 1


def test_bad_training_input_is_named_and_changes_nothing(bpy, chairs):
    with pytest.raises(RuntimeError, match="Choose the attribute to predict; 'Chairs' has: back_angle"):
        bpy.ops.design_space.train_attribute_predictor(target="")
    chairs.objects[2]["height"] = "tall"
    del chairs.objects[4]["height"]
    with pytest.raises(RuntimeError, match="2 shapes have no number in 'height': 'chair_002', 'chair_004'"):
        bpy.ops.design_space.train_attribute_predictor(target="height", model_kind='RIDGE')
    with pytest.raises(RuntimeError, match="'leg_count' has the same value on every shape"):
        bpy.ops.design_space.train_attribute_predictor(target="leg_count", model_kind='RIDGE')
    assert len(bpy.context.scene.design_space.models) == 0
    assert bpy.ops.design_space.train_attribute_predictor(target="height", model_kind='RIDGE',
                                                          skip_incomplete=True) == {'FINISHED'}
    bpy.context.scene.design_space.training_collection = None
    with pytest.raises(RuntimeError, match="No collection given"):
        bpy.ops.design_space.train_attribute_predictor(target="height")


def test_a_corrupt_model_file_is_refused_and_nothing_is_written(bpy, addon, chairs):
    bpy.ops.design_space.train_attribute_predictor(target="height", model_kind='RIDGE')
    entry = bpy.context.scene.design_space.models[0]
    path = addon.operators.model_store.absolute_path(entry.filepath)
    path.write_bytes(path.read_bytes()[:200])
    chairs.objects[0].select_set(True)
    with pytest.raises(RuntimeError, match="model file"):
        bpy.ops.design_space.predict_attribute()
    assert "predicted_height" not in chairs.objects[0]


def test_reopening_the_blend_restores_models_by_relative_path(bpy, addon, chairs, tmp_path):
    blend = tmp_path / "project" / "scene.blend"
    blend.parent.mkdir()
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.ops.design_space.train_attribute_predictor(target="seat_height", model_kind='RIDGE')
    assert bpy.context.scene.design_space.models[0].filepath.startswith("//design_space_models/")
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    (entry,) = bpy.context.scene.design_space.models
    assert entry.target == "seat_height"
    bpy.data.objects["chair_001"].select_set(True)
    assert bpy.ops.design_space.predict_attribute() == {'FINISHED'}
    assert bpy.data.objects["chair_001"]["predicted_seat_height"] == pytest.approx(
        bpy.data.objects["chair_001"]["seat_height"], abs=0.05)


def test_train_outside_blender_then_load_the_model(bpy, addon, chairs, tmp_path):
    dataset = tmp_path / "chairs.npz"
    assert bpy.ops.design_space.export_training_dataset(filepath=str(dataset), target="back_height") == {'FINISHED'}
    model_path = tmp_path / "back_height.npz"
    run = subprocess.run([sys.executable, "-m", "learning", "train", "--dataset", str(dataset), "--model-kind",
                          "ridge", "--out", str(model_path)], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert bpy.ops.design_space.load_model(filepath=str(model_path)) == {'FINISHED'}
    entry = bpy.context.scene.design_space.models[0]
    assert entry.kind == "ridge_regression" and entry.target == "back_height"
    chairs.objects[3].select_set(True)
    assert bpy.ops.design_space.predict_attribute() == {'FINISHED'}
    assert chairs.objects[3]["predicted_back_height"] == pytest.approx(chairs.objects[3]["back_height"], abs=0.05)


def test_without_pytorch_the_network_explains_and_ridge_still_trains(bpy, chairs, tmp_path, monkeypatch):
    fake = tmp_path / "no_torch" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('torch is not installed here')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "no_torch"))  # the worker process inherits sys.path
    with pytest.raises(RuntimeError, match="needs PyTorch"):
        bpy.ops.design_space.train_attribute_predictor(target="height", model_kind='MLP', epochs=5)
    assert len(bpy.context.scene.design_space.models) == 0
    assert bpy.ops.design_space.train_attribute_predictor(target="height", model_kind='RIDGE') == {'FINISHED'}


def test_progress_drained_together_keeps_the_newest_curve_image(addon):
    jobs = addon.operators.background_jobs
    runner = jobs.JobRunner()
    seen = []
    runner.listeners.append(seen.append)
    runner.job = jobs.Job()
    image = np.zeros((2, 2, 4), np.float32)
    runner._messages.put(jobs.Progress(0.1, "epoch 1", {"curves": image, "line": "1"}))
    runner._messages.put(jobs.Progress(0.2, "epoch 2", {"curves": None, "line": "2"}))
    assert runner._poll() == jobs.POLL_SECONDS
    assert len(seen) == 1 and seen[0].message == "epoch 2" and seen[0].history["curves"] is image
    runner.job = None


def test_an_attribute_no_shape_has_lists_the_ones_there_are(bpy, chairs):
    with pytest.raises(RuntimeError, match="No shape has a number in 'nosuch'; the shapes have: back_angle"):
        bpy.ops.design_space.train_attribute_predictor(target="nosuch", skip_incomplete=True)
    bpy.context.scene.design_space.predictor_target = "height"
    assert bpy.ops.design_space.train_attribute_predictor('INVOKE_DEFAULT', model_kind='RIDGE') == {'FINISHED'}
    assert bpy.context.scene.design_space.models[0].target == "height"


def test_a_jobs_last_picture_shows_at_once_and_is_packed_into_the_saved_file(bpy, addon, tmp_path):
    """In the interface a job's last picture must not touch Image pixels (that redraws every viewport):
    the panel shows it from a preview, and saving the file packs it into an Image."""
    bridge, name = addon.operators.image_bridge, "Design Space Test Picture"
    rgba = np.zeros((32, 64, 4), np.float32)
    rgba[..., 0] = np.linspace(0, 1, 64)[None, :]
    rgba[..., 1] = np.linspace(0, 1, 32)[:, None]  # top row first: green grows downwards
    rgba[..., 3] = 1.0
    bridge.keep_picture(name, rgba, at_once=False)
    assert bpy.data.images.get(name) is None
    preview = bridge._live["previews"][name]
    assert bridge.picture_icon(name) == preview.icon_id  # (icon ids are 0 without a window)
    assert tuple(preview.image_size) == (64, 32)
    shown = np.empty(64 * 32 * 4, np.float32)
    preview.image_pixels_float.foreach_get(shown)
    np.testing.assert_allclose(shown.reshape(32, 64, 4)[::-1], rgba, atol=1 / 255)  # bottom row first

    blend = tmp_path / "pictures.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    image = bpy.data.images[name]
    assert image.packed_file is not None and tuple(image.size) == (64, 32)
    bpy.ops.wm.read_homefile(use_empty=True)
    assert bridge.picture_icon(name) is None  # the live picture belonged to the closed file
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    pixels = np.empty(64 * 32 * 4, np.float32)
    bpy.data.images[name].pixels.foreach_get(pixels)
    np.testing.assert_allclose(pixels.reshape(32, 64, 4)[::-1], rgba, atol=1 / 255)
    assert bridge.picture_icon(name) is not None
