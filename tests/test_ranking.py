"""Semantic attributes from comparisons (AttribIt): learning, accuracy, CSV, cycles (pure core)."""

import numpy as np
import pytest

from learning.ranking import (Comparison, cross_validated_accuracy, find_cycles, fit_ranking, informative_pairs,
                              kendall_tau, read_comparisons_csv, simulate_comparisons, write_comparisons_csv)
from learning.shape_space import fit_shape_space
from shapespace.correspondence import stack_same_topology
from shapespace.procedural import make_family


@pytest.fixture(scope="module")
def chairs():
    """Same-topology chairs in a shape space, and a hidden "sturdy" score: leg thickness plus seat width."""
    shapes = make_family("chair", 60, seed=3, same_topology=True)
    stacked = stack_same_topology(shapes)
    coefficients = fit_shape_space(stacked, variance=0.9999).project(stacked)
    legs = np.array([s.attributes["leg_thickness"] for s in shapes])
    seats = np.array([s.attributes["seat_width"] for s in shapes])
    hidden = legs / legs.std() + seats / seats.std()
    return coefficients, [s.name for s in shapes], hidden


def test_two_hundred_noisy_comparisons_recover_the_hidden_order(chairs):
    features, names, hidden = chairs
    comparisons = simulate_comparisons(hidden, names, "sturdy", 200, seed=1, noise=0.05, similar_within=0.1)
    assert 10 < sum(c.answer == "SAME" for c in comparisons) < 100
    accuracy, counts, _ = cross_validated_accuracy(features, names, comparisons, "sturdy", folds=5,
                                                   sizes=[0.25, 1.0])
    assert accuracy[-1] >= 0.9, accuracy
    assert accuracy[-1] > accuracy[0] - 0.02 and counts[-1] == 160  # more comparisons, no worse
    ranking = fit_ranking(features, names, comparisons, "sturdy")
    assert kendall_tau(ranking.strength(features), hidden) >= 0.8


def test_similar_answers_help_over_ordered_pairs_alone(chairs):
    features, names, hidden = chairs
    with_similar, ordered_only = [], []
    for seed in range(3):
        comparisons = simulate_comparisons(hidden, names, "sturdy", 80, seed=seed, similar_within=0.2)
        for use_similar, out in ((True, with_similar), (False, ordered_only)):
            ranking = fit_ranking(features, names, comparisons, "sturdy", use_similar=use_similar)
            out.append(kendall_tau(ranking.strength(features), hidden))
    assert np.mean(with_similar) > np.mean(ordered_only) + 0.02, (with_similar, ordered_only)


def test_moving_along_the_direction_raises_the_strength(chairs):
    features, names, hidden = chairs
    ranking = fit_ranking(features, names, simulate_comparisons(hidden, names, "sturdy", 150, seed=2), "sturdy")
    start = features[4]
    moved = start + 0.5 * ranking.raw_direction()
    assert ranking.strength(moved)[0] == pytest.approx(ranking.strength(start)[0] + 0.5, abs=1e-6)


def test_csv_rows_are_read_and_malformed_ones_reported_by_line():
    text = ("shape_a,shape_b,attribute,answer\n"
            "chair_000,chair_001,sturdy,A\n"
            "chair_002,chair_003,sturdy,b more\n"
            "chair_004,chair_005,sturdy\n"
            "chair_006,chair_006,sturdy,A\n"
            "\n"
            "chair_007,chair_008,sturdy,maybe\n"
            "chair_009,chair_010,comfortable,similar\n")
    report = read_comparisons_csv(text)
    assert [(c.shape_a, c.answer) for c in report.comparisons] == [("chair_000", "A"), ("chair_002", "B"),
                                                                    ("chair_009", "SAME")]
    assert [n for n, _ in report.skipped] == [4, 5, 7]
    assert "3 fields instead of 4" in report.skipped[0][1] and "'maybe'" in report.skipped[2][1]
    again = read_comparisons_csv(write_comparisons_csv(report.comparisons))
    assert again.comparisons == report.comparisons and not again.skipped


def test_cycles_are_found():
    comparisons = [Comparison("a", "b", "x", "A"), Comparison("b", "c", "x", "A"), Comparison("a", "c", "x", "B"),
                   Comparison("c", "d", "x", "A")]
    cycles = find_cycles(comparisons)
    assert cycles and set(cycles[0]) == {"a", "b", "c"}
    assert not find_cycles(comparisons[:2])


def test_informative_pairs_are_new_and_close():
    names = ["a", "b", "c", "d"]
    strengths = np.array([0.0, 0.1, 5.0, 10.0])
    rng = np.random.default_rng(0)
    assert informative_pairs(strengths, names, [], rng)[0] == ("a", "b")
    assert ("a", "b") not in informative_pairs(strengths, names, [("b", "a")], rng, count=6)
    assert informative_pairs(strengths, names, [(x, y) for x in names for y in names if x < y], rng) == []
