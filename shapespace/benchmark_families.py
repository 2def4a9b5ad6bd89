"""More procedural object families, for the hard development benchmark (shapespace.hard_benchmark).

Twenty families beyond shapespace.procedural's five, BENCHMARK_FAMILIES, each with several sub-styles
and its proportions drawn from an rng, so that with chair/table/lamp/airplane/vase and MakeHuman bodies
the benchmark has 26 classes. Some pairs are confusable on purpose, as real categories are: mug and
cup, stool and table, bench and sofa, bottle and vase, car and truck, mushroom and lamp, bowl and cup.

    make_benchmark_shape(family, seed, name=None) -> MeshArrays

Conventions (as in shapespace.procedural): metres, Z up, standing on z = 0, real-world sizes (a mug
is 8-12 cm tall, a house 6-12 m wide). Every shape is a set of closed, outward-wound primitives
(shapespace.primitives), so the whole mesh is a closed 2-manifold made of touching or overlapping
pieces; 200-3000 vertices. Parts are labelled (face_parts) with words such as "body", "handle",
"wheel". ``attributes`` = {"category": family, "style": sub-style}. A shape depends only on
(family, seed).
"""

from __future__ import annotations

import numpy as np

from .mesh_arrays import MeshArrays, concatenate_parts
from .procedural import _ease_profile
from .primitives import box, circular_sections, cylinder, ellipsoid, loft, revolve, tapered_box, wing

__all__ = ["BENCHMARK_FAMILIES", "make_benchmark_shape"]

BENCHMARK_FAMILIES = ("mug", "cup", "bottle", "bowl", "stool", "bench", "sofa", "bed", "bookshelf", "car",
                      "truck", "boat", "guitar", "rocket", "tree", "house", "monitor", "sword", "ladder",
                      "mushroom")


def make_benchmark_shape(family: str, seed: int, name: str | None = None) -> MeshArrays:
    """One shape of `family` (one of BENCHMARK_FAMILIES) drawn from numpy's default_rng(seed)."""
    if family not in _BUILDERS:
        raise ValueError(f"unknown benchmark family {family!r}; expected one of {BENCHMARK_FAMILIES}")
    rng = np.random.default_rng(int(seed))
    parts: list[tuple[str, MeshArrays]] = []
    style = _BUILDERS[family](rng, parts)
    mesh = concatenate_parts(name or f"{family}_{int(seed):03d}", parts,
                             attributes={"category": family, "style": style})
    mesh.vertices[:, 2] -= mesh.vertices[:, 2].min()
    return mesh


# --------------------------------------------------------------------------------------------------
# Shared pieces


def _choice(rng, options):
    return options[int(rng.integers(len(options)))]


_ease = _ease_profile  # the procedural families' cosine-eased profile


def _vessel(radius, z0: float, z_top: float, wall: float, floor: float, rings: int, segments: int,
            name: str = "body") -> MeshArrays:
    """A hollow vessel of revolution: outer wall r(z) up from z0, inner wall r(z) - wall back down
    to the floor at z0 + floor; one closed surface (the rim joins the two walls)."""
    z_out = np.linspace(z0, z_top, rings)
    z_in = np.linspace(z_top, z0 + floor, rings)
    r_in = np.maximum(radius(z_in) - wall, 0.2 * wall)
    return revolve(np.concatenate([radius(z_out), r_in]), np.concatenate([z_out, z_in]), segments, name=name)


def _tube(path, radius: float, segments: int = 8, name: str = "tube") -> MeshArrays:
    """A closed tube (capped) along a polyline `path` (n, 3) lying in a plane."""
    path = np.asarray(path, dtype=np.float64)
    tangent = np.gradient(path, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    spread = path - path.mean(axis=0)
    normal_of_plane = np.linalg.svd(spread, full_matrices=False)[2][-1]  # the path's plane normal
    across = np.broadcast_to(normal_of_plane, path.shape)
    side = np.cross(tangent, across)
    side /= np.linalg.norm(side, axis=1, keepdims=True)
    return loft(circular_sections(path, np.full(len(path), radius), side, across, segments), name=name)


def _handle(x_wall: float, z_hi: float, z_lo: float, reach: float, tube: float, squared: bool,
            points: int = 13) -> MeshArrays:
    """A loop handle on the +X side of a vessel: from the wall at z_hi out by `reach` and back at z_lo."""
    phi = np.linspace(np.pi / 2, -np.pi / 2, points)
    half = 0.5 * (z_hi - z_lo)
    bulge = np.cos(phi) ** (0.35 if squared else 1.0)
    x = x_wall + reach * bulge
    z = z_lo + half + half * np.sin(phi)
    path = np.column_stack([x, np.zeros_like(x), z])
    start = np.array([[x_wall - 0.5 * tube, 0.0, z_hi]])
    end = np.array([[x_wall - 0.5 * tube, 0.0, z_lo]])
    return _tube(np.concatenate([start, path[1:-1], end]), tube, 8, "handle")


def _wheel(center, radius: float, width: float, segments: int) -> MeshArrays:
    """A wheel: a short cylinder along X centred on `center`."""
    c = np.asarray(center, dtype=np.float64)
    return cylinder(c - (width / 2, 0, 0), c + (width / 2, 0, 0), radius, radius, segments, 2, name="wheel")


# --------------------------------------------------------------------------------------------------
# Vessels: mug, cup, bottle, bowl


def _mug(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("straight", "tapered", "barrel", "tall"))
    h = u(0.085, 0.12) if style != "tall" else u(0.12, 0.16)
    r = u(0.034, 0.048)
    knots = {"straight": [r, r, r], "tapered": [0.82 * r, 0.92 * r, r], "barrel": [0.9 * r, 1.1 * r, 0.93 * r],
             "tall": [0.9 * r, 0.95 * r, r]}[style]
    radius = _ease([0.0, h / 2, h], knots)
    segments = int(rng.choice([24, 32, 40]))
    parts.append(("body", _vessel(radius, 0.0, h, u(0.004, 0.007), u(0.006, 0.012), int(rng.integers(8, 16)),
                                  segments)))
    z_hi, z_lo = h * u(0.72, 0.88), h * u(0.15, 0.32)
    parts.append(("handle", _handle(float(radius(0.5 * (z_hi + z_lo))), z_hi, z_lo, u(0.022, 0.04),
                                    u(0.005, 0.008), bool(rng.random() < 0.5))))
    return style


def _cup(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("teacup", "paper", "espresso", "tumbler"))
    segments = int(rng.choice([24, 32, 40]))
    if style == "teacup":
        h, r_top, r_bot = u(0.05, 0.07), u(0.042, 0.055), u(0.022, 0.03)
        radius = _ease([0.0, 0.4 * h, h], [r_bot, 0.85 * r_top, r_top])
    elif style == "paper":
        h, r_top = u(0.085, 0.12), u(0.035, 0.045)
        radius = _ease([0.0, h], [r_top * u(0.65, 0.75), r_top])
    elif style == "espresso":
        h, r_top = u(0.045, 0.06), u(0.026, 0.034)
        radius = _ease([0.0, 0.5 * h, h], [0.75 * r_top, 0.95 * r_top, r_top])
    else:
        h, r_top = u(0.09, 0.13), u(0.032, 0.042)
        radius = _ease([0.0, h], [0.85 * r_top, r_top])
    z0 = 0.0
    if style in ("teacup", "espresso") and rng.random() < 0.7:  # on a saucer
        saucer_r, saucer_t = radius(h) * u(1.5, 1.9), u(0.006, 0.01)
        parts.append(("saucer", revolve([saucer_r * 0.5, saucer_r, saucer_r * 0.95, saucer_r * 0.55],
                                        [0.0, saucer_t * 0.6, saucer_t, saucer_t * 0.7], segments, name="saucer")))
        z0 = saucer_t * 0.6
        radius = _ease([z0, z0 + 0.4 * h, z0 + h], [radius(0), radius(0.4 * h), radius(h)])
        h += z0
    parts.append(("body", _vessel(radius, z0, h, u(0.002, 0.004), u(0.004, 0.008), int(rng.integers(8, 14)),
                                  segments)))
    if style in ("teacup", "espresso"):
        z_hi, z_lo = z0 + (h - z0) * u(0.75, 0.9), z0 + (h - z0) * u(0.35, 0.5)
        parts.append(("handle", _handle(float(radius(0.5 * (z_hi + z_lo))), z_hi, z_lo, u(0.015, 0.025),
                                        u(0.003, 0.005), bool(rng.random() < 0.5))))
    elif style == "paper":  # a rolled rim
        rho = 0.0025
        beta = 2 * np.pi * np.arange(8) / 8
        parts.append(("rim", revolve(float(radius(h)) + rho * np.cos(beta), h - rho + rho * np.sin(beta), segments,
                                     closed=True, name="rim")))
    return style


def _bottle(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("wine", "water", "milk", "soda"))
    segments = int(rng.choice([20, 24, 32]))
    if style == "wine":
        h, r = u(0.28, 0.34), u(0.035, 0.042)
        neck, z_sh, z_neck = u(0.012, 0.015), h * u(0.55, 0.65), h * u(0.72, 0.8)
    elif style == "water":
        h, r = u(0.2, 0.3), u(0.03, 0.045)
        neck, z_sh, z_neck = u(0.012, 0.016), h * u(0.65, 0.75), h * u(0.82, 0.88)
    elif style == "milk":
        h, r = u(0.2, 0.27), u(0.045, 0.06)
        neck, z_sh, z_neck = u(0.018, 0.024), h * u(0.6, 0.7), h * u(0.8, 0.86)
    else:
        h, r = u(0.18, 0.25), u(0.028, 0.034)
        neck, z_sh, z_neck = u(0.011, 0.013), h * u(0.45, 0.55), h * u(0.8, 0.86)
    radius = _ease([0.0, 0.02, z_sh, z_neck, h], [0.92 * r, r, r, neck, neck])
    z = np.linspace(0.0, h, int(rng.integers(14, 26)))
    rz = radius(z)
    if style == "soda":  # a waisted, ribbed body
        rz = rz * (1.0 - 0.08 * np.exp(-((z - 0.3 * h) / (0.1 * h)) ** 2) + 0.02 * np.sin(z / h * 40.0))
    parts.append(("body", revolve(rz, z, segments, name="body")))
    cap_h = u(0.012, 0.025)
    parts.append(("cap", cylinder((0, 0, h - 0.004), (0, 0, h + cap_h), neck * 1.12, neck * 1.12, segments, 2,
                                  name="cap")))
    return style


def _bowl(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("deep", "shallow", "footed", "salad"))
    R = u(0.07, 0.12) if style != "salad" else u(0.13, 0.18)
    h = R * (u(0.55, 0.75) if style in ("deep", "salad") else u(0.3, 0.42))
    z0 = 0.0
    segments = int(rng.choice([32, 40, 48]))
    if style == "footed":
        foot_h = u(0.008, 0.015)
        parts.append(("foot", revolve([0.45 * R, 0.4 * R], [0.0, foot_h + 0.002], segments, name="foot")))
        z0 = foot_h
    phi = np.linspace(0.0, 1.0, 5)
    radius = _ease(z0 + h * phi, R * np.array([0.38, 0.72, 0.88, 0.96, 1.0]))
    parts.append(("body", _vessel(radius, z0, z0 + h, u(0.003, 0.006), u(0.005, 0.01), int(rng.integers(8, 14)),
                                  segments)))
    return style


# --------------------------------------------------------------------------------------------------
# Furniture: stool, bench, sofa, bed, bookshelf


def _stool(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("bar", "low", "square", "pedestal"))
    height = u(0.65, 0.8) if style == "bar" else u(0.42, 0.5)
    seat_r, seat_t = u(0.15, 0.2), u(0.03, 0.05)
    segments = int(rng.choice([24, 32]))
    if style == "square":
        parts.append(("seat", box((0, 0, height - seat_t / 2), (2 * seat_r, 2 * seat_r, seat_t), (4, 4, 1), "seat")))
    else:
        parts.append(("seat", cylinder((0, 0, height - seat_t), (0, 0, height), seat_r, seat_r, segments, 2,
                                       name="seat")))
    z_top = height - seat_t + 0.01
    if style == "pedestal":
        parts.append(("leg", cylinder((0, 0, 0.02), (0, 0, z_top), 0.025, 0.025, 16, 4, name="leg")))
        parts.append(("leg", cylinder((0, 0, 0.0), (0, 0, 0.025), seat_r * u(0.9, 1.2), seat_r, segments, 1,
                                      name="leg")))
        return style
    n = 4 if style == "square" else int(rng.choice([3, 4]))
    leg_r, splay = u(0.012, 0.02), u(0.02, 0.07)
    angle = np.pi / 4 + 2 * np.pi * np.arange(n) / n
    r_top = (seat_r - 0.03) * (np.sqrt(2) if style == "square" else 1.0) * 0.85
    for a in angle:
        d = np.array([np.cos(a), np.sin(a), 0.0])
        parts.append(("leg", cylinder(d * (r_top + splay), d * r_top + (0, 0, z_top), leg_r, leg_r, 8, 4,
                                      section_normal=(0, 0, 1), name="leg")))
    z_rung = height * u(0.3, 0.45)
    if style == "bar":  # a footrest ring through the legs
        beta = 2 * np.pi * np.arange(8) / 8
        r_ring = r_top + splay * (1 - z_rung / z_top)
        parts.append(("rung", revolve(r_ring + 0.01 * np.cos(beta), z_rung + 0.01 * np.sin(beta), segments,
                                      closed=True, name="rung")))
    elif rng.random() < 0.6:
        for k in range(n):
            a0, a1 = angle[k], angle[(k + 1) % n]
            rr = r_top + splay * (1 - z_rung / z_top)
            p0 = np.array([np.cos(a0), np.sin(a0), 0.0]) * rr + (0, 0, z_rung)
            p1 = np.array([np.cos(a1), np.sin(a1), 0.0]) * rr + (0, 0, z_rung)
            parts.append(("rung", cylinder(p0, p1, 0.008, 0.008, 8, 2, name="rung")))
    return style


def _bench(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("park", "plain", "slab", "picnic"))
    length, depth, height = u(1.0, 2.0), u(0.32, 0.45), u(0.4, 0.48)
    seat_t = u(0.03, 0.06)
    xs = (length / 2 - u(0.05, 0.15)) * np.array([-1.0, 1.0])
    if style == "park":  # slatted seat and back on two side frames
        slats = int(rng.integers(3, 6))
        w = depth / slats
        for k in range(slats):
            parts.append(("seat", box((0, -depth / 2 + (k + 0.5) * w, height - seat_t / 2),
                                      (length, 0.85 * w, seat_t), (10, 2, 1), "seat")))
        for k in range(int(rng.integers(2, 4))):
            z = height + 0.1 + k * 0.12
            parts.append(("back", tapered_box((0, depth / 2 + 0.02 * k, z), (length, 0.025),
                                              (0, depth / 2 + 0.02 * k + 0.01, z + 0.08), (length, 0.025),
                                              (6, 1, 1), "back")))
        for x in xs:
            parts.append(("frame", box((x, 0, (height - seat_t) / 2), (0.05, depth, height - seat_t + 0.01),
                                       (1, 3, 3), "frame")))
            parts.append(("frame", tapered_box((x, depth / 2 - 0.02, height - 0.02), (0.05, 0.04),
                                               (x, depth / 2 + 0.04, height + 0.4), (0.05, 0.04), (1, 1, 3),
                                               "frame")))
    elif style == "slab":  # a thick slab on two panels
        parts.append(("seat", box((0, 0, height - seat_t / 2), (length, depth, seat_t * 1.5), (12, 4, 2), "seat")))
        for x in xs:
            parts.append(("leg", box((x, 0, (height - seat_t) / 2), (0.06, depth * 0.9, height - seat_t + 0.01),
                                     (2, 5, 5), "leg")))
    else:
        parts.append(("seat", box((0, 0, height - seat_t / 2), (length, depth, seat_t), (12, 4, 2), "seat")))
        for x in xs:
            for y in (-1.0, 1.0):
                leg_t = u(0.035, 0.06)
                foot = (x + np.sign(x) * (0.05 if style == "picnic" else 0.0), y * (depth / 2 - 0.04), 0.0)
                parts.append(("leg", tapered_box(foot, (leg_t, leg_t), (x, y * (depth / 2 - 0.04), height - seat_t + 0.01),
                                                 (leg_t, leg_t), (1, 1, 6), "leg")))
        if style == "picnic" or rng.random() < 0.3:
            parts.append(("rail", box((0, 0, height * 0.3), (2 * abs(xs[0]), 0.04, 0.04), (6, 1, 1), "rail")))
    return style


def _sofa(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("three_seat", "loveseat", "armless", "chaise"))
    width = {"three_seat": u(1.9, 2.4), "loveseat": u(1.3, 1.6), "armless": u(1.4, 2.0), "chaise": u(1.8, 2.3)}[style]
    depth, seat_h, back_h = u(0.8, 1.0), u(0.4, 0.46), u(0.75, 0.95)
    foot_h = u(0.0, 0.12)
    arm_w = 0.0 if style == "armless" else u(0.12, 0.25)
    arm_h = u(0.55, 0.7)
    base_top = seat_h - 0.14
    parts.append(("base", box((0, 0, (foot_h + base_top) / 2 + 0.005), (width - 0.02, depth, base_top - foot_h),
                              (8, 4, 2), "base")))
    back_t = u(0.15, 0.25)
    parts.append(("back", tapered_box((0, depth / 2 - back_t / 2, base_top - 0.02), (width - 0.02, back_t),
                                      (0, depth / 2 - back_t / 2 + u(0.0, 0.08), back_h), (width - 0.04, back_t * 0.8),
                                      (6, 1, 3), "back")))
    cushions = {"three_seat": 3, "loveseat": 2, "armless": int(rng.integers(2, 4)), "chaise": 2}[style]
    inner = width - 2 * arm_w
    cw = inner / cushions
    for k in range(cushions):
        cx = -inner / 2 + (k + 0.5) * cw
        cd = depth - back_t + (0.6 if (style == "chaise" and k == 0) else 0.0)
        parts.append(("cushion", box((cx, -depth / 2 + cd / 2 - (0.6 if cd > depth else 0.0) + 0.0, base_top + 0.07),
                                     (cw * 0.98, cd, 0.16), (4, 4, 2), "cushion")))
    if arm_w:
        for side in (-1.0, 1.0):
            parts.append(("arm", box((side * (width / 2 - arm_w / 2), 0, (foot_h + arm_h) / 2 + 0.005),
                                     (arm_w, depth, arm_h - foot_h), (2, 5, 4), "arm")))
    if foot_h > 0.03:
        for sx in (-1.0, 1.0):
            for sy in (-1.0, 1.0):
                parts.append(("foot", cylinder((sx * (width / 2 - 0.08), sy * (depth / 2 - 0.08), 0.0),
                                               (sx * (width / 2 - 0.08), sy * (depth / 2 - 0.08), foot_h + 0.01),
                                               0.025, 0.02, 8, 1, name="foot")))
    return style


def _bed(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("single", "double", "platform", "bunk"))
    width = u(0.9, 1.1) if style in ("single", "bunk") else u(1.4, 1.9)
    length = u(1.95, 2.15)
    frame_z, frame_t = u(0.15, 0.3) if style != "platform" else u(0.05, 0.12), u(0.12, 0.2)
    parts.append(("frame", box((0, 0, frame_z + frame_t / 2), (width, length, frame_t), (4, 6, 1), "frame")))
    matt_t = u(0.15, 0.28)
    parts.append(("mattress", box((0, -0.02, frame_z + frame_t + matt_t / 2 - 0.01), (width - 0.05, length - 0.08, matt_t),
                                  (4, 8, 2), "mattress")))
    top = frame_z + frame_t + matt_t
    head_h = top + u(0.25, 0.6)
    parts.append(("headboard", box((0, length / 2 + 0.03, head_h / 2), (width + 0.04, 0.06, head_h), (4, 1, 3),
                                   "headboard")))
    if style in ("single", "double", "bunk") and rng.random() < 0.6:
        foot_h = top + u(0.0, 0.2)
        parts.append(("footboard", box((0, -length / 2 - 0.03, foot_h / 2), (width + 0.04, 0.06, foot_h), (4, 1, 2),
                                       "footboard")))
    for k in range(1 if width < 1.2 else 2):
        px = 0.0 if width < 1.2 else (k - 0.5) * width * 0.5
        parts.append(("pillow", ellipsoid((px, length / 2 - 0.25, top + 0.04), (min(0.3, width * 0.22), 0.18, 0.07),
                                          12, 6, "pillow")))
    if style != "platform":
        for sx in (-1.0, 1.0):
            for sy in (-1.0, 1.0):
                parts.append(("leg", box((sx * (width / 2 - 0.04), sy * (length / 2 - 0.04), (frame_z + 0.01) / 2),
                                         (0.06, 0.06, frame_z + 0.01), 1, "leg")))
    if style == "bunk":  # an upper bed on four posts
        z2 = top + u(0.8, 1.0)
        parts.append(("frame", box((0, 0, z2), (width, length, frame_t), (4, 6, 1), "frame")))
        parts.append(("mattress", box((0, -0.02, z2 + frame_t / 2 + 0.07), (width - 0.05, length - 0.08, 0.15),
                                      (4, 8, 1), "mattress")))
        for sx in (-1.0, 1.0):
            for sy in (-1.0, 1.0):
                parts.append(("post", box((sx * (width / 2 + 0.03), sy * (length / 2 + 0.03), (z2 + 0.45) / 2),
                                          (0.06, 0.06, z2 + 0.45), (1, 1, 4), "post")))
    return style


def _bookshelf(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("tall", "low", "open", "cube"))
    width = u(0.6, 1.2) if style != "cube" else u(0.7, 1.5)
    height = {"tall": u(1.6, 2.1), "low": u(0.7, 1.0), "open": u(1.2, 1.9), "cube": width * u(0.9, 1.1)}[style]
    depth, board = u(0.25, 0.4), u(0.018, 0.03)
    for side in (-1.0, 1.0):
        parts.append(("side", box((side * (width / 2 - board / 2), 0, height / 2), (board, depth, height), (1, 3, 8),
                                  "side")))
    shelves = max(2, int(round(height / u(0.3, 0.4)))) + 1
    for z in np.linspace(board / 2, height - board / 2, shelves):
        parts.append(("shelf", box((0, 0, z), (width - 2 * board + 0.004, depth - 0.01, board), (4, 2, 1), "shelf")))
    if style == "cube":  # a grid of cubbies
        for x in np.linspace(-width / 2, width / 2, int(rng.integers(3, 5)))[1:-1]:
            parts.append(("side", box((x, 0, height / 2), (board, depth - 0.01, height - 0.01), (1, 2, 6), "side")))
    if style != "open":
        parts.append(("back", box((0, depth / 2 - 0.004, height / 2), (width - 0.01, 0.008, height - 0.01), (4, 1, 6),
                                  "back")))
    return style


# --------------------------------------------------------------------------------------------------
# Vehicles: car, truck, boat


def _car(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("sedan", "hatchback", "suv", "coupe"))
    length = {"sedan": u(4.3, 4.9), "hatchback": u(3.7, 4.2), "suv": u(4.4, 4.9), "coupe": u(4.0, 4.6)}[style]
    width = u(1.7, 1.9)
    wheel_r = u(0.3, 0.34) if style != "suv" else u(0.36, 0.4)
    clearance = wheel_r * u(0.45, 0.6)
    body_h = u(0.5, 0.65) if style != "suv" else u(0.7, 0.85)
    cabin_h = u(0.42, 0.52) if style != "coupe" else u(0.34, 0.4)
    z_body = clearance
    parts.append(("body", tapered_box((0, 0, z_body), (width, length), (0, 0, z_body + body_h),
                                      (width * 0.96, length * u(0.93, 0.98)), (4, 10, 2), "body")))
    cabin_l = {"sedan": 0.45, "hatchback": 0.55, "suv": 0.6, "coupe": 0.4}[style] * length
    y_c = {"sedan": 0.03, "hatchback": 0.12, "suv": 0.1, "coupe": 0.06}[style] * length
    top_l = cabin_l * (u(0.6, 0.75) if style != "suv" else u(0.8, 0.9))
    parts.append(("cabin", tapered_box((0, y_c, z_body + body_h - 0.02), (width * 0.9, cabin_l),
                                       (0, y_c + (cabin_l - top_l) * 0.15, z_body + body_h + cabin_h),
                                       (width * 0.8, top_l), (3, 6, 2), "cabin")))
    axle = length * u(0.3, 0.36)
    for y in (-axle, axle):
        for side in (-1.0, 1.0):
            parts.append(("wheel", _wheel((side * (width / 2 - 0.1), y, wheel_r), wheel_r, 0.22, 20)))
    return style


def _truck(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("box", "tanker", "flatbed", "pickup"))
    if style == "pickup":
        length, width, wheel_r = u(5.2, 5.9), u(1.9, 2.05), u(0.38, 0.42)
    else:
        length, width, wheel_r = u(7.0, 10.0), u(2.4, 2.55), u(0.48, 0.55)
    chassis_z = wheel_r * 1.1
    cab_l = u(1.8, 2.3) if style != "pickup" else length * 0.45
    cab_h = u(2.0, 2.4) if style != "pickup" else u(1.1, 1.3)
    y_front = -length / 2
    parts.append(("chassis", box((0, 0, chassis_z), (width * 0.8, length, 0.25), (3, 12, 1), "chassis")))
    parts.append(("cab", tapered_box((0, y_front + cab_l / 2, chassis_z), (width, cab_l),
                                     (0, y_front + cab_l / 2 + 0.1, chassis_z + cab_h), (width * 0.95, cab_l * 0.85),
                                     (3, 3, 3), "cab")))
    bed_l = length - cab_l - 0.2
    y_bed = y_front + cab_l + 0.15 + bed_l / 2
    if style == "box":
        box_h = u(2.2, 2.8)
        parts.append(("cargo", box((0, y_bed, chassis_z + box_h / 2), (width + 0.05, bed_l, box_h), (3, 8, 3), "cargo")))
    elif style == "tanker":
        tr = u(0.9, 1.1)
        parts.append(("cargo", cylinder((0, y_bed - bed_l / 2, chassis_z + tr), (0, y_bed + bed_l / 2, chassis_z + tr),
                                        tr, tr, 24, 6, name="cargo")))
    elif style == "flatbed":
        parts.append(("cargo", box((0, y_bed, chassis_z + 0.2), (width, bed_l, 0.15), (3, 8, 1), "cargo")))
        for k in range(int(rng.integers(1, 4))):  # crates
            s = u(0.8, 1.4)
            parts.append(("cargo", box((u(-0.3, 0.3), y_bed + u(-0.3, 0.3) * bed_l, chassis_z + 0.27 + s / 2),
                                       (s, s, s), 1, "cargo")))
    else:  # pickup: an open bed with low walls
        parts.append(("cargo", box((0, y_bed, chassis_z + 0.3), (width, bed_l, 0.1), (3, 6, 1), "cargo")))
        for side in (-1.0, 1.0):
            parts.append(("cargo", box((side * (width / 2 - 0.04), y_bed, chassis_z + 0.6), (0.08, bed_l, 0.55),
                                       (1, 6, 1), "cargo")))
    axles = [y_front + cab_l * 0.5] + list(np.linspace(y_bed, y_bed + bed_l * 0.38, 1 if style == "pickup" else
                                                       int(rng.integers(1, 3))))
    for y in axles:
        for side in (-1.0, 1.0):
            parts.append(("wheel", _wheel((side * (width / 2 - 0.15), y, wheel_r), wheel_r, 0.3, 16)))
    return style


def _boat(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("motor", "sail", "rowing", "fishing"))
    length = {"motor": u(6.0, 12.0), "sail": u(7.0, 12.0), "rowing": u(3.0, 4.5), "fishing": u(8.0, 14.0)}[style]
    beam, depth = length * u(0.25, 0.35), length * u(0.09, 0.14)
    stations = 12
    t = np.linspace(0.0, 1.0, stations)  # stern (y = -L/2) to bow
    # widest a little aft of midships, narrowing to a fine bow and a broad transom at the stern
    half_beam = beam / 2 * np.maximum(np.sin(np.pi * (0.5 + 0.5 * t)) ** 0.7 + 0.35 * (1 - t), 0.04)
    draft = depth * (0.85 + 0.15 * np.sin(np.pi * t)) * np.where(t > 0.85, 1 - (t - 0.85) * 2.5, 1.0)
    sheer = depth * (1.0 + 0.3 * t ** 2)  # the deck line rises to the bow
    phi = np.linspace(-np.pi / 2, np.pi / 2, 13)
    deck = np.linspace(1.0, -1.0, 6)[1:-1]
    sx = np.concatenate([np.sin(phi), deck])
    vee = u(0.6, 1.4)
    sz = np.concatenate([-np.cos(phi) ** vee, np.zeros_like(deck)])
    y = -length / 2 + length * t
    rings = np.stack([sx[None, :] * half_beam[:, None], np.broadcast_to(y[:, None], (stations, len(sx))),
                      sheer[:, None] + sz[None, :] * draft[:, None]], axis=-1)
    parts.append(("hull", loft(rings, end_apex=(0.0, length / 2 + 0.04 * length, sheer[-1]), name="hull")))
    deck_z = float(sheer[len(sheer) // 2])
    if style in ("motor", "fishing"):
        cl = length * u(0.25, 0.4)
        ch = depth * u(1.0, 1.8)
        yc = -length * (0.1 if style == "motor" else 0.2)
        parts.append(("cabin", tapered_box((0, yc, deck_z - 0.05), (beam * 0.6, cl), (0, yc - 0.1 * cl, deck_z + ch),
                                           (beam * 0.5, cl * 0.7), (3, 3, 2), "cabin")))
        if style == "fishing":
            parts.append(("mast", cylinder((0, yc + 0.3 * cl, deck_z), (0, yc + 0.3 * cl, deck_z + ch * 2.5), 0.06, 0.05,
                                           8, 3, name="mast")))
    elif style == "sail":
        mast_h = length * u(1.0, 1.4)
        ym = -length * 0.05
        parts.append(("mast", cylinder((0, ym, deck_z - 0.1), (0, ym, deck_z + mast_h), 0.07, 0.05, 8, 4, name="mast")))
        parts.append(("sail", wing((0.0, ym + 0.1, deck_z + 0.5), length * u(0.35, 0.5), 0.3, mast_h * 0.85, -5.0,
                                   0.0, 0.02, span_axis=(0, 0, 1), chord_axis=(0, 1, 0), up_axis=(1, 0, 0),
                                   sections=5, profile_points=8, name="sail")))
    else:
        for k in range(int(rng.integers(2, 4))):
            yk = -length * 0.3 + k * length * 0.25
            parts.append(("seat", box((0, yk, deck_z - depth * 0.35), (beam * 0.8, 0.25, 0.05), (3, 1, 1), "seat")))
    return style


# --------------------------------------------------------------------------------------------------
# Things: guitar, rocket, tree, house, monitor, sword, ladder, mushroom


def _guitar(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("acoustic", "classical", "electric", "bass"))
    body_l = u(0.45, 0.52) if style != "electric" else u(0.4, 0.46)
    lower = body_l * u(0.36, 0.42)
    waist, upper = lower * u(0.6, 0.72), lower * u(0.72, 0.85)
    thick = u(0.09, 0.12) if style in ("acoustic", "classical") else u(0.04, 0.05)
    neck_l = {"acoustic": 0.45, "classical": 0.42, "electric": 0.45, "bass": 0.65}[style] * u(0.95, 1.08)
    z = np.linspace(0.0, body_l, 24)
    half_w = _ease([0.0, 0.06 * body_l, 0.3 * body_l, 0.6 * body_l, 0.8 * body_l, body_l],
                   [0.3 * lower, 0.85 * lower, lower, waist, upper, 0.5 * upper])(z) / 2
    x = np.concatenate([half_w, -half_w[::-1]])
    zz = np.concatenate([z, z[::-1]])
    depth = np.array([-0.5, -0.42, 0.42, 0.5]) * thick
    inset = np.array([0.96, 1.0, 1.0, 0.96])
    rings = np.stack([np.stack([x * s, np.full_like(x, d), zz], axis=1) for d, s in zip(depth, inset)])
    rings[..., 2] = np.where(rings[..., 2] > 0, rings[..., 2], 0.0)
    parts.append(("body", loft(rings, name="body")))
    neck_w = 0.05 if style != "bass" else 0.055
    parts.append(("neck", tapered_box((0, 0.0, body_l - 0.06), (neck_w, 0.025), (0, 0, body_l + neck_l), (0.9 * neck_w, 0.022),
                                      (1, 1, 8), "neck")))
    head_l = u(0.15, 0.2)
    tilt = u(0.0, 0.06) if style in ("acoustic", "classical") else 0.0
    parts.append(("head", tapered_box((0, 0, body_l + neck_l - 0.01), (0.07, 0.02), (0, tilt, body_l + neck_l + head_l),
                                      (0.08 if style != "electric" else 0.05, 0.02), (2, 1, 3), "head")))
    if style in ("acoustic", "classical"):
        parts.append(("bridge", box((0, -thick / 2, 0.25 * body_l), (0.16, 0.012, 0.03), (2, 1, 1), "bridge")))
    else:
        parts.append(("pickup", box((0, -thick / 2, 0.35 * body_l), (0.09, 0.012, 0.04), (2, 1, 1), "pickup")))
    return style


def _rocket(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("finned", "boosters", "model", "two_stage"))
    height = u(30.0, 70.0) if style != "model" else u(0.5, 1.2)
    r = height * (u(0.035, 0.05) if style != "model" else u(0.02, 0.03))
    nose = r * u(2.0, 4.0)
    segments = int(rng.choice([16, 20, 24]))
    z_body = np.linspace(0.05 * height, height - nose, 10)
    rr = np.full_like(z_body, r)
    if style == "two_stage":
        rr = np.where(z_body > 0.6 * height, 0.8 * r, r)
    s = np.linspace(0.0, 1.0, 8)[1:]
    z_nose = height - nose + nose * s
    r_nose = r * (0.8 if style == "two_stage" else 1.0) * np.sqrt(np.clip(1 - s ** 2, 0.0, None)) + 1e-3 * r
    parts.append(("body", revolve(np.concatenate([rr, r_nose]), np.concatenate([z_body, z_nose]), segments,
                                  top_z=height, name="body")))
    parts.append(("nozzle", revolve([0.5 * r, 0.8 * r], [0.0, 0.05 * height + 0.01 * r], segments, name="nozzle")))
    fins = int(rng.choice([3, 4]))
    if style in ("finned", "model", "two_stage"):
        chord, span = height * u(0.1, 0.18), r * u(1.0, 2.0)
        for a in 2 * np.pi * np.arange(fins) / fins:
            radial = np.array([np.cos(a), np.sin(a), 0.0])
            parts.append(("fin", wing(radial * 0.9 * r + (0, 0, 0.05 * height + chord), chord, chord * u(0.3, 0.6),
                                      span, u(20.0, 50.0), 0.0, 0.08, span_axis=radial, chord_axis=(0, 0, -1),
                                      up_axis=(-np.sin(a), np.cos(a), 0.0), sections=3, profile_points=10, name="fin")))
    if style == "boosters":
        br, bh = r * u(0.4, 0.6), height * u(0.35, 0.55)
        for a in 2 * np.pi * np.arange(fins) / fins + np.pi / 4:
            c = np.array([np.cos(a), np.sin(a), 0.0]) * (r + br * 0.9)
            zb = np.linspace(0.0, bh, 5)
            zn = bh + br * 2.5 * np.linspace(0, 1, 5)[1:]
            prof_r = np.concatenate([np.full(5, br), br * np.sqrt(np.clip(1 - np.linspace(0, 1, 5)[1:] ** 2, 0, None))
                                     + 1e-3 * br])
            parts.append(("booster", revolve(prof_r, np.concatenate([zb, zn]), 12, center=c, top_z=bh + br * 2.5,
                                             name="booster")))
    return style


def _tree(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("deciduous", "conifer", "palm", "bush"))
    height = {"deciduous": u(5.0, 14.0), "conifer": u(6.0, 20.0), "palm": u(6.0, 15.0), "bush": u(1.5, 3.0)}[style]
    trunk_r = height * u(0.02, 0.035)
    if style == "palm":
        zt = np.linspace(0.0, height, 10)
        bend = u(-0.15, 0.15) * height * (zt / height) ** 2
        path = np.column_stack([bend, np.zeros_like(zt), zt])
        parts.append(("trunk", loft(circular_sections(path, trunk_r * (1 - 0.4 * zt / height), (1, 0, 0), (0, 1, 0), 10),
                                    name="trunk")))
        top = path[-1]
        for a in 2 * np.pi * np.arange(int(rng.integers(6, 10))) / 8 + u(0, 1):
            radial = np.array([np.cos(a), np.sin(a), -u(0.3, 0.7)])
            parts.append(("leaves", wing(top - (0, 0, 0.2), height * 0.08, 0.05 * height * 0.2, height * u(0.25, 0.35),
                                         0.0, 0.0, 0.06, span_axis=radial,
                                         chord_axis=(-np.sin(a), np.cos(a), 0.0),
                                         up_axis=np.cross(radial, (-np.sin(a), np.cos(a), 0.0)),
                                         sections=4, profile_points=8, name="leaves")))
        return style
    crown_base = height * ({"deciduous": u(0.3, 0.5), "conifer": u(0.1, 0.25), "bush": 0.05}[style])
    parts.append(("trunk", cylinder((0, 0, 0), (0, 0, crown_base + 0.3 * (height - crown_base)), trunk_r, 0.6 * trunk_r,
                                    12, 6, name="trunk")))
    if style == "conifer":
        tiers = int(rng.integers(2, 5))
        starts = np.linspace(crown_base, height * 0.6, tiers)
        width = (height - crown_base) * u(0.25, 0.4)
        for k, z0 in enumerate(starts):
            top = z0 + (height - z0) * (0.55 if k < tiers - 1 else 1.0)
            w = width * (1 - 0.6 * k / tiers)
            parts.append(("crown", revolve([w, 0.8 * w, 0.6 * w, 0.4 * w, 0.2 * w], z0 + (top - z0) * np.array([0.0, 0.15, 0.35, 0.55, 0.75]),
                                           24, top_z=top, name="crown")))
    else:
        blobs = int(rng.integers(1, 5))
        crown_h = height - crown_base
        for k in range(blobs):
            rz = crown_h / 2 * u(0.6, 1.0)
            rx = rz * u(0.8, 1.4)
            off = np.array([u(-0.35, 0.35) * rx, u(-0.35, 0.35) * rx, 0.0]) if k else np.zeros(3)
            parts.append(("crown", ellipsoid(off + (0, 0, height - rz - u(0, 0.2) * crown_h), (rx, rx * u(0.8, 1.2), rz),
                                             20, 10, "crown")))
    return style


def _house(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("gable", "hip", "flat", "two_storey"))
    width, depth = u(6.0, 12.0), u(6.0, 10.0)
    wall_h = u(2.6, 3.2) * (2 if style in ("two_storey", "flat") and rng.random() < 0.7 else 1)
    parts.append(("walls", box((0, 0, wall_h / 2), (width, depth, wall_h), (8, 6, 4), "walls")))
    roof_h = u(2.0, 4.0)
    over = u(0.2, 0.5)
    if style in ("gable", "two_storey"):
        tri = np.array([[-(depth / 2 + over), wall_h - 0.1], [depth / 2 + over, wall_h - 0.1], [0.0, wall_h + roof_h]])
        xs = np.linspace(-(width / 2 + over), width / 2 + over, 6)
        pts = np.stack([np.column_stack([np.full(3, x), tri[:, 0], tri[:, 1]]) for x in xs])
        # two more points per edge so the roof sides are subdivided
        pts = np.concatenate([pts, 0.5 * (pts + np.roll(pts, -1, axis=1))], axis=1)[:, [0, 3, 1, 4, 2, 5]]
        parts.append(("roof", loft(pts, name="roof")))
    elif style == "hip":
        parts.append(("roof", tapered_box((0, 0, wall_h - 0.1), (width + 2 * over, depth + 2 * over), (0, 0, wall_h + roof_h),
                                          (width * u(0.2, 0.5), 0.1), (4, 4, 2), "roof")))
    else:
        parts.append(("roof", box((0, 0, wall_h + 0.1), (width + over, depth + over, 0.3), (6, 5, 1), "roof")))
    if rng.random() < 0.7:
        cx = u(-0.3, 0.3) * width
        parts.append(("chimney", box((cx, depth * 0.2, wall_h + roof_h * 0.6), (0.6, 0.6, roof_h * 1.2 + 0.5), (1, 1, 3),
                                     "chimney")))
    parts.append(("door", box((u(-0.3, 0.3) * width, -depth / 2, 1.05), (1.0, 0.16, 2.1), (1, 1, 2), "door")))
    for x in np.linspace(-width / 2, width / 2, int(rng.integers(3, 6)))[1:-1]:
        for z in ([1.5] if wall_h < 4 else [1.5, 1.5 + wall_h / 2]):
            parts.append(("window", box((x + 0.8, -depth / 2, z), (1.0, 0.12, 1.1), 1, "window")))
    return style


def _monitor(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("flat", "crt", "tv", "ultrawide"))
    aspect = {"flat": 16 / 9, "crt": 4 / 3, "tv": 16 / 9, "ultrawide": 21 / 9}[style]
    width = {"flat": u(0.5, 0.7), "crt": u(0.35, 0.45), "tv": u(0.9, 1.4), "ultrawide": u(0.8, 0.95)}[style]
    screen_h = width / aspect
    base_h = u(0.08, 0.15) if style != "tv" else u(0.05, 0.1)
    z0 = base_h
    thick = u(0.02, 0.05) if style != "crt" else u(0.04, 0.06)
    parts.append(("screen", box((0, 0, z0 + screen_h / 2), (width, thick, screen_h), (10, 2, 6), "screen")))
    if style == "crt":  # the tube behind the screen
        deep = width * u(0.8, 1.0)
        parts.append(("housing", tapered_box((0, thick / 2 + deep / 2 - 0.01, z0 + 0.05 * screen_h), (width * 0.95, deep),
                                             (0, thick / 2 + deep / 2 - 0.05 * deep, z0 + 0.9 * screen_h),
                                             (width * 0.6, deep * 0.7), (4, 4, 4), "housing")))
        parts.append(("stand", box((0, deep / 2, base_h / 2), (width * 0.6, deep * 0.7, base_h + 0.01), (3, 3, 1), "stand")))
        return style
    if style == "tv":
        for side in (-1.0, 1.0):
            parts.append(("stand", tapered_box((side * width * 0.38, 0, 0.0), (0.05, 0.25), (side * width * 0.4, 0, z0 + 0.05),
                                               (0.05, 0.05), (1, 2, 2), "stand")))
        return style
    neck_h = z0 + screen_h * u(0.3, 0.5)
    parts.append(("stand", tapered_box((0, thick / 2 + 0.05, 0.01), (0.06, 0.04), (0, thick / 2 + 0.01, neck_h),
                                       (0.05, 0.03), (1, 1, 4), "stand")))
    if rng.random() < 0.5:
        parts.append(("stand", cylinder((0, thick / 2 + 0.05, 0.0), (0, thick / 2 + 0.05, 0.015), width * 0.22, width * 0.2,
                                        24, 1, name="stand")))
    else:
        parts.append(("stand", box((0, thick / 2 + 0.05, 0.008), (width * 0.4, 0.2, 0.016), (3, 2, 1), "stand")))
    return style


def _sword(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("longsword", "katana", "dagger", "sabre"))
    blade_l = {"longsword": u(0.8, 1.0), "katana": u(0.65, 0.75), "dagger": u(0.2, 0.3), "sabre": u(0.75, 0.85)}[style]
    blade_w = {"longsword": u(0.04, 0.055), "katana": u(0.028, 0.033), "dagger": u(0.03, 0.045), "sabre": u(0.03, 0.038)}[style]
    grip_l = {"longsword": u(0.18, 0.25), "katana": u(0.25, 0.3), "dagger": u(0.09, 0.12), "sabre": u(0.12, 0.15)}[style]
    z_grip0 = u(0.03, 0.05)
    parts.append(("pommel", ellipsoid((0, 0, z_grip0), (0.022, 0.018, 0.028), 12, 6, "pommel")))
    parts.append(("grip", cylinder((0, 0, z_grip0), (0, 0, z_grip0 + grip_l + 0.01), 0.014, 0.015, 12, 6, name="grip")))
    z_guard = z_grip0 + grip_l
    if style == "katana":
        parts.append(("guard", cylinder((0, 0, z_guard), (0, 0, z_guard + 0.012), 0.04, 0.04, 16, 1, name="guard")))
    else:
        guard_w = {"longsword": u(0.18, 0.26), "dagger": u(0.07, 0.1), "sabre": u(0.08, 0.12)}[style]
        parts.append(("guard", box((0, 0, z_guard + 0.01), (guard_w, 0.025, 0.02), (4, 1, 1), "guard")))
    z = z_guard + 0.01 + blade_l * np.linspace(0.0, 1.0, 25)[:-1]
    s = (z - z[0]) / blade_l
    curve = {"katana": 0.035, "sabre": 0.06}.get(style, 0.0) * blade_l * s ** 2
    width = blade_w * np.where(style in ("dagger",), 1 - 0.7 * s, 1 - 0.25 * s)
    thick = 0.006
    if style in ("katana", "sabre"):  # single edge: a wedge section, curving towards the edge side
        prof = np.array([[0.5, 0.0], [0.1, 0.5], [-0.5, 0.4], [-0.5, -0.4], [0.1, -0.5]])
    else:  # double edge: a flattened diamond
        prof = np.array([[0.5, 0.0], [0.0, 0.5], [-0.5, 0.0], [0.0, -0.5]])
    rings = np.stack([np.column_stack([prof[:, 0] * w, prof[:, 1] * thick * 2 + 0.0, np.full(len(prof), zk)])
                      for w, zk in zip(width, z)])
    rings[..., 0] += curve[:, None]
    tip = (float(curve[-1]) + blade_w * 0.1, 0.0, z_guard + 0.01 + blade_l)
    parts.append(("blade", loft(rings, end_apex=tip, name="blade")))
    return style


def _ladder(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("straight", "step", "round", "library"))
    height = u(1.5, 3.5) if style != "step" else u(1.2, 2.0)
    width = u(0.35, 0.5)
    spacing = u(0.25, 0.3)
    lean = height * (u(0.2, 0.3) if style != "step" else 0.3)

    def flight(y_foot, y_top, rung_round):
        for side in (-1.0, 1.0):
            x = side * width / 2
            if style == "round":
                parts.append(("rail", cylinder((x, y_foot, 0.0), (x, y_top, height), 0.02, 0.02, 8, 16,
                                               section_normal=(0, 0, 1), name="rail")))
            else:
                parts.append(("rail", tapered_box((x, y_foot, 0.0), (0.03, 0.07), (x, y_top, height), (0.03, 0.07),
                                                  (2, 2, 16), "rail")))
        for z in np.arange(spacing, height - 0.1, spacing):
            y = y_foot + (y_top - y_foot) * z / height
            if rung_round:
                parts.append(("rung", cylinder((-width / 2, y, z), (width / 2, y, z), 0.014, 0.014, 8, 1, name="rung")))
            else:
                parts.append(("rung", box((0, y, z), (width, 0.09, 0.025), (3, 1, 1), "rung")))

    if style == "step":
        flight(-lean / 2, 0.0, False)
        flight(lean / 2, 0.0, True)
        parts.append(("top", box((0, 0, height), (width + 0.08, 0.2, 0.04), (2, 1, 1), "top")))
    else:
        flight(0.0, lean if style != "library" else lean * 0.5, style in ("round", "straight"))
        if style == "library":
            parts.append(("hook", box((0, lean * 0.5 + 0.06, height), (width + 0.1, 0.1, 0.05), (3, 1, 1), "hook")))
    return style


def _mushroom(rng, parts) -> str:
    u = rng.uniform
    style = _choice(rng, ("button", "parasol", "conical", "bolete"))
    height = {"button": u(0.04, 0.08), "parasol": u(0.15, 0.3), "conical": u(0.06, 0.12), "bolete": u(0.08, 0.16)}[style]
    cap_r = {"button": height * u(0.5, 0.7), "parasol": height * u(0.5, 0.7), "conical": height * u(0.25, 0.35),
             "bolete": height * u(0.45, 0.6)}[style]
    stem_r = cap_r * u(0.15, 0.25) if style != "bolete" else cap_r * u(0.35, 0.5)
    cap_h = {"button": cap_r * u(0.7, 0.9), "parasol": cap_r * u(0.2, 0.35), "conical": cap_r * u(1.2, 1.8),
             "bolete": cap_r * u(0.6, 0.8)}[style]
    z_cap = height - cap_h
    zs = np.linspace(0.0, z_cap + 0.3 * cap_h, 8)
    bulb = 1.0 + (0.6 if style == "bolete" else 0.25) * np.exp(-(zs / (0.25 * height)) ** 2)
    parts.append(("stem", revolve(stem_r * bulb, zs, 16, name="stem")))
    phi = np.linspace(0.0, np.pi / 2, 8)[:-1]
    if style == "conical":
        r_cap, z_c = cap_r * (1 - phi / (np.pi / 2)) + 0.02 * cap_r, z_cap + cap_h * phi / (np.pi / 2)
    else:
        r_cap, z_c = cap_r * np.cos(phi), z_cap + cap_h * np.sin(phi)
    # underside: from near the stem out to the rim, then the dome up to the top
    under_r = np.array([stem_r * 1.05, 0.5 * (stem_r + cap_r), 0.95 * cap_r])
    under_z = z_cap + cap_h * np.array([0.25, 0.12, 0.0]) - 0.01 * cap_h
    parts.append(("cap", revolve(np.concatenate([under_r, r_cap]), np.concatenate([under_z, z_c]), 24,
                                 bottom_z=z_cap + 0.3 * cap_h, top_z=height, name="cap")))
    return style


_BUILDERS = {
    "mug": _mug, "cup": _cup, "bottle": _bottle, "bowl": _bowl, "stool": _stool, "bench": _bench, "sofa": _sofa,
    "bed": _bed, "bookshelf": _bookshelf, "car": _car, "truck": _truck, "boat": _boat, "guitar": _guitar,
    "rocket": _rocket, "tree": _tree, "house": _house, "monitor": _monitor, "sword": _sword, "ladder": _ladder,
    "mushroom": _mushroom,
}
