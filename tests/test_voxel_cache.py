"""The voxel cache: the second voxelisation of a collection reads every grid back instead of voxelising,
keys follow the mesh's content and the grid settings, the folder stays under its limit, and broken files
are recomputed."""

import os

import numpy as np
import pytest

import shapespace.voxel_cache as voxel_cache
from shapespace.mesh_arrays import MeshArrays
from shapespace.primitives import box, ellipsoid
from shapespace.procedural import make_shape
from shapespace.voxel_cache import VoxelCache, grid_key, voxelize_shapes
from shapespace.voxels import frame_around, voxelize


def _counting(monkeypatch):
    """Count the calls that really voxelise."""
    calls = []
    real = voxel_cache.voxelize

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(voxel_cache, "voxelize", counted)
    return calls


def test_the_second_pass_over_a_collection_voxelises_nothing(tmp_path, monkeypatch):
    shapes = [make_shape(family, 1, same_topology=False) for family in ("chair", "vase", "lamp")]
    calls = _counting(monkeypatch)
    cache = VoxelCache(tmp_path / "voxels")
    first, first_sizes = voxelize_shapes(shapes, 16, cache)
    assert len(calls) == 3 and cache.misses == 3 and cache.hits == 0
    again = VoxelCache(tmp_path / "voxels")  # a new job, the same folder
    second, second_sizes = voxelize_shapes(shapes, 16, again)
    assert len(calls) == 3 and again.hits == 3  # nothing voxelised again
    assert np.array_equal(first, second) and np.array_equal(first_sizes, second_sizes)
    # What was read back is what voxelising gives.
    for shape, grid in zip(shapes, second):
        v = shape.vertices.astype(np.float64)
        assert np.array_equal(grid > 0.5, voxelize(v, shape.triangles, frame_around(v.min(0), v.max(0), 16)))
    assert first.sum() > 100


def test_keys_follow_content_and_settings():
    mesh = box((0, 0, 0), (1.0, 1.0, 1.0))
    frame = frame_around((-0.5,) * 3, (0.5,) * 3, 16)
    key = grid_key(mesh.vertices, mesh.triangles, frame)
    assert key == grid_key(mesh.vertices.astype(np.float64), mesh.triangles.astype(np.int64), frame)
    moved = mesh.vertices.copy()
    moved[0, 0] += 1e-6
    assert grid_key(moved, mesh.triangles, frame) != key
    assert grid_key(mesh.vertices, mesh.triangles[::-1], frame) != key
    assert grid_key(mesh.vertices, mesh.triangles, frame_around((-0.5,) * 3, (0.5,) * 3, 32)) != key
    assert grid_key(mesh.vertices, mesh.triangles, frame, "SURFACE") != key


def test_edited_shapes_are_voxelised_again(tmp_path, monkeypatch):
    calls = _counting(monkeypatch)
    cache = VoxelCache(tmp_path)
    ball = ellipsoid((0, 0, 0), (0.5, 0.4, 0.3), segments=24, rings=12)
    voxelize_shapes([ball], 16, cache)
    edited = MeshArrays("ball", ball.vertices * np.float32(1.2), ball.face_sizes, ball.corner_vertices)
    voxelize_shapes([edited], 16, cache)
    assert len(calls) == 2 and cache.hits == 0


def test_the_folder_stays_under_its_limit(tmp_path):
    cache = VoxelCache(tmp_path, max_bytes=30_000)
    rng = np.random.default_rng(0)
    for i in range(20):
        cache.put(f"{i:064x}", rng.random((32, 32, 32)) > 0.5)  # ≈ 4.4 kB each
        os.utime(cache.path(f"{i:064x}"), (1e9 + i, 1e9 + i))  # distinct ages, whatever the clock's grain
    assert cache.size() <= 30_000
    assert cache.get(f"{19:064x}") is not None  # the newest are kept
    assert cache.get(f"{0:064x}") is None  # the oldest went


def test_grids_round_trip_without_pickle(tmp_path):
    cache = VoxelCache(tmp_path)
    rng = np.random.default_rng(1)
    bits = rng.random((24, 24, 24)) > 0.7
    distances = rng.standard_normal((8, 8, 8)).astype(np.float16)
    cache.put("a" * 64, bits)
    cache.put("b" * 64, distances)
    assert np.array_equal(cache.get("a" * 64), bits) and cache.get("a" * 64).dtype == bool
    assert np.array_equal(cache.get("b" * 64), distances) and cache.get("b" * 64).dtype == np.float16
    with np.load(cache.path("a" * 64), allow_pickle=False) as stored:
        assert stored["bits"].nbytes == 24 ** 3 // 8  # packed bits on disk
    assert not list(tmp_path.glob("*.partial"))


def test_broken_files_are_recomputed(tmp_path):
    cache = VoxelCache(tmp_path)
    mesh = box((0, 0, 0), (1.0, 1.0, 1.0))
    frame = frame_around((-0.5,) * 3, (0.5,) * 3, 8)
    key = grid_key(mesh.vertices, mesh.triangles, frame)
    tmp_path.joinpath(f"{key}.npz").write_bytes(b"not a grid")
    grid = cache.voxelize(mesh.vertices, mesh.triangles, frame)
    assert grid.sum() > 100 and cache.misses == 1
    assert np.array_equal(cache.voxelize(mesh.vertices, mesh.triangles, frame), grid) and cache.hits == 1


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="positive size limit"):
        VoxelCache(tmp_path, max_bytes=0)
    point = MeshArrays("speck", np.zeros((3, 3)), [3], [0, 1, 2])
    with pytest.raises(ValueError, match="'speck' has no extent"):
        voxelize_shapes([point], 16, VoxelCache(tmp_path))


def test_the_extension_reads_grids_back_from_its_cache_folder(bpy, addon, monkeypatch):
    # In Blender: the cache lives in the extension's user cache folder, and voxelising the same object
    # twice (Classify, Interpolate) voxelises it once. Learn Volumes hands the same folder to its worker.
    support = addon.operators.volumes.volumetric_support
    folder = support.voxel_cache().folder
    assert folder.name == "voxels" and "cache" in str(folder.parent).lower()
    support.voxel_cache().clear()
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, location=(0, 0, 0))
    sphere = bpy.context.active_object
    calls = []
    real = addon.shapespace.voxel_cache.voxelize
    monkeypatch.setattr(addon.shapespace.voxel_cache, "voxelize", lambda *a, **k: calls.append(1) or real(*a, **k))
    first, _, _ = support.mesh_grid(sphere, 16)
    second, _, _ = support.mesh_grid(sphere, 16)
    assert len(calls) == 1 and np.array_equal(first, second) and first.sum() > 500
    sphere.data.vertices[0].co.x += 0.2  # an edited mesh is voxelised again
    support.mesh_grid(sphere, 16)
    assert len(calls) == 2


def test_a_second_learn_volumes_reads_every_grid_from_the_cache(bpy, addon):
    # The worker process voxelises through the same folder: the first Learn Volumes writes one file per
    # shape, the second finds them all and writes none (a write goes to a new file renamed into place, so a
    # file that was written again has a new inode; a read only refreshes the time).
    support = addon.operators.volumes.volumetric_support
    support.voxel_cache().clear()
    bpy.ops.design_space.create_demo_collections(families={'CHAIR', 'TABLE'}, shapes_per_family=4, body_count=0,
                                                 topology='VARIED')
    bpy.context.scene.design_space.training_collection = bpy.data.collections["Design Space Demo"]
    arguments = dict(model_kind='voxel_logistic', resolution='16', epochs=1)
    assert bpy.ops.design_space.learn_volumetric(**arguments) == {'FINISHED'}
    folder = support.voxel_cache().folder
    written = {path.name: path.stat().st_ino for path in folder.iterdir()}
    assert len(written) == 8, sorted(written)
    assert bpy.ops.design_space.learn_volumetric(**arguments) == {'FINISHED'}
    assert {path.name: path.stat().st_ino for path in folder.iterdir()} == written
    assert len(bpy.context.scene.design_space.models) == 2


def test_a_second_prepare_signed_distances_computes_no_grid(tmp_path, monkeypatch):
    # What Learn Volumes (implicit) does per collection: both canonical poses of every shape (each a solid
    # voxelisation), a signed grid per candidate pose, a refined grid per shape. The second pass over the
    # same collection with the same cache folder must voxelise nothing and give the same answer.
    import shapespace.signed_distance as signed_distance

    shapes = [make_shape(family, seed, same_topology=False) for family in ("chair", "table") for seed in (1, 2)]
    calls = []
    real = signed_distance.voxelize
    monkeypatch.setattr(signed_distance, "voxelize", lambda *a, **k: calls.append(1) or real(*a, **k))
    options = dict(resolution=16, samples=64, seed=0)
    first = signed_distance.prepare_signed_distances(shapes, [0, 0, 1, 1], cache=VoxelCache(tmp_path), **options)
    computed = len(calls)
    assert computed >= 3 * len(shapes)  # the solid pose, two candidate grids and a refined grid per shape
    again = VoxelCache(tmp_path)  # a new job, the same folder
    second = signed_distance.prepare_signed_distances(shapes, [0, 0, 1, 1], cache=again, **options)
    assert len(calls) == computed and again.misses == 0 and again.hits >= 3 * len(shapes)
    assert np.array_equal(first.grids, second.grids) and np.array_equal(first.points, second.points)
    assert np.array_equal(first.rotations, second.rotations) and np.array_equal(first.distances, second.distances)
    assert (first.grids < 0).sum() > 100  # the shapes have insides at 16³
    # What was read back is what computing gives, and a grid at another truncation is not taken for it.
    uncached = signed_distance.prepare_signed_distances(shapes, [0, 0, 1, 1], **options)
    assert np.array_equal(uncached.grids, second.grids)
    mesh = second.meshes[0]
    other = again.signed_distance_grid(mesh.vertices, mesh.triangles, second.frame, 2 * second.truncation)
    assert again.misses == 1 and np.abs(other).max() > np.abs(second.grids[0]).max()
