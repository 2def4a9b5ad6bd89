"""Benchmarks of Score Shapes and Describe Edit, in the form of scripts/bench.py's entries
(`bench(bpy, addon, rows)` appending (job, ours, seconds, {baseline: seconds})):

- `bench_scoring`: 10,000 shapes of a 1,000-vertex shape space scored (projection, strength and
  uncertainty of every shape at once) against one shape at a time; and the Score Shapes operator
  end to end on 10,000 objects in Blender (bulk reads, one matrix product, custom properties).
- `bench_phrase_edit`: parsing + applying one phrase on a 100k-vertex mesh (goal ≤ 5 ms), against
  parsing alone and one slider move; and a phrase that mixes two models of the space.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from bench_support import grid_mesh, median_seconds


def _space(grid, k: int, rng):
    from learning.shape_space import ShapeSpace

    dims = len(grid.vertices) * 3
    components = np.linalg.qr(rng.standard_normal((dims, k)))[0].T.astype(np.float32)
    variances = np.linspace(1.0, 0.05, k) * 1e-2
    return ShapeSpace(grid.vertices.ravel().astype(np.float32), components, variances, float(variances.sum()))


def _ranking(space, coefficients, rng, attribute="sturdy"):
    from learning.ranking import fit_ranking, simulate_comparisons

    names = [f"shape_{i:03d}" for i in range(len(coefficients))]
    hidden = coefficients @ rng.standard_normal(space.k)
    return fit_ranking(coefficients, names, simulate_comparisons(hidden, names, attribute, 200, seed=1), attribute)


def bench_scoring(bpy, addon, rows, count: int = 10_000):
    """Scoring `count` shapes: vectorised against one shape at a time, and the operator end to end."""
    from learning.ranking import save_rankings
    from learning.shape_space import save_shape_space

    bridge = addon.operators.mesh_bridge
    store = addon.operators.model_store
    MeshArrays = addon.shapespace.mesh_arrays.MeshArrays
    rng = np.random.default_rng(0)
    grid = grid_mesh(MeshArrays, 32)  # 1,024 vertices
    space = _space(grid, 20, rng)
    training = rng.standard_normal((40, space.k)) * space.standard_deviations
    ranking = _ranking(space, training, rng)
    shapes = space.reconstruct(rng.standard_normal((count, space.k)) * space.standard_deviations)

    def vectorised():
        features = space.project(shapes).astype(np.float64)
        return ranking.strength(features), ranking.uncertainty(features)

    def one_at_a_time():
        for row in shapes:
            features = space.project(row[None]).astype(np.float64)
            ranking.strength(features), ranking.uncertainty(features)

    rows.append((f"score {count:,} shapes (1k vertices, 20 components): projection, strength, uncertainty",
                 "all at once", median_seconds(vectorised, 5), {"one shape at a time": median_seconds(one_at_a_time,
                                                                                                           1)}))

    bpy.ops.wm.read_homefile(use_empty=True)
    folder = Path(tempfile.mkdtemp(prefix="design_space_bench_"))
    space_path, model_path = folder / "space.npz", folder / "sturdy.npz"
    save_shape_space(space_path, space, grid.face_sizes, grid.corner_vertices, collection="bench",
                     shape_names=[f"shape_{i:03d}" for i in range(40)], coefficients=training)
    save_rankings(model_path, [ranking], collection="bench", feature_source="shape_space",
                  shape_space_file=space_path.name)
    store.add_model_entry(bpy.context.scene, "bench sturdy", "semantic_attributes", model_path, "bench", "sturdy", "")
    collection = bridge.ensure_collection("bench scoring")
    with bridge.SceneWriter() as writer:
        meshes = [writer.mesh_object(MeshArrays(f"s{i}", shapes[i].reshape(-1, 3), grid.face_sizes,
                                                grid.corner_vertices), collection, name=f"s{i}").data
                  for i in range(100)]
    objects = list(collection.objects)
    for i in range(count - len(objects)):  # linked duplicates: 100 meshes, `count` objects
        obj = bpy.data.objects.new(f"d{i}", meshes[i % len(meshes)])
        collection.objects.link(obj)
    bpy.context.scene.design_space.score_collection = collection
    operator = median_seconds(lambda: bpy.ops.design_space.score_attribute(target='COLLECTION'), 3)
    rows.append((f"Score Shapes on {count:,} objects (1k vertices) in Blender", "operator end to end", operator, {}))


def bench_phrase_edit(bpy, addon, rows, side: int = 317):
    """Parsing + applying one phrase on a side² (100k) vertex mesh through its attribute sliders."""
    from learning.attribute_space import AttributeTable, fit_attribute_space, save_attribute_space
    from learning.phrases import AttributeInfo, parse_phrase
    from learning.ranking import save_rankings
    from learning.shape_space import save_shape_space

    bridge = addon.operators.mesh_bridge
    editing = addon.operators.shape_space.shape_editing
    phrases = addon.operators.comparisons.edit_by_phrase
    store = addon.operators.model_store
    MeshArrays = addon.shapespace.mesh_arrays.MeshArrays
    rng = np.random.default_rng(0)
    bpy.ops.wm.read_homefile(use_empty=True)
    grid = grid_mesh(MeshArrays, side)
    space = _space(grid, 20, rng)
    coefficients = rng.standard_normal((40, space.k)) * space.standard_deviations
    heights = coefficients[:, :3] @ rng.standard_normal((3, 2)) * 0.1 + np.array([1.0, 0.5])
    folder = Path(tempfile.mkdtemp(prefix="design_space_bench_"))
    space_path, numeric_path, semantic_path = folder / "space.npz", folder / "numeric.npz", folder / "semantic.npz"
    names = [f"shape_{i:03d}" for i in range(40)]
    save_shape_space(space_path, space, grid.face_sizes, grid.corner_vertices, collection="bench", shape_names=names,
                     coefficients=coefficients)
    numeric = fit_attribute_space(AttributeTable(["height", "seat_width"], heights, names), coefficients)
    save_attribute_space(numeric_path, numeric, shape_space_file=space_path.name, collection="bench", method="ridge",
                         metrics={})
    save_rankings(semantic_path, [_ranking(space, coefficients, rng)], collection="bench",
                  feature_source="shape_space", shape_space_file=space_path.name)
    store.add_model_entry(bpy.context.scene, "bench semantic", "semantic_attributes", semantic_path, "bench", "sturdy",
                          "")
    store.add_model_entry(bpy.context.scene, "bench numeric", "shape_attributes", numeric_path, "bench",
                          "height, seat_width", "")
    collection = bridge.ensure_collection("bench phrases")
    with bridge.SceneWriter() as writer:
        obj = writer.mesh_object(grid, collection, name="grid")
    editing.attach_sliders(obj, numeric_path, numeric.estimate(np.zeros((1, space.k)))[0], np.zeros(space.k))
    bpy.context.view_layer.objects.active = obj
    bpy.context.view_layer.update()
    sign = [1.0]

    def one_phrase():  # alternate up and down so the shape stays inside the sliders' range
        phrases.edit_by_phrase(bpy.context, obj, "a bit taller" if sign[0] > 0 else "a bit shorter")
        sign[0] = -sign[0]

    def operator():
        bpy.ops.design_space.edit_by_phrase(phrase="a bit taller" if sign[0] > 0 else "a bit shorter")
        sign[0] = -sign[0]

    def slider():
        obj.design_space_edit.sliders["height"].value += 0.01 * sign[0]
        sign[0] = -sign[0]

    infos = [AttributeInfo("height", "numeric", "m", 0.1), AttributeInfo("seat_width", "numeric", "m", 0.05),
             AttributeInfo("sturdy", "semantic")]
    one_phrase(), one_phrase()  # warm: the models are read once per file version
    count = len(grid.vertices)
    rows.append((f"parse + apply one phrase, {count // 1000}k vertices (goal ≤ 5 ms)", "'a bit taller'",
                 median_seconds(one_phrase, 21),
                 {"the operator (report included)": median_seconds(operator, 21),
                  "parsing alone": median_seconds(lambda: parse_phrase("a bit taller", infos), 21),
                  "one slider move": median_seconds(slider, 21)}))

    def mixed():
        phrases.edit_by_phrase(bpy.context, obj, "a bit taller and slightly sturdier" if sign[0] > 0 else
                               "a bit shorter and slightly flimsier")
        sign[0] = -sign[0]

    mixed(), mixed()
    rows.append((f"a phrase over two models of one space, {count // 1000}k vertices",
                 "'a bit taller and slightly sturdier'", median_seconds(mixed, 9), {}))
