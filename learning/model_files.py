"""Safe model files: a zip of `.npy` arrays (an `.npz`) read with pickling refused, plus JSON
metadata and a SHA-256 content hash stored inside the same file.

Layout of a file::

    <name>.npy ...          the model's arrays (numbers and booleans only)
    __metadata__.npy        uint8 array: UTF-8 JSON (format, format_version, kind, collection,
                            attribute_names, feature_layout, metrics, created, info)
    __hash__.npy            uint8 array: hex SHA-256 over every array's name, dtype, shape and
                            bytes (sorted by name) and the metadata bytes

Nothing in a file is ever unpickled: every member must be a `.npy` array, read with
`allow_pickle=False`, of a numeric or boolean dtype. Files are written to a temporary file in the
same folder and moved into place, so a failed save never leaves a half-written model.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

MODEL_FORMAT = "design_space.model"
FORMAT_VERSION = 1
METADATA_MEMBER = "__metadata__"
HASH_MEMBER = "__hash__"
_ALLOWED_KINDS = "biuf"  # bool, signed and unsigned integers, floats
_ZIP_MAGIC = b"PK\x03\x04"
# The most all arrays of a file may declare together, per kind of file: far above what Design
# Space writes (a large multi-view network is ~50 MB; a job of 1,000 meshes ~1 GB), far below
# what would exhaust a machine's memory.
SIZE_LIMITS = {"model file": 2 << 30, "dataset file": 8 << 30, "job file": 8 << 30}
_MAX_MEMBERS = 100_000


class ModelFileError(ValueError):
    """A model (or dataset) file that cannot be used; the message names the file and the fix."""

    def __init__(self, path, problem: str, fix: str = ""):
        self.path = str(path)
        self.problem = problem
        self.fix = fix
        super().__init__(f"'{path}': {problem}" + (f". {fix}" if fix else ""))


# --------------------------------------------------------------------------------------------
# The archive layer (shared with datasets.py)
# --------------------------------------------------------------------------------------------


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} cannot be stored in model metadata")


def to_json_bytes(metadata: dict) -> bytes:
    return json.dumps(metadata, sort_keys=True, default=_json_default, ensure_ascii=False).encode("utf-8")


def normalize_json(value):
    """The value as it reads back from JSON (tuples → lists, numpy scalars → numbers)."""
    return json.loads(json.dumps(value, sort_keys=True, default=_json_default))


def content_hash(arrays: dict, metadata_bytes: bytes) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        header = f"{name}\0{a.dtype.str}\0{a.shape}\0".encode("utf-8")
        digest.update(len(header).to_bytes(8, "little") + header)
        digest.update(a.nbytes.to_bytes(8, "little"))
        digest.update(a.tobytes())
    digest.update(b"\0metadata\0" + metadata_bytes)
    return digest.hexdigest()


def _check_array_name(name) -> None:
    if not isinstance(name, str) or not name or name.startswith("__") or name.startswith("/") \
            or ".." in name.split("/") or "\\" in name or name.endswith(".npy"):
        raise ValueError(f"{name!r} cannot name an array in a model file: use a plain name such as 'layer.0.weight' "
                         "(not empty, not starting with '__' or '/')")


def _checked_arrays(arrays: dict) -> dict:
    out = {}
    for name, value in arrays.items():
        _check_array_name(name)
        if hasattr(value, "detach"):  # a torch tensor
            value = value.detach().cpu().numpy()
        a = np.asarray(value)
        if a.dtype.kind not in _ALLOWED_KINDS:
            raise ValueError(f"Array {name!r} has dtype {a.dtype}; model files hold only numbers and booleans "
                             "(put names and text into the metadata)")
        out[name] = np.ascontiguousarray(a)
    return out


def atomic_write(path, write) -> Path:
    """Call write(binary file) on a temporary file beside `path`, then move it into place, so
    `path` is either the old file or the complete new one, never half-written."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"Cannot write '{path}': the folder '{parent}' does not exist; create it first")
    temporary = parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_archive(path, arrays: dict, metadata: dict) -> str:
    """Write arrays + metadata atomically; return the content hash."""
    path = Path(path)
    arrays = _checked_arrays(arrays)
    metadata_bytes = to_json_bytes(metadata)
    digest = content_hash(arrays, metadata_bytes)
    members = dict(arrays)
    members[METADATA_MEMBER] = np.frombuffer(metadata_bytes, dtype=np.uint8)
    members[HASH_MEMBER] = np.frombuffer(digest.encode("ascii"), dtype=np.uint8)

    def write(handle):
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, a in members.items():
                with archive.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, a, allow_pickle=False)

    atomic_write(path, write)
    return digest


def _size_text(count: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} byte" + ("" if count == 1 else "s")


def _checked_members(path, infos, size: int, limit: int, what: str, error, fix, foreign):
    """The archive's members, each checked from the zip's directory alone (no byte of data read):
    a `.npy` name, stored uncompressed (the writer never compresses, so a compressed member can
    only be damage or a decompression bomb), and a declared size that fits inside the file and,
    all members together, under `limit`."""
    if len(infos) > _MAX_MEMBERS:
        raise error(path, f"it declares {len(infos)} members, more than any Design Space {what} holds "
                    f"({_MAX_MEMBERS}); nothing was loaded", foreign)
    declared = 0
    for info in infos:
        if not info.filename.endswith(".npy"):
            raise error(path, f"it holds '{info.filename}', which is not a numpy array (a torch.save or pickle "
                        f"archive?), so it is not a Design Space {what}; nothing was loaded", foreign)
        name = info.filename[:-4]
        if info.compress_type != zipfile.ZIP_STORED:
            raise error(path, f"array '{name}' is compressed (zip method {info.compress_type}, "
                        f"{_size_text(info.compress_size)} unpacking to {_size_text(info.file_size)}); Design Space "
                        "writes every array uncompressed, so it was refused without being unpacked", foreign)
        end = info.header_offset + 30 + len(info.filename.encode("utf-8")) + info.file_size
        if info.file_size != info.compress_size or end > size:
            raise error(path, f"array '{name}' declares {_size_text(info.file_size)} but the {what} holds only "
                        f"{_size_text(size)} (truncated or forged); nothing was loaded", fix if end > size else foreign)
        declared += info.file_size
    if declared > size:
        raise error(path, f"its arrays declare {_size_text(declared)} together, more than the "
                    f"{_size_text(size)} file holds (overlapping members); nothing was loaded", foreign)
    if declared > limit:
        raise error(path, f"its arrays declare {_size_text(declared)}, more than a {what} may hold "
                    f"({_size_text(limit)}); nothing was loaded", foreign)
    return infos


def _read_member(member, info, name: str, path, what: str, error, fix, foreign) -> np.ndarray:
    """One `.npy` member: its header parsed and checked (dtype, shape × item size = the stored
    size) before its data is read into an array of exactly that size."""
    from . import shapespace

    try:
        shape, fortran_order, dtype = shapespace("dataset_files").read_npy_header(member)
    except ValueError as exc:
        raise error(path, f"array '{name}' has a corrupt header ({exc})", fix) from None
    if dtype.hasobject:
        raise error(path, f"array '{name}' holds pickled Python objects; it was refused without being "
                    "loaded (Design Space files hold only numbers)", foreign)
    if dtype.kind not in _ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise error(path, f"array '{name}' has dtype {dtype}, which Design Space files never hold", foreign)
    count = math.prod(shape)
    header_bytes = member.tell()
    if header_bytes + count * dtype.itemsize != info.file_size:
        raise error(path, f"array '{name}' declares shape {tuple(shape)} of {dtype} "
                    f"({_size_text(count * dtype.itemsize)}) but {_size_text(info.file_size - header_bytes)} "
                    "are stored (truncated or forged); nothing was loaded", foreign)
    flat = np.empty(count, dtype=dtype)
    if count and member.readinto(memoryview(flat.view(np.uint8))) != flat.nbytes:
        raise error(path, f"the {what} is truncated (array '{name}' ends early)", fix)
    return flat.reshape(shape[::-1]).T if fortran_order else flat.reshape(shape)


def read_archive(path, what: str = "model file", error=ModelFileError, fix: str = "save or export it again",
                 max_bytes: int | None = None):
    """(arrays, metadata dict, content hash) of a file written by `write_archive`, verified.

    Every failure raises `error(path, problem, fix)`; no member is ever unpickled, and every
    member's size, dtype and shape are checked against the file's size and `max_bytes` (by
    default the limit of `what` in SIZE_LIMITS) before a byte of its data is read.
    """
    path = Path(path)
    foreign = f"Choose a {what} that Design Space saved; this one was not written by it"
    if not path.exists():
        raise error(path, f"the {what} does not exist", "Check the path (a relative path is relative to the .blend "
                    "file or the current folder) or " + fix)
    if not path.is_file():
        raise error(path, f"this is a folder, not a {what}", "Choose the .npz file itself")
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
    if size == 0:
        raise error(path, f"the {what} is empty (0 bytes), probably an interrupted save", fix)
    if not head.startswith(_ZIP_MAGIC):
        if head[:1] == b"\x80":
            kind = "a Python pickle"
        elif head.startswith(b"\x93NUMPY"):
            kind = "a single .npy array"
        else:
            kind = "not an .npz (zip) archive"
        raise error(path, f"this is {kind}, not a Design Space {what}; it was not loaded "
                    "(Design Space never unpickles files)", foreign)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise error(path, f"the {what} is truncated or corrupt ({exc})", fix) from None
    arrays = {}
    limit = SIZE_LIMITS.get(what, SIZE_LIMITS["model file"]) if max_bytes is None else int(max_bytes)
    with archive:
        infos = _checked_members(path, archive.infolist(), size, limit, what, error, fix, foreign)
        names = {info.filename[:-4] for info in infos}
        if METADATA_MEMBER not in names or HASH_MEMBER not in names:
            raise error(path, f"it is an .npz archive but not a Design Space {what} (no metadata)", foreign)
        for info in infos:
            name = info.filename[:-4]
            try:
                with archive.open(info) as member:
                    arrays[name] = _read_member(member, info, name, path, what, error, fix, foreign)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, MemoryError) as exc:
                raise error(path, f"the {what} is truncated or corrupt (array '{name}': {exc})", fix) from None
    metadata_array = arrays.pop(METADATA_MEMBER)
    hash_array = arrays.pop(HASH_MEMBER)
    if metadata_array.dtype != np.uint8 or hash_array.dtype != np.uint8:
        raise error(path, "its metadata is not stored as bytes", fix)
    metadata_bytes = metadata_array.tobytes()
    try:
        metadata = json.loads(metadata_bytes.decode("utf-8"))
        stored_hash = hash_array.tobytes().decode("ascii")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(path, f"its metadata is not valid JSON ({exc})", fix) from None
    if not isinstance(metadata, dict):
        raise error(path, "its metadata is not a JSON object", fix)
    actual = content_hash(arrays, metadata_bytes)
    if actual != stored_hash:
        raise error(path, "the content hash does not match (the file was changed or damaged after it was saved: "
                    f"stored {stored_hash[:12]}…, computed {actual[:12]}…)", fix)
    return arrays, metadata, actual


# --------------------------------------------------------------------------------------------
# Model files
# --------------------------------------------------------------------------------------------


@dataclass
class ModelFile:
    path: Path
    kind: str
    arrays: dict
    metadata: dict = field(default_factory=dict)
    content_hash: str = ""

    @property
    def feature_layout(self):
        return self.metadata.get("feature_layout")

    @property
    def metrics(self) -> dict:
        return self.metadata.get("metrics", {})


def _clean_metrics(metrics: dict | None) -> dict:
    out = {}
    for key, value in (metrics or {}).items():
        if isinstance(value, (np.generic,)):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None  # JSON has no NaN
        out[str(key)] = value
    return out


def save_model_file(path, kind: str, arrays: dict, *, collection: str = "", attribute_names=(),
                    feature_layout=None, metrics: dict | None = None, info: dict | None = None) -> ModelFile:
    """Write a model file atomically and return what was written (with its content hash)."""
    if not kind or not isinstance(kind, str):
        raise ValueError("A model file needs a kind (e.g. 'mlp_regressor')")
    metadata = {
        "format": MODEL_FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "collection": str(collection or ""),
        "attribute_names": [str(a) for a in attribute_names],
        "feature_layout": normalize_json(feature_layout),
        "metrics": _clean_metrics(metrics),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "info": normalize_json(info or {}),
        "array_names": sorted(arrays),
    }
    digest = write_archive(path, arrays, metadata)
    return ModelFile(Path(path), kind, _checked_arrays(arrays), normalize_json(metadata), digest)


def layout_difference(expected, found) -> str | None:
    """None if the layouts agree, else a short description of the first differences."""
    expected, found = normalize_json(expected), normalize_json(found)
    if expected == found:
        return None
    if isinstance(expected, dict) and isinstance(found, dict):
        notes = []
        for key in sorted(set(expected) | set(found)):
            if key not in found:
                notes.append(f"'{key}' is missing from the file")
            elif key not in expected:
                notes.append(f"the file has '{key}', which is not expected")
            elif expected[key] != found[key]:
                e, f = expected[key], found[key]
                if isinstance(e, list) and isinstance(f, list):
                    missing = [x for x in e if x not in f]
                    extra = [x for x in f if x not in e]
                    if missing or extra:
                        bits = []
                        if missing:
                            bits.append(f"lacks {', '.join(map(str, missing[:6]))}")
                        if extra:
                            bits.append(f"adds {', '.join(map(str, extra[:6]))}")
                        notes.append(f"'{key}' {' and '.join(bits)}")
                    else:
                        notes.append(f"'{key}' is in another order ({f[:6]} instead of {e[:6]})")
                else:
                    notes.append(f"'{key}' is {f!r} instead of {e!r}")
        return "; ".join(notes)
    return f"the file has {found!r} instead of {expected!r}"


def _check_metadata(path, metadata: dict) -> str:
    fix = "Train the model again and save it with this version of Design Space"
    if metadata.get("format") != MODEL_FORMAT:
        raise ModelFileError(path, f"this is not a Design Space model file (format {metadata.get('format')!r})",
                             "Choose a model file saved by Design Space")
    version = metadata.get("format_version")
    if not isinstance(version, int):
        raise ModelFileError(path, "the model file has no format version", fix)
    if version > FORMAT_VERSION:
        raise ModelFileError(path, f"the model file has format version {version}, newer than this Design Space "
                             f"reads ({FORMAT_VERSION})", "Update the Design Space extension")
    if version < 1:
        raise ModelFileError(path, f"the model file has format version {version}, which is no longer read", fix)
    kind = metadata.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ModelFileError(path, "the model file does not say which kind of model it holds", fix)
    return kind


def load_model_file(path, *, expected_kind: str | None = None, expected_layout=None,
                    known_kinds=None) -> ModelFile:
    """Read and verify a model file; raise ModelFileError for anything unusable."""
    arrays, metadata, digest = read_archive(path, "model file", ModelFileError,
                                            "Save or train the model again")
    kind = _check_metadata(path, metadata)
    if known_kinds is not None and kind not in known_kinds:
        raise ModelFileError(path, f"the model kind {kind!r} is unknown to this Design Space (it knows "
                             f"{', '.join(sorted(known_kinds))})", "Update Design Space or choose another model file")
    if expected_kind is not None and kind != expected_kind:
        raise ModelFileError(path, f"this is a {kind!r} model where a {expected_kind!r} model is needed",
                             "Choose a model of the right kind")
    if expected_layout is not None:
        difference = layout_difference(expected_layout, metadata.get("feature_layout"))
        if difference:
            raise ModelFileError(path, f"the model was trained on another feature layout ({difference})",
                                 "Train a model on this collection's features, or choose the model trained for them")
    return ModelFile(Path(path), kind, arrays, metadata, digest)


def read_model_info(path) -> dict:
    """The verified metadata of a model file (with its content hash), e.g. for a list in the scene."""
    model = load_model_file(path)
    info = dict(model.metadata)
    info["content_hash"] = model.content_hash
    info["path"] = str(path)
    info["arrays"] = {name: {"shape": list(a.shape), "dtype": str(a.dtype)} for name, a in sorted(model.arrays.items())}
    return info
