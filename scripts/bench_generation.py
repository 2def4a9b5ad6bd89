"""Generated shapes of the implicit decoder, before and after checked generation, and its decode at
64³ before and after coarse to fine — in one run, on the project's shapes made hard
(scripts/bench_implicit.hard_shapes: rotated anywhere, rescaled, holes, overlapping parts; canonical
pose and per-class alignment first).

`bench_generation(per_class, epochs, samples)` trains one ImplicitSDF at 32³ on chairs, tables, lamps
and airplanes and returns a dict:
* generation.before / .after, per class and overall, of `samples` shapes per class decoded at 64³:
  class_match (the nearest training shape by Chamfer distance between surface voxels, the training
  shapes as the model decodes them at 64³), single_piece (shapespace.mesh_cleanup.clean_surface
  finds one significant piece; classes whose training shapes have one), ends_attached (every end
  of the shape where the class's shapes end, present and attached: learning.generation_checks.check_grid
  at 64³ — a chair's legs), feet_known (each end's footprint blob count one a training shape has: a
  chair with two of four legs left fails it), closest_copy (highest inside IoU with a training
  shape). 'before' is the old sampler (any partner of the class, 10-40% towards it, nothing checked,
  the old decode);
  'after' the default `generate` (nearest partners, checked at 32³ then 64³). screen: candidates
  drawn and shapes that passed.
* decode: ms per 64³ grid, the old decode (decoder at every voxel whose linear base is within the
  band: `decode_grid(fine_band=None)`) against coarse to fine, the largest difference of the two
  fields near the surface level and the inside/outside flips at the extraction levels;
  end_to_end_ms: one chair at 64³ as issue 18 defines it — decode + extract + clean + write into
  Blender (operators.mesh_bridge.SceneWriter, as the generate operator writes it) — for the old
  sampler, the checked generator and the unchecked one, interleaved over END_TO_END_SEEDS seeds;
  end_to_end_stages_ms splits each into its stages, end_to_end_candidates says how many candidates
  the checked one decoded per chair; end_to_end_cpu_ms the same in CPU time of the process (the
  machines here are shared: wall time holds waits for the CPU too). One torch thread, medians.

Usage: bench_generation.py [per_class] [epochs] [samples] [model file to save]; prints a table, then
the JSON.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

FAMILIES = ("chair", "table", "lamp", "airplane")
END_TO_END_SEEDS = 15  # generated chairs timed end to end, each way


def _blender_writer(bridge=None):
    """(write(mesh), remove_written()): a generated mesh written into Blender as the generate operator
    writes it (operators.mesh_bridge.SceneWriter: bulk foreach_set, its custom properties, linked into
    a collection), and everything written so removed afterwards. `bridge`: the add-on's mesh_bridge
    (scripts/bench.py runs inside Blender); None starts Blender as a module with the add-on
    (scripts/dev_blender.py)."""
    if bridge is None:
        import dev_blender

        dev_blender.start_blender()
        bridge = dev_blender.addon().operators.mesh_bridge
    writer = bridge.SceneWriter()
    target = writer.collection("bench generated", reuse=False)

    def write(mesh):
        writer.mesh_object(mesh, target, properties={"category": "chair", "design_space_seed": 0})

    return write, writer.rollback


def _median_ms(fn, repeat: int = 7) -> float:
    fn(0)
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(i + 1)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def _measure(model, grids_by_class, resolution: int, samples: int, options: dict, clouds, cloud_labels) -> dict:
    from learning.generation_checks import check_grid, closest_copy, nearest_class
    from shapespace.mesh_cleanup import clean_surface

    level, pitch = model.surface_level(), model.frame[3] / resolution
    rows, stats = {}, {}
    for k, family in enumerate(FAMILIES):
        import learning.generation_checks as checks

        screened = checks.screened_grids
        seen = {}
        checks.screened_grids = functools.partial(screened, stats=seen)
        try:
            made = model.generate(family, samples, seed=100 + k, resolution=resolution, spread=0.8, **options)
        finally:
            checks.screened_grids = screened
        stats[family] = seen
        support, training = grids_by_class[k]
        single = []
        for grid in made:
            try:
                single.append(clean_surface(grid - level, model.frame[:3], pitch, int(model.pieces[k]))[1]
                              .significant_after == 1)
            except ValueError:
                single.append(False)
        checked = [check_grid(g, support, check_feet=True) for g in made]
        rows[family] = {
            "class_match": float(np.mean([nearest_class(g - level, clouds, cloud_labels, pitch) == k for g in made])),
            "single_piece": float(np.mean(single)),
            "ends_attached": float(np.mean([c.ends_attached for c in checked])),
            "feet_known": float(np.mean([c.feet_known.all() for c in checked])),
            "closest_copy": float(max(closest_copy(g, training, level) for g in made)),
        }
    single_classes = [f for k, f in enumerate(FAMILIES) if int(model.pieces[k]) == 1]
    rows["overall"] = {
        "class_match": float(np.mean([rows[f]["class_match"] for f in FAMILIES])),
        "single_piece": float(np.mean([rows[f]["single_piece"] for f in single_classes])) if single_classes else None,
        "ends_attached": float(np.mean([rows[f]["ends_attached"] for f in FAMILIES])),
        "feet_known": float(np.mean([rows[f]["feet_known"] for f in FAMILIES])),
        "closest_copy": float(max(rows[f]["closest_copy"] for f in FAMILIES)),
    }
    rows["screen"] = stats
    return rows


@contextlib.contextmanager
def as_before(model, old_decode):
    """The generator as it was: the old decode and codes moved 10-40% towards their partner."""
    import learning.implicit_decoder as implicit

    share = implicit.GENERATION_SHARE
    model.decode_grid, implicit.GENERATION_SHARE = old_decode, (0.1, 0.4)
    try:
        yield
    finally:
        del model.decode_grid
        implicit.GENERATION_SHARE = share


def bench_generation(per_class: int = 8, epochs: int = 60, samples: int = 8, resolution: int = 32,
                     seed: int = 0, save: str | None = None, bridge=None) -> dict:
    write, remove_written = _blender_writer(bridge)  # Blender first: bpy before torch, as in Blender itself
    import torch

    from bench_implicit import hard_shapes
    from learning.generation_checks import class_references, surface_points
    from learning.implicit_decoder import ImplicitSDF
    from learning.volumetric import Conditions
    from shapespace.mesh_cleanup import clean_surface, typical_piece_count
    from shapespace.signed_distance import prepare_signed_distances
    from shapespace.voxel_cache import VoxelCache

    torch.set_num_threads(1)
    out = {"setting": {"per_class": per_class, "epochs": epochs, "samples": samples, "resolution": resolution,
                       "output_resolution": 2 * resolution, "families": list(FAMILIES)}}
    start = time.perf_counter()
    meshes, labels = hard_shapes(per_class, families=FAMILIES)
    # Signed grids are cached between runs (keyed by mesh content and grid settings): the hard shapes'
    # signed distances and poses take most of a first run.
    cache = VoxelCache(Path(tempfile.gettempdir()) / "design_space_bench_generation")
    data = prepare_signed_distances(meshes, labels, resolution=resolution, samples=2048, seed=seed, cache=cache)
    conditions = Conditions.fit(labels, np.zeros((len(labels), 0)), list(FAMILIES), [])
    vectors = conditions.vectors(labels, np.zeros((len(labels), 0)))
    model = ImplicitSDF.create(conditions, data.frame, data.truncation, latent=64, seed=seed)
    report = model.fit(data.points, data.distances, data.labels, vectors, data.grids, epochs=epochs)
    model.pieces = np.array([typical_piece_count(data.grids[data.labels == k], data.frame.low, data.frame.pitch)
                             for k in range(len(FAMILIES))])
    out["seconds_preparing_and_training"] = time.perf_counter() - start
    if save:  # the trained model, to look at its shapes afterwards
        model.save(save, collection="bench_generation")
    out["training_seconds"] = report.seconds

    fine = 2 * resolution
    level, pitch = model.surface_level(), model.frame[3] / fine
    references = [class_references(model, k, fine) for k in range(len(FAMILIES))]
    clouds = [surface_points(g - level, pitch) for _, grids in references for g in grids]
    cloud_labels = np.concatenate([np.full(len(grids), k) for k, (_, grids) in enumerate(references)])
    old_decode = functools.partial(ImplicitSDF.decode_grid, model, fine_band=None)
    with as_before(model, old_decode):
        before = _measure(model, references, fine, samples, {"checked": False, "neighbours": None}, clouds,
                          cloud_labels)
    after = _measure(model, references, fine, samples, {}, clouds, cloud_labels)
    out["generation"] = {"before": before, "after": after, "typical_pieces": model.pieces.tolist()}

    # Decode: the same codes both ways.
    chair = model.class_vector("chair")[0]
    members = np.flatnonzero(model.code_labels == 0)
    codes = model.codes[members] * 0.75 + model.codes[np.roll(members, 1)] * 0.25
    vectors1 = chair[None]
    exact = old_decode(codes, np.repeat(vectors1, len(codes), axis=0), fine)
    fast = model.decode_grid(codes, np.repeat(vectors1, len(codes), axis=0), fine)
    near = np.abs(exact - level) < 0.3 * model.truncation
    flips = sum(int(((exact < level + g * pitch) != (fast < level + g * pitch)).sum()) for g in (0, 0.25, 0.5, 0.75))
    pick = lambda i: codes[i % len(codes)][None]  # noqa: E731
    out["decode"] = {
        "ms_old_64": _median_ms(lambda i: old_decode(pick(i), vectors1, fine)),
        "ms_coarse_to_fine_64": _median_ms(lambda i: model.decode_grid(pick(i), vectors1, fine)),
        "max_difference_near_surface": float(np.abs(exact - fast)[near].max()),
        "max_difference_near_surface_truncations": float(np.abs(exact - fast)[near].max() / model.truncation),
        "flips_at_extraction_levels": flips,
        "voxels_compared": int(near.sum()),
    }
    frame_low = model.frame[:3]

    def before_grid(i):
        with as_before(model, old_decode):
            return model.generate("chair", 1, seed=i, resolution=fine, checked=False, neighbours=None)[0]

    def after_grid(i, stats=None):
        import learning.generation_checks as checks

        screened = checks.screened_grids
        if stats is not None:
            checks.screened_grids = functools.partial(screened, stats=stats)
        try:
            return model.generate("chair", 1, seed=i, resolution=fine)[0]
        finally:
            checks.screened_grids = screened

    def unchecked_grid(i):
        return model.generate("chair", 1, seed=i, resolution=fine, checked=False)[0]

    def clean(grid):
        return clean_surface(grid - level, frame_low, pitch, int(model.pieces[0]), name="chair_generated")[0]

    seeds = range(1, 1 + END_TO_END_SEEDS)
    try:
        for make in (before_grid, after_grid, unchecked_grid):  # warm-up: torch's first calls are slow
            write(clean(make(0)))
        stages = {"before": [], "after": [], "after_unchecked": []}
        screened = []
        for i in seeds:  # the three interleaved, so that load on the machine falls on all alike
            for name, make in (("before", before_grid), ("after", after_grid), ("after_unchecked", unchecked_grid)):
                seen = {}
                c0, t0 = time.process_time(), time.perf_counter()
                grid = make(i, seen) if name == "after" else make(i)
                t1 = time.perf_counter()
                mesh = clean(grid)
                t2 = time.perf_counter()
                write(mesh)
                t3, c3 = time.perf_counter(), time.process_time()
                stages[name].append((t1 - t0, t2 - t1, t3 - t2, t3 - t0, c3 - c0))
                if name == "after":
                    screened.append(seen.get("decoded", 1))
    finally:
        remove_written()
    ms = {name: 1000 * np.array(rows) for name, rows in stages.items()}
    out["end_to_end_ms"] = {name: float(np.median(rows[:, 3])) for name, rows in ms.items()}
    # CPU time of this process alike: on a machine shared with other work, wall time also holds waits.
    out["end_to_end_cpu_ms"] = {name: float(np.median(rows[:, 4])) for name, rows in ms.items()}
    first = np.array(screened) == 1
    out["end_to_end_ms"]["after_first_candidate_passes"] = (float(np.median(ms["after"][first, 3])) if first.any()
                                                            else None)
    out["end_to_end_stages_ms"] = {name: {"generate": float(np.median(rows[:, 0])),
                                          "extract_and_clean": float(np.median(rows[:, 1])),
                                          "write_into_blender": float(np.median(rows[:, 2])),
                                          "mean_total": float(rows[:, 3].mean())} for name, rows in ms.items()}
    out["end_to_end_candidates"] = {"seeds": len(screened), "mean_decoded": float(np.mean(screened)),
                                    "first_candidate_passed": int(first.sum())}
    out["seconds_total"] = time.perf_counter() - start
    return out


def table(result: dict) -> str:
    lines = [f"{'':10s} {'':7s} {'class':>6s} {'1 piece':>8s} {'ends ok':>8s} {'feet ok':>8s} {'copy':>6s}"]
    for when in ("before", "after"):
        rows = result["generation"][when]
        for family in FAMILIES + ("overall",):
            r = rows[family]
            single = "-" if r["single_piece"] is None else f"{r['single_piece']:.2f}"
            lines.append(f"{family:10s} {when:7s} {r['class_match']:6.2f} {single:>8s} {r['ends_attached']:8.2f} "
                         f"{r['feet_known']:8.2f} {r['closest_copy']:6.3f}")
    d, e = result["decode"], result["end_to_end_ms"]
    lines.append(f"decode 64³: old {d['ms_old_64']:.1f} ms, coarse to fine {d['ms_coarse_to_fine_64']:.1f} ms; "
                 f"max difference near the surface {d['max_difference_near_surface_truncations']:.2e} truncations, "
                 f"{d['flips_at_extraction_levels']} flips")
    first = e["after_first_candidate_passes"]
    lines.append(f"one chair end to end at 64³ (decode + extract + clean + write into Blender), median of "
                 f"{result['end_to_end_candidates']['seeds']} seeds: old sampler {e['before']:.1f} ms, checked "
                 f"{e['after']:.1f} ms (unchecked {e['after_unchecked']:.1f} ms; checked when the first candidate "
                 f"passes {'-' if first is None else f'{first:.1f}'} ms)")
    for name, stage in result["end_to_end_stages_ms"].items():
        lines.append(f"  {name:16s} generate {stage['generate']:6.1f}  extract + clean "
                     f"{stage['extract_and_clean']:5.1f}  write {stage['write_into_blender']:4.1f}  "
                     f"(mean total {stage['mean_total']:.1f}) ms")
    cpu = result["end_to_end_cpu_ms"]
    lines.append(f"  CPU time (this process), medians: old sampler {cpu['before']:.1f}, checked {cpu['after']:.1f}, "
                 f"unchecked {cpu['after_unchecked']:.1f} ms")
    c = result["end_to_end_candidates"]
    lines.append(f"  checked: {c['mean_decoded']:.2f} candidates decoded per chair, the first passed for "
                 f"{c['first_candidate_passed']} of {c['seeds']}")
    return "\n".join(lines)


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:4]]
    result = bench_generation(*arguments, save=sys.argv[4] if len(sys.argv) > 4 else None)
    print(table(result))
    print(json.dumps(result, indent=1))
