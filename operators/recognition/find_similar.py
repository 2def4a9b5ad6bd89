"""Find the shapes of a library collection most like the active one.

The light-field descriptor under rotation search (no model, no PyTorch, any collection), through the
active multi-view network's learned metric when there is one (each view's light field as (x / rms) · L
before the same comparison: read from the model file with numpy, PyTorch not needed). Light fields are
computed once per mesh content and kept."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from ..background_jobs import start_and_report
from .classifiers import (LightFieldJob, active_recognition_entry, read_shapes, shape_views, thumbnail_views,
                          view_metric_of)
from ..image_bridge import write_image
from ..mesh_bridge import shape_roots
from ..operator_support import reports_errors

THUMBNAIL = "Design Space Match {}"


def thumbnail(views: np.ndarray) -> np.ndarray:
    """An RGBA picture of one shaded view (white shape on dark grey)."""
    grey = np.where(views > 0, 0.25 + 0.75 * views, 0.12).astype(np.float32)
    return np.dstack([grey, grey, grey, np.ones_like(grey)])


def show_matches(context, names, scores) -> None:
    """List the matches in the panel, with a picture of each."""
    matches = context.scene.design_space.matches
    matches.clear()
    objects = [bpy.data.objects.get(name) for name in names]
    for rank, (name, score) in enumerate(zip(names, scores)):
        item = matches.add()
        item.name, item.score = name, float(score)
    present = [(rank, obj) for rank, obj in enumerate(objects) if obj is not None]
    if present:
        for (rank, _), view in zip(present, thumbnail_views([obj for _, obj in present])):
            write_image(THUMBNAIL.format(rank), thumbnail(view))


def place_beside(query, names) -> None:
    x = query.location.x + query.dimensions.x
    for name in names:
        source = bpy.data.objects.get(name)
        if source is None:
            continue
        duplicate = source.copy()  # a linked duplicate: the mesh is shared
        duplicate.location = (x + source.dimensions.x, query.location.y, query.location.z)
        x += 1.5 * source.dimensions.x
        for collection in query.users_collection:
            collection.objects.link(duplicate)


def has_surface(shape) -> bool:
    from ...shapespace.descriptors import triangle_areas

    triangles = shape.triangles
    if not len(triangles) or not np.isfinite(shape.vertices).all():
        return False
    return float(triangle_areas(shape.vertices, triangles).sum()) > 0


def search_library(context, settings_library: str):
    """The collection to search: the one named, else the scene's Search In, else the training collection."""
    settings = context.scene.design_space
    if settings_library.strip():
        collection = bpy.data.collections.get(settings_library.strip())
        if collection is None:
            raise ValueError(f"There is no collection '{settings_library.strip()}' to search in; name an existing "
                             "collection")
        return collection
    collection = settings.library_collection or settings.training_collection
    if collection is None:
        raise ValueError("Choose the collection to search in (Search In, in the Recognition section)")
    return collection


class DESIGN_SPACE_OT_find_similar(bpy.types.Operator):
    """List the shapes of a library collection most like the active shape (names and pictures in the panel); training-free, or fused with the active multi-view network"""

    bl_idname = "design_space.find_similar"
    bl_label = "Find Similar"
    bl_options = {'REGISTER', 'UNDO'}

    count: IntProperty(name="Count", description="How many similar shapes to list", default=5, min=1, max=50)
    place: BoolProperty(name="Place Beside", description="Put linked duplicates of the matches in a row beside "
                        "the query", default=False)
    library: StringProperty(name="Search In", description="The collection to search (empty: the Search In "
                            "collection of the Recognition section, else the training collection)")
    method: EnumProperty(
        name="Method", description="How shapes are compared",
        items=[('AUTO', "Automatic", "The active multi-view network's learned metric when there is one (it ranked "
                 "classes it never saw better than the light field alone), else training-free"),
               ('TRAINING_FREE', "Training-Free", "Light-field descriptor under rotation search: no model needed"),
               ('LEARNED', "Learned + Light Field", "The light field under the active multi-view network's learned "
                "metric (needs a trained network; not PyTorch)")],
        default='AUTO')

    @reports_errors
    def execute(self, context):
        query = context.active_object
        if query is None:
            raise ValueError("Nothing is active: make the shape to search with the active object (a mesh)")
        if query.type != 'MESH':
            raise ValueError(f"'{query.name}' is a {query.type.lower()}, not a mesh: make the shape to search with "
                             "the active object")
        network, aligned = self._network(context)
        collection = search_library(context, self.library)
        library_objects = [o for o in shape_roots(list(collection.all_objects)) if o.type == 'MESH' and o != query]
        if len(library_objects) < 1:
            raise ValueError(f"'{collection.name}' holds no other shape to compare with; add shapes to it or search "
                             "another collection")
        query_shape, *library_shapes = read_shapes([query] + library_objects)
        if not has_surface(query_shape):
            raise ValueError(f"'{query.name}' has no surface to compare (no faces, zero area or non-finite "
                             "vertices); search with a shape that has faces")
        usable = [has_surface(s) for s in library_shapes]
        skipped = [o.name for o, ok in zip(library_objects, usable) if not ok]
        library_objects = [o for o, ok in zip(library_objects, usable) if ok]
        library_shapes = [s for s, ok in zip(library_shapes, usable) if ok]
        if not library_shapes:
            raise ValueError(f"No shape in '{collection.name}' has a surface to compare; add meshes with faces")
        names = [o.name for o in library_objects]
        query_name, count, place = query.name, self.count, self.place

        def finish(context, queries, library):
            from ...shapespace.light_field import light_field_distances, light_field_nearest

            query, how = queries[0], "light field"
            if network is not None:  # the light field under the network's learned metric, per view
                query, library = network.view_descriptors(query), network.view_descriptors(library)
                how = "light field + learned metric"
            order, nearest = light_field_nearest(query, library, count)  # pruned: a 10,000-shape library in ms
            sample = library[np.linspace(0, len(library) - 1, min(len(library), 256)).astype(int)]
            scale = float(np.median(light_field_distances(query, sample))) or 1.0
            scores = 1.0 / (1.0 + nearest / scale)  # 1: the same shape; ½: as far as the library's median
            show_matches(context, [names[i] for i in order], scores)
            query_object = bpy.data.objects.get(query_name)
            if place and query_object is not None:
                place_beside(query_object, [names[i] for i in order])
            note = f" (skipped {len(skipped)} without a surface: '{skipped[0]}'…)" if skipped else ""
            return 'INFO', (f"Most like '{query_name}' in '{collection.name}' by {how}: "
                            + ", ".join(f"{names[i]} ({s:.2f})" for i, s in zip(order, scores)) + note)

        start_and_report(self, LightFieldJob(f"Find shapes like '{query.name}'", [query_shape] + library_shapes,
                                             aligned, finish, queries=1), context)
        return {'FINISHED'}

    def _network(self, context):
        """(the active multi-view network's retrieval metric or None, whether shapes are taken as aligned)."""
        # AUTO uses the metric when a network is active: on the hard benchmark's unseen classes it ranked
        # better than the light field alone (NN 96.6 vs 95.6, DCG 91.1 vs 89.4; learning/view_network.py).
        entry = active_recognition_entry(context.scene) if self.method != 'TRAINING_FREE' else None
        if entry is not None and entry.kind != "view_network":
            entry = None  # the older image CNN has no light-field metric
        if entry is None:
            if self.method == 'LEARNED':
                raise ValueError("Make a multi-view network the active model first (Train Classifier), or search "
                                 "with Method: Training-Free")
            return None, bool(context.scene.design_space.collection_aligned)
        metric, metadata = view_metric_of(entry)
        return metric, bool(metadata["info"].get("aligned", False))


__all__ = ["DESIGN_SPACE_OT_find_similar", "THUMBNAIL", "thumbnail", "shape_views"]
