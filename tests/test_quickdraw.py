"""Real doodles (Quick, Draw! dataset, Google; CC BY 4.0): the reader's checks, and a sketch encoder trained on
the 14 classes' training doodles that must tell the 140 test doodles apart (torch, one thread)."""

import time
from pathlib import Path

import numpy as np
import pytest

from shapespace import quickdraw
from shapespace.quickdraw import find_quickdraw, load_quickdraw


@pytest.fixture(scope="module")
def folder():
    found = find_quickdraw()
    if found is None:
        pytest.fail("Quick, Draw! doodles not found: put them at ../shared/data/quickdraw (beside the repository) "
                    "or set DESIGN_SPACE_QUICKDRAW to their folder")
    return found


def test_doodles_load_as_ink_images(folder):
    images, labels, classes = load_quickdraw(folder)
    test_images, test_labels, test_classes = load_quickdraw(folder, "test")
    assert len(classes) == 14 and test_classes == classes and "bicycle" in classes
    assert images.shape[1:] == (28, 28) and images.dtype == np.float32 and labels.dtype == np.int64
    assert len(images) > 3500 and test_images.shape == (140, 28, 28)
    assert np.bincount(test_labels).tolist() == [10] * 14
    assert 0 <= images.min() and images.max() == 1.0 and 0.1 < images.mean() < 0.3  # ink high, mostly paper
    two, two_labels, two_classes = load_quickdraw(folder, "test", ["key", "cat"])
    assert two_classes == ["key", "cat"] and len(two) == 20 and two_labels.tolist() == [0] * 10 + [1] * 10


def test_finding_the_doodles(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(quickdraw, "_REPO", tmp_path / "nowhere")
    monkeypatch.delenv(quickdraw.QUICKDRAW_ENV, raising=False)
    assert find_quickdraw() is None and find_quickdraw([tmp_path]) is None
    assert find_quickdraw(["", tmp_path, folder]) == folder
    monkeypatch.setenv(quickdraw.QUICKDRAW_ENV, str(folder))
    assert find_quickdraw() == folder


def test_bad_files_are_refused_by_name(tmp_path, monkeypatch):
    split = tmp_path / "quickdraw-train"
    split.mkdir()
    np.save(split / "cat.npy", np.zeros((3, 784), np.float32))
    with pytest.raises(ValueError, match=r"cat\.npy' holds a float32 array .* uint8"):
        load_quickdraw(tmp_path)
    np.save(split / "cat.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"cat\.npy' holds a object array"):
        load_quickdraw(tmp_path)
    (split / "cat.npy").write_bytes(b"not a numpy file at all")
    with pytest.raises(ValueError, match=r"cat\.npy' is not a readable \.npy file"):
        load_quickdraw(tmp_path)
    np.save(split / "cat.npy", np.zeros((50, 784), np.uint8))
    (split / "cat.npy").write_bytes((split / "cat.npy").read_bytes()[:2000])
    with pytest.raises(ValueError, match=r"cat\.npy' is cut short"):
        load_quickdraw(tmp_path)
    np.save(split / "cat.npy", np.zeros((50, 784), np.uint8))
    monkeypatch.setattr(quickdraw, "MAX_FILE_BYTES", 10_000)
    with pytest.raises(ValueError, match=r"cat\.npy' is 0 MB, more than"):
        load_quickdraw(tmp_path)
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"class 'dog' has no train doodles"):
        load_quickdraw(tmp_path, classes=["cat", "dog"])
    with pytest.raises(ValueError, match="quickdraw-test.* is missing"):
        load_quickdraw(tmp_path, "test")
    with pytest.raises(ValueError, match="Unknown Quick, Draw! split 'val'"):
        load_quickdraw(tmp_path, "val")


def test_sketch_encoder_tells_real_doodles_apart(folder):
    import torch

    from learning.sketch import SketchEncoder, normalize_sketches

    torch.set_num_threads(1)
    images, labels, classes = load_quickdraw(folder)
    test_images, test_labels, _ = load_quickdraw(folder, "test", classes)
    sketches, test_sketches = normalize_sketches(images), normalize_sketches(test_images)

    # training-free baseline: nearest neighbour on the normalised sketches, pooled to 32 px
    def pooled(a):
        a = a.reshape(len(a), 32, 2, 32, 2).mean(axis=(2, 4)).reshape(len(a), -1)
        a = a - a.mean(axis=1, keepdims=True)
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-9)

    baseline = float((labels[(pooled(test_sketches) @ pooled(sketches).T).argmax(axis=1)] == test_labels).mean())

    encoder = SketchEncoder.create(classes)
    started = time.process_time()
    encoder.fit(sketches, labels, epochs=10)  # top-1 0.836 measured (8 epochs: 0.793)
    seconds = time.process_time() - started
    accuracy = float((encoder.predict(test_sketches) == test_labels).mean())
    print(f"doodle encoder top-1 {accuracy:.3f} (nearest neighbour {baseline:.3f}); training {seconds:.0f} s CPU")
    assert accuracy >= 0.8 and accuracy > baseline + 0.15, (accuracy, baseline)


def test_the_extension_ships_the_training_doodles_with_their_attribution(tmp_path, monkeypatch):
    """An installed extension has no shared/ folder beside it: the training doodles travel inside it."""
    import shutil

    from shapespace import quickdraw

    shipped = Path(quickdraw.__file__).resolve().parent.parent / "data" / "quickdraw"
    assert "CC BY 4.0" in (shipped / "README.md").read_text() and "Quick, Draw! dataset, Google" in \
        (shipped / "README.md").read_text()
    assert len(list((shipped / "quickdraw-train").glob("*.npy"))) == 14
    assert len(list((shipped / "quickdraw-test").glob("*.npy"))) == 14
    extension = tmp_path / "extension"  # a copy of the installed layout, with no shared/ anywhere near it
    shutil.copytree(shipped, extension / "data" / "quickdraw")
    monkeypatch.setattr(quickdraw, "_REPO", extension)
    monkeypatch.delenv(quickdraw.QUICKDRAW_ENV, raising=False)
    assert quickdraw.find_quickdraw() == extension / "data" / "quickdraw"
