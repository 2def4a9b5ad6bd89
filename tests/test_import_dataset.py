"""design_space.import_dataset: every format, categories from folders, bad files named and skipped."""

import pytest

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
    with pytest.raises(RuntimeError, match=r"None of the 2 mesh files .* could be read: .*a.off: not an OFF file"):
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
