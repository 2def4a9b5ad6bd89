"""scripts/fill_wheels.py rewrites only the manifest's wheels list."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "fill_wheels.py"


def test_manifest_wheels_list_is_rewritten_in_place(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("fill_wheels", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    manifest = tmp_path / "blender_manifest.toml"
    manifest.write_text('id = "x"\n\nwheels = [\n  "./wheels/old.whl",\n]\n\n[permissions]\nfiles = "y"\n')
    monkeypatch.setattr(module, "MANIFEST", manifest)
    module.write_manifest_list(["a-1.0-py3-none-any.whl", "b-2.0-cp311-cp311-win_amd64.whl"])
    assert manifest.read_text() == ('id = "x"\n\nwheels = [\n  "./wheels/a-1.0-py3-none-any.whl",\n'
                                    '  "./wheels/b-2.0-cp311-cp311-win_amd64.whl",\n]\n\n[permissions]\nfiles = "y"\n')
    module.write_manifest_list([])
    assert "wheels = [\n]\n" in manifest.read_text()
