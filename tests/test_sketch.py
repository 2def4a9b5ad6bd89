"""Sketches: normalisation of any sketch image, synthetic hand-drawn line drawings calibrated against real
doodles, and sketch search on held-out procedural shapes (pure core + torch, one thread)."""

import numpy as np
import pytest

from learning.sketch import (MARGIN, PEN_WIDTH, SKETCH_SIZE, SketchRetrieval, contour, hand_drawn,
                             library_drawings, normalize_sketch, normalize_sketches, rasterize_strokes,
                             stroke_statistics, stroke_width, thin)
from shapespace.procedural import FAMILIES, make_family


def anti_aliased_square(side: int, low: float, high: float, pen: float, ink: float = 0.35) -> np.ndarray:
    """A grey-on-white square outline (x and y from `low` to `high` pixels) with soft, anti-aliased edges:
    the darkest pixels are `ink` grey, the edges 0.5–0.9 grey, as a real pen scanned or exported draws."""
    y, x = np.mgrid[0:side, 0:side] + 0.5
    inside_x = np.clip(np.minimum(x - low, high - x), None, 0)
    inside_y = np.clip(np.minimum(y - low, high - y), None, 0)
    outside = np.hypot(inside_x, inside_y)
    to_edge = np.minimum(np.abs(x - low), np.abs(x - high))
    to_edge = np.where((y > low) & (y < high), to_edge, np.inf)
    to_edge = np.minimum(to_edge, np.where((x > low) & (x < high),
                                           np.minimum(np.abs(y - low), np.abs(y - high)), np.inf))
    distance = np.where(outside > 0, np.maximum(outside, 0), to_edge)
    coverage = np.clip(pen / 2 + 0.5 - distance, 0.0, 1.0)
    return (1.0 - coverage * (1.0 - ink)).astype(np.float32)


def test_normalize_keeps_grey_strokes_and_edges_and_centres_the_ink():
    # 150 px (not a multiple of 64), ink near the right and bottom edges, 0.35–0.9 grey
    image = anti_aliased_square(150, 70.0, 147.0, 1.2)
    sketch = normalize_sketch(image)
    assert sketch.shape == (SKETCH_SIZE, SKETCH_SIZE) and sketch.dtype == np.float32
    rows, cols = np.flatnonzero(sketch.max(axis=1) > 0.5), np.flatnonzero(sketch.max(axis=0) > 0.5)
    span = SKETCH_SIZE * (1 - 2 * MARGIN)
    for ink in (rows, cols):  # fitted into the margin and centred: all four sides of the square are there
        assert abs((ink[-1] - ink[0] + 1) - span) <= 3, (ink[0], ink[-1])
        assert abs((ink[0] + ink[-1]) / 2 - (SKETCH_SIZE - 1) / 2) <= 1.5
    assert sketch[rows[-1] - 1:rows[-1] + 1, SKETCH_SIZE // 2].max() > 0.9  # the bottom side survived
    assert sketch[SKETCH_SIZE // 2, cols[-1] - 1:cols[-1] + 1].max() > 0.9  # the right side survived
    assert sketch[20:44, 20:44].max() == 0  # nothing inside
    # light ink on a dark ground, RGB, RGBA on transparent paper, uint8: the same sketch
    np.testing.assert_allclose(normalize_sketch(1 - image), sketch, atol=1e-5)
    rgb = np.dstack([image] * 3)
    np.testing.assert_allclose(normalize_sketch((rgb * 255).round().astype(np.uint8)), sketch, atol=0.35)
    rgba = np.dstack([np.zeros_like(image)] * 3 + [1 - image])
    np.testing.assert_allclose(normalize_sketch(rgba), sketch, atol=1e-4)
    assert not normalize_sketch(np.full((40, 40), 0.8, np.float32)).any()  # no ink: empty


def test_stroke_width_is_normalised_from_hairline_to_marker():
    thin_pen = normalize_sketch(anti_aliased_square(512, 100.0, 400.0, 1.0))
    marker = normalize_sketch(anti_aliased_square(512, 100.0, 400.0, 14.0))
    coarse = normalize_sketch(anti_aliased_square(40, 8.0, 32.0, 2.0))  # a small image, upsampled
    for sketch in (thin_pen, marker, coarse):
        assert abs(stroke_width(sketch) - PEN_WIDTH) < 0.8, stroke_width(sketch)

    def near(a, b):  # share of a's line centres with b's ink within a pixel
        padded = np.pad(b, 1)
        grown = np.max([padded[1 + dy:65 + dy, 1 + dx:65 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
        return (grown[a > 0.9] > 0.4).mean()

    assert near(thin_pen, marker) > 0.9 and near(marker, thin_pen) > 0.9 and near(coarse, thin_pen) > 0.8, \
        (near(thin_pen, marker), near(marker, thin_pen), near(coarse, thin_pen))


def test_thinning_leaves_one_pixel_lines():
    bar = np.zeros((2, 30, 30), bool)
    bar[0, 10:17, 3:27] = True  # a 7-px-thick bar
    bar[1, 3:27, 12:15] = True
    skeleton = thin(bar)
    assert (skeleton[0].sum(axis=0)[8:22] == 1).all() and (skeleton[1].sum(axis=1)[6:24] == 1).all()
    assert 15 <= skeleton[0].sum() <= 24


def test_strokes_are_drawn_fitted_into_the_image():
    image = rasterize_strokes([[(0, 0), (10, 0), (10, 10)], [(0, 5)]], 32)
    assert image.sum() > 40  # two sides of a square, drawn without gaps
    assert image[2:30, 2:30].sum() == image.sum()  # a margin all round
    assert image[28, 10] == 1 and image[3, 28] == 1  # y points up: (0, 0) bottom left, (10, 10) top right
    with pytest.raises(ValueError, match="no strokes"):
        rasterize_strokes([], 32)
    normalised = normalize_sketch(rasterize_strokes([[(0, 0), (10, 0), (10, 10)]], 256))
    assert abs(stroke_width(normalised) - PEN_WIDTH) < 0.8


def test_hand_drawn_lines_stay_close_to_the_original_but_vary():
    square = np.zeros((64, 64), np.float32)
    square[12, 12:52] = square[51, 12:52] = square[12:52, 12] = square[12:52, 51] = 1
    rng = np.random.default_rng(3)
    drawn = [hand_drawn(square, rng) for _ in range(20)]
    ys, xs = np.nonzero(normalize_sketch(square) > 0.9)
    spread = []
    for image in normalize_sketches(drawn):  # fitted again, as every sketch is before a search
        dy, dx = np.nonzero(image > 0.5)
        distance = np.sqrt(((dy[:, None] - ys[None]) ** 2 + (dx[:, None] - xs[None]) ** 2).min(axis=1))
        spread.append(np.percentile(distance, [50, 95]))
    spread = np.array(spread)  # distorted in perspective and wobbly, but no strokes out of nowhere
    assert 2 <= np.median(spread[:, 0]) <= 6 and spread[:, 1].max() < 14, spread.T
    widths = [stroke_width(image) for image in drawn]
    assert max(widths) > 1.8 * min(widths)  # the pen varies
    assert len({image.tobytes() for image in drawn}) == 20
    assert np.array_equal(hand_drawn(np.zeros((32, 32), np.float32), rng), np.zeros((32, 32), np.float32))


@pytest.fixture(scope="module")
def library():
    """Normalised line drawings of 5 procedural families, 12 shapes each for the library and 4 held out."""
    shapes, labels = [], []
    for label, family in enumerate(FAMILIES):
        for shape in make_family(family, 16, seed=11, same_topology=False):
            shapes.append(shape)
            labels.append(label)
    drawings = library_drawings(shapes, render_resolution=96)
    labels = np.array(labels)
    held = np.tile(np.arange(16) >= 12, len(FAMILIES))
    return drawings, labels, held


def test_synthetic_sketches_look_like_real_doodles(library):
    from shapespace.quickdraw import find_quickdraw, load_quickdraw

    folder = find_quickdraw()
    if folder is None:
        pytest.fail("Quick, Draw! doodles not found: put them at ../shared/data/quickdraw or set "
                    "DESIGN_SPACE_QUICKDRAW")
    doodles = normalize_sketches(load_quickdraw(folder, "test")[0])
    drawings, _, _ = library
    rng = np.random.default_rng(0)
    outlines = drawings["outlines"].reshape((-1,) + drawings["outlines"].shape[2:])[::7]
    lines = drawings["lines"].reshape((-1,) + drawings["lines"].shape[2:])[::7]
    sketched = normalize_sketches([hand_drawn(image, rng) for image in np.concatenate([outlines, lines])])
    real, clean, synthetic = stroke_statistics(doodles), stroke_statistics(lines), stroke_statistics(sketched)
    print("doodles", real, "\nclean lines", clean, "\nhand-drawn", synthetic)
    assert abs(synthetic["stroke_width"] - real["stroke_width"]) < 0.3  # one pen for all after normalisation
    assert 0.5 < synthetic["ink_fraction"] / real["ink_fraction"] < 1.6
    assert synthetic["ends"] >= 0.5 * real["ends"]  # strokes left open, as people leave them


def test_sketches_of_held_out_shapes_find_their_class(library, tmp_path):
    import torch

    torch.set_num_threads(1)
    drawings, labels, held = library
    lines, outlines = drawings["lines"], drawings["outlines"]
    model = SketchRetrieval.create(SKETCH_SIZE, classes=len(FAMILIES))
    model.fit(lines[~held], labels[~held], outlines[~held], pairs=4800, epochs=12)
    embeddings = model.library(lines[~held])
    rng = np.random.default_rng(5)
    first, precisions = [], []
    for i in np.flatnonzero(held):  # shaky sketches of held-out shapes: their outline and their line drawing
        for source in (outlines, lines):
            sketch = normalize_sketch(hand_drawn(source[i, rng.integers(lines.shape[1])], rng))
            relevant = labels[~held][np.argsort(-model.search(sketch, embeddings, labels[~held]))] == labels[i]
            first.append(relevant[0])
            hits = np.cumsum(relevant)
            precisions.append((hits[relevant] / (np.flatnonzero(relevant) + 1)).mean())
    print(f"right class first {np.mean(first):.3f}, mAP {np.mean(precisions):.3f} over {len(first)} sketches")
    assert np.mean(first) >= 0.9 and np.mean(precisions) >= 0.7, (np.mean(first), np.mean(precisions))
    model.save(tmp_path / "sketch.npz", embeddings, [f"s{i}" for i in range(len(embeddings))], labels[~held],
               FAMILIES)
    loaded, stored, metadata = SketchRetrieval.load(tmp_path / "sketch.npz")
    np.testing.assert_allclose(loaded.search(sketch, stored, metadata["labels"]),
                               model.search(sketch, embeddings, labels[~held]), atol=1e-5)
    assert metadata["info"]["layout"] == 2 and len(metadata["info"]["directions"]) == lines.shape[1]


def test_old_model_files_ask_to_be_trained_again(tmp_path):
    from learning.model_files import save_model_file
    from learning.sketch import SKETCH_KIND

    save_model_file(tmp_path / "old.npz", SKETCH_KIND, {"library": np.zeros((2, 12, 64), np.float32)},
                    info={"resolution": 32, "names": ["a", "b"]})
    with pytest.raises(ValueError, match="older sketch layout.*train it again"):
        SketchRetrieval.load(tmp_path / "old.npz")
    with pytest.raises(ValueError, match="normalised 64-px sketches"):
        SketchRetrieval.create(64, classes=2).search(np.zeros((32, 32), np.float32), np.zeros((2, 8, 128)))


def test_outline_of_a_silhouette():
    mask = np.zeros((10, 10), bool)
    mask[2:8, 3:9] = True
    outline = contour(mask)
    assert outline.sum() == 20 and outline[4, 5] == 0 and outline[2, 5] == 1
    assert np.array_equal(contour(mask[None])[0], outline)
