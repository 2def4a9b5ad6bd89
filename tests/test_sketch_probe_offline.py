"""Sketches as people draw them, searched offline like the real-window probe
(`scripts/real_blender_sketch_probe.py`): a library of varied chairs and vases (seed 2, as Create Demo
Collections makes it), sketch search trained the way the worker trains it (small), and hand-made-like
polyline sketches turned into images as Search by Sketch turns annotation strokes into one.

The probe's two bare side curves of a vase, as the real window recorded them (the first point of each
drag lost, a straight chord from where the pen last was), found chairs first: the synthetic training
sketches were always whole outlines with rim and foot, clean of stray strokes. Training sketches now
include outlines with their caps left out and slips of the pen (`learning.sketch.training_sketch`)."""

import numpy as np
import pytest

from learning.sketch import SketchRetrieval, library_drawings, strokes_sketch, with_slip, without_caps
from shapespace.procedural import make_family


def _sides(z, r):
    z, r = np.asarray(z, float), np.asarray(r, float)
    return np.stack([-r, z], 1), np.stack([r, z], 1)


def _ellipse(cx, cy, rx, ry, count=24, start=0.0, stop=2 * np.pi):
    t = np.linspace(start, stop, count)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def probe_sketches() -> list:
    """[(name, polylines (y up), class)]: 7 vases and 6 chairs drawn as people draw them."""
    down = -np.array([300, 380, 460, 540, 600.0])  # the probe's screen points (y down on the screen)
    vase = _sides([10, 9, 7, 4, 1.5, 0], [2.2, 2.0, 3.2, 3.6, 2.6, 2.0])
    bottle = _sides([10, 7, 6, 5, 2, 0], [0.8, 0.8, 2.5, 3.0, 3.0, 2.6])
    cup = _sides([10, 8, 5, 2, 0], [3.0, 2.4, 2.2, 2.6, 1.8])
    tall = _sides([9, 6, 3, 0], [1.6, 1.8, 1.9, 1.7])
    seat = np.array([[0, 5], [4, 5], [5.5, 6.5], [1.5, 6.5], [0, 5.0]])
    back = np.array([[0, 5], [0, 10], [4, 10], [4, 5.0]])
    front = [np.array([[-0.3, 5], [4.3, 5.0]]), np.array([[0, 5], [0, 0.0]]), np.array([[4, 5], [4, 0.0]])]
    return [
        ("vase: the probe's two side curves", [np.stack([[640, 610, 600, 620, 650], down], 1),
                                                np.stack([[760, 790, 800, 780, 750], down], 1)], "vase"),
        ("vase: side curves as the window recorded them", [
            np.array([[610, -380], [600, -460], [620, -540], [650, -600], [610, -380.0]]),
            np.array([[790, -380], [800, -460], [780, -540], [750, -600.0]])], "vase"),
        ("vase: closed outline", [np.concatenate([vase[0], vase[1][::-1], vase[0][:1]])], "vase"),
        ("vase: sides, rim ellipse, rounded foot", [*vase, _ellipse(0, 10, 2.2, 0.5),
                                                    _ellipse(0, 0, 2.0, 0.4, 12, np.pi, 2 * np.pi)], "vase"),
        ("bottle: open at the top", [np.concatenate([bottle[0], bottle[1][::-1]])], "vase"),
        ("vase: U with a foot, no rim", [np.concatenate([cup[0], cup[1][::-1]])], "vase"),
        ("vase: tall sides and a rim", [*tall, _ellipse(0, 9, 1.6, 0.35)], "vase"),
        ("chair: side view as lines", [np.array([[0, 10], [0, 0.0]]), np.array([[0, 5], [4, 5], [4, 0.0]])],
         "chair"),
        ("chair: front view", [back, *front], "chair"),
        ("chair: three-quarter view", [seat, *[np.array([p, p - [0, 5]]) for p in seat[:4]],
                                       np.array([[1.5, 6.5], [1.5, 11.5], [5.5, 11.5], [5.5, 6.5]])], "chair"),
        ("chair: side, reclined back", [np.array([[0, 5], [-1, 11.0]]), np.array([[0, 5], [4.5, 5.0]]),
                                        np.array([[0, 4.5], [4.5, 4.5]]), np.array([[0.3, 4.5], [0.3, 0.0]]),
                                        np.array([[4.2, 4.5], [4.2, 0.0]])], "chair"),
        ("chair: front, slatted back", [back, *[np.array([[x, 5], [x, 10.0]]) for x in (1, 2, 3)], *front],
         "chair"),
        ("office chair: side", [np.array([[0, 5], [0.5, 10.0]]), np.array([[0, 5], [4, 5.0]]),
                                np.array([[2, 5], [2, 1.0]]), np.array([[0, 0], [2, 1], [4, 0.0]])], "chair"),
    ]


def test_caps_left_out_and_slips_of_the_pen():
    outline = np.zeros((64, 64), np.float32)  # a box: rim, foot and two sides
    outline[8, 16:48] = outline[55, 16:48] = outline[8:56, 16] = outline[8:56, 47] = 1
    rng = np.random.default_rng(0)
    sides = [without_caps(outline, rng) for _ in range(20)]
    for image in sides:
        assert image[20:44, [16, 47]].all()  # the sides stay
        assert image[:, 20:44].sum() <= 32  # at most one cap is left
    assert sum(image[8, 20:44].sum() == 0 and image[55, 20:44].sum() == 0 for image in sides) >= 8  # both gone
    slipped = with_slip(outline, rng)
    assert (slipped >= outline).all() and 10 < (slipped - outline > 0.5).sum() < 120  # one straight stroke added


@pytest.fixture(scope="module")
def probe_search():
    import torch

    torch.set_num_threads(1)
    shapes, labels = [], []
    for label, family in enumerate(("chair", "vase")):
        for shape in make_family(family, 10, seed=2, same_topology=False):
            shapes.append(shape)
            labels.append(label)
    labels = np.array(labels)
    drawings = library_drawings(shapes, render_resolution=96)
    model = SketchRetrieval.create(classes=2, seed=0)
    model.fit(drawings["lines"], labels, drawings["outlines"], pairs=2000, epochs=8, seed=0)
    return model, model.library(drawings["lines"]), labels


def test_sketches_people_draw_find_their_class(probe_search):
    """Measured (20 shapes, 2000 training sketches, no doodles, seeds 0–2): 13 of 13 right class first
    (as with the old training sketches); every margin (best right-class minus best other-class
    similarity) positive, 0.07 at the least. The probe's side curves: margin 0.48 / 0.50 / 0.34 clean,
    0.38 / 0.39 / 0.25 as the window recorded them (old training sketches: 0.31 / 0.42 / 0.14). With the
    doodle-trained encoder, as the operator trains (24 shapes, 1500 sketches, 6 epochs), the recorded
    sides went from 2 of 3 seeds right (margins −0.09…0.18) to 3 of 3 (0.25…0.43)."""
    model, library, labels = probe_search
    classes = ("chair", "vase")
    right, missed, margins = 0, [], {}
    for name, strokes, family in probe_sketches():
        similarity = model.search(strokes_sketch(strokes, model.resolution), library, labels)
        own = labels == classes.index(family)
        margins[name] = float(similarity[own].max() - similarity[~own].max())
        if classes[labels[np.argmax(similarity)]] == family:
            right += 1
        else:
            missed.append(name)
    print(f"right class first {right} of 13; missed {missed}; margins {margins}")
    assert right >= 12, missed
    sides = [margins[name] for name, _, _ in probe_sketches()[:2]]
    assert min(sides) > 0.2, sides  # the side curves, clean and as recorded, clearly nearer the vases
