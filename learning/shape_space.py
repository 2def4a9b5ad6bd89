"""PCA shape spaces (Allen et al. 2003): the mean shape and principal components of a collection
of shapes in correspondence, each shape flattened to one row of vertex coordinates."""

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


SHAPE_SPACE_KIND = "shape_space"


def save_shape_space(path, space: ShapeSpace, face_sizes: np.ndarray, corner_vertices: np.ndarray, *,
                     collection: str = "", shape_names=(), alignment: str = "none", coefficients=None,
                     correspondence: str = "topology", residuals=None):
    """Write a shape space (with the mesh connectivity its shapes share) as a safe model file.

    `coefficients` (N, k): the training shapes' coordinates, in `shape_names` order, so attributes
    can be learned later without reading the shapes again; `residuals`: template-fit residuals.
    """
    from .model_files import save_model_file

    arrays = space.to_arrays() | {"face_sizes": np.asarray(face_sizes, np.int32),
                                  "corner_vertices": np.asarray(corner_vertices, np.int32)}
    if coefficients is not None:
        arrays["coefficients"] = np.asarray(coefficients, np.float64)
    if residuals is not None:
        arrays["fit_residuals"] = np.asarray(residuals, np.float64)
    explained = space.explained_ratio
    return save_model_file(path, SHAPE_SPACE_KIND, arrays, collection=collection, attribute_names=list(shape_names),
                           feature_layout={"vertices": int(len(space.mean) // 3), "components": int(space.k)},
                           metrics={"components": int(space.k), "explained_variance": float(explained.sum())},
                           info={"alignment": alignment, "explained_ratio": [float(e) for e in explained],
                                 "correspondence": correspondence})


def load_shape_space(path):
    """(ShapeSpace, face sizes, corner vertices, metadata) from a shape-space model file."""
    from .model_files import ModelFileError, load_model_file

    model = load_model_file(path, expected_kind=SHAPE_SPACE_KIND)
    try:
        space = ShapeSpace.from_arrays(model.arrays)
        return space, model.arrays["face_sizes"], model.arrays["corner_vertices"], model.metadata
    except KeyError as missing:
        raise ModelFileError(path, f"the shape space in it lacks {missing}", "Learn the shape space again") from None
