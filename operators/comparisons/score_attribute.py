"""Score any shape with the active semantic attributes: each learned attribute's strength and its
uncertainty, written as custom properties `design_space_<attribute>` and
`design_space_<attribute>_uncertainty` (part attributes: `design_space_<part>_<attribute>`) on every
shape of a collection or of the selection. Nothing is duplicated or moved.

Strength is in standard deviations of the training shapes' strengths (learning.ranking). The
uncertainty is the Laplace standard deviation of that strength (`RankingFunction.uncertainty`):
it grows with the distance from the shapes the answers were about. Measured on the built-in
families with 200 simulated answers about 30–40 chairs: over the descriptors, median 0.30 on the
chairs and 1.87 on tables scored by the chairs' model (0.35 / 0.44 / 2.6 on training chairs,
held-out chairs and tables, lamps and vases in a pure run); in a chair shape space, median 0.32 on
the chairs and 0.78 for a chair pushed 2.5× as far from the mean shape.

Features follow the model file: shape-space coordinates (the space's stored coordinates for its
own training shapes, a projection for any other mesh of the space's topology), the descriptors or
the light field (any mesh), or part features. Strengths of N shapes are one matrix product.
"""

from __future__ import annotations

import re

import bpy
import numpy as np
from bpy.props import EnumProperty, StringProperty

from .comparison_support import _descriptor_features
from ..mesh_bridge import collection_objects, read_positions, read_shape, set_custom_properties, shape_roots
from ..model_store import absolute_path, active_model
from ..operator_support import reports_errors

PREFIX = "design_space_"
# custom properties Design Space already uses on objects: an attribute of that name would overwrite them
RESERVED = {"kind", "model", "seed", "source", "phrase", "phrase_history", "fitted", "category"}


def property_name(attribute: str, part: str | None = None) -> str:
    """'design_space_sturdy', 'design_space_leg_sturdy' for a part attribute; spaces become '_'."""
    word = re.sub(r"[^0-9A-Za-z_=]+", "_", attribute.strip()).strip("_")
    return PREFIX + (f"{re.sub(r'[^0-9A-Za-z_]+', '_', part)}_" if part else "") + word


def target_shapes(context, target: str, collection_name: str) -> list:
    """The root objects to score: the selection, or every shape of the named collection (empty: the
    panel's Score In collection, else the training collection)."""
    if target == 'SELECTED':
        roots = shape_roots([o for o in context.selected_objects if o.type == 'MESH'])
        if not roots:
            raise ValueError("No mesh is selected; select the shapes to score, or score a collection")
        return roots
    settings = context.scene.design_space
    collection = (bpy.data.collections.get(collection_name) if collection_name else
                  settings.score_collection or settings.training_collection)
    if collection is None:
        raise ValueError(f"There is no collection '{collection_name}'" if collection_name else
                         "Pick the collection to score (Score In) or a training collection first")
    roots = [o for o in shape_roots(collection_objects(collection)) if o.type == 'MESH']
    if not roots:
        raise ValueError(f"'{collection.name}' holds no mesh shapes to score")
    return roots


def shape_space_features(model_path, objects):
    """(coordinates (N, k), objects kept, notes) in the shape space of the ranking file at `model_path`:
    the stored coordinates of the space's own training shapes, a projection (aligned as the space
    was) for any other mesh with the space's vertex count; other meshes are left out, by name."""
    from ...learning.model_files import load_model_file
    from ...shapespace.correspondence import align_to
    from ..shape_space.shape_editing import slider_model

    model = slider_model(model_path)
    space, info = model.space, model.space_metadata.get("info", {})
    archive = load_model_file(model.space_path, expected_kind="shape_space")
    stored = {}
    if "coefficients" in archive.arrays:  # the space's own training shapes, exactly as learned
        shape_names = archive.metadata.get("attribute_names") or []
        stored = dict(zip(shape_names, np.asarray(archive.arrays["coefficients"], dtype=np.float64)))
    mean = space.mean.reshape(-1, 3)
    alignment = info.get("alignment", "none")
    rows, kept, left_out, projected, where = [], [], [], [], []
    for obj in objects:
        if obj.name in stored:
            rows.append(stored[obj.name])
            kept.append(obj)
            continue
        if len(obj.data.vertices) != len(mean):
            left_out.append(obj.name)
            continue
        positions = read_positions(obj.data)  # local coordinates, as Edit with Attribute Sliders reads them
        if alignment != "none":
            positions, *_ = align_to(positions, mean, scaling=alignment == "similarity")
        projected.append(positions)
        where.append(len(rows))
        rows.append(None)
        kept.append(obj)
    if projected:
        coordinates = space.project(np.stack(projected)).astype(np.float64)  # all at once
        for slot, row in zip(where, coordinates):
            rows[slot] = row
    notes = []
    if left_out:
        notes.append(f"{len(left_out)} shapes have another vertex count than the shape space ({len(mean)}) and were "
                     f"not scored ('{left_out[0]}'…); bring them in with Edit with Attribute Sliders (a fitted copy) "
                     "and score the copy")
    return (np.array(rows, dtype=np.float64).reshape(len(rows), -1) if rows else np.zeros((0, space.k))), kept, notes


def part_shape_features(objects, label: str):
    """(features, objects kept, notes) of the `label` part of each shape."""
    from ...shapespace.parts import ranking_features, split_parts

    rows, kept, missing = [], [], []
    for obj in objects:
        shape = read_shape(obj, children=[c for c in obj.children_recursive if c.type == 'MESH'])
        part = split_parts(shape).get(label) if shape.face_parts is not None else None
        if part is None:
            missing.append(obj.name)
            continue
        rows.append(ranking_features(part))
        kept.append(obj)
    notes = [f"{len(missing)} shapes have no '{label}' part and were not scored ('{missing[0]}'…)"] if missing else []
    return np.array(rows, dtype=np.float64), kept, notes


def score_features(rankings, features):
    """{attribute: (strengths (N,), uncertainties (N,))}: every shape at once."""
    return {r.attribute: (r.strength(features), r.uncertainty(features)) for r in rankings}


def model_features(model_path, metadata, objects):
    """(features, objects kept, notes) as the ranking model at `model_path` was learned."""
    source = metadata["info"].get("feature_source", "descriptors")
    if source == "shape_space":
        return shape_space_features(model_path, objects)
    if source.startswith("parts:"):
        return part_shape_features(objects, source.split(":", 1)[1])
    shapes = [read_shape(o, children=[c for c in o.children_recursive if c.type == 'MESH']) for o in objects]
    return _descriptor_features(shapes, source), list(objects), []


class DESIGN_SPACE_OT_score_attribute(bpy.types.Operator):
    """Write each learned attribute's strength and its uncertainty to every shape of a collection or the selection, as custom properties (design_space_<attribute>, design_space_<attribute>_uncertainty); nothing is duplicated"""

    bl_idname = "design_space.score_attribute"
    bl_label = "Score Shapes"
    bl_options = {'REGISTER', 'UNDO'}

    attribute: StringProperty(name="Attribute", description="The learned attribute to score (empty: every attribute "
                              "of the active model)")
    target: EnumProperty(name="Score", description="Which shapes get scores",
                         items=[('SELECTED', "Selected", "The selected shapes"),
                                ('COLLECTION', "Collection", "Every shape of the collection (empty name: Score In, "
                                                             "else the training collection)")],
                         default='SELECTED')
    collection: StringProperty(name="Collection", description="The collection to score (empty: Score In, else the "
                               "training collection)")

    @reports_errors
    def execute(self, context):
        from ...learning.ranking import load_rankings

        entry = active_model(context.scene)
        if entry is None or entry.kind != "semantic_attributes":
            raise ValueError("Make a model learned from comparisons the active model first (Learn from Comparisons)")
        path = absolute_path(entry.filepath)
        rankings, metadata = load_rankings(path)
        wanted = self.attribute.strip()
        if wanted:
            rankings = [r for r in rankings if r.attribute == wanted]
            if not rankings:
                raise ValueError(f"'{entry.name}' has no '{wanted}'; it has: {', '.join(metadata['attribute_names'])}")
        for r in rankings:
            clash = property_name(r.attribute)[len(PREFIX):]
            if clash in RESERVED or clash.endswith("_uncertainty"):
                raise ValueError(f"An attribute named '{r.attribute}' would overwrite Design Space's own "
                                 f"'{property_name(r.attribute)}'; learn it under another name")
        objects = target_shapes(context, self.target, self.collection.strip())
        if any(o.mode == 'EDIT' for o in objects):
            raise ValueError(f"'{next(o.name for o in objects if o.mode == 'EDIT')}' is in Edit Mode; switch to "
                             "Object Mode (Tab) and score again")
        features, kept, notes = model_features(path, metadata, objects)
        if not kept:
            raise ValueError("None of the shapes could be scored: " + "; ".join(notes))
        source = metadata["info"].get("feature_source", "")
        part = source.split(":", 1)[1] if source.startswith("parts:") else None
        scores = score_features(rankings, features)
        keys = {a: (property_name(a, part), property_name(a, part) + "_uncertainty") for a in scores}
        for i, obj in enumerate(kept):
            values = {}
            for attribute, (strength, uncertainty) in scores.items():
                key, spread_key = keys[attribute]
                values[key] = float(strength[i])
                values[spread_key] = float(uncertainty[i])
            set_custom_properties(obj, values)
        shown = "; ".join(f"{a} {s.min():+.2f} to {s.max():+.2f} (± median {np.median(u):.2f})"
                          for a, (s, u) in scores.items())
        self.report({'WARNING' if notes else 'INFO'},
                    f"Scored {len(kept)} shapes with '{entry.name}' as {', '.join(k for k, _ in keys.values())}: "
                    f"{shown}" + ("; " + "; ".join(notes) if notes else ""))
        return {'FINISHED'}
