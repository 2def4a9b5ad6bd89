"""Mirror symmetry of a signed-distance grid, found on its known part and used to fill the rest.

Most made things are mirror symmetric, but after canonical pose their symmetry planes are rarely the
grid's middle planes (the built-in chairs' plane is tilted about 10° from the nearest one), and a
nearest-voxel reflection across a tilted plane misses parts thinner than a voxel. Here a plane is a
unit normal n and an offset d in grid coordinates (voxel i's centre at i): p -> p - 2 (n·p - d) n.

* `class_symmetry_normals(grids, labels, classes, pitch)`: per class, the normals of the planes its
  whole training shapes are mirror symmetric across (direction search, then local refinement),
  kept where at least two of its shapes agree.
* `fit_symmetry_maps(grid, known, normals, pitch, middle_axes)`: for one partial shape, each normal's
  plane refitted (offset searched, normal and offset refined) on the known part alone: the score is
  the mean distance (trilinear in the known |distance| grid) of the known surface points' mirror
  images to the known surface, counted where the image falls in the known region. A plane within a
  few degrees of a grid-exact one (axis or diagonal, voxel centres onto voxel centres) is snapped to
  it when that costs little: there the reflection is exact. Pairs of planes also give their
  composition (a rotation: a table's diagonal quarter, a lamp's turned copy). Every map is then
  judged on the known part itself (`map_agreement`: does it say the known inside voxels whose image
  is known?), read trilinearly or by nearest voxel, whichever agrees better, and dropped below
  MIN_AGREEMENT: a surface fit to a third of a voxel still says a table top thinner than a voxel
  at an inside IoU of 0.04.
* `symmetric_fill(grid, known, maps, outside)`: unknown voxels whose image under a map falls in the
  known region take the known field there; returns the values and where they were set.
  `scaled_maps` carries maps to a finer grid over the same cube.

Measured (scripts/completion_gap.py `symmetry`: 8 training + 4 held-out hard shapes per class at 32³,
the same model and cuts): completion with the decoded field elsewhere 0.725, against 0.697 with the
class's middle grid plane voxel by voxel (the previous default) and 0.671 with no mirror (chairs
0.643 / 0.626 / 0.626, tables 0.618 / 0.590 / 0.590, lamps 0.847 / 0.849 / 0.773, airplanes 0.840 /
0.840 / 0.787, vases 0.675 / 0.581 / 0.581). The plane score was first the trilinear |distance| at
the images (biased by up to half a voxel at the surface: 0.720, chairs 0.627); the field difference
separates true planes (0.01-0.18) from false ones (0.35-1.0) and took chairs to 0.643. On the WHOLE
held-out shapes (the best plane refitted per shape, the truth reflected), the reflected field's
inside IoU is 0.741 against 0.702 for the nearest-voxel reflection (chairs 0.633 / 0.549, lamps
0.896 / 0.845, airplanes 0.783 / 0.740): the continuous field helps, but at 32³ these parts are
thinner than a voxel and no reflection of voxel-centre samples says them to the voxel (chairs stay
far from 0.8). Pure numpy.
"""

from __future__ import annotations

import numpy as np

# A fitted plane is used only when the field at the known surface points' mirror images differs from
# the field at the points by at most this much (mean, voxels): the bench's training shapes scored
# 0.01-0.18 across their true planes and 0.35-1.0 across the best planes they are not symmetric
# about (an airplane front to back 0.35-0.45, an asymmetric table 0.40).
MAX_PLANE_ERROR_VOXELS = 0.25
# Share of the known surface points whose image must fall in the known region for a plane to be
# judged at all (planes that send everything into the cut-away region explain nothing).
MIN_OVERLAP = 0.25
# A map fills only when it says the known part's own inside voxels (where a known voxel's image is
# known too) at least this well (inside IoU), judged on at least MIN_JUDGED inside voxels: a plane can
# fit the surface to a third of a voxel and still say a table top thinner than a voxel at 0.04.
MIN_AGREEMENT = 0.5
MIN_JUDGED = 20
# Normals within this angle of a grid-exact direction are tried there (exact voxel reflection).
SNAP_DEGREES = 4.0
SNAP_COST_VOXELS = 0.03

# A plane's refinement stops after this many rounds. A true plane settles in about 20 (the searched
# directions lie ~15° apart, a step turns 2.3°); on the built-in aligned chairs, tables and lamps
# some starts slid on for 200+ rounds, 20° or more, towards planes few of their images judge, at
# 6 ms a round: 85 s of a 12-shape training went there.
REFINE_ROUNDS = 48
_EXACT = [np.array(v, np.float64) / np.linalg.norm(v) for v in
          [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, -1, 0), (1, 0, 1), (1, 0, -1), (0, 1, 1), (0, 1, -1)]]


def trilinear(grid, coordinates, outside: float) -> np.ndarray:
    """Trilinear interpolation of `grid` (R, R, R) at grid coordinates (N, 3) (centre i at i);
    `outside` beyond the outermost centres."""
    from . import shapespace

    g = np.asarray(coordinates, np.float64)
    out = shapespace("signed_distance").trilinear_at(grid, g)
    out[np.any((g < 0) | (g > grid.shape[0] - 1), axis=1)] = outside
    return out


def fibonacci_hemisphere(count: int) -> np.ndarray:
    """(count, 3) unit vectors spread evenly over the half sphere z > 0 (a plane's normal and its
    negative are the same plane)."""
    i = np.arange(count) + 0.5
    z = i / count
    phi = i * np.pi * (3 - 5 ** 0.5)
    ring = np.sqrt(1 - z * z)
    return np.stack([ring * np.cos(phi), ring * np.sin(phi), z], axis=1)


def surface_points(grid_voxels, mask=None, band: float = 1.5, limit: int | None = 800) -> np.ndarray:
    """(M, 3) grid coordinates of surface points: voxel centres within `band` voxels of the surface
    (and in `mask`) moved along the distance gradient by their distance; at most `limit`."""
    grid_voxels = np.asarray(grid_voxels, np.float64)
    gradient = np.stack(np.gradient(grid_voxels), axis=-1)
    chosen = np.abs(grid_voxels) < band
    if mask is not None:
        chosen &= np.asarray(mask, bool)
    centres = np.argwhere(chosen).astype(np.float64)
    g = gradient[chosen]
    length = np.linalg.norm(g, axis=1)
    steady = length > 0.5  # a kink (the middle of a thin part) has no direction to move along
    points = centres[steady] - grid_voxels[chosen][steady, None] * g[steady] / length[steady, None]
    if limit is not None and len(points) > limit:  # an even subset: the plane's score needs no more
        points = points[np.linspace(0, len(points) - 1, limit).astype(np.int64)]
    return points


def reflection(normal, offset) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) of p -> A p + b, the mirror across the plane n·p = d."""
    n = np.asarray(normal, np.float64)
    return np.eye(3) - 2 * np.outer(n, n), 2 * float(offset) * n


def _nearest_voxel(values, coordinates, outside) -> np.ndarray:
    """`values` (R, R, R) at the voxel nearest each of `coordinates` (N, 3); `outside` beyond the grid."""
    r = values.shape[0]
    index = np.round(coordinates).astype(np.int64)
    inside = np.all((index >= 0) & (index < r), axis=1)
    out = np.full(len(coordinates), outside, dtype=values.dtype if values.dtype == bool else np.float64)
    out[inside] = values[tuple(index[inside].T)]
    return out


def _known_at(known, coordinates) -> np.ndarray:
    return _nearest_voxel(known, coordinates, False)


def plane_error(voxels, known, points, normal, offset, min_overlap: float = MIN_OVERLAP, at_points=None) -> float:
    """Mean difference (voxels) between the field (trilinear) at the mirror images of `points` that fall
    in the known region and at the points themselves (`at_points`, computed when not given): a mirror
    symmetric field has the same value at both, thin parts included; inf when fewer than
    `min_overlap` of the images fall in the known region."""
    a, b = reflection(normal, offset)
    images = points @ a.T + b
    kept = _known_at(known, images)
    if kept.sum() < max(min_overlap * len(points), 1):
        return float("inf")
    if at_points is None:
        at_points = trilinear(voxels, points, 3.0)
    return float(np.abs(trilinear(voxels, images[kept], 3.0) - at_points[kept]).mean())


def plane_errors(voxels, known, points, normals, offsets, min_overlap: float = MIN_OVERLAP,
                 at_points=None) -> np.ndarray:
    """(K,) `plane_error` of K planes (normals (K, 3), offsets (K,)) in one pass: the same values, one
    interpolation of all K · len(points) images instead of K calls (the plane searches make thousands
    of them; at 300 points a call was mostly numpy's overhead)."""
    normals = np.asarray(normals, np.float64).reshape(-1, 3)
    offsets = np.asarray(offsets, np.float64).reshape(-1)
    if at_points is None:
        at_points = trilinear(voxels, points, 3.0)
    # p -> p - 2 (n·p - d) n, for every plane at once
    images = points[None] - 2 * ((points @ normals.T).T - offsets[:, None])[:, :, None] * normals[:, None, :]
    kept = _known_at(known, images.reshape(-1, 3)).reshape(len(normals), len(points))
    counts = kept.sum(axis=1)
    difference = np.zeros(kept.shape)
    difference[kept] = np.abs(trilinear(voxels, images[kept], 3.0) - np.broadcast_to(at_points, kept.shape)[kept])
    with np.errstate(invalid="ignore", divide="ignore"):
        errors = difference.sum(axis=1) / counts
    errors[counts < max(min_overlap * len(points), 1)] = np.inf
    return errors


def _refine(voxels, known, points, normal, offset, step=0.04, offset_step=0.5, finest=0.004,
            max_rounds: int = REFINE_ROUNDS):
    """Descent on (normal, offset): each round tries the 8 moves (the normal's three components up and
    down, the offset up and down; the normal turns about the known surface's centre) in one
    `plane_errors` pass and takes the best that lowers the error; the steps halve when none does; at
    most `max_rounds` rounds."""
    centre = points.mean(axis=0)
    n, d = np.asarray(normal, np.float64), float(offset)
    at = trilinear(voxels, points, 3.0)
    error = plane_error(voxels, known, points, n, d, at_points=at)
    for _ in range(int(max_rounds)):
        if step <= finest:
            break
        moved = np.repeat(n[None], 8, axis=0)
        moved[np.arange(6), np.arange(6) // 2] += np.where(np.arange(6) % 2, step, -step)
        moved /= np.linalg.norm(moved, axis=1, keepdims=True)
        shifts = np.concatenate([(moved[:6] - n) @ centre, [offset_step, -offset_step]])
        values = plane_errors(voxels, known, points, moved, d + shifts, at_points=at)
        best = int(np.argmin(values))
        if values[best] < error:
            n, d, error = moved[best], d + float(shifts[best]), float(values[best])
        else:
            step, offset_step = step / 2, offset_step / 2
    return error, n, d


def _snapped(voxels, known, points, error, normal, offset):
    """The plane moved onto the nearest grid-exact one (voxel centres onto voxel centres) when that is
    within SNAP_DEGREES and costs at most SNAP_COST_VOXELS of error."""
    for exact in _EXACT:
        cosine = float(exact @ normal)
        if abs(cosine) < np.cos(np.radians(SNAP_DEGREES)):
            continue
        m = exact * np.sign(cosine)
        d = offset + (m - normal) @ points.mean(axis=0)
        big = float(np.max(np.abs(m)))  # the reflection is exact when 2·d·big is a whole number
        d = np.round(2 * d * big) / (2 * big)
        value = plane_error(voxels, known, points, m, d, at_points=trilinear(voxels, points, 3.0))
        if value <= error + SNAP_COST_VOXELS:
            return value, m, d, True
    return error, normal, offset, False


def class_symmetry_normals(grids, labels, classes: int, pitch: float, shapes_per_class: int = 3,
                           directions: int = 60, max_normals: int = 4, progress=None,
                           class_names=None) -> np.ndarray:
    """(C, max_normals, 3) normals of the mirror planes each class's whole training shapes share
    (zero rows where a class has fewer): per shape the best planes over `directions` normals through
    its inside's centre, refined; a normal is kept when two shapes' planes agree on it (within 18°).
    progress(fraction, message) after each shape (about 0.3 s a shape at 32³, ten times that on a busy
    machine: a Learn Volumes of many classes spends tens of seconds here before its first epoch)."""
    labels = np.asarray(labels)
    out = np.zeros((classes, max_normals, 3))
    candidates = np.concatenate([fibonacci_hemisphere(directions), np.eye(3)])
    searched = [np.asarray(grids)[labels == k][:shapes_per_class] for k in range(classes)]
    shapes_searched, done = max(sum(len(g) for g in searched), 1), 0
    for k in range(classes):
        found = []
        for grid in searched[k]:
            done += 1
            if progress is not None:
                name = class_names[k] if class_names is not None else f"class {k}"
                progress(done / shapes_searched,
                         f"finding the mirror planes of {name} (shape {done} of {shapes_searched})")
            voxels = np.asarray(grid, np.float64) / pitch
            everything = np.ones(voxels.shape, bool)
            points = surface_points(voxels, limit=300)
            inside = np.argwhere(voxels < 0)
            if len(points) < 8 or len(inside) == 0:
                continue
            centre = inside.mean(axis=0)
            field = voxels
            at = trilinear(field, points, 3.0)
            errors = plane_errors(field, everything, points, candidates, candidates @ centre, 0.0, at)
            mine = []
            for j in np.argsort(errors)[:4]:
                error, n, _ = _refine(field, everything, points, candidates[j], candidates[j] @ centre)
                if error <= MAX_PLANE_ERROR_VOXELS and all(abs(n @ m) < 0.95 for m in mine):
                    mine.append(n * np.sign(n[np.argmax(np.abs(n))]))
            found.extend(mine)
        clusters = []  # [sum of normals, count]
        for n in found:
            for cluster in clusters:
                if abs(cluster[0] @ n) / np.linalg.norm(cluster[0]) > 0.95:
                    cluster[0] += n * np.sign(cluster[0] @ n)
                    cluster[1] += 1
                    break
            else:
                clusters.append([n.copy(), 1])
        clusters = sorted((c for c in clusters if c[1] >= 2), key=lambda c: -c[1])[:max_normals]
        for i, (total, _) in enumerate(clusters):
            out[k, i] = total / np.linalg.norm(total)
    return out


def _centres(r: int) -> np.ndarray:
    axis = np.arange(r, dtype=np.float64)
    return np.stack([a.ravel() for a in np.meshgrid(axis, axis, axis, indexing="ij")], axis=1)


def _sampled(source, images, outside: float, nearest: bool) -> np.ndarray:
    if not nearest:
        return trilinear(source, images, outside)
    return _nearest_voxel(source, images, outside)


def map_agreement(grid, known, a, b, outside: float, nearest: bool) -> tuple[float, int]:
    """(inside IoU, known inside voxels judged) between the known voxels whose image under p -> A p + b
    is known and the known field sampled at those images: how well the map would have said the
    known part itself, at the voxel level the fill is judged at."""
    grid = np.asarray(grid, np.float64)
    known = np.asarray(known, bool)
    centres = _centres(grid.shape[0])
    rows = np.flatnonzero(known.ravel())
    images = centres[rows] @ a.T + b
    both = _known_at(known, images)
    truth = grid.ravel()[rows[both]] < 0
    said = _sampled(np.where(known, grid, outside), images[both], outside, nearest) < 0
    union = int(np.logical_or(truth, said).sum())
    return (float(np.logical_and(truth, said).sum() / union) if union else 0.0), int(truth.sum())


def fit_symmetry_maps(grid, known, normals, pitch: float, middle_axes=(), max_error: float = MAX_PLANE_ERROR_VOXELS,
                      compose: bool = True, min_agreement: float = MIN_AGREEMENT) -> list:
    """[(agreement, A, b, nearest)] for one partial shape: each of `normals` (rows of zeros skipped)
    refitted on the known part, and the grid's middle planes across `middle_axes` (see the module
    doc; only planes the class's training shapes share: an airplane's known fuselage agrees with its
    front-back mirror image at 0.77 while its wings do not); the planes
    within `max_error` voxels and, with `compose`, the compositions of pairs of them; each kept, read
    trilinearly or by nearest voxel (whichever agrees better), when its `map_agreement` on the known
    part reaches `min_agreement`; best agreement first."""
    grid = np.asarray(grid, np.float64)
    voxels = grid / pitch
    known = np.asarray(known, bool)
    r = voxels.shape[0]
    points = surface_points(voxels, known)
    if len(points) < 8:
        return []
    field = voxels  # in voxels, as the plane errors and their thresholds
    at = trilinear(field, points, 3.0)
    offsets = np.arange(-1.5 * r, 2.5 * r, 0.5)
    planes = [(np.eye(3)[int(a)], (r - 1) / 2) for a in middle_axes if int(a) >= 0]
    fitted = 0
    for normal in np.asarray(normals, np.float64).reshape(-1, 3):
        if not np.linalg.norm(normal) > 0.5:
            continue
        normal = normal / np.linalg.norm(normal)
        errors = plane_errors(field, known, points, np.repeat(normal[None], len(offsets), axis=0), offsets,
                              at_points=at)
        start = int(np.argmin(errors))
        if not np.isfinite(errors[start]):
            continue
        error, n, d = _refine(field, known, points, normal, offsets[start])
        error, n, d, _ = _snapped(field, known, points, error, n, d)
        if error <= max_error and not any(abs(n @ m) > 0.999 and abs(d - np.sign(n @ m) * e) < 0.1
                                          for m, e in planes):
            planes.append((n, d))
            fitted += 1
    outside = float(np.max(grid))

    def judged(maps, trusted=0):
        """The first `trusted` maps (the class's middle planes) stay first and are dropped only when
        the known part can judge them and disagrees; the others need the known part's agreement."""
        kept = []
        for i, (a, b) in enumerate(maps):
            (tri, count), (near, _) = (map_agreement(grid, known, a, b, outside, False),
                                       map_agreement(grid, known, a, b, outside, True))
            agreement, judgeable = max(tri, near), count >= MIN_JUDGED
            keep = (agreement >= min_agreement or not judgeable) if i < trusted else (
                judgeable and agreement >= min_agreement)
            if keep:
                kept.append((agreement + (2.0 if i < trusted else 0.0), a, b, near > tri))
        return [(min(m[0], 1.0), *m[1:]) for m in sorted(kept, key=lambda m: -m[0])]

    # single planes before their compositions: a rotation is judged on a smaller overlap
    singles = judged([reflection(n, d) for n, d in planes], trusted=len(planes) - fitted)
    if not compose:
        return singles
    return singles + judged([(a2 @ a1, a2 @ b1 + b2) for i, (_, a1, b1, _) in enumerate(singles)
                             for (_, a2, b2, _) in singles[i + 1:]])


def symmetric_fill(grid, known, maps, outside: float) -> tuple[np.ndarray, np.ndarray]:
    """(values (R, R, R), set (R, R, R) bool): unknown voxels whose image under one of `maps` (the
    first that reaches the known region wins) falls in the known region, given the known field
    there (trilinear or nearest voxel, as the map says; unknown corners count as `outside`)."""
    grid = np.asarray(grid, np.float64)
    known = np.asarray(known, bool)
    centres = _centres(grid.shape[0])
    source = np.where(known, grid, outside)
    values = np.full(grid.size, outside)
    done = known.ravel().copy()
    for _, a, b, nearest in maps:
        todo = np.flatnonzero(~done)
        if len(todo) == 0:
            break
        images = centres[todo] @ a.T + b
        reach = _known_at(known, images)
        values[todo[reach]] = _sampled(source, images[reach], outside, nearest)
        done[todo[reach]] = True
    filled = done & ~known.ravel()
    return values.reshape(grid.shape), filled.reshape(grid.shape)


def scaled_maps(maps, factor: int) -> list:
    """`maps` (from fit_symmetry_maps at some resolution) for the grid `factor` times finer over the
    same cube: fine coordinate f = factor·c + (factor - 1)/2 for coarse c."""
    shift = (factor - 1) / 2 * np.ones(3)
    return [(agreement, a, factor * b + shift - a @ shift, nearest) for agreement, a, b, nearest in maps]
