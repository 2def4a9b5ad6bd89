"""learning/ and shapespace/ must never load Blender: they run in plain Python, on clusters, in CI."""

import ast
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PURE_PACKAGES = ("learning", "shapespace")

_IMPORT_ALL_WITHOUT_BPY = r"""
import importlib, importlib.abc, pkgutil, sys
class RefuseBlender(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"bpy", "bmesh", "mathutils", "addon_utils", "gpu", "bpy_extras"}:
            raise ImportError(f"pure package tried to import {name}")
        return None
sys.meta_path.insert(0, RefuseBlender())
sys.path.insert(0, sys.argv[1])
loaded = []
for package_name in sys.argv[2:]:
    package = importlib.import_module(package_name)
    loaded.append(package_name)
    for info in pkgutil.walk_packages(package.__path__, package_name + "."):
        importlib.import_module(info.name)
        loaded.append(info.name)
assert "bpy" not in sys.modules
print(len(loaded), "modules")
"""


def test_pure_packages_import_without_blender():
    result = subprocess.run([sys.executable, "-c", _IMPORT_ALL_WITHOUT_BPY, str(REPO_ROOT), *PURE_PACKAGES],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    count = int(result.stdout.split()[0])
    modules = sum(1 for p in PURE_PACKAGES for _ in (REPO_ROOT / p).rglob("*.py"))
    assert count == modules


def test_pure_packages_name_no_blender_module():
    offenders = []
    for package in PURE_PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                offenders += [f"{path.relative_to(REPO_ROOT)}: {n}" for n in names
                              if n.split(".")[0] in {"bpy", "bmesh", "mathutils", "bpy_extras", "gpu"}]
    assert offenders == []


def test_learning_reaches_shapespace_through_its_parent_package():
    """Inside the installed extension `learning` is a subpackage, so `from shapespace import …` works only in
    the worker process (the extension folder on its path) and in tests (the checkout on sys.path); everywhere
    else learning/ goes through `learning.shapespace(name)`."""
    offenders = []
    for path in (REPO_ROOT / "learning").rglob("*.py"):
        if path.name in {"worker.py", "__main__.py", "bench_training.py"}:  # run as top-level packages only
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "shapespace":
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert offenders == []
