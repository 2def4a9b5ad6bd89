"""What the volumetric operators share: the active volumetric model (occupancy or implicit; loaded once
per file), shapes as occupancy grids, grids as new mesh objects, and an implicit model's signed
distances as clean meshes in the collection's frame."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .background_jobs import set_quietly
from .mesh_bridge import read_shape
from .model_store import absolute_path, active_volumetric_entry
from ..shapespace.body_rig import axis_angle_to_matrix

_loaded: dict = {}  # (path, modification time) -> (model, metadata)
MEMORY_SHARE = 0.5  # a job may take at most this share of the machine's memory
VOXEL_CACHE_BYTES = 256 * 2 ** 20  # the voxel cache's folder is trimmed to this (4 KiB per 32³ grid)


def active_volumetric_path(context):
    """(model entry, file path) of the active model, which must be volumetric; no file is opened."""
    entry = active_volumetric_entry(context.scene)
    if entry is None:
        raise ValueError("Make a volumetric model the active one first (Learn Volumes, or pick one in the model "
                         "list)")
    path = absolute_path(entry.filepath)
    if not path.is_file():
        raise FileNotFoundError(f"'{path}' does not exist (the file of model '{entry.name}'); learn it again "
                                "(Learn Volumes) or load the moved file with Load Model File")
    return entry, path


def load_volumetric_once(path):
    """(model, metadata) of a volumetric model file of any kind, loaded once per file version (pure: a
    job may call it off the main thread)."""
    from ..learning.volumetric import load_volumetric

    key = (str(path), path.stat().st_mtime)
    if key not in _loaded:
        _loaded.clear()
        _loaded[key] = load_volumetric(path)
    return _loaded[key]


def active_volumetric(context):
    """(model entry, model, metadata) of the active model, which must be volumetric."""
    entry, path = active_volumetric_path(context)
    return (entry, *load_volumetric_once(path))


def available_memory() -> int:
    """Physical memory in bytes (8 GiB where the system does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return 8 * 2 ** 30


def check_memory(resolution: int, count: int) -> None:
    """Refuse grids that would not fit: each grid is held about four times over while training."""
    from ..shapespace.voxels import check_grid_fits

    check_grid_fits(resolution, count * 4, int(available_memory() * MEMORY_SHARE))


def voxel_cache():
    """The extension's cache of voxel grids (shapespace.voxel_cache), in its user cache folder: a shape
    voxelised once at a resolution is read back the next time (main thread: it asks Blender where)."""
    from ..shapespace.voxel_cache import VoxelCache
    from .data_sources import cache_dir

    return VoxelCache(cache_dir() / "voxels", VOXEL_CACHE_BYTES)


def mesh_grid(obj, resolution: int, extra_low=None, extra_high=None):
    """(occupancy grid, frame, shape) of a mesh object in its own coordinates, the grid's cube around
    its bounds (and around [extra_low, extra_high] too, when given), through the voxel cache. Empty
    and flat meshes are refused by name."""
    shape = read_shape(obj)
    return (*shape_grid(shape, obj.name, resolution, extra_low, extra_high, cache=voxel_cache()), shape)


def shape_grid(shape, name: str, resolution: int, extra_low=None, extra_high=None, cache=None):
    """(occupancy grid, frame) of a shape read with read_shape — the pure part of mesh_grid, safe
    off the main thread; `name` names the object in refusals; `cache`, a VoxelCache, when given."""
    from ..shapespace.voxels import voxelize

    frame = _shape_frame(shape, name, resolution, extra_low, extra_high)
    if cache is not None:
        grid = cache.voxelize(shape.vertices, shape.triangles, frame)
    else:
        grid = voxelize(shape.vertices, shape.triangles, frame)
    if not grid.any():
        raise ValueError(f"'{name}' encloses no volume at {resolution}³ (flat or thinner than a voxel); "
                         "give it thickness (Solidify modifier, applied) or use a finer resolution")
    return grid.astype(np.float32), frame


def partial_shape_grid(shape, name: str, resolution: int, low, high, region_name: str = "the region"):
    """(occupancy grid, frame, unknown) of a shape whose part inside the box [low, high] is missing:
    the frame's cube around both, `unknown` the voxels whose centres lie in the box, and the grid
    what the rest of the surface says (shapespace.voxels.voxelize_partial: inside where rays that
    never cross the box say so; nothing closed by guesswork), empty in the box. Pure: a job may call
    it off the main thread; refusals name the shape and `region_name`."""
    from ..shapespace.voxels import voxelize_partial

    frame = _shape_frame(shape, name, resolution, low, high)
    unknown = box_voxels(frame, low, high)
    if not unknown.any():
        raise ValueError(f"'{region_name}' covers no voxel of '{name}' at {resolution}³: nothing is missing; "
                         "make the box bigger")
    if unknown.all():
        raise ValueError(f"'{region_name}' hides all of '{name}': nothing is left to complete from")
    grid = voxelize_partial(shape.vertices, shape.triangles, frame, unknown)
    if not grid.any():
        raise ValueError(f"What is left of '{name}' outside '{region_name}' encloses no volume at {resolution}³ "
                         "(flat, thinner than a voxel, or all inside the box); make the box cover only the missing "
                         "part, or give the shape thickness (Solidify modifier, applied)")
    return grid.astype(np.float32), frame, unknown


def box_voxels(frame, low, high) -> np.ndarray:
    """(R, R, R) bool: the voxels of `frame` whose centres lie in the box [low, high]."""
    inside = [(c >= low[a]) & (c <= high[a]) for a, c in enumerate(frame.centres(a) for a in range(3))]
    return inside[0][:, None, None] & inside[1][None, :, None] & inside[2][None, None, :]


def _shape_frame(shape, name: str, resolution: int, extra_low=None, extra_high=None):
    from ..shapespace.voxels import frame_around

    if shape.face_count == 0:
        raise ValueError(f"'{name}' has no faces; there is nothing to voxelise")
    low, high = shape.vertices.min(axis=0), shape.vertices.max(axis=0)
    if extra_low is not None:
        low, high = np.minimum(low, extra_low), np.maximum(high, extra_high)
    return frame_around(low, high, resolution)


def grid_mesh(probabilities: np.ndarray, name: str, *, size: float | None = None, frame=None,
              smoothing: int = 5, min_piece_share: float = 0.02):
    """A clean closed mesh of the likely-occupied voxels (above one half, or lower where the model is
    unsure, so that the volume it expects is kept): in `frame` (the source's own coordinates), or
    `size` across, centred on the origin and standing on z = 0. None if nothing is occupied."""
    from ..shapespace.isosurface import expected_volume_level, extract_surface, remove_small_pieces, taubin_smooth

    resolution = probabilities.shape[0]
    pitch = frame.pitch if frame is not None else size / resolution
    low = frame.low if frame is not None else (0.0, 0.0, 0.0)
    level = expected_volume_level(probabilities)
    if probabilities.max() <= level:
        return None
    mesh = extract_surface(probabilities, level, low=low, pitch=pitch, name=name)
    mesh = remove_small_pieces(mesh, min_piece_share)
    if smoothing:
        mesh = taubin_smooth(mesh, smoothing)
    if frame is None:
        low_corner, high_corner = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
        centre = (low_corner + high_corner) / 2
        mesh.vertices -= np.array([centre[0], centre[1], low_corner[2]], np.float32)
    return mesh


def shape_condition(model, shape, grid) -> tuple[np.ndarray, str]:
    """A shape's condition vector: its class from its `category` property when the model knows it,
    else from the network; its attributes where it has them. Returns (vector, class name)."""
    conditions = model.conditions
    category = shape.attributes.get("category")
    if isinstance(category, str) and category in conditions.classes:
        label = conditions.classes.index(category)
    elif hasattr(model, "classify"):
        label = int(model.classify(grid[None])[0].argmax())
    else:
        label = 0
    row = np.array([float(shape.attributes[a]) if isinstance(shape.attributes.get(a), (int, float, bool)) else np.nan
                    for a in conditions.attribute_names])
    return conditions.vectors([label], row[None])[0], conditions.classes[label]


def parse_attribute_values(text: str) -> dict:
    """'height=1.2, seat_width=0.5' -> {'height': 1.2, 'seat_width': 0.5}; a bad entry is named."""
    values = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        try:
            values[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"Attribute values are written name=number, separated by commas; "
                             f"'{item}' is not") from None
    return values


def fill_volume_attributes(scene, model) -> None:
    """One row per conditioning attribute in the panel, keeping what the user set where names match."""
    rows = scene.design_space.volume_attributes
    kept = {row.name: (row.use, row.value) for row in rows}
    rows.clear()
    conditions = model.conditions
    for i, name in enumerate(conditions.attribute_names):
        use, value = kept.get(name, (False, float(conditions.mean[i])))
        set_quietly(rows.add(), name=name, use=use, value=value, classes=", ".join(
            c for k, c in enumerate(conditions.classes) if not np.isnan(conditions.low[k, i])))


def implicit_frame(model, metadata, label: int, condition_vector) -> tuple[np.ndarray, float]:
    """(3×3 row-vector rotation, scale) taking an implicit model's canonical shapes of class `label`
    back to the training collection's frame (upright like its medoid), the scale from the size model."""
    from ..learning.volumetric import predict_size

    info = metadata.get("info", {})
    rotation = np.asarray(info.get("to_collection", [np.eye(3).tolist()] * (label + 1))[label], np.float64)
    weights = info.get("size_weights")
    scale = float(predict_size(np.asarray(weights), condition_vector)[0]) if weights is not None else 1.0
    return rotation, scale


def implicit_mesh(model, grid, name: str, label: int, resolution: int):
    """(clean mesh in the model's canonical cube, CleanReport) of a decoded signed-distance grid, at
    the model's surface level (half a training voxel out: thin parts kept): one piece unless the class's training shapes have several, no specks (shapespace.mesh_cleanup).
    None (and no report) if the grid has no inside."""
    from ..shapespace.mesh_cleanup import clean_surface

    pieces = int(model.pieces[label]) if model.pieces is not None else 1
    try:
        level = model.surface_level() if hasattr(model, "surface_level") else 0.0
        return clean_surface(np.asarray(grid) - level, model.frame[:3], model.frame[3] / resolution, pieces,
                             name=name)
    except ValueError:
        return None, None


def standing_on_ground(mesh):
    """The mesh moved to stand on z = 0, centred over the origin (as generated occupancy shapes are)."""
    low_corner, high_corner = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    centre = (low_corner + high_corner) / 2
    mesh.vertices = (mesh.vertices - np.array([centre[0], centre[1], low_corner[2]])).astype(np.float32)
    return mesh


def whole_shape_pose(shape, low, high, info: dict, label):
    """The aligned pose (centre, scale) the whole shape would have had, from the bounding box of what
    is there, extended into the region box along each axis where the box sticks out on one side only
    (the side the missing part is on) — unless the shape still has geometry inside the box — and the training shapes' box-to-pose ratios (of class `label`,
    or of all classes)."""
    from ..shapespace.canonical_pose import PoseFrame

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
    from ..shapespace.canonical_pose import axis_rotations
    from ..shapespace.signed_distance import soft_occupancy

    r = int(model.frame[4])
    points = model.grid_points(r) - model.centre
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
        at = ((points - shift) / scale) @ turn
        values = _trilinear(both, frame, at)
        grid = np.clip(scale * values[:, 0], -truncation, truncation)
        known = values[:, 1] * scale / pose_scale >= truncation
        return grid.astype(np.float32), known

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


def complete_implicit(model, metadata, shape, name: str, low, high, region_name: str, category: str | None,
                      progress, should_stop, resolution: int = 64, steps: int = 40):
    """Complete a shape whose part inside the box [low, high] (its own coordinates) is missing, with an
    implicit model: canonical pose (or the collection's frame when the model was trained aligned; for
    an unaligned model the partial shape's own pose, then `place_partial` sizes and shifts it as a
    part of a whole), the signed distances of what is there on the model's grid, the voxels in the
    box — grown by one truncation, since an open cut has no trustworthy sign near it — unknown; the
    code fitted to the rest and decoded at `resolution`³; outside the box (grown by one output
    voxel) the shape's own signed distances at `resolution`³, so what is there comes back as it is;
    cleaned, and turned back into the shape's coordinates. Returns (mesh, class index, share of the
    completed volume inside the box), or None once cancelled. Pure: runs in a job, off the main thread."""
    from ..shapespace.signed_distance import align_to_references, canonical_mesh, signed_distance_grid
    from ..shapespace.voxels import GridFrame

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
    rotation, to_shape = np.eye(3), None  # to_shape: model-cube points -> the shape's own coordinates
    if aligned and "box_ratio" in info:
        pose = whole_shape_pose(shape, low, high, info, label)
        moved = pose.apply(shape.vertices)
        moved = type(shape)(shape.name, moved, shape.face_sizes, shape.corner_vertices)
        grid = signed_distance_grid(moved.vertices, moved.triangles, frame, model.truncation, name)
    elif not aligned and model.references is not None:
        # the partial shape's own canonical poses (solid and surface), each turned by the axis rotation
        # that fits the class references best, as the training shapes were posed; then placed as a part
        # of a whole (place_partial: its own pose centres and sizes it as if it were whole)
        _, part_mesh, pose, rotation, _, _ = align_to_references(shape, frame, model.truncation, model.references,
                                                                 label, aligned=False, refine=False)
        smallest = PLACEMENT_SCALE_RANGE[0]
        half = 0.5 * float(model.frame[3]) / smallest
        part_frame = GridFrame((-half,) * 3, 2 * half, min(int(np.ceil(2 * half / frame.pitch)), 2 * r, 64))
        part = signed_distance_grid(part_mesh.vertices, part_mesh.triangles, part_frame, model.truncation / smallest,
                                    name)
        in_shape = pose.undo(part_frame.points() @ rotation)
        outside = np.maximum(np.maximum(np.asarray(low) - in_shape, in_shape - np.asarray(high)), 0.0)
        box_distance = np.sqrt((outside * outside).sum(axis=1)).reshape(part.shape)
        progress(0.05, "placing what is left as a part of a whole shape")
        placement = place_partial(model, part, box_distance, part_frame, pose.scale, label)
        grid, unknown = placement.grid, ~placement.known
        to_shape = lambda points: pose.undo(placement.to_part(points) @ rotation)  # noqa: E731
        from_shape = lambda v: placement.from_part(pose.apply(v) @ rotation.T)  # noqa: E731
        shape_units = pose.scale / placement.scale  # shape units per model unit
    else:  # the partial shape's own canonical pose: off when a large part is missing
        moved, pose = canonical_mesh(shape, aligned)
        grid = signed_distance_grid(moved.vertices, moved.triangles, frame, model.truncation, name)
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
    if not (grid[~unknown] < 0).any():
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

    decoded, label = model.complete(grid, ~unknown, vector, steps=steps, resolution=resolution, keep_known=False,
                                    should_stop=step_or_stop)
    if should_stop():
        return None
    progress(0.9, "the known part kept as it is")
    # What is there stays as it is, at the output resolution: its own signed distances outside the box
    # grown by one truncation (shifted by the surface level, where the decoded field has its surface),
    # the decoded field inside. Decoded alone, the known part came back at the model's coarse grid:
    # a completion of a cut mesh had IoU 0.35 with the whole even in its true pose, below the 0.60 of
    # what was left.
    fine = GridFrame(frame.low, frame.size, int(resolution))
    exact = signed_distance_grid(from_shape(shape.vertices), shape.triangles, fine, model.truncation, name)
    centres = to_shape(model.grid_points(resolution))
    margin = fine.pitch * shape_units  # a voxel: the winding number's sign holds up to near an open cut
    known_fine = ~np.all((centres >= np.asarray(low) - margin) & (centres <= np.asarray(high) + margin), axis=1)
    field = np.where(known_fine.reshape(exact.shape), exact + model.surface_level(), decoded).astype(np.float32)
    progress(0.92, "extracting and cleaning the surface")
    mesh, _ = implicit_mesh(model, field, f"{name} completed", label, resolution)
    if mesh is None:
        raise ValueError(f"The completion of '{name}' came out empty; try a box that hides less of it")
    mesh.vertices = to_shape(mesh.vertices).astype(np.float32)
    inside = np.asarray(field).ravel() < model.surface_level()
    in_box = np.all((centres >= low) & (centres <= high), axis=1)
    return mesh, int(label), float((inside & in_box).sum()) / max(int(inside.sum()), 1)
