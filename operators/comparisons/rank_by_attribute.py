"""Show the training collection ordered by a learned semantic attribute; the Strength slider selects
the shape at a point of that order, or (with no order made) the scored shape nearest a strength."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import FloatProperty, StringProperty

from .comparison_support import collection_features
from ..mesh_bridge import SceneWriter, set_custom_properties
from ..model_store import absolute_path, active_model
from ..operator_support import reports_errors


def select_by_strength(context, attribute: str, position: float):
    """Select (and make active) the shape at `position` (0..1) of the order by `attribute`; without
    an Ordered by … collection, the shape whose score (Score Shapes: `design_space_<attribute>`) is
    nearest the strength at `position` between the lowest and highest score in the scene."""
    ordered = bpy.data.collections.get(f"Ordered by {attribute}")
    if ordered is None or not len(ordered.objects):
        return select_nearest_score(context, attribute, position)
    shapes = sorted(ordered.objects, key=lambda o: o.get(f"strength_{attribute}", 0.0))
    chosen = shapes[int(round(position * (len(shapes) - 1)))]
    for obj in context.view_layer.objects:
        obj.select_set(obj == chosen)
    context.view_layer.objects.active = chosen
    return chosen


def scored_shapes(context, attribute: str):
    """(objects, scores) of the view layer's shapes that Score Shapes gave `attribute`."""
    from .score_attribute import property_name

    key = property_name(attribute)
    shapes = [o for o in context.view_layer.objects if o is not None and isinstance(o.get(key), float)]
    return shapes, np.array([o[key] for o in shapes], dtype=np.float64)


def select_nearest_score(context, attribute: str, position: float):
    """Select (and make active) the scored shape nearest the strength at `position` (0: the lowest
    score, 1: the highest); None when no shape has a score for `attribute`."""
    shapes, scores = scored_shapes(context, attribute)
    if not shapes:
        return None
    wanted = scores.min() + position * (scores.max() - scores.min())
    chosen = shapes[int(np.argmin(np.abs(scores - wanted)))]
    for obj in context.view_layer.objects:
        obj.select_set(obj == chosen)
    context.view_layer.objects.active = chosen
    return chosen


class DESIGN_SPACE_OT_rank_by_attribute(bpy.types.Operator):
    """Lay out the training shapes in a row from least to most of a learned attribute (linked duplicates in a new collection; the shapes themselves stay where they are)"""

    bl_idname = "design_space.rank_by_attribute"
    bl_label = "Order by Attribute"
    bl_options = {'REGISTER', 'UNDO'}

    attribute: StringProperty(name="Attribute", description="A learned semantic attribute (empty: the one asked "
                              "about in the panel)")
    spacing: FloatProperty(name="Spacing", description="Gap between neighbours", default=0.3, min=0.0,
                           unit='LENGTH')

    @reports_errors
    def execute(self, context):
        from ...learning.ranking import load_rankings

        settings = context.scene.design_space
        attribute = self.attribute.strip() or settings.comparison_attribute.strip()
        entry = active_model(context.scene)
        if entry is None or entry.kind != "semantic_attributes":
            raise ValueError("Make a model learned from comparisons the active model first (Learn from Comparisons)")
        rankings, metadata = load_rankings(absolute_path(entry.filepath))
        ranking = next((r for r in rankings if r.attribute == attribute), None)
        if ranking is None:
            raise ValueError(f"'{entry.name}' has no '{attribute}'; it has: {', '.join(r.attribute for r in rankings)}")
        features, names, _, _ = collection_features(context, metadata["info"].get("feature_source"))
        strength = ranking.strength(features)
        order = sorted(range(len(names)), key=lambda i: strength[i])
        with SceneWriter() as writer:
            old = bpy.data.collections.get(f"Ordered by {attribute}")
            if old is not None:  # one order per attribute: the newest replaces the last
                for obj in list(old.objects):
                    bpy.data.objects.remove(obj)
                bpy.data.collections.remove(old)
            target = writer.collection(f"Ordered by {attribute}", reuse=False)
            x = 0.0
            for rank, i in enumerate(order):
                source = bpy.data.objects[names[i]]
                duplicate = source.copy()  # a linked duplicate: the mesh is shared, nothing is copied
                duplicate.name = f"{attribute} {rank:03d}: {source.name}"
                writer.adopt([duplicate])
                width = max(source.dimensions[0], 0.1)
                duplicate.location = (x + width / 2, -3.0, 0.0)
                x += width + self.spacing
                set_custom_properties(duplicate, {f"strength_{attribute}": float(strength[i])})
                target.objects.link(duplicate)
        self.report({'INFO'}, f"Ordered {len(names)} shapes by {attribute} in '{target.name}': least "
                              f"'{names[order[0]]}', most '{names[order[-1]]}'")
        return {'FINISHED'}
