"""Where trained models live: files beside the .blend (relative paths), listed in the scene."""

from __future__ import annotations

import re
from pathlib import Path

import bpy

from .background_jobs import set_quietly
from .data_sources import cache_dir, preferences

MODEL_FOLDER = "design_space_models"


def model_directory() -> Path:
    """The preferences' model folder if set; else `//design_space_models` beside a saved .blend, or the
    extension's user folder before the first save."""
    prefs = preferences()
    if prefs is not None and prefs.model_folder.strip():
        folder = Path(bpy.path.abspath(prefs.model_folder))
    elif bpy.data.filepath:
        folder = Path(bpy.path.abspath("//" + MODEL_FOLDER))
    else:
        folder = cache_dir() / "models"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def new_model_path(name: str, suffix: str = ".npz") -> Path:
    """A file name in the model folder that is not taken yet."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "model"
    folder = model_directory()
    path = folder / f"{stem}{suffix}"
    index = 1
    while path.exists():
        path = folder / f"{stem}_{index}{suffix}"
        index += 1
    return path


def unique_model_name(scene, name: str) -> str:
    """`name`, or `name 2`, `name 3`, … when the scene's model list already has it."""
    taken = {entry.name for entry in scene.design_space.models}
    candidate, index = name, 2
    while candidate in taken:
        candidate, index = f"{name} {index}", index + 1
    return candidate


def stored_path(path: Path) -> str:
    """The path as kept in the scene: relative to the .blend when it is saved."""
    return bpy.path.relpath(str(path)) if bpy.data.filepath else str(path)


def absolute_path(stored: str) -> Path:
    return Path(bpy.path.abspath(stored))


def add_model_entry(scene, name: str, kind: str, path: Path, collection: str, target: str, metrics: str,
                    part: str = ""):
    """List a model in the scene and make it the active one."""
    models = scene.design_space.models
    entry = models.add()
    set_quietly(entry, name=name, kind=kind, filepath=stored_path(path), part=part, collection=collection,
                target=target, metrics=metrics)
    set_quietly(scene.design_space, active_model_index=len(models) - 1)
    return entry


def active_model(scene):
    settings = scene.design_space
    if not settings.models:
        return None
    index = min(settings.active_model_index, len(settings.models) - 1)
    return settings.models[index]


def active_volumetric_entry(scene):
    """The active model's entry if it is a volumetric model of any kind (occupancy or implicit; read
    from the list: no file is opened)."""
    from ..learning.volumetric import ALL_VOLUMETRIC_KINDS

    entry = active_model(scene)
    return entry if entry is not None and entry.kind in ALL_VOLUMETRIC_KINDS else None
