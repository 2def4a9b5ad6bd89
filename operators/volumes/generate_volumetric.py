"""Generate new shapes of a class, with some attributes asked for, from the active volumetric model:
decoded grids become closed meshes in a new collection — smoothed occupancy surfaces for the VAE and
the logistic baseline; for the implicit decoder, signed distances decoded at 64³ (or 128³), cleaned
to the class's piece count and turned back into the training collection's frame."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import EnumProperty, FloatProperty, IntProperty, StringProperty

from ..mesh_bridge import SceneWriter
from ..operator_support import reports_errors
from .volumetric_support import (active_volumetric, class_piece_count, grid_mesh, implicit_frame, implicit_mesh,
                                 parse_attribute_values, standing_on_ground)


def requested_values(context, text: str, category: str) -> dict:
    """The attribute values asked for: `text` (name=value, …) when given, else the panel's ticked rows
    that belong to `category`."""
    if text.strip():
        return parse_attribute_values(text)
    settings = context.scene.design_space
    return {row.name: row.value for row in settings.volume_attributes
            if row.use and category in row.classes.split(", ")}


def generate_volumes(context, category: str, values: dict, count: int, seed: int, variety: float,
                     smoothing: int = 5, collection_name: str = "", resolution: int = 64):
    """(collection, new objects, notes) for `count` shapes of `category` from the active volumetric model
    (`resolution`: the grid an implicit model is decoded at; occupancy models decode at their own)."""
    from ...learning.volumetric import LOGISTIC_KIND, predict_size

    from ...learning.implicit_decoder import IMPLICIT_KIND

    entry, model, metadata = active_volumetric(context)
    conditions = model.conditions
    category = category or conditions.classes[0]
    row, notes = conditions.request(category, values)
    label = conditions.classes.index(category)
    rows = np.repeat(row[None], count, axis=0)
    if model.kind == IMPLICIT_KIND:
        return generate_implicit(entry, model, metadata, category, label, row, notes, count, seed, variety,
                                 resolution, collection_name)
    if model.kind == LOGISTIC_KIND:
        # One shape per condition: variety comes from the attributes left free, drawn within the class's range.
        rng = np.random.default_rng(seed)
        for j in np.flatnonzero(np.isnan(row) & ~np.isnan(conditions.low[label])):
            middle = (conditions.low[label, j] + conditions.high[label, j]) / 2
            half = (conditions.high[label, j] - conditions.low[label, j]) / 2 * min(variety, 1.0)
            rows[:, j] = middle + half * rng.uniform(-1, 1, size=count)
        vectors = conditions.vectors([label] * count, rows)
        grids = model.probabilities(vectors)
    else:
        vectors = conditions.vectors([label] * count, rows)
        grids = model.generate(vectors[0], count, seed=seed, spread=variety)
    sizes = predict_size(model.size_weights, vectors) if model.size_weights is not None else np.ones(count)
    made, empty = [], 0
    with SceneWriter() as writer:
        target = writer.collection(collection_name or f"Generated {category}", reuse=False)
        x = 0.0
        for i, (grid, size) in enumerate(zip(grids, sizes)):
            mesh = grid_mesh(grid, f"{category}_volume_{i:03d}", size=float(size), smoothing=smoothing,
                             pieces=class_piece_count(model, label))
            if mesh is None:
                empty += 1
                continue
            width = float(np.ptp(mesh.vertices[:, 0]))
            properties = {"category": category, "design_space_model": entry.filepath, "design_space_seed": seed,
                          "design_space_index": i, "design_space_method": model.kind,
                          "design_space_grid_size": float(size)}
            properties |= {f"requested_{k}": float(v) for k, v in zip(conditions.attribute_names, rows[i])
                           if not np.isnan(v)}
            made.append(writer.mesh_object(mesh, target, properties=properties, location=(x + width / 2, 0.0, 0.0)))
            x += width * 1.25
    if empty:
        notes.append(f"{empty} of {count} came out empty and were left out")
    if not made:
        raise ValueError(f"Every generated '{category}' came out empty; lower Variety or learn with more epochs")
    return target, made, notes


def generate_implicit(entry, model, metadata, category: str, label: int, row, notes, count: int, seed: int,
                      variety: float, resolution: int, collection_name: str = ""):
    """Decode `count` codes drawn from the class's Gaussian at `resolution`³, clean each surface (the
    class's typical piece count, no specks, nothing smoothed away), turn it back into the training
    collection's frame and size, and write the meshes into a new collection."""
    from ...learning.implicit_decoder import IMPLICIT_KIND

    if model.code_labels is not None and not (np.asarray(model.code_labels) == label).any():
        raise ValueError(f"'{entry.name}' saw no training shape of '{category}'; ask for one of the classes it "
                         "saw or learn it again on a collection with such shapes")
    vector = model.conditions.vectors([label], row[None])
    values = {n: float(v) for n, v in zip(model.conditions.attribute_names, row) if not np.isnan(v)}
    grids = model.generate(category, count, seed=seed, resolution=resolution, spread=variety, values=values)
    rotation, scale = implicit_frame(model, metadata, label, vector)
    made, empty, dropped = [], 0, []
    meshes = []
    for i, grid in enumerate(grids):
        mesh, report = implicit_mesh(model, grid, f"{category}_volume_{i:03d}", label, resolution)
        if mesh is None:
            empty += 1
            continue
        mesh.vertices = (mesh.vertices.astype(np.float64) @ rotation * scale).astype(np.float32)
        meshes.append((i, standing_on_ground(mesh), report))
        if report.dropped_share > 0.1:
            dropped.append(f"{mesh.name} lost {100 * report.dropped_share:.0f}% of its volume in loose pieces")
    if not meshes:
        raise ValueError(f"Every generated '{category}' came out empty; lower Variety or learn with more epochs")
    with SceneWriter() as writer:
        target = writer.collection(collection_name or f"Generated {category}", reuse=False)
        x = 0.0
        for i, mesh, report in meshes:
            width = float(np.ptp(mesh.vertices[:, 0]))
            properties = {"category": category, "design_space_model": entry.filepath, "design_space_seed": seed,
                          "design_space_index": i, "design_space_method": IMPLICIT_KIND,
                          "design_space_resolution": int(resolution), "design_space_pieces": int(report.pieces_after),
                          "design_space_dropped_share": float(report.dropped_share)}
            properties |= {f"requested_{k}": float(v) for k, v in values.items()}
            made.append(writer.mesh_object(mesh, target, properties=properties, location=(x + width / 2, 0.0, 0.0)))
            x += width * 1.25
    if empty:
        notes.append(f"{empty} of {count} came out empty and were left out")
    notes.extend(dropped)
    return target, made, notes


PREVIEW = "Design Space Volume {}"
PREVIEW_COUNT = 6  # thumbnails in the Volumes panel's preview row


def show_generated_previews(objects) -> None:
    """A shaded three-quarter thumbnail of each of the first PREVIEW_COUNT generated shapes for the
    Volumes panel's preview row; older thumbnails beyond them are removed."""
    import bpy

    from ..recognition.classifiers import thumbnail_views
    from ..recognition.find_similar import thumbnail
    from ..image_bridge import write_image

    shown = list(objects)[:PREVIEW_COUNT]
    if shown:
        for i, view in enumerate(thumbnail_views(shown)):
            write_image(PREVIEW.format(i), thumbnail(view))
    for i in range(len(shown), PREVIEW_COUNT):
        image = bpy.data.images.get(PREVIEW.format(i))
        if image is not None:
            bpy.data.images.remove(image)


class DESIGN_SPACE_OT_generate_volumetric(bpy.types.Operator):
    """Generate new shapes of a class from the active volumetric model, with the attribute values ticked in the panel (others take the class's typical values); the same seed makes the same shapes"""

    bl_idname = "design_space.generate_volumetric"
    bl_label = "Generate Volumes"
    bl_options = {'REGISTER', 'UNDO'}

    category: StringProperty(name="Class", description="The class to generate (empty: the model's first class)")
    attributes: StringProperty(name="Attributes", description="Values to ask for, as name=value separated by "
                               "commas (empty: the values ticked in the panel)")
    count: IntProperty(name="Count", description="How many shapes to make", default=4, min=1, max=100)
    seed: IntProperty(name="Seed", description="The same seed makes the same shapes", default=0, min=0)
    variety: FloatProperty(name="Variety", description="How far the shapes stray from the class's typical shape "
                           "(1: as far as the training shapes do; lower keeps them cleaner)", default=0.6, min=0.0,
                           max=3.0, subtype='FACTOR')
    smoothing: IntProperty(name="Smoothing", description="Smoothing passes over the extracted surface (0: the "
                           "raw voxel-grid surface)", default=5, min=0, max=100)
    resolution: EnumProperty(
        name="Resolution", description="The grid an implicit model is decoded at (occupancy models use their own)",
        items=[('32', "32³", "Quick and coarse"), ('64', "64³", "The usual choice"),
               ('128', "128³", "Finer surfaces; about eight times the time")], default='64')

    @reports_errors
    def execute(self, context):
        category = self.category.strip()
        target, made, notes = generate_volumes(context, category, requested_values(context, self.attributes, category),
                                               self.count, self.seed, self.variety, self.smoothing,
                                               resolution=int(self.resolution))
        show_generated_previews(made)
        level = 'WARNING' if notes else 'INFO'
        self.report({level}, f"Generated {len(made)} shapes into '{target.name}'"
                    + (": " + "; ".join(notes) if notes else ""))
        return {'FINISHED'}
