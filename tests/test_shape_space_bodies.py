"""Shape spaces on real data: MakeHuman bodies (pure core, no Blender)."""

import numpy as np
import pytest

from learning.shape_space import fit_shape_space, load_shape_space, save_shape_space
from shapespace.correspondence import stack_same_topology
from shapespace.makehuman import MakeHumanData, make_bodies


@pytest.fixture(scope="module")
def bodies(makehuman_dir, tmp_path_factory):
    data = MakeHumanData.open(makehuman_dir, cache_path=tmp_path_factory.mktemp("cache") / "targets.npz")
    return make_bodies(data, 40, seed=3)


def test_held_out_reconstruction_error_falls_as_k_grows(bodies):
    shapes = stack_same_topology(bodies)
    train, held_out = shapes[:30], shapes[30:]
    errors = []
    for k in (1, 2, 4, 8, 16):
        space = fit_shape_space(train, k=k)
        rebuilt = space.reconstruct(space.project(held_out)).reshape(held_out.shape)
        errors.append(float(np.sqrt(((rebuilt - held_out) ** 2).sum(axis=2).mean())))
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.2 * errors[0]
    assert errors[-1] < 0.01  # under a centimetre per vertex on bodies never seen


def test_shape_space_file_round_trip(bodies, tmp_path):
    shapes = stack_same_topology(bodies[:10])
    space = fit_shape_space(shapes, k=5)
    save_shape_space(tmp_path / "space.npz", space, bodies[0].face_sizes, bodies[0].corner_vertices,
                     collection="Bodies")
    loaded, sizes, corners, metadata = load_shape_space(tmp_path / "space.npz")
    np.testing.assert_array_equal(loaded.components, space.components)
    np.testing.assert_array_equal(corners, bodies[0].corner_vertices)
    assert metadata["collection"] == "Bodies" and metadata["metrics"]["components"] == 5
