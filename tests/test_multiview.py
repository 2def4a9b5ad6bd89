"""Multi-view CNN classification and retrieval on held-out procedural shapes, rotated about the up
axis and noisy (pure core + torch)."""

import numpy as np
import pytest

from learning.multiview import MultiViewClassifier, confusion_matrix, retrieval_map
from shapespace.mesh_arrays import MeshArrays
from shapespace.procedural import FAMILIES, make_family
from shapespace.views import render_views

RESOLUTION = 32


def _perturbed(mesh, rng):
    """Turned about the up axis by a random angle, every vertex jittered by 0.3% of the size."""
    angle = rng.uniform(0, 2 * np.pi)
    c, s = np.cos(angle), np.sin(angle)
    vertices = mesh.vertices @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T
    vertices = vertices + rng.normal(scale=0.003 * np.ptp(vertices, axis=0).max(), size=vertices.shape)
    return MeshArrays(mesh.name, vertices, mesh.face_sizes, mesh.corner_vertices)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    train, train_labels, test, test_labels = [], [], [], []
    for label, family in enumerate(FAMILIES):
        for i, shape in enumerate(make_family(family, 40, seed=11, same_topology=False)):
            images = render_views(_perturbed(shape, rng), resolution=RESOLUTION)["shaded"]
            (train if i < 30 else test).append(images)
            (train_labels if i < 30 else test_labels).append(label)
    return (np.array(train, np.float32), np.array(train_labels), np.array(test, np.float32), np.array(test_labels))


def test_multi_view_classifies_and_retrieves_held_out_shapes_and_beats_one_view(data, tmp_path):
    train, train_labels, test, test_labels = data
    results = {}
    for pool in (True, False):
        model = MultiViewClassifier.create(FAMILIES, RESOLUTION, 12, pool_views=pool)
        model.fit(train, train_labels, epochs=15)
        predicted = model.probabilities(test).argmax(axis=1)
        results[pool] = ((predicted == test_labels).mean(), retrieval_map(model.descriptors(test), test_labels), model)
    accuracy, mean_ap, model = results[True]
    assert accuracy >= 0.95 and mean_ap >= 0.85, results
    assert mean_ap > results[False][1] and accuracy >= results[False][0]
    matrix = confusion_matrix(test_labels, model.probabilities(test).argmax(axis=1), len(FAMILIES))
    assert matrix.sum() == len(test_labels) and np.trace(matrix) == round(accuracy * len(test_labels))
    model.save(tmp_path / "mvcnn.npz", collection="Families", metrics={"accuracy": float(accuracy)})
    loaded, metadata, _ = MultiViewClassifier.load(tmp_path / "mvcnn.npz")
    np.testing.assert_allclose(loaded.probabilities(test[:4]), model.probabilities(test[:4]), atol=1e-6)
    assert metadata["attribute_names"] == list(FAMILIES)


def test_retrieval_map_of_a_perfect_and_a_useless_descriptor():
    labels = np.array([0, 0, 1, 1])
    assert retrieval_map(np.eye(4)[[0, 0, 1, 1]] + 1e-3 * np.eye(4), labels) == 1.0
    assert retrieval_map(np.array([[1.0, 0], [0, 1], [1, 0], [0, 1]]), labels) < 0.6
