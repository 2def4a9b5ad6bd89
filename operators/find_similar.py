"""Find the library shapes most like the active one (the classifier's view-pooled descriptor)."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import BoolProperty, IntProperty

from .classifiers import active_classifier, shape_views
from .image_bridge import write_image
from .operator_support import reports_errors

THUMBNAIL = "Design Space Match {}"


def thumbnail(views: np.ndarray) -> np.ndarray:
    """An RGBA picture of one shaded view (white shape on dark grey)."""
    grey = np.where(views > 0, 0.25 + 0.75 * views, 0.12).astype(np.float32)
    return np.dstack([grey, grey, grey, np.ones_like(grey)])


class DESIGN_SPACE_OT_find_similar(bpy.types.Operator):
    """List the shapes of the classifier's library most like the active shape (names and pictures in the panel); optionally place them beside it"""

    bl_idname = "design_space.find_similar"
    bl_label = "Find Similar"
    bl_options = {'REGISTER', 'UNDO'}

    count: IntProperty(name="Count", description="How many similar shapes to list", default=5, min=1, max=50)
    place: BoolProperty(name="Place Beside", description="Put linked duplicates of the matches in a row beside "
                        "the query", default=False)

    @reports_errors
    def execute(self, context):
        classifier, metadata, extra, _ = active_classifier(context)
        query = context.active_object
        if query is None or query.type != 'MESH':
            raise ValueError("Make the shape to search with the active object")
        names = list(metadata["info"].get("library_names", ()))
        library = extra.get("library")
        if library is None or not names:
            raise ValueError("The active classifier has no library; train it again")
        views = shape_views([query], classifier.resolution)
        similarity = library @ classifier.descriptors(views)[0]
        order = [i for i in np.argsort(-similarity) if names[i] != query.name][:self.count]
        matches = context.scene.design_space.matches
        matches.clear()
        for rank, i in enumerate(order):
            item = matches.add()
            item.name, item.score = names[i], float(similarity[i])
            obj = bpy.data.objects.get(names[i])
            if obj is not None:
                write_image(THUMBNAIL.format(rank), thumbnail(shape_views([obj], 64)[0, 1]))
        if self.place:
            x = query.location.x + query.dimensions.x
            for i in order:
                source = bpy.data.objects.get(names[i])
                if source is None:
                    continue
                duplicate = source.copy()
                duplicate.location = (x + source.dimensions.x, query.location.y, query.location.z)
                x += 1.5 * source.dimensions.x
                for collection in query.users_collection:
                    collection.objects.link(duplicate)
        self.report({'INFO'}, f"Most like '{query.name}': " + ", ".join(
            f"{names[i]} ({similarity[i]:.2f})" for i in order))
        return {'FINISHED'}
