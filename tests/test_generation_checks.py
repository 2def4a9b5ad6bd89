"""Plausibility of generated shapes (learning.generation_checks) and the implicit decoder's checked
generation: the check finds a table whose legs are gone, cut short or loose on grids built by hand;
the training shapes themselves pass it; generated chairs, tables, lamps and airplanes — decoded at
twice the training resolution — are nearest their own class, in one piece, with every end present
and attached (a chair's legs), and copy no training shape. The coarse-to-fine decode says the same
field as the decoder at every voxel near the surface.

Trained tiny (upright procedural shapes at 24³, 12 epochs) to stay under a minute; the hard, rotated
shapes and the 64³ figures are scripts/bench_generation.py's."""

import numpy as np
import pytest

from learning.generation_checks import (check_grid, class_support, closest_copy, footprint_blobs, inside_pieces,
                                        nearest_class, surface_points)


def _table(legs=((0, 0), (0, 1), (1, 0), (1, 1)), leg_bottom=2, gap=0, shift=0, resolution=32):
    """A signed grid (-1 inside, +1 outside) of a table: a top slab and square legs under its corners;
    `gap` voxels between the legs' tops and the top."""
    grid = np.ones((resolution,) * 3, np.float32)
    lo, hi = 8 + shift, 24 + shift
    grid[lo:hi, lo:hi, 20:23] = -1
    for i, j in legs:
        x, y = lo + i * (hi - lo - 3), lo + j * (hi - lo - 3)
        grid[x:x + 3, y:y + 3, leg_bottom:20 - gap] = -1
    return grid


def test_inside_pieces_counts_corner_touching_voxels_as_one():
    grid = np.zeros((6, 6, 6), bool)
    grid[0, 0, 0] = grid[1, 1, 1] = True  # touch at a corner: one piece
    grid[4:6, 4:6, 4:6] = True  # a separate cube
    labels, sizes = inside_pieces(grid)
    assert sizes.tolist() == [8, 2]
    assert labels[4, 4, 4] == 0 and labels[0, 0, 0] == labels[1, 1, 1] == 1 and labels[3, 3, 3] == -1


def test_the_check_finds_missing_short_and_loose_legs():
    support = class_support(np.stack([_table(shift=s) for s in (-1, 0, 1)]))
    assert check_grid(_table(shift=0), support).passed
    assert check_grid(_table(legs=((0, 0), (0, 1), (1, 0))), support).passed  # three legs still stand
    no_legs = check_grid(_table(legs=()), support)
    assert not no_legs.passed and not no_legs.ends_attached
    assert any("low end of axis 2 is at 20" in reason for reason in no_legs.reasons), no_legs.reasons
    short = check_grid(_table(leg_bottom=10), support)
    assert not short.reaches[4] and not short.passed  # axis 2, low side: above the class's floor
    loose = check_grid(_table(gap=2), support)  # legs standing free under the top
    assert loose.pieces == 5 and not loose.passed and loose.main_share < 0.97
    grid = _table()
    grid[8:11, 8:11, 17:20] = 1  # one leg cut off below the top: it stands loose
    cut = check_grid(grid, support)
    assert cut.pieces == 2 and not cut.passed and not cut.attached[4]
    assert closest_copy(_table(), np.stack([_table(shift=1), _table()])) == 1.0
    assert closest_copy(_table(), _table(shift=3)[None]) < 0.97


def test_feet_count_what_the_class_stands_on():
    support = class_support(np.stack([_table(shift=s) for s in (-1, 0, 1)]))
    two = check_grid(_table(legs=((0, 0), (1, 1))), support, check_feet=True)
    assert two.feet[4] == 2 and not two.passed and "2 separate parts" in " ".join(two.reasons)
    assert check_grid(_table(), support, check_feet=True).passed


def test_footprints_counted_together_are_counted_each():
    """footprint_counts labels several slabs' footprints on one canvas: no blob may leak into the next."""
    from learning.generation_checks import footprint_counts

    four, two = _table() < 0, _table(legs=((0, 0), (1, 1))) < 0
    speck = four.copy()
    speck[2, 28, 2:4] = True  # one footprint cell beside 4 legs' 9 each: a speck, no foot
    full = np.ones((8, 8, 3), bool)  # footprints filled to their edges, side by side: one blob each
    slabs = [four[:, :, 2:6], two[:, :, 2:6], speck[:, :, 2:6], four[:, :, 25:], full, full, four[:, :, 20:23]]
    axes = [2, 2, 2, 2, 1, 2, 2]
    assert footprint_counts(slabs, axes) == [4, 2, 4, 0, 1, 1, 1]
    assert [footprint_blobs(s, a) for s, a in zip(slabs, axes)] == [4, 2, 4, 0, 1, 1, 1]


def test_closest_copy_is_the_inside_iou():
    references = np.stack([_table(legs=()), _table(shift=2, leg_bottom=4)])
    a, b = _table() < 0, references < 0
    iou = ((a & b).sum(axis=(1, 2, 3)) / (a | b).sum(axis=(1, 2, 3))).max()
    assert 0.3 < iou < 0.9
    assert closest_copy(_table(), references) == pytest.approx(iou, abs=1e-12)
    assert closest_copy(_table(), np.zeros((0, 32, 32, 32))) == 0.0


class _TableModel:
    """Stands in for ImplicitSDF in screened_grids: code c decodes to table variant c (0: four legs,
    1: no legs, 2: four legs at 32³ with one cut loose at 64³ — a part thinner than a coarse voxel),
    at 32³ (its training resolution) and 64³; the class's training shapes are four-legged tables
    shifted a voxel either way. Counts what it decodes."""

    frame = np.array([0.0, 0.0, 0.0, 1.0, 32.0])

    def __init__(self):
        self.decoded = []

    @staticmethod
    def grid(code, resolution):
        coarse = _table(legs=()) if code == 1 else _table()
        fine = coarse.repeat(2, 0).repeat(2, 1).repeat(2, 2)
        if code == 2:
            fine[16:22, 16:22, 34:40] = 1  # leg (0, 0) cut below the top
        return coarse if resolution == 32 else fine

    def surface_level(self):
        return 0.0

    def training_grids(self, classes, resolution):
        grids = np.stack([_table(shift=s) for s in (-1, 1)])
        return (grids if resolution == 32 else grids.repeat(2, 1).repeat(2, 2).repeat(2, 3)), np.zeros(2, int)

    def _grid_decoder(self, code, vector):
        c = int(code[0, 0])

        def decode(resolution, coarse=None, look=None):
            if look is not None:  # the estimate: the coarse grid upsampled (code 3: its leg already loose)
                estimate = self.grid(2 if c == 3 else c, 32).repeat(2, 0).repeat(2, 1).repeat(2, 2)
                if c == 3:
                    estimate[16:22, 16:22, 34:40] = 1
                self.decoded.append((c, "estimate"))
                if not look(estimate):
                    return None
            self.decoded.append((c, resolution))
            return self.grid(2 if c == 3 else c, resolution)[None]
        return decode


def _drawing(codes):
    remaining = list(codes)

    def draw(n):
        taken, remaining[:] = remaining[:n], remaining[n:]
        return np.array(taken, float)[:, None]
    return draw


def test_screening_decodes_candidates_only_until_enough_pass():
    from learning.generation_checks import screened_grids

    model = _TableModel()
    stats = {}
    # Round 1 draws one (no legs: fails at 32³); round 2 draws two: the first passes at 32³, on its
    # 64³ estimate and at 64³, so the second is never decoded.
    out = screened_grids(model, 0, np.zeros(1), _drawing([1, 0, 2]), 1, 64, stats=stats)
    assert np.array_equal(out[0], model.grid(0, 64))
    assert model.decoded == [(1, 32), (0, 32), (0, "estimate"), (0, 64)]
    assert stats == {"drawn": 3, "decoded": 2, "estimate_failed": 0, "fine": 1, "passed": 1, "wanted": 1}
    # A leg cut loose between the coarse voxels: seen at 64³ (code 2), or already on the estimate
    # (code 3: never decoded at 64³); the next candidate is taken.
    model, stats = _TableModel(), {}
    out = screened_grids(model, 0, np.zeros(1), _drawing([2, 3, 0, 0, 0]), 1, 64, stats=stats)
    assert np.array_equal(out[0], model.grid(0, 64))
    assert model.decoded == [(2, 32), (2, "estimate"), (2, 64), (3, 32), (3, "estimate"),
                             (0, 32), (0, "estimate"), (0, 64)]
    assert stats["estimate_failed"] == 1 and stats["fine"] == 2 and stats["passed"] == 1
    # Nothing passes in 4 rounds (1 + 2 + 2 + 2 drawn): the least bad fills in — one failing at 64³,
    # then one failing on its estimate, before any failing at 32³.
    model = _TableModel()
    out = screened_grids(model, 0, np.zeros(1), _drawing([1, 3, 1, 2, 1, 1, 1, 0]), 1, 64, rounds=4)
    assert np.array_equal(out[0], model.grid(2, 64))
    assert model.decoded == [(1, 32), (3, 32), (3, "estimate"), (1, 32), (2, 32), (2, "estimate"), (2, 64),
                             (1, 32), (1, 32), (1, 32)]
    model = _TableModel()
    out = screened_grids(model, 0, np.zeros(1), _drawing([1, 3, 1, 1, 1, 1, 1, 0]), 1, 64, rounds=4)
    assert np.array_equal(out[0], model.grid(2, 64)) and model.decoded[-1] == (3, 64)  # decoded from its 32³ grid


def test_occupancy_grids_clean_to_one_piece_without_specks():
    from learning.generation_checks import occupancy_signed_grid
    from shapespace.mesh_cleanup import clean_surface

    probabilities = np.where(_table() < 0, 0.9, 0.05)
    probabilities[28:30, 28:30, 28:30] = 0.8  # a speck
    probabilities[8:11, 8:11, 18:20] = 0.42  # a leg barely joined below a half
    mesh, report = clean_surface(occupancy_signed_grid(probabilities, 0.1, 0.5), (0, 0, 0), 0.1, 1)
    assert report.pieces_before >= 3 and report.pieces_after == 1 and report.dropped_share < 0.01
    assert report.significant_after == 1 and report.grown > 0


def test_nearest_class_by_surface_points():
    clouds = [surface_points(_table()), surface_points(_table(legs=()))]
    assert nearest_class(_table(shift=1), clouds, [0, 1]) == 0
    assert nearest_class(_table(legs=(), shift=1), clouds, [0, 1]) == 1


FAMILIES = ("chair", "table", "lamp", "airplane")
PER_CLASS = {"chair": 8, "table": 3, "lamp": 3, "airplane": 3}
RESOLUTION = 24


@pytest.fixture(scope="module")
def trained():
    torch = pytest.importorskip("torch")
    from learning.implicit_decoder import ImplicitSDF
    from learning.volumetric import Conditions
    from shapespace.mesh_cleanup import typical_piece_count
    from shapespace.procedural import make_shape
    from shapespace.signed_distance import prepare_signed_distances

    torch.set_num_threads(1)
    meshes, labels = [], []
    for k, family in enumerate(FAMILIES):
        for i in range(PER_CLASS[family]):  # chairs 300-307: corner legs, a pedestal, three legs
            meshes.append(make_shape(family, 300 + i, same_topology=False))
            labels.append(k)
    labels = np.array(labels)
    data = prepare_signed_distances(meshes, labels, resolution=RESOLUTION, samples=512, seed=0, aligned=True)
    conditions = Conditions.fit(labels, np.zeros((len(labels), 0)), list(FAMILIES), [])
    vectors = conditions.vectors(labels, np.zeros((len(labels), 0)))
    model = ImplicitSDF.create(conditions, data.frame, data.truncation, latent=32, seed=0)
    model.fit(data.points, data.distances, data.labels, vectors, data.grids, epochs=12, batch_shapes=12,
              points_per_shape=512)
    model.pieces = np.array([typical_piece_count(data.grids[data.labels == k], data.frame.low, data.frame.pitch)
                             for k in range(len(FAMILIES))])
    return model


def test_coarse_to_fine_decode_says_the_decoder_s_field_near_the_surface(trained):
    model = trained
    vector = model.class_vector("chair")[0]
    codes = model.codes[:3] * 0.7 + model.codes[1:4] * 0.3
    vectors = np.repeat(vector[None], 3, axis=0)
    exact = model.decode_grid(codes, vectors, 2 * RESOLUTION, fine_band=None)
    fast = model.decode_grid(codes, vectors, 2 * RESOLUTION)
    level, pitch = model.surface_level(), model.frame[3] / (2 * RESOLUTION)
    near = np.abs(exact - level) < 0.3 * model.truncation  # the level and every growth clean_surface tries
    difference = float(np.abs(exact - fast)[near].max())
    flips = sum(int(((exact < level + g * pitch) != (fast < level + g * pitch)).sum()) for g in (0, 0.25, 0.5, 0.75))
    print(f"DECODE coarse-to-fine: max |difference| near the surface {difference:.2e} "
          f"(truncation {model.truncation:.3f}); inside/outside flips at the extraction levels {flips}")
    assert difference < 1e-3 * model.truncation and flips == 0


def test_generated_shapes_are_of_their_class_in_one_piece_with_their_ends_attached(trained):
    from learning.generation_checks import class_references
    from shapespace.mesh_cleanup import clean_surface

    model = trained
    fine = 2 * RESOLUTION
    level, pitch = model.surface_level(), model.frame[3] / fine
    references = [class_references(model, k, fine) for k in range(len(FAMILIES))]
    training_labels = np.repeat(np.arange(len(FAMILIES)), [PER_CLASS[f] for f in FAMILIES])
    clouds = [surface_points(g - level, pitch) for _, grids in references for g in grids]
    for k, (support, grids) in enumerate(references):  # the training shapes themselves pass (leave one out)
        passed = [check_grid(g, class_support(np.delete(grids, i, 0), level, join=support.join)).passed
                  for i, g in enumerate(grids)]
        print(f"CHECK {FAMILIES[k]}: {sum(passed)}/{len(passed)} training shapes pass against the others")
    figures = {}
    # The unchecked generator (checked=False, neighbours=None: legs on 0.20-0.40 of its chairs here) is
    # measured next to this one in scripts/bench_generation.py; the test keeps to the checked one for time.
    for name, options in (("after", {}),):
        rows = {}
        for k, family in enumerate(FAMILIES):
            count = 10 if family == "chair" else 5
            made = model.generate(family, count, seed=k, resolution=fine, spread=0.8, **options)
            support, grids = references[k]
            right = [nearest_class(g - level, clouds, training_labels, pitch) == k for g in made]
            checks = [check_grid(g, support, check_feet=True) for g in made]
            ends = [c.ends_attached and c.feet_known.all() for c in checks]
            single = []
            for g in made:
                try:
                    single.append(clean_surface(g - level, model.frame[:3], pitch, int(model.pieces[k]))[1]
                                  .significant_after == 1)
                except ValueError:  # empty
                    single.append(False)
            copy = max(closest_copy(g, grids, level) for g in made)
            rows[family] = (np.mean(right), np.mean(single), np.mean(ends), copy)
        figures[name] = rows
        print(f"GENERATION {name}: " + "; ".join(f"{f} class {r[0]:.2f} one piece {r[1]:.2f} ends (legs) ok "
                                                 f"{r[2]:.2f} closest copy {r[3]:.3f}" for f, r in rows.items()))
    after = figures["after"]
    assert np.mean([r[0] for r in after.values()]) >= 0.95
    assert all(r[1] >= 0.95 for f, r in after.items() if model.pieces[FAMILIES.index(f)] == 1)
    # Legs present, attached and as many as some training chair stands on (measured 1.00; before 0.40:
    # most stood on two feet, the other legs averaged away or loose).
    assert after["chair"][2] >= 0.9
    assert max(r[3] for r in after.values()) < 0.97
