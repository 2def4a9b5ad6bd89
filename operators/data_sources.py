"""Where Design Space finds its data on disk: the MakeHuman files and its own cache folder."""

from __future__ import annotations

import os
from pathlib import Path

import bpy

ADDON_PACKAGE = __package__.rsplit(".", 1)[0]
EXTENSION_DIR = Path(__file__).resolve().parent.parent
MAKEHUMAN_ENV = "DESIGN_SPACE_MAKEHUMAN_DATA"


def preferences():
    addon = bpy.context.preferences.addons.get(ADDON_PACKAGE)
    return addon.preferences if addon else None


def makehuman_candidates() -> list[Path]:
    """Places to look for the MakeHuman data, in order: preferences, environment, the checkout."""
    candidates = []
    prefs = preferences()
    if prefs is not None and prefs.makehuman_data.strip():
        candidates.append(Path(bpy.path.abspath(prefs.makehuman_data)))
    if os.environ.get(MAKEHUMAN_ENV):
        candidates.append(Path(os.environ[MAKEHUMAN_ENV]))
    candidates.append(EXTENSION_DIR / ".data" / "mpfb2")  # a development checkout after `make setup`
    return candidates


def makehuman_source() -> Path | None:
    return next((path for path in makehuman_candidates() if path.exists()), None)


def cache_dir() -> Path:
    """The extension's own writable folder for caches (never inside the installed add-on)."""
    try:
        return Path(bpy.utils.extension_path_user(ADDON_PACKAGE, path="cache", create=True))
    except (ValueError, AttributeError):  # loaded as a legacy add-on
        path = Path(bpy.utils.user_resource('SCRIPTS', path="design_space_cache", create=True))
        return path
