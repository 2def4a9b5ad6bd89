"""Attribute sliders on meshes that live in a shape space: which models an object uses, the slider
directions (cached per model file), and the update that moves the mesh when a slider moves.

A slider step is one fixed direction in vertex space (learning.attribute_space), so an update is a
bulk read, one multiply-add and a bulk write of the positions. The shape-space object itself keeps
its shape keys (for export and keyframes): there the slider sets the component keys' values instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from .mesh_bridge import add_to_positions, set_custom_properties
from .model_store import absolute_path, active_model, stored_path

COEFFICIENTS = "shape_space_coefficients"
FRAME = "shape_space_frame"  # 3×3 rotation (row-major) and scale: aligned = scale · local · Rᵀ + t


@dataclass
class SliderModel:
    """What sliders need from a model file: attribute columns, how to estimate them from component
    coordinates, and the step per unit of each (learned attributes, or semantic attributes learned
    from comparisons over the space's coordinates)."""

    columns: list
    estimate: object  # (N, k) coordinates -> (N, m) attribute values
    space: object  # ShapeSpace
    face_sizes: np.ndarray
    corner_vertices: np.ndarray
    space_metadata: dict
    space_path: Path
    coefficient_directions: np.ndarray  # (m, k) per unit of each attribute
    vertex_directions: np.ndarray  # (m, 3V) float32


_models: dict = {}


def slider_model(path: Path) -> SliderModel:
    """The attribute model at `path` with its shape space, loaded once per file version."""
    from ..learning.attribute_space import ATTRIBUTE_SPACE_KIND, load_attribute_space
    from ..learning.model_files import read_archive
    from ..learning.ranking import load_rankings
    from ..learning.shape_space import load_shape_space

    path = Path(path)
    key = (str(path), path.stat().st_mtime_ns if path.exists() else None)
    model = _models.get(key)
    if model is None:
        _, metadata, _ = read_archive(path, "model file")
        if metadata.get("kind") == ATTRIBUTE_SPACE_KIND:
            attributes, metadata = load_attribute_space(path)
            columns, estimate, directions = attributes.columns, attributes.estimate, attributes.slider_directions()
        else:
            rankings, metadata = load_rankings(path)
            if metadata["info"].get("feature_source") != "shape_space":
                raise ValueError(f"'{path.name}' ranks shapes by their descriptors, not in a shape space; learn it "
                                 "on a collection that has a shape space to get sliders")
            columns = [r.attribute for r in rankings]
            directions = np.stack([r.raw_direction() for r in rankings])
            estimate = lambda c, rankings=rankings: np.stack(  # noqa: E731
                [r.strength(c) for r in rankings], axis=1)
        space_path = resolve_relative(metadata["info"]["shape_space"], path)
        space, sizes, corners, space_metadata = load_shape_space(space_path)
        model = SliderModel(list(columns), estimate, space, sizes, corners, space_metadata, space_path, directions,
                            (directions @ space.components.astype(np.float64)).astype(np.float32))
        _models.clear()  # one model at a time is plenty; a new file version replaces the old
        _models[key] = model
    return model


def resolve_relative(stored: str, beside: Path) -> Path:
    """A path kept in a model file: absolute, or just a file name in the same folder."""
    candidate = Path(stored)
    return candidate if candidate.is_absolute() else Path(beside).parent / candidate


def shape_space_path_of(context, obj=None) -> Path:
    """The shape-space model file of the given object, else of the active model."""
    if obj is not None and obj.get("design_space_kind") == "shape_space" and obj.get("design_space_model"):
        return absolute_path(obj["design_space_model"])
    entry = active_model(context.scene)
    if entry is not None and entry.kind == "shape_space":
        return absolute_path(entry.filepath)
    if entry is not None and entry.kind in SLIDER_KINDS:
        return slider_model(absolute_path(entry.filepath)).space_path
    raise ValueError("Select a shape-space object or make a shape space the active model first "
                     "(Learn Shape Space, or pick one in the model list)")


SLIDER_KINDS = ("shape_attributes", "semantic_attributes")


def attribute_model_path_of(context) -> Path:
    entry = active_model(context.scene)
    if entry is None or entry.kind not in SLIDER_KINDS:
        raise ValueError("Make learned attributes the active model first (Learn Attributes or Learn from "
                         "Comparisons, or pick one in the model list)")
    return absolute_path(entry.filepath)


def attach_sliders(obj, model_path: Path, estimates, coefficients, frame=None) -> None:
    """Give `obj` one slider per attribute, set to its estimated attributes."""
    model = slider_model(model_path)
    state = obj.design_space_edit
    state.attribute_model = stored_path(model_path)
    state.sliders.clear()
    for name, value in zip(model.columns, estimates):
        item = state.sliders.add()
        item.name = name
        item.applied = float(value)
        item.value = float(value)  # equal to applied: the update leaves the mesh alone
    properties = {COEFFICIENTS: [float(c) for c in coefficients]}
    if frame is not None:
        rotation, scale = frame
        properties[FRAME] = [float(x) for x in np.ravel(rotation)] + [float(scale)]
    set_custom_properties(obj, properties)


def move_attribute(obj, index: int, delta: float) -> None:
    """Move attribute `index` of `obj` by `delta` with the others held, writing the new geometry."""
    from .learn_shape_space import KEY_SIGMAS

    state = obj.design_space_edit
    model = slider_model(absolute_path(state.attribute_model))
    change = delta * model.coefficient_directions[index]
    coefficients = np.asarray(obj.get(COEFFICIENTS, np.zeros(model.space.k)), dtype=np.float64) + change
    if obj.get("design_space_kind") == "shape_space" and obj.data.shape_keys is not None:
        blocks = obj.data.shape_keys.key_blocks
        values = coefficients / (KEY_SIGMAS * np.maximum(model.space.standard_deviations, 1e-30))
        for block, value in zip(blocks[1:], values):
            block.value = float(value)
    else:
        offsets = delta * model.vertex_directions[index]
        frame = obj.get(FRAME)
        if frame is not None:  # the space's frame back to the object's own: Δlocal = Δaligned · R / scale
            frame = np.asarray(frame, dtype=np.float64)
            offsets = ((offsets.reshape(-1, 3).astype(np.float64) @ frame[:9].reshape(3, 3)) / frame[9])
        add_to_positions(obj.data, offsets)
    obj[COEFFICIENTS] = [float(c) for c in coefficients]


def on_slider_change(item, context) -> None:
    """Update callback of an attribute slider: apply the change since the last applied value."""
    delta = item.value - item.applied
    obj = item.id_data
    if delta == 0.0 or not isinstance(obj, bpy.types.Object) or obj.type != 'MESH':
        return
    state = obj.design_space_edit
    try:
        move_attribute(obj, state.sliders.find(item.name), delta)
    except (OSError, ValueError, KeyError) as error:  # e.g. the model file was moved away
        state.message = f"Cannot edit: {error}"
        print(f"[Design Space] {obj.name}: {state.message}")
        return
    state.message = ""
    item.applied = item.value
