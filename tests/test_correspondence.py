import numpy as np
import pytest

from shapespace.correspondence import procrustes_align, stack_same_topology
from shapespace.mesh_arrays import MeshArrays


def _rotation(angle, axis):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def test_procrustes_undoes_rigid_and_similarity_moves():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((50, 3))
    shapes = []
    for i in range(6):
        r = _rotation(0.3 * i + 0.1, rng.standard_normal(3))
        shapes.append((1.0 + 0.2 * i) * base @ r.T + rng.standard_normal(3) * 5)
    shapes[0] = base
    rigid, *_ = procrustes_align(np.array(shapes), scaling=False)
    similar, rotations, scales, translations = procrustes_align(np.array(shapes), scaling=True)
    for i in range(6):
        np.testing.assert_allclose(similar[i], base, atol=1e-4)
        np.testing.assert_allclose(np.linalg.det(rotations[i]), 1.0, atol=1e-9)
    assert np.abs(rigid[5] - base).max() > 0.5  # size differences survive a rigid alignment
    np.testing.assert_allclose(rigid[5] - rigid[5].mean(0), (base - base.mean(0)) * 2.0, atol=1e-4)


def test_stack_names_the_first_mismatch():
    tri = MeshArrays.from_faces("a", np.eye(3), [[0, 1, 2]])
    quad = MeshArrays.from_faces("b", np.vstack([np.eye(3), [1, 1, 1]]), [[0, 1, 2, 3]])
    swapped = MeshArrays.from_faces("c", np.eye(3), [[0, 2, 1]])
    assert stack_same_topology([tri, tri]).shape == (2, 3, 3)
    with pytest.raises(ValueError, match="'b' has 4 vertices but 'a' has 3"):
        stack_same_topology([tri, quad])
    with pytest.raises(ValueError, match="'c' has as many vertices as 'a' but its faces connect them differently"):
        stack_same_topology([tri, swapped])
