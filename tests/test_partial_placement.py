"""Complete Shape on a cut, unaligned mesh (learning.partial_placement.complete_cut_mesh) must not make
the shape worse: held-out roughened meshes (scripts/bench_implicit.hard_shapes: rotated anywhere,
rescaled, holes, overlapping parts, flipped faces) with 30-50% along their longest side deleted, as a
user cuts a part away and marks it with a box, completed by a small implicit model trained unaligned.

Scored as the user sees it: the completed mesh voxelised at 32³ against the whole shape's inside.
Per shape: what is there kept on the output grid (its inside voxels against the truth), the
completion (the model's additions only where they grow out of what is there and the decoded shape
agrees with it next to the cut), what is left kept alone through the same surface, and the model's
whole guess added (as before). The gate itself is checked on a synthetic bar. This model is tiny
(3 shapes per class): its guess adds little here; the figures for larger models are in
learning/partial_placement.py's module doc."""

import numpy as np
import pytest

pytest.importorskip("torch")

from bench_implicit import hard_shapes
from learning import partial_placement as placement
from learning.implicit_decoder import ImplicitSDF
from learning.volumetric import Conditions
from shapespace.mesh_arrays import MeshArrays
from shapespace.mesh_cleanup import typical_piece_count
from shapespace.signed_distance import class_references, prepare_signed_distances, robust_solid
from shapespace.voxels import common_frame, voxelize

FAMILIES = ("chair", "table", "airplane")
TRAIN, RESOLUTION, OUTPUT = 3, 24, 48
CUTS = (0.3, 0.4, 0.5)  # share of each held-out shape's longest side cut away (one per family)
UNALIGNED = {"info": {"aligned": False}}


def _cut(mesh, share):
    """(the mesh without its faces in the last `share` of its longest side, box low, box high)."""
    vertices, triangles = mesh.vertices.astype(np.float64), mesh.triangles
    low_corner, high_corner = vertices.min(axis=0), vertices.max(axis=0)
    extent = high_corner - low_corner
    shares = np.where(np.arange(3) == np.argmax(extent), share, 1.01)
    low, high = high_corner - shares * extent, high_corner + 0.01 * extent
    centres = vertices[triangles].mean(axis=1)
    kept = ~np.all((centres >= low) & (centres <= high), axis=1)
    cut = MeshArrays(mesh.name, vertices, np.full(int(kept.sum()), 3, np.int32),
                     triangles[kept].reshape(-1).astype(np.int32))
    return cut, low, high


def _scores(mesh, completed, low, high):
    """(IoU of the completed mesh with the whole shape, share of the whole's inside outside the box)."""
    vertices = mesh.vertices.astype(np.float64)
    frame = common_frame([vertices, completed.vertices], 32)
    truth = robust_solid(vertices, mesh.triangles, frame)  # a roughened mesh's inside (flipped faces, holes)
    guess = voxelize(completed.vertices, completed.triangles, frame)
    centres = np.stack(np.meshgrid(*[frame.centres(a) for a in range(3)], indexing="ij"), axis=-1)
    left = truth & ~np.all((centres >= low) & (centres <= high), axis=-1)
    return (truth & guess).sum() / max((truth | guess).sum(), 1), left.sum() / max(truth.sum(), 1)


@pytest.fixture(scope="module")
def model():
    import torch

    torch.set_num_threads(1)
    meshes, labels = hard_shapes(TRAIN, families=FAMILIES)
    data = prepare_signed_distances(meshes, labels, resolution=RESOLUTION, samples=1024, seed=0)
    conditions = Conditions.fit(labels, np.zeros((len(labels), 0)), list(FAMILIES), [])
    vectors = conditions.vectors(labels, np.zeros((len(labels), 0)))
    trained = ImplicitSDF.create(conditions, data.frame, data.truncation, latent=32, seed=0)
    trained.fit(data.points, data.distances, data.labels, vectors, data.grids, epochs=25, batch_shapes=12,
                points_per_shape=512)
    trained.references = class_references(data.grids, data.labels, len(FAMILIES))
    trained.pieces = np.array([typical_piece_count(data.grids[data.labels == k], data.frame.low, data.frame.pitch)
                               for k in range(len(FAMILIES))])
    return trained


@pytest.fixture(scope="module")
def held_out():
    meshes, labels = hard_shapes(1, offset=1000, families=FAMILIES)
    return [(mesh, int(label), share) for mesh, label, share in zip(meshes, labels, CUTS)]


def _bar_fields(decoded_reach: int, decoded_shift: int = 0, blob: bool = True):
    """Synthetic _CutFields on a 24³ grid: what is there a bar along x ending at the cut (x < 10), the
    region x >= 10; the decoded shape the bar continued `decoded_reach` voxels into the region
    (moved `decoded_shift` voxels sideways) and, with `blob`, a loose blob deep in the region."""
    from shapespace.voxels import GridFrame

    r = 24
    x, y, z = np.meshgrid(*(np.arange(r),) * 3, indexing="ij")
    bar = (np.abs(y - 12) <= 2) & (np.abs(z - 12) <= 2)
    known = x < 10
    exact = np.where(bar & known, -1.0, 1.0).astype(np.float32)
    moved = (np.abs(y - 12 - decoded_shift) <= 2) & (np.abs(z - 12) <= 2)
    decoded_inside = moved & (x < 10 + decoded_reach)
    if blob:
        decoded_inside |= (np.abs(x - 20) <= 1) & (np.abs(y - 4) <= 1) & (np.abs(z - 4) <= 1)
    decoded = np.where(decoded_inside, -1.0, 1.0).astype(np.float32)
    return placement._CutFields(exact, decoded, known, x >= 11, GridFrame((0.0, 0.0, 0.0), float(r), r), 0.0, 1.0, 0,
                                0.5)


def test_sure_additions_continue_what_is_there_and_nothing_else():
    reach = placement.ADD_REACH_VOXELS
    fields = _bar_fields(decoded_reach=10)
    assert placement.cut_agreement(fields) == 1.0
    added = placement.sure_additions(fields)
    x = np.argwhere(added)[:, 0]
    # the bar carried on `reach` voxels into the region, its cross-section (25 voxels) kept; the blob out
    assert added.sum() == 25 * reach and x.min() == 10 and x.max() == 9 + reach
    assert placement.sure_additions(fields, None).sum() == 25 * 10 + 27  # the whole guess: bar and blob
    # a decoded shape that does not say what is there next to the cut adds nothing
    off = _bar_fields(decoded_reach=10, decoded_shift=5)
    assert placement.cut_agreement(off) < placement.SURE_AGREEMENT
    assert not placement.sure_additions(off).any()
    # the merged field: outside where nothing is added, so the surface closes at the cut
    merged = placement._merged_field(fields, np.zeros_like(added))
    assert (merged[~fields.known] > fields.level).all() and (merged[fields.known] == fields.exact[fields.known]).all()


def test_completion_of_cut_unaligned_meshes_keeps_what_is_there_and_is_never_worse(model, held_out):
    rows = []
    for mesh, label, share in held_out:
        cut, low, high = _cut(mesh, share)
        fields = placement._cut_fields(model, UNALIGNED, cut, mesh.name, low, high, "the box", FAMILIES[label],
                                       lambda *a: None, lambda: False, OUTPUT, 20)
        # what is there, on the output grid, against the whole shape's inside outside the region
        truth = robust_solid(mesh.vertices.astype(np.float64), mesh.triangles, fields.frame) & fields.known
        there = (fields.exact < 0) & fields.known
        row = {"agreement": placement.cut_agreement(fields), "kept voxels": (there & truth).sum() / (there | truth).sum()}
        for name, added in (("known", np.zeros(fields.known.shape, bool)),
                            ("whole guess", placement.sure_additions(fields, None)),
                            ("completed", placement.sure_additions(fields))):
            own_level = name != "whole guess"  # the whole guess as before: at the generation surface level
            surface = placement._clean_mesh(model, fields, placement._merged_field(fields, added, own_level),
                                            mesh.name)
            row[name], row["left"] = _scores(mesh, surface, low, high)
        rows.append(row)
    table = {name: np.round([row[name] for row in rows], 3) for name in rows[0]}
    means = {name: float(np.mean(values)) for name, values in table.items()}
    print("CUT_COMPLETION per shape " + "; ".join(f"{k} {v}" for k, v in table.items()) + " | means "
          + ", ".join(f"{k} {v:.3f}" for k, v in means.items()))
    # What is there is kept (the cut shape's own sign on a grid tight around it: measured 0.99-1.00;
    # in the model's cube with the whole-mesh sign, as before, 0.53-0.95).
    assert min(table["kept voxels"]) > 0.95
    # On every shape at least what is left kept through the same surface (a 0.01 allowance: one cut
    # in 18 of the bench's lost 0.043, a chair's back plate at the cut thickened by a layer), and on
    # average not below it.
    assert all(row["completed"] >= row["known"] - 0.01 for row in rows), rows
    assert means["completed"] >= means["known"] and means["completed"] >= means["whole guess"] - 0.005
    # What is left survives the pose, the placement and the surface: above 0.7 of the ideal (the
    # surface's resampling costs the rest: a whole uncut shape made the same way scores 0.87-0.98).
    assert means["known"] > 0.7 * means["left"]


def test_complete_cut_mesh_returns_the_shape_in_its_own_frame_and_says_what_it_added(model, held_out):
    mesh, label, share = held_out[1]
    cut, low, high = _cut(mesh, share)
    steps = []
    done = placement.complete_cut_mesh(model, UNALIGNED, cut, mesh.name, low, high, "the box", FAMILIES[label],
                                       lambda fraction, message: steps.append(fraction), lambda: False,
                                       resolution=32, steps=10)
    vertices = mesh.vertices.astype(np.float64)
    extent = vertices.max(axis=0) - vertices.min(axis=0)
    # in the shape's own coordinates: its bounds within a tenth of the whole shape's
    assert np.all(np.abs(done.mesh.vertices.min(axis=0) - vertices.min(axis=0)) < 0.1 * extent.max())
    assert done.label == label and 0.0 <= done.filled < 0.5 and steps == sorted(steps)
    assert "the model made" in done.note
    cancelled = placement.complete_cut_mesh(model, UNALIGNED, cut, mesh.name, low, high, "the box", FAMILIES[label],
                                            lambda *a: None, lambda: True, resolution=32, steps=10)
    assert cancelled is None
    with pytest.raises(ValueError, match="'the box' does not overlap 'table"):
        placement.complete_cut_mesh(model, UNALIGNED, cut, mesh.name, vertices.max(axis=0) + 1,
                                    vertices.max(axis=0) + 2, "the box", None, lambda *a: None, lambda: False)
