"""Placing parts from different shapes so that they meet (Kalogerakis et al. 2012, section 5), and
the checks an assembled shape must pass: slots meet, nothing floats, no part cuts into another.

Each part gets a translation t and a per-axis scale s (world = t + s ⊙ (x − part centre)), found by
linear least squares, one small system per axis: the contact regions recorded in the training
shapes (slots) must coincide, grounded parts stay on the ground, parts centred on the symmetry plane
x = 0 stay there, and scales stay near 1. The first label (the seat, the fuselage …) keeps its place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mesh_arrays import MeshArrays, concatenate_parts
from .template_fitting import sample_with_normals

CONTACT_WEIGHT = 30.0
GROUND_WEIGHT = 30.0
SYMMETRY_WEIGHT = 30.0
SCALE_WEIGHT = 1.0
ANCHOR_WEIGHT = 0.05
SLOT_TOLERANCE = 0.01  # slots must meet within this share of the assembly's bounding-box diagonal
PENETRATION_MARGIN = 0.03  # share of a part's surface that may lie inside another part, beyond what
# the training shapes show for the two labels (parts that meet overlap a little by design)
SCALE_RANGE = (0.4, 2.5)


@dataclass
class Placement:
    translations: dict  # label -> (3,)
    scales: dict  # label -> (3,)
    contacts: list  # (a, b) label pairs whose slots were matched
    slot_error: float  # largest slot mismatch / assembly diagonal
    penetration: float  # largest share of a part's surface inside another part (beyond what contacts allow)
    floating: list  # labels not connected to the ground through contacts
    mesh: MeshArrays | None = None

    @property
    def valid(self) -> bool:
        return self.slot_error <= SLOT_TOLERANCE and not self.floating and self.penetration <= 0.0


def _place(part, t, s):
    return t + s * (np.asarray(part.mesh.vertices, dtype=np.float64) - part.centre)


def solve_placement(parts: dict, labels: list, overlaps: dict | None = None) -> Placement:
    """Translations and scales for {label: Part} (parts from any shapes), then the checks.
    `overlaps`: (a, b) -> the share of a's surface inside b that training shapes show (see
    training_overlaps); pairs not listed may overlap by PENETRATION_MARGIN only."""
    order = [label for label in labels if label in parts]
    index = {label: i for i, label in enumerate(order)}
    contacts = [(a, b) for a in order for b in order
                if a < b and b in parts[a].contacts and a in parts[b].contacts]
    count = len(order)
    translations = np.zeros((count, 3))
    scales = np.ones((count, 3))
    for axis in range(3):
        rows, rhs = [], []

        def equation(weight, terms, value=0.0):
            row = np.zeros(2 * count)  # [t_0..t_{P-1}, s_0..s_{P-1}]
            for column, coefficient in terms:
                row[column] += coefficient
            rows.append(weight * row)
            rhs.append(weight * value)

        for a, b in contacts:
            pa, pb = parts[a], parts[b]
            for corner in (0, 1):
                ra, rb = pa.contacts[b][corner][axis], pb.contacts[a][corner][axis]
                equation(CONTACT_WEIGHT, [(index[a], 1.0), (count + index[a], ra - pa.centre[axis]),
                                          (index[b], -1.0), (count + index[b], -(rb - pb.centre[axis]))])
        for label in order:
            part, i = parts[label], index[label]
            equation(SCALE_WEIGHT, [(count + i, 1.0)], 1.0)
            equation(ANCHOR_WEIGHT, [(i, 1.0)], part.centre[axis])  # a part nothing holds stays put
            if axis == 2 and part.grounded:
                equation(GROUND_WEIGHT, [(i, 1.0), (count + i, part.low[2] - part.centre[2])], 0.0)
            if axis == 0 and abs(part.centre[0]) < 0.01 * max(float(np.linalg.norm(part.size)), 1e-9):
                equation(SYMMETRY_WEIGHT, [(i, 1.0)], 0.0)
        root = parts[order[0]]
        equation(SCALE_WEIGHT, [(0, 1.0)], root.centre[axis])  # the first label keeps its place
        solution = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
        translations[:, axis], scales[:, axis] = solution[:count], solution[count:]

    t = {label: translations[index[label]] for label in order}
    s = {label: scales[index[label]] for label in order}
    placed = {label: _place(parts[label], t[label], s[label]) for label in order}
    everything = np.concatenate(list(placed.values()))
    diagonal = float(np.linalg.norm(np.ptp(everything, axis=0))) or 1.0
    slot_error = 0.0
    for a, b in contacts:
        for corner in (0, 1):
            world_a = t[a] + s[a] * (parts[a].contacts[b][corner] - parts[a].centre)
            world_b = t[b] + s[b] * (parts[b].contacts[a][corner] - parts[b].centre)
            slot_error = max(slot_error, float(np.linalg.norm(world_a - world_b)) / diagonal)
    if any(np.any(s[label] < SCALE_RANGE[0]) or np.any(s[label] > SCALE_RANGE[1]) for label in order):
        slot_error = max(slot_error, np.inf)  # a part stretched beyond recognition is no placement
    floating = _floating(order, contacts, parts, placed, diagonal)
    penetration = _penetration(order, parts, placed, overlaps or {})
    pieces = []
    for label in order:
        mesh = parts[label].mesh
        pieces.append((label, MeshArrays(label, placed[label], mesh.face_sizes, mesh.corner_vertices)))
    mesh = concatenate_parts("assembly", pieces)
    return Placement(t, s, contacts, slot_error, penetration, floating, mesh)


def _floating(order, contacts, parts, placed, diagonal) -> list:
    ground = min(float(p[:, 2].min()) for p in placed.values())
    reached = {label for label in order if parts[label].grounded
               and float(placed[label][:, 2].min()) - ground < 0.005 * diagonal}
    changed = True
    while changed:
        changed = False
        for a, b in contacts:
            if (a in reached) != (b in reached):
                reached |= {a, b}
                changed = True
    return [label for label in order if label not in reached]


def winding_numbers(points: np.ndarray, vertices: np.ndarray, triangles: np.ndarray, chunk: int = 256):
    """Generalized winding number of a triangle mesh at each point (≈1 inside a closed mesh, 0 outside),
    exactly (brute force over all triangles: shapespace.winding.exact_winding_numbers; `chunk` is kept
    for callers, memory is bounded there). Many points on a big mesh: shapespace.winding.WindingTree."""
    from .winding import exact_winding_numbers

    vertices = np.asarray(vertices, np.float64)
    return exact_winding_numbers(points, vertices[np.asarray(triangles, np.int64)])


def _inside_shares(order, parts, placed, samples: int = 300) -> dict:
    """(a, b) -> share of part a's surface samples inside part b, for parts whose boxes meet."""
    shares = {}
    for a in order:
        points = None
        for b in order:
            if a == b:
                continue
            low, high = placed[b].min(axis=0), placed[b].max(axis=0)
            if points is None:
                points, _ = sample_with_normals(placed[a], parts[a].mesh.triangles, samples, 0)
            inside_box = np.all((points >= low) & (points <= high), axis=1)
            if inside_box.any():
                inside = winding_numbers(points[inside_box], placed[b], parts[b].mesh.triangles) > 0.5
                shares[(a, b)] = float(inside.sum()) / len(points)
    return shares


def training_overlaps(parts_per_shape, limit: int = 20, progress=None, should_stop=None) -> dict:
    """(a, b) -> the largest share of an a-part's surface inside the b-part in (up to `limit`)
    training shapes: how much parts of these labels overlap where they meet by design.
    progress(fraction, message) is called after each shape; when should_stop() says so, it returns
    what it has measured so far."""
    out = {}
    measured = parts_per_shape[:limit]
    for done, parts in enumerate(measured):
        if should_stop is not None and should_stop():
            break
        order = list(parts)
        placed = {label: np.asarray(parts[label].mesh.vertices, dtype=np.float64) for label in order}
        for pair, share in _inside_shares(order, parts, placed).items():
            out[pair] = max(out.get(pair, 0.0), share)
        if progress is not None:
            progress((done + 1) / len(measured), f"measured how parts meet in {done + 1}/{len(measured)} shapes")
    return out


def _penetration(order, parts, placed, overlaps) -> float:
    """How far the worst pair of parts exceeds its allowed overlap (0: within tolerance)."""
    worst = 0.0
    for pair, share in _inside_shares(order, parts, placed).items():
        worst = max(worst, share - overlaps.get(pair, 0.0) - PENETRATION_MARGIN)
    return worst
