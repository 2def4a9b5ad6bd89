"""Completing a cut mesh with an implicit decoder: where what is left sits in a whole shape, and what to add.

A user's Complete Shape gives a mesh with a part cut away and a box marking where. For a model
trained unaligned, what is left is posed by its own canonical pose (which centres and sizes it as if
it were whole), then `place_partial` searches turn, tilt, scale and shift so that it fits as a part of
one of the class's training shapes as the model decodes them, and a code is fitted to the known
voxels. On a grid tight around the shape and the box, in the shape's own axes, what is there has its
own signed distances (`partial_signed_distances`), and of the decoder's guess in the box only the sure
part is added (`sure_additions`: next to what is there). The result is the shape's own faces exactly
as given plus a patch: the closed surface of what is added, grown PATCH_OVERLAP_VOXELS into what is
there so that it overlaps the kept faces at the cut, only its pieces that touch what is there
(`patch_surface`, `with_patch`). The remesh (`keep_faces=False`: one closed surface from the merged
field) is the option for a watertight single surface.

    done = complete_cut_mesh(model, metadata, shape, name, low, high, region_name, category,
                             progress, should_stop, resolution=64, steps=40, keep_faces=True)
    done.mesh, done.label, done.filled, done.note

Why the shape's own faces are kept (held-out roughened, rotated meshes with 30-50% of their longest
side cut away, scored as the mesh voxelised at 32³ against the whole shape, at 48³, 20 steps): remeshing
what is there at 48-64³ loses thin parts (a whole uncut shape made that way scores 0.87-0.98), and the
remesh came out below the cut mesh's own faces on every cut measured. On tests/test_implicit_decoder.py's
model, 8 shapes (chairs, tables, lamps, airplanes): at 30% cut the cut mesh itself 0.740, the remesh
0.648 (with its sure additions 0.652), kept faces + the sure patch 0.742 (one airplane +0.021, the rest
added nothing), + a reach of 8 voxels 0.743, + the whole guess as a patch 0.728; at 40% 0.612, 0.522,
0.612 (nothing sure added), whole guess 0.605 — kept faces never below the cut mesh, on all 16 cuts.
On tests/test_partial_placement.py's model, 12 cuts (4 shapes, chairs, tables, airplanes; 30/40/50%):
0.691 for the cut mesh and for kept faces + the sure patch, 0.476 the remesh (0.481 with its
additions), 0.655 the whole guess as a patch; its sure additions are few (11 voxels per cut at 48³ on
average; on the three airplane cuts that had 24-76 all fell in voxels the cut mesh's own voxelisation
already fills). When nothing is sure, the result is the shape's own faces alone and the note says so.

Before, with the remesh alone (the 16 cuts of tests/test_implicit_decoder.py's model at 48³, 40%
cut): the completion scored about 0.45-0.51 against the 0.64 of the whole's inside outside the box.
Two causes, measured apart: (1) what was there was lost — remade in the model's cube (sized for its
largest class, turned by the placement) with the whole-mesh sign, the known part alone came back at
0.45-0.52 (its inside voxels 0.53-0.95 IoU with the truth); on the grid tight around the shape with
the cut shape's own sign, 0.545 (inside voxels 0.99-1.00; the rest of the gap to 0.64 is the
surface's resampling — what keeping the faces removes); (2) the decoder's guess in the box is mostly
wrong: 20% of its added voxels lay in the true missing part, and no better than 6-45% with the true
placement given, so better placement does not rescue it. Adding the whole guess cost 0.026 on
average (worst -0.34, 30% cuts) to 0.04 (40%); the sure additions (ADD_REACH_VOXELS, SURE_AGREEMENT,
ADD_AT_OWN_LEVEL) never fell below what was left kept alone on that model (16/16 cuts at 30%,
+0.004; at 40% it added nothing: 0.545 both) and on the bench's model (scripts/bench_implicit.py
shapes, five classes incl. vases, 8 per class at 32³) 19 of 20 cuts, mean 0.442 against 0.438,
worst -0.043 (a chair's back plate at the cut thickened by a layer).

Pure numpy (torch inside the model): no bpy; runs in a job, off Blender's main thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import shapespace
from .implicit_decoder import COMPLETION_PRIOR_WEIGHT

PLACEMENT_SCALES = (0.8, 1.0)  # first guesses of the whole's canonical size / what is left's (measured 0.78-1.13)
PLACEMENT_SCALE_RANGE = (0.65, 1.3)  # the search stays within: smaller, thin parts vanish and anything fits
PLACEMENT_STEPS = (np.radians(8.0), 0.1, 0.06)  # first steps: tilt (radians), log scale, shift (cube sizes)
PLACEMENT_SEARCHED = 1  # the best starts that go on to the coordinate search
PLACEMENT_LEVELS = 2  # the coordinate search halves its steps this many times (3 measured no better)


@dataclass
class Placement:
    """Where a partial shape sits in a model's cube: model point = scale · (part point @ turn.T) + shift,
    a part point being the partial shape's own canonical point; grid / known the signed distances of
    what is there and the voxels outside the marked box, on the model's training grid."""

    turn: np.ndarray
    scale: float
    shift: np.ndarray
    grid: np.ndarray
    known: np.ndarray
    score: float
    label: int

    def to_part(self, points) -> np.ndarray:
        return ((np.asarray(points, np.float64) - self.shift) / self.scale) @ self.turn

    def from_part(self, points) -> np.ndarray:
        return self.scale * np.asarray(points, np.float64) @ self.turn.T + self.shift


@dataclass
class CutCompletion:
    """What `complete_cut_mesh` made: the mesh in the shape's own coordinates, the class index, the
    share of the completed volume inside the box, and a sentence on what was added (for the report)."""

    mesh: object  # shapespace.mesh_arrays.MeshArrays
    label: int
    filled: float
    placement_score: float
    note: str


def _trilinear(volume, frame, points) -> np.ndarray:
    """(N, C) trilinear reads of a voxel-centre grid (S, S, S, C) at points (N, 3); outside, the border."""
    s, c = volume.shape[0], volume.shape[-1]
    flat = volume.reshape(-1, c)
    g = np.clip((np.asarray(points, np.float64) - np.asarray(frame.low)) / frame.pitch - 0.5, 0, s - 1)
    i0 = np.minimum(g.astype(np.int64), s - 2)
    t = (g - i0).astype(np.float32)
    base = (i0[:, 0] * s + i0[:, 1]) * s + i0[:, 2]
    out = np.zeros((len(g), c), np.float32)
    for dx in (0, 1):
        wx = t[:, 0] if dx else 1 - t[:, 0]
        for dy in (0, 1):
            wxy = wx * (t[:, 1] if dy else 1 - t[:, 1])
            row = base + (dx * s + dy) * s
            out += (wxy * (1 - t[:, 2]))[:, None] * flat[row] + (wxy * t[:, 2])[:, None] * flat[row + 1]
    return out


def _placed(model, both, frame, pose_scale: float, turn, scale: float, shift) -> tuple[np.ndarray, np.ndarray]:
    """(signed distances (R³,), known (R³,) bool) on the model's training grid of a partial shape placed
    by (turn, scale, shift) (Placement's convention); `both` (S, S, S, 2): its signed distances and
    distances to the box on the part's `frame`."""
    truncation = model.truncation
    at = ((model.grid_points(int(model.frame[4])) - shift) / scale) @ turn
    values = _trilinear(both, frame, at)
    grid = np.clip(scale * values[:, 0], -truncation, truncation)
    known = values[:, 1] * scale / pose_scale >= truncation
    return grid.astype(np.float32), known


def place_partial(model, part, box_distance, frame, pose_scale: float, label=None) -> Placement:
    """The similarity under which a partial shape is best explained as a part of a whole one of the
    model's class: a shape with 40% cut away, posed on its own, is centred and sized as if it were
    whole (its completion came back shifted and too small: IoU 0.32 with the whole, below the 0.61
    of what was left). `part` (S, S, S): the signed distances of what is there around its own
    canonical pose, on `frame` (a cube large enough for the smallest scale); `box_distance` (S, S, S):
    each voxel centre's distance to the marked box in the shape's units (0 inside); `pose_scale`:
    the canonical pose's scale (shape units per canonical unit). The score: the best soft IoU
    (signed_distance.soft_iou), over the known voxels only — outside the box grown by one truncation,
    since an open cut has no trustworthy sign near it — with one of the class's training shapes as
    the model decodes them (`training_grids`). (The linear shape space's fit loss on the known voxels
    was tried first: it preferred the part shrunk to a blob, which anything explains.) Every one of
    the 24 axis turns at PLACEMENT_SCALES, shifted away from the box, then a coordinate search over
    tilt, scale and shift from the best (PLACEMENT_SEARCHED)."""
    axis_rotations = shapespace("canonical_pose").axis_rotations
    axis_angle_to_matrix = shapespace("body_rig").axis_angle_to_matrix
    soft_occupancy = shapespace("signed_distance").soft_occupancy

    r = int(model.frame[4])
    truncation = model.truncation
    members, member_labels = model.training_grids(None if label is None else [int(label)])
    members = soft_occupancy(members, truncation).reshape(len(members), -1)
    away = np.zeros(3)
    inside_box = np.argwhere(box_distance <= 0)
    if len(inside_box):  # the box's centre in the part's frame: the whole extends towards it
        away = frame.from_grid(inside_box.mean(axis=0) + 0.5)
        away = away / max(float(np.linalg.norm(away)), 1e-9)
    low_scale, high_scale = np.log(PLACEMENT_SCALE_RANGE[0]), np.log(PLACEMENT_SCALE_RANGE[1])

    both = np.stack([part, box_distance], axis=-1).astype(np.float32)  # read together: one trilinear pass

    def placed(turn, scale, shift):
        return _placed(model, both, frame, pose_scale, turn, scale, shift + model.centre)

    def score(turn, params):
        if not low_scale <= params[3] <= high_scale:
            return -1.0, 0
        grid, known = placed(axis_angle_to_matrix(params[:3]) @ turn, float(np.exp(params[3])), params[4:])
        if not known.any():
            return -1.0, 0
        soft = soft_occupancy(grid, truncation)[known]
        common = np.minimum(members[:, known], soft).sum(axis=1)
        union = np.maximum(members[:, known], soft).sum(axis=1)
        iou = common / np.maximum(union, 1e-9)
        best = int(np.argmax(iou))
        return float(iou[best]), int(member_labels[best])

    size = float(model.frame[3])
    starts = []
    for turn in axis_rotations():
        for scale in PLACEMENT_SCALES:
            # what is left sits on the side away from the box, by about the part that is missing
            shift = -(1.0 - scale) * 0.25 * size * (turn @ away)
            params = np.concatenate([np.zeros(3), [np.log(scale)], shift])
            starts.append((score(turn, params)[0], turn, params))
    starts.sort(key=lambda start: -start[0])
    best = None
    for value, turn, params in starts[:PLACEMENT_SEARCHED]:
        steps = np.array([PLACEMENT_STEPS[0]] * 3 + [PLACEMENT_STEPS[1]] + [PLACEMENT_STEPS[2] * size] * 3)
        for _ in range(PLACEMENT_LEVELS):
            improved = True
            while improved:
                improved = False
                for j in range(len(params)):
                    for sign in (1.0, -1.0):
                        trial = params.copy()
                        trial[j] += sign * steps[j]
                        trial_value, _ = score(turn, trial)
                        if trial_value > value + 1e-6:
                            params, value, improved = trial, trial_value, True
                            break
            steps = steps / 2
        if best is None or value > best[0]:
            best = (value, turn, params)
    value, turn, params = best
    turn = axis_angle_to_matrix(params[:3]) @ turn
    scale, shift = float(np.exp(params[3])), params[4:] + 0.0
    grid, known = placed(turn, scale, shift)
    _, k = score(turn, np.concatenate([np.zeros(3), params[3:]]))
    return Placement(turn, scale, shift + model.centre, grid.reshape(r, r, r), known.reshape(r, r, r), float(value),
                     int(k))


def whole_shape_pose(shape, low, high, info: dict, label):
    """The aligned pose (centre, scale) the whole shape would have had, from the bounding box of what
    is there, extended into the region box along each axis where the box sticks out on one side only
    (the side the missing part is on) — unless the shape still has geometry inside the box — and the
    training shapes' box-to-pose ratios (of class `label`, or of all classes)."""
    PoseFrame = shapespace("canonical_pose").PoseFrame

    seen_low, seen_high = shape.vertices.min(axis=0).astype(np.float64), shape.vertices.max(axis=0).astype(np.float64)
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    covers = (low <= seen_low) & (high >= seen_high)  # the box spans the shape along this axis
    tolerance = 0.01 * (seen_high - seen_low)
    within = np.all((shape.vertices > low + tolerance) & (shape.vertices < high - tolerance), axis=1)
    if within.mean() > 0.01:  # the geometry in the box is still there (only marked unknown): it is whole
        covers[:] = True
    box_low = np.where(~covers & (low < seen_low), low, seen_low)
    box_high = np.where(~covers & (high > seen_high), high, seen_high)
    ratios, offsets = np.asarray(info["box_ratio"]), np.asarray(info["box_offset"])
    ratio, offset = (ratios.mean(), offsets.mean(axis=0)) if label is None else (ratios[label], offsets[label])
    scale = float(np.linalg.norm(box_high - box_low) / ratio)
    return PoseFrame(np.eye(3), (box_low + box_high) / 2 - offset * scale, scale)


# The decoded guess in the marked region is added only where it grows out of what is there, through at
# most this many output voxels. (48³, 40% cut, the test model's 16 cuts, voxel IoU: all of the guess
# -0.030 on average, -0.125 at worst, its precision 0.20; within 2 voxels of what is there precision
# 0.5-0.97, +0.009; 4 voxels +0.008, 6 +0.006 — the guess gets worse away from what is there.)
ADD_REACH_VOXELS = 4
# ... only when the decoded shape says what is there next to the cut: the IoU of its inside with the
# known inside within AGREEMENT_BAND_VOXELS of the box at least SURE_AGREEMENT (the two cuts the
# reach alone made worse, by 0.005 and 0.010, agreed 0.15 and 0.01; the five it helped most agreed
# 0.16-0.58).
AGREEMENT_BAND_VOXELS = 3
SURE_AGREEMENT = 0.2
# ... and with the added part's surface at the decoder's own zero level: the surface level that keeps
# generated thin parts (implicit_decoder.SURFACE_OFFSET_VOXELS, half a training voxel out) thickened a
# chair's back plate ending at the cut by a layer (-0.127 -> -0.043 for that cut; bench mean +0.0005 ->
# +0.0047 at 4 voxels).
ADD_AT_OWN_LEVEL = True


def partial_signed_distances(vertices, triangles, frame, unknown, truncation: float, name: str = "mesh") -> np.ndarray:
    """(R, R, R) float32 truncated signed distances of a mesh with a part cut away, `unknown` (R, R, R)
    the voxels where its surface is missing (outside there): inside where `voxels.voxelize_partial`
    (the half-rays that never enter the region, the cut capped) or the whole-mesh sign
    (`signed_distance.robust_solid`) says so; the magnitude the exact distance to what is there."""
    sd = shapespace("signed_distance")
    voxelize_partial = shapespace("voxels").voxelize_partial

    vertices = np.asarray(vertices, np.float64).reshape(-1, 3)
    triangles = np.asarray(triangles, np.int64).reshape(-1, 3)
    if len(triangles) == 0:
        raise ValueError(f"'{name}' has no faces; a signed distance needs a surface (add faces or leave it out)")
    unknown = np.asarray(unknown, bool)
    # Either sign alone lost parts of what was there (each errs towards outside on an open cut): of a
    # cut chair's known inside voxels the whole-mesh sign found 2817 of 2851, the partial one 1018;
    # of a cut airplane's 1138 and 1152 of 1167. Both together: inside where either says so.
    inside = (voxelize_partial(vertices, triangles, frame, unknown) | sd.robust_solid(vertices, triangles, frame))
    inside &= ~unknown
    distance = sd.unsigned_distance(frame.points(), vertices, triangles, truncation).reshape(inside.shape)
    return np.where(inside, -distance, distance).astype(np.float32)


@dataclass
class _CutFields:
    """The pieces of a cut mesh's completion before the surface is made (complete_cut_mesh; kept
    apart so that a diagnostic can score each), on one grid in the shape's own coordinates and units."""

    exact: np.ndarray  # (R, R, R) the shape's own signed distances (as a cut shape)
    decoded: np.ndarray  # (R, R, R) the decoded field
    known: np.ndarray  # (R, R, R) bool: outside the box grown by one voxel
    in_box: np.ndarray  # (R, R, R) bool: voxel centres inside the box itself
    frame: object  # shapespace.voxels.GridFrame of the grids
    level: float  # the decoded field's surface level
    truncation: float
    label: int
    placement_score: float


def _cut_fields(model, metadata, shape, name: str, low, high, region_name: str, category, progress, should_stop,
                resolution: int, steps: int, place=None):
    """_CutFields of a cut mesh (see complete_cut_mesh), or None once cancelled. `place`: a stand-in for
    place_partial with its signature (a diagnostic gives the true placement)."""
    sd = shapespace("signed_distance")
    GridFrame = shapespace("voxels").GridFrame

    seen_low, seen_high = shape.vertices.min(axis=0), shape.vertices.max(axis=0)
    if np.any(np.asarray(high) <= seen_low) or np.any(np.asarray(low) >= seen_high):
        raise ValueError(f"'{region_name}' does not overlap '{name}': nothing of it is marked missing; move the box "
                         "over the part that is missing")
    aligned = bool(metadata.get("info", {}).get("aligned", False))
    r = int(model.frame[4])
    frame = GridFrame(tuple(float(x) for x in model.frame[:3]), float(model.frame[3]), r)
    conditions = model.conditions
    label = conditions.classes.index(category) if category in conditions.classes else None
    progress(0.0, "signed distances of the known part")
    info = metadata.get("info", {})
    rotation, to_shape, score = np.eye(3), None, float("nan")  # to_shape: model-cube points -> the shape's own
    if aligned and "box_ratio" in info:
        pose = whole_shape_pose(shape, low, high, info, label)
        moved = pose.apply(shape.vertices)
        moved = type(shape)(shape.name, moved, shape.face_sizes, shape.corner_vertices)
        grid = sd.signed_distance_grid(moved.vertices, moved.triangles, frame, model.truncation, name)
    elif not aligned and model.references is not None:
        # the partial shape's own canonical poses (solid and surface), each turned by the axis rotation
        # that fits the class references best, as the training shapes were posed; then placed as a part
        # of a whole (place_partial: its own pose centres and sizes it as if it were whole)
        _, part_mesh, pose, rotation, _, _ = sd.align_to_references(shape, frame, model.truncation, model.references,
                                                                    label, aligned=False, refine=False)
        smallest = PLACEMENT_SCALE_RANGE[0]
        half = 0.5 * float(model.frame[3]) / smallest
        part_frame = GridFrame((-half,) * 3, 2 * half, min(int(np.ceil(2 * half / frame.pitch)), 2 * r, 64))
        in_shape = pose.undo(part_frame.points() @ rotation)
        outside = np.maximum(np.maximum(np.asarray(low) - in_shape, in_shape - np.asarray(high)), 0.0)
        box_distance = np.sqrt((outside * outside).sum(axis=1)).reshape((part_frame.resolution,) * 3)
        part = partial_signed_distances(part_mesh.vertices, part_mesh.triangles, part_frame, box_distance <= 0,
                                        model.truncation / smallest, name)
        progress(0.05, "placing what is left as a part of a whole shape")
        placement = (place or place_partial)(model, part, box_distance, part_frame, pose.scale, label)
        if should_stop():
            return None
        score = placement.score
        grid, unknown = placement.grid, ~placement.known
        to_shape = lambda points: pose.undo(placement.to_part(points) @ rotation)  # noqa: E731
        from_shape = lambda v: placement.from_part(pose.apply(v) @ rotation.T)  # noqa: E731
        shape_units = pose.scale / placement.scale  # shape units per model unit
    else:  # the partial shape's own canonical pose: off when a large part is missing
        moved, pose = sd.canonical_mesh(shape, aligned)
        grid = sd.signed_distance_grid(moved.vertices, moved.triangles, frame, model.truncation, name)
    if to_shape is None:
        to_shape = lambda points: pose.undo(np.asarray(points, np.float64) @ rotation)  # noqa: E731
        from_shape = lambda v: pose.apply(v) @ rotation.T  # noqa: E731
        shape_units = pose.scale
        margin = model.truncation * pose.scale
        in_shape = to_shape(model.grid_points(r))
        unknown = np.all((in_shape >= np.asarray(low) - margin) & (in_shape <= np.asarray(high) + margin), axis=1)
        unknown = unknown.reshape(r, r, r)
    if unknown.all():
        raise ValueError(f"'{region_name}' hides all of '{name}': nothing is left to complete from")
    # Everything at the output resolution in a box tight around the shape and the marked region, in
    # the shape's own axes and units: what is there keeps its own signed distances (signed as a cut
    # shape, partial_signed_distances) outside the region grown by one voxel, and the decoder is read
    # at the same points inside it. (In the model's cube — sized for its largest class, turned by the
    # placement — what was left came back at IoU 0.52 with the whole, against the 0.63 it has.)
    out = _output_frame(shape, low, high, to_shape(_cube_corners(model)), int(resolution))
    centres = out.points()
    cube = (out.resolution,) * 3
    low_b, high_b = np.asarray(low, np.float64), np.asarray(high, np.float64)
    in_box = np.all((centres >= low_b) & (centres <= high_b), axis=1).reshape(cube)
    known = ~np.all((centres >= low_b - out.pitch) & (centres <= high_b + out.pitch), axis=1).reshape(cube)
    truncation = model.truncation * shape_units
    exact = partial_signed_distances(shape.vertices, shape.triangles, out, ~known, truncation, name)
    # Refused only when nothing is inside at the output grid: a table top thinner than a voxel of the
    # model's coarse grid has no inside voxel there, but its distances still tell the code where it is.
    if not (exact[known] < 0).any():
        raise ValueError(f"What is left of '{name}' outside '{region_name}' encloses no volume (flat, open or all "
                         "inside the box); make the box cover only the missing part, or give the shape thickness "
                         "(Solidify modifier, applied)")
    vector = None
    if label is not None:
        vector = conditions.vectors([label], np.full((1, len(conditions.attribute_names)), np.nan))[0]
    done = [0]

    def step_or_stop():  # called once per refinement step: the step is the progress
        done[0] += 1
        progress(0.1 + 0.8 * min(done[0] / steps, 1.0), f"refining the shape code (step {done[0]}/{steps})")
        return should_stop()

    points, distances = model.grid_samples(grid, ~unknown, seed=0)
    code, vector, label = model.fit_codes(points, distances, vector, steps, prior_weight=COMPLETION_PRIOR_WEIGHT,
                                          should_stop=step_or_stop)
    if should_stop():
        return None
    progress(0.9, "the known part kept as it is")
    in_model = from_shape(centres)
    decoded = model.decode_points(code[None], vector[None], in_model)[0] * shape_units
    beyond = np.any((in_model < np.asarray(model.frame[:3])) | (in_model > np.asarray(model.frame[:3]) + model.frame[3]),
                    axis=1)
    decoded = np.where(beyond, truncation, decoded).reshape(cube).astype(np.float32)  # no shape outside the cube
    return _CutFields(exact, decoded, known, in_box, out, model.surface_level() * shape_units, truncation,
                      int(label), score)


def _cube_corners(model) -> np.ndarray:
    low, size = np.asarray(model.frame[:3], np.float64), float(model.frame[3])
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], np.float64)
    return low + size * corners


def _output_frame(shape, low, high, cube_corners, resolution: int):
    """The output grid: around what is there and the marked box, the box cut to the model's cube (in
    the shape's coordinates: a whole shape fits in it; a user's box may reach far beyond)."""
    frame_around = shapespace("voxels").frame_around

    seen_low, seen_high = shape.vertices.min(axis=0).astype(np.float64), shape.vertices.max(axis=0).astype(np.float64)
    reach_low, reach_high = cube_corners.min(axis=0), cube_corners.max(axis=0)
    box_low = np.clip(np.asarray(low, np.float64), reach_low, reach_high)
    box_high = np.clip(np.asarray(high, np.float64), reach_low, reach_high)
    return frame_around(np.minimum(seen_low, box_low), np.maximum(seen_high, box_high), resolution)


def _merged_field(fields: _CutFields, added=None, own_level: bool = ADD_AT_OWN_LEVEL) -> np.ndarray:
    """The field the surface is extracted from: the shape's own distances (shifted by the surface
    level, where the decoded field has its surface) where known; in the region the decoded field
    where `added` (all of the region when None), outside elsewhere. `own_level`: the added part's
    surface at the decoder's own zero level, not at the surface level generation uses."""
    if added is None:
        region = fields.decoded
    else:
        decoded = fields.decoded + fields.level if own_level else fields.decoded
        region = np.where(added, decoded, np.maximum(decoded, fields.level + fields.truncation))
    return np.where(fields.known, fields.exact + fields.level, region).astype(np.float32)


def _clean_mesh(model, fields: _CutFields, field, name: str):
    clean_surface = shapespace("mesh_cleanup").clean_surface

    pieces = int(model.pieces[fields.label]) if model.pieces is not None else 1
    try:
        return clean_surface(np.asarray(field) - fields.level, fields.frame.low, fields.frame.pitch, pieces,
                             name=name)[0]
    except ValueError:
        return None


def _grown(mask: np.ndarray, voxels: int) -> np.ndarray:
    """The mask grown by `voxels` steps to the 6 neighbours."""
    return shapespace("voxels").grown(mask, voxels)


def cut_agreement(fields: _CutFields, band_voxels: int = AGREEMENT_BAND_VOXELS) -> float:
    """IoU of the decoded inside with what is there, over the known voxels within `band_voxels` of the
    marked region: does the decoded shape say what is there next to the cut?"""
    band = _grown(~fields.known, band_voxels) & fields.known
    there = (fields.exact < 0) & band
    decoded = (fields.decoded < fields.level) & band
    union = int((there | decoded).sum())
    return float((there & decoded).sum() / union) if union else 0.0


def sure_additions(fields: _CutFields, reach_voxels: int | None = ADD_REACH_VOXELS,
                   min_agreement: float = SURE_AGREEMENT, own_level: bool = ADD_AT_OWN_LEVEL) -> np.ndarray:
    """(R, R, R) bool: the decoded inside voxels in the marked region that are added — those joined to
    what is there through at most `reach_voxels` decoded inside voxels (inside at the decoder's own
    zero level with `own_level`), and only when the decoded shape agrees with what is there next to
    the cut (`cut_agreement` ≥ `min_agreement`); all of the guess (at the surface level) when
    `reach_voxels` is None. See ADD_REACH_VOXELS, SURE_AGREEMENT and ADD_AT_OWN_LEVEL for why."""
    if reach_voxels is None:
        return (fields.decoded < fields.level) & ~fields.known
    decoded_inside = (fields.decoded < (0.0 if own_level else fields.level)) & ~fields.known
    if cut_agreement(fields) < min_agreement:
        return np.zeros_like(decoded_inside)
    # grown out of what is there one voxel at a time through the decoded inside: every addition is joined
    # to it (islands near the cut made the cleanup grow the whole surface to join them: -0.13 on a chair)
    reached = (fields.exact < 0) & fields.known
    for _ in range(int(reach_voxels)):
        reached = reached | (_grown(reached, 1) & decoded_inside)
    return reached & decoded_inside


# The patch reaches this many output voxels into what is there, so that it overlaps the kept faces at
# the cut and no gap shows between them (the kept faces and the patch are separate surfaces).
PATCH_OVERLAP_VOXELS = 2


def patch_surface(fields: _CutFields, added: np.ndarray, name: str, overlap_voxels: int = PATCH_OVERLAP_VOXELS,
                  own_level: bool = ADD_AT_OWN_LEVEL):
    """The closed surface of what the model adds (`added`, from `sure_additions`) grown `overlap_voxels`
    into what is there, so that it overlaps the shape's own faces at the cut; extracted from the merged
    field (`_merged_field`) cut to that region, specks dropped, and only the pieces that touch what is
    there kept (within a voxel of its inside). A MeshArrays, or None when nothing is left."""
    clean_surface = shapespace("mesh_cleanup").clean_surface
    surface_pieces = shapespace("mesh_cleanup").surface_pieces

    added = np.asarray(added, bool) & ~fields.known
    if not added.any():
        return None
    there = (fields.exact < 0) & fields.known
    region = added | (_grown(added, overlap_voxels) & there)
    merged = _merged_field(fields, added, own_level)
    # outside the patch's region the field is held half a voxel outside: the patch ends there, inside
    # what is there (hidden by the kept faces), and follows the merged surface everywhere else
    field = np.where(region, merged, np.maximum(merged, fields.level + 0.5 * fields.frame.pitch))
    try:
        patch = clean_surface(field - fields.level, fields.frame.low, fields.frame.pitch, None, name=name)[0]
    except ValueError:
        return None
    piece, _ = surface_pieces(patch)
    triangles = patch.corner_vertices.reshape(-1, 3)
    nearest = np.clip(np.floor(fields.frame.to_grid(patch.vertices)).astype(np.int64), 0, fields.frame.resolution - 1)
    near_there = _grown(there, 1)[nearest[:, 0], nearest[:, 1], nearest[:, 2]]
    touches = np.zeros(int(piece.max()) + 1 if len(piece) else 0, bool)
    touches[piece[near_there[triangles].any(axis=1)]] = True
    if not touches.any():
        return None
    if touches.all():
        return patch
    return shapespace("parts").submesh(patch, touches[piece], name)


def with_patch(shape, patch, name: str):
    """The shape's own faces exactly as given (vertices, face sizes and corners, in order) followed by
    the patch's triangles: one mesh, the patch's vertices after the shape's."""
    MeshArrays = shapespace("mesh_arrays").MeshArrays

    vertices = np.concatenate([np.asarray(shape.vertices, np.float32), patch.vertices])
    return MeshArrays(name, vertices, np.concatenate([shape.face_sizes, patch.face_sizes]),
                      np.concatenate([shape.corner_vertices, patch.corner_vertices + len(shape.vertices)]))


def _no_patch():
    return shapespace("mesh_arrays").MeshArrays("nothing", np.zeros((0, 3), np.float32), [], [])


def complete_cut_mesh(model, metadata, shape, name: str, low, high, region_name: str, category: str | None,
                      progress, should_stop, resolution: int = 64, steps: int = 40,
                      reach_voxels: int | None | str = "AUTO", keep_faces: bool = True) -> CutCompletion | None:
    """Complete a shape whose part inside the box [low, high] (its own coordinates) is missing, with an
    implicit model: canonical pose (or the collection's frame when the model was trained aligned; for
    an unaligned model the partial shape's own pose, then `place_partial` places it as a part of a
    whole), the signed distances of what is there on the model's grid, the voxels in the box — grown
    by one truncation, since an open cut has no trustworthy sign near it — unknown; the code fitted to
    the rest. On a grid (`resolution`³) tight around the shape and the box in the shape's own axes,
    the model adds the decoded inside in the box only where it is sure (`sure_additions`: within
    `reach_voxels` of what is there; None adds all the model's guess; "AUTO": all of it for a model
    trained aligned, whose guess has no placement to get wrong, ADD_REACH_VOXELS for one trained
    unaligned — tests/test_volumetric_operators.py's half chair, aligned: 56% of the result made by the
    model, where the reach left 5% made). With `keep_faces` (the default) the result is the shape's
    own faces exactly as given plus a patch, the closed surface of what the model adds
    (`patch_surface`; when it adds nothing, the shape's faces alone and the note says why); without,
    one closed surface remeshed from the merged field (the shape's own signed distances outside the
    box), cleaned — it loses thin parts (see the module doc). Returns a CutCompletion (its note says
    what was kept, added and left out), or None once cancelled. Pure: runs in a job, off the main
    thread."""
    fields = _cut_fields(model, metadata, shape, name, low, high, region_name, category, progress, should_stop,
                         resolution, steps)
    if fields is None:
        return None
    if reach_voxels == "AUTO":
        reach_voxels = None if bool(metadata.get("info", {}).get("aligned", False)) else ADD_REACH_VOXELS
    kept, dropped = faces_outside(shape, low, high, name) if keep_faces else (shape, 0)
    return completion_from_fields(model, fields, kept, name, region_name, reach_voxels, keep_faces, progress,
                                  dropped=dropped)


def faces_outside(shape, low, high, name: str):
    """(the shape's faces not wholly inside the box [low, high], how many were): what the box marks is
    what the model makes — the same region every model treats as unknown, even where geometry was left
    in it (a part marked to be redone) — so kept faces never double it. The shape itself when none is."""
    corners_in = np.all((shape.vertices >= np.asarray(low, np.float32))
                        & (shape.vertices <= np.asarray(high, np.float32)), axis=1)[shape.corner_vertices]
    inside = np.logical_and.reduceat(corners_in, shape.loop_starts) if shape.face_count else np.zeros(0, bool)
    if not inside.any():
        return shape, 0
    return shapespace("parts").submesh(shape, ~inside, name), int(inside.sum())


def completion_from_fields(model, fields: _CutFields, shape, name: str, region_name: str,
                           reach_voxels: int | None = ADD_REACH_VOXELS, keep_faces: bool = True,
                           progress=lambda fraction, message: None, dropped: int = 0) -> CutCompletion:
    """complete_cut_mesh's last step, from the fields `_cut_fields` made (a test scores several ways of
    making the surface from one fit): what is added (`sure_additions` at `reach_voxels`), then the
    shape's own faces plus the patch (`keep_faces`) or one remeshed surface, and the note."""
    added = sure_additions(fields, reach_voxels)
    own_level = reach_voxels is not None and ADD_AT_OWN_LEVEL
    field = _merged_field(fields, added, own_level=own_level)
    inside = field.ravel() < fields.level
    filled = float((inside & fields.in_box.ravel()).sum()) / max(int(inside.sum()), 1)
    guessed = int(sure_additions(fields, None).sum())
    made = f"the model made {100 * filled:.0f}% of its volume inside '{region_name}'"
    if reach_voxels is not None and guessed != int(added.sum()):
        made += (f", only next to what is there: it was not sure of the rest of its guess "
                 f"({100 * (1 - added.sum() / max(guessed, 1)):.0f}% of it left out; far from what is there its "
                 "guesses were mostly wrong on test shapes)")
    if keep_faces:
        progress(0.92, "extracting and cleaning the patch")
        patch = patch_surface(fields, added, f"{name} patch", own_level=own_level)
        kept = f"the {shape.face_count} faces of '{name}'" + (f" outside '{region_name}'" if dropped else "")
        dropped_note = (f" ({dropped} faces that lay wholly inside '{region_name}' left out: the box marks what "
                        "the model makes)" if dropped else "")
        if patch is not None:
            note = f"{made}: a patch of {patch.face_count} faces added to {kept}, kept as they were{dropped_note}"
            return CutCompletion(with_patch(shape, patch, f"{name} completed"), fields.label, filled,
                                 fields.placement_score, note)
        # Nothing sure to add: the shape's own faces alone, said plainly. (A refusal would fail most cuts
        # of a small unaligned model — 8 of 8 of tests/test_implicit_decoder.py's at 40% — and a remesh
        # of them would only lose thin parts.)
        agreement = cut_agreement(fields)
        if reach_voxels is None:
            why = "its shape has nothing inside the box that touches what is there"
        elif agreement < SURE_AGREEMENT:
            why = (f"none of its guess was sure (its shape agreed {agreement:.2f} with what is there next to the "
                   f"cut, {SURE_AGREEMENT} needed)")
        else:
            why = "none of its guess grows out of what is there at the cut"
        note = (f"the model made 0% of its volume inside '{region_name}': {why}, so the copy is {kept} as they "
                f"were{dropped_note} (a box covering only the missing part, or a model learned from more shapes of "
                "this class, may add more)")
        return CutCompletion(with_patch(shape, _no_patch(), f"{name} completed"), fields.label, 0.0,
                             fields.placement_score, note)
    progress(0.92, "extracting and cleaning the surface")
    mesh = _clean_mesh(model, fields, field, f"{name} completed")
    if mesh is None:
        raise ValueError(f"The completion of '{name}' came out empty; try a box that hides less of it")
    note = f"{made} (remeshed as one closed surface)"
    return CutCompletion(mesh, fields.label, filled, fields.placement_score, note)
