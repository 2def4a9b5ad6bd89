"""Shared by the part-assembly operators: the active part model with the training shapes' parts,
read once per model file (a swap or a new batch reuses them)."""

from __future__ import annotations

from pathlib import Path

import bpy

from .mesh_bridge import read_shape
from .model_store import absolute_path, active_model

SOURCES = "design_space_sources"  # on an assembly: ["label:shape", ...]

_cache: dict = {}


def active_part_model_path(context) -> Path:
    entry = active_model(context.scene)
    if entry is None or entry.kind != "part_model":
        raise ValueError("Make a part model the active model first (Learn Part Model, or pick one in the list)")
    return absolute_path(entry.filepath)


def synthesizer_for(path: Path):
    """The PartSynthesizer of a part-model file, with the parts of the shapes it was learned from."""
    from ..learning.part_model import load_part_model
    from ..learning.part_synthesis import PartSynthesizer
    from ..shapespace.assembly import solve_placement, training_overlaps
    from ..shapespace.parts import split_parts

    if not Path(path).is_file():
        raise FileNotFoundError(f"'{path}' does not exist; learn the part model again (Learn Part Model) or load "
                                "the moved file with Load Model File")
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _cache:
        model, table, metadata = load_part_model(path)
        missing = [n for n in table.names if n not in bpy.data.objects]
        if missing:
            raise ValueError(f"{len(missing)} shapes the part model was learned from are gone (deleted or renamed): "
                             f"'{missing[0]}'…; learn the part model again")
        parts = []
        for name in table.names:
            obj = bpy.data.objects[name]
            parts.append(split_parts(read_shape(obj, children=obj.children_recursive)))
        _cache.clear()
        _cache[key] = PartSynthesizer(model, table, parts, solve_placement, training_overlaps(parts))
    return _cache[key]


def sources_of(obj) -> dict:
    raw = obj.get(SOURCES)
    if not raw:
        raise ValueError(f"'{obj.name}' is not an assembly (Assemble Parts makes them)")
    return dict(item.split(":", 1) for item in raw)


def assembly_part(context, label: str):
    """(assembly object, its sources, its part-model path, the synthesizer) for a part of the active
    assembly, or a ValueError that says what to select."""
    obj = context.active_object
    if obj is None:
        raise ValueError("Select an assembly first")
    sources = sources_of(obj)
    if label not in sources:
        raise ValueError(f"'{obj.name}' has no '{label}'; it has: {', '.join(sources)}")
    path = absolute_path(obj["design_space_model"])
    return obj, sources, path, synthesizer_for(path)
