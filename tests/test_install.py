"""The zip a user drags into Blender: built and validated by Blender's own tool, installed,
enabled, used, disabled and re-enabled without leaks (in a separate Blender process)."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def blender_ext():
    import importlib.util

    spec = importlib.util.find_spec("bpy")
    path = Path(spec.origin).parent / "5.0" / "scripts" / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    assert path.exists(), path
    return path


@pytest.fixture(scope="module")
def built_zip(blender_ext, tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    subprocess.run([sys.executable, str(blender_ext), "validate", str(REPO_ROOT)], check=True)
    subprocess.run([sys.executable, str(blender_ext), "build", "--source-dir", str(REPO_ROOT),
                    "--output-dir", str(out)], check=True, capture_output=True)
    (zip_path,) = out.glob("design_space-*.zip")
    return zip_path


def test_zip_holds_the_extension_and_nothing_of_development(built_zip, blender_ext):
    names = zipfile.ZipFile(built_zip).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    for package in ("operators", "panels", "learning", "shapespace"):
        assert f"{package}/__init__.py" in names
    assert not [n for n in names if n.startswith(("tests/", "scripts/", ".data/", ".venv/", ".ci/"))]
    assert not [n for n in names if "__pycache__" in n]
    result = subprocess.run([sys.executable, str(blender_ext), "validate", str(built_zip)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_install_enable_run_disable_reenable_without_leaks(built_zip, tmp_path):
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    result = subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "install_check.py"), "--zip", str(built_zip)],
                            capture_output=True, text=True, env=env, timeout=600)
    lines = [line for line in result.stdout.splitlines() if line.startswith("INSTALL_CHECK ")]
    assert lines, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(lines[-1][len("INSTALL_CHECK "):])
    failed = [c for c in report["checks"] if not c["ok"]]
    assert report["ok"] and not failed, failed
    assert len(report["checks"]) >= 12
    assert result.returncode == 0


def test_one_zip_per_platform_each_valid(blender_ext, tmp_path):
    subprocess.run([sys.executable, str(blender_ext), "build", "--source-dir", str(REPO_ROOT), "--output-dir",
                    str(tmp_path), "--split-platforms"], check=True, capture_output=True)
    zips = sorted(p.name.split("-")[-1] for p in tmp_path.glob("design_space-*.zip"))
    assert zips == ["linux_x64.zip", "macos_arm64.zip", "macos_x64.zip", "windows_x64.zip"]
    for path in tmp_path.glob("*.zip"):
        result = subprocess.run([sys.executable, str(blender_ext), "validate", str(path)], capture_output=True,
                                text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        manifest = zipfile.ZipFile(path).read("blender_manifest.toml").decode()
        assert 'network = "' in manifest  # PyTorch on demand: the permission is declared
