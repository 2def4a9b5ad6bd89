"""Procedural shape families with labelled, touching parts and attributes that describe them.

Five families, FAMILIES = ("chair", "table", "lamp", "airplane", "vase"), for the tests and the demo
of the learning capabilities: PCA shape spaces (``same_topology=True``: one fixed mesh structure per
family, only positions change), template fitting and classification (``same_topology=False``: leg
counts, arms, round tops, engines, handles, segment counts ... vary), part-based synthesis (every
shape is a set of closed primitives labelled with PART_LABELS[family] words, and parts that meet
overlap a little, so contacts can be read from the geometry), and voxel generation (each primitive
is a closed, outward-oriented manifold; see shapespace.primitives).

    make_shape(family, seed, same_topology=True, name=None) -> MeshArrays
    make_family(family, count, seed=0, same_topology=True) -> list[MeshArrays]

Conventions
-----------
* Metres, Z up, standing on the ground: the lowest vertex is at z = 0 exactly. Shapes are centred
  on x = 0 (they are mirror-symmetric in x) and roughly on y = 0. "Front" is -Y (Blender's front
  view): chairs face -Y with the backrest at +Y, airplanes point their nose to -Y.
* Airplanes are scale models 1.0-1.8 m long (a 1:30-ish airliner), fuselage along Y, resting on
  their lowest point (the fuselage belly or an engine nacelle) at z = 0; there is no landing gear.
* Lamp shades and the pedestal feet are solid (closed) bodies; vases are hollow vessels (a closed
  wall of revolution with an opening at the top), so their volume is the wall's.
* A shape's ``part_labels`` lists only the labels it has, in the family's canonical order (a chair
  without arms has no "arm"); use ``PART_LABELS[family].index(label)`` for a fixed index. A label can
  cover several disconnected primitives (four legs are one "leg" part of four components).
* ``attributes``: ``category`` (the family), ``family_variant`` ("same_topology" or
  "varied_topology") and the family's ATTRIBUTES (floats in metres or degrees, ints, bools), all
  true of the generated geometry (see ATTRIBUTE_DOCS); plain Python types, fit for Blender custom
  properties.
* Determinism: a shape depends only on (family, seed, same_topology). make_family's i-th shape is
  make_shape(family, shape_seed(family, seed, i), same_topology, f"{family}_{i:03d}").
"""

from __future__ import annotations

import zlib

import numpy as np

from .mesh_arrays import MeshArrays, concatenate_parts
from .primitives import box, circular_sections, cylinder, loft, revolve, tapered_box, wing

__all__ = ["FAMILIES", "VARIANTS", "PART_LABELS", "ATTRIBUTES", "ATTRIBUTE_DOCS", "make_shape", "make_family",
           "shape_seed"]

FAMILIES = ("chair", "table", "lamp", "airplane", "vase")
VARIANTS = ("same_topology", "varied_topology")

PART_LABELS = {
    "chair": ("seat", "back", "leg", "arm"),
    "table": ("top", "leg", "apron"),
    "lamp": ("base", "stem", "shade"),
    "airplane": ("fuselage", "wing", "tail", "fin", "engine"),
    "vase": ("body", "foot", "lip", "handle"),
}

ATTRIBUTES = {
    "chair": ("height", "seat_width", "seat_depth", "seat_height", "back_angle", "back_height",
              "leg_thickness", "leg_count", "has_arms"),
    "table": ("height", "top_width", "top_depth", "top_thickness", "leg_thickness", "leg_count",
              "round_top", "has_apron"),
    "lamp": ("height", "base_radius", "stem_thickness", "shade_radius", "shade_height"),
    "airplane": ("length", "wingspan", "wing_sweep", "fuselage_radius", "engine_count"),
    "vase": ("height", "max_radius", "neck_radius", "belly_height", "lip_flare", "handle_count"),
}

ATTRIBUTE_DOCS = {
    "height": "z extent of the whole shape (m); the shape stands on z = 0",
    "seat_width": "x extent of the seat (m)",
    "seat_depth": "y extent of the seat (m)",
    "seat_height": "z of the seat's top surface (m)",
    "back_angle": "backrest recline from vertical (degrees, 0 = upright, leaning towards +Y)",
    "back_height": "vertical rise of the backrest above the seat's top surface: height - seat_height (m)",
    "leg_thickness": "horizontal width of a leg's section at its top: square side or diameter; "
                     "for a pedestal, the column's diameter (m)",
    "leg_count": "number of separate leg primitives (connected components labelled 'leg'); 1 for a pedestal",
    "has_arms": "the chair has armrests (each an armrest bar on a post)",
    "top_width": "x extent of the table top (the diameter for a round top) (m)",
    "top_depth": "y extent of the table top (m)",
    "top_thickness": "z extent of the table top (m)",
    "round_top": "the table top is a disc, else a rectangle",
    "has_apron": "rails under the top join the legs",
    "base_radius": "half the x extent of the lamp base (its radius, or half the side of a square base) (m)",
    "stem_thickness": "diameter of the lamp stem (m)",
    "shade_radius": "largest radius of the shade (m)",
    "shade_height": "z extent of the shade (m)",
    "length": "y extent of the airplane, nose to tail (m)",
    "wingspan": "x extent of the airplane, wing tip to wing tip (m)",
    "wing_sweep": "sweep of the wing's leading edge (degrees)",
    "fuselage_radius": "largest radius of the fuselage (m)",
    "engine_count": "number of engine nacelles under the wings",
    "max_radius": "largest outer radius of the vase body, at belly_height (m)",
    "neck_radius": "smallest outer radius of the body above the belly (m)",
    "belly_height": "height of the body's widest ring divided by the vase height (0..1)",
    "lip_flare": "outer radius of the body at its top over neck_radius, minus 1 (0 = no flare)",
    "handle_count": "number of handles (0 or 2)",
}

_UP = (0.0, 0.0, 1.0)


def shape_seed(family: str, seed: int, index: int) -> int:
    """The seed make_family gives its `index`-th shape: a hash of (family, seed, index)."""
    entropy = [zlib.crc32(family.encode()), int(seed), int(index)]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def make_shape(family: str, seed: int, same_topology: bool = True, name: str | None = None) -> MeshArrays:
    """One shape of `family` drawn from numpy's default_rng(seed); see the module doc."""
    if family not in _BUILDERS:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    rng = np.random.default_rng(int(seed))
    parts = {label: [] for label in PART_LABELS[family]}
    attributes = _BUILDERS[family](rng, not same_topology, parts)
    ordered = [(label, mesh) for label in PART_LABELS[family] for mesh in parts[label]]
    mesh = concatenate_parts(name or f"{family}_{int(seed):03d}", ordered)
    mesh.vertices[:, 2] -= mesh.vertices[:, 2].min()
    attributes.update(_measure(family, mesh))
    if "_belly_z" in attributes:  # relative to the measured height
        attributes["belly_height"] = attributes.pop("_belly_z") / attributes["height"]
    head = {"category": family, "family_variant": VARIANTS[0] if same_topology else VARIANTS[1]}
    mesh.attributes = {**head, **{key: _plain(attributes[key]) for key in ATTRIBUTES[family]}}
    return mesh


def make_family(family: str, count: int, seed: int = 0, same_topology: bool = True) -> list[MeshArrays]:
    """`count` shapes named f"{family}_{i:03d}"; shape i uses shape_seed(family, seed, i)."""
    return [make_shape(family, shape_seed(family, seed, i), same_topology, f"{family}_{i:03d}")
            for i in range(count)]


def _plain(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return float(value)


def _measure(family: str, mesh: MeshArrays) -> dict:
    """Attributes read off the final float32 vertices, so they hold exactly."""
    v = mesh.vertices.astype(np.float64)
    extent = v.max(axis=0) - v.min(axis=0)
    if family == "airplane":
        return {"length": extent[1], "wingspan": extent[0]}
    return {"height": extent[2]}


# --------------------------------------------------------------------------------------------------
# Shared pieces


def _choice(rng, options, p=None):
    return options[int(rng.choice(len(options), p=p))]


def _pedestal(top_z: float, foot_radius: float, column_radius: float, flange_radius: float,
              segments: int, name: str):
    """A solid pedestal of revolution: foot disc, column, flange; from z = 0 to top_z."""
    foot_t = min(0.025, 0.15 * top_z)
    r = [foot_radius, foot_radius, 0.5 * (foot_radius + column_radius), column_radius, column_radius,
         flange_radius, flange_radius]
    z = [0.0, foot_t, foot_t + 0.3 * (foot_radius - column_radius), 0.0, top_z - 0.05, top_z - 0.02, top_z]
    z[2] = min(z[2], 0.35 * top_z)
    z[3] = min(z[2] + 0.05, 0.5 * top_z)
    return revolve(r, z, segments, name=name)


def _ease_profile(knots_z, knots_r):
    """r(z) through the knots, cosine-eased on each span: C1, monotone per span, extrema at knots."""
    kz, kr = np.asarray(knots_z, dtype=np.float64), np.asarray(knots_r, dtype=np.float64)

    def radius(z):
        z = np.asarray(z, dtype=np.float64)
        i = np.clip(np.searchsorted(kz, z, side="right") - 1, 0, len(kz) - 2)
        s = np.clip((z - kz[i]) / (kz[i + 1] - kz[i]), 0.0, 1.0)
        return kr[i] + (kr[i + 1] - kr[i]) * 0.5 * (1.0 - np.cos(np.pi * s))

    return radius


# --------------------------------------------------------------------------------------------------
# Chair: seat, back, leg, arm. Faces -Y, backrest at +Y.


def _chair(rng, varied: bool, parts: dict) -> dict:
    u = rng.uniform
    seat_h = u(0.42, 0.48)
    seat_w = u(0.40, 0.56)
    seat_d = float(np.clip(seat_w * u(0.85, 1.1), 0.38, 0.55))
    seat_t = u(0.03, 0.07)
    back_h = u(0.38, 0.62)
    height = seat_h + back_h
    back_angle = u(0.0, 18.0)
    back_t = u(0.02, 0.045)
    leg_t = u(0.022, 0.04) + 0.1 * (seat_w - 0.40) + 0.02 * (back_h - 0.38)
    inset = u(0.005, 0.04)
    splay = u(0.0, 0.03)
    arm_z = u(0.17, 0.26)  # armrest top above the seat
    arm_w = u(0.035, 0.06)
    arm_t = u(0.02, 0.035)
    arm_front = u(0.02, 0.08)
    post_w = min(u(0.02, 0.035), arm_w - 0.004)

    if varied:
        has_arms = bool(rng.random() < 0.35)
        legs = _choice(rng, ("corner", "radial3", "radial5", "pedestal"), p=(0.55, 0.1, 0.15, 0.2))
        round_legs = bool(rng.random() < 0.4)
        leg_segments = int(rng.choice([6, 8, 12, 16]))
        back_style = _choice(rng, ("panel", "slats"), p=(0.6, 0.4))
        seat_n = (int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 3)))
        back_n = (int(rng.integers(1, 9)), 1, int(rng.integers(1, 11)))
        leg_rings = int(rng.integers(1, 7))
    else:
        has_arms, legs, round_legs, back_style = True, "corner", False, "panel"
        leg_segments, seat_n, back_n, leg_rings = 8, (8, 8, 2), (8, 2, 10), 6

    parts["seat"].append(box((0.0, 0.0, seat_h - seat_t / 2), (seat_w, seat_d, seat_t), seat_n, "seat"))

    # Backrest: a reclined slab whose bottom sits inside the seat's rear strip.
    tan_b = np.tan(np.radians(back_angle))
    back_w = seat_w - 0.004
    zb = seat_h - 0.6 * seat_t
    y0 = seat_d / 2 - 0.003 - back_t / 2  # centre line of the backrest at z = zb

    def back_piece(x0, x1, z0, z1, thickness, n):
        cx, w = 0.5 * (x0 + x1), x1 - x0
        return tapered_box((cx, y0 + (z0 - zb) * tan_b, z0), (w, thickness),
                           (cx, y0 + (z1 - zb) * tan_b, z1), (w, thickness), n, "back")

    arm_x = back_w / 2 - arm_w / 2 - 0.002
    if back_style == "panel":
        parts["back"].append(back_piece(-back_w / 2, back_w / 2, zb, height, back_t, back_n))
    else:
        stile_w = max(u(0.03, 0.05), arm_w + 0.006)
        rail_h = u(0.05, 0.10)
        slats = int(rng.integers(1, 5))
        slat_w = u(0.015, 0.04)
        for side in (-1.0, 1.0):
            x_out = side * back_w / 2
            x_in = side * (back_w / 2 - stile_w)
            parts["back"].append(back_piece(min(x_out, x_in), max(x_out, x_in), zb, height, back_t, (1, 1, 6)))
        inner = back_w / 2 - stile_w / 2
        parts["back"].append(back_piece(-inner, inner, height - rail_h, height - 0.002, 0.8 * back_t, (4, 1, 1)))
        centres = np.linspace(-(back_w / 2 - stile_w), back_w / 2 - stile_w, slats + 2)[1:-1]
        for cx in centres:
            parts["back"].append(back_piece(cx - slat_w / 2, cx + slat_w / 2, seat_h - 0.3 * seat_t,
                                            height - rail_h / 2, 0.6 * back_t, (1, 1, 4)))
        arm_x = back_w / 2 - stile_w / 2
        arm_w = min(arm_w, stile_w - 0.004)

    # Legs reach 1.2 cm (at most half the seat) into the seat from below.
    z_top = seat_h - seat_t + min(0.012, seat_t / 2)
    half = min(seat_w, seat_d) / 2

    def leg(bottom, top, name="leg"):
        if round_legs:
            return cylinder(bottom, top, leg_t / 2, leg_t / 2, leg_segments, leg_rings,
                            section_normal=_UP, name=name)
        return tapered_box(bottom, (leg_t, leg_t), top, (leg_t, leg_t), (1, 1, leg_rings), name)

    if legs == "corner":
        xl, yl = seat_w / 2 - inset - leg_t / 2, seat_d / 2 - inset - leg_t / 2
        for sy in (-1.0, 1.0):
            for sx in (-1.0, 1.0):
                parts["leg"].append(leg((sx * (xl + splay), sy * (yl + splay), 0.0), (sx * xl, sy * yl, z_top)))
    elif legs.startswith("radial"):
        n = int(legs[-1])
        angle = np.pi / 2 + 2 * np.pi * np.arange(n) / n
        r_top, r_bottom = 0.45 * half, half * u(0.85, 1.15)
        for a in angle:
            c, s = np.cos(a), np.sin(a)
            parts["leg"].append(leg((r_bottom * c, r_bottom * s, 0.0), (r_top * c, r_top * s, z_top)))
    else:
        leg_t = u(0.05, 0.09)
        parts["leg"].append(_pedestal(z_top, half * u(0.8, 1.05), leg_t / 2, min(2.5 * leg_t / 2, half - 0.02),
                                      leg_segments * 2, "leg"))
    leg_count = len(parts["leg"])

    if has_arms:
        top = seat_h + arm_z
        z_mid = top - arm_t / 2
        y_rear = y0 + (z_mid - zb) * tan_b  # into the middle of the backrest
        y_front = -seat_d / 2 + arm_front
        post_y = y_front + 0.01 + post_w / 2
        for side in (-1.0, 1.0):
            x = side * arm_x
            parts["arm"].append(box((x, 0.5 * (y_front + y_rear), z_mid), (arm_w, y_rear - y_front, arm_t),
                                    (1, 8, 1) if not varied else (1, 4, 1), "arm"))
            parts["arm"].append(tapered_box((x, post_y, seat_h - 0.5 * seat_t), (post_w, post_w),
                                            (x, post_y, top - arm_t / 2), (post_w, post_w), (1, 1, 6), "arm"))

    return dict(seat_width=seat_w, seat_depth=seat_d, seat_height=seat_h, back_angle=back_angle,
                back_height=back_h, leg_thickness=leg_t, leg_count=leg_count, has_arms=has_arms)


# --------------------------------------------------------------------------------------------------
# Table: top, leg, apron.


def _table(rng, varied: bool, parts: dict) -> dict:
    u = rng.uniform
    height = u(0.70, 0.78)
    top_t = u(0.02, 0.05)
    round_top = bool(varied and rng.random() < 0.35)
    if round_top:
        top_w = top_d = u(0.7, 1.3)
    else:
        top_w = u(0.8, 1.8)
        top_d = u(0.6, min(1.0, 0.9 * top_w))
    leg_t = 0.03 + 0.025 * (max(top_w, top_d) - 0.7) / 1.1 + u(0.0, 0.015)
    inset = u(0.03, 0.10)
    apron_h = u(0.06, 0.12)
    apron_t = min(u(0.015, 0.025), 0.6 * leg_t)
    z_leg_top = height - top_t + min(0.01, top_t / 2)

    if varied:
        top_n = (int(rng.integers(1, 11)), int(rng.integers(1, 7)), 1)
        segments = int(rng.choice([24, 32, 40, 48]))
        round_legs = bool(rng.random() < 0.4)
        leg_segments = int(rng.choice([8, 12, 16]))
        leg_taper = u(0.6, 1.0) if round_legs else 1.0
        leg_rings = int(rng.integers(1, 7))
        if round_top:
            layout = _choice(rng, ("radial3", "radial4", "pedestal"), p=(0.3, 0.3, 0.4))
            has_apron = False
        else:
            layout = "six" if (top_w > 1.4 and rng.random() < 0.5) else "four"
            has_apron = bool(rng.random() < 0.6)
    else:
        top_n, segments, round_legs, leg_segments, leg_taper, leg_rings = (10, 6, 1), 32, False, 8, 1.0, 6
        layout, has_apron = "four", True

    if round_top:
        parts["top"].append(cylinder((0.0, 0.0, height - top_t), (0.0, 0.0, height), top_w / 2, top_w / 2,
                                     segments, 1, name="top"))
    else:
        parts["top"].append(box((0.0, 0.0, height - top_t / 2), (top_w, top_d, top_t), top_n, "top"))

    def leg(x, y):
        if round_legs:
            return cylinder((x, y, 0.0), (x, y, z_leg_top), leg_taper * leg_t / 2, leg_t / 2, leg_segments,
                            leg_rings, name="leg")
        return box((x, y, z_leg_top / 2), (leg_t, leg_t, z_leg_top), (1, 1, leg_rings), "leg")

    if layout in ("four", "six"):
        xl, yl = top_w / 2 - inset - leg_t / 2, top_d / 2 - inset - leg_t / 2
        xs = (-xl, 0.0, xl) if layout == "six" else (-xl, xl)
        for y in (-yl, yl):
            for x in xs:
                parts["leg"].append(leg(x, y))
        if has_apron:
            z0, z1 = height - top_t - apron_h, height - top_t + min(0.004, top_t / 3)
            zc, h = 0.5 * (z0 + z1), z1 - z0
            for y in (-yl, yl):
                parts["apron"].append(box((0.0, y, zc), (2 * xl, apron_t, h), (6, 1, 1), "apron"))
            for x in (-xl, xl):
                parts["apron"].append(box((x, 0.0, zc), (apron_t, 2 * yl, h), (1, 4, 1), "apron"))
    elif layout.startswith("radial"):
        n = int(layout[-1])
        r = top_w / 2 - inset - leg_t / 2
        for a in (np.pi / 2 if n == 3 else np.pi / 4) + 2 * np.pi * np.arange(n) / n:
            parts["leg"].append(leg(r * np.cos(a), r * np.sin(a)))
    else:
        leg_t = u(0.06, 0.12)
        parts["leg"].append(_pedestal(z_leg_top, top_w / 2 * u(0.45, 0.65), leg_t / 2,
                                      min(2.5 * leg_t / 2, top_w / 2 - 0.05), 24, "leg"))

    return dict(top_width=top_w, top_depth=top_d, top_thickness=top_t, leg_thickness=leg_t,
                leg_count=len(parts["leg"]), round_top=round_top, has_apron=bool(parts["apron"]))


# --------------------------------------------------------------------------------------------------
# Lamp: base, stem, shade (a solid shade). Table lamps 0.4-0.75 m, floor lamps 1.3-1.8 m.


def _lamp(rng, varied: bool, parts: dict) -> dict:
    u = rng.uniform
    floor = bool(rng.random() < 0.35)
    if floor:
        height, stem_d = u(1.3, 1.8), u(0.018, 0.032)
        shade_h = height * u(0.14, 0.22)
    else:
        height, stem_d = u(0.4, 0.75), u(0.012, 0.022)
        shade_h = height * u(0.28, 0.42)
    shade_r = shade_h * u(0.6, 1.05)
    shade_top = shade_r * u(0.55, 0.9)
    base_r = float(np.clip(shade_r * u(0.6, 0.95), 0.06, 0.25))
    base_t = u(0.015, 0.04)
    z_shade = height - shade_h

    if varied:
        base_kind = _choice(rng, ("disc", "dome", "square"))
        shade_kind = _choice(rng, ("cone", "drum", "bell", "dome"))
        segments = int(rng.choice([16, 24, 32, 40]))
        stem_segments = int(rng.choice([6, 8, 12, 16]))
        stem_rings = int(rng.integers(1, 9))
        shade_rings = int(rng.integers(3, 10))
    else:
        base_kind, shade_kind, segments, stem_segments, stem_rings, shade_rings = "disc", "cone", 32, 12, 8, 6

    if base_kind == "disc":
        parts["base"].append(cylinder((0.0, 0.0, 0.0), (0.0, 0.0, base_t), base_r, base_r, segments, 1,
                                      name="base"))
    elif base_kind == "dome":
        phi = np.radians(np.linspace(0.0, 75.0, 5))
        parts["base"].append(revolve(base_r * np.cos(phi), 2 * base_t * np.sin(phi), segments,
                                     top_z=2 * base_t, name="base"))
    else:
        n = int(rng.integers(1, 5))
        parts["base"].append(box((0.0, 0.0, base_t / 2), (2 * base_r, 2 * base_r, base_t), (n, n, 1), "base"))

    # The stem starts inside the base and ends 30% up inside the (solid) shade.
    parts["stem"].append(cylinder((0.0, 0.0, base_t / 2), (0.0, 0.0, z_shade + 0.3 * shade_h), stem_d / 2,
                                  stem_d / 2, stem_segments, stem_rings, name="stem"))

    s = np.linspace(0.0, 1.0, shade_rings)
    top_z = None
    if shade_kind == "cone":
        r, z = shade_r + (shade_top - shade_r) * s, z_shade + shade_h * s
    elif shade_kind == "drum":
        r, z = np.full_like(s, shade_r), z_shade + shade_h * s
    elif shade_kind == "bell":
        neck = shade_r * u(0.3, 0.5)
        r, z = neck + (shade_r - neck) * (1.0 - s) ** 2, z_shade + shade_h * s
    else:
        phi = np.radians(70.0) * s
        r, z, top_z = shade_r * np.cos(phi), z_shade + shade_h * np.sin(phi), height
    parts["shade"].append(revolve(r, z, segments, top_z=top_z, name="shade"))

    return dict(base_radius=base_r, stem_thickness=stem_d, shade_radius=shade_r, shade_height=shade_h)


# --------------------------------------------------------------------------------------------------
# Airplane: fuselage, wing, tail, fin, engine. Nose to -Y.


def _airplane(rng, varied: bool, parts: dict) -> dict:
    u = rng.uniform
    length = u(1.0, 1.8)
    r_f = length * u(0.045, 0.07)
    nose_l, tail_l = length * u(0.10, 0.16), length * u(0.26, 0.34)
    upsweep = u(0.55, 0.95)
    r_end = r_f * u(0.12, 0.22)
    y_nose, y_tail = -length / 2, length / 2
    y_cone = y_tail - tail_l

    if varied:
        segments = int(rng.choice([12, 16, 20, 24]))
        n_nose, n_mid, n_tail = int(rng.integers(3, 8)), int(rng.integers(1, 6)), int(rng.integers(3, 10))
        wing_sections, profile = int(rng.integers(2, 6)), int(rng.choice([12, 16, 20]))
        engine_count = int(rng.choice([0, 2, 4], p=[0.15, 0.55, 0.3]))
        engine_segments = int(rng.choice([8, 12, 16]))
    else:
        segments, n_nose, n_mid, n_tail, wing_sections, profile = 16, 6, 4, 8, 4, 16
        engine_count, engine_segments = 2, 12

    def centre_z(y):  # fuselage axis height: 0, rising along the tail cone so the belly sweeps up
        return (r_f - fuselage_r(y)) * upsweep

    def fuselage_r(y):
        s = np.clip((np.asarray(y) - y_cone) / tail_l, 0.0, 1.0)
        return r_f + (r_end - r_f) * s

    # Fuselage: an elliptic nose from a point, a cylinder, a tapered and upswept tail cone.
    s_nose = 1.0 - np.cos(0.5 * np.pi * np.arange(1, n_nose + 1) / n_nose)
    y = np.concatenate([y_nose + nose_l * s_nose,
                        np.linspace(y_nose + nose_l, y_cone, n_mid + 1)[1:],
                        np.linspace(y_cone, y_tail, n_tail + 1)[1:]])
    radius = np.where(y < y_nose + nose_l, r_f * np.sqrt(np.clip(1.0 - (1.0 - (y - y_nose) / nose_l) ** 2, 0, 1)),
                      fuselage_r(y))
    centres = np.column_stack([np.zeros_like(y), y, centre_z(y)])
    rings = circular_sections(centres, radius, (0.0, 0.0, 1.0), (1.0, 0.0, 0.0), segments)
    parts["fuselage"].append(loft(rings, start_apex=(0.0, y_nose, 0.0), name="fuselage"))

    # Main wing, one piece from tip to tip through the fuselage.
    c_root = length * u(0.14, 0.22)
    taper = u(0.25, 0.6)
    semispan = length * u(0.4, 0.6)
    sweep = u(0.0, 38.0)
    dihedral = u(0.0, 6.0)
    thickness = u(0.10, 0.15)
    y_wing = y_nose + length * u(0.30, 0.42)
    z_wing = u(-0.6, 0.5) * (r_f - 0.08 * c_root)
    parts["wing"].append(wing((0.0, y_wing, z_wing), c_root, taper * c_root, semispan, sweep, dihedral,
                              thickness, sections=wing_sections, profile_points=profile, mirrored=True,
                              name="wing"))

    # Horizontal stabiliser and fin, ending 1-2% of the length before the tail end.
    span_t = semispan * u(0.3, 0.4)
    c_t = c_root * u(0.45, 0.65)
    taper_t = u(0.45, 0.75)
    sweep_t = float(np.clip(sweep + u(0.0, 12.0), 5.0, 45.0))
    y_t = y_tail - 0.02 * length - max(c_t, span_t * np.tan(np.radians(sweep_t)) + taper_t * c_t)
    z_t = float(centre_z(y_t + c_t / 2))
    parts["tail"].append(wing((0.0, y_t, z_t), c_t, taper_t * c_t, span_t, sweep_t, u(0.0, 4.0), 0.10,
                              sections=3, profile_points=profile, mirrored=True, name="tail"))
    h_f = span_t * u(0.7, 1.0)
    c_f = c_t * u(0.9, 1.3)
    taper_f = u(0.4, 0.7)
    sweep_f = u(30.0, 45.0)
    y_f = y_tail - 0.01 * length - max(c_f, h_f * np.tan(np.radians(sweep_f)) + taper_f * c_f)
    z_f = float(centre_z(y_f + c_f / 2))
    parts["fin"].append(wing((0.0, y_f, z_f), c_f, taper_f * c_f, h_f, sweep_f, 0.0, 0.10,
                             span_axis=(0.0, 0.0, 1.0), up_axis=(1.0, 0.0, 0.0), sections=3,
                             profile_points=profile, name="fin"))

    # Engines: nacelles hung under the wing, their top line on the wing's mid-plane.
    if engine_count:
        etas = [u(0.28, 0.4)] if engine_count == 2 else [u(0.22, 0.32), u(0.5, 0.62)]
        r_e = r_f * u(0.32, 0.45)
        l_e = c_root * u(0.5, 0.75)
        s = np.array([0.0, 0.15, 0.5, 0.85, 1.0])
        profile_r = r_e * np.array([0.8, 1.0, 1.0, 0.9, 0.65])
        for eta in etas:
            x = eta * semispan
            y_le = y_wing + x * np.tan(np.radians(sweep))
            z_mid = z_wing + x * np.tan(np.radians(dihedral))
            for side in (-1.0, 1.0):
                parts["engine"].append(revolve(profile_r, s * l_e, engine_segments,
                                               center=(side * x, y_le - 0.4 * l_e, z_mid - r_e),
                                               axis=(0.0, 1.0, 0.0), name="engine"))

    return dict(wing_sweep=sweep, fuselage_radius=r_f, engine_count=len(parts["engine"]))


# --------------------------------------------------------------------------------------------------
# Vase: body (a hollow vessel of revolution), foot, lip (a bead round the rim), handle.


def _vase(rng, varied: bool, parts: dict) -> dict:
    u = rng.uniform
    height = u(0.2, 0.6)
    if varied:
        has_foot, has_lip = bool(rng.random() < 0.6), bool(rng.random() < 0.6)
        handles = 2 if rng.random() < 0.3 else 0
        segments = int(rng.choice([16, 24, 32, 40, 48]))
        n_low, n_mid, n_up = int(rng.integers(4, 13)), int(rng.integers(3, 10)), int(rng.integers(2, 8))
        lip_points = int(rng.choice([8, 12]))
    else:
        has_foot, has_lip, handles, segments, n_low, n_mid, n_up, lip_points = True, True, 0, 32, 10, 8, 6, 8

    max_r = height * u(0.18, 0.42)
    belly = u(0.25, 0.65)
    neck_r = max_r * u(0.3, 0.8)
    wall = min(u(0.005, 0.01), 0.25 * neck_r)
    foot_h = u(0.01, 0.03) if has_foot else 0.0
    rho = wall * u(0.7, 1.0) if has_lip else 0.0
    z_top = height - rho
    z0 = foot_h - min(0.004, 0.3 * foot_h) if has_foot else 0.0
    floor_t = u(0.008, 0.02)
    z_belly = float(np.clip(belly * height, z0 + 0.15 * (z_top - z0), z_top - 0.3 * (z_top - z0)))
    z_neck = z_belly + (z_top - z_belly) * u(0.55, 0.85)
    r_bottom = max_r * u(0.45, 0.85)
    lip_r = max(neck_r, min(neck_r * (1.0 + u(0.0, 0.6)), 0.95 * max_r - rho))

    radius = _ease_profile([z0, z_belly, z_neck, z_top], [r_bottom, max_r, neck_r, lip_r])
    z_out = np.concatenate([np.linspace(z0, z_belly, n_low + 1), np.linspace(z_belly, z_neck, n_mid + 1)[1:],
                            np.linspace(z_neck, z_top, n_up + 1)[1:]])
    z_floor = z0 + floor_t
    z_in = (z_floor + (z_out - z0) / (z_top - z0) * (z_top - z_floor))[::-1]
    parts["body"].append(revolve(np.concatenate([radius(z_out), radius(z_in) - wall]),
                                 np.concatenate([z_out, z_in]), segments, name="body"))

    if has_foot:
        r_foot_top = r_bottom * u(0.8, 0.95)
        r_foot = min(r_bottom * u(0.9, 1.15), 0.95 * max_r)
        parts["foot"].append(revolve([r_foot, r_foot_top], [0.0, foot_h], segments, name="foot"))
    if has_lip:
        beta = 2 * np.pi * np.arange(lip_points) / lip_points
        parts["lip"].append(revolve(lip_r - wall / 2 + rho * np.cos(beta), z_top + rho * np.sin(beta),
                                    segments, closed=True, name="lip"))
    if handles:
        tube = min(u(0.004, 0.009), 0.25 * wall + 0.004)
        z_hi = z_neck + (z_top - rho - z_neck) * u(0.0, 0.4)
        z_lo = z_belly + (z_neck - z_belly) * u(0.1, 0.4)
        r_hi, r_lo = float(radius(z_hi)), float(radius(z_lo))
        half_h = 0.5 * (z_hi - z_lo)
        reach = max(u(0.015, 0.04), np.sqrt(2.5 * tube * half_h))
        r_c = max(r_hi, r_lo) + u(0.005, 0.02)
        phi = np.linspace(np.pi / 2, -np.pi / 2, 11)
        t_in = np.linspace(0.0, 1.0, 4)[:-1]
        path_r = np.concatenate([r_hi - wall / 2 + (r_c - r_hi + wall / 2) * t_in, r_c + reach * np.cos(phi),
                                 (r_lo - wall / 2 + (r_c - r_lo + wall / 2) * t_in)[::-1]])
        path_z = np.concatenate([np.full(3, z_hi), z_lo + half_h + half_h * np.sin(phi), np.full(3, z_lo)])
        tang = np.concatenate([np.tile([1.0, 0.0], (3, 1)),
                               np.column_stack([reach * np.sin(phi), -half_h * np.cos(phi)]),
                               np.tile([-1.0, 0.0], (3, 1))])
        tang /= np.linalg.norm(tang, axis=1, keepdims=True)
        for psi in (0.0, np.pi):
            radial, across = np.array([np.cos(psi), np.sin(psi), 0.0]), np.array([-np.sin(psi), np.cos(psi), 0.0])
            centres = path_r[:, None] * radial + path_z[:, None] * np.array(_UP)
            normal = -tang[:, 1:2] * radial + tang[:, 0:1] * np.array(_UP)
            parts["handle"].append(loft(circular_sections(centres, np.full(len(path_r), tube), normal, across, 8),
                                        name="handle"))

    return dict(max_radius=max_r, neck_radius=neck_r, _belly_z=z_belly,
                lip_flare=lip_r / neck_r - 1.0, handle_count=handles)


_BUILDERS = {"chair": _chair, "table": _table, "lamp": _lamp, "airplane": _airplane, "vase": _vase}
