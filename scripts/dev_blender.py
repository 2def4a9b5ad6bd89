"""Start Blender as a Python module with Design Space enabled straight from this checkout.

Used by the tests, the demo and the benchmarks. Installs nothing into the user's home: Blender's
user folder is a temporary one (set before `import bpy`, as Blender reads it once).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEV_REPO_MODULE = "design_space_dev"
ADDON_MODULE = f"bl_ext.{DEV_REPO_MODULE}.design_space"


def start_blender():
    """Import bpy with a throw-away user folder and enable the add-on from the checkout."""
    if "bpy" not in sys.modules:
        user = Path(tempfile.mkdtemp(prefix="design_space_user_"))
        atexit.register(shutil.rmtree, user, ignore_errors=True)
        os.environ["BLENDER_USER_RESOURCES"] = str(user)
        os.environ.setdefault("DESIGN_SPACE_MAKEHUMAN_DATA", str(REPO_ROOT / ".data" / "mpfb2"))
    import bpy  # noqa: I001 (bpy first: it puts addon_utils on the path)
    import addon_utils

    if ADDON_MODULE not in sys.modules:
        user = os.environ.get("BLENDER_USER_RESOURCES") or tempfile.mkdtemp(prefix="design_space_user_")
        links = Path(user) / "dev_extensions"
        links.mkdir(parents=True, exist_ok=True)
        link = links / "design_space"
        if not link.exists():
            link.symlink_to(REPO_ROOT, target_is_directory=True)
        repos = bpy.context.preferences.extensions.repos
        if DEV_REPO_MODULE not in {r.module for r in repos}:
            repos.new(name="Design Space (checkout)", module=DEV_REPO_MODULE,
                      custom_directory=str(links), source='USER')
        addon_utils.enable(ADDON_MODULE, default_set=True, handle_error=_raise)
        if not addon_utils.check(ADDON_MODULE)[1]:
            raise RuntimeError(f"Design Space could not be enabled from {REPO_ROOT}")
    return bpy


def addon():
    """The enabled add-on's package (to reach its pure modules as Blender loaded them)."""
    return sys.modules[ADDON_MODULE]


def _raise(error):
    raise error
