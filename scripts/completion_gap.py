"""Where the implicit decoder's completion IoU on hard shapes goes (scripts/bench_implicit.py's setting,
smaller): the same held-out shapes and cuts completed several ways.

* as now: `ImplicitSDF.complete` (known voxels kept exactly; the code fitted to 2048 known voxels);
* decoder ceiling: the code fitted to ALL voxels of the held-out shape (how well the decoder can say
  a shape it never saw, whatever is cut away);
* more points / steps; nearest training shape (by the known voxels' clamped L1) pasted in the
  unknown region, and the vote of the three nearest;
* at 64³: the held-out shapes' signed distance computed at 64³ (the same truth for every method),
  the 32³ known mask doubled, the decoded field read at 64³;
* `offsets` (fifth argument 1): the decoded field's inside read at levels above zero.

Measured here (8 training + 4 held-out shapes per class, 80 epochs, 32³; the held-out shapes are
posed whole and then cut, so the pose is the true one): (a) the pose is not what is missing —
given the whole shape's pose the implicit completes to 0.61-0.67 (known part only about 0.59);
(b) the known voxels are already kept exactly (`complete` returns them as given); the decoded
field alone, its code fitted to the known part, scores an inside IoU of 0.30, and fitted to the
WHOLE held-out shape only 0.31 (0.35 read a quarter voxel outside): the decoder cannot say an
unseen thin shape to the voxel, so whatever it adds in the unknown region is mostly wrong
voxels — known kept + decoded 0.668 at level 0, 0.628 at +¼ voxel, 0.547 at +½; 4× the samples
and 150 steps changed nothing (±0.02); pasting the nearest training shape's unknown part did no
better (0.56-0.64 on the first shapes); the mirror image of the known part, for classes with a
symmetry plane, did (0.668 -> 0.692 on the bench's shapes: now `complete`'s default); (c) at 64³
(truth at 64³ for every method) the known
part alone already scores 0.67-0.91 where it scored 0.52-0.69 at 32³: at 32³ most parts are
thinner than a voxel and the inside-voxel IoU is decided by where voxel centres fall.

Then (same shapes, cuts and trained model; the decoder's ceiling here fitted with 4096 samples, 60
steps): is the decoder worse than a linear shape space, and can it be made to generalise?
* `linear_spaces` (numpy): a PCA of the training grids fitted by ridge least squares to ALL known
  voxels (Allen et al. 2003-style). Per class, ridge 0.01 / 1 / 10 / 100: completion 0.688 / 0.691
  / 0.695 / 0.697, ceiling 0.300 / 0.294 / 0.272 / 0.224; over all classes 0.683 / 0.691 / 0.678 /
  0.642, ceiling 0.311 / 0.276 / 0.202 / 0.048. The decoder: completion 0.692, ceiling 0.308. The
  decoder's closed-form linear part is this space (39 components over all classes). With 24
  training shapes per class (`linear 24 4`) the ceiling rises (per class 0.392, all classes 0.431 at
  ridge 0.01) but completion hardly moves (0.700 / 0.696; known part only 0.595). Same: the
  PCA of the training grids with ±1-voxel shifts and mirror images added (0.694, ceiling 0.269);
  blends of the decoded and PCA fields (mean 0.695, min 0.691, max 0.695); the decoded field read
  ¼ / ½ voxel inside (0.692 / 0.670). In the cut-away region the decoder marks 1231 voxels inside,
  750 of them rightly, of 1850 (precision 0.61, recall 0.41); the PCA 788, 557 rightly.
* training variants (ceiling; completion at prior weight 0.01 / 1; training shapes decoded): as
  trained 0.308, 0.692 / 0.700, 0.854; DeepSDF code term 1e-2 (was 1e-4) 0.305, 0.693 / 0.698,
  0.853; 16 latent dims 0.287, 0.689 / 0.695, 0.664; a smaller residual (hidden 32, channels 32/16)
  with twice the augmentation (scale 0.12, 8°) 0.308, 0.693 / 0.700, 0.842.
* the completion's prior weight (as trained): 0.01 / 0.1 / 0.3 / 1 / 10 -> 0.692 / 0.694 / 0.697
  / 0.700 / 0.691 (at 24³, tests/test_implicit_decoder.py: 0.703 / 0.716 / 0.716 / 0.709), so
  `complete` now uses 0.3 (COMPLETION_PRIOR_WEIGHT); fitting a whole shape keeps 0.01.
* a 3D U-Net on (known clamped distance, known mask, class) trained on random cuts of the training
  grids (7 minutes, ~250 steps): with L1 it filled nothing (0.594); with class-weighted BCE 0.648
  at its best threshold, mirror fill included.
* mirror planes of any orientation per held-out shape (voxel reflection, the whole truth): chairs
  0.29-0.50, tables 0.30-0.71, lamps 0.79-0.90: chairs and tables are not mirror-symmetric to the
  voxel at 32³, so no plane search can fill them.
* `symmetry` (the same model, shapes and cuts): each shape's own mirror planes, the class's plane
  normals (learning.symmetry_fill.class_symmetry_normals: chairs one, tilted ~10° from the nearest
  grid plane; tables two; lamps two; airplanes one; vases three) refitted on the known part, each
  map (planes and their compositions) kept only where it says the known part's own inside voxels
  (inside IoU ≥ 0.5), the continuous field read at the images (trilinear, or nearest voxel where
  that agrees better). Completion (decoded field elsewhere): no mirror 0.671, the class's middle
  grid plane voxel by voxel (the previous default) 0.697, fitted planes 0.725 (chairs 0.626 /
  0.626 / 0.643, tables 0.590 / 0.590 / 0.618, lamps 0.773 / 0.849 / 0.847, airplanes 0.787 / 0.840
  / 0.840, vases 0.581 / 0.581 / 0.675); the fitted planes with nothing decoded 0.691. On the WHOLE
  held-out shapes (the best plane refitted per shape, the truth reflected): reflected field 0.741,
  nearest-voxel reflection 0.702 (chairs 0.633 / 0.549, lamps 0.896 / 0.845, airplanes 0.783 /
  0.740, vases 0.651 / 0.645): the chairs' continuous reflection does NOT reach 0.8 — at 32³ a
  chair's parts are thinner than a voxel, and a reflected trilinear field says them only where the
  mirror image happens to fall near voxel centres. What did not work on the way: without the
  agreement check the fitted planes lost (0.687-0.705): tables' planes fitted the surface to
  0.25-0.4 voxels and still said their tops at inside IoU 0.04-0.12, airplanes' front-back grid
  plane agreed on the fuselage and not the wings; the plane scored by the trilinear |distance| at
  the images (biased at the surface) 0.720; a threshold of 0.5 voxel on the field-difference score
  let airplanes' false planes in (0.719). Where several maps reach a voxel, the first (best
  agreement) 0.725, the most inside 0.723, their mean 0.722, the first or the decoded field
  whichever is more inside 0.719, single planes without compositions 0.724.
So nothing here moves completion past ~0.72: every model of the class (linear, learnt, nearest
shape) says an unseen shape to the voxel at an inside IoU of about 0.3, and the nearest training
shape of the same class overlaps a shape at only 0.35 (scripts/bench_implicit.py, `pose`): eight
procedural shapes per class, each with its own topology, do not span the class at 32³.

Prepared data is cached in /tmp (the signed distances take minutes). Run:
`python scripts/completion_gap.py [per_class] [held_out] [epochs] [resolution] [offsets]`, or
`python scripts/completion_gap.py linear [per_class] [held_out] [resolution]`, or
`python scripts/completion_gap.py symmetry [per_class] [held_out] [epochs] [resolution]` (needs the
model `main` saved). Threads are set to 1.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.bench_implicit import FAMILIES, hard_shapes  # noqa: E402


def prepared(per_class: int, held_out: int, resolution: int = 32):
    from shapespace.signed_distance import class_references, prepare_signed_distances, signed_distance_grid, cube_frame

    cache = Path(f"/tmp/completion_gap_{per_class}_{held_out}_{resolution}.npz")
    if cache.exists():
        with np.load(cache, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    meshes, labels = hard_shapes(per_class)
    data = prepare_signed_distances(meshes, labels, resolution=resolution, samples=4096, seed=0)
    references = class_references(data.grids, data.labels, len(FAMILIES))
    held_meshes, held_labels = hard_shapes(held_out, offset=1000)
    held = prepare_signed_distances(held_meshes, held_labels, resolution=resolution, samples=0, frame=data.frame,
                                    truncation=data.truncation, references=references)
    fine = cube_frame(data.frame.size / 2, 2 * resolution)
    held64 = np.array([signed_distance_grid(m.vertices, m.triangles, fine, data.truncation, m.name)
                       for m in held.meshes], np.float32)
    out = {"grids": data.grids, "points": data.points, "distances": data.distances, "labels": data.labels,
           "frame": np.array(data.frame.as_list(), np.float64), "truncation": np.array(data.truncation),
           "references": references, "held": held.grids, "held_labels": held.labels, "held64": held64}
    np.savez(cache, **out)
    return out


def main(per_class=8, held_out=4, epochs=80, resolution=32, only_offsets=0):
    import torch

    from learning.implicit_decoder import ImplicitSDF, inside_iou, load_implicit
    from learning.volumetric import Conditions, half_space_mask

    torch.set_num_threads(1)
    start = time.perf_counter()
    d = prepared(per_class, held_out, resolution)
    print(f"prepared in {time.perf_counter() - start:.0f} s", flush=True)
    labels = d["labels"]
    conditions = Conditions.fit(labels, np.zeros((len(labels), 0)), list(FAMILIES), [])
    vectors = conditions.vectors(labels, np.zeros((len(labels), 0)))
    saved = Path(f"/tmp/completion_gap_model_{per_class}_{held_out}_{resolution}_{epochs}.npz")
    if saved.exists():
        model = load_implicit(saved)[0]
    else:
        model = ImplicitSDF.create(conditions, d["frame"].tolist(), float(d["truncation"]), latent=64, seed=0)
        report = model.fit(d["points"], d["distances"], labels, vectors, d["grids"], epochs=epochs)
        model.references = d["references"]
        model.save(saved)
        print(f"trained in {report.seconds:.0f} s", flush=True)
    if only_offsets:
        return offsets(model, d, resolution)
    rng = np.random.default_rng(0)
    r = resolution
    scores = {}

    def add(name, value):
        scores.setdefault(name, []).append(float(value))

    train_inside = d["grids"] < 0
    for grid, grid64 in zip(d["held"], d["held64"]):
        occupied = grid < 0
        known = half_space_mask(r, occupied.astype(np.float32), rng.uniform(0.3, 0.5), rng)
        add("known part only", inside_iou(np.where(known, grid, 1.0), grid))
        completed, k = model.complete(grid, known)
        add("implicit as now", inside_iou(completed, grid))
        code, vector = _fit(model, grid, known)
        add("implicit, decoded alone (known not kept)", inside_iou(model.decode_grid(code, vector, r)[0], grid))
        for samples, steps in ((8192, 40), (8192, 150)):
            completed = model.complete(grid, known, samples=samples, steps=steps)[0]
            add(f"implicit {samples} samples {steps} steps", inside_iou(completed, grid))
        everything = np.ones_like(known)
        code, vector = _fit(model, grid, everything, samples=8192, steps=150)
        add("decoder ceiling (code fitted to the whole shape)", inside_iou(model.decode_grid(code, vector, r)[0], grid))
        # nearest training shape by the known voxels
        clamp = np.clip(d["grids"] / float(d["truncation"]), -1, 1).reshape(len(labels), -1)
        target = np.clip(grid / float(d["truncation"]), -1, 1).ravel()
        errors = np.abs(clamp[:, known.ravel()] - target[known.ravel()]).mean(axis=1)
        nearest = int(np.argmin(errors))
        add("nearest training shape pasted", inside_iou(np.where(known, grid, d["grids"][nearest]), grid))
        order = np.argsort(errors)[:3]
        vote = (train_inside[order].mean(axis=0) > 0.5)
        add("3 nearest vote pasted", inside_iou(np.where(known, grid, np.where(vote, -1.0, 1.0)), grid))
        # at 64³: known mask upsampled, decoded at 64³, the truth at 64³
        known64 = known.repeat(2, 0).repeat(2, 1).repeat(2, 2)
        add("64: known part only", inside_iou(np.where(known64, grid64, 1.0), grid64))
        decoded64 = model.decode_grid(code, vector, 2 * r)[0]
        add("64: implicit, known kept", inside_iou(np.where(known64, grid64, decoded64), grid64))
        print({k: round(v[-1], 3) for k, v in scores.items()}, flush=True)
    result = {k: round(float(np.mean(v)), 3) for k, v in scores.items()}
    result["seconds"] = round(time.perf_counter() - start)
    print(json.dumps(result, indent=1))


def offsets(model, d, r):
    """Inside IoU of the decoded field read at levels above zero (the decoder leans outwards on thin
    parts: SURFACE_OFFSET_VOXELS), for the code fitted to the known part and to the whole shape."""
    from learning.implicit_decoder import inside_iou
    from learning.volumetric import half_space_mask

    rng = np.random.default_rng(0)
    pitch = float(d["frame"][3]) / r
    levels = (0.0, 0.25, 0.5, 0.75, 1.0)
    table = {}
    for grid in d["held"]:
        known = half_space_mask(r, (grid < 0).astype(np.float32), rng.uniform(0.3, 0.5), rng)
        for name, mask in (("known", known), ("whole", np.ones_like(known))):
            code, vector = _fit(model, grid, mask, samples=4096, steps=60)
            decoded = model.decode_grid(code, vector, r)[0]
            for level in levels:
                shifted = decoded - level * pitch
                table.setdefault(f"{name} decoded alone, level {level}", []).append(inside_iou(shifted, grid))
                if name == "known":
                    table.setdefault(f"known kept + decoded, level {level}", []).append(
                        inside_iou(np.where(known, grid, shifted), grid))
    print(json.dumps({k: round(float(np.mean(v)), 3) for k, v in table.items()}, indent=1))


def linear_spaces(per_class=8, held_out=4, resolution=32, ridges=(0.01, 1.0, 10.0, 100.0)) -> dict:
    """The classic linear baseline (Allen et al. 2003-style completion), numpy only: a PCA of the
    training signed-distance grids (clamped to the truncation), per class or over all classes; its
    whitened coefficients fitted by ridge least squares to ALL known voxels of a held-out shape (the
    class chosen by the smallest residual on them); known voxels kept, the mirror fill as `complete`
    does. Also its ceiling: the true class's space fitted to the whole held-out shape. Same shapes and
    cuts as `main`."""
    from learning.implicit_decoder import inside_iou, symmetry_axes
    from learning.volumetric import half_space_mask

    d = prepared(per_class, held_out, resolution)
    r, truncation, labels = resolution, float(d["truncation"]), d["labels"]
    classes = int(labels.max()) + 1
    mirror_axes = symmetry_axes(d["grids"], labels, classes)
    x = np.clip(d["grids"].reshape(len(labels), -1) / truncation, -1, 1)
    rng = np.random.default_rng(0)
    masks = [half_space_mask(r, (g < 0).astype(np.float32), rng.uniform(0.3, 0.5), rng) for g in d["held"]]

    def space(rows):
        mean = x[rows].mean(axis=0)
        _, values, directions = np.linalg.svd(x[rows] - mean, full_matrices=False)
        keep = len(rows) - 1
        return mean, directions[:keep] * (values[:keep] / np.sqrt(keep))[:, None]  # whitened basis (K, V)

    def fit(mean, basis, target, where, ridge):
        a = basis[:, where].T
        coefficients = np.linalg.solve(a.T @ a + ridge * np.eye(len(basis)), a.T @ (target - mean)[where])
        fitted = mean + coefficients @ basis
        return fitted, float(np.abs(fitted[where] - target[where]).mean())

    spaces = {"per class": {k: space(np.flatnonzero(labels == k)) for k in range(classes)},
              "all classes": {-1: space(np.arange(len(labels)))}}
    table = {}
    for name, by_class in spaces.items():
        for ridge in ridges:
            completed, ceiling = [], []
            for grid, known, label in zip(d["held"], masks, d["held_labels"]):
                target = np.clip(grid.ravel() / truncation, -1, 1)
                fits = {k: fit(*s, target, known.ravel(), ridge) for k, s in by_class.items()}
                k = min(fits, key=lambda key: fits[key][1])
                guess = fits[k][0].reshape(r, r, r) * truncation
                axis = int(mirror_axes[label if k < 0 else k])
                if axis >= 0:
                    guess = np.where(np.flip(known, axis), np.flip(grid, axis), guess)
                completed.append(inside_iou(np.where(known, grid, guess), grid))
                own = by_class.get(int(label), by_class.get(-1))
                ceiling.append(inside_iou(fit(*own, target, np.ones(target.size, bool), ridge)[0], target))
            table[f"{name}, ridge {ridge}"] = {"completion": round(float(np.mean(completed)), 3),
                                               "ceiling": round(float(np.mean(ceiling)), 3)}
    table["known part only"] = round(float(np.mean([inside_iou(np.where(m, g, 1.0), g)
                                                    for g, m in zip(d["held"], masks)])), 3)
    print(json.dumps(table, indent=1))
    return table


def _fit(model, grid, known, samples=2048, steps=40, seed=0):
    """(code (1, L), condition (1, C)) fitted as `complete` does."""
    points, distances = model.grid_samples(grid, known, samples, seed)
    code, vector, _ = model.fit_codes(points, distances, None, steps)
    return code[None], vector[None]


def symmetry(per_class=8, held_out=4, epochs=80, resolution=32) -> dict:
    """Completion with each way of using mirror symmetry (the same trained model, shapes and cuts as
    `main`): none, the class's middle grid plane voxel by voxel (the earlier default), and each
    shape's own planes fitted on its known part with the continuous field reflected
    (learning.symmetry_fill, now the default); the same fills with nothing decoded elsewhere; and,
    on the WHOLE held-out shapes, the class normals' planes refitted per shape, inside IoU of the
    reflected field (trilinear) and of the nearest-voxel reflection against the truth."""
    import torch

    from learning.implicit_decoder import inside_iou, load_implicit
    from learning.symmetry_fill import class_symmetry_normals, fit_symmetry_maps, symmetric_fill, trilinear
    from learning.volumetric import half_space_mask

    torch.set_num_threads(1)
    d = prepared(per_class, held_out, resolution)
    model = load_implicit(Path(f"/tmp/completion_gap_model_{per_class}_{held_out}_{resolution}_{epochs}.npz"))[0]
    r, truncation = resolution, float(d["truncation"])
    pitch = float(d["frame"][3]) / r
    start = time.perf_counter()
    model.symmetry_normals = class_symmetry_normals(d["grids"], d["labels"], len(FAMILIES), pitch)
    print(f"class normals in {time.perf_counter() - start:.1f} s:",
          {FAMILIES[k]: np.round(n[np.linalg.norm(n, axis=1) > 0], 2).tolist()
           for k, n in enumerate(model.symmetry_normals)}, flush=True)
    rng = np.random.default_rng(0)
    rows = []
    for grid, label in zip(d["held"], d["held_labels"]):
        known = half_space_mask(r, (grid < 0).astype(np.float32), rng.uniform(0.3, 0.5), rng)
        row = {"class": FAMILIES[int(label)], "known part only": inside_iou(np.where(known, grid, truncation), grid)}
        for name, mirror in (("no mirror", False), ("grid plane", "axis"), ("fitted planes", "planes")):
            begin = time.perf_counter()
            row[name] = inside_iou(model.complete(grid, known, mirror=mirror)[0], grid)
            row[name + " s"] = time.perf_counter() - begin
        normals = model.symmetry_normals[int(label)]
        maps = fit_symmetry_maps(grid, known, normals, pitch, [int(model.symmetry[int(label)])])
        values, filled = symmetric_fill(grid, known, maps, truncation)
        alone = np.where(known, grid, np.where(filled, values, truncation))
        row["fitted planes, nothing decoded"] = inside_iou(alone, grid)
        whole = np.ones_like(known)
        planes = fit_symmetry_maps(grid, whole, normals, pitch, compose=False)
        if planes:
            _, a, b, _ = planes[0]
            axis = np.arange(r, dtype=np.float64)
            centres = np.stack([c.ravel() for c in np.meshgrid(axis, axis, axis, indexing="ij")], axis=1)
            images = centres @ a.T + b
            field = trilinear(grid, images, truncation).reshape(grid.shape)
            nearest = np.round(images).astype(np.int64)
            inside = np.all((nearest >= 0) & (nearest < r), axis=1)
            voxel = np.full(grid.size, truncation)
            voxel[inside] = grid[tuple(nearest[inside].T)]
            row["whole: reflected field"] = inside_iou(field, grid)
            row["whole: voxel reflection"] = inside_iou(voxel.reshape(grid.shape), grid)
        rows.append(row)
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    summary = {}
    for family in FAMILIES + ("all",):
        chosen = [row for row in rows if family in ("all", row["class"])]
        summary[family] = {k: round(float(np.mean([row[k] for row in chosen if k in row])), 3)
                           for k in chosen[0] if k != "class"}
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    if sys.argv[1:2] == ["symmetry"]:
        symmetry(*[int(a) for a in sys.argv[2:]])
    elif sys.argv[1:2] == ["linear"]:
        linear_spaces(*[int(a) for a in sys.argv[2:]])
    else:
        main(*[int(a) for a in sys.argv[1:]])
