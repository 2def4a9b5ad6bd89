"""Sketch-based retrieval on held-out procedural shapes (pure core + torch)."""

import numpy as np
import pytest

from learning.sketch import SketchRetrieval, contour, hand_drawn, rasterize_strokes
from shapespace.procedural import FAMILIES, make_family
from shapespace.views import render_views


@pytest.fixture(scope="module")
def library():
    rng = np.random.default_rng(0)
    lines, labels, sketches, sketch_labels = [], [], [], []
    for label, family in enumerate(FAMILIES):
        for i, shape in enumerate(make_family(family, 30, seed=11, same_topology=False)):
            views = render_views(shape, resolution=32)
            if i < 24:
                lines.append(views["lines"])
                labels.append(label)
            else:  # a shaky sketch of a held-out shape's outline from a random view
                sketches.append(hand_drawn(contour(views["mask"][rng.integers(12)]), rng))
                sketch_labels.append(label)
    return np.array(lines, np.float32), np.array(labels), np.array(sketches), np.array(sketch_labels)


def test_sketches_of_held_out_shapes_find_their_class(library, tmp_path):
    lines, labels, sketches, sketch_labels = library
    model = SketchRetrieval.create(32)
    model.fit(lines, labels, pairs=3000, epochs=10)
    embeddings = model.library(lines)
    first, precisions = [], []
    for sketch, label in zip(sketches, sketch_labels):
        relevant = labels[np.argsort(-model.search(sketch, embeddings))] == label
        first.append(relevant[0])
        hits = np.cumsum(relevant)
        precisions.append((hits[relevant] / (np.flatnonzero(relevant) + 1)).mean())
    assert np.mean(first) >= 0.8 and np.mean(precisions) >= 0.6, (np.mean(first), np.mean(precisions))
    model.save(tmp_path / "sketch.npz", embeddings, [f"s{i}" for i in range(len(lines))], labels, FAMILIES)
    loaded, stored, metadata = SketchRetrieval.load(tmp_path / "sketch.npz")
    np.testing.assert_allclose(loaded.search(sketches[0], stored), model.search(sketches[0], embeddings), atol=1e-5)


def test_strokes_are_drawn_fitted_into_the_image():
    image = rasterize_strokes([[(0, 0), (10, 0), (10, 10)], [(0, 5)]], 32)
    assert image.sum() > 40  # two sides of a square, drawn without gaps
    assert image[2:30, 2:30].sum() == image.sum()  # a margin all round
    assert image[28, 10] == 1 and image[3, 28] == 1  # y points up: (0, 0) bottom left, (10, 10) top right
    with pytest.raises(ValueError, match="no strokes"):
        rasterize_strokes([], 32)


def test_hand_drawn_lines_stay_close_to_the_original():
    square = np.zeros((48, 48), np.float32)
    square[10, 10:38] = square[37, 10:38] = square[10:38, 10] = square[10:38, 37] = 1
    drawn = hand_drawn(square, np.random.default_rng(3))
    assert 0.5 * square.sum() < drawn.sum() < 3 * square.sum()
    assert not np.array_equal(drawn, square)
