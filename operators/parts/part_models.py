"""Shared by the part-assembly operators: the active part model with the training shapes' parts,
read once per model file (a swap or a new batch reuses them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bpy

from ..mesh_bridge import read_shape
from ..model_store import absolute_path, active_model

SOURCES = "design_space_sources"  # on an assembly: ["label:shape", ...]

_cache: dict = {}


def active_part_model_path(context) -> Path:
    entry = active_model(context.scene)
    if entry is None or entry.kind != "part_model":
        raise ValueError("Make a part model the active model first (Learn Part Model, or pick one in the list)")
    return absolute_path(entry.filepath)


@dataclass
class PartModelInputs:
    """What a part-model job needs, read on the main thread: the synthesizer when this session has
    built it already, else the model, its table and the training shapes as arrays (the parts are split
    and measured off the main thread, by `synthesizer`)."""

    key: tuple
    cached: object = None  # PartSynthesizer
    model: object = None
    table: object = None
    shapes: list | None = None

    def synthesizer(self, progress=None, should_stop=None):
        """The PartSynthesizer (built and cached here when needed; pure numpy, safe off the main
        thread); None when should_stop() ended the build."""
        if self.cached is not None:
            return self.cached
        from ...learning.part_synthesis import PartSynthesizer
        from ...shapespace.assembly import solve_placement, training_overlaps
        from ...shapespace.parts import split_parts

        parts = []
        for i, shape in enumerate(self.shapes):  # splitting is quick; the overlaps below take the time
            if should_stop is not None and should_stop():
                return None
            parts.append(split_parts(shape))
            if progress is not None:
                progress(0.2 * (i + 1) / len(self.shapes), f"split the parts of {i + 1}/{len(self.shapes)} shapes")
        overlaps = training_overlaps(parts, progress=None if progress is None else
                                     lambda fraction, message: progress(0.2 + 0.8 * fraction, message),
                                     should_stop=should_stop)
        if should_stop is not None and should_stop():
            return None
        synthesizer = PartSynthesizer(self.model, self.table, parts, solve_placement, overlaps)
        _cache.clear()
        _cache[self.key] = self.cached = synthesizer
        return synthesizer


def part_model_inputs(path: Path) -> PartModelInputs:
    """Read what building the synthesizer of a part-model file needs (main thread: it reads meshes)."""
    from ...learning.part_model import load_part_model

    if not Path(path).is_file():
        raise FileNotFoundError(f"'{path}' does not exist; learn the part model again (Learn Part Model) or load "
                                "the moved file with Load Model File")
    key = (str(path), path.stat().st_mtime_ns)
    if key in _cache:
        return PartModelInputs(key, cached=_cache[key])
    model, table, metadata = load_part_model(path)
    missing = [n for n in table.names if n not in bpy.data.objects]
    if missing:
        raise ValueError(f"{len(missing)} shape{'s' * (len(missing) != 1)} the part model was learned from "
                         f"{'are' if len(missing) != 1 else 'is'} gone (deleted or renamed): '{missing[0]}'"
                         f"{'…' if len(missing) > 1 else ''}; learn the part model again")
    shapes = []
    for name in table.names:
        obj = bpy.data.objects[name]
        shapes.append(read_shape(obj, children=obj.children_recursive))
    return PartModelInputs(key, model=model, table=table, shapes=shapes)


def synthesizer_for(path: Path):
    """The PartSynthesizer of a part-model file, with the parts of the shapes it was learned from
    (built here, on the calling thread)."""
    return part_model_inputs(path).synthesizer()


def sources_of(obj) -> dict:
    raw = obj.get(SOURCES)
    if not raw:
        raise ValueError(f"'{obj.name}' is not an assembly (Assemble Parts makes them)")
    return dict(item.split(":", 1) for item in raw)


def assembly_source(context, label: str):
    """(assembly object, its sources, its part-model path) for a part of the active assembly, or a
    ValueError that says what to select."""
    obj = context.active_object
    if obj is None:
        raise ValueError("Select an assembly first")
    sources = sources_of(obj)
    if label not in sources:
        raise ValueError(f"'{obj.name}' has no '{label}'; it has: {', '.join(sources)}")
    return obj, sources, absolute_path(obj["design_space_model"])


def assembly_part(context, label: str):
    """(assembly object, its sources, its part-model path, the synthesizer) for a part of the active
    assembly, or a ValueError that says what to select."""
    obj, sources, path = assembly_source(context, label)
    return obj, sources, path, synthesizer_for(path)
