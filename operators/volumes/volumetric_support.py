"""What the volumetric operators share: the active volumetric model (occupancy or implicit; loaded once
per file), shapes as occupancy grids, grids as new mesh objects, and an implicit model's signed
distances as clean meshes in the collection's frame."""

from __future__ import annotations

import os

import numpy as np

from ..background_jobs import set_quietly
from ..mesh_bridge import read_shape
from ..model_store import absolute_path, active_volumetric_entry
from ...learning.partial_placement import complete_cut_mesh

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
    from ...learning.volumetric import load_volumetric

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
    from ...shapespace.voxels import check_grid_fits

    check_grid_fits(resolution, count * 4, int(available_memory() * MEMORY_SHARE))


def voxel_cache():
    """The extension's cache of voxel grids (shapespace.voxel_cache), in its user cache folder: a shape
    voxelised once at a resolution is read back the next time (main thread: it asks Blender where)."""
    from ...shapespace.voxel_cache import VoxelCache
    from ..data_sources import cache_dir

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
    from ...shapespace.voxels import voxelize

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
    from ...shapespace.voxels import voxelize_partial

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
    from ...shapespace.voxels import frame_around

    if shape.face_count == 0:
        raise ValueError(f"'{name}' has no faces; there is nothing to voxelise")
    low, high = shape.vertices.min(axis=0), shape.vertices.max(axis=0)
    if extra_low is not None:
        low, high = np.minimum(low, extra_low), np.maximum(high, extra_high)
    return frame_around(low, high, resolution)


def grid_mesh(probabilities: np.ndarray, name: str, *, size: float | None = None, frame=None,
              smoothing: int = 5, pieces: int | None = 1):
    """A clean closed mesh of the likely-occupied voxels (above one half, or lower where the model is
    unsure, so that the volume it expects is kept): specks dropped and at most `pieces` pieces kept
    (the class's typical count, `model.pieces`; None keeps every significant piece), a leg the grid
    barely separates from its seat joined to it rather than left loose. In `frame` (the source's own
    coordinates), or `size` across, centred on the origin and standing on z = 0. None if nothing is
    occupied."""
    from ...learning.generation_checks import occupancy_signed_grid
    from ...shapespace.isosurface import expected_volume_level, taubin_smooth
    from ...shapespace.mesh_cleanup import clean_surface

    resolution = probabilities.shape[0]
    pitch = frame.pitch if frame is not None else size / resolution
    low = frame.low if frame is not None else (0.0, 0.0, 0.0)
    level = expected_volume_level(probabilities)
    if probabilities.max() <= level:
        return None
    # (32 VAE samples at 32³: one piece 0.03 -> 1.00, 0.8% of the volume dropped on average, 4.7% at most)
    mesh, _ = clean_surface(occupancy_signed_grid(probabilities, pitch, level), low, pitch, pieces, name=name)
    if smoothing:
        mesh = taubin_smooth(mesh, smoothing)
    if frame is None:
        low_corner, high_corner = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
        centre = (low_corner + high_corner) / 2
        mesh.vertices -= np.array([centre[0], centre[1], low_corner[2]], np.float32)
    return mesh


def class_piece_count(model, label) -> int | None:
    """How many pieces a generated or completed shape of class `label` keeps: the count the model
    measured on its training shapes; None (every significant piece) for a model file written before
    it was measured, or an unknown class."""
    pieces = getattr(model, "pieces", None)
    if pieces is None or label is None or not 0 <= int(label) < len(pieces):
        return None
    return int(pieces[int(label)])


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
    from ...learning.volumetric import predict_size

    info = metadata.get("info", {})
    rotation = np.asarray(info.get("to_collection", [np.eye(3).tolist()] * (label + 1))[label], np.float64)
    weights = info.get("size_weights")
    scale = float(predict_size(np.asarray(weights), condition_vector)[0]) if weights is not None else 1.0
    return rotation, scale


def implicit_mesh(model, grid, name: str, label: int, resolution: int):
    """(clean mesh in the model's canonical cube, CleanReport) of a decoded signed-distance grid, at
    the model's surface level (half a training voxel out: thin parts kept): one piece unless the class's training shapes have several, no specks (shapespace.mesh_cleanup).
    None (and no report) if the grid has no inside."""
    from ...shapespace.mesh_cleanup import clean_surface

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


def complete_implicit(model, metadata, shape, name: str, low, high, region_name: str, category: str | None,
                      progress, should_stop, resolution: int = 64, steps: int = 40, keep_faces: bool = True):
    """Complete a shape whose part inside the box [low, high] (its own coordinates) is missing, with an
    implicit model (learning.partial_placement.complete_cut_mesh: pose, placement as a part of a whole,
    the code fitted to what is there; with `keep_faces` the shape's own faces as they are plus a patch
    of what the model adds, else one closed surface remeshed at `resolution`). Returns (mesh, class
    index, share of the completed volume inside the box, a note on what was kept and added for the
    report), or None once cancelled. Pure: runs in a job."""
    done = complete_cut_mesh(model, metadata, shape, name, low, high, region_name, category, progress, should_stop,
                             resolution=resolution, steps=steps, keep_faces=keep_faces)
    return None if done is None else (done.mesh, done.label, done.filled, done.note)
