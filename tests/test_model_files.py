"""Safe model files: round trip, verification, and every kind of bad file refused with a clear
message, including hostile pickles that must never run."""

import io
import json
import pickle
import zipfile
from datetime import datetime

import numpy as np
import pytest

from learning import model_files
from learning.model_files import (FORMAT_VERSION, ModelFileError, load_model_file, read_model_info,
                                  save_model_file, write_archive)

LAYOUT = {"inputs": ["height", "width", "leg_count"], "outputs": ["comfort"]}


class MarkerPayload:
    """Unpickling this creates a file: the proof that a pickle ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def arrays():
    rng = np.random.default_rng(0)
    return {"layers.0.weight": rng.normal(size=(4, 3)).astype(np.float32),
            "layers.0.bias": np.zeros(4, np.float32), "x_mean": rng.normal(size=3),
            "counts": np.arange(5, dtype=np.int64), "mask": np.array([True, False]),
            "raw": np.arange(4, dtype=np.uint8)}


def save(path, **kwargs):
    options = dict(collection="Chairs", attribute_names=["height", "width", "leg_count"], feature_layout=LAYOUT,
                   metrics={"val_rmse": 0.25, "n_train": 40, "np_value": np.float32(0.5), "missing": float("nan")},
                   info={"hidden": (8, 8)})
    options.update(kwargs)
    return save_model_file(path, "mlp_regressor", arrays(), **options)


def rewrite(path, change):
    """Rewrite a model file member by member (change(name, array) -> array), keeping the stored hash."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(path, "w") as archive:
        for filename, data in members.items():
            a = np.lib.format.read_array(io.BytesIO(data))
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, change(filename[:-4], a))
            archive.writestr(filename, buffer.getvalue())


def test_round_trip_keeps_arrays_and_metadata(tmp_path):
    path = tmp_path / "model.npz"
    written = save(path)
    loaded = load_model_file(path, expected_kind="mlp_regressor", expected_layout=LAYOUT)
    original = arrays()
    assert sorted(loaded.arrays) == sorted(original)
    for name, a in original.items():
        assert loaded.arrays[name].dtype == a.dtype and np.array_equal(loaded.arrays[name], a)
    m = loaded.metadata
    assert m["format_version"] == FORMAT_VERSION and m["kind"] == "mlp_regressor" == loaded.kind
    assert m["collection"] == "Chairs" and m["attribute_names"] == ["height", "width", "leg_count"]
    assert loaded.feature_layout == LAYOUT and m["info"] == {"hidden": [8, 8]}
    assert loaded.metrics == {"val_rmse": 0.25, "n_train": 40, "np_value": 0.5, "missing": None}
    assert datetime.fromisoformat(m["created"]).tzinfo is not None
    assert loaded.content_hash == written.content_hash and len(loaded.content_hash) == 64
    info = read_model_info(path)
    assert info["content_hash"] == written.content_hash and info["arrays"]["layers.0.weight"]["shape"] == [4, 3]


def test_saving_is_atomic_and_refuses_what_it_cannot_store(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    save(path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="only numbers"):
        save_model_file(path, "mlp_regressor", {"names": np.array(["a", "b"], dtype=object)})
    with pytest.raises(ValueError, match="cannot name an array"):
        save_model_file(path, "mlp_regressor", {"__metadata__": np.zeros(1)})

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(model_files.np.lib.format, "write_array", crash)
    with pytest.raises(OSError, match="disk full"):
        save(path)
    assert path.read_bytes() == before  # the old model is intact
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # and no temporary file is left


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist") as error:
        load_model_file(tmp_path / "nope.npz")
    assert "nope.npz" in str(error.value) and error.value.path.endswith("nope.npz")


def test_truncated_file(tmp_path):
    path = tmp_path / "model.npz"
    save(path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 100):
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match="truncated or corrupt") as error:
            load_model_file(path)
        assert "model.npz" in str(error.value) and "again" in str(error.value)


def test_flipped_byte_is_caught(tmp_path):
    path = tmp_path / "model.npz"
    save(path)
    data = bytearray(path.read_bytes())
    start = data.find(b"\x93NUMPY") + 128 + 5  # inside the first array's data (after its 128-byte header)
    data[start] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="corrupt|hash"):
        load_model_file(path)


def test_changed_array_or_metadata_fails_the_hash(tmp_path):
    path = tmp_path / "model.npz"
    save(path)
    rewrite(path, lambda name, a: a + 1 if name == "x_mean" else a)
    with pytest.raises(ModelFileError, match="content hash does not match"):
        load_model_file(path)
    save(path)

    def rename_collection(name, a):
        if name != "__metadata__":
            return a
        metadata = json.loads(a.tobytes())
        metadata["collection"] = "Tables"
        return np.frombuffer(json.dumps(metadata).encode(), np.uint8)

    rewrite(path, rename_collection)
    with pytest.raises(ModelFileError, match="content hash does not match"):
        load_model_file(path)


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"hello, this is text", "not an .npz"),
    ("npy", "single .npy array"),
    ("plain_npz", "no metadata"),
    ("dataset", "not a Design Space model file"),
])
def test_files_that_are_not_model_files(tmp_path, content, words):
    path = tmp_path / "thing.npz"
    if content == "npy":
        np.save(path.with_suffix(".npy"), np.zeros(3))
        path.with_suffix(".npy").rename(path)
    elif content == "plain_npz":
        with open(path, "wb") as handle:
            np.savez(handle, weights=np.zeros(3))
    elif content == "dataset":
        write_archive(path, {"features": np.zeros((2, 2))}, {"format": "design_space.dataset", "format_version": 1})
    else:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match=words):
        load_model_file(path)


@pytest.mark.parametrize("version, words", [(FORMAT_VERSION + 1, "newer.*Update"), (0, "no longer read"),
                                            ("1", "no format version")])
def test_wrong_format_version(tmp_path, version, words):
    path = tmp_path / "model.npz"
    write_archive(path, {"w": np.zeros(2)}, {"format": "design_space.model", "format_version": version,
                                             "kind": "mlp_regressor"})
    with pytest.raises(ModelFileError, match=words):
        load_model_file(path)


def test_unknown_or_unexpected_kind(tmp_path):
    path = tmp_path / "model.npz"
    save(path)
    with pytest.raises(ModelFileError, match="unknown.*Update Design Space"):
        load_model_file(path, known_kinds={"ridge_regression"})
    with pytest.raises(ModelFileError, match="'ridge_regression' model is needed"):
        load_model_file(path, expected_kind="ridge_regression")


def test_a_model_for_another_feature_layout(tmp_path):
    path = tmp_path / "model.npz"
    save(path)
    expected = {"inputs": ["height", "depth", "leg_count"], "outputs": ["comfort"]}
    with pytest.raises(ModelFileError) as error:
        load_model_file(path, expected_layout=expected)
    message = str(error.value)
    assert "another feature layout" in message and "lacks depth" in message and "adds width" in message
    assert "model.npz" in message and "Train a model" in message
    reordered = {"inputs": ["width", "height", "leg_count"], "outputs": ["comfort"]}
    with pytest.raises(ModelFileError, match="another order"):
        load_model_file(path, expected_layout=reordered)


# -- hostile files -----------------------------------------------------------------------------


def object_array_model(path, marker):
    """A file that looks like a model (metadata, hash) with a member that is a pickled object array."""
    metadata = json.dumps({"format": "design_space.model", "format_version": 1, "kind": "mlp_regressor"}).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, a, allow in (("weights", np.array([MarkerPayload(marker)], dtype=object), True),
                               ("__metadata__", np.frombuffer(metadata, np.uint8), False),
                               ("__hash__", np.frombuffer(b"0" * 64, np.uint8), False)):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, a, allow_pickle=allow)
            archive.writestr(name + ".npy", buffer.getvalue())


def test_the_pickle_payload_is_live(tmp_path):
    """Control: the payload really does create its marker when something unpickles it."""
    path, marker = tmp_path / "control.npz", tmp_path / "control-marker"
    object_array_model(path, marker)
    np.load(path, allow_pickle=True)["weights"]
    assert marker.exists()


def test_pickled_object_array_is_never_executed(tmp_path):
    path, marker = tmp_path / "hostile.npz", tmp_path / "marker"
    object_array_model(path, marker)
    with pytest.raises(ModelFileError, match="pickled Python objects"):
        load_model_file(path)
    with pytest.raises(ModelFileError):
        read_model_info(path)
    assert not marker.exists()


def test_torch_save_file_renamed_to_npz_is_never_executed(tmp_path):
    torch = pytest.importorskip("torch")
    path, marker = tmp_path / "hostile.npz", tmp_path / "marker"
    torch.save({"weights": torch.zeros(3), "payload": MarkerPayload(marker)}, path)
    assert zipfile.is_zipfile(path)  # torch.save writes a zip holding data.pkl
    with pytest.raises(ModelFileError, match="not a numpy array"):
        load_model_file(path)
    assert not marker.exists()


def test_plain_pickle_renamed_to_npz_is_never_executed(tmp_path):
    path, marker = tmp_path / "hostile.npz", tmp_path / "marker"
    path.write_bytes(pickle.dumps({"weights": MarkerPayload(marker)}, protocol=4))
    with pytest.raises(ModelFileError, match="Python pickle.*never unpickles"):
        load_model_file(path)
    assert not marker.exists()
