"""Assembling new shapes from the parts of a collection (pure core)."""

import numpy as np
import pytest

from learning.part_model import fit_part_model, part_table
from learning.part_synthesis import PartSynthesizer
from shapespace.assembly import solve_placement, training_overlaps, winding_numbers
from shapespace.parts import describe_collection
from shapespace.procedural import make_family
from shapespace.template_fitting import sample_with_normals


@pytest.fixture(scope="module")
def chairs():
    shapes = make_family("chair", 40, seed=1, same_topology=False)
    parts, labels = describe_collection(shapes)
    table = part_table(parts, labels, [s.name for s in shapes])
    return shapes, PartSynthesizer(fit_part_model(table), table, parts, solve_placement, training_overlaps(parts))


def test_assemblies_meet_at_their_slots_stand_and_do_not_cut_into_each_other(chairs):
    shapes, synthesizer = chairs
    assemblies = synthesizer.assemble(6, seed=3)
    assert len(assemblies) == 6
    assert [a.score for a in assemblies] == sorted((a.score for a in assemblies), reverse=True)
    for assembly in assemblies:
        placement, mesh = assembly.placement, assembly.placement.mesh
        diagonal = np.linalg.norm(np.ptp(mesh.vertices, axis=0))
        parts = {label: synthesizer.parts[synthesizer.names.index(name)][label]
                 for label, name in assembly.sources.items()}
        for a, b in placement.contacts:  # every slot pair within 1% of the bounding-box diagonal
            for corner in (0, 1):
                wa = placement.translations[a] + placement.scales[a] * (parts[a].contacts[b][corner] - parts[a].centre)
                wb = placement.translations[b] + placement.scales[b] * (parts[b].contacts[a][corner] - parts[b].centre)
                assert np.linalg.norm(wa - wb) < 0.01 * diagonal
        touched = {x for pair in placement.contacts for x in pair}
        assert touched == set(assembly.sources)  # no part floats
        assert abs(mesh.vertices[:, 2].min()) < 1e-3 * diagonal  # on the ground
        assert len(set(assembly.sources.values())) > 1  # not a training shape again
        for shape in shapes:
            assert len(shape.vertices) != len(mesh.vertices) or np.abs(shape.vertices - mesh.vertices).max() > 1e-3
        # no part cuts deep into another: sample each part, count what lies inside the others
        labels = mesh.part_labels
        for i, label in enumerate(labels):
            own = mesh.triangles[np.repeat(mesh.face_parts == i, mesh.face_sizes - 2)]
            points, _ = sample_with_normals(mesh.vertices, own, 400, seed=i)
            for j, other in enumerate(labels):
                if i == j:
                    continue
                faces = mesh.face_parts == j
                tris = mesh.triangles[np.repeat(faces, mesh.face_sizes - 2)]
                inside = winding_numbers(points.astype(np.float64), mesh.vertices, tris) > 0.5
                assert inside.mean() < synthesizer.overlaps.get((label, other), 0.0) + 0.1


def test_the_same_seed_gives_the_same_assemblies(chairs):
    _, synthesizer = chairs
    first = [a.sources for a in synthesizer.assemble(4, seed=9)]
    second = [a.sources for a in synthesizer.assemble(4, seed=9)]
    assert first == second


def test_swapping_a_part_keeps_the_others(chairs):
    _, synthesizer = chairs
    assembly = synthesizer.assemble(1, seed=2)[0]
    alternatives = synthesizer.alternatives(assembly.sources, "back")
    assert alternatives and all(a.placement.valid for a in alternatives)
    for alternative in alternatives[:5]:
        assert alternative.sources["back"] != assembly.sources["back"]
        assert {k: v for k, v in alternative.sources.items() if k != "back"} == \
            {k: v for k, v in assembly.sources.items() if k != "back"}


def test_variety_shows_each_structure_before_repeating_one(chairs):
    _, synthesizer = chairs
    assemblies = synthesizer.assemble(8, seed=4, variety=True)
    structures = [tuple(sorted((label, synthesizer._pieces(a, label)) for label in a.sources)) for a in assemblies]
    ranks = [a.rank for a in assemblies]
    assert ranks == sorted(ranks) and len(set(structures)) >= 3
    assert any("arm" in a.sources for a in assemblies)
