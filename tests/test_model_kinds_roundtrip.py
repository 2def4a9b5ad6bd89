"""Every volumetric model kind the extension writes loads back: the per-voxel logistic baseline, the
conditional VAE and the implicit signed-distance decoder are saved, read back by the one pure loader
(learning.volumetric.load_volumetric) with the same answers, and listed by Load Model File in Blender."""

import numpy as np
import pytest

from learning.volumetric import (ALL_VOLUMETRIC_KINDS, IMPLICIT_KIND, LOGISTIC_KIND, VAE_KIND, Conditions,
                                 VoxelLogistic, VoxelVAE, load_volumetric)

CLASSES = ["chair", "table"]


def _conditions():
    # The tables have no seat height: their class range holds NaN, as the extension's real models do.
    labels = np.array([0, 0, 1, 1])
    attributes = np.array([[0.45, 0.9], [0.5, 1.0], [np.nan, 0.7], [np.nan, 0.8]])
    return Conditions.fit(labels, attributes, CLASSES, ["seat_height", "height"])


def _saved_models(folder):
    """(kind, path, model) for a small untrained model of each volumetric kind, saved into `folder`.
    Untrained is enough: what is checked is that every array comes back and gives the same answers."""
    import torch

    from learning.implicit_decoder import ImplicitSDF
    from shapespace.signed_distance import cube_frame

    torch.set_num_threads(1)
    conditions = _conditions()
    rng = np.random.default_rng(0)
    logistic = VoxelLogistic.create(conditions, 8, seed=1)
    vae = VoxelVAE.create(conditions, 16, latent=4, seed=2)
    vae.prior_mean = rng.normal(size=(2, 4))
    vae.prior_chol = np.repeat(np.eye(4)[None], 2, axis=0) * 0.5
    implicit = ImplicitSDF.create(conditions, cube_frame(1.0, 8), truncation=0.3, latent=4, seed=3, channels=[8, 8],
                                  hidden=16, features=4)
    implicit.net.set_basis(rng.uniform(-1, 1, 8 ** 3), 0.3 * rng.normal(size=(4, 8 ** 3)))  # a linear space
    with torch.no_grad():  # and a residual that is not zero, so that every layer is checked
        implicit.net.head[-1].weight.normal_(0, 0.1)
    implicit.codes = rng.normal(size=(4, 4)).astype(np.float32)
    implicit.code_labels = np.array([0, 0, 1, 1])
    implicit.pieces = np.array([1, 1])
    out = []
    for model in (logistic, vae, implicit):
        path = folder / f"{model.kind}.npz"
        model.save(path, collection="Design Space Demo", metrics={"val_iou": 0.5})
        out.append((model.kind, path, model))
    return out


def _answers(model, conditions):
    """What each kind computes from a condition vector: occupancy, decoded logits, signed distances."""
    vectors = conditions.vectors(np.array([0, 1]), np.array([[0.47, 0.95], [np.nan, 0.75]]))
    if model.kind == LOGISTIC_KIND:
        return model.probabilities(vectors)
    if model.kind == VAE_KIND:
        return model._decode(np.asarray(model.prior_mean, np.float32), vectors)
    points = np.random.default_rng(4).uniform(-1, 1, size=(50, 3))
    return model.decode_points(model.codes[:2], vectors, points, band=None)


def test_every_volumetric_kind_saves_and_loads_back(tmp_path):
    from learning.implicit_decoder import IMPLICIT_KIND as DECODER_KIND

    assert IMPLICIT_KIND == DECODER_KIND  # the name repeated in learning.volumetric is the decoder's own
    saved = _saved_models(tmp_path)
    assert [kind for kind, _, _ in saved] == list(ALL_VOLUMETRIC_KINDS)
    for kind, path, model in saved:
        loaded, metadata = load_volumetric(path)
        assert metadata["kind"] == kind and type(loaded) is type(model), kind
        assert loaded.conditions.classes == CLASSES and metadata["collection"] == "Design Space Demo"
        expected, got = _answers(model, model.conditions), _answers(loaded, loaded.conditions)
        assert np.abs(expected).sum() > 0  # something was computed
        np.testing.assert_allclose(got, expected, atol=1e-6, err_msg=kind)
    with pytest.raises(Exception, match="'shape_space' is unknown"):  # another kind is refused by name
        from learning.model_files import save_model_file

        save_model_file(tmp_path / "space.npz", "shape_space", {"mean": np.zeros(3)})
        load_volumetric(tmp_path / "space.npz")


def test_load_model_file_lists_every_volumetric_kind(bpy, addon, tmp_path):
    # Load Model File (operators/load_model.py) accepts each kind, adds it to the model list, and the
    # Volumes operators then load it as their active model.
    support = addon.operators.volumes.volumetric_support
    names = addon.operators.load_model.MODEL_KIND_NAMES
    assert set(ALL_VOLUMETRIC_KINDS) <= set(names)
    settings = bpy.context.scene.design_space
    for kind, path, model in _saved_models(tmp_path):
        assert bpy.ops.design_space.load_model(filepath=str(path)) == {'FINISHED'}, kind
        entry = settings.models[-1]
        assert entry.kind == kind and entry.collection == "Design Space Demo"
        settings.active_model_index = len(settings.models) - 1
        _, loaded, metadata = support.active_volumetric(bpy.context)
        assert type(loaded).__name__ == type(model).__name__ and metadata["kind"] == kind
    assert len(settings.models) == len(ALL_VOLUMETRIC_KINDS)
