"""Multi-view images of meshes (MVCNN, Su et al. 2015; Wang et al. 2015): shaded, depth, silhouette
and line-drawing images from cameras around a shape, rendered by a vectorised z-buffer in numpy.

Shapes are first normalised: bounding-box centre at the origin, the farthest vertex at distance 1.
Cameras are orthographic, look at the origin, keep +Z up, and see [-1, 1]² (a Blender orthographic
camera with ortho_scale 2 sees the same). Views: `ring_views` (every 30° of azimuth at 30° of
elevation, for upright shapes) or `dodecahedron_views` (20 directions, for shapes of any pose).

Rasterisation: every triangle is expanded to the pixel centres inside its bounding box (a repeat,
no per-triangle Python), barycentric coordinates decide coverage, and the nearest depth per pixel
wins (a lexsort). Line drawings are image-space: depth discontinuities (silhouettes and occluding
contours) plus creases where the surface normal turns sharply. `depth_extremes` is the fast path for
descriptors (shapespace.light_field): silhouette and depth only, many cameras in one pass, the
nearest and farthest surface per pixel (a max/min scatter instead of a sort), in float32.
"""

from __future__ import annotations

import numpy as np

from .mesh_arrays import MeshArrays

LIGHT = np.array([0.3, -0.4, 0.87])  # camera space: from the upper left, towards the viewer
CREASE_COSINE = 0.5  # normals more than 60° apart make a crease line


def normalize(vertices: np.ndarray) -> np.ndarray:
    """Bounding-box centre at the origin, farthest vertex at distance 1."""
    v = np.asarray(vertices, dtype=np.float64)
    centred = v - (v.min(axis=0) + v.max(axis=0)) / 2.0
    radius = float(np.linalg.norm(centred, axis=1).max()) or 1.0
    return centred / radius


def ring_views(count: int = 12, elevation_deg: float = 30.0) -> np.ndarray:
    """(count, 3) unit directions from the origin to the cameras, every 360/count° of azimuth."""
    azimuth = np.radians(np.arange(count) * 360.0 / count)
    elevation = np.radians(elevation_deg)
    return np.stack([np.cos(elevation) * np.sin(azimuth), -np.cos(elevation) * np.cos(azimuth),
                     np.full(count, np.sin(elevation))], axis=1)


def dodecahedron_views() -> np.ndarray:
    """(20, 3) directions to the vertices of a regular dodecahedron."""
    phi = (1 + 5 ** 0.5) / 2
    points = [(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
    for a in (-1, 1):
        for b in (-1, 1):
            points += [(0, a / phi, b * phi), (a / phi, b * phi, 0), (b * phi, 0, a / phi)]
    points = np.array(points, dtype=np.float64)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def camera_frame(direction: np.ndarray) -> np.ndarray:
    """(3, 3) rows: camera right, up and backward (towards the camera) for a camera at `direction`."""
    back = np.asarray(direction, dtype=np.float64) / np.linalg.norm(direction)
    up_hint = np.array([0.0, 0.0, 1.0]) if abs(back[2]) < 0.999 else np.array([0.0, 1.0, 0.0])
    right = np.cross(up_hint, back)
    right /= np.linalg.norm(right)
    return np.stack([right, np.cross(back, right), back])


def _rasterize(points: np.ndarray, triangles: np.ndarray, resolution: int):
    """Nearest-triangle index per pixel (-1: background) and depth (distance behind the image plane)."""
    size = resolution
    pixel = (points[:, :2] + 1.0) * 0.5 * size - 0.5  # pixel centres at integers; x right, y up
    a, b, c = pixel[triangles[:, 0]], pixel[triangles[:, 1]], pixel[triangles[:, 2]]
    low = np.clip(np.ceil(np.minimum(np.minimum(a, b), c)), 0, size - 1).astype(np.int64)
    high = np.clip(np.floor(np.maximum(np.maximum(a, b), c)), 0, size - 1).astype(np.int64)
    span = np.maximum(high - low + 1, 0)
    inside_image = (np.maximum(np.maximum(a, b), c) >= 0).all(axis=1) & (np.minimum(np.minimum(a, b), c) <= size - 1).all(axis=1)
    counts = np.where(inside_image, span[:, 0] * span[:, 1], 0)
    tri = np.repeat(np.arange(len(triangles)), counts)
    offset = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    px = low[tri, 0] + offset % span[tri, 0]
    py = low[tri, 1] + offset // span[tri, 0]
    ab, ac = b[tri] - a[tri], c[tri] - a[tri]
    ap = np.stack([px, py], axis=1) - a[tri]
    det = ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0]
    valid = np.abs(det) > 1e-12
    det = np.where(valid, det, 1.0)
    v = (ap[:, 0] * ac[:, 1] - ap[:, 1] * ac[:, 0]) / det
    w = (ab[:, 0] * ap[:, 1] - ab[:, 1] * ap[:, 0]) / det
    eps = -1e-9
    covered = valid & (v >= eps) & (w >= eps) & (v + w <= 1 - eps)
    tri, px, py, v, w = tri[covered], px[covered], py[covered], v[covered], w[covered]
    z = points[:, 2]
    depth_z = (1 - v - w) * z[triangles[tri, 0]] + v * z[triangles[tri, 1]] + w * z[triangles[tri, 2]]
    index = (size - 1 - py) * size + px  # row 0 at the top
    order = np.lexsort((-depth_z, index))  # per pixel, the largest z (nearest the camera) first
    first = np.ones(len(order), dtype=bool)
    first[1:] = index[order][1:] != index[order][:-1]
    chosen = order[first]
    face = np.full(size * size, -1, dtype=np.int64)
    depth = np.full(size * size, np.inf)
    face[index[chosen]] = tri[chosen]
    depth[index[chosen]] = 1.0 - depth_z[chosen]  # 0 at the near side of the unit sphere, 2 at the far side
    return face.reshape(size, size), depth.reshape(size, size)


def render_views(mesh: MeshArrays, directions=None, resolution: int = 64, normalized: bool = False) -> dict:
    """Images of a mesh from each direction: 'mask' (bool), 'depth' (0 near … 2 far, inf background),
    'shaded' (Lambert, 0 background), 'lines' (1 on lines); each (views, resolution, resolution)."""
    if not 16 <= resolution <= 512:
        raise ValueError(f"View resolution must be between 16 and 512 pixels, not {resolution}")
    if len(mesh.triangles) == 0:  # nothing to draw: say which shape, not an index error deep in the raster
        vertex_count = len(mesh.vertices)
        raise ValueError(f"'{mesh.name}' has no faces ({vertex_count} vertex{'' if vertex_count == 1 else 'es'}); "
                         "its views would be empty: add faces, or leave this object out")
    directions = ring_views() if directions is None else np.asarray(directions, dtype=np.float64)
    vertices = np.asarray(mesh.vertices, dtype=np.float64) if normalized else normalize(mesh.vertices)
    triangles = mesh.triangles
    normals = np.cross(vertices[triangles[:, 1]] - vertices[triangles[:, 0]],
                       vertices[triangles[:, 2]] - vertices[triangles[:, 0]])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-300)
    out = {name: [] for name in ("mask", "depth", "shaded", "lines")}
    for direction in directions:
        frame = camera_frame(direction)
        points = vertices @ frame.T
        face, depth = _rasterize(points, triangles, resolution)
        mask = face >= 0
        camera_normals = normals @ frame.T
        facing = np.where(mask[..., None], camera_normals[np.maximum(face, 0)], 0.0)
        facing *= np.where(facing[..., 2:3] < 0, -1.0, 1.0)  # two-sided: either winding faces the camera
        shaded = np.where(mask, 0.15 + 0.85 * np.clip(facing @ LIGHT / np.linalg.norm(LIGHT), 0.0, 1.0), 0.0)
        out["mask"].append(mask)
        out["depth"].append(depth)
        out["shaded"].append(shaded)
        out["lines"].append(_lines(mask, np.where(mask, depth, 3.0), facing, 4.0 / resolution))
    return {name: np.stack(images) for name, images in out.items()}


def _lines(mask, depth, normals, depth_step) -> np.ndarray:
    """Silhouette and occluding contours (depth jumps) and creases (normals turning) as a 0/1 image."""
    lines = np.zeros(mask.shape, dtype=bool)
    for axis in (0, 1):
        jump = np.abs(np.diff(depth, axis=axis)) > depth_step
        turn = (normals[1:] * normals[:-1]).sum(-1) if axis == 0 else (normals[:, 1:] * normals[:, :-1]).sum(-1)
        both = (mask[1:] & mask[:-1]) if axis == 0 else (mask[:, 1:] & mask[:, :-1])
        edge = jump | (both & (turn < CREASE_COSINE))
        if axis == 0:
            lines[1:] |= edge
        else:
            lines[:, 1:] |= edge
    return lines.astype(np.float32)


def depth_extremes(vertices: np.ndarray, triangles: np.ndarray, frames: np.ndarray, resolution: int):
    """Nearest and farthest surface per pixel for many cameras at once (silhouette and depth only,
    no shading: the fast path for view descriptors). `vertices` (V, 3) in the cameras' units: each
    orthographic camera sees camera-space x, y in [-1, 1]² (what lies outside is cut off);
    `frames` (K, 3, 3) camera frames (rows right, up, backward; see camera_frame). Memory grows
    with triangles × cameras (about 100 bytes each): pass fewer frames at a time for huge meshes.
    Returns (near_z, far_z), each (K, resolution, resolution) float32: the largest and smallest
    camera-space z per pixel (+1 nearest the camera, -1 farthest), NaN where no surface is.
    The far image is what the opposite camera sees nearest, mirrored left-right, so one raster
    serves a pair of antipodal views."""
    size = int(resolution)
    frames = np.asarray(frames, dtype=np.float64)
    count = len(frames)
    # float32 and one flat array per coordinate: this is memory-bound work on (triangles × views)
    points = (np.asarray(vertices, dtype=np.float64) @ frames.reshape(-1, 3).T).reshape(-1, count, 3)
    x = ((points[..., 0] + 1.0) * (0.5 * size) - 0.5).astype(np.float32)  # pixel centres at integers
    y = ((points[..., 1] + 1.0) * (0.5 * size) - 0.5).astype(np.float32)  # x right, y up
    z = points[..., 2].astype(np.float32)
    corners = [triangles[:, i] for i in range(3)]
    ax, bx, cx = (x[i].reshape(-1) for i in corners)  # (T·K,), view fastest
    ay, by, cy = (y[i].reshape(-1) for i in corners)
    low_x = np.maximum(np.ceil(np.minimum(np.minimum(ax, bx), cx)), 0).astype(np.int32)
    low_y = np.maximum(np.ceil(np.minimum(np.minimum(ay, by), cy)), 0).astype(np.int32)
    width = np.maximum(np.minimum(np.floor(np.maximum(np.maximum(ax, bx), cx)), size - 1).astype(np.int32) - low_x + 1, 0)
    height = np.maximum(np.minimum(np.floor(np.maximum(np.maximum(ay, by), cy)), size - 1).astype(np.int32) - low_y + 1, 0)
    counts = width * height
    drawn = np.flatnonzero(counts)
    low_x, low_y, width, counts = low_x[drawn], low_y[drawn], width[drawn], counts[drawn]
    ax, bx, cx, ay, by, cy = ax[drawn], bx[drawn], cx[drawn], ay[drawn], by[drawn], cy[drawn]
    az, bz, cz = (z[i].reshape(-1)[drawn] for i in corners)
    # barycentric coordinates and depth are affine in the pixel position (orthographic cameras):
    # per triangle value(px, py) = k0 + kx·px + ky·py, so each candidate pixel needs one row gather
    abx, aby, acx, acy = bx - ax, by - ay, cx - ax, cy - ay
    det = abx * acy - aby * acx
    keep = np.abs(det) > 1e-12
    inverse = np.where(keep, 1.0, 0.0).astype(np.float32) / np.where(keep, det, 1.0)
    barycentric = np.empty((len(drawn), 6), dtype=np.float32)
    vx, vy, wx, wy = acy * inverse, -acx * inverse, -aby * inverse, abx * inverse
    barycentric[:, 0] = -(ax * vx + ay * vy) - np.where(keep, 0.0, 2.0)  # degenerate: never inside
    barycentric[:, 1], barycentric[:, 2] = vx, vy
    barycentric[:, 3] = -(ax * wx + ay * wy)
    barycentric[:, 4], barycentric[:, 5] = wx, wy
    depth_terms = np.stack([az, bz - az, cz - az], axis=1)  # gathered only for covered pixels
    candidate = np.repeat(np.arange(len(drawn), dtype=np.int32), counts)
    offset = np.arange(len(candidate), dtype=np.int32) - np.repeat((np.cumsum(counts) - counts).astype(np.int32), counts)
    # the pixel of each candidate in float32 (exact for these small integers): integer // and % are
    # slow in numpy, and int32 × float32 would promote everything to float64
    step = width.astype(np.float32)[candidate]
    offset = offset.astype(np.float32)
    row = np.floor((offset + 0.5) / step)
    fx = low_x.astype(np.float32)[candidate] + (offset - row * step)
    fy = low_y.astype(np.float32)[candidate] + row
    k = np.take(barycentric, candidate, axis=0)  # row gathers: take is several times faster than [ ]
    v = k[:, 0] + k[:, 1] * fx + k[:, 2] * fy
    w = k[:, 3] + k[:, 4] * fx + k[:, 5] * fy
    covered = np.flatnonzero((v >= -1e-6) & (w >= -1e-6) & (v + w <= 1 + 1e-6))
    v, w, candidate = v[covered], w[covered], candidate[covered]
    px, py = fx[covered].astype(np.int64), fy[covered].astype(np.int64)
    k = np.take(depth_terms, candidate, axis=0)
    depth = k[:, 0] + v * k[:, 1] + w * k[:, 2]
    index = (drawn[candidate] % count) * (size * size) + (size - 1 - py) * size + px  # row 0 at the top
    # the buffers share depth's dtype: mixed dtypes push ufunc.at onto a path ~100× slower
    near = np.full(count * size * size, -np.inf, dtype=np.float32)
    far = np.full(count * size * size, np.inf, dtype=np.float32)
    np.maximum.at(near, index, depth)
    np.minimum.at(far, index, depth)
    near[np.isinf(near)] = np.nan
    far[np.isinf(far)] = np.nan
    shape = (count, size, size)
    return near.reshape(shape), far.reshape(shape)
