"""PCA shape spaces (Allen et al. 2003): the mean shape and principal components of a collection
of shapes in correspondence, each shape flattened to one row of vertex coordinates; the automatic
choice of alignment before learning; and a new shape's projection, written back in its own frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ShapeSpace:
    mean: np.ndarray  # (D,) float32, D = 3 × vertices
    components: np.ndarray  # (k, D) float32, orthonormal rows
    variances: np.ndarray  # (k,) variance of the training shapes along each component
    total_variance: float  # variance of the training shapes over all directions

    @property
    def k(self) -> int:
        return len(self.components)

    @property
    def explained_ratio(self) -> np.ndarray:
        return self.variances / self.total_variance if self.total_variance > 0 else np.zeros_like(self.variances)

    @property
    def standard_deviations(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.variances, 0.0))

    def project(self, shapes: np.ndarray) -> np.ndarray:
        """Component coordinates (N, k) of shapes given as (N, D) rows or (N, V, 3) arrays."""
        rows = np.asarray(shapes, dtype=np.float32).reshape(len(shapes), -1)
        return (rows - self.mean) @ self.components.T

    def reconstruct(self, coefficients: np.ndarray) -> np.ndarray:
        """(N, D) shapes from (N, k) coefficients."""
        return np.asarray(coefficients, dtype=np.float32) @ self.components + self.mean

    def sample(self, count: int, seed: int = 0, truncate_sigma: float = 2.0) -> np.ndarray:
        """(count, k) coefficients drawn from the Gaussian of the space, truncated at ±truncate_sigma σ."""
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((count, self.k))
        if truncate_sigma > 0:
            bad = np.abs(z) > truncate_sigma
            while bad.any():  # redraw the tails: a truncated, not a clipped, Gaussian
                z[bad] = rng.standard_normal(int(bad.sum()))
                bad = np.abs(z) > truncate_sigma
        return (z * self.standard_deviations).astype(np.float32)

    def to_arrays(self) -> dict:
        return {"mean": self.mean, "components": self.components, "variances": self.variances,
                "total_variance": np.array([self.total_variance])}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "ShapeSpace":
        return cls(arrays["mean"].astype(np.float32), arrays["components"].astype(np.float32),
                   arrays["variances"].astype(np.float64), float(arrays["total_variance"][0]))


def check_coordinates(shapes: np.ndarray, names=None) -> None:
    """Refuse, by name, shapes with NaN or infinite coordinates or coordinates too large to compare."""
    rows = np.asarray(shapes, dtype=np.float32).reshape(len(shapes), -1)
    if not np.isfinite(rows).all():
        bad = np.where(~np.isfinite(rows).all(axis=1))[0]
        label = ", ".join(str(names[i]) if names is not None else str(i) for i in bad[:5])
        raise ValueError(f"Shapes with NaN or infinite coordinates: {label}")
    extent = np.abs(rows).max(axis=1)
    if extent.max() > 1e15:  # their squares overflow float32 in the Gram matrix
        worst = int(extent.argmax())
        label = str(names[worst]) if names is not None else f"shape {worst}"
        raise ValueError(f"'{label}' has coordinates as large as {extent[worst]:.3g}, too large to compare; scale "
                         "it to a sensible size (and apply the scale) before learning a shape space")


def fit_shape_space(shapes: np.ndarray, k: int | None = None, variance: float | None = None,
                    names=None) -> ShapeSpace:
    """PCA of N shapes with the Gram trick: eigen-decompose the N×N matrix X Xᵀ instead of the
    D×D covariance (N ≪ D for meshes), in float64 for accuracy.

    Choose k by count, or by the fraction of variance to explain (`variance` in (0, 1]).
    """
    rows = np.asarray(shapes, dtype=np.float32).reshape(len(shapes), -1)
    count = len(rows)
    if count < 2:
        raise ValueError(f"A shape space needs at least 2 shapes; {count} given")
    check_coordinates(rows, names)
    max_k = count - 1
    if k is not None and k > max_k:
        raise ValueError(f"{k} components asked for, but {count} shapes give at most {max_k}; "
                         f"lower the count or add shapes")
    mean = rows.mean(axis=0, dtype=np.float64)
    centred = rows - mean.astype(np.float32)
    # float32 BLAS for the two big products (N×D), float64 for the small N×N eigenproblem
    gram = (centred @ centred.T).astype(np.float64)
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    order = np.argsort(eigenvalues)[::-1][:max_k]
    eigenvalues, eigenvectors = np.maximum(eigenvalues[order], 0.0), eigenvectors[:, order]
    total = float(eigenvalues.sum()) / (count - 1)
    if total <= 0:
        raise ValueError("All shapes are identical: there is no variation to learn")
    if k is None:
        fraction = 0.95 if variance is None else float(variance)
        if not 0 < fraction <= 1:
            raise ValueError(f"The variance to explain must be in (0, 1]; {fraction} given")
        cumulative = np.cumsum(eigenvalues) / eigenvalues.sum()
        k = int(np.searchsorted(cumulative, fraction - 1e-12) + 1)
    k = max(1, min(k, max_k))
    keep = eigenvalues[:k] > eigenvalues[0] * 1e-12
    k = int(keep.sum())
    components = (eigenvectors[:, :k].T.astype(np.float32) @ centred) / np.sqrt(eigenvalues[:k]).astype(np.float32)[:, None]
    return ShapeSpace(mean.astype(np.float32), components.astype(np.float32),
                      eigenvalues[:k] / (count - 1), total)


# --- the automatic alignment ---------------------------------------------------------------------
#
# Rigid alignment removes the differences of position and orientation. For shapes that were made
# in one frame (a chair standing on the floor, centred on its axis) those differences are shape:
# a taller vase has a higher centroid, and aligning it away lifts an edited vase off the floor.
# For scans and posed meshes they are placement: a person standing elsewhere or turned. So the
# choice measures whether the collection shares one frame.
#
# Measured on the built-in families (16 shapes each, seeds 0-5, 5-30 shapes): in one frame, every
# shape's bounding box keeps a side or its centre at the same coordinate on at least 2 axes
# (exactly, or within 0.5% of the size after template fitting), and rigid rotation removes at most
# 12% of the variance left after centring (chairs; 0-0.3% for vases, tables, airplanes, bodies).
# The same shapes turned by ±5°/±1° and moved by 1% of their size share no anchor on any axis;
# turned by ±15°/±3°, rotation removes 30-48% of the centred variance.
ANCHOR_TOLERANCE = 0.005  # of the mean bounding-box diagonal
SHARED_AXES_NEEDED = 2
ROTATION_SHARE_LIMIT = 0.25  # a larger share of the centred variance removed by rotation: the shapes are turned


@dataclass
class AlignmentChoice:
    alignment: str  # 'NONE' or 'RIGID'
    shared_axes: int  # axes on which every shape's bounding box keeps a side or centre in one place
    rotation_share: float  # share of the variance (after centring) that rigid rotation removes
    reason: str  # one sentence for the report


def _variance(shapes: np.ndarray) -> float:
    return float(((shapes - shapes.mean(axis=0)) ** 2).sum())


def choose_alignment(shapes: np.ndarray, rigidly_aligned: np.ndarray) -> AlignmentChoice:
    """'NONE' when the shapes (N, V, 3) already share one frame, else 'RIGID'.

    `rigidly_aligned` is the same shapes after rigid Procrustes alignment (the caller aligns, so
    this module stays free of the correspondence code)."""
    shapes = np.asarray(shapes, dtype=np.float64)
    aligned = np.asarray(rigidly_aligned, dtype=np.float64)
    low, high = shapes.min(axis=1), shapes.max(axis=1)  # (N, 3)
    size = float(np.linalg.norm(high - low, axis=1).mean()) or 1.0
    anchors = np.stack([low, (low + high) / 2, high])  # (3 anchors, N, 3 axes)
    spread = anchors.std(axis=1).min(axis=0) / size  # the steadiest anchor per axis
    shared_axes = int((spread <= ANCHOR_TOLERANCE).sum())
    centred = shapes - shapes.mean(axis=1, keepdims=True)
    centred_variance = _variance(centred)
    rotation_share = float(1.0 - _variance(aligned) / centred_variance) if centred_variance > 0 else 0.0
    if shared_axes < SHARED_AXES_NEEDED:
        reason = (f"the shapes do not share one frame (their bounding boxes line up on {shared_axes} of 3 axes), "
                  "so rigid alignment removes their differences of position and orientation")
        return AlignmentChoice('RIGID', shared_axes, rotation_share, reason)
    if rotation_share > ROTATION_SHARE_LIMIT:
        reason = (f"the shapes are turned relative to each other (rotating them removes "
                  f"{100 * rotation_share:.0f}% of their variance), so rigid alignment removes it")
        return AlignmentChoice('RIGID', shared_axes, rotation_share, reason)
    reason = (f"the shapes share one frame (their bounding boxes line up on {shared_axes} of 3 axes and rotating "
              f"them would remove only {100 * max(rotation_share, 0.0):.0f}% of their variance), so they were "
              "used where they are")
    return AlignmentChoice('NONE', shared_axes, rotation_share, reason)


# --- projecting a new shape -------------------------------------------------------------------------

@dataclass
class Projection:
    coefficients: np.ndarray  # (k,) the shape's coordinates in the space
    rebuilt: np.ndarray  # (V, 3) float32: the space's version of the shape, in the shape's own frame
    mean_error: float  # mean distance from each vertex to its rebuilt position (the shape's units)
    relative_error: float  # mean_error over the shape's bounding-box diagonal


def project_in_frame(space: ShapeSpace, positions: np.ndarray, rotation=None, scale: float = 1.0,
                     translation=None) -> Projection:
    """Project a shape given in its own frame, where the space's frame is
    aligned = scale · positions · rotationᵀ + translation, and rebuild it back in its own frame
    (local = (aligned − translation) · rotation / scale), so an edit lands where the shape was."""
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    rotation = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    translation = np.zeros(3) if translation is None else np.asarray(translation, dtype=np.float64)
    if len(positions) * 3 != len(space.mean):
        raise ValueError(f"A shape of {len(positions)} vertices cannot be projected into a space of "
                         f"{len(space.mean) // 3}; fit the space's template to it first")
    aligned = scale * positions @ rotation.T + translation
    coefficients = space.project(aligned[None].astype(np.float32))[0].astype(np.float64)
    rebuilt_aligned = space.reconstruct(coefficients[None]).reshape(-1, 3).astype(np.float64)
    rebuilt = ((rebuilt_aligned - translation) @ rotation) / scale
    mean_error = float(np.linalg.norm(rebuilt - positions, axis=1).mean())
    diagonal = float(np.linalg.norm(positions.max(axis=0) - positions.min(axis=0))) or 1.0
    return Projection(coefficients, rebuilt.astype(np.float32), mean_error, mean_error / diagonal)


# --- joints from a mesh -----------------------------------------------------------------------------

def affine_joint_regressor(rest_shapes, joints, candidates: int = 300, ridge: float = 1e-7) -> np.ndarray:
    """(J, V) regressor placing each joint as an affine combination (weights summing to 1, so it moves
    with the mesh) of the `candidates` vertices nearest to it, learned from example rest shapes
    (S, V, 3) and their joints (S, J, 3) by least squares with a small pull towards equal weights.

    Measured on MakeHuman bodies (45 learned, 15 held out, joints from the rig's joint cubes, which
    a body-only mesh lacks): 1.4 mm mean, 10.6 mm worst joint error."""
    shapes = np.asarray(rest_shapes, dtype=np.float64)
    joints = np.asarray(joints, dtype=np.float64)
    count, vertex_count, _ = shapes.shape
    candidates = int(min(candidates, vertex_count))
    mean = shapes.mean(axis=0)
    regressor = np.zeros((joints.shape[1], vertex_count))
    system = np.zeros((candidates + 1, candidates + 1))
    system[:candidates, candidates] = system[candidates, :candidates] = 1.0
    for j in range(joints.shape[1]):  # per joint (tens), a small constrained least squares
        distance = np.linalg.norm(mean - joints[:, j].mean(axis=0), axis=1)
        nearest = np.argpartition(distance, candidates - 1)[:candidates]
        x = shapes[:, nearest, :].transpose(0, 2, 1).reshape(-1, candidates)  # (3S, K): every coordinate alike
        y = joints[:, j, :].reshape(-1)
        gram = x.T @ x
        pull = ridge * np.trace(gram) / candidates
        system[:candidates, :candidates] = gram + pull * np.eye(candidates)
        rhs = np.concatenate([x.T @ y + pull / candidates, [1.0]])
        regressor[j, nearest] = np.linalg.solve(system, rhs)[:candidates]
    return regressor


SHAPE_SPACE_KIND = "shape_space"
ARTICULATED_PREFIX = "articulated_"  # arrays of the pose model in an articulated shape space's file


def save_shape_space(path, space: ShapeSpace, face_sizes: np.ndarray, corner_vertices: np.ndarray, *,
                     collection: str = "", shape_names=(), alignment: str = "none", coefficients=None,
                     correspondence: str = "topology", residuals=None, alignment_reason: str = "",
                     articulated=None, articulated_info: dict | None = None):
    """Write a shape space (with the mesh connectivity its shapes share) as a safe model file.

    `coefficients` (N, k): the training shapes' coordinates, in `shape_names` order, so attributes
    can be learned later without reading the shapes again; `residuals`: template-fit residuals.
    `articulated`: arrays of the pose model (ArticulatedSpace.to_arrays plus the writer's own,
    text-free), kept under ARTICULATED_PREFIX; `space` is then its rest-pose shape space.
    """
    from .model_files import save_model_file

    arrays = space.to_arrays() | {"face_sizes": np.asarray(face_sizes, np.int32),
                                  "corner_vertices": np.asarray(corner_vertices, np.int32)}
    for name, array in (articulated or {}).items():
        arrays[ARTICULATED_PREFIX + name] = np.asarray(array)
    if coefficients is not None:
        arrays["coefficients"] = np.asarray(coefficients, np.float64)
    if residuals is not None:
        arrays["fit_residuals"] = np.asarray(residuals, np.float64)
    explained = space.explained_ratio
    return save_model_file(path, SHAPE_SPACE_KIND, arrays, collection=collection, attribute_names=list(shape_names),
                           feature_layout={"vertices": int(len(space.mean) // 3), "components": int(space.k)},
                           metrics={"components": int(space.k), "explained_variance": float(explained.sum())},
                           info={"alignment": alignment, "explained_ratio": [float(e) for e in explained],
                                 "correspondence": correspondence, "alignment_reason": alignment_reason,
                                 "articulated": articulated_info or {}})


def load_shape_space(path):
    """(ShapeSpace, face sizes, corner vertices, metadata) from a shape-space model file."""
    from .model_files import ModelFileError, load_model_file

    model = load_model_file(path, expected_kind=SHAPE_SPACE_KIND)
    try:
        space = ShapeSpace.from_arrays(model.arrays)
        return space, model.arrays["face_sizes"], model.arrays["corner_vertices"], model.metadata
    except KeyError as missing:
        raise ModelFileError(path, f"the shape space in it lacks {missing}", "Learn the shape space again") from None


def load_articulated_arrays(path) -> tuple[dict, dict]:
    """(the pose model's arrays without ARTICULATED_PREFIX, metadata) of an articulated shape space."""
    from .model_files import ModelFileError, load_model_file

    model = load_model_file(path, expected_kind=SHAPE_SPACE_KIND)
    arrays = {name[len(ARTICULATED_PREFIX):]: array for name, array in model.arrays.items()
              if name.startswith(ARTICULATED_PREFIX)}
    if not arrays:
        raise ModelFileError(path, "it holds a plain shape space, not an articulated one",
                             "Learn the shape space with Alignment: Articulated")
    return arrays, model.metadata
