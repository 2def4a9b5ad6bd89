"""Complete Shape on a cut, unaligned mesh (learning.partial_placement.complete_cut_mesh) must not make
the shape worse: held-out roughened meshes (scripts/bench_implicit.hard_shapes: rotated anywhere,
rescaled, holes, overlapping parts, flipped faces) with 30-50% along their longest side deleted, as a
user cuts a part away and marks it with a box, completed by a small implicit model trained unaligned.

Scored as the user sees it: the completed mesh voxelised at 32³ against the whole shape's inside.
Per shape, from one fit: what is there kept on the output grid (its inside voxels against the
truth); the cut mesh itself; the default, its own faces plus the patch of what the model adds (the
additions only where they grow out of what is there and the decoded shape agrees with it next to the
cut); and the remesh option — what is left kept alone through the same surface, the completion, and
the model's whole guess added (as before). The gate and the patch are checked on a synthetic bar.
This model is tiny (3 shapes per class): its sure additions are empty on these cuts; the figures for
more cuts are in learning/partial_placement.py's module doc."""

import re

import numpy as np
import pytest

pytest.importorskip("torch")

from bench_implicit import hard_shapes
from learning import partial_placement as placement
from learning.implicit_decoder import ImplicitSDF
from learning.volumetric import Conditions
from shapespace.mesh_arrays import MeshArrays
from shapespace.mesh_cleanup import surface_pieces, typical_piece_count
from shapespace.primitives import is_closed_manifold
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


@pytest.fixture(scope="module")
def cut_fields(model, held_out):
    """Per held-out shape: (cut mesh, box low, box high, _CutFields at OUTPUT³), fitted once."""
    rows = []
    for mesh, label, share in held_out:
        cut, low, high = _cut(mesh, share)
        fields = placement._cut_fields(model, UNALIGNED, cut, mesh.name, low, high, "the box", FAMILIES[label],
                                       lambda *a: None, lambda: False, OUTPUT, 20)
        rows.append((cut, low, high, fields))
    return rows


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


def test_the_patch_continues_what_is_there_overlaps_it_at_the_cut_and_is_closed():
    reach, overlap = placement.ADD_REACH_VOXELS, placement.PATCH_OVERLAP_VOXELS
    fields = _bar_fields(decoded_reach=10)
    patch = placement.patch_surface(fields, placement.sure_additions(fields), "patch")
    assert is_closed_manifold(patch) and len(surface_pieces(patch)[1]) == 1
    low_corner, high_corner = patch.vertices.min(axis=0), patch.vertices.max(axis=0)
    # along the bar: from `overlap` voxels inside what is there (x < 10) to the end of the sure part
    assert 10 - overlap - 0.5 < low_corner[0] < 10 - overlap + 0.5
    assert 10 + reach - 0.5 < high_corner[0] < 10 + reach + 0.5
    assert np.all(low_corner[1:] > 9.5) and np.all(high_corner[1:] < 15.5)  # the bar's cross-section (y, z 10..14)
    # the whole guess: the blob deep in the region touches nothing that is there, so it is left out
    whole = placement.patch_surface(fields, placement.sure_additions(fields, None), "patch", own_level=False)
    assert len(surface_pieces(whole)[1]) == 1 and whole.vertices[:, 1].min() > 9.5 and whole.vertices[:, 0].max() > 19
    # nothing added, nothing made
    assert placement.patch_surface(fields, np.zeros_like(fields.known), "patch") is None
    # the shape's own faces come first, exactly as given (quads kept), the patch after them
    shape = MeshArrays("bar", np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float32), [4], [0, 1, 2, 3])
    joined = placement.with_patch(shape, patch, "joined")
    assert np.array_equal(joined.vertices[:4], shape.vertices) and list(joined.face_sizes[:2]) == [4, 3]
    assert joined.face_count == 1 + patch.face_count and joined.corner_vertices[4:].min() == 4


def test_faces_left_inside_the_box_are_what_the_model_makes():
    # two quads and a triangle: the second quad lies wholly in the box, the triangle only touches it
    vertices = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [3, 0, 0], [4, 0, 0], [4, 1, 0], [3, 1, 0],
                         [1.5, 0, 0]], np.float32)
    shape = MeshArrays("slab", vertices, [4, 4, 3], [0, 1, 2, 3, 4, 5, 6, 7, 1, 8, 2])
    kept, dropped = placement.faces_outside(shape, (2.5, -1, -1), (5, 2, 1), "slab")
    assert dropped == 1 and list(kept.face_sizes) == [4, 3] and len(kept.vertices) == 5
    assert np.array_equal(kept.vertices[kept.corner_vertices], vertices[[0, 1, 2, 3, 1, 8, 2]])
    same, none = placement.faces_outside(shape, (9, 9, 9), (10, 10, 10), "slab")
    assert same is shape and none == 0


def test_completion_of_cut_unaligned_meshes_keeps_what_is_there_and_is_never_worse(model, held_out, cut_fields):
    rows = []
    for (mesh, label, share), (cut, low, high, fields) in zip(held_out, cut_fields):
        # what is there, on the output grid, against the whole shape's inside outside the region
        truth = robust_solid(mesh.vertices.astype(np.float64), mesh.triangles, fields.frame) & fields.known
        there = (fields.exact < 0) & fields.known
        row = {"agreement": placement.cut_agreement(fields), "kept voxels": (there & truth).sum() / (there | truth).sum()}
        row["original"] = _scores(mesh, cut, low, high)[0]  # the cut mesh's own faces, nothing added
        for name, added in (("known", np.zeros(fields.known.shape, bool)),
                            ("whole guess", placement.sure_additions(fields, None)),
                            ("completed", placement.sure_additions(fields))):
            own_level = name != "whole guess"  # the whole guess as before: at the generation surface level
            surface = placement._clean_mesh(model, fields, placement._merged_field(fields, added, own_level),
                                            mesh.name)
            row[name], row["left"] = _scores(mesh, surface, low, high)
            patch = placement.patch_surface(fields, added, mesh.name, own_level=own_level)
            kept = cut if patch is None else placement.with_patch(cut, patch, mesh.name)
            kept_name = "kept faces + whole guess" if name == "whole guess" else "kept faces"
            row[kept_name] = _scores(mesh, kept, low, high)[0]
            if patch is not None:  # the user's own vertices and faces, unchanged and first
                assert np.array_equal(kept.vertices[:len(cut.vertices)], cut.vertices)
                assert np.array_equal(kept.corner_vertices[:len(cut.corner_vertices)], cut.corner_vertices)
        rows.append(row)
    table = {name: np.round([row[name] for row in rows], 3) for name in rows[0]}
    means = {name: float(np.mean(values)) for name, values in table.items()}
    print("CUT_COMPLETION per shape " + "; ".join(f"{k} {v}" for k, v in table.items()) + " | means "
          + ", ".join(f"{k} {v:.3f}" for k, v in means.items()))
    # What is there is kept (the cut shape's own sign on a grid tight around it: measured 0.99-1.00;
    # in the model's cube with the whole-mesh sign, as before, 0.53-0.95).
    assert min(table["kept voxels"]) > 0.95
    # The default, the shape's own faces plus the patch: on every cut at least the cut mesh itself
    # (measured equal: this tiny model's sure additions are a few voxels or none) and far above the
    # remesh, which loses thin parts (measured 0.635 against 0.471 on average).
    assert all(row["kept faces"] >= row["original"] - 0.005 for row in rows), rows
    assert means["kept faces"] > means["known"] + 0.1
    # The remesh option: on every shape at least what is left kept through the same surface (a 0.01
    # allowance: one cut in 18 of the bench's lost 0.043, a chair's back plate at the cut thickened by
    # a layer), and on average not below it.
    assert all(row["completed"] >= row["known"] - 0.01 for row in rows), rows
    assert means["completed"] >= means["known"] and means["completed"] >= means["whole guess"] - 0.005
    # The whole guess as a patch on the kept faces still keeps what is there (measured 0.619 against
    # the remesh's 0.468), though its wrong volume costs (0.422 -> 0.376 on the table).
    assert means["kept faces + whole guess"] > means["whole guess"] + 0.1
    # What is left survives the pose, the placement and the surface: above 0.7 of the ideal (the
    # surface's resampling costs the rest: a whole uncut shape made the same way scores 0.87-0.98).
    assert means["known"] > 0.7 * means["left"]


def test_complete_cut_mesh_returns_the_shape_in_its_own_frame_and_says_what_it_added(model, held_out, cut_fields):
    mesh, label, share = held_out[1]
    cut, low, high = _cut(mesh, share)
    steps = []
    # the whole guess (this tiny model's sure additions are empty on this cut): the shape's own faces + a patch
    done = placement.complete_cut_mesh(model, UNALIGNED, cut, mesh.name, low, high, "the box", FAMILIES[label],
                                       lambda fraction, message: steps.append(fraction), lambda: False,
                                       resolution=32, steps=10, reach_voxels=None)
    vertices = mesh.vertices.astype(np.float64)
    extent = vertices.max(axis=0) - vertices.min(axis=0)
    # in the shape's own coordinates: its bounds within a tenth of the whole shape's
    assert np.all(np.abs(done.mesh.vertices.min(axis=0) - vertices.min(axis=0)) < 0.1 * extent.max())
    assert done.label == label and 0.0 < done.filled < 0.5 and steps == sorted(steps)
    count = len(cut.vertices)
    assert np.array_equal(done.mesh.vertices[:count], cut.vertices) and done.mesh.face_count > cut.face_count
    assert np.array_equal(done.mesh.corner_vertices[:len(cut.corner_vertices)], cut.corner_vertices)
    patch = MeshArrays("patch", done.mesh.vertices, done.mesh.face_sizes[cut.face_count:],
                       done.mesh.corner_vertices[len(cut.corner_vertices):])
    assert is_closed_manifold(patch)
    assert re.search(rf"the model made \d+% of its volume inside 'the box': a patch of {patch.face_count} faces added "
                     rf"to the {cut.face_count} faces of '{mesh.name}', kept as they were", done.note), done.note
    # from the same fit: the sure additions are empty here, so the copy is the cut mesh as it was, and the
    # note says so and why
    _, _, _, fields = cut_fields[1]
    assert not placement.sure_additions(fields).any()
    alone = placement.completion_from_fields(model, fields, cut, mesh.name, "the box")
    assert np.array_equal(alone.mesh.vertices, cut.vertices) and np.array_equal(alone.mesh.face_sizes, cut.face_sizes)
    assert np.array_equal(alone.mesh.corner_vertices, cut.corner_vertices) and alone.filled == 0.0
    agreement = placement.cut_agreement(fields)
    assert alone.note.startswith("the model made 0% of its volume inside 'the box': none of its guess was sure (its "
                                 f"shape agreed {agreement:.2f} with what is there next to the cut, 0.2 needed), so "
                                 f"the copy is the {cut.face_count} faces of '{mesh.name}' as they were"), alone.note
    remeshed = placement.completion_from_fields(model, fields, cut, mesh.name, "the box", keep_faces=False)
    assert is_closed_manifold(remeshed.mesh) and "(remeshed as one closed surface)" in remeshed.note
    cancelled = placement.complete_cut_mesh(model, UNALIGNED, cut, mesh.name, low, high, "the box", FAMILIES[label],
                                            lambda *a: None, lambda: True, resolution=32, steps=10)
    assert cancelled is None
    with pytest.raises(ValueError, match="'the box' does not overlap 'table"):
        placement.complete_cut_mesh(model, UNALIGNED, cut, mesh.name, vertices.max(axis=0) + 1,
                                    vertices.max(axis=0) + 2, "the box", None, lambda *a: None, lambda: False)


def test_the_operator_keeps_the_original_faces_unless_asked_to_remesh(bpy):
    keep_faces = bpy.ops.design_space.complete_volumetric.get_rna_type().properties["keep_faces"]
    assert keep_faces.name == "Keep Original Faces" and keep_faces.default is True
    assert "exactly as they are" in keep_faces.description and "remesh" in keep_faces.description
