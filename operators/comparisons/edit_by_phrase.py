"""Describe Edit: change the active shape-space mesh with words ("a bit taller", "much less wide and
slightly sturdier", "10 cm taller", "more like a lounge chair").

learning.phrases reads the phrase against the attributes of the active models that live in the
mesh's shape space: the mesh's own attribute sliders, and every other learned-attributes model of
the scene over the same space (numeric attributes from Learn Attributes, semantic ones from Learn
from Comparisons over shape-space coordinates). Each step is a slider move: the mesh's own sliders
move as if dragged (shape_editing: the other attributes of that model held, the value kept within
the training shapes' ±3σ); an attribute of another model moves the mesh along that attribute's
direction in shape-space coordinates (`move_along`: the slider step of shape_editing with that
model), sized by its spread and held within the same range. Sizes: learning.phrases' table (in
spreads: one standard deviation of the training shapes), or the number and unit said. The whole
phrase is one undo step; the phrase and its steps are kept on the object as JSON
(`design_space_phrase`, and the last 100 edits in `design_space_phrase_history`). A phrase that
cannot be read leaves everything as it was; a move that fails takes back the moves before it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import bpy
import numpy as np
from bpy.props import StringProperty

from ..model_store import absolute_path
from ..operator_support import reports_errors

PHRASE_PROPERTY = "design_space_phrase"
HISTORY_PROPERTY = "design_space_phrase_history"
SEMANTIC_KIND = "semantic_attributes"
HISTORY_LENGTH = 100  # edits kept in HISTORY_PROPERTY

_kinds: dict = {}  # (path, mtime) -> the model file's kind, read once per file version
_models: dict = {}  # (path, mtime) -> SliderModel of models other than shape_editing's current one


def _key(path: Path):
    return str(path), path.stat().st_mtime_ns if path.exists() else None


def model_kind(path: Path) -> str:
    from ...learning.model_files import read_archive

    key = _key(path)
    if key not in _kinds:
        _, metadata, _ = read_archive(path, "model file")
        _kinds[key] = metadata.get("kind", "")
    return _kinds[key]


def cached_slider_model(path: Path):
    """shape_editing's SliderModel for `path`, kept here too so that several models of one space are
    not read again at every phrase (shape_editing keeps one model at a time)."""
    from ..shape_space.shape_editing import slider_model

    key = _key(path)
    model = _models.get(key)
    if model is None:
        model = slider_model(path)
        if len(_models) > 8:
            _models.clear()
        _models[key] = model
    return model


def unit_of(column: str, kind: str, bodies: bool = False) -> str:
    """The unit of a numeric attribute column: from its name ('height_m'), else the built-in
    families' documentation ('height': m, 'back_angle': degrees), else a length or angle noun
    (metres, degrees). Semantic strengths have none, nor MakeHuman's 0..1 macro values (`bodies`:
    the model was learned on MakeHuman bodies, whose 'height' is a macro value, 'height_m' metres)."""
    from ...learning.phrases import unit_from_name
    from ...shapespace.makehuman import MACRO_NAMES
    from ...shapespace.procedural import ATTRIBUTE_DOCS

    if kind == SEMANTIC_KIND or "=" in column or (bodies and column in MACRO_NAMES):
        return ""
    return unit_from_name(column, ATTRIBUTE_DOCS.get(column, ""))


def _learned_on_bodies(context, path: Path) -> bool:
    """Whether the model at `path` was learned on MakeHuman bodies (their shapes say category 'human')."""
    for entry in context.scene.design_space.models:
        if absolute_path(entry.filepath).resolve() == path.resolve():
            collection = bpy.data.collections.get(entry.collection)
            shapes = list(collection.all_objects) if collection is not None else []
            return bool(shapes) and (shapes[0].get("category") == "human" or "height_m" in shapes[0])
    return False


_attributes: dict = {}  # (the mesh's model, the scene's models, their file versions) -> edit_attributes_of


def _mtime(path: Path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def edit_attributes_of(context, obj):
    """([(AttributeInfo, model path, column)], notes) for every attribute that can edit `obj`: its
    own sliders' model first, then the scene's other learned-attribute models in the same space.
    Kept per model list and file versions (a phrase on a large mesh has 5 ms in all)."""
    own = absolute_path(obj.design_space_edit.attribute_model)
    entries = tuple((e.kind, e.filepath, e.collection) for e in context.scene.design_space.models)
    key = (str(own), _mtime(own), entries,
           tuple(_mtime(Path(f) if Path(f).is_absolute() else absolute_path(f)) for _, f, _ in entries))
    found = _attributes.get(key)
    if found is None:
        found = _edit_attributes(context, own)
        if len(_attributes) > 8:
            _attributes.clear()
        _attributes[key] = found
    return list(found[0]), list(found[1])


def _edit_attributes(context, own: Path):
    from ...learning.phrases import AttributeInfo
    from ..shape_space.shape_editing import SLIDER_KINDS, SLIDER_LIMIT_SIGMAS

    own_model = cached_slider_model(own)
    space_file = Path(own_model.space_path).resolve()
    paths = [own]
    for entry in context.scene.design_space.models:
        if entry.kind in SLIDER_KINDS:
            path = absolute_path(entry.filepath)
            if path.resolve() != own.resolve() and path not in paths:
                paths.append(path)
    found, seen, notes = [], set(), []
    for path in paths:
        try:
            model = own_model if path == own else cached_slider_model(path)
            kind = model_kind(path)
        except (OSError, ValueError, KeyError) as error:  # a model over descriptors, or a file gone
            if path == own:
                raise
            notes.append(f"'{path.name}' left out: {error}")
            continue
        if Path(model.space_path).resolve() != space_file:
            continue
        bodies = _learned_on_bodies(context, path)
        for column, (low, high) in zip(model.columns, model.value_ranges):
            if column in seen:
                continue
            seen.add(column)
            spread = float(high - low) / (2 * SLIDER_LIMIT_SIGMAS) if np.isfinite(high - low) else 1.0
            info = AttributeInfo(column, "semantic" if kind == SEMANTIC_KIND else "numeric",
                                 unit_of(column, kind, bodies), spread if spread > 0 else 1.0)
            found.append((info, path, column))
    return found, notes


def move_along(obj, model, index: int, delta: float) -> None:
    """Move `obj` by `delta` of attribute `index` of `model` (a SliderModel of the mesh's own space
    that is not its sliders' model): the slider's own step (a rigged body keeps its pose)."""
    from ..shape_space.shape_editing import move_attribute

    move_attribute(obj, index, delta, model=model)


def _undo_moves(obj, moves, coefficients, sliders) -> None:
    """Take back the moves made so far, newest first (a later step failed): the mesh's own sliders
    set back as if dragged, other models' moves reversed; coordinates and sliders as they were."""
    from ..shape_space.shape_editing import COEFFICIENTS

    for item, model, index, delta in reversed(moves):
        if item is not None:
            item.value = item.value - delta
        else:
            move_along(obj, model, index, -delta)
    obj[COEFFICIENTS] = coefficients
    for item, (value, applied) in zip(obj.design_space_edit.sliders, sliders):
        item["value"], item["applied"] = value, applied


def check_editable(obj) -> None:
    if obj is None:
        raise ValueError("There is no active object; select a mesh with attribute sliders (Edit with Attribute "
                         "Sliders gives it some) and describe the edit again")
    if obj.type != 'MESH' or not len(obj.design_space_edit.sliders):
        what = "has no attribute sliders" if obj.type == 'MESH' else f"is a {obj.type.lower()}, not a mesh"
        raise ValueError(f"'{obj.name}' {what}; select a mesh and use Edit with Attribute Sliders first (it brings the "
                         "mesh into the shape space)")
    if obj.data.is_editmode:
        raise ValueError(f"'{obj.name}' is in Edit Mode; switch to Object Mode (Tab) and try again")


def edit_by_phrase(context, obj, text: str):
    """Parse `text` and apply it to `obj`: returns (applied steps as dicts, notes). Raises ValueError
    (PhraseError) before anything changes when the phrase cannot be read."""
    from ...learning.phrases import PhraseError, parse_phrase
    from ..shape_space.shape_editing import COEFFICIENTS

    check_editable(obj)
    available, left_out = edit_attributes_of(context, obj)
    try:
        steps = parse_phrase(text, [info for info, _, _ in available])
    except PhraseError as error:
        raise PhraseError("; ".join([str(error)] + left_out)) from None
    notes = []
    where = {info.name: (info, path, column) for info, path, column in available}
    own = absolute_path(obj.design_space_edit.attribute_model)
    coefficients_before = list(obj.get(COEFFICIENTS, []))
    sliders_before = [(item.value, item.applied) for item in obj.design_space_edit.sliders]
    applied, moves = [], []
    try:
        for step in steps:
            info, path, column = where[step.attribute]
            model = cached_slider_model(path)
            index = model.columns.index(column)
            if path == own:
                current = float(obj.design_space_edit.sliders[column].applied)
            else:
                coefficients = np.asarray(obj.get(COEFFICIENTS, np.zeros(model.space.k)), dtype=np.float64)
                current = float(np.asarray(model.estimate(coefficients[None]), dtype=np.float64)[0, index])
            wanted = current + step.change(info.spread, current)
            low, high = (float(v) for v in model.value_ranges[index])
            value = min(max(wanted, low), high)
            if value != wanted:
                notes.append(f"'{step.words}': {step.attribute} stopped at {value:.4g} instead of {wanted:.4g} (the "
                             f"training shapes span {low:.4g} to {high:.4g})")
            if path == own:  # the mesh's own slider, moved as if dragged
                item = obj.design_space_edit.sliders[column]
                item.value = value
                if obj.design_space_edit.message:
                    raise ValueError(obj.design_space_edit.message)
                moves.append((item, model, index, value - current))
            elif value != current:
                move_along(obj, model, index, value - current)
                moves.append((None, model, index, value - current))
                _refresh_sliders(obj, own)
            applied.append({**step.as_dict(), "model": Path(path).name, "from": current, "to": value})
    except Exception:
        _undo_moves(obj, moves, coefficients_before, sliders_before)
        raise
    record = json.dumps({"phrase": text, "steps": applied})
    history = obj.get(HISTORY_PROPERTY, "")
    # a JSON list kept as text, newest last: appended without reading it back (HISTORY_LENGTH kept)
    kept = history[1:-1].split("\n, ")[-(HISTORY_LENGTH - 1):] if history.startswith("[") and len(history) > 2 else []
    obj[PHRASE_PROPERTY] = record
    obj[HISTORY_PROPERTY] = "[" + "\n, ".join(kept + [record]) + "]"
    return applied, notes


def _refresh_sliders(obj, own: Path) -> None:
    """The mesh's own sliders set to what its coordinates now give (a step along another model's
    attribute moves them too); raw writes, which do not move the mesh again."""
    from ..shape_space.shape_editing import COEFFICIENTS

    model = cached_slider_model(own)
    coefficients = np.asarray(obj.get(COEFFICIENTS, np.zeros(model.space.k)), dtype=np.float64)
    estimates = np.asarray(model.estimate(coefficients[None]), dtype=np.float64)[0]
    for item in obj.design_space_edit.sliders:
        index = model.columns.index(item.name) if item.name in model.columns else None
        if index is not None:
            item["value"] = item["applied"] = float(estimates[index])


def last_phrase(obj) -> str:
    """The phrase of the last edit recorded on `obj` ('' when none, or the record is unreadable)."""
    try:
        return str(json.loads(obj.get(PHRASE_PROPERTY, "{}")).get("phrase", ""))
    except (TypeError, ValueError, AttributeError):
        return ""


def describe(applied) -> str:
    return ", ".join(f"{s['attribute']} {s['from']:.4g} → {s['to']:.4g}" for s in applied)


class DESIGN_SPACE_OT_edit_by_phrase(bpy.types.Operator):
    """Change the active mesh by describing the edit in words ("a bit taller", "much less wide and slightly sturdier", "10 cm taller", "more like a lounge chair"), through its attribute sliders and the learned semantic attributes"""

    bl_idname = "design_space.edit_by_phrase"
    bl_label = "Describe Edit"
    bl_options = {'REGISTER', 'UNDO'}

    phrase: StringProperty(name="Phrase", description="How the shape should change, in words (empty: the phrase "
                           "in the panel)")

    @reports_errors
    def execute(self, context):
        text = self.phrase.strip() or context.scene.design_space.edit_phrase.strip()
        obj = context.active_object
        applied, notes = edit_by_phrase(context, obj, text)
        self.report({'WARNING'} if notes else {'INFO'},
                    f"'{obj.name}': {text} → {describe(applied)}" + ("; " + "; ".join(notes) if notes else ""))
        return {'FINISHED'}
