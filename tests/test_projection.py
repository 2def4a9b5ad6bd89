"""The automatic alignment choice and a new shape's projection back in its own frame (pure core)."""

import numpy as np
import pytest
from rotations import turn

from learning.shape_space import choose_alignment, fit_shape_space, project_in_frame
from shapespace.correspondence import procrustes_align, stack_same_topology
from shapespace.procedural import make_family


def _placed(shapes, seed, yaw=15.0, tilt=3.0, shift=0.03):
    """The shapes turned and moved as scans of one thing in different sessions would be."""
    rng = np.random.default_rng(seed)
    size = float(np.linalg.norm(np.ptp(shapes[0], axis=0)))
    out = []
    for shape in shapes.astype(np.float64):
        rotation = turn(rng.uniform(-yaw, yaw), 2) @ turn(rng.uniform(-tilt, tilt), 0)
        out.append(shape @ rotation.T + rng.normal(0, shift * size, 3))
    return np.stack(out)


def _choice(shapes):
    return choose_alignment(shapes, procrustes_align(shapes)[0])


@pytest.fixture(scope="module")
def families():
    return {family: stack_same_topology(make_family(family, 12, seed=2)) for family in ("vase", "chair", "table")}


def test_shapes_made_in_one_frame_are_used_where_they_are(families):
    for family, shapes in families.items():
        choice = _choice(shapes)
        assert choice.alignment == 'NONE', (family, choice)
        assert choice.shared_axes >= 2 and choice.rotation_share < 0.2, (family, choice)
        assert "share one frame" in choice.reason


def test_turned_and_moved_shapes_are_aligned_rigidly(families):
    for family, shapes in families.items():
        for seed, (yaw, tilt, shift) in enumerate(((15, 3, 0.03), (5, 1, 0.01), (180, 10, 0.2), (0, 0, 0.05))):
            choice = _choice(_placed(shapes, seed, yaw, tilt, shift))
            assert choice.alignment == 'RIGID', (family, yaw, tilt, shift, choice)
    # only turned, every box still centred on the origin: caught by the rotation it removes
    chairs = families["chair"].astype(np.float64)
    chairs = chairs - (chairs.min(axis=1, keepdims=True) + chairs.max(axis=1, keepdims=True)) / 2
    turned = np.stack([s @ turn(a, 2).T for s, a in zip(chairs, np.linspace(-40, 40, len(chairs)))])
    turned -= (turned.min(axis=1, keepdims=True) + turned.max(axis=1, keepdims=True)) / 2
    choice = _choice(turned)
    assert choice.alignment == 'RIGID' and choice.rotation_share > 0.5, choice
    assert "turned" in choice.reason or "do not share" in choice.reason


def test_projection_comes_back_in_the_shapes_own_frame(families):
    shapes = families["vase"]
    space = fit_shape_space(shapes, k=len(shapes) - 1)
    rotation = turn(30.0, 2) @ turn(10.0, 0)
    scale, translation = 1.7, np.array([0.4, -1.2, 0.3])
    # a training shape, placed elsewhere: the space's frame is aligned = scale · local · Rᵀ + t
    local = ((shapes[3].astype(np.float64) - translation) @ rotation) / scale
    projection = project_in_frame(space, local, rotation, scale, translation)
    np.testing.assert_allclose(projection.rebuilt, local, atol=2e-4)  # the space is float32
    assert projection.mean_error < 1e-4 and projection.relative_error < 1e-4
    np.testing.assert_allclose(projection.coefficients, space.project(shapes[3][None])[0], atol=1e-4)
    # with fewer components the rebuilt shape differs, by the error it reports, and still sits on the input
    small = fit_shape_space(shapes, k=1)
    rough = project_in_frame(small, local, rotation, scale, translation)
    distances = np.linalg.norm(rough.rebuilt - local, axis=1)
    assert rough.mean_error == pytest.approx(float(distances.mean()), rel=1e-5)
    assert 1e-3 < rough.relative_error < 0.1
    np.testing.assert_allclose(rough.rebuilt.mean(axis=0), local.mean(axis=0), atol=0.02 * np.ptp(local))


def test_projection_refuses_a_shape_of_another_size(families):
    space = fit_shape_space(families["vase"], k=2)
    with pytest.raises(ValueError, match="A shape of 10 vertices cannot be projected into a space of"):
        project_in_frame(space, np.zeros((10, 3)))
