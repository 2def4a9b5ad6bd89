"""Shared by the comparison operators: the shapes of the training collection, their feature sets
(shape-space coordinates when the collection has a shape space, the 38-number descriptor, the pooled
light field in canonical pose, both, the cross-section profile of shapespace.attribute_features;
learning chooses among them by cross-validation), the pair on
show, and the scene's stored comparisons."""

from __future__ import annotations

import bpy
import numpy as np

from ..mesh_bridge import collection_objects, ensure_collection, read_collection, shape_roots
from ..model_store import absolute_path

DISPLAY = "Design Space Comparison"
DISPLAY_MESH = "design_space_display"


def training_shapes(context) -> list:
    collection = context.scene.design_space.training_collection
    if collection is None:
        raise ValueError("Pick a training collection in the Design Space panel first")
    roots = shape_roots(collection_objects(collection))
    if len(roots) < 2:
        raise ValueError(f"'{collection.name}' holds {len(roots)} shapes; comparisons need at least 2")
    return roots


def stored_comparisons(scene, attribute: str | None = None) -> list:
    from ...learning.ranking import Comparison

    return [Comparison(c.shape_a, c.shape_b, c.attribute, c.answer) for c in scene.design_space.comparisons
            if attribute is None or c.attribute == attribute]


def shape_space_of(context, collection):
    """(path, coefficients, shape names) of the newest shape space learned on `collection`, or None."""
    from ...learning.model_files import load_model_file

    for entry in reversed(context.scene.design_space.models):
        if entry.kind == "shape_space" and entry.collection == collection.name:
            path = absolute_path(entry.filepath)
            model = load_model_file(path, expected_kind="shape_space")
            if "coefficients" in model.arrays:
                return path, model.arrays["coefficients"], list(model.metadata["attribute_names"])
    return None


FEATURE_SOURCES = ("shape_space", "descriptors", "light_field", "descriptors+light_field", "profile")


_feature_rows: dict = {}  # (source, content digest) -> a shape's features: computed once per session
FEATURE_CACHE_LIMIT = 50_000  # rows kept (a light field's 144 numbers each: a few MB)


def _feature_rows_of(shapes, source, compute) -> np.ndarray:
    """(N, F) the `source` features of `shapes`, computing (`compute(shapes) -> (M, F)`) only those of
    shapes whose geometry has not been seen this session: learning again after a few more answers
    costs no second light field of 80 shapes (2 s)."""
    from ...shapespace.mesh_arrays import content_digest

    keys = [(source, content_digest(s)) for s in shapes]
    missing = [i for i, key in enumerate(keys) if key not in _feature_rows]
    if missing:
        rows = compute([shapes[i] for i in missing])
        if len(_feature_rows) + len(missing) > FEATURE_CACHE_LIMIT:
            _feature_rows.clear()
        computed = {keys[i]: row for i, row in zip(missing, rows)}
        _feature_rows.update(computed)
    else:
        computed = {}
    return np.stack([computed.get(key, _feature_rows.get(key)) for key in keys]).astype(np.float64)


def _descriptor_features(shapes, source):
    from ...shapespace.descriptors import descriptor_matrix
    from ...shapespace.light_field import light_field_descriptor, pooled_light_field

    if source == "profile":  # thicknesses and widths of cross-sections in an upright frame (attribute_features)
        from ...shapespace.attribute_features import profile_feature_matrix

        return _feature_rows_of(shapes, "profile", profile_feature_matrix)
    parts = []
    if "descriptors" in source:
        parts.append(_feature_rows_of(shapes, "descriptors", descriptor_matrix))
    if "light_field" in source:  # the training-free view descriptor in each shape's canonical pose
        parts.append(_feature_rows_of(shapes, "light_field", lambda some: np.stack(
            [pooled_light_field(light_field_descriptor(s)) for s in some])))
    return np.hstack(parts)


def feature_candidates(context):
    """({source: (N, d) features}, shape names, shape-space path or None): every feature set the
    training collection offers, for cross-validation to choose among (FEATURE_SOURCES)."""
    collection = context.scene.design_space.training_collection
    shapes = read_collection(collection)
    names = [s.name for s in shapes]
    descriptors = _descriptor_features(shapes, "descriptors")
    light_field = _descriptor_features(shapes, "light_field")
    candidates = {"descriptors": descriptors, "light_field": light_field,
                  "descriptors+light_field": np.hstack([descriptors, light_field]),
                  "profile": _descriptor_features(shapes, "profile")}
    space = shape_space_of(context, collection)
    path = None
    if space is not None:
        path, coefficients, space_names = space
        row = {n: i for i, n in enumerate(space_names)}
        if set(names) <= set(row):
            candidates = {"shape_space": np.asarray(coefficients, dtype=np.float64)[[row[n] for n in names]],
                          **candidates}
    return candidates, names, path


def collection_features(context, source: str | None = None):
    """(features (N, d), shape names, source, shape-space path or None) for the training collection:
    the named `source` (one of FEATURE_SOURCES, as recorded in a model file), or without one the
    shape-space coordinates when the collection has a shape space, else the descriptors."""
    collection = context.scene.design_space.training_collection
    space = shape_space_of(context, collection)
    if source in (None, "shape_space") and space is not None:
        path, coefficients, names = space
        return np.asarray(coefficients, dtype=np.float64), names, "shape_space", path
    if source == "shape_space":
        raise ValueError(f"The attributes were learned in a shape space of '{collection.name}' that is gone; "
                         "learn the shape space and the attributes again")
    source = source or "descriptors"
    if source not in FEATURE_SOURCES:
        raise ValueError(f"Unknown feature source '{source}' in the attribute model; learn the attributes again")
    shapes = read_collection(collection)
    return _descriptor_features(shapes, source), [s.name for s in shapes], source, None


PART_SEPARATOR = ":"  # "chair_003:leg" names the leg part of chair_003


def part_of(comparison) -> str | None:
    """The part label a comparison is about ("shape:label" names), or None for whole shapes."""
    labels = {n.split(PART_SEPARATOR, 1)[1] if PART_SEPARATOR in n else None
              for n in (comparison.shape_a, comparison.shape_b)}
    return labels.pop() if len(labels) == 1 else None


def part_labels_of(comparisons) -> list:
    """What the comparisons of one attribute are about: None (whole shapes) and/or part labels."""
    return sorted({part_of(c) for c in comparisons}, key=lambda label: label or "")


def part_features(context, label: str):
    """(features, names "shape:label") of the `label` parts of the training collection's shapes."""
    from ...shapespace.parts import ranking_features, split_parts

    collection = context.scene.design_space.training_collection
    rows, names = [], []
    for shape in read_collection(collection):
        if shape.face_parts is None:
            continue
        part = split_parts(shape).get(label)
        if part is not None:
            rows.append(ranking_features(part))
            names.append(f"{shape.name}{PART_SEPARATOR}{label}")
    if len(rows) < 2:
        raise ValueError(f"Fewer than 2 shapes of '{collection.name}' have a '{label}' part")
    return np.array(rows), names


def show_pair(context, name_a: str, name_b: str) -> None:
    """The two shapes side by side at the 3D cursor, named "A: …" and "B: …", in their own collection;
    the view frames them. Whole shapes are linked duplicates (the meshes are shared, the originals
    untouched); parts ("shape:label") are new meshes of just that part."""
    clear_display()
    display = ensure_collection(DISPLAY)
    cursor = np.array(context.scene.cursor.location)
    made = []
    for side, name in ((-1, name_a), (1, name_b)):
        letter = 'A' if side < 0 else 'B'
        if PART_SEPARATOR in name:
            made += _show_part(display, name, letter, cursor, side)
            continue
        source = bpy.data.objects[name]
        pieces = [source] + [c for c in source.children_recursive if c.type == 'MESH']
        width = max(max(p.dimensions) for p in pieces) if pieces else 1.0
        for piece in pieces:
            duplicate = piece.copy()  # shares the mesh data: nothing is copied or changed
            duplicate.name = f"{letter}: {piece.name}"
            duplicate.parent = None
            duplicate.matrix_world = piece.matrix_world.copy()
            duplicate.location = tuple(cursor + np.array(piece.matrix_world.translation) - np.array(
                source.matrix_world.translation) + np.array([side * 0.65 * width, 0.0, 0.0]))
            duplicate.show_name = piece is source
            display.objects.link(duplicate)
            made.append(duplicate)
    for obj in context.view_layer.objects:
        obj.select_set(obj in made)
    if not bpy.app.background:
        for area in context.screen.areas if context.screen else ():
            if area.type == 'VIEW_3D':
                region = next(r for r in area.regions if r.type == 'WINDOW')
                with context.temp_override(area=area, region=region):
                    bpy.ops.view3d.view_selected()


def _show_part(display, name, letter, cursor, side) -> list:
    from ...shapespace.parts import split_parts
    from ..mesh_bridge import build_mesh, read_shape

    shape_name, label = name.split(PART_SEPARATOR, 1)
    source = bpy.data.objects[shape_name]
    part = split_parts(read_shape(source, children=source.children_recursive))[label]
    mesh = build_mesh(part.mesh, f"{letter}: {name}")
    obj = bpy.data.objects.new(f"{letter}: {name}", mesh)
    obj[DISPLAY_MESH] = True  # made for the display: removed with it
    width = float(max(part.size.max(), 0.05))
    obj.location = tuple(cursor - part.centre + np.array([side * 0.65 * width, 0.0, part.size[2] / 2]))
    obj.show_name = True
    display.objects.link(obj)
    return [obj]


def clear_display() -> None:
    display = bpy.data.collections.get(DISPLAY)
    if display is None:
        return
    for obj in list(display.objects):
        mesh = obj.data if obj.get(DISPLAY_MESH) else None
        bpy.data.objects.remove(obj)
        if mesh is not None and mesh.users == 0:
            bpy.data.meshes.remove(mesh)
    bpy.data.collections.remove(display)
