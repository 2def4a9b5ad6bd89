"""Is a generated shape plausible for its class? Checks of a decoded signed-distance grid against the
class's own training grids, knowing nothing about chairs; and the implicit decoder's checked
generation built on them.

A class's training grids say where its shapes end and what is there: for each of the six ends of
the cube frame (axis 0, 1, 2; low and high side) the training shapes' extreme voxel, the volume in
the slab next to it (`END_ZONE` of the class's extent inwards: a chair's feet, a table's top, a
lamp's base), and how many separate blobs that slab's footprint holds (a pedestal's 1, three to
five legs, the two wing tips). A generated shape, after keeping its largest connected piece
(pieces found at the level grown by `ClassSupport.join`, as clean_surface would join them),
passes when at every end it

* reaches as far as the class's shapes do (`reach_tolerance` of the class's extent beyond their range),
* holds at least `presence_share` of the class's smallest end-slab volume there (present),
* has that slab in its largest piece (attached: `attached_share` of the slab's voxels),
* with a footprint blob count one of the class's training shapes has (when `check_feet`),

and the largest piece holds nearly all its volume (`main_share`). For a chair whose floor end is
the legs, these are "legs present and attached": a seat whose legs averaged away (blending a
four-legged chair's code with a pedestal's) ends above the class's floor, loose stubs are not in
the largest piece, a chair left with two of its four legs stands on two feet, which no training
chair does. Which end is the floor need not be known (canonical pose can put the height along any
axis; every end is checked). With 3-8 training shapes a class's ranges are narrow: 50-85% of the
training shapes pass against the others (tests/test_generation_checks.py), so the check is strict.

    support = class_support(training_grids_of_the_class)
    check = check_grid(generated_grid, support)       # GridCheck: .passed, .reasons, .score

`screened_grids` is ImplicitSDF.generate's checked path (candidates checked at the training
resolution, then at the output's; failures drawn again); `class_references` caches a class's
decoded training shapes on the model. Also: `inside_pieces` (connected pieces of a boolean grid,
vectorised union-find), `closest_copy` (highest inside IoU with any training grid: < 0.97 is new),
`nearest_class` (the class of the training shape nearest by Chamfer distance between surface
voxels) and `occupancy_signed_grid` (an occupancy model's probabilities as a signed grid, so
shapespace.mesh_cleanup.clean_surface can clean the VAE's shapes too). Measured (scripts/
bench_generation.py, hard shapes): generated chairs with every end present and attached 0.50 ->
1.00. Speed (one chair at 64³ end to end — generate, extract, clean, write into Blender — one torch
thread on the shared 2-core machine, before and after in one run, 25 and 30 seeds): 170 -> 113 and
118 -> 87 ms median, the same shapes (to 6e-8), once screening looked at candidates one at a
time, dropped on their 64³ estimate what 64³ would refuse, and read a check's slabs, footprints and
copies without a copy of the grid per slab (check_grid at 64³ ~11 -> ~7 ms, closest_copy 6 -> 0.4
ms). Grids are indexed [x, y, z], negative inside (or below `level`); pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["inside_pieces", "footprint_blobs", "footprint_counts", "class_support", "check_grid", "ClassSupport",
           "GridCheck", "closest_copy", "nearest_class", "surface_points", "class_references", "screened_grids",
           "occupancy_signed_grid", "END_ZONE", "JOIN_VOXELS", "ENDS"]

END_ZONE = 0.15  # share of the class's median extent (along an axis) that makes an end's slab
JOIN_VOXELS = 0.75  # shapespace.mesh_cleanup.clean_surface's largest growth to join pieces (max_grow)
ENDS = tuple((axis, side) for axis in range(3) for side in (0, 1))  # side 0: low indices, 1: high


def _roots(a: np.ndarray, b: np.ndarray, count: int) -> np.ndarray:
    """(count,) the smallest node of each node's connected piece, for edges a-b."""
    from . import shapespace

    return shapespace("mesh_cleanup").edge_roots(a, b, count)


# The neighbour offsets of a full neighbourhood (26 in 3D, 8 in 2D) that point "forwards" (each pair
# of neighbours once).
_FORWARD = {n: [o for o in np.ndindex(*(3,) * n) if tuple(np.subtract(o, 1)) > (0,) * n] for n in (2, 3)}
_FORWARD = {n: [tuple(int(x) for x in np.subtract(o, 1)) for o in offsets] for n, offsets in _FORWARD.items()}


def inside_pieces(inside: np.ndarray, faces_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(labels int64, sizes (P,)) of the connected pieces of a boolean grid, 3D (26-neighbourhood:
    voxels touching at a corner are one piece — a thin slanted leg at 32³ is a chain of such) or 2D
    (8-neighbourhood); pieces numbered by size, largest first; -1 outside. `faces_only`: only voxels
    sharing a face are neighbours (6 in 3D, 4 in 2D; a quarter of the work)."""
    full = np.asarray(inside, bool)
    labels = np.full(full.shape, -1, np.int64)
    count = int(full.sum())
    if count == 0:
        return labels, np.zeros(0, np.int64)
    box = tuple(slice(int(used[0]), int(used[-1]) + 1) for used in
                (np.flatnonzero(full.any(axis=tuple(a for a in range(full.ndim) if a != axis)))
                 for axis in range(full.ndim)))
    inside = full[box]  # the box around the inside: the shifted views below scan only it
    index = np.full(inside.shape, -1, np.int32)
    index[inside] = np.arange(count, dtype=np.int32)
    a, b = [], []
    offsets = _FORWARD[full.ndim]
    if faces_only:
        offsets = [o for o in offsets if sum(map(abs, o)) == 1]
    for offset in offsets:  # neighbour pairs from shifted views of the index grid
        here = tuple(slice(max(0, -d), n - max(0, d)) for d, n in zip(offset, inside.shape))
        there = tuple(slice(max(0, d), n - max(0, -d)) for d, n in zip(offset, inside.shape))
        first, second = index[here], index[there]
        linked = (first >= 0) & (second >= 0)
        a.append(first[linked])
        b.append(second[linked])
    roots = _roots(np.concatenate(a), np.concatenate(b), count)
    _, piece, sizes = np.unique(roots, return_inverse=True, return_counts=True)
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    labels[box][inside] = rank[piece.ravel()]
    return labels, sizes[order]


def footprint_blobs(slab: np.ndarray, axis: int, min_share: float = 0.15) -> int:
    """How many separate blobs (8-neighbourhood) the footprint of a boolean slab has, seen along
    `axis`, counting only blobs of at least `min_share` of the largest one's cells (a four-legged
    chair's feet are 4; a speck beside them is none)."""
    return footprint_counts([slab], [axis], min_share)[0]


def footprint_counts(slabs, axes, min_share: float = 0.15) -> list:
    """`footprint_blobs` of several slabs at once: their footprints side by side on one canvas, one
    empty column apart (8-neighbours never reach across it), labelled by one `inside_pieces` call —
    at a check's sizes each call is mostly fixed numpy work (~0.7 ms), more than the footprints' own."""
    prints = [np.asarray(slab, bool).any(axis=axis) for slab, axis in zip(slabs, axes)]
    if not prints:
        return []
    widths = np.array([p.shape[1] + 1 for p in prints])
    starts = np.concatenate([[0], np.cumsum(widths)[:-1]])
    canvas = np.zeros((max(p.shape[0] for p in prints), int(widths.sum())), bool)
    for p, start in zip(prints, starts):
        canvas[:p.shape[0], start:start + p.shape[1]] = p
    labels, sizes = inside_pieces(canvas)
    owner = np.zeros(len(sizes), np.int64)  # the footprint each blob lies in, from any of its cells' column
    rows, columns = np.nonzero(labels >= 0)
    owner[labels[rows, columns]] = np.repeat(np.arange(len(prints)), widths)[columns]
    counts = []
    for f in range(len(prints)):
        mine = sizes[owner == f]
        counts.append(int((mine >= max(2, min_share * mine.max())).sum()) if len(mine) else 0)
    return counts


def _extremes(inside: np.ndarray) -> np.ndarray:
    """(6,) the first and last occupied index along each axis, in ENDS order (nan when empty)."""
    out = np.full(6, np.nan)
    for axis in range(3):
        used = np.flatnonzero(inside.any(axis=tuple(a for a in range(3) if a != axis)))
        if len(used):
            out[2 * axis], out[2 * axis + 1] = used[0], used[-1]
    return out


def _within(length: int, side: int, edge: float, depth: float) -> np.ndarray:
    """(length,) bool: the indices along an axis within `depth` voxels inwards of index `edge`."""
    position = np.arange(length, dtype=np.float64)
    return position <= edge + depth if side == 0 else position >= edge - depth


def _slab(inside: np.ndarray, axis: int, side: int, edge: float, depth: float) -> np.ndarray:
    """The voxels of `inside` within `depth` voxels inwards of index `edge` along `axis` (a boolean
    grid of the same shape)."""
    reshaped = [1, 1, 1]
    reshaped[axis] = -1
    return inside & _within(inside.shape[axis], side, edge, depth).reshape(reshaped)


def _axis_counts(inside: np.ndarray) -> list:
    """Per axis, (length,) the voxels of `inside` at each index along it."""
    return [inside.sum(axis=tuple(a for a in range(3) if a != axis)) for axis in range(3)]


def _count_extremes(counts: list) -> np.ndarray:
    """_extremes from `_axis_counts`."""
    out = np.full(6, np.nan)
    for axis, along in enumerate(counts):
        used = np.flatnonzero(along)
        if len(used):
            out[2 * axis], out[2 * axis + 1] = used[0], used[-1]
    return out


@dataclass
class ClassSupport:
    """What a class's training grids say about its ends (see the module doc); voxel units of
    `resolution`."""

    resolution: int
    level: float
    extreme_low: np.ndarray  # (6,) the smallest / largest extreme index over the training shapes, per end
    extreme_high: np.ndarray
    edge: np.ndarray  # (6,) the median extreme: where a slab starts
    depth: np.ndarray  # (6,) how deep an end's slab goes (END_ZONE of the median extent)
    zone_volume: np.ndarray  # (6,) the smallest end-slab volume (voxels) of the training shapes
    feet: list  # 6 sets: footprint blob counts of the training shapes' end slabs
    shapes: int = 0
    join: float = 0.0  # pieces are found at level + join: what a cleaner's growth would join is one piece


@dataclass
class GridCheck:
    """One generated grid against its class's support; `passed` when there are no `reasons`."""

    pieces: int  # connected pieces of the inside (26-neighbourhood)
    main_share: float  # share of the inside volume in the largest piece
    extremes: np.ndarray  # (6,) where the largest piece ends
    reaches: np.ndarray  # (6,) bool: within the class's range (± tolerance)
    present: np.ndarray  # (6,) bool: end slab holds enough of the largest piece
    attached: np.ndarray  # (6,) bool: the end slab's voxels are in the largest piece
    feet: np.ndarray  # (6,) footprint blobs of the end slabs (0 unless counted: check_feet)
    feet_known: np.ndarray  # (6,) bool: a count some training shape has
    score: float  # larger is worse: how far outside the class's ranges (0 when every end is inside)
    reasons: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.reasons

    @property
    def ends_attached(self) -> bool:
        """Every end of the shape present where the class has it and attached to the rest (legs)."""
        return bool(self.reaches.all() and self.present.all() and self.attached.all())


def class_support(grids, level: float = 0.0, zone: float = END_ZONE, join: float = 0.0) -> ClassSupport:
    """The ends of a class's training grids (M, R, R, R), inside below `level`; `join` (grid units) as
    ClassSupport.join, for the grids it will check."""
    inside = np.asarray(grids) < level
    inside = inside[inside.reshape(len(inside), -1).any(axis=1)]
    if len(inside) == 0:
        raise ValueError("The class's training grids have no inside; there is nothing to compare a shape to")
    extremes = np.array([_extremes(g) for g in inside])  # (M, 6)
    edge = np.median(extremes, axis=0)
    extent = edge[1::2] - edge[0::2] + 1  # per axis
    depth = np.repeat(np.maximum(zone * extent, 1.0), 2)
    volumes, feet = np.zeros((len(inside), 6)), [set() for _ in range(6)]
    for i, g in enumerate(inside):
        slabs = [_slab(g, axis, side, extremes[i, e], depth[e]) for e, (axis, side) in enumerate(ENDS)]
        volumes[i] = [slab.sum() for slab in slabs]
        for e, count in enumerate(footprint_counts(slabs, [axis for axis, _ in ENDS])):
            feet[e].add(count)
    return ClassSupport(int(inside.shape[1]), float(level), extremes.min(axis=0), extremes.max(axis=0), edge, depth,
                        volumes.min(axis=0), feet, len(inside), float(join))


def check_grid(grid, support: ClassSupport, reach_tolerance: float = 0.1, presence_share: float = 0.35,
               attached_share: float = 0.9, main_share: float = 0.97, check_feet: bool = False) -> GridCheck:
    """`grid` (R, R, R), at the support's resolution and level, against its class (module doc).
    `reach_tolerance`: how far beyond the class's range of extremes an end may be, as a share of the
    class's median extent along that axis (at least one voxel of a 32³ grid)."""
    grid = np.asarray(grid)
    if grid.shape != (support.resolution,) * 3:
        raise ValueError(f"The grid is {grid.shape}, its class's support was measured at {support.resolution}³; "
                         "measure the class at the grid's resolution")
    grown = grid < support.level + support.join
    if not (grid < support.level).any():
        grown[:] = False
    # Everything below is read within the box around the shape (a third of the cube or less).
    start = np.zeros(3, np.int64)
    if grown.any():
        box = tuple(slice(int(used[0]), int(used[-1]) + 1) for used in
                    (np.flatnonzero(grown.any(axis=tuple(a for a in range(3) if a != axis))) for axis in range(3)))
        start = np.array([b.start for b in box])
        grid, grown = grid[box], grown[box]
    inside = grid < support.level
    # Pieces at the level grown by `join` (clean_surface grows a surface by up to 3/4 voxel to join
    # pieces that nearly touch): a leg it would join to its seat is attached.
    # With a join, sharing a face is enough (what touches at a corner is joined by the growth anyway).
    labels, sizes = inside_pieces(grown, faces_only=support.join > 0)
    if len(sizes) == 0:
        nothing = np.zeros(6, bool)
        return GridCheck(0, 0.0, np.full(6, np.nan), nothing, nothing, nothing, np.zeros(6, np.int64), nothing,
                         float("inf"), ["empty: no inside"])
    main = (labels == 0) & inside
    share = float(sizes[0] / sizes.sum())
    offset = np.repeat(start, 2)  # box indices + offset = the grid's
    # Slab volumes from per-index voxel counts along each axis (a slab is a range of indices), not
    # from a masked copy of the box per slab.
    main_counts, inside_counts = _axis_counts(main), _axis_counts(inside)
    extremes, everything = _count_extremes(main_counts) + offset, _count_extremes(inside_counts) + offset
    extent = np.repeat(support.edge[1::2] - support.edge[0::2] + 1, 2)
    tolerance = np.maximum(reach_tolerance * extent, support.resolution / 32.0)
    below = np.maximum(support.extreme_low - tolerance - extremes, 0)
    above = np.maximum(extremes - support.extreme_high - tolerance, 0)
    reaches = (below == 0) & (above == 0)
    present, attached = np.zeros(6, bool), np.zeros(6, bool)
    feet, feet_known = np.zeros(6, np.int64), np.zeros(6, bool)
    missing = np.zeros(6)
    main_ranges = [_within(main.shape[axis], side, extremes[e] - offset[e], support.depth[e])
                   for e, (axis, side) in enumerate(ENDS)]  # the largest piece's end slabs, as index ranges
    if check_feet:
        feet[:] = footprint_counts([np.compress(within, main, axis=axis) for within, (axis, _) in
                                    zip(main_ranges, ENDS)], [axis for axis, _ in ENDS])
    for e, (axis, side) in enumerate(ENDS):
        kept = main_counts[axis][main_ranges[e]].sum()
        need = presence_share * support.zone_volume[e]
        present[e] = kept >= need
        missing[e] = max(need - kept, 0) / max(need, 1)
        # Loose bits beyond the largest piece's end (a stub under a seat) count against it.
        every = _within(main.shape[axis], side, everything[e] - offset[e], support.depth[e])
        attached[e] = main_counts[axis][every].sum() >= attached_share * inside_counts[axis][every].sum()
        if check_feet:
            feet_known[e] = int(feet[e]) in support.feet[e]
    reasons = []
    names = [f"{'low' if side == 0 else 'high'} end of axis {axis}" for axis, side in ENDS]
    if share < main_share:
        reasons.append(f"{len(sizes)} pieces: the largest holds {100 * share:.0f}% of the volume")
    for e in range(6):
        if not reaches[e]:
            reasons.append(f"the {names[e]} is at {extremes[e]:.0f}, the class's shapes end within "
                           f"{support.extreme_low[e]:.0f}-{support.extreme_high[e]:.0f}")
        if not present[e]:
            reasons.append(f"the {names[e]} holds too little ({100 * missing[e]:.0f}% short of the class's least)")
        if not attached[e]:
            reasons.append(f"the {names[e]} is partly loose from the largest piece")
        if check_feet and not feet_known[e]:
            reasons.append(f"the {names[e]} has {feet[e]} separate parts; the class's shapes have "
                           f"{sorted(support.feet[e])}")
    score = float(((below + above) / tolerance).sum() + missing.sum() + (~attached).sum() + (1 - share) * 10
                  + ((~feet_known).sum() if check_feet else 0))
    return GridCheck(len(sizes), share, extremes, reaches, present, attached, feet, feet_known, score, reasons)


def closest_copy(grid, training_grids, level: float = 0.0) -> float:
    """The highest inside IoU of `grid` with any of `training_grids` (M, R, R, R): at 0.97 or more the
    generated shape is a copy."""
    if len(training_grids) == 0:
        return 0.0
    insides = (np.asarray(training_grids) < level).reshape(len(training_grids), -1)
    return _highest_iou(grid, insides, insides.sum(axis=1), level)


def _highest_iou(grid, insides: np.ndarray, counts: np.ndarray, level: float) -> float:
    """closest_copy against the training shapes' insides (M, R³) and their voxel counts (M,): the
    overlaps read at the grid's inside voxels only (a tenth of the cube), union = both counts - overlap."""
    inside = np.flatnonzero(np.asarray(grid).reshape(-1) < level)
    both = np.count_nonzero(np.take(insides, inside, axis=1), axis=1)
    return float(np.max(both / np.maximum(counts + len(inside) - both, 1)))


def surface_points(grid, pitch: float = 1.0, count: int = 400, seed: int = 0) -> np.ndarray:
    """(≤ count, 3) indices of the voxels within `pitch` (one voxel, in the grid's units) of the zero
    level: the surface as points (the 20 most inside voxels when none)."""
    grid = np.asarray(grid)
    near = np.argwhere(np.abs(grid) < pitch).astype(np.float64)
    if len(near) == 0:
        near = np.array(np.unravel_index(np.argsort(grid.ravel())[:20], grid.shape)).T.astype(np.float64)
    rng = np.random.default_rng(seed)
    return near[rng.choice(len(near), min(count, len(near)), replace=False)]


def nearest_class(grid, training_clouds, training_labels, pitch: float = 1.0) -> int:
    """The label of the training shape whose surface points (`surface_points` of each, same pitch) are
    nearest by Chamfer distance to the grid's."""
    mine = surface_points(grid, pitch)
    every = np.concatenate(training_clouds)
    owner = np.repeat(np.arange(len(training_clouds)), [len(c) for c in training_clouds])
    starts = np.concatenate([[0], np.cumsum([len(c) for c in training_clouds])[:-1]])
    squared = (mine ** 2).sum(1)[:, None] + (every ** 2).sum(1)[None] - 2 * mine @ every.T
    d = np.sqrt(np.maximum(squared, 0))  # (mine, every training point)
    theirs = np.bincount(owner, d.min(axis=0)) / np.bincount(owner)  # each training point to mine
    ours = np.minimum.reduceat(d, starts, axis=1).mean(axis=0)  # each of mine to each training shape
    return int(np.asarray(training_labels)[int(np.argmin(ours + theirs))])


def class_references(model, label: int, resolution: int) -> tuple[ClassSupport, np.ndarray]:
    """(support, grids) of class `label`'s training shapes as an implicit model decodes them at
    `resolution`, at its surface level, pieces joined as clean_surface joins them (3/4 voxel); cached
    on the model until its codes change (`fit_prior` drops the cache)."""
    cache = model.__dict__.setdefault("_generation_references", {})
    key = (int(label), int(resolution))
    if key not in cache:
        grids, _ = model.training_grids([int(label)], int(resolution))
        join = JOIN_VOXELS * float(model.frame[3]) / int(resolution)
        cache[key] = (class_support(grids, model.surface_level(), join=join), grids)
    return cache[key]


def _reference_insides(model, label: int, resolution: int, level: float) -> tuple[np.ndarray, np.ndarray]:
    """(insides (M, R³) bool, voxel counts (M,)) of class_references' grids below `level`, cached with
    them: closest_copy for every candidate without comparing every training grid again."""
    cache = model.__dict__.setdefault("_generation_references", {})
    key = ("insides", int(label), int(resolution), float(level))
    if key not in cache:
        _, grids = class_references(model, label, resolution)
        insides = (np.asarray(grids) < level).reshape(len(grids), -1)
        cache[key] = (insides, insides.sum(axis=1))
    return cache[key]


def screened_grids(model, label: int, vector, draw, count: int, resolution: int, rounds: int = 4,
                   copy_limit: float | None = None, check_feet: bool = True, stats: dict | None = None) -> np.ndarray:
    """(count, R, R, R) grids of class `label` at `resolution` whose shapes pass `check_grid` against the
    class's decoded training shapes and copy none of them (inside IoU below `copy_limit`,
    GENERATION_COPY_LIMIT by default) — first at the model's training resolution r (cheap: most
    failures are seen there), then, for those that pass, at `resolution` (at most 2r: a 128³ request
    is checked at 64³), since a part thinner than a voxel at r can be there at r's voxel centres and
    gone between them. draw(n) gives n candidate codes; each round draws again for what failed (twice
    as many after the first); when `rounds` are used up the least bad candidates fill in, so `count`
    grids always come back. `check_feet`: the ends' footprint blob counts must be ones the class's
    training shapes have (a chair with two of its four legs left stands on two). `stats`, when
    given, gets the candidates drawn, decoded (at r; `estimate_failed`: dropped on their estimate at
    the check's resolution; `fine`: decoded there) and the grids that passed.

    Cheap first, as what fails is mostly seen early: a round's candidates are looked at one by one,
    in order, and only until `count` have passed (the rest are never decoded); each candidate's
    network fields serve both resolutions; and before the decoder runs near the surface at the finer
    resolution, the check looks at the estimate that decode starts from (the r grid upsampled,
    against the finer resolution's support): a candidate whose estimate fails is dropped there. On
    the hard shapes' chairs (scripts/bench_generation.py), of 61 candidates that passed at r, 15
    failed at 2r — every one of them on its estimate already, and every one that passed its estimate
    passed at 2r. What comes back still passed every check at both resolutions."""
    from .implicit_decoder import GENERATION_COPY_LIMIT

    limit = GENERATION_COPY_LIMIT if copy_limit is None else float(copy_limit)
    trained, resolution = int(model.frame[4]), int(resolution)
    check_at = min(resolution, 2 * trained)
    fine_check = check_at > trained
    level = model.surface_level()
    vector = np.asarray(vector)[None]

    def judged(grid, at):
        """(passed, badness) of one grid at resolution `at`."""
        support, _ = class_references(model, label, at)
        check = check_grid(grid, support, check_feet=check_feet)
        # Copies at the extraction level and at zero (where tests and users compare insides).
        copy = max(_highest_iou(grid, *_reference_insides(model, label, at, at_level), at_level)
                   for at_level in (level, 0.0))
        return check.passed and copy < limit, check.score + 100.0 * (copy >= limit)

    def finer(decode, grid, at, to, look=None):
        """The grid at `to` from the one at `at` (coarse to fine when `to` is twice `at`: only then is
        there an estimate from the grid already checked, for `look`)."""
        out = decode(to, grid[None], look) if to == 2 * at else decode(to)
        return None if out is None else out[0]

    def estimate_look(at, seen):
        """look for _grid_decoder: the check at `at` on the coarse-to-fine estimate; its badness into `seen`."""
        def look(estimate):
            support, _ = class_references(model, label, at)
            check = check_grid(estimate, support, check_feet=check_feet)
            seen.append(check.score)
            return check.passed
        return look

    counted = {"drawn": 0, "decoded": 0, "estimate_failed": 0, "fine": 0}
    # kept: (decode, grid, the grid's resolution); spare: (badness, round, 0 at r / 1 finer, order, that)
    kept, spare = [], []
    for round_index in range(int(rounds)):
        need = count - len(kept)
        if need <= 0:
            break
        z = np.asarray(draw(need if round_index == 0 else 2 * need))
        counted["drawn"] += len(z)
        for i, code in enumerate(z):
            if len(kept) >= count:
                break
            decode = model._grid_decoder(code[None], vector)
            coarse = decode(trained)[0]
            counted["decoded"] += 1
            ok, score = judged(coarse, trained)
            if ok and not fine_check:
                kept.append((decode, coarse, trained))
            elif not ok:  # seen at r only: behind every candidate seen at the finer check
                spare.append((score + 1000.0 * fine_check, round_index, 0, i, (decode, coarse, trained)))
            else:
                seen = []
                fine = finer(decode, coarse, trained, check_at, estimate_look(check_at, seen))
                if fine is None:  # its estimate failed: behind those decoded and failed there
                    counted["estimate_failed"] += 1
                    spare.append((seen[-1] + 500.0, round_index, 1, i, (decode, coarse, trained)))
                    continue
                counted["fine"] += 1
                ok, score = judged(fine, check_at)
                (kept.append((decode, fine, check_at)) if ok else
                 spare.append((score, round_index, 1, i, (decode, fine, check_at))))
    spare.sort(key=lambda item: item[:4])
    chosen = kept[:count] + [item[-1] for item in spare[:max(0, count - len(kept))]]
    if stats is not None:
        for name, value in counted.items():
            stats[name] = stats.get(name, 0) + value
        stats["passed"] = stats.get("passed", 0) + min(len(kept), count)
        stats["wanted"] = stats.get("wanted", 0) + count
    out = np.empty((count,) + (resolution,) * 3, np.float32)
    for j, (decode, grid, at) in enumerate(chosen):
        out[j] = grid if at == resolution else finer(decode, grid, at, resolution)
    return out


def occupancy_signed_grid(probabilities, pitch: float, level: float | None = None) -> np.ndarray:
    """An occupancy model's probabilities (R, R, R) as a signed grid for
    shapespace.mesh_cleanup.clean_surface (negative inside): zero at `level` (by default
    shapespace.isosurface.expected_volume_level, as the VAE's meshes are extracted now), one voxel
    (`pitch`) per 0.25 of probability, so the cleaner's growth by up to 3/4 voxel to join pieces
    lowers the level by at most 0.19."""
    p = np.asarray(probabilities, np.float64)
    if level is None:
        from . import shapespace

        level = shapespace("isosurface").expected_volume_level(p)
    return ((float(level) - p) * (float(pitch) / 0.25)).astype(np.float32)
