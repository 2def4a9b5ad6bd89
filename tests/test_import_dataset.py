"""design_space.import_dataset: every format, categories from folders, bad files named and skipped."""

import numpy as np
import pytest

from blender_helpers import positions
from mesh_files import write_obj, write_off, write_ply, write_stl


def _scene_state(bpy):
    return (sorted(o.name for o in bpy.data.objects), sorted(m.name for m in bpy.data.meshes),
            sorted(c.name for c in bpy.data.collections))


@pytest.fixture
def dataset(tmp_path):
    for folder, writer in (("chairs", write_obj), ("tables", write_ply), ("lamps", write_stl), ("vases", write_off)):
        (tmp_path / "shapes" / folder).mkdir(parents=True)
        suffix = writer.__name__.split("_")[1]
        writer(tmp_path / "shapes" / folder / f"{folder}_a.{suffix}")
        writer(tmp_path / "shapes" / folder / f"{folder}_b.{suffix}")
    return tmp_path / "shapes"


def test_imports_every_format_into_child_collections(bpy, dataset):
    result = bpy.ops.design_space.import_dataset(directory=str(dataset), collection="My Shapes")
    assert result == {'FINISHED'}
    root = bpy.data.collections["My Shapes"]
    assert sorted(c.name for c in root.children) == ["chairs", "lamps", "tables", "vases"]
    for child in root.children:
        objects = list(child.objects)
        assert len(objects) == 2, child.name
        for obj in objects:
            assert obj["category"] == child.name
            assert obj.type == 'MESH' and len(obj.data.vertices) >= 8 and len(obj.data.polygons) >= 6
            assert obj.users_collection[0] == child and len(obj.users_collection) == 1
    assert bpy.context.scene.design_space.training_collection == root


def test_unreadable_files_are_named_and_skipped(bpy, dataset, capsys):
    (dataset / "chairs" / "broken.ply").write_text("ply\nformat ascii 1.0\nelement vertex 3\nend_header\n1 2\n")
    (dataset / "tables" / "cut.stl").write_bytes(b"\0" * 80 + (5).to_bytes(4, "little") + b"\0" * 20)
    (dataset / "vases" / "bad.off").write_text("OFF\n3 1 0\n0 0 0\n")
    (dataset / "lamps" / "noise.obj").write_text("this is not geometry\n")
    result = bpy.ops.design_space.import_dataset(directory=str(dataset))
    assert result == {'FINISHED'}
    printed = capsys.readouterr().out
    for name in ("broken.ply", "cut.stl", "bad.off", "noise.obj"):
        assert f"Skipped {name}" in printed, printed[-2000:]
    root = bpy.data.collections["shapes"]
    assert len(root.all_objects) == 8
    assert not [m for m in bpy.data.meshes if m.users == 0]


def test_a_folder_of_only_broken_files_leaves_the_scene_untouched(bpy, tmp_path):
    (tmp_path / "bad" / "sub").mkdir(parents=True)
    (tmp_path / "bad" / "sub" / "a.off").write_text("nonsense")
    (tmp_path / "bad" / "b.ply").write_text("ply\nformat ascii 1.0\nend_header\n")
    before = _scene_state(bpy)
    with pytest.raises(RuntimeError, match=r"None of the 2 mesh files .* could be read; skipped 2 files: .*'a.off' \(not an OFF file"):
        bpy.ops.design_space.import_dataset(directory=str(tmp_path / "bad"))
    assert _scene_state(bpy) == before


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing", "does not exist"),
    (lambda p: p, "holds no .obj"),
])
def test_bad_folders_say_what_to_do(bpy, tmp_path, make, message):
    before = _scene_state(bpy)
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.design_space.import_dataset(directory=str(make(tmp_path)))
    assert _scene_state(bpy) == before


def test_modelnet_layout_gets_class_categories_and_one_collection_per_folder(bpy, tmp_path):
    for cls, names in (("chair", ("a", "b")), ("table", ("c", "d"))):
        for split in ("train", "test"):
            (tmp_path / "net" / cls / split).mkdir(parents=True)
            for name in names:
                write_off(tmp_path / "net" / cls / split / f"{name}_{split}.off")
    (tmp_path / "net" / "chair" / "train" / "gone.stl").symlink_to(tmp_path / "missing.stl")
    assert bpy.ops.design_space.import_dataset(directory=str(tmp_path / "net")) == {'FINISHED'}
    root = bpy.data.collections["net"]
    for cls in root.children:
        assert len(cls.children) == 2  # train and test, even though Blender renames the second "train"
        for split in cls.children:
            assert len(split.objects) == 2
            assert {o["category"] for o in split.objects} == {cls.name}
    assert bpy.ops.design_space.import_dataset(directory=str(tmp_path / "net")) == {'FINISHED'}
    assert len(root.all_objects) == 8  # a second import makes a new collection, never merges


def test_hostile_files_are_skipped_by_name_and_the_rest_imported(bpy, dataset, capsys):
    (dataset / "tables" / "huge.ply").write_bytes(
        b"ply\nformat binary_little_endian 1.0\nelement vertex 1000000000000\nproperty float x\nproperty float y\n"
        b"property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n" + b"\0" * 2000)
    (dataset / "chairs" / "nan.obj").write_text("v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n")
    (dataset / "vases" / "x.ply").mkdir()
    (dataset / "vases" / "x.ply" / "inner.off").write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    result = bpy.ops.design_space.import_dataset(directory=str(dataset))
    assert result == {'FINISHED'}
    root = bpy.data.collections["shapes"]
    assert len(root.all_objects) == 9  # 8 cubes and the triangle inside the folder named x.ply
    printed = capsys.readouterr().out
    assert "skipped 2 files: " in printed and "'huge.ply' (declares 1,000,000,000,000 vertices" in printed, printed
    assert "'nan.obj' (1 of 3 vertices have NaN or infinite coordinates" in printed


def test_summary_names_each_skipped_file(addon):
    summary = addon.operators.data.import_dataset.skipped_summary(
        ["a.ply: declares 10^12 vertices", "b.obj: the file is empty"])
    assert summary == "skipped 2 files: 'a.ply' (declares 10^12 vertices), 'b.obj' (the file is empty)"


def test_good_files_match_blenders_own_importers(bpy, dataset):
    """The round trip: the own readers give the vertex and face counts Blender's importers give."""
    assert bpy.ops.design_space.import_dataset(directory=str(dataset)) == {'FINISHED'}
    ours = {o["source_file"]: (len(o.data.vertices), len(o.data.polygons))
            for o in bpy.data.collections["shapes"].all_objects}
    for relative in ("chairs/chairs_a.obj", "tables/tables_a.ply", "lamps/lamps_a.stl"):
        before = set(bpy.data.objects)
        importer = {"obj": bpy.ops.wm.obj_import, "ply": bpy.ops.wm.ply_import, "stl": bpy.ops.wm.stl_import}
        importer[relative[-3:]](filepath=str(dataset / relative))
        made = [o for o in bpy.data.objects if o not in before]
        assert ours[relative] == (len(made[0].data.vertices), len(made[0].data.polygons)), relative


def test_symlinked_class_folders_are_followed_and_loops_end(bpy, tmp_path):
    (tmp_path / "store" / "chairs").mkdir(parents=True)
    write_off(tmp_path / "store" / "chairs" / "c.off")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "chairs").symlink_to(tmp_path / "store" / "chairs", target_is_directory=True)
    (tmp_path / "store" / "chairs" / "loop").symlink_to(tmp_path / "data", target_is_directory=True)
    write_obj(tmp_path / "data" / "top.obj")
    assert bpy.ops.design_space.import_dataset(directory=str(tmp_path / "data")) == {'FINISHED'}
    objects = bpy.data.collections["data"].all_objects
    assert sorted(o["category"] for o in objects) == ["chairs", "data"]


def test_axes_bring_y_up_scans_in_standing(bpy, tmp_path):
    (tmp_path / "scans").mkdir()
    tall = np.array([[0, 0, 0], [1, 0, 0], [0, 3, 0], [0, 0, 1]], dtype=np.float32)  # 3 units tall along Y
    faces = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 1], [1, 3, 2]])
    write_obj(tmp_path / "scans" / "a.obj", tall, faces)
    write_ply(tmp_path / "scans" / "b.ply", tall, faces)

    def heights():
        return {o["source_file"]: float(positions(o)[:, 2].max()) for o in bpy.data.collections["scans"].all_objects}

    assert bpy.ops.design_space.import_dataset(directory=str(tmp_path / "scans")) == {'FINISHED'}
    assert heights() == {"a.obj": 3.0, "b.ply": 1.0}  # per format, as Blender's importers: OBJ is Y-up
    bpy.data.collections.remove(bpy.data.collections["scans"])
    assert bpy.ops.design_space.import_dataset(directory=str(tmp_path / "scans"), axis_up='Y') == {'FINISHED'}
    assert heights() == {"a.obj": 3.0, "b.ply": 3.0}
    with pytest.raises(RuntimeError, match="must be different axes"):
        bpy.ops.design_space.import_dataset(directory=str(tmp_path / "scans"), axis_forward='Y', axis_up='NEGATIVE_Y')


def test_background_import_prints_progress_lines(bpy, dataset, capsys):
    assert bpy.ops.design_space.import_dataset(directory=str(dataset)) == {'FINISHED'}
    assert "Design Space: import dataset: 8 of 8 files read" in capsys.readouterr().out


def test_stepwise_import_and_cancel_leave_nothing_half_made(bpy, addon, dataset):
    """What the modal operator does per timer tick: one file at least per step; rollback undoes all."""
    before = _scene_state(bpy)
    job = addon.operators.data.import_dataset.DatasetImport(str(dataset))
    assert job.step(0.0) == 1 and len(job.imported) == 1 and not job.done
    while not job.done:
        job.step(0.0)
    assert len(job.imported) == 8
    job.rollback()
    assert _scene_state(bpy) == before
    (dataset / "chairs" / "twice.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 1 2\nf 1 2 3\n")
    assert bpy.ops.design_space.import_dataset(directory=str(dataset)) == {'FINISHED'}
    assert len(bpy.data.collections["shapes"].all_objects) == 9


def test_per_file_cost_does_not_grow_with_the_objects_in_the_scene(bpy, addon):
    """The old importer took 25 ms a file in an empty scene and 231 ms with 800 objects."""
    import bench_import

    def measure():
        return bench_import.import_timing(bpy, addon, files=30, existing=2000, fmt="ply", side=100,
                                          through_operator=False)

    figures = measure()
    if figures["ratio_p25"] >= 2.0:  # one more try: a busy neighbour can slow one phase down for seconds
        figures = min(figures, measure(), key=lambda f: f["ratio_p25"])
    # 10k-vertex files, as the benchmark (Blender's objects.new itself grows ~0.5 ms a file at
    # 2,000 objects, which tiny meshes would show). The lower quartile of per-file times resists the
    # spikes of other processes on these shared machines; the old importer's ratio was ~9 (27 measured
    # here with 2,000 objects), ≤ 1.3 is the bench's figure with 200 files (scripts/bench_import.py).
    assert figures["ratio_p25"] < 2.0, figures
    assert figures["full_scene_s_per_file_p25"] < 0.1, figures
