"""What the volumetric operators share: the active volumetric model (occupancy or implicit; loaded once
per file), shapes as occupancy grids, grids as new mesh objects, and an implicit model's signed
distances as clean meshes in the collection's frame."""

from __future__ import annotations

import os

import numpy as np

from .background_jobs import set_quietly
from .mesh_bridge import read_shape
from .model_store import absolute_path, active_volumetric_entry

_loaded: dict = {}  # (path, modification time) -> (model, metadata)
MEMORY_SHARE = 0.5  # a job may take at most this share of the machine's memory
VOXEL_CACHE_BYTES = 256 * 2 ** 20  # the voxel cache's folder is trimmed to this (4 KiB per 32³ grid)


def volume_model_kinds() -> tuple:
    """Every kind of model the Volumes operators use: the occupancy models and the implicit decoder."""
    from ..learning.implicit_decoder import IMPLICIT_KIND
    from ..learning.volumetric import VOLUMETRIC_KINDS

    return tuple(VOLUMETRIC_KINDS) + (IMPLICIT_KIND,)


def active_volume_entry(scene):
    """The active model's entry if it is one of volume_model_kinds() (read from the list: no file is
    opened). model_store.active_volumetric_entry knows the occupancy kinds only."""
    from .model_store import active_model

    entry = active_volumetric_entry(scene)
    if entry is not None:
        return entry
    entry = active_model(scene)
    return entry if entry is not None and entry.kind in volume_model_kinds() else None


def active_volumetric_path(context):
    """(model entry, file path) of the active model, which must be volumetric; no file is opened."""
    entry = active_volume_entry(context.scene)
    if entry is None:
        raise ValueError("Make a volumetric model the active one first (Learn Volumes, or pick one in the model "
                         "list)")
    path = absolute_path(entry.filepath)
    if not path.is_file():
        raise FileNotFoundError(f"'{path}' does not exist (the file of model '{entry.name}'); learn it again "
                                "(Learn Volumes) or load the moved file with Load Model File")
    return entry, path


def load_volumetric_once(path):
    """(model, metadata) of a volumetric model file, loaded once per file version (pure: a job may
    call it off the main thread)."""
    from ..learning.implicit_decoder import IMPLICIT_KIND, load_implicit
    from ..learning.model_files import load_model_file
    from ..learning.volumetric import load_volumetric

    key = (str(path), path.stat().st_mtime)
    if key not in _loaded:
        _loaded.clear()
        kind = load_model_file(path, known_kinds=set(volume_model_kinds())).kind
        _loaded[key] = load_implicit(path) if kind == IMPLICIT_KIND else load_volumetric(path)
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


def complete_implicit(model, metadata, shape, name: str, low, high, region_name: str, category: str | None,
                      progress, should_stop, resolution: int = 64, steps: int = 40):
    """Complete a shape whose part inside the box [low, high] (its own coordinates) is missing, with an
    implicit model: canonical pose (or the collection's frame when the model was trained aligned), the
    signed distances of what is there on the model's grid, the voxels in the box — grown by one
    truncation, since an open cut has no trustworthy sign near it — unknown; the code fitted to the
    rest, decoded at `resolution`³, cleaned, and turned back into the shape's coordinates. Returns
    (mesh, class index, share of the completed volume inside the box), or None once cancelled.
    Pure: runs in a job, off the main thread."""
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
    rotation = np.eye(3)
    if aligned and "box_ratio" in info:
        pose = whole_shape_pose(shape, low, high, info, label)
        moved = pose.apply(shape.vertices)
        moved = type(shape)(shape.name, moved, shape.face_sizes, shape.corner_vertices)
        grid = signed_distance_grid(moved.vertices, moved.triangles, frame, model.truncation, name)
    elif not aligned and model.references is not None:
        # the partial shape's own canonical poses (solid and surface), each turned by the axis rotation
        # that fits the class references best, the best fit kept — as the training shapes were posed,
        # without the fine alignment (against a whole reference it would rescale the cut shape)
        grid, _, pose, rotation, _, _ = align_to_references(shape, frame, model.truncation, model.references,
                                                            label, aligned=False, refine=False)
    else:  # the partial shape's own canonical pose: off when a large part is missing
        moved, pose = canonical_mesh(shape, aligned)
        grid = signed_distance_grid(moved.vertices, moved.triangles, frame, model.truncation, name)
    margin = model.truncation * pose.scale
    in_shape = pose.undo(model.grid_points(r) @ rotation)
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

    field, label = model.complete(grid, ~unknown, vector, steps=steps, resolution=resolution,
                                  should_stop=step_or_stop)
    if should_stop():
        return None
    progress(0.92, "extracting and cleaning the surface")
    if resolution == r:  # complete() kept the known voxels; the surface comes from the whole grid
        field = np.asarray(field)
    mesh, _ = implicit_mesh(model, field, f"{name} completed", label, resolution)
    if mesh is None:
        raise ValueError(f"The completion of '{name}' came out empty; try a box that hides less of it")
    mesh.vertices = pose.undo(mesh.vertices.astype(np.float64) @ rotation).astype(np.float32)
    centres = pose.undo(model.grid_points(resolution) @ rotation)
    inside = np.asarray(field).ravel() < model.surface_level()
    in_box = np.all((centres >= low) & (centres <= high), axis=1)
    return mesh, int(label), float((inside & in_box).sum()) / max(int(inside.sum()), 1)
