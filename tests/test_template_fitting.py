"""Template fitting (Allen et al. 2003) on shapes of another topology (pure core, no Blender)."""

import numpy as np
import pytest

from shapespace.mesh_arrays import MeshArrays
from shapespace.procedural import make_family
from shapespace.template_fitting import (FitSettings, fit_template, nearest_points, symmetric_distance,
                                         unique_edges)


@pytest.fixture(scope="module")
def vase_template():
    return make_family("vase", 1, seed=0, same_topology=True)[0]


def test_nearest_points_match_brute_force():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(5000, 3))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    queries = np.concatenate([points[:500] + 0.01 * rng.normal(size=(500, 3)), 3 * rng.normal(size=(200, 3))])
    index, distance = nearest_points(queries, points)
    truth = np.linalg.norm(queries[:, None] - points[None], axis=2)
    np.testing.assert_allclose(distance, truth.min(axis=1), rtol=1e-9, atol=1e-12)


def test_varied_topology_vases_fit_the_template_within_one_percent(vase_template):
    targets = make_family("vase", 5, seed=5, same_topology=False)
    assert len({len(t.vertices) for t in targets} | {len(vase_template.vertices)}) > 2  # really other meshes
    fits = [fit_template(vase_template, target) for target in targets]
    ratios = np.array([fit.residual_ratio for fit in fits])
    assert ratios.mean() < 0.01, ratios
    for fit, target in zip(fits, targets):
        assert fit.vertices.shape == vase_template.vertices.shape and np.isfinite(fit.vertices).all()
        # the residual reported is the real distance between the fitted template and the target
        check = symmetric_distance(fit.vertices, vase_template.triangles, target.vertices, target.triangles, 8000, 3)
        assert abs(check - fit.residual) < 0.25 * fit.residual + 1e-4
        # it fits where the target is, not where the template started
        assert abs(fit.vertices[:, 2].max() - target.vertices[:, 2].max()) < 0.02 * fit.diagonal


def test_the_fit_beats_the_template_stretched_onto_the_target(vase_template):
    target = make_family("vase", 1, seed=11, same_topology=False)[0]
    stiff = fit_template(vase_template, target, FitSettings(stiffness=(1e6,), iterations_per_stage=1))
    fitted = fit_template(vase_template, target)
    assert fitted.residual < 0.5 * stiff.residual


def test_markers_pull_template_vertices_onto_landmarks():
    # a flat grid pulled at one corner: the marker wins over the (absent) surface data
    n = 11
    u, v = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n), indexing="ij")
    grid = np.stack([u.ravel(), v.ravel(), np.zeros(n * n)], axis=1)
    quads = np.array([[i * n + j, (i + 1) * n + j, (i + 1) * n + j + 1, i * n + j + 1]
                      for i in range(n - 1) for j in range(n - 1)])
    template = MeshArrays.from_faces("grid", grid, quads)
    target = MeshArrays.from_faces("target", grid * [1.0, 1.0, 0.0], quads)
    goal = np.array([[1.0, 1.0, 0.1]])
    fit = fit_template(template, target, FitSettings(samples=4000, max_distance=0.01),
                       template_markers=[n * n - 1], target_markers=goal)
    assert np.linalg.norm(fit.vertices[n * n - 1] - goal[0]) < 0.02


def test_unique_edges_of_a_quad_grid():
    quad = MeshArrays.from_faces("q", np.zeros((6, 3)), [[0, 1, 4, 3], [1, 2, 5, 4]])
    a, b = unique_edges(quad)
    assert len(a) == 7 and (a < b).all()


def test_a_target_without_surface_is_refused_by_name(vase_template):
    flat = MeshArrays.from_faces("broken_vase", np.zeros((3, 3)), [[0, 1, 2]])
    with pytest.raises(ValueError, match="'broken_vase'"):
        fit_template(vase_template, flat)
