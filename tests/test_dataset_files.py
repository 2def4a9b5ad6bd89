import pytest

from mesh_files import write_obj, write_off, write_stl
from shapespace.dataset_files import check_stl, scan_dataset


def test_scan_assigns_categories_from_subfolders(tmp_path):
    (tmp_path / "chairs" / "office").mkdir(parents=True)
    (tmp_path / "tables").mkdir()
    write_obj(tmp_path / "chairs" / "a.obj")
    write_off(tmp_path / "chairs" / "office" / "b.OFF")
    write_stl(tmp_path / "tables" / "c.stl")
    write_obj(tmp_path / "top.obj")
    (tmp_path / "tables" / "notes.txt").write_text("not a mesh")
    files = scan_dataset(tmp_path)
    found = {f.path.name: (f.folders, f.category, f.format) for f in files}
    assert found == {
        "top.obj": ((), tmp_path.name, "obj"),
        "a.obj": (("chairs",), "chairs", "obj"),
        "b.OFF": (("chairs", "office"), "chairs", "off"),
        "c.stl": (("tables",), "tables", "stl"),
    }


def test_scan_refuses_missing_file_and_empty_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        scan_dataset(tmp_path / "nope")
    (tmp_path / "f.obj").write_text("v 0 0 0\n")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        scan_dataset(tmp_path / "f.obj")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no .obj"):
        scan_dataset(tmp_path / "empty")
    with pytest.raises(ValueError, match="No dataset folder"):
        scan_dataset("  ")


def test_check_stl_accepts_sound_files_and_names_broken_ones(tmp_path):
    write_stl(tmp_path / "good.stl")
    assert check_stl(tmp_path / "good.stl") is None
    (tmp_path / "ascii.stl").write_text("solid x\nfacet normal 0 0 1\nouter loop\n")
    assert check_stl(tmp_path / "ascii.stl") is None
    (tmp_path / "short.stl").write_bytes(b"abc")
    assert "too short" in check_stl(tmp_path / "short.stl")
    good = (tmp_path / "good.stl").read_bytes()
    (tmp_path / "cut.stl").write_bytes(good[:-20])
    assert "cut.stl: not a valid binary STL" in check_stl(tmp_path / "cut.stl")


def test_scan_follows_symlinked_folders_once_and_ends_link_loops(tmp_path):
    (tmp_path / "store" / "lamps").mkdir(parents=True)
    write_obj(tmp_path / "store" / "lamps" / "l.obj")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "lamps").symlink_to(tmp_path / "store" / "lamps", target_is_directory=True)
    (tmp_path / "data" / "lamps_again").symlink_to(tmp_path / "store" / "lamps", target_is_directory=True)
    (tmp_path / "store" / "lamps" / "up").symlink_to(tmp_path / "data", target_is_directory=True)
    files = scan_dataset(tmp_path / "data")
    assert [(f.path.name, f.category) for f in files] == [("l.obj", "lamps")]
