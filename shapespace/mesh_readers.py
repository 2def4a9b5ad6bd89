"""Readers for OBJ, PLY, STL and OFF mesh files into MeshArrays, built to meet hostile files.

Blender's own importers abort the whole process on some hostile headers (a PLY declaring 10^12
vertices ends in SIGABRT) and silently turn NaN/inf coordinates into 0, so the dataset importer
never hands a file to them. Every reader here checks what a header declares against the file's
size and the caps below BEFORE it allocates anything for the declared counts, refuses NaN/inf
vertices by count, and checks every face index. Every refusal is a MeshFileError whose message
starts with the file's name.

Parsing is vectorised: text is split into tokens by the bytes methods and numpy (lines are
found with numpy on the raw bytes), numbers are converted in C-level passes (`map(float, ...)`,
a numpy integer parser), binary records are read with `np.frombuffer` on structured dtypes.
There is no Python loop per vertex or per face.
"""

from __future__ import annotations

import operator
import re
from pathlib import Path

import numpy as np

from .mesh_arrays import MeshArrays
from .off_format import MeshFileError

MAX_FILE_BYTES = 2 * 1024 ** 3  # larger files are refused before a byte is read
MAX_TEXT_BYTES = 768 * 1024 ** 2  # text formats cost ~40 bytes of Python per token while parsed
MAX_VERTICES = 5_000_000  # per file; a dataset shape this large is a scan to decimate first
MAX_FACES = 10_000_000
MAX_FACE_CORNERS = 255  # a PLY uchar list's limit; longer polygons are hostile or broken

__all__ = ["MeshFileError", "read_mesh", "parse_obj", "parse_ply", "parse_stl", "parse_mesh_bytes",
           "axis_matrix", "format_axes", "FORMAT_AXES", "MAX_VERTICES", "MAX_FILE_BYTES"]


# --- shared checks -----------------------------------------------------------------------------

def _size_text(size: int) -> str:
    for unit, scale in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("kB", 1024)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def _check_counts(source: str, vertices: int, faces: int, max_vertices: int) -> None:
    """Refuse declared counts above the caps, before anything is sized by them."""
    if vertices > max_vertices:
        raise MeshFileError(f"{source}: declares {_vertex_word(vertices)}, more than the {max_vertices:,} a file "
                            "may hold here; decimate the mesh first")
    if faces > MAX_FACES:
        raise MeshFileError(f"{source}: declares {faces:,} faces, more than the {MAX_FACES:,} a file may hold "
                            "here; decimate the mesh first")


def _vertex_word(count: int) -> str:
    return f"{count:,} " + ("vertex" if count == 1 else "vertices")


def finish_mesh(name: str, source: str, vertices, face_sizes, corners, *, max_vertices: int = MAX_VERTICES
                ) -> MeshArrays:
    """MeshArrays from parsed arrays, after the checks every format shares (names `source`)."""
    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    face_sizes = np.asarray(face_sizes, dtype=np.int64).reshape(-1)
    corners = np.asarray(corners, dtype=np.int64).reshape(-1)
    count = len(vertices)
    if count > max_vertices:
        raise MeshFileError(f"{source}: holds {_vertex_word(count)}, more than the {max_vertices:,} a file may "
                            "hold here; decimate the mesh first")
    if count < 3:
        raise MeshFileError(f"{source}: holds {_vertex_word(count)}; a mesh needs at least 3")
    bad = ~np.isfinite(vertices).all(axis=1)
    if bad.any():
        raise MeshFileError(f"{source}: {int(bad.sum()):,} of {_vertex_word(count)} have NaN or infinite "
                            f"coordinates (the first is vertex {int(np.argmax(bad))}); fix them in the "
                            "file or remove it from the folder")
    if len(face_sizes) == 0:
        raise MeshFileError(f"{source}: holds no faces (a point cloud?); only polygon meshes can be imported")
    if len(corners):
        low, high = int(corners.min()), int(corners.max())
        if low < 0 or high >= count:
            wrong = low if low < 0 else high
            raise MeshFileError(f"{source}: a face refers to vertex {wrong:,}, outside the file's "
                                f"{_vertex_word(count)} (0..{count - 1:,})")
    big = np.abs(vertices).max()
    if big > 1e30:  # finite in float64, infinite once stored as Blender's float32
        raise MeshFileError(f"{source}: coordinates up to {big:.3g} are too large for Blender's single "
                            "precision; rescale the mesh")
    return MeshArrays(name, vertices.astype(np.float32), face_sizes.astype(np.int32), corners.astype(np.int32))


# --- vectorised text helpers -------------------------------------------------------------------



def _token_bounds(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of every whitespace-separated token (the same tokens bytes.split() gives)."""
    if len(buf) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    white = (buf == 32) | ((buf >= 9) & (buf <= 13))  # what bytes.split() splits on
    edges = np.flatnonzero(white[1:] != white[:-1]) + 1
    if not white[0]:
        edges = np.concatenate(([0], edges))
    if not white[-1]:
        edges = np.concatenate((edges, [len(buf)]))
    return edges[0::2].astype(np.int64), edges[1::2].astype(np.int64)


def _parse_ints(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, *, stop_at_slash: bool = False
                ) -> tuple[np.ndarray, np.ndarray]:
    """Integer value of every token and a flag for tokens that are not plain integers (with
    stop_at_slash, a token ends at its first '/', as OBJ's v/vt/vn corners do).

    Horner's rule one character column at a time: a Python step per column (at most 18),
    numpy across all tokens."""
    lengths = ends - starts
    count = len(starts)
    if count == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    last = len(buf) - 1
    first = buf[starts]
    negative = first == 45
    signed = negative | (first == 43)
    bad = np.zeros(count, dtype=bool)
    values = np.zeros(count, dtype=np.int64)
    for column in range(int(min(lengths.max(), 18))):
        chars = buf[np.minimum(starts + column, last)].astype(np.int64) - 48
        inside = column < lengths
        if stop_at_slash:
            lengths = np.where(inside & (chars == ord("/") - 48), column, lengths)
            inside = column < lengths
        if column == 0:
            inside &= ~signed
        digit = (chars >= 0) & (chars <= 9)
        bad |= inside & ~digit
        values = np.where(inside & digit, values * 10 + chars, values)
        if stop_at_slash and column + 1 >= lengths.max():  # every index has ended at its slash:
            break  # the vt/vn columns after it are never read
    bad |= (lengths > 18) | (lengths - signed <= 0)  # after the loop: a slash may have shortened a token
    return np.where(negative, -values, values), bad


def _parse_floats(tokens, source: str, what: str) -> np.ndarray:
    """float64 values of byte tokens (nan/inf parse, so the NaN check can count them)."""
    try:
        return np.fromiter(map(float, tokens), dtype=np.float64, count=len(tokens))
    except ValueError:
        first_bad = next(t for t in tokens if not _is_float(t))
        raise MeshFileError(f"{source}: {what} holds {first_bad[:20].decode('latin-1')!r}, which is not a "
                            "number") from None


def _is_float(token: bytes) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def _pick(tokens: list, indices: np.ndarray) -> list:
    if len(indices) == 0:
        return []
    if len(indices) == 1:
        return [tokens[int(indices[0])]]
    return list(operator.itemgetter(*indices.tolist())(tokens))


class _TextTable:
    """The non-blank lines of a text block as tokens: offsets, the bytes tokens, and rows."""

    def __init__(self, data: bytes, source: str):
        if len(data) > MAX_TEXT_BYTES:
            raise MeshFileError(f"{source}: a {_size_text(len(data))} text mesh is more than the "
                                f"{_size_text(MAX_TEXT_BYTES)} read here; save it in a binary format")
        self.data = data
        self.buf = np.frombuffer(data, dtype=np.uint8)
        self.starts, self.ends = _token_bounds(self.buf)
        newlines = np.flatnonzero(self.buf == 10)
        line = np.searchsorted(newlines, self.starts)  # raw line number (from 0); 4× faster than a cumsum
        first = np.ones(len(line), dtype=bool)
        first[1:] = line[1:] != line[:-1]
        self.row_first = np.flatnonzero(first)  # token index that starts each non-blank line
        self.row_count = np.diff(np.append(self.row_first, len(line)))
        self.row_line = line[self.row_first] + 1  # 1-based line number, for messages

    def row_tokens(self, row: int) -> list:
        """The tokens of one non-blank line, as bytes."""
        first = self.row_first[row]
        return self.data[self.starts[first]:self.ends[first + self.row_count[row] - 1]].split()

    def floats_at(self, indices: np.ndarray, source: str, what: str) -> np.ndarray:
        """float64 values of the tokens at `indices`; only the span they cover becomes Python bytes."""
        if len(indices) == 0:
            return np.zeros(0)
        low, high = int(indices.min()), int(indices.max())
        tokens = self.data[self.starts[low]:self.ends[high]].split()
        return _parse_floats(_pick(tokens, indices - low), source, what)

    def first_chars(self, rows: np.ndarray) -> np.ndarray:
        return self.buf[self.starts[self.row_first[rows]]]


# --- OBJ ---------------------------------------------------------------------------------------

def parse_obj(data: bytes, name: str = "mesh", source: str | None = None, *,
              max_vertices: int = MAX_VERTICES) -> MeshArrays:
    """Parse OBJ bytes: `v` and `f` lines (any polygon, negative indices, v/vt/vn forms).

    Texture coordinates, normals, groups, objects, materials, lines and points are ignored;
    faces of fewer than 3 corners are dropped (Blender's importer drops them too).
    """
    source = source or name
    if b"\0" in data[:4096]:
        raise MeshFileError(f"{source}: not a text OBJ file (it holds binary data)")
    table = _TextTable(_strip_comments(data), source)
    rows = np.arange(len(table.row_first))
    keyword_length = (table.ends - table.starts)[table.row_first]
    first = table.first_chars(rows)
    is_v = (keyword_length == 1) & (first == ord("v"))
    is_f = (keyword_length == 1) & (first == ord("f"))
    vertex_rows, face_rows = np.flatnonzero(is_v), np.flatnonzero(is_f)
    _check_counts(source, len(vertex_rows), len(face_rows), max_vertices)
    if len(vertex_rows) == 0:
        raise MeshFileError(f"{source}: no vertex ('v') lines; not an OBJ mesh")
    short = table.row_count[vertex_rows] < 4
    if short.any():
        raise MeshFileError(f"{source}: line {int(table.row_line[vertex_rows[np.argmax(short)]])} is a vertex "
                            "line without three coordinates")
    first_value = table.row_first[vertex_rows] + 1
    picked = (first_value[:, None] + np.arange(3)).reshape(-1)
    vertices = table.floats_at(picked, source, "a vertex line").reshape(-1, 3)
    sizes, corners = _obj_faces(table, face_rows, source)
    if len(corners) and corners.min() < 0:  # relative indices count back from the vertices read so far
        vertices_before = np.cumsum(is_v)[face_rows]
        relative = corners < 0
        corners = np.where(relative, corners + np.repeat(vertices_before, sizes), corners - 1)
    else:
        corners = corners - 1
    keep = sizes >= 3
    if not keep.all():
        corners = corners[np.repeat(keep, sizes)]
        sizes = sizes[keep]
    if len(corners) and (corners < 0).any():
        raise MeshFileError(f"{source}: a face uses vertex index 0 or refers back past the first vertex "
                            "(OBJ indices start at 1)")
    return finish_mesh(name, source, vertices, sizes, corners, max_vertices=max_vertices)


def _strip_comments(data: bytes) -> bytes:
    return re.sub(rb"#[^\n]*", b"", data) if b"#" in data else data


def _obj_faces(table: _TextTable, face_rows: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    sizes = table.row_count[face_rows] - 1
    if len(face_rows) == 0:
        return sizes, np.zeros(0, np.int64)
    if sizes.max() > MAX_FACE_CORNERS * 16:
        raise MeshFileError(f"{source}: a face lists {int(sizes.max()):,} corners; not a plausible polygon")
    first = np.repeat(table.row_first[face_rows] + 1, sizes)
    within = np.arange(len(first)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    token = first + within
    values, bad = _parse_ints(table.buf, table.starts[token], table.ends[token], stop_at_slash=True)
    if bad.any():
        row = face_rows[np.searchsorted(np.cumsum(sizes), int(np.argmax(bad)), side="right")]
        raise MeshFileError(f"{source}: line {int(table.row_line[row])} is a face line whose corners are not "
                            "vertex numbers")
    return sizes, values


# --- PLY ---------------------------------------------------------------------------------------

_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
              "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
              "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}
_PLY_FORMATS = {"ascii": None, "binary_little_endian": "<", "binary_big_endian": ">"}
_FACE_LISTS = ("vertex_indices", "vertex_index")


class _PlyElement:
    def __init__(self, name: str, count: int):
        self.name, self.count = name, count
        self.properties: list = []  # (name, dtype) or (name, count dtype, item dtype)

    @property
    def has_lists(self) -> bool:
        return any(len(p) == 3 for p in self.properties)

    def min_record_bytes(self) -> int:
        return sum(np.dtype(p[1]).itemsize for p in self.properties)


def _ply_header(head: bytes, source: str) -> tuple:
    """(format name, byte order or None, elements, body offset) from the first bytes of a PLY file."""
    if not head.startswith(b"ply"):
        raise MeshFileError(f"{source}: not a PLY file (it does not start with 'ply')")
    match = re.search(rb"end_header[ \t]*\r?\n", head)
    if match is None:
        raise MeshFileError(f"{source}: the PLY header has no 'end_header' line within its first "
                            f"{_size_text(len(head))}; the file is truncated or not a PLY file")
    try:
        lines = head[:match.start()].decode("ascii").splitlines()[1:]
    except UnicodeDecodeError:
        raise MeshFileError(f"{source}: the PLY header holds non-text bytes") from None
    fmt, elements = None, []
    for number, line in enumerate(lines, start=2):  # one header line each, a few dozen at most
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        try:
            if words[0] == "format":
                fmt = words[1]
                if fmt not in _PLY_FORMATS:
                    raise MeshFileError(f"{source}: unknown PLY format {fmt!r} (ascii, binary_little_endian "
                                        "or binary_big_endian)")
            elif words[0] == "element":
                count = int(words[2])
                if count < 0:
                    raise ValueError
                elements.append(_PlyElement(words[1], count))
            elif words[0] == "property":
                if not elements:
                    raise MeshFileError(f"{source}: header line {number} declares a property before any element")
                if words[1] == "list":
                    elements[-1].properties.append((words[4], np.dtype(_PLY_TYPES[words[2]]),
                                                    np.dtype(_PLY_TYPES[words[3]])))
                else:
                    elements[-1].properties.append((words[2], np.dtype(_PLY_TYPES[words[1]])))
            else:
                raise MeshFileError(f"{source}: header line {number} ({line.strip()[:40]!r}) is not PLY")
        except MeshFileError:
            raise
        except (IndexError, ValueError, KeyError):
            raise MeshFileError(f"{source}: header line {number} ({line.strip()[:40]!r}) is malformed") from None
    if fmt is None:
        raise MeshFileError(f"{source}: the PLY header has no 'format' line")
    return fmt, _PLY_FORMATS[fmt], elements, match.end()


def _ply_mesh_elements(elements, source: str):
    by_name = {e.name: e for e in elements}
    vertex, face = by_name.get("vertex"), by_name.get("face")
    if vertex is None:
        raise MeshFileError(f"{source}: the PLY header declares no 'vertex' element")
    names = [p[0] for p in vertex.properties]
    if not {"x", "y", "z"} <= set(names) or vertex.has_lists:
        raise MeshFileError(f"{source}: the PLY 'vertex' element lacks x, y and z properties")
    if face is None or face.count == 0:
        raise MeshFileError(f"{source}: holds no faces (a point cloud?); only polygon meshes can be imported")
    lists = [p for p in face.properties if len(p) == 3 and p[0] in _FACE_LISTS]
    if not lists:
        raise MeshFileError(f"{source}: the PLY 'face' element has no vertex_indices list")
    if lists[0][2].kind == "f" or lists[0][1].kind == "f":
        raise MeshFileError(f"{source}: the PLY face list uses floating-point numbers as vertex indices")
    return vertex, face, lists[0][0]


def parse_ply(data: bytes, name: str = "mesh", source: str | None = None, *, file_size: int | None = None,
              max_vertices: int = MAX_VERTICES) -> MeshArrays:
    """Parse PLY bytes (ascii and both binary byte orders; other elements and properties skipped)."""
    source = source or name
    fmt, order, elements, body_start = _ply_header(data[:65536], source)
    vertex, face, list_name = _ply_mesh_elements(elements, source)
    _check_counts(source, vertex.count, face.count, max_vertices)
    body = memoryview(data)[body_start:]
    if order is None:
        if b"\0" in bytes(body[:4096]):
            raise MeshFileError(f"{source}: the header says 'format ascii' but the data after it is binary")
        return _ply_ascii(bytes(body), elements, vertex, face, list_name, name, source, max_vertices)
    needed = sum(e.count * e.min_record_bytes() for e in elements)
    if needed > len(body):
        raise MeshFileError(f"{source}: declares {_vertex_word(vertex.count)} and {face.count:,} faces, which "
                            f"need at least {_size_text(needed)}, but the file holds {_size_text(len(body))} of "
                            "data; the file is truncated or its header is wrong")
    return _ply_binary(body, order, elements, vertex, face, list_name, name, source, max_vertices)


def _ply_binary(body, order, elements, vertex, face, list_name, name, source, max_vertices) -> MeshArrays:
    raw = np.frombuffer(body, dtype=np.uint8)
    offset, vertices, sizes, corners = 0, None, None, None
    for element in elements:
        if element.has_lists:
            starts, end = _binary_record_starts(raw, offset, element, order, source)
        else:
            dtype = np.dtype([(p[0], p[1].newbyteorder(order)) for p in element.properties])
            end = offset + element.count * dtype.itemsize
            starts = None
        if end > len(raw):
            raise MeshFileError(f"{source}: the file ends inside its '{element.name}' element (truncated)")
        if element is vertex:
            table = np.frombuffer(body, dtype=dtype, count=element.count, offset=offset)
            vertices = np.stack([table[c].astype(np.float64) for c in "xyz"], axis=1)
        elif element is face:
            sizes, corners = _binary_face_lists(raw, starts, element, list_name, order)
        offset = end
    return finish_mesh(name, source, vertices, sizes, corners, max_vertices=max_vertices)


def _read_at(raw: np.ndarray, positions: np.ndarray, dtype: np.dtype, order: str) -> np.ndarray:
    """Values of `dtype` stored at arbitrary byte offsets (offsets past the end read as 0)."""
    size = dtype.itemsize
    index = positions[:, None] + np.arange(size)
    valid = (positions + size <= len(raw))
    gathered = raw[np.minimum(index, len(raw) - 1)] * valid[:, None]
    return np.ascontiguousarray(gathered, dtype=np.uint8).view(dtype.newbyteorder(order)).reshape(-1)


def _record_ends(raw, positions, element, order) -> np.ndarray:
    ends = positions.copy()
    for prop in element.properties:
        if len(prop) == 2:
            ends += prop[1].itemsize
        else:
            count = _read_at(raw, ends, prop[1], order).astype(np.int64)
            ends += prop[1].itemsize + np.clip(count, 0, None) * prop[2].itemsize
    return ends


_CHUNK = 1 << 22


def _binary_record_starts(raw, offset: int, element, order: str, source: str) -> tuple[np.ndarray, int]:
    """Byte offset of every record of an element with list properties, and where the element ends.

    Records whose lists all have the first record's lengths form a fixed-size table (checked at
    once); otherwise the chain of records is followed by pointer doubling over every byte
    position of a chunk, O(n log n) in numpy instead of a Python step per record.
    """
    count = element.count
    first_end = int(_record_ends(raw, np.array([offset]), element, order)[0])
    size = first_end - offset
    if size > 0 and offset + size * count <= len(raw):
        starts = offset + size * np.arange(count, dtype=np.int64)
        if (_record_ends(raw, starts, element, order) - starts == size).all():
            return starts, offset + size * count
    found, position = [], offset
    remaining = count
    while remaining > 0:
        if position >= len(raw):
            raise MeshFileError(f"{source}: the file ends inside its '{element.name}' element (truncated)")
        span = min(_CHUNK, len(raw) - position)
        candidates = position + np.arange(span, dtype=np.int64)
        jump = np.minimum(_record_ends(raw, candidates, element, order) - position, span)
        jump = np.append(jump, span)  # index `span` is the sink: out of this chunk
        reached = np.zeros(span + 1, dtype=bool)
        reached[0] = True
        while True:
            hit = np.flatnonzero(reached[:span])
            newly = jump[hit]
            before = int(reached.sum())
            reached[newly] = True
            if int(reached.sum()) == before and (jump[hit] == span).all():
                break
            jump = jump[jump]
        chain = np.flatnonzero(reached[:span])[:remaining] + position
        found.append(chain)
        remaining -= len(chain)
        position = int(_record_ends(raw, chain[-1:], element, order)[0])
    starts = np.concatenate(found)
    return starts, position


def _binary_face_lists(raw, starts, element, list_name, order):
    position = starts.copy()
    for prop in element.properties:
        if len(prop) == 2:
            position += prop[1].itemsize
            continue
        count = _read_at(raw, position, prop[1], order).astype(np.int64)
        if prop[0] == list_name:
            sizes = count
            items = np.repeat(position + prop[1].itemsize, count) + prop[2].itemsize * (
                np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count))
            corners = _read_at(raw, items, prop[2], order).astype(np.int64)
            return _drop_small_faces(sizes, corners)
        position += prop[1].itemsize + count * prop[2].itemsize
    raise AssertionError("face list property checked in _ply_mesh_elements")


def _drop_small_faces(sizes, corners):
    keep = sizes >= 3
    if keep.all():
        return sizes, corners
    return sizes[keep], corners[np.repeat(keep, sizes)]


def _ply_ascii(body: bytes, elements, vertex, face, list_name, name, source, max_vertices) -> MeshArrays:
    records = sum(e.count for e in elements)
    lines = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
    if records > lines:
        raise MeshFileError(f"{source}: declares {_vertex_word(vertex.count)} and {face.count:,} faces, but only "
                            f"{lines:,} lines follow the header; the file is truncated or its header is wrong")
    table = _TextTable(body, source)
    if len(table.row_first) < records:
        raise MeshFileError(f"{source}: declares {records:,} data lines ({_vertex_word(vertex.count)}, "
                            f"{face.count:,} faces), but only {len(table.row_first):,} are in the file (truncated)")
    row, vertices, sizes, corners = 0, None, None, None
    for element in elements:
        rows = np.arange(row, row + element.count)
        if element is vertex:
            width = len(element.properties)
            wrong = table.row_count[rows] != width
            if wrong.any():
                at = rows[np.argmax(wrong)]
                raise MeshFileError(f"{source}: line {int(table.row_line[at])} should hold the {width} values of a "
                                    f"vertex, but holds {int(table.row_count[at])}")
            columns = np.array([[p[0] for p in element.properties].index(c) for c in "xyz"])
            picked = (table.row_first[rows][:, None] + columns).reshape(-1)
            vertices = table.floats_at(picked, source, "a vertex line").reshape(-1, 3)
        elif element is face:
            sizes, corners = _ascii_face_lists(table, rows, element, list_name, source)
        row += element.count
    return finish_mesh(name, source, vertices, sizes, corners, max_vertices=max_vertices)


def _ascii_face_lists(table, rows, element, list_name, source):
    cursor = table.row_first[rows].copy()
    line_end = cursor + table.row_count[rows]
    sizes = corners = None
    for prop in element.properties:
        if len(prop) == 2:
            cursor += 1
            continue
        count, bad = _parse_ints(table.buf, table.starts[np.minimum(cursor, len(table.starts) - 1)],
                                 table.ends[np.minimum(cursor, len(table.starts) - 1)])
        if (bad | (cursor >= line_end)).any() or (count < 0).any() or (count > MAX_FACE_CORNERS * 16).any():
            at = int(np.argmax(bad | (cursor >= line_end) | (count < 0) | (count > MAX_FACE_CORNERS * 16)))
            raise MeshFileError(f"{source}: line {int(table.row_line[rows[at]])} does not start a list with a "
                                "corner count")
        if prop[0] == list_name:
            listed = line_end - cursor - 1
            if (count > listed).any():  # checked before the corner arrays are sized by what the file says
                at = int(np.argmax(count > listed))
                raise MeshFileError(f"{source}: line {int(table.row_line[rows[at]])} declares {int(count[at])} "
                                    f"corners but lists at most {int(listed[at])}")
            sizes = count
            token = np.repeat(cursor + 1, count) + (np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count,
                                                                                            count))
            if len(token) and (token >= np.repeat(line_end, count)).any():
                at = int(np.argmax(np.repeat(line_end, count) <= token))
                face_row = rows[np.searchsorted(np.cumsum(count), at, side="right")]
                raise MeshFileError(f"{source}: line {int(table.row_line[face_row])} declares more corners than "
                                    "it lists")
            corners, bad = _parse_ints(table.buf, table.starts[token], table.ends[token])
            if bad.any():
                face_row = rows[np.searchsorted(np.cumsum(count), int(np.argmax(bad)), side="right")]
                raise MeshFileError(f"{source}: line {int(table.row_line[face_row])} lists a corner that is not a "
                                    "vertex number")
        cursor = cursor + 1 + count
    wrong = cursor != line_end
    if wrong.any():
        raise MeshFileError(f"{source}: line {int(table.row_line[rows[np.argmax(wrong)]])} does not hold the "
                            "face the header declares (wrong number of values)")
    return _drop_small_faces(sizes, corners)


# --- STL ---------------------------------------------------------------------------------------

_STL_RECORD = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attribute", "<u2")])


def parse_stl(data: bytes, name: str = "mesh", source: str | None = None, *,
              max_vertices: int = MAX_VERTICES) -> MeshArrays:
    """Parse STL bytes (binary or ASCII); corners at the same position become one vertex."""
    source = source or name
    size = len(data)
    declared = int.from_bytes(data[80:84], "little") if size >= 84 else -1
    binary_size_fits = size >= 84 and size == 84 + 50 * declared
    if data[:5].lower() == b"solid" and not binary_size_fits:
        return _stl_ascii(data, name, source, max_vertices)
    if size < 84:
        raise MeshFileError(f"{source}: too short to be an STL file ({size} bytes)")
    if declared == 0:
        raise MeshFileError(f"{source}: the STL file holds no triangles")
    if not binary_size_fits:
        raise MeshFileError(f"{source}: not a valid binary STL (declares {declared:,} triangles, which need "
                            f"{_size_text(84 + 50 * declared)}, but the file has {_size_text(size)})")
    _check_counts(source, 3 * declared, declared, 3 * max_vertices)
    records = np.frombuffer(data, dtype=_STL_RECORD, count=declared, offset=84)
    return _merged_triangles(records["corners"].reshape(-1, 3), name, source, max_vertices)


def _stl_ascii(data: bytes, name, source, max_vertices) -> MeshArrays:
    if b"\0" in data[:4096]:
        raise MeshFileError(f"{source}: starts with 'solid' but holds binary data that does not match the "
                            "binary STL layout either")
    corners_declared = data.count(b"vertex")
    _check_counts(source, corners_declared, corners_declared // 3, 3 * max_vertices)
    table = _TextTable(data, source)
    rows = np.flatnonzero(((table.ends - table.starts)[table.row_first] == 6)
                          & (table.first_chars(np.arange(len(table.row_first))) == ord("v")))
    if len(rows) == 0 or len(rows) % 3:
        raise MeshFileError(f"{source}: an ASCII STL needs 3 'vertex' lines per facet; found {len(rows):,}")
    short = table.row_count[rows] < 4
    if short.any():
        raise MeshFileError(f"{source}: line {int(table.row_line[rows[np.argmax(short)]])} is a vertex line "
                            "without three coordinates")
    picked = (table.row_first[rows][:, None] + np.arange(1, 4)).reshape(-1)
    corners = table.floats_at(picked, source, "a vertex line").reshape(-1, 3)
    return _merged_triangles(corners, name, source, max_vertices)


def _merged_triangles(corner_positions: np.ndarray, name, source, max_vertices) -> MeshArrays:
    positions = corner_positions.astype(np.float64)
    bad = ~np.isfinite(positions).all(axis=1)
    if bad.any():
        raise MeshFileError(f"{source}: {int(bad.sum()):,} of {len(positions):,} triangle corners have NaN or "
                            "infinite coordinates; fix them in the file or remove it from the folder")
    key = np.ascontiguousarray(corner_positions.astype(np.float32) + np.float32(0.0))  # -0.0 becomes 0.0
    bits = key.view(np.int32).reshape(-1, 3)
    order = np.lexsort((bits[:, 2], bits[:, 1], bits[:, 0]))
    ordered = bits[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    group = np.cumsum(new) - 1
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = group
    vertices = key[order[new]]
    triangles = inverse.reshape(-1, 3)
    degenerate = ((triangles[:, 0] == triangles[:, 1]) | (triangles[:, 1] == triangles[:, 2])
                  | (triangles[:, 0] == triangles[:, 2]))
    triangles = triangles[~degenerate]  # zero-area slivers whose corners merged
    return finish_mesh(name, source, vertices, np.full(len(triangles), 3), triangles.reshape(-1),
                       max_vertices=max_vertices)


# --- OFF ---------------------------------------------------------------------------------------

_OFF_KEYWORDS = {"OFF", "COFF", "NOFF", "CNOFF", "NCOFF"}


def parse_off_bytes(data: bytes, name: str = "mesh", source: str | None = None, *,
                    max_vertices: int = MAX_VERTICES) -> MeshArrays:
    """Parse OFF bytes (also COFF/NOFF/CNOFF; colours after face indices are ignored, and the
    'OFF490 518 0' header some ModelNet files have is read as 'OFF 490 518 0')."""
    source = source or name
    if b"\0" in data[:4096]:
        raise MeshFileError(f"{source}: not a text OFF file (binary OFF is not supported)")
    table = _TextTable(_strip_comments(data), source)
    if len(table.row_first) == 0:
        raise MeshFileError(f"{source}: the file is empty")
    header = table.row_tokens(0)
    keyword = header[0].decode("latin-1")
    glued = re.fullmatch(r"([A-Za-z]*OFF)(\d+)", keyword)
    if glued:
        keyword, header = glued.group(1), [keyword.encode()] + [glued.group(2).encode()] + header[1:]
    if not keyword.upper().endswith("OFF"):
        raise MeshFileError(f"{source}: not an OFF file (the first word is {keyword[:20]!r}, expected 'OFF')")
    if keyword.upper() not in _OFF_KEYWORDS or (len(header) > 1 and header[1].upper() == b"BINARY"):
        raise MeshFileError(f"{source}: the {keyword[:20]} variant of OFF is not supported (only OFF, COFF, NOFF)")
    counts, first_row = (header[1:], 1) if len(header) > 1 else (
        (table.row_tokens(1), 2)
        if len(table.row_first) > 1 else ([], 1))
    try:
        vertex_count, face_count = int(counts[0]), int(counts[1])
    except (IndexError, ValueError):
        raise MeshFileError(f"{source}: the vertex and face counts are missing after the OFF header") from None
    if vertex_count < 3 or face_count < 1:
        raise MeshFileError(f"{source}: the file declares {vertex_count} vertices and {face_count} faces; "
                            "a mesh needs at least 3 vertices and 1 face")
    _check_counts(source, vertex_count, face_count, max_vertices)
    found = len(table.row_first) - first_row
    if found < vertex_count + face_count:
        found_vertices = min(found, vertex_count)
        raise MeshFileError(f"{source}: the file is truncated: {vertex_count:,} vertices and {face_count:,} faces "
                            f"declared, {found_vertices:,} and {max(found - vertex_count, 0):,} found")
    vertex_rows = np.arange(first_row, first_row + vertex_count)
    short = table.row_count[vertex_rows] < 3
    if short.any():
        raise MeshFileError(f"{source}: line {int(table.row_line[vertex_rows[np.argmax(short)]])} is a vertex "
                            "line without three numbers")
    picked = (table.row_first[vertex_rows][:, None] + np.arange(3)).reshape(-1)
    vertices = table.floats_at(picked, source, "a vertex line").reshape(-1, 3)
    face_rows = np.arange(first_row + vertex_count, first_row + vertex_count + face_count)
    heads = table.row_first[face_rows]
    sizes, bad = _parse_ints(table.buf, table.starts[heads], table.ends[heads])
    wrong = bad | (sizes < 0) | (sizes > MAX_FACE_CORNERS * 16)
    if wrong.any():
        raise MeshFileError(f"{source}: face {int(np.argmax(wrong))} is not a list of integers")
    listed = table.row_count[face_rows] - 1
    short = listed < sizes
    if short.any():
        at = int(np.argmax(short))
        raise MeshFileError(f"{source}: face {at} lists {int(listed[at])} indices but declares {int(sizes[at])}")
    token = np.repeat(heads + 1, sizes) + (np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes))
    corners, bad = _parse_ints(table.buf, table.starts[token], table.ends[token])
    if bad.any():
        at = int(np.searchsorted(np.cumsum(sizes), int(np.argmax(bad)), side="right"))
        raise MeshFileError(f"{source}: face {at} is not a list of integers")
    sizes, corners = _drop_small_faces(sizes, corners)
    return finish_mesh(name, source, vertices, sizes, corners, max_vertices=max_vertices)


# --- files -------------------------------------------------------------------------------------

_PARSERS = {"obj": parse_obj, "ply": parse_ply, "stl": parse_stl, "off": parse_off_bytes}


def parse_mesh_bytes(data: bytes, suffix: str, name: str = "mesh", source: str | None = None, *,
                     max_vertices: int = MAX_VERTICES) -> MeshArrays:
    """Parse the bytes of a mesh file whose format is `suffix` ('obj', 'ply', 'stl' or 'off')."""
    parser = _PARSERS.get(suffix.lower().lstrip("."))
    if parser is None:
        raise MeshFileError(f"{source or name}: .{suffix} files are not read here (OBJ, PLY, STL or OFF)")
    if len(data) == 0:
        raise MeshFileError(f"{source or name}: the file is empty")
    return parser(data, name, source or name, max_vertices=max_vertices)


def read_mesh(path, *, max_vertices: int = MAX_VERTICES, max_bytes: int = MAX_FILE_BYTES) -> MeshArrays:
    """Read one OBJ, PLY, STL or OFF file into MeshArrays named after the file's stem.

    Raises MeshFileError naming the file for anything that is not a sound mesh: a folder or
    device in place of a file, an empty, oversized, truncated or hostile file, NaN/inf vertices,
    face indices out of range.
    """
    path = Path(path)
    source = path.name
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in _PARSERS:
        raise MeshFileError(f"{source}: .{suffix} files are not read here (OBJ, PLY, STL or OFF)")
    try:
        status = path.stat()
    except OSError as error:
        raise MeshFileError(f"{source}: cannot be read ({error.strerror}); check the file") from None
    if path.is_dir():
        raise MeshFileError(f"{source}: is a folder, not a mesh file; rename it or move it out of the dataset")
    if not path.is_file():
        raise MeshFileError(f"{source}: is not a regular file (a device or pipe?); move it out of the dataset")
    if status.st_size == 0:
        raise MeshFileError(f"{source}: the file is empty")
    if status.st_size > max_bytes:
        raise MeshFileError(f"{source}: {_size_text(status.st_size)} is more than the {_size_text(max_bytes)} "
                            "a mesh file may have here; decimate or split it")
    try:
        with open(path, "rb") as handle:
            if suffix == "ply":  # check the header's counts before reading the whole body
                head = handle.read(65536)
                fmt, order, elements, body_start = _ply_header(head, source)
                vertex, face, _ = _ply_mesh_elements(elements, source)
                _check_counts(source, vertex.count, face.count, max_vertices)
                body_size = status.st_size - body_start
                needed = sum(e.count * e.min_record_bytes() for e in elements)
                if order is not None and needed > body_size:
                    raise MeshFileError(f"{source}: declares {_vertex_word(vertex.count)} and {face.count:,} "
                                        f"faces, which need at least {_size_text(needed)}, but the file holds "
                                        f"{_size_text(body_size)} of data; the file is truncated or its header "
                                        "is wrong")
                if order is None and sum(e.count for e in elements) > body_size // 2 + 1:
                    raise MeshFileError(f"{source}: declares {_vertex_word(vertex.count)} and {face.count:,} "
                                        f"faces in {_size_text(body_size)} of text, which cannot hold them; "
                                        "the file is truncated or its header is wrong")
                data = head + handle.read()
            else:
                data = handle.read()
    except OSError as error:
        raise MeshFileError(f"{source}: cannot be read ({error.strerror}); check the file") from None
    return parse_mesh_bytes(data, suffix, path.stem, source, max_vertices=max_vertices)


# --- axes --------------------------------------------------------------------------------------

AXES = ("X", "Y", "Z", "-X", "-Y", "-Z")
# What Blender's own importers assume (bpy.ops.wm.obj_import: forward -Z, up Y; ply/stl: Y, Z).
FORMAT_AXES = {"obj": ("-Z", "Y"), "ply": ("Y", "Z"), "stl": ("Y", "Z"), "off": ("Y", "Z")}


def _axis_vector(axis: str) -> np.ndarray:
    if axis not in AXES:
        raise ValueError(f"Axis {axis!r} is not one of {', '.join(AXES)}")
    vector = np.zeros(3)
    vector["XYZ".index(axis[-1])] = -1.0 if axis.startswith("-") else 1.0
    return vector


def axis_matrix(forward: str, up: str) -> np.ndarray:
    """3×3 rotation taking a file whose forward/up axes are given into Blender's (forward Y, up Z).

    The same convention as bpy_extras.io_utils.axis_conversion(from_forward, from_up).
    """
    f, u = _axis_vector(forward), _axis_vector(up)
    if abs(float(f @ u)) > 0.5:
        raise ValueError(f"Forward axis {forward} and up axis {up} must be different axes; pick two that are "
                         "perpendicular")
    return np.stack([np.cross(f, u), f, u])  # rows: where Blender's X, Y and Z come from in the file


def format_axes(suffix: str, forward: str = "AUTO", up: str = "AUTO") -> tuple[str, str]:
    """The (forward, up) axes to read a file with: 'AUTO' means what Blender's importer for that
    format assumes; one axis given with the other on AUTO keeps the format's other axis when
    it is perpendicular, otherwise the first perpendicular one of -Z, Y, Z."""
    default_forward, default_up = FORMAT_AXES[suffix.lower().lstrip(".")]
    if forward == "AUTO" and up == "AUTO":
        return default_forward, default_up
    if up == "AUTO":
        up = next(a for a in (default_up, "Z", "Y") if abs(_axis_vector(a) @ _axis_vector(forward)) < 0.5)
    if forward == "AUTO":
        forward = next(a for a in (default_forward, "-Z", "Y") if abs(_axis_vector(a) @ _axis_vector(up)) < 0.5)
    axis_matrix(forward, up)  # raises for parallel axes
    return forward, up


def apply_axes(mesh: MeshArrays, forward: str, up: str) -> MeshArrays:
    """The mesh rotated from the file's axes into Blender's, in place (identity: untouched)."""
    matrix = axis_matrix(forward, up)
    if not np.array_equal(matrix, np.eye(3)):
        mesh.vertices = np.ascontiguousarray(mesh.vertices @ matrix.T.astype(np.float32), dtype=np.float32)
    return mesh


