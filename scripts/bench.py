"""Design Space benchmarks: each figure next to a baseline measured in the same process, as a ratio.

    .venv/bin/python scripts/bench.py --output bench_output      (or: make bench)

Prints a table and writes bench_output/bench.json. Medians over repeats; the machines are shared and
noisy, so compare the ratios of one run rather than absolute times across runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the pure packages, for the trainer bench
import dev_blender  # noqa: E402
from bench_support import grid_mesh, median_seconds  # noqa: E402
from bench_phrases import bench_phrase_edit, bench_scoring  # noqa: E402


def bench_read_collection(bpy, addon, rows):
    bridge = addon.operators.mesh_bridge
    MeshArrays = addon.shapespace.mesh_arrays.MeshArrays
    bpy.ops.wm.read_homefile(use_empty=True)
    collection = bridge.ensure_collection("bench read")
    template = grid_mesh(MeshArrays, 100, "piece")  # 10,000 vertices
    with bridge.SceneWriter() as writer:
        objects = [writer.mesh_object(template, collection, name=f"piece_{i:03d}") for i in range(200)]
    meshes = [o.data for o in objects]

    def with_bridge():
        return [bridge.read_positions(m) for m in meshes]

    def with_co():
        out = []
        for m in meshes:
            buf = np.empty(len(m.vertices) * 3, dtype=np.float32)
            m.vertices.foreach_get("co", buf)
            out.append(buf.reshape(-1, 3))
        return out

    def per_vertex():
        return [np.array([v.co[:] for v in m.vertices], dtype=np.float32) for m in meshes]

    ours = median_seconds(with_bridge)
    rows.append(("read 200 objects × 10k vertices", "bridge (attribute foreach_get)", ours, {
        "vertices.foreach_get('co')": median_seconds(with_co),
        "per-vertex Python loop": median_seconds(per_vertex, repeat=1),
    }))
    whole = median_seconds(lambda: bridge.read_collection(collection), repeat=3)
    rows.append(("read_collection: 200 × 10k, positions + topology + properties", "bridge.read_collection",
                 whole, {"vertices.foreach_get('co') (positions only)": median_seconds(with_co)}))


def bench_build_mesh(bpy, addon, rows):
    bridge = addon.operators.mesh_bridge
    MeshArrays = addon.shapespace.mesh_arrays.MeshArrays
    bpy.ops.wm.read_homefile(use_empty=True)
    grid = grid_mesh(MeshArrays, 317)
    vertices_list = grid.vertices.tolist()
    faces_list = grid.corner_vertices.reshape(-1, 3).tolist()

    def with_bridge():
        bpy.data.meshes.remove(bridge.build_mesh(grid, "bridge"))

    def with_from_pydata():
        mesh = bpy.data.meshes.new("pydata")
        mesh.from_pydata(vertices_list, [], faces_list)
        mesh.update()
        bpy.data.meshes.remove(mesh)

    def per_vertex():
        mesh = bpy.data.meshes.new("loop")
        mesh.vertices.add(len(vertices_list))
        for vertex, co in zip(mesh.vertices, vertices_list):
            vertex.co = co
        mesh.loops.add(len(faces_list) * 3)
        for loop, index in zip(mesh.loops, grid.corner_vertices.tolist()):
            loop.vertex_index = index
        mesh.polygons.add(len(faces_list))
        for i, polygon in enumerate(mesh.polygons):
            polygon.loop_start = 3 * i
        mesh.update(calc_edges=True)
        bpy.data.meshes.remove(mesh)

    rows.append((f"build a {len(grid.vertices) // 1000}k-vertex / {len(faces_list) // 1000}k-triangle mesh",
                 "bridge.build_mesh (bulk attribute writes)", median_seconds(with_bridge), {
                     "from_pydata": median_seconds(with_from_pydata),
                     "per-vertex Python loop": median_seconds(per_vertex, repeat=1),
                 }))


def bench_update_positions(bpy, addon, rows):
    bridge = addon.operators.mesh_bridge
    MeshArrays = addon.shapespace.mesh_arrays.MeshArrays
    bpy.ops.wm.read_homefile(use_empty=True)
    grid = grid_mesh(MeshArrays, 317)
    mesh = bridge.build_mesh(grid, "update")
    moved = grid.vertices + np.float32(0.01)
    moved64 = moved.astype(np.float64).ravel()
    moved_list = moved.tolist()

    def with_bridge():
        bridge.update_positions(mesh, moved)

    def with_co():
        mesh.vertices.foreach_set("co", moved64)
        mesh.update()

    def per_vertex():
        for vertex, co in zip(mesh.vertices, moved_list):
            vertex.co = co
        mesh.update()

    rows.append((f"update {len(grid.vertices) // 1000}k positions in place", "bridge.update_positions",
                 median_seconds(with_bridge), {
                     "vertices.foreach_set('co')": median_seconds(with_co),
                     "per-vertex Python loop": median_seconds(per_vertex, repeat=1),
                 }))


def bench_training(bpy, addon, rows):
    """The shared trainer against a plain hand-written torch loop doing the same work."""
    from learning.bench_training import trainer_throughput

    figures = trainer_throughput(4096, cnn_samples=512, epochs=2, repeats=3)
    for name, label in (("mlp", "small MLP (32→64→64→1)"), ("cnn", "small CNN (2 conv, 32×32×3)")):
        f = figures[name]
        samples = f["samples"] * f["epochs"]
        rows.append((f"train a {label}: {f['trainer_samples_per_s']:.0f} samples/s", "learning.trainer.train",
                     samples / f["trainer_samples_per_s"],
                     {"plain torch loop": samples / f["plain_samples_per_s"]}))


def bench_import(bpy, addon, rows):
    """Importing 10k-vertex files: per-file cost into an empty scene and into one of 2,000 objects, against
    Blender's own importer in the same two scenes (which grows with the scene)."""
    from bench_import import import_timing

    for fmt in ("ply", "obj"):
        f = import_timing(bpy, addon, files=200, existing=2000, fmt=fmt, baseline_files=20)
        rows.append((f"import one 10k-vertex .{fmt}, empty scene (goal ≤ 30 ms)", "Design Space readers",
                     f["empty_scene_s_per_file"], {"Blender's importer": f["blender_importer_empty_scene_s_per_file"]}))
        rows.append((f"import one 10k-vertex .{fmt}, scene of 2,000 objects", "Design Space readers",
                     f["full_scene_s_per_file"], {"Blender's importer": f["blender_importer_full_scene_s_per_file"],
                                                  "ours into the empty scene": f["empty_scene_s_per_file"]}))


def bench_comparisons(bpy, addon, rows):
    """Learning a semantic attribute from 60, 200 and 1,000 answers: the numpy Rank-SVM (Newton, λ by
    cross-validation) against the torch learner (one fit, no cross-validation) in the same run."""
    import torch

    from learning.ranking import fit_ranking, fit_ranking_torch, simulate_comparisons

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    features = rng.standard_normal((60, 16))
    names = [f"shape_{i:02d}" for i in range(60)]
    hidden = features @ rng.standard_normal(16)
    for count in (60, 200, 1000):
        comparisons = simulate_comparisons(hidden, names, "sturdy", count, seed=1)
        rows.append((f"learn a semantic attribute from {count} answers (goal ≤ 0.5 s at 200)",
                     "numpy Rank-SVM, CV included",
                     median_seconds(lambda: fit_ranking(features, names, comparisons, "sturdy"), repeat=3),
                     {"torch learner, one fit": median_seconds(
                         lambda: fit_ranking_torch(features, names, comparisons, "sturdy"), repeat=3)}))


def bench_threads(bpy, addon, rows):
    """One training epoch of the multi-view network with another busy process beside it (as Blender is
    while a worker trains): torch on 1 thread against 2. The worker's default is all cores but one."""
    import subprocess

    import torch

    from learning.view_network import ViewNetwork

    rng = np.random.default_rng(0)
    x = rng.random((480, 20, 72)).astype(np.float32)
    y = rng.integers(0, 12, 480)
    busy = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 120\nwhile time.time() < end: pass"])
    try:
        times = {}
        for threads in (2, 1, 2, 1):
            torch.set_num_threads(threads)
            network = ViewNetwork.create([str(i) for i in range(12)], 20, 72)
            start = time.perf_counter()
            network.fit(x, y, epochs=2)
            times.setdefault(threads, []).append((time.perf_counter() - start) / 2)
    finally:
        busy.kill()
        busy.wait()
        torch.set_num_threads(1)
    rows.append(("one view-network epoch (480 shapes) beside a busy process", "torch on 1 thread",
                 min(times[1]), {"torch on 2 threads": min(times[2])}))


def bench_progress_update(bpy, addon, rows):
    """Main-thread cost of one progress update: drain the queue, job state, status bar, curve image."""
    jobs = addon.operators.background_jobs
    from learning.training_plot import plot_curves

    curves = plot_curves({"train_loss": list(np.linspace(1, 0.1, 200)), "val_loss": list(np.linspace(1, 0.2, 200))},
                         512, 256)

    class Idle(jobs.Job):
        label = "bench"

    runner = jobs.JobRunner()
    runner.listeners = list(jobs.runner.listeners)
    runner.job = Idle()

    def one_update():
        runner._messages.put(jobs.Progress(0.5, "epoch 100/200", {"curves": curves, "line": "epoch 100/200"}))
        runner._poll()

    def state_only():
        runner._messages.put(jobs.Progress(0.5, "epoch 100/200", {"line": "epoch 100/200"}))
        runner._poll()

    one_update()
    ours = median_seconds(one_update, repeat=20)
    rows.append(("one progress update on the main thread (goal < 5 ms)", "with a 512×256 curve image", ours,
                 {"without the curve image": median_seconds(state_only, repeat=20)}))
    runner.job = None


def bench_pca(bpy, addon, rows):
    """PCA of 500 bodies × 19k vertices (made by blending MakeHuman-like offsets) against scikit-learn."""
    from sklearn.decomposition import PCA

    from learning.shape_space import fit_shape_space

    rng = np.random.default_rng(0)
    count, dims, k = 500, 19158 * 3, 20
    basis = rng.standard_normal((40, dims)).astype(np.float32)
    shapes = (rng.standard_normal((count, 40)).astype(np.float32) * np.linspace(3, 0.1, 40, dtype=np.float32)) @ basis

    def ours():
        return fit_shape_space(shapes, k=k)

    def reconstruction_error(project, reconstruct):
        return float(np.sqrt(np.mean((reconstruct(project(shapes)) - shapes) ** 2)))

    space = ours()
    ours_error = reconstruction_error(space.project, space.reconstruct)
    baselines = {}
    for solver in ("auto", "full"):
        pca = PCA(n_components=k, svd_solver=solver)
        baselines[f"scikit-learn PCA ({solver})"] = median_seconds(lambda: pca.fit(shapes), repeat=3)
        sk_error = reconstruction_error(pca.transform, pca.inverse_transform)
        assert abs(sk_error - ours_error) <= 1e-3 * max(sk_error, 1e-9) + 1e-4, (sk_error, ours_error)
    rows.append((f"PCA 500 × {dims} (k={k}, equal reconstruction error {ours_error:.4f})",
                 "Gram trick (X Xᵀ, eigh)", median_seconds(ours, repeat=3), baselines))


def bench_attribute_slider(bpy, addon, rows):
    """An attribute slider moved end to end (value set → mesh written → depsgraph evaluated), writing
    positions directly, against driving 20 component shape keys, and against a per-vertex write."""
    import tempfile

    from learning.attribute_space import AttributeTable, fit_attribute_space, save_attribute_space
    from learning.shape_space import ShapeSpace, save_shape_space

    bridge = addon.operators.mesh_bridge
    editing = addon.operators.shape_space.shape_editing
    MeshArrays = addon.shapespace.mesh_arrays.MeshArrays
    folder = Path(tempfile.mkdtemp(prefix="design_space_bench_"))
    rng = np.random.default_rng(0)
    k = 20
    for side in (100, 224, 317):  # 10k, 50k, 100k vertices
        bpy.ops.wm.read_homefile(use_empty=True)
        grid = grid_mesh(MeshArrays, side)
        dims = len(grid.vertices) * 3
        components = np.linalg.qr(rng.standard_normal((dims, k)))[0].T.astype(np.float32)
        variances = np.linspace(1.0, 0.05, k) * 1e-2
        space = ShapeSpace(grid.vertices.ravel(), components, variances, float(variances.sum()))
        coefficients = rng.standard_normal((40, k)) * np.sqrt(variances)
        attributes = coefficients[:, :3] @ rng.standard_normal((3, 3)) + 0.01 * rng.standard_normal((40, 3))
        space_path, model_path = folder / f"space_{side}.npz", folder / f"attributes_{side}.npz"
        save_shape_space(space_path, space, grid.face_sizes, grid.corner_vertices, coefficients=coefficients)
        model = fit_attribute_space(AttributeTable(["a", "b", "c"], attributes, []), coefficients)
        save_attribute_space(model_path, model, shape_space_file=space_path.name, collection="bench",
                             method="ridge", metrics={})
        collection = bridge.ensure_collection("bench sliders")
        with bridge.SceneWriter() as writer:
            direct = writer.mesh_object(grid, collection, name="direct")
            keyed = writer.mesh_object(grid, collection, name="keyed")
        offsets = 3 * np.sqrt(variances)[:, None] * components + space.mean
        bridge.write_shape_keys(keyed, {f"PC{i + 1}": offsets[i].reshape(-1, 3) for i in range(k)})
        keyed["design_space_kind"] = "shape_space"
        for obj in (direct, keyed):
            editing.attach_sliders(obj, model_path, model.estimate(np.zeros((1, k)))[0], np.zeros(k))
        bpy.context.view_layer.update()
        mesh = direct.data
        positions = grid.vertices.tolist()

        def move(obj):
            slider = obj.design_space_edit.sliders[0]
            slider.value += 0.01
            bpy.context.view_layer.update()

        def per_vertex():
            for vertex, co in zip(mesh.vertices, positions):
                vertex.co = co
            mesh.update()
            bpy.context.view_layer.update()

        ours = median_seconds(lambda: move(direct), repeat=21)
        rows.append((f"attribute slider, {len(grid.vertices) // 1000}k vertices, evaluated (goal ≤ 2 ms)",
                     "positions written directly", ours, {
                         f"driving {k} shape keys": median_seconds(lambda: move(keyed), repeat=21),
                         "per-vertex Python write": median_seconds(per_vertex, repeat=3)}))


def bench_part_model(bpy, addon, rows):
    """Learning the part model at 20/50/100 chairs against its plain-tables ablation and scikit-learn's
    Gaussian mixtures (BIC over 1-3 styles per label); 100 ranked assemblies against placing 100
    random part combinations without a model."""
    from sklearn.mixture import GaussianMixture

    from learning.part_model import fit_part_model, part_table
    from learning.part_synthesis import PartSynthesizer
    from shapespace.assembly import solve_placement, training_overlaps
    from shapespace.parts import describe_collection
    from shapespace.procedural import make_family

    shapes = make_family("chair", 100, seed=1, same_topology=False)
    parts, labels = describe_collection(shapes)
    full = part_table(parts, labels, [s.name for s in shapes])
    for size in (20, 50, 100):
        table = full.subset(np.arange(size))

        def sklearn_mixtures():
            for j in range(len(labels)):
                present = table.counts[:, j] > 0
                x = np.nan_to_num(table.features[present, j])
                if len(x) >= 6:
                    min((GaussianMixture(k, covariance_type="diag", random_state=0).fit(x).bic(x), k)
                        for k in range(1, 4))

        rows.append((f"learn the part model, {size} chairs (styles, EM, structure search)", "fit_part_model",
                     median_seconds(lambda: fit_part_model(table), repeat=3), {
                         "plain tables (no latent, no lateral)": median_seconds(
                             lambda: fit_part_model(table, latent=False, lateral=False), repeat=3),
                         "scikit-learn GaussianMixture, BIC per label": median_seconds(sklearn_mixtures, repeat=3)}))
    model = fit_part_model(full)
    overlaps = training_overlaps(parts)
    synthesizer = PartSynthesizer(model, full, parts, solve_placement, overlaps)
    rng = np.random.default_rng(0)
    combos = []
    for _ in range(100):
        combo = {label: parts[rng.integers(len(parts))].get(label) for label in labels}
        combos.append({label: part for label, part in combo.items() if part is not None})
    rows.append(("100 ranked assemblies from 100 chairs (draw, choose, place, check, rank)",
                 "PartSynthesizer.assemble", median_seconds(lambda: synthesizer.assemble(100, seed=0), repeat=1), {
                     "placing 100 random combinations (no model, no ranking)": median_seconds(
                         lambda: [solve_placement(c, labels, overlaps) for c in combos], repeat=1)}))


def bench_views(bpy, addon, rows):
    """12 shaded views of a 10k-triangle mesh: the numpy z-buffer against Blender's Workbench render of
    the same 12 cameras (in the same process)."""
    import tempfile

    from mathutils import Vector

    from shapespace.views import normalize, render_views, ring_views

    MeshArrays = addon.shapespace.mesh_arrays.MeshArrays
    grid = grid_mesh(MeshArrays, 72)  # 71² × 2 = 10,082 triangles
    folder = Path(tempfile.mkdtemp(prefix="design_space_views_"))
    for resolution in (64, 128):
        bpy.ops.wm.read_homefile(use_empty=True)
        scene = bpy.context.scene
        mesh = addon.operators.mesh_bridge.build_mesh(MeshArrays("grid", normalize(grid.vertices), grid.face_sizes,
                                                                 grid.corner_vertices))
        scene.collection.objects.link(bpy.data.objects.new("grid", mesh))
        camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
        camera.data.type, camera.data.ortho_scale = 'ORTHO', 2.0
        scene.collection.objects.link(camera)
        scene.camera = camera
        scene.render.engine = 'BLENDER_WORKBENCH'
        scene.render.resolution_x = scene.render.resolution_y = resolution
        scene.render.filepath = str(folder / "view.png")

        def workbench():
            for direction in ring_views():
                camera.location = Vector(tuple(5.0 * direction))
                camera.rotation_euler = Vector(tuple(-direction)).to_track_quat('-Z', 'Y').to_euler()
                bpy.ops.render.render(write_still=False)

        rows.append((f"12 views of a 10k-triangle mesh at {resolution}² (shaded, depth, mask, lines)",
                     "shapespace.views (numpy z-buffer)",
                     median_seconds(lambda: render_views(grid, resolution=resolution), repeat=5),
                     {"Blender Workbench render (12 cameras)": median_seconds(workbench, repeat=3)}))


def bench_voxelize(bpy, addon, rows):
    """Solid voxelisation of a chair (overlapping closed pieces) at 32³ and 64³: ours against trimesh's
    voxelize + fill, each scored by IoU against the exact winding number at its own voxel centres."""
    import trimesh

    from shapespace.assembly import winding_numbers
    from shapespace.procedural import make_shape
    from shapespace.voxels import frame_around, iou, voxelize

    shape = make_shape("chair", 3, same_topology=False)
    vertices, triangles = shape.vertices.astype(np.float64), shape.triangles
    mesh = trimesh.Trimesh(vertices, triangles, process=False)
    for resolution in (32, 64):
        frame = frame_around(vertices.min(axis=0), vertices.max(axis=0), resolution)
        ours = voxelize(vertices, triangles, frame)
        theirs = trimesh.voxel.creation.voxelize(mesh, pitch=frame.pitch).fill()
        ours_iou = iou(ours, winding_numbers(frame.points(), vertices, triangles).reshape(ours.shape) >= 0.5)
        index = np.stack(np.meshgrid(*(np.arange(n) for n in theirs.shape), indexing="ij"), -1).reshape(-1, 3)
        centres = trimesh.transformations.transform_points(index.astype(float), theirs.transform)
        truth = winding_numbers(centres, vertices, triangles) >= 0.5
        their_iou = iou(theirs.matrix.reshape(-1), truth)
        rows.append((f"voxelise a {len(triangles)}-triangle chair at {resolution}³ (IoU vs exact: ours "
                     f"{ours_iou:.3f}, trimesh {their_iou:.3f})", "shapespace.voxels (signed ray crossings)",
                     median_seconds(lambda: voxelize(vertices, triangles, frame), repeat=5),
                     {"trimesh voxelize + fill": median_seconds(
                         lambda: trimesh.voxel.creation.voxelize(mesh, pitch=frame.pitch).fill(), repeat=5)}))


def bench_generation(bpy, addon, rows):
    """Generation end to end: decode a grid with the VAE's decoder, extract and smooth the surface,
    write the mesh into Blender; against scikit-image's marching cubes + from_pydata for the last two."""
    import torch
    from skimage.measure import marching_cubes

    from learning.volumetric import Conditions, VoxelVAE
    from shapespace.procedural import make_shape
    from shapespace.voxels import frame_around, voxelize

    torch.set_num_threads(2)
    support = addon.operators.volumes.volumetric_support
    shape = make_shape("chair", 3, same_topology=False)
    conditions = Conditions.fit([0, 0], np.zeros((2, 1)), ["chair"], ["height"])
    for resolution in (32, 64):
        frame = frame_around(shape.vertices.min(axis=0), shape.vertices.max(axis=0), resolution)
        grid = voxelize(shape.vertices, shape.triangles, frame).astype(np.float32)
        # A probability field like a decoder's: the occupancy, blurred by one voxel.
        blurred = grid.copy()
        for axis in range(3):
            blurred = (np.roll(blurred, 1, axis) + 2 * blurred + np.roll(blurred, -1, axis)) / 4
        vae = VoxelVAE.create(conditions, resolution)
        vector = conditions.vectors([0], np.array([[np.nan]]))[0]
        vae.generate(vector, 1)  # warm-up: torch's first call is slow

        def ours():
            vae.generate(vector, 1)
            mesh = support.grid_mesh(blurred, "generated", size=1.0)
            obj = bpy.data.objects.new("generated", addon.operators.mesh_bridge.build_mesh(mesh))
            bpy.data.objects.remove(obj)

        def skimage_pydata():
            vae.generate(vector, 1)
            verts, faces, _, _ = marching_cubes(np.pad(blurred, 1), 0.5)
            data = bpy.data.meshes.new("generated")
            data.from_pydata(verts.tolist(), [], faces.tolist())
            bpy.data.meshes.remove(data)

        rows.append((f"generate one shape at {resolution}³: decode + extract + smooth + write (goal ≤ 100 ms)",
                     "VAE decoder + marching tetrahedra + Taubin + bridge", median_seconds(ours, repeat=5),
                     {"decoder + scikit-image marching cubes + from_pydata (no smoothing)":
                      median_seconds(skimage_pydata, repeat=5),
                      "decoder alone": median_seconds(lambda: vae.generate(vector, 1), repeat=5)}))


def bench_volumetric_training(bpy, addon, rows):
    """One training epoch of the VAE on 100 procedural shapes at 32³ (the demo's data), next to the
    per-voxel logistic regression's epoch."""
    import torch

    from learning.volumetric import Conditions, VoxelLogistic, VoxelVAE
    from shapespace.procedural import FAMILIES, make_family
    from shapespace.voxels import frame_around, voxelize

    torch.set_num_threads(2)
    grids, labels = [], []
    for k, family in enumerate(FAMILIES):
        for shape in make_family(family, 20, seed=1, same_topology=False):
            frame = frame_around(shape.vertices.min(axis=0), shape.vertices.max(axis=0), 32)
            grids.append(voxelize(shape.vertices, shape.triangles, frame))
            labels.append(k)
    grids, labels = np.array(grids, np.float32), np.array(labels)
    conditions = Conditions.fit(labels, np.zeros((len(labels), 0)), list(FAMILIES), [])
    vectors = conditions.vectors(labels, np.zeros((len(labels), 0)))
    vae = VoxelVAE.create(conditions, 32)
    logistic = VoxelLogistic.create(conditions, 32)
    vae_epoch = vae.fit(grids, labels, vectors, epochs=3)
    logistic_epoch = logistic.fit(grids, vectors, epochs=3)
    rows.append(("one training epoch on 100 shapes at 32³", "conditional 3D VAE (batch 16)",
                 vae_epoch.seconds / 3, {"per-voxel logistic regression (full batch)": logistic_epoch.seconds / 3}))


QUALITY = []  # (task, {method: {measure: value}}): figures that are not times, printed after the table


def light_field_copies(shapes, index, copies: int = 2, seed: int = 0) -> np.ndarray:
    """Light fields of `copies` randomly turned copies of each shape in `index` (rotation augmentation)."""
    from shapespace.light_field import light_field_descriptor
    from shapespace.mesh_arrays import MeshArrays
    from shapespace.roughen import random_rotation

    rng = np.random.default_rng(seed)
    out = []
    for i in index:
        shape = shapes[i]
        for _ in range(copies):
            rotation = random_rotation(rng).astype(np.float32)
            out.append(light_field_descriptor(MeshArrays(shape.name, shape.vertices @ rotation.T, shape.face_sizes,
                                                         shape.corner_vertices)))
    return np.stack(out)


def bench_recognition(bpy, addon, rows):
    """Recognition on the hard benchmark (21 classes × 40 shapes, turned in 3D, re-tessellated, holes,
    overlapping parts, flipped normals, internal faces): the light field under the multi-view network's
    learned metric against the training-free light field and D2 on classes held out from training
    (learning/view_network.py says how the metric's settings were chosen), classification against softmax
    regression on light fields and the older image CNN; and the speed of each step against the old
    pipeline (12 shaded ring views + CNN) in the same run."""
    import torch

    from learning.multiview import MultiViewClassifier
    from learning.retrieval_scores import retrieval_scores
    from learning.softmax_regression import SoftmaxRegression
    from learning.view_network import fit_view_network
    from shapespace.descriptors import d2_histogram, sample_surface
    from shapespace.hard_benchmark import hard_benchmark
    from shapespace.light_field import (QUARTER_TURN, light_field_descriptor, light_field_distance_matrix,
                                        light_field_distances, light_field_nearest, light_field_query,
                                        pooled_light_field)
    from shapespace.makehuman import MakeHumanData
    from shapespace.views import render_views

    torch.set_num_threads(1)
    data = MakeHumanData.open(Path(__file__).resolve().parent.parent / ".data" / "mpfb2")
    start = time.perf_counter()
    bench = hard_benchmark(per_class=40, seed=0, makehuman=data)
    print(f"hard benchmark: {len(bench.shapes)} shapes, {len(bench.classes)} classes "
          f"({time.perf_counter() - start:.1f} s)", flush=True)
    labels = bench.labels
    start = time.perf_counter()
    descriptors = np.stack([light_field_descriptor(s) for s in bench.shapes])
    describe_seconds = (time.perf_counter() - start) / len(bench.shapes)
    start = time.perf_counter()
    images = np.stack([render_views(s, resolution=32)["shaded"] for s in bench.shapes]).astype(np.float32)
    render_seconds = (time.perf_counter() - start) / len(bench.shapes)
    rows.append(("describe one benchmark shape (all views)", "light field, 20 views", describe_seconds,
                 {"old: 12 shaded ring views at 32²": render_seconds}))

    MeshArrays = addon.shapespace.mesh_arrays.MeshArrays
    grid = grid_mesh(MeshArrays, 72)  # 10,082 triangles
    rows.append(("light field of a 10k-triangle mesh (goal ≤ 50 ms)", "light field, 20 views",
                 median_seconds(lambda: light_field_descriptor(grid), repeat=5),
                 {"as a query (both quarter turns)": median_seconds(lambda: light_field_query(grid), repeat=5),
                  "old: 12 shaded ring views at 32²": median_seconds(lambda: render_views(grid, resolution=32), 3)}))
    library = np.concatenate([descriptors] * (10000 // len(descriptors) + 1))[:10000]
    d2_library = np.random.default_rng(0).random((10000, 64))
    query = light_field_query(bench.shapes[0])
    rows.append(("one query against 10,000 library shapes (goal ≤ 50 ms)", "light field, 24 axis × 60 rotations",
                 median_seconds(lambda: light_field_distances(query, library), repeat=5),
                 {"light field, 60 rotations": median_seconds(lambda: light_field_distances(query[0], library), 5),
                  "the 5 nearest, pruned (Find Similar)": median_seconds(lambda: light_field_nearest(query, library, 5), 5),
                  "D2 histogram, L1": median_seconds(lambda: np.abs(d2_library - d2_library[0]).sum(1), repeat=5)}))

    # classification: classes seen in training, their shapes split 75/25
    train, test = bench.train_index, bench.test_index
    seen = sorted(set(labels[train].tolist()))
    remap = np.full(labels.max() + 1, -1)
    remap[seen] = np.arange(len(seen))
    names = [bench.classes[c] for c in seen]
    start = time.perf_counter()
    copies = light_field_copies(bench.shapes, train)
    network, metrics, _ = fit_view_network(descriptors[train], remap[labels[train]], names, held_out=0.25,
                                           copies=(copies, np.repeat(np.arange(len(train)), 2)))
    network_seconds = time.perf_counter() - start
    x = np.concatenate([descriptors[train], copies])
    y = remap[np.concatenate([labels[train], np.repeat(labels[train], 2)])]
    probabilities = network.class_probabilities(descriptors[test], (network.view_descriptors(x), y))
    accuracy = float((probabilities.argmax(1) == remap[labels[test]]).mean())
    softmax = SoftmaxRegression().fit(pooled_light_field(x), y, len(seen))
    softmax_accuracy = float((softmax.predict(pooled_light_field(descriptors[test])) == remap[labels[test]]).mean())
    start = time.perf_counter()
    cnn = MultiViewClassifier.create(names, 32, 12)
    cnn.fit(images[train], remap[labels[train]], epochs=20)
    cnn_seconds = time.perf_counter() - start
    cnn_accuracy = float((cnn.probabilities(images[test]).argmax(1) == remap[labels[test]]).mean())
    QUALITY.append((f"classification, {len(seen)} seen classes, {len(test)} held-out shapes", {
        f"multi-view network (vote: {metrics['vote']})": {"accuracy": accuracy},
        "softmax regression on light fields": {"accuracy": softmax_accuracy},
        "old image CNN (12 ring views, 32²)": {"accuracy": cnn_accuracy}}))
    rows.append((f"train the classifier on {len(train)} shapes + 2 turned copies each (2 fits)", "multi-view network",
                 network_seconds + 3 * describe_seconds * len(train), {"old image CNN, 20 epochs": cnn_seconds +
                                                                   render_seconds * len(train)}))
    rows.append((f"classify {len(test)} shapes, describing included", "multi-view network",
                 describe_seconds * len(test) + median_seconds(lambda: network.probabilities(descriptors[test]), 3),
                 {"old image CNN": render_seconds * len(test) + median_seconds(lambda: cnn.probabilities(images[test]), 3)}))

    # retrieval of classes never trained on (the network above saw none of them)
    unseen = bench.retrieval_index
    assert not np.isin(labels[train], labels[unseen]).any()
    turned = np.stack([light_field_descriptor(bench.shapes[i], turn=QUARTER_TURN) for i in unseen])
    light_field = light_field_distance_matrix(descriptors[unseen], turned=turned)
    learned = light_field_distance_matrix(network.view_descriptors(descriptors[unseen]),
                                          turned=network.view_descriptors(turned))
    sixty = light_field_distance_matrix(descriptors[unseen])
    d2 = np.stack([d2_histogram(sample_surface(bench.shapes[i], 2048, seed=0), 64) for i in unseen])
    query = np.arange(len(unseen))
    table = {}
    for name, distances in (("light field + learned metric", learned), ("light field (training-free)", light_field),
                            ("light field, 60 rotations only", sixty),
                            ("D2", np.abs(d2[:, None] - d2[None]).sum(-1))):
        table[name] = retrieval_scores(distances, labels[unseen], labels[unseen], query)
    QUALITY.append((f"retrieval of {len(bench.held_out_classes)} unseen classes ({len(unseen)} shapes)", table))


def bench_soup_voxels(bpy, addon, rows):
    """20k-triangle roughened polygon soups at 32³: the fast winding number against the exact pass it
    replaced (scripts/bench_voxels.py; agreement on voxels in the QUALITY table)."""
    from bench_voxels import bench_voxelize as soup_figures

    figures = soup_figures(seeds=(0,))
    rows.append((f"voxelise a {figures['triangles']}-triangle roughened soup at 32³ (goal ≤ 100 ms)",
                 "fast winding number (Barnes–Hut)", figures["new_ms"] / 1000,
                 {"exact winding number (before)": figures["old_ms"] / 1000}))
    QUALITY.append((f"voxels of {figures['meshes']} roughened soups, fast against exact",
                    {"fast winding number": {"worst voxel agreement": figures["min_agreement"]}}))


def bench_articulated_space(bpy, addon, rows):
    """Pose-aware bodies: fit pose + shape to an unseen posed body against plain aligned PCA's projection,
    learning the space of 100 posed meshes, and the skeleton learned without a rig."""
    from learning.articulated_space import bench_articulated
    from learning.skeleton_learning import bench_skeleton_learning

    figures = bench_articulated(people=10, poses=10)
    rows.append((f"fit pose + shape to a {figures['vertices']}-vertex posed body (goal ≤ 1 s)",
                 "articulated space (Gauss-Newton, LBS)", figures["articulated_fit_s"],
                 {"aligned PCA projection": figures["aligned_pca_project_s"]}))
    rows.append((f"learn the articulated space of {figures['meshes']} posed meshes (goal ≤ 60 s)",
                 "articulated space", figures["learn_s"], {}))
    QUALITY.append(("unseen people, 20 shape components: mean vertex error", {
        "articulated space": {"error cm": figures["articulated_error_m"]},
        "aligned PCA": {"error cm": figures["aligned_pca_error_m"]}}))
    skeleton = bench_skeleton_learning(poses=20, held_out=4)
    rows.append((f"learn a skeleton from {skeleton['poses']} poses of one person, no rig", "skeleton learning",
                 skeleton["seconds"], {}))
    QUALITY.append((f"learned skeleton ({skeleton['bones']} bones) against the MakeHuman rig", {
        "skeleton learning": {"limb joints within 3 cm %": skeleton["limb_joints_within_3cm"],
                              "unseen-pose error mm": skeleton["held_out_error_mm"] / 100}}))


def _tiled_articulated_file(source, target, copies: int) -> None:
    """Write `copies` coincident copies of an articulated shape space's body as one bigger body: every
    per-vertex array tiled (the tail regressor shared out among the copies), the same rig and joints."""
    from learning.model_files import load_model_file, write_archive

    model = load_model_file(source)
    vertices = len(model.arrays["articulated_mean"])
    arrays = {}
    for name, array in model.arrays.items():
        if name in ("mean", "components"):
            array = np.tile(array.reshape(array.shape[:-1] + (vertices, 3)), (1,) * (array.ndim - 1) + (copies, 1))
            array = array.reshape(array.shape[:-2] + (-1,))
        elif name == "corner_vertices":
            array = np.concatenate([array + i * vertices for i in range(copies)]).astype(array.dtype)
        elif name == "face_sizes":
            array = np.tile(array, copies)
        elif name == "articulated_tail_regressor":
            array = np.tile(array, (1, copies)) / copies
        elif name.startswith("articulated_") and vertices in array.shape:
            axis = array.shape.index(vertices)
            array = np.concatenate([array] * copies, axis=axis)
        arrays[name] = array
    metadata = dict(model.metadata)
    metadata["feature_layout"] = dict(metadata["feature_layout"], vertices=vertices * copies)
    write_archive(target, arrays, metadata)


def bench_posed_slider(bpy, addon, rows):
    """A height slider on a rigged, posed ~100k-vertex body (keep the pose: rotations re-aimed, pose
    correctives changed, rest mesh written, rig moved onto the new joints, mesh evaluated through the
    Armature modifier) against a plain PCA slider on the same mesh without a rig (positions written,
    evaluated). The space is learned from 4 people × 2 poses of MakeHuman bodies and its body tiled 8×
    (coincident copies: the same per-vertex work as one 107k-vertex body)."""
    import tempfile

    from learning.articulated_space import ArticulatedSpace
    from learning.shape_space import load_articulated_arrays
    from shapespace.mesh_arrays import MeshArrays
    from shapespace.posed_bodies import posed_body_set

    bridge, editing = addon.operators.mesh_bridge, addon.operators.shape_space.shape_editing
    copies, folder = 8, Path(tempfile.mkdtemp(prefix="design_space_bench_"))
    bpy.ops.wm.read_homefile(use_empty=True)
    bodies = posed_body_set(5, 2, seed=5)
    with bridge.SceneWriter() as writer:
        collection = writer.collection("Posed")
        for person in range(4):
            for pose in range(2):
                writer.mesh_object(MeshArrays(f"p{person}_{pose}", bodies.vertices[person, pose], bodies.face_sizes,
                                              bodies.corner_vertices), collection, properties={"person": person})
    bpy.context.scene.design_space.training_collection = collection
    bpy.ops.design_space.learn_shape_space(alignment='ARTICULATED', component_mode='COUNT', components=6)
    entry = next(m for m in bpy.context.scene.design_space.models if m.kind == "shape_space")
    tiled = folder / "tiled_bodies.npz"
    _tiled_articulated_file(addon.operators.model_store.absolute_path(entry.filepath), tiled, copies)
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.design_space.load_model(filepath=str(tiled))
    unseen = bodies.vertices[4, 1]
    big = MeshArrays("unseen", np.tile(unseen, (copies, 1)), np.tile(bodies.face_sizes, copies),
                     np.concatenate([bodies.corner_vertices + i * len(unseen) for i in range(copies)]))
    with bridge.SceneWriter() as writer:
        body = writer.mesh_object(big, bpy.context.scene.collection)
        plain = writer.mesh_object(big, bpy.context.scene.collection, name="plain")
    bpy.context.view_layer.objects.active = body
    bpy.ops.design_space.project_shape(target='COPY')
    rigged = bpy.context.active_object
    slider = rigged.design_space_edit.sliders["height_m"]
    arrays, _ = load_articulated_arrays(tiled)
    articulated = ArticulatedSpace.from_arrays(arrays)
    direction = np.asarray(articulated.components[0]).reshape(-1, 3) * 1e-4
    sign = [1.0]

    def move_rigged():
        sign[0] = -sign[0]  # back and forth: the body stays where it was
        slider.value += sign[0] * 0.002
        bpy.context.view_layer.update()

    def move_plain():
        sign[0] = -sign[0]
        bridge.add_to_positions(plain.data, sign[0] * direction)
        bpy.context.view_layer.update()

    coefficients = np.zeros(articulated.k)
    rotations = np.asarray(rigged[editing.POSE_ROTATIONS], dtype=np.float64).reshape(-1, 3, 3)
    edited = coefficients + 0.01

    def core_only():
        kept = articulated.keep_pose(rotations, coefficients, edited)
        return articulated.corrective_change(kept, rotations)

    rig = rigged.modifiers["Armature"].object
    bone = rig.pose.bones[0]

    def nudge_bone():  # what Blender's own Armature modifier costs on this body: the floor of any rig
        sign[0] = -sign[0]
        bone.location = (0.0, 0.0, 1e-4 * (sign[0] + 1))
        bpy.context.view_layer.update()

    vertices = len(articulated.mean)
    rows.append((f"height slider on a posed, rigged {vertices // 1000}k-vertex body, evaluated (goal ≤ 2 ms)",
                 "keep the pose (re-aim, rig, correctives when >1°)", median_seconds(move_rigged, repeat=11), {
                     "plain PCA slider, no rig": median_seconds(move_plain, repeat=11),
                     "Armature modifier alone (a bone nudged)": median_seconds(nudge_bone, repeat=11),
                     "re-aim + corrective refresh every step (numpy)": median_seconds(core_only, repeat=11)}))


def bench_implicit_volumes(bpy, addon, rows):
    """The implicit SDF decoder against the 32³ VAE and the logistic baseline on hard shapes
    (scripts/bench_implicit.py): completion, generation, times."""
    from bench_implicit import bench_implicit

    figures = bench_implicit(per_class=12, held_out=4, epochs=80, vae_epochs=40)
    rows.append(("generate one shape at 64³ (decode + extract + clean; goal ≤ 150 ms)", "implicit SDF decoder",
                 figures["ms_generate_one_64"] / 1000, {"VAE decode at 32³": figures["ms_vae_decode_32"] / 1000}))
    epoch = figures["seconds_epoch_100_shapes"]
    rows.append(("one epoch on 100 shapes", "implicit SDF decoder", epoch["implicit"], {"32³ VAE": epoch["vae"]}))
    rows.append(("signed distance per shape at 64³", "signed_distance_grid", figures["ms_sdf_per_shape_64"] / 1000,
                 {"occupancy voxels at 32³": figures["ms_voxelize_per_shape_32"] / 1000}))
    QUALITY.append(("volumes on hard shapes: completion IoU with 30–50% cut away",
                    {name: {"IoU": value} for name, value in figures["completion_iou"].items()}))
    generation = figures["generation"]
    QUALITY.append(("volumes: generated shapes (implicit decoder)", {"implicit SDF decoder": {
        "class match (Chamfer)": generation["class_match_chamfer"], "single piece": generation["single_piece"],
        "closest copy IoU": generation["closest_copy_iou"]}}))


def bench_checked_generation(bpy, addon, rows):
    """The implicit decoder's checked generation against its old sampler, and its coarse-to-fine decode
    against the full decode, in one run (scripts/bench_generation.py: 8 hard shapes a class); end to
    end is issue 18's definition: decode, extract, clean and write the mesh into Blender (this
    Blender, through the add-on's mesh_bridge.SceneWriter)."""
    from bench_generation import bench_generation as run

    figures = run(per_class=8, epochs=60, samples=8, bridge=addon.operators.mesh_bridge)
    decode, end_to_end = figures["decode"], figures["end_to_end_ms"]
    rows.append(("decode one shape at 64³", "coarse to fine (the network near the surface only)",
                 decode["ms_coarse_to_fine_64"] / 1000, {"every voxel through the network": decode["ms_old_64"] / 1000}))
    rows.append(("one chair end to end at 64³, median over seeds (decode + extract + clean + write into "
                 "Blender; goal ≤ 150 ms)", "checked generation (redraws what fails)", end_to_end["after"] / 1000,
                 {"old sampler, nothing checked": end_to_end["before"] / 1000,
                  "nearest partners, unchecked": end_to_end["after_unchecked"] / 1000}))
    for when in ("before", "after"):
        QUALITY.append((f"volumes: generated shapes, {when} the check (all ends present and attached, feet known)",
                        {family: dict(figures["generation"][when][family]) for family in figures["setting"]["families"]}))


BENCHES = (bench_recognition, bench_threads, bench_import, bench_comparisons, bench_read_collection, bench_build_mesh, bench_update_positions, bench_attribute_slider, bench_pca,
           bench_part_model, bench_views, bench_voxelize, bench_generation, bench_volumetric_training, bench_training,
           bench_progress_update, bench_scoring, bench_phrase_edit, bench_soup_voxels,
           bench_articulated_space, bench_posed_slider, bench_implicit_volumes, bench_checked_generation)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="bench_output")
    parser.add_argument("--only", help="run only the benches whose name contains this (e.g. vox)")
    args = parser.parse_args()
    bpy = dev_blender.start_blender()
    addon = dev_blender.addon()
    rows = []
    for bench in BENCHES:
        if args.only is None or args.only in bench.__name__:
            bench(bpy, addon, rows)
    lines = [f"{'job':58} {'ours':>10}  baseline: time (ratio baseline/ours)"]
    results = []
    for job, ours_name, ours, baselines in rows:
        cells = "; ".join(f"{name} {t * 1e3:.2f} ms ({t / ours:.2f}×)" for name, t in baselines.items())
        lines.append(f"{job:58} {ours * 1e3:8.2f} ms  {cells}")
        results.append({"job": job, "ours": ours_name, "ours_seconds": ours,
                        "baselines": [{"name": n, "seconds": t, "ratio": t / ours} for n, t in baselines.items()]})
    for task, methods in QUALITY:
        lines.append(f"\n{task}")
        for method, measures in methods.items():
            lines.append(f"  {method:44} " + "  ".join(f"{k} {100 * v:.1f}" for k, v in measures.items()))
    table = "\n".join(lines)
    print(table)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "bench.txt").write_text(table + "\n")
    (output / "bench.json").write_text(json.dumps({
        "blender": bpy.app.version_string, "python": platform.python_version(), "numpy": np.__version__,
        "machine": platform.machine(), "results": results,
        "quality": [{"task": task, "methods": methods} for task, methods in QUALITY]}, indent=2))
    print(f"wrote {output / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
