import numpy as np
import pytest

from mesh_files import CUBE_QUADS, CUBE_VERTICES
from shapespace.descriptors import d2_histogram, sample_surface, shape_descriptor
from shapespace.mesh_arrays import MeshArrays


def _box(scale=(1, 1, 1), offset=(0, 0, 0)):
    return MeshArrays.from_faces("box", CUBE_VERTICES * np.float32(scale) + np.float32(offset), CUBE_QUADS)


def test_surface_samples_lie_on_the_surface_and_repeat_by_seed():
    points = sample_surface(_box(), 4000, seed=1)
    on_a_face = np.isclose(points, 0, atol=1e-9) | np.isclose(points, 1, atol=1e-9)
    assert on_a_face.any(axis=1).all() and (points >= -1e-9).all() and (points <= 1 + 1e-9).all()
    np.testing.assert_array_equal(points, sample_surface(_box(), 4000, seed=1))
    # area weighting: a 4×1×1 box has 8/9 of its area on the long sides
    long_box = sample_surface(_box((4, 1, 1)), 9000, seed=2)
    on_ends = np.isclose(long_box[:, 0], 0) | np.isclose(long_box[:, 0], 4)
    assert on_ends.mean() == pytest.approx(2 / 18, abs=0.02)


def test_d2_is_invariant_to_moves_and_scale_but_tells_shapes_apart():
    cube = shape_descriptor(_box())
    moved = shape_descriptor(_box((1, 1, 1), (5, -2, 3)))
    np.testing.assert_allclose(cube[6:], moved[6:], atol=1e-9)
    big = shape_descriptor(_box((3, 3, 3)))
    np.testing.assert_allclose(cube[6:], big[6:], atol=0.03)
    np.testing.assert_allclose(big[:3], [3, 3, 3], atol=1e-6)
    plank = shape_descriptor(_box((5, 1, 0.1)))
    assert np.abs(plank[6:] - cube[6:]).sum() > 0.3
    assert cube[6:].sum() == pytest.approx(1.0)


def test_degenerate_meshes_are_named():
    flat = MeshArrays.from_faces("flat", np.zeros((3, 3), np.float32), [[0, 1, 2]])
    with pytest.raises(ValueError, match="flat: the mesh has no surface area"):
        sample_surface(flat, 10)
    with pytest.raises(ValueError, match="single point"):
        d2_histogram(np.zeros((5, 3)))
