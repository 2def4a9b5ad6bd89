"""Learn a PCA shape space (Allen et al. 2003) from a collection and write it into Blender as the
mean mesh with one shape key per principal component.

Shapes that share one topology are used as they are (vertex i ↔ vertex i); shapes of any topology
are first brought into correspondence by fitting a template mesh to each (a background job with
progress and Cancel, since it takes a second or two per shape).
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np
from bpy.props import EnumProperty, FloatProperty, IntProperty, StringProperty

from .background_jobs import Job, Progress, runner, start_and_report
from .image_bridge import write_image
from .mesh_bridge import (SceneWriter, collection_objects, read_collection, read_markers, read_shape,
                          set_custom_properties, shape_roots, unapplied_transform, write_shape_keys)
from .model_store import add_model_entry, new_model_path, stored_path
from .operator_support import reports_errors

KEY_SIGMAS = 3.0  # a component's shape key at value 1 is the mean moved by 3 standard deviations
KEY_RANGE = 2.0  # keys go from -2 to 2 (±6σ), so attribute sliders have room
OUTPUT_COLLECTION = "Design Space Shape Spaces"
VARIANCE_IMAGE = "Design Space Variance Explained"


def input_notes(collection, shapes=()) -> list[str]:
    """What the user should know about how the shapes were read: unapplied transforms, modifiers,
    degenerate faces."""
    from ..shapespace.primitives import face_areas

    notes = []
    degenerate = [s.name for s in shapes if s.face_count and face_areas(s).min() <= 1e-12]
    if degenerate:
        notes.append(f"{len(degenerate)} shapes ('{degenerate[0]}'…) have faces without area (Mesh > Clean Up > "
                     "Merge by Distance fixes most); they were used as they are")
    roots = shape_roots(collection_objects(collection))
    turned = [r.name for r in roots if unapplied_transform(r)]
    if turned:
        notes.append(f"{len(turned)} shapes ('{turned[0]}'…) have an unapplied rotation or scale: their local "
                     "coordinates were used (Object > Apply > Rotation & Scale to learn them as seen)")
    modified = [r.name for r in roots if getattr(r, "modifiers", None) and len(r.modifiers)]
    if modified:
        notes.append(f"{len(modified)} shapes ('{modified[0]}'…) have modifiers: their meshes without modifiers "
                     "were used (apply the modifiers to learn them as seen)")
    return notes


def write_shape_space(context, collection_name: str, space, template, shape_names, coefficients, *,
                      alignment: str = 'NONE', correspondence: str = "topology", residuals=None):
    """Save the model file and write the mean mesh with one shape key per component."""
    from ..learning.shape_space import save_shape_space
    from ..learning.training_plot import write_png
    from ..shapespace.mesh_arrays import MeshArrays

    name = f"{collection_name} Shape Space"
    path = new_model_path(name)
    save_shape_space(path, space, template.face_sizes, template.corner_vertices, collection=collection_name,
                     shape_names=shape_names, alignment=alignment.lower(), coefficients=coefficients,
                     correspondence=correspondence, residuals=residuals)
    try:
        with SceneWriter() as writer:
            target = writer.collection(OUTPUT_COLLECTION)
            mean = MeshArrays(name, space.mean.reshape(-1, 3), template.face_sizes, template.corner_vertices,
                              face_parts=template.face_parts, part_labels=template.part_labels)
            obj = writer.mesh_object(mean, target, color_parts=True)
            keys = {}
            for i, ratio in enumerate(space.explained_ratio):
                offset = KEY_SIGMAS * space.standard_deviations[i] * space.components[i]
                keys[f"PC{i + 1} ({100 * ratio:.1f}%)"] = (space.mean + offset).reshape(-1, 3)
            for block in write_shape_keys(obj, keys):
                block.slider_min, block.slider_max = -KEY_RANGE, KEY_RANGE
            set_custom_properties(obj, {"design_space_model": stored_path(path), "design_space_kind": "shape_space",
                                        "shape_space_collection": collection_name})
            picture = variance_picture(space)
            write_image(VARIANCE_IMAGE, picture, keep=True)
            write_png(path.with_suffix(".variance.png"), picture)
    except Exception:
        path.unlink(missing_ok=True)  # no model file without its object
        raise
    metrics = f"{space.k} components, {100 * space.explained_ratio.sum():.1f}% of the variance"
    if residuals is not None and len(residuals):
        metrics += f", template fit {100 * float(np.mean(residuals)):.2f}% of the size"
    add_model_entry(context.scene, name, "shape_space", path, collection_name, "", metrics)
    return obj


def variance_picture(space):
    """Cumulative share of the variance explained against the number of components."""
    from ..learning.training_plot import plot_curves

    cumulative = 100.0 * np.cumsum(space.explained_ratio)
    return plot_curves({"epoch": np.arange(1, space.k + 1, dtype=np.float64), "train_loss": cumulative,
                        "val_loss": [None] * space.k}, 320, 240, legend=False,
                       mark_best=False)


def check_component_count(k, count):
    if k is not None and k > count - 1:
        raise ValueError(f"{k} components asked for, but {count} shapes give at most {count - 1}; "
                         "lower the count or add shapes")


def learn_shape_space(context, collection, alignment: str, k: int | None, variance: float | None):
    """Same-topology shapes: fit the space, save its model file, write the object.
    Returns (object, space, notes on how the shapes were read)."""
    from ..learning.shape_space import fit_shape_space
    from ..shapespace.correspondence import procrustes_align, stack_same_topology

    shapes = read_collection(collection)
    if len(shapes) < 3:
        raise ValueError(f"'{collection.name}' holds {len(shapes)} shape{'' if len(shapes) == 1 else 's'}; a shape "
                         f"space needs at least 3: add shapes to '{collection.name}'")
    stacked = stack_same_topology(shapes)
    check_component_count(k, len(shapes))
    if alignment != 'NONE':
        stacked, *_ = procrustes_align(stacked, scaling=alignment == 'SIMILARITY')
    names = [s.name for s in shapes]
    space = fit_shape_space(stacked, k=k, variance=variance, names=names)
    obj = write_shape_space(context, collection.name, space, shapes[0], names, space.project(stacked),
                            alignment=alignment)
    return obj, space, input_notes(collection, shapes)


@dataclass
class FitOutcome:
    vertices: list  # fitted template positions per kept shape
    names: list
    residuals: list  # residual / diagonal per kept shape
    refused: list  # (name, residual ratio) of shapes that did not fit
    cancelled: bool = False


class TemplateFitJob(Job):
    """Fits the template to every shape off the main thread, then learns the space on it."""

    def __init__(self, collection_name, template, shapes, markers, settings, max_residual, alignment, k, variance,
                 notes):
        self.label = f"Fit template to '{collection_name}'"
        self.push_undo = True
        self.collection_name, self.template, self.shapes, self.markers = collection_name, template, shapes, markers
        self.settings, self.max_residual = settings, max_residual
        self.alignment, self.k, self.variance, self.notes = alignment, k, variance, notes

    def work(self, report, should_stop):
        from ..shapespace.template_fitting import fit_template

        outcome = FitOutcome([], [], [], [])
        for i, shape in enumerate(self.shapes):
            if should_stop():
                outcome.cancelled = True
                return outcome
            template_markers, target_markers = self.markers[i]
            try:
                fit = fit_template(self.template, shape, self.settings, template_markers, target_markers)
            except ValueError as error:  # e.g. a shape without surface: left out, by name
                outcome.refused.append((shape.name, float("inf")))
                print(f"[Design Space] '{shape.name}' was left out: {error}")
                continue
            if fit.residual_ratio > self.max_residual:
                outcome.refused.append((shape.name, fit.residual_ratio))
            else:
                outcome.vertices.append(fit.vertices)
                outcome.names.append(shape.name)
                outcome.residuals.append(fit.residual_ratio)
            line = f"fitted {i + 1}/{len(self.shapes)}: '{shape.name}' residual {100 * fit.residual_ratio:.2f}%"
            report(Progress((i + 1) / len(self.shapes), line, {"line": line}))
        return outcome

    def apply(self, context, outcome: FitOutcome):
        from ..learning.shape_space import fit_shape_space
        from ..shapespace.correspondence import procrustes_align

        refused = ", ".join(f"'{n}' ({100 * r:.1f}%)" if np.isfinite(r) else f"'{n}' (no surface)"
                            for n, r in outcome.refused)
        if len(outcome.vertices) < 3:
            raise ValueError(f"Only {len(outcome.vertices)} shapes fit the template within "
                             f"{100 * self.max_residual:.1f}% of their size (did not fit: {refused}); "
                             "pick a template more like the shapes, add markers, or raise the limit")
        check_component_count(self.k, len(outcome.vertices))
        stacked = np.stack(outcome.vertices)
        if self.alignment != 'NONE':
            stacked, *_ = procrustes_align(stacked, scaling=self.alignment == 'SIMILARITY')
        space = fit_shape_space(stacked, k=self.k, variance=self.variance, names=outcome.names)
        obj = write_shape_space(context, self.collection_name, space, self.template, outcome.names,
                                space.project(stacked), alignment=self.alignment, correspondence="template",
                                residuals=outcome.residuals)
        message = (f"Learned '{obj.name}' from {len(outcome.names)} fitted shapes (mean residual "
                   f"{100 * np.mean(outcome.residuals):.2f}% of their size): {space.k} components explain "
                   f"{100 * space.explained_ratio.sum():.1f}% of the variance")
        if refused:
            return 'WARNING', f"{message}; left out, did not fit: {refused}"
        return ('WARNING' if self.notes else 'INFO'), "; ".join([message] + self.notes)

    def discard(self, reason: str) -> None:
        pass  # nothing is written before apply


def start_template_fit(operator, context, collection, template_obj, alignment, k, variance, max_residual):
    from ..shapespace.template_fitting import FitSettings, nearest_points

    roots = shape_roots(collection_objects(collection))
    shapes = read_collection(collection)
    if template_obj is None:
        template_obj = next((r for r in roots if r.type == 'MESH'), None)
        if template_obj is None:  # every shape is an empty (or other object) holding mesh parts
            raise ValueError(f"Collection '{collection.name}' has no top-level mesh to fit as the template (its "
                             f"shapes are {roots[0].type.lower()} objects holding parts); choose a Template mesh "
                             "in the panel")
    template = read_shape(template_obj, children=[c for c in template_obj.children_recursive])
    template.name = template_obj.name
    template_markers = read_markers(template_obj)
    marker_vertices = {}
    if template_markers:
        names = sorted(template_markers)
        index, _ = nearest_points(np.array([template_markers[n] for n in names]), template.vertices)
        marker_vertices = dict(zip(names, index))
    markers = []
    for root in roots:
        found = {n: p for n, p in read_markers(root).items() if n in marker_vertices}
        names = sorted(found)
        markers.append(([marker_vertices[n] for n in names], np.array([found[n] for n in names]).reshape(-1, 3))
                       if names else (None, None))
    if len(shapes) < 3:
        raise ValueError(f"'{collection.name}' holds {len(shapes)} shape{'' if len(shapes) == 1 else 's'}; a shape "
                         f"space needs at least 3: add shapes to '{collection.name}'")
    check_component_count(k, len(shapes))
    job = TemplateFitJob(collection.name, template, shapes, markers, FitSettings(), max_residual, alignment, k,
                         variance, input_notes(collection, shapes))
    start_and_report(operator, job, context)


class DESIGN_SPACE_OT_learn_shape_space(bpy.types.Operator):
    """Learn a space of plausible shapes (PCA) from the training collection; writes the mean shape with one shape key per component. Shapes of different topology are first fitted with a template mesh"""

    bl_idname = "design_space.learn_shape_space"
    bl_label = "Learn Shape Space"
    bl_options = {'REGISTER', 'UNDO'}

    correspondence: EnumProperty(
        name="Correspondence", description="How vertices of different shapes are matched",
        items=[('TOPOLOGY', "Shared Topology", "The shapes share one mesh: vertex i matches vertex i"),
               ('TEMPLATE', "Fit Template", "Deform a template mesh onto every shape (any topology; runs in the "
                                            "background, a second or two per shape)")],
        default='TOPOLOGY')
    template: StringProperty(name="Template", description="Mesh object fitted to every shape (empty: the first "
                             "shape). Child empties of the template and of the shapes with the same names are "
                             "markers that must meet")
    max_residual: FloatProperty(name="Max Residual", description="Shapes whose fitted template stays further than "
                                "this share of their bounding-box diagonal from them are left out, by name",
                                default=0.02, min=0.001, max=0.5, subtype='FACTOR', precision=3)
    alignment: EnumProperty(
        name="Alignment", description="How the shapes are aligned before learning",
        items=[('NONE', "None", "Use the shapes where they are (their local coordinates)"),
               ('RIGID', "Rigid", "Remove rotation and translation differences (Procrustes)"),
               ('SIMILARITY', "Similarity", "Also remove size differences")],
        default='NONE')
    component_mode: EnumProperty(
        name="Components", description="How many principal components to keep",
        items=[('VARIANCE', "By Variance", "As many as explain the chosen share of the variance"),
               ('COUNT', "By Count", "A fixed number")],
        default='VARIANCE')
    components: IntProperty(name="Count", description="Number of components to keep", default=8, min=1, max=500)
    variance: FloatProperty(name="Variance", description="Share of the shape variance to explain", default=0.95,
                            min=0.05, max=1.0, subtype='FACTOR')

    @classmethod
    def poll(cls, context):
        return not runner.running

    @reports_errors
    def execute(self, context):
        collection = context.scene.design_space.training_collection
        by_count = self.component_mode == 'COUNT'
        k, variance = (self.components, None) if by_count else (None, self.variance)
        if self.correspondence == 'TEMPLATE':
            template = context.scene.design_space.shape_template
            if self.template.strip():
                template = bpy.data.objects.get(self.template.strip())
                if template is None or template.type != 'MESH':
                    raise ValueError(f"Template '{self.template.strip()}' is not a mesh object in this file; "
                                     "pick a mesh, or leave it empty to use the first shape")
            if collection is None:
                raise ValueError("Pick a training collection in the Design Space panel first")
            start_template_fit(self, context, collection, template, self.alignment, k, variance, self.max_residual)
            return {'FINISHED'}
        obj, space, notes = learn_shape_space(context, collection, self.alignment, k, variance)
        self.report({'WARNING' if notes else 'INFO'}, "; ".join(
            [f"Learned '{obj.name}': {space.k} components explain {100 * space.explained_ratio.sum():.1f}% "
             "of the variance"] + notes))
        return {'FINISHED'}
