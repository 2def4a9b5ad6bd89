"""learning.retrieval_scores: the Princeton Shape Benchmark scores against hand-computed rankings."""

import numpy as np
import pytest

from learning.retrieval_scores import retrieval_scores

# Library: labels a a b b a. Query 0 (class a) with distances 0, 3, 1, 2, 4 to library shapes 0..4.
LIBRARY = np.array(["a", "a", "b", "b", "a"])
ROW = np.array([[0.0, 3.0, 1.0, 2.0, 4.0]])


def test_query_excluded_from_its_own_ranking():
    # Ranking without shape 0: b(2), b(3), a(1), a(4). R = 2 relevant.
    s = retrieval_scores(ROW, ["a"], LIBRARY, query_in_library=np.array([0]))
    assert s["nn"] == 0.0
    assert s["ft"] == 0.0  # top 2: no a
    assert s["st"] == 1.0  # top 4: both a
    assert s["e"] == pytest.approx(2 * 0.5 * 1.0 / 1.5)  # 4 results (< 32): P = 2/4, R = 1
    assert s["dcg"] == pytest.approx((1 / np.log2(3) + 1 / np.log2(4)) / 2.0)


def test_query_not_in_library_counts_every_shape():
    # Ranking: a(0), b(2), b(3), a(1), a(4). R = 3.
    s = retrieval_scores(ROW, ["a"], LIBRARY)
    assert s["nn"] == 1.0
    assert s["ft"] == pytest.approx(1 / 3)
    assert s["st"] == 1.0  # the top 6 is cut at the 5 shapes there are
    assert s["e"] == pytest.approx(2 * 0.6 / 1.6)
    assert s["dcg"] == pytest.approx((1 + 1 / np.log2(4) + 1 / np.log2(5)) / (2 + 1 / np.log2(3)))
    # -1 in query_in_library means the same as no exclusion
    assert retrieval_scores(ROW, ["a"], LIBRARY, np.array([-1])) == s


def test_micro_average_over_queries_and_ties_in_library_order():
    distances = np.array([[0.0, 3.0, 1.0, 2.0, 4.0],
                          [1.0, 1.0, 1.0, 1.0, 1.0]])  # query 1 (class b, shape 2): all tied
    s = retrieval_scores(distances, ["a", "b"], LIBRARY, np.array([0, 2]))
    # Query 1 ranks 0(a), 1(a), 3(b), 4(a): R = 1, NN 0, FT 0, ST 0, E 2 (1/4)(1)/(5/4), DCG 1/log2(3).
    assert s["nn"] == 0.0
    assert s["ft"] == 0.0
    assert s["st"] == pytest.approx((1.0 + 0.0) / 2)
    assert s["e"] == pytest.approx((2 * 0.5 / 1.5 + 2 * 0.25 / 1.25) / 2)
    assert s["dcg"] == pytest.approx(((1 / np.log2(3) + 0.5) / 2 + 1 / np.log2(3)) / 2)


def test_perfect_ranking_scores_one_everywhere():
    # 2 classes of 33: R = 32, so even the E-measure over the top 32 reaches 1.
    labels = np.repeat([0, 1], 33)
    rng = np.random.default_rng(0)
    points = labels[:, None] * 10.0 + rng.random((66, 1))
    distances = np.abs(points - points.T)
    s = retrieval_scores(distances, labels, labels, np.arange(66))
    assert s == pytest.approx({"nn": 1.0, "ft": 1.0, "st": 1.0, "e": 1.0, "dcg": 1.0})
    worst = retrieval_scores(-distances, labels, labels, np.arange(66))  # same-class shapes ranked last
    assert worst["nn"] == 0.0 and worst["ft"] == 0.0
    assert worst["st"] == pytest.approx(31 / 32)  # the top 64 of 65 holds 31 of the 32
    # relevant at ranks 34..65; the log discount keeps DCG well above 0 even then
    ideal = 1 + np.sum(1 / np.log2(np.arange(2, 33)))
    assert worst["dcg"] == pytest.approx(np.sum(1 / np.log2(np.arange(34, 66))) / ideal)


def test_random_ranking_near_chance():
    labels = np.repeat(np.arange(10), 20)
    distances = np.random.default_rng(1).random((200, 200))
    s = retrieval_scores(distances, labels, labels, np.arange(200))
    assert abs(s["nn"] - 19 / 199) < 0.05
    assert abs(s["ft"] - 19 / 199) < 0.03


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="distances must be"):
        retrieval_scores(np.zeros((2, 3)), [0], [0, 1, 2])
    with pytest.raises(ValueError, match="query_in_library"):
        retrieval_scores(np.zeros((1, 3)), [0], [0, 1, 2], np.array([3]))
    with pytest.raises(ValueError, match="no query has another shape"):
        retrieval_scores(np.zeros((1, 3)), [5], [0, 1, 2])
