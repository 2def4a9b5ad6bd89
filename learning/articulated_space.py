"""A pose-aware (articulated, SMPL-style) shape space learned from a collection of posed meshes, in numpy.

Loper et al. 2015 (SMPL): a mesh is a rest shape (mean + PCA components × coefficients) plus
pose-corrective offsets (linear in the joint rotation matrices), posed by linear blend skinning (LBS)
about joints regressed from the shape. Here the skeleton (parents) and skinning weights are given
(the user's armature, or the MakeHuman rig: shapespace.body_rig); everything else is learned:

1. Unposing. Each person starts as the rest template fitted to their rest joints
   (``fit_template_to_joints``: every bone turned, scaled and moved onto the person's skeleton).
   Every mesh's joint rotations are solved by fitting LBS of its person's rest shape to it: a
   weighted Procrustes (Kabsch) per bone on the vertices it moves, then Gauss-Newton with the
   analytic LBS Jacobian (a rotation ω_j of joint j's subtree about its posed joint moves a vertex by
   ω_j × (Σ_{k in subtree} w_k y_k − s_j P_j)). The mesh is then unposed by inverting each vertex's
   blended 3×3 transform; a person's rest shape is the mean of their unposed meshes, turned bone by
   bone onto the mean of all people (nothing in the meshes pins a bone's twist or an end bone, so
   rest poses would otherwise drift apart). Two rounds of fit / unpose / average.
2. Pose correctives: ridge regression from the rotation features (R_j − I, non-root joints) to the
   unposed meshes' residuals from their person's rest shape.
3. Shape: PCA (Gram trick, learning.shape_space) of the unposed meshes minus their correctives
   (or of the people's mean rest shapes, ``shape_pca="people"``).
4. Joints: ridge regression from the shape coefficients to the rest joints, so
   joints(c) = joint_mean + c · joint_basis (with a fixed `joint_regressor`: regressor · rest(c)).
   The bones leaving a branching joint (spine → neck and clavicles, root → spine and hips) keep their
   mean directions and change only in length (``branch_directions_fixed``): a shape edit re-aims each
   joint by one rotation (``keep_pose``), which cannot keep several children whose angles change.

Projection (``ArticulatedSpace.fit``): a Procrustes per bone, a few pose-only Gauss-Newton steps,
then Levenberg-Marquardt on pose and shape together on a vertex subset that covers every bone (with
the rotations fixed LBS is linear in the rest vertices and joints, hence in the coefficients, so the
shape block of the Jacobian is k columns), and a closed-form shape solve on every vertex. Alternating
pose and shape instead stalls: on unseen people it left 1.5 cm where the joint solve reaches 0.2 cm.

Rotations follow shapespace.body_rig: relative to the parent, world-aligned axes of the rest pose,
about the joint; ``body_rig.basis_from_rotations`` turns them into Blender pose-bone rotations.
Units are the meshes' (metres in Blender). Arrays go to model files through ``to_arrays`` /
``from_arrays`` (plain arrays, no pickle).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import shapespace
from .shape_space import fit_shape_space

POSE_SUBSET_SIZE = 600  # random vertices for Gauss-Newton pose steps, plus the top ones of every bone
POSE_SUBSET_PER_BONE = 20
SHAPE_NOISE = 0.003  # metres: the noise level that weighs the shape prior in projection
CORRECTIVE_RIDGE = 1.0
JOINT_RIDGE = 1e-3
FIT_CHUNK = 8  # meshes per batched Gauss-Newton solve while learning


def _rig():
    return shapespace("body_rig")


def _subtree_matrix(parents) -> np.ndarray:
    """D (J, J): D[k, j] = 1 when joint k is j or one of its descendants (parents[j] < j)."""
    parents = np.asarray(parents)
    count = len(parents)
    d = np.eye(count)
    for k in range(count - 1, 0, -1):
        if parents[k] >= 0:
            d[:, parents[k]] = np.maximum(d[:, parents[k]], d[:, k])
    return d


def _check_parents(parents) -> np.ndarray:
    parents = np.asarray(parents, dtype=np.int64).reshape(-1)
    if (parents < 0).sum() != 1 or parents[0] >= 0 or np.any(parents[1:] >= np.arange(1, len(parents))):
        raise ValueError("parents must list one root first (-1) and every other joint after its parent "
                         "(parents[j] < j); sort the bones by depth")
    return parents


def pose_subset(weights, size: int = POSE_SUBSET_SIZE, per_bone: int = POSE_SUBSET_PER_BONE, seed: int = 0):
    """Vertex ids for pose fitting: `size` random ones plus every bone's `per_bone` most weighted."""
    weights = np.asarray(weights)
    count = len(weights)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(count, size=min(size, count), replace=False)
    top = np.argsort(-weights, axis=0)[:per_bone].reshape(-1)
    return np.unique(np.concatenate([chosen, top]))


def bone_procrustes(rest, rest_joints, target, weights, parents):
    """Initial pose by a weighted Kabsch per bone: local rotations (..., J, 3, 3) and root translation
    (..., 3) that carry `rest` (..., V, 3) near `target` (..., V, 3)."""
    w = np.asarray(weights, dtype=np.float64)
    mass = np.maximum(w.sum(axis=0), 1e-12)
    rest = np.asarray(rest, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    rest_centre = (w.T @ rest) / mass[:, None]
    target_centre = (w.T @ target) / mass[:, None]
    # cov_j = Σ_v w_vj (x_v − cx_j)(s_v − cs_j)ᵀ = Σ w x sᵀ − mass cx csᵀ
    outer = (target[..., :, :, None] * rest[..., :, None, :]).reshape(target.shape[:-1] + (9,))
    cov = (w.T @ outer).reshape(outer.shape[:-2] + (w.shape[1], 3, 3)) - mass[:, None, None] * (
        target_centre[..., :, None] * rest_centre[..., None, :])
    u, _, vt = np.linalg.svd(cov)
    det = np.sign(np.linalg.det(u @ vt))
    fix = np.ones(u.shape[:-1])
    fix[..., 2] = det
    world = (u * fix[..., None, :]) @ vt
    local = world.copy()
    for j, parent in enumerate(parents):
        if parent >= 0:
            local[..., j, :, :] = np.swapaxes(world[..., parent, :, :], -1, -2) @ world[..., j, :, :]
    root = int(np.flatnonzero(np.asarray(parents) < 0)[0])
    rj = np.asarray(rest_joints, dtype=np.float64)[..., root, :]
    posed_root = target_centre[..., root, :] - np.einsum("...ab,...b->...a", world[..., root, :, :],
                                                          rest_centre[..., root, :] - rj)
    return local, posed_root - rj


def _cross_matrix(m):
    """[m]× (..., 3, 3): [m]× ω = m × ω."""
    x, y, z = m[..., 0], m[..., 1], m[..., 2]
    zero = np.zeros_like(x)
    return np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(m.shape + (3,))


def _normal_equations(moment, residual):
    """Gauss-Newton normal equations without forming the Jacobian. For joint i the Jacobian block is
    −[m_vi]×, so JᵀJ_ij = Σ_v (m_vi·m_vj) I − m_vj m_viᵀ, Jᵀr_i = Σ_v m_vi × r_v; the root translation
    adds the identity block. moment (..., J, V, 3), residual (..., V, 3) -> (H (..., n, n), g (..., n))."""
    batch = moment.shape[:-3]
    joint_count, vertex_count = moment.shape[-3], moment.shape[-2]
    flat = np.swapaxes(moment, -1, -2).reshape(batch + (3 * joint_count, vertex_count))  # rows (j, c)
    outer = (flat @ np.swapaxes(flat, -1, -2)).reshape(batch + (joint_count, 3, joint_count, 3))
    dots = np.trace(outer, axis1=-3, axis2=-1)  # (..., J, J): Σ_v m_vi·m_vj
    n = 3 * joint_count + 3
    hessian = np.zeros(batch + (n, n))
    rr = dots[..., :, None, :, None] * np.eye(3)[:, None, :] - np.swapaxes(outer, -3, -1)
    hessian[..., :3 * joint_count, :3 * joint_count] = rr.reshape(batch + (3 * joint_count, 3 * joint_count))
    cross = _cross_matrix(moment.sum(axis=-2))  # (..., J, 3, 3): Σ_v [m_vi]×
    hessian[..., :3 * joint_count, 3 * joint_count:] = cross.reshape(batch + (3 * joint_count, 3))
    hessian[..., 3 * joint_count:, :3 * joint_count] = np.swapaxes(
        cross.reshape(batch + (3 * joint_count, 3)), -1, -2)
    hessian[..., 3 * joint_count:, 3 * joint_count:] = vertex_count * np.eye(3)
    mr = (flat @ residual).reshape(batch + (joint_count, 3, 3))  # Σ_v m_vi r_vᵀ
    torque = np.stack([mr[..., 1, 2] - mr[..., 2, 1], mr[..., 2, 0] - mr[..., 0, 2], mr[..., 0, 1] - mr[..., 1, 0]],
                      axis=-1)  # Σ_v m_vi × r_v
    gradient = np.concatenate([torque.reshape(batch + (3 * joint_count,)), residual.sum(axis=-2)], axis=-1)
    return hessian, gradient


def pose_gauss_newton(rest, rest_joints, target, weights, parents, rotations, translation, iterations=6,
                      damping=1e-4):
    """Refine local rotations (..., J, 3, 3) and root translation (..., 3) so that LBS of `rest`
    (..., V, 3) about `rest_joints` (..., J, 3) matches `target` (..., V, 3) in least squares.
    Levenberg-Marquardt steps with the analytic Jacobian; a step that raises the error is undone and
    the damping raised (per mesh of the batch)."""
    rig = _rig()
    w = np.asarray(weights, dtype=np.float64)
    subtree = _subtree_matrix(parents)
    sub_mass = w @ subtree  # (V, J): s_vj, the weight of joint j's subtree
    joint_count = len(parents)
    rest = np.asarray(rest, dtype=np.float64)
    rest_joints = np.asarray(rest_joints, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    rotations = np.array(rotations, dtype=np.float64)
    translation = np.array(translation, dtype=np.float64)
    batch = rotations.shape[:-3]
    lam = np.full(batch, damping)

    def evaluate(rots, trans):
        q, p = rig.pose_transforms(rest_joints, rots, parents, trans)
        shift = p - np.einsum("...jab,...jb->...ja", q, rest_joints)
        blended = (w @ q.reshape(q.shape[:-2] + (9,))).reshape(q.shape[:-3] + (len(w), 3, 3))
        residual = (blended @ rest[..., None])[..., 0] + w @ shift - target
        return q, p, shift, residual, np.einsum("...vc,...vc->...", residual, residual)

    state = evaluate(rotations, translation)
    n = 3 * joint_count + 3
    for _ in range(iterations):
        q, p, shift, residual, energy = state
        # (..., J, V, 3) throughout: contiguous products, no strided copies
        per_bone = rest[..., None, :, :] @ np.swapaxes(q, -1, -2) + shift[..., :, None, :]  # y_vk
        weighted = (w.T[:, :, None] * per_bone).reshape(batch + (joint_count, -1))  # w_vk y_vk
        moment = (subtree.T @ weighted).reshape(per_bone.shape) - sub_mass.T[:, :, None] * p[..., :, None, :]
        hessian, gradient = _normal_equations(moment, residual)
        scale = np.trace(hessian, axis1=-2, axis2=-1) / n
        step = -np.linalg.solve(hessian + (lam * scale)[..., None, None] * np.eye(n), gradient[..., None])[..., 0]
        omega = step[..., :3 * joint_count].reshape(batch + (joint_count, 3))
        increment = rig.axis_angle_to_matrix(omega)
        # ω_j turns joint j's subtree in world axes: in the parent's frame, Q_pᵀ exp(ω_j) Q_p
        new_rotations = rotations.copy()
        for j, parent in enumerate(parents):
            if parent < 0:
                new_rotations[..., j, :, :] = increment[..., j, :, :] @ rotations[..., j, :, :]
            else:
                qp = q[..., parent, :, :]
                new_rotations[..., j, :, :] = (np.swapaxes(qp, -1, -2) @ increment[..., j, :, :] @ qp
                                               @ rotations[..., j, :, :])
        new_translation = translation + step[..., 3 * joint_count:]
        trial = evaluate(new_rotations, new_translation)
        better = trial[4] <= energy
        lam = np.where(better, np.maximum(lam * 0.3, 1e-8), lam * 10.0)
        if np.all(better):
            rotations, translation, state = new_rotations, new_translation, trial
            continue
        rotations = np.where(better[..., None, None, None], new_rotations, rotations)
        translation = np.where(better[..., None], new_translation, translation)
        state = evaluate(rotations, translation)
    return rotations, translation


def unpose(posed, rest_joints, rotations, translation, weights, parents):
    """Inverse LBS: rest vertices (..., V, 3) whose LBS gives `posed` (each vertex's blended 3×3
    transform inverted)."""
    rig = _rig()
    q, p = rig.pose_transforms(rest_joints, rotations, parents, translation)
    w = np.asarray(weights, dtype=np.float64)
    shift = p - np.einsum("...jab,...jb->...ja", q, rest_joints)
    blended = (w @ q.reshape(q.shape[:-2] + (9,))).reshape(q.shape[:-3] + (w.shape[0], 3, 3))
    offset = np.asarray(posed, dtype=np.float64) - w @ shift
    return np.linalg.solve(blended, offset[..., None])[..., 0]


def pose_features(rotations) -> np.ndarray:
    """SMPL's pose-corrective features: (R_j − I) of every non-root joint, flattened, (..., 9 (J−1))."""
    r = np.asarray(rotations, dtype=np.float64)[..., 1:, :, :] - np.eye(3)
    return r.reshape(r.shape[:-3] + (-1,))


@dataclass
class ArticulatedSpace:
    """Rest shape = mean + c · components (+ pose correctives), joints = joint_mean + c · joint_basis,
    posed by LBS with `weights` over the tree `parents` (see the module docstring)."""

    mean: np.ndarray            # (V, 3) float32
    components: np.ndarray      # (k, V, 3) float32
    variances: np.ndarray       # (k,)
    joint_mean: np.ndarray      # (J, 3)
    joint_basis: np.ndarray     # (k, J, 3)
    parents: np.ndarray         # (J,)
    weights: np.ndarray         # (V, J) float32
    pose_basis: np.ndarray      # (F, V, 3) float32, F = 9 (J-1), or (0, V, 3) without correctives
    joint_names: tuple = ()
    tail_mean: np.ndarray | None = None   # (J, 3) bone tails, for writing an armature
    tail_basis: np.ndarray | None = None  # (k, J, 3)

    @property
    def k(self) -> int:
        return len(self.components)

    @property
    def standard_deviations(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.variances, 0.0))

    def _coefficients(self, coefficients) -> np.ndarray:
        c = np.zeros(self.k) if coefficients is None else np.asarray(coefficients, dtype=np.float64).reshape(-1)
        if len(c) != self.k:
            raise ValueError(f"{len(c)} coefficients given; this articulated space has {self.k} components")
        return c

    def rest(self, coefficients=None) -> np.ndarray:
        """The rest-pose shape (V, 3) for shape coefficients (k,)."""
        c = self._coefficients(coefficients)
        return self.mean + np.einsum("k,kvc->vc", c, self.components)

    def joints(self, coefficients=None) -> np.ndarray:
        """Rest-pose joints (J, 3)."""
        c = self._coefficients(coefficients)
        return self.joint_mean + np.einsum("k,kjc->jc", c, self.joint_basis)

    def tails(self, coefficients=None) -> np.ndarray:
        """Rest-pose bone tails (J, 3), when the space was learned with tails."""
        if self.tail_mean is None:
            raise ValueError("this articulated space was learned without bone tails; pass tails= to "
                             "fit_articulated_space")
        c = self._coefficients(coefficients)
        return self.tail_mean + np.einsum("k,kjc->jc", c, self.tail_basis)

    def correctives(self, rotations, ids=None) -> np.ndarray:
        """Pose-corrective offsets (V, 3) of the rest shape for joint rotations (J, 3, 3) (on the
        vertices `ids` only, when given: the fit's vertex subset is cached)."""
        basis = self.pose_basis if ids is None else self._on_subset(ids)[2]
        count = len(self.mean) if ids is None else len(ids)
        if len(basis) == 0:
            return np.zeros((count, 3))
        features = pose_features(rotations).astype(basis.dtype)  # no float64 copy of the basis
        return (features @ basis.reshape(len(basis), -1)).reshape(count, 3).astype(np.float64)

    def _on_subset(self, ids):
        """(mean, components, pose_basis) on the vertices `ids`, cached for the fit's subset."""
        cached = getattr(self, "_subset_arrays", None)
        if cached is None or cached[0] is not ids:
            cached = (ids, self.mean[ids], np.ascontiguousarray(self.components[:, ids]),
                      np.ascontiguousarray(self.pose_basis[:, ids]))
            self._subset_arrays = cached
        return cached[1:]

    def pose(self, coefficients, rotations, translation=None) -> np.ndarray:
        """The posed mesh (V, 3): LBS of rest(c) + correctives(R) about joints(c)."""
        rest = self.rest(coefficients) + self.correctives(rotations)
        posed, _ = _rig().pose_vertices(rest, self.joints(coefficients), rotations, self.parents, self.weights,
                                        translation)
        return posed

    def posed_joints(self, coefficients, rotations, translation=None) -> np.ndarray:
        """The posed joints (J, 3)."""
        _, p = _rig().pose_transforms(self.joints(coefficients), rotations, self.parents, translation)
        return p

    def keep_pose(self, rotations, coefficients, new_coefficients) -> np.ndarray:
        """Rotations (J, 3, 3) that keep every limb's posed direction when the shape changes from
        `coefficients` to `new_coefficients` (a slider edit): each joint's world rotation is turned
        by the rotation carrying its child bones' new rest offsets onto the old ones (the smallest
        rotation for one child, in closed form for all such joints at once; a minimax fit for
        several; none for joints without children)."""
        rig = _rig()
        parents = np.asarray(self.parents)
        old_joints, new_joints = self.joints(coefficients), self.joints(new_coefficients)
        world, _ = rig.pose_transforms(old_joints, rotations, parents)
        children = np.arange(1, len(parents))
        counts = np.bincount(parents[children], minlength=len(parents))
        # unit directions: each child bone counts alike, whatever its length
        old = old_joints[children] - old_joints[parents[children]]
        new = new_joints[children] - new_joints[parents[children]]
        old = old / np.maximum(np.linalg.norm(old, axis=1, keepdims=True), 1e-12)
        new = new / np.maximum(np.linalg.norm(new, axis=1, keepdims=True), 1e-12)
        turns = np.broadcast_to(np.eye(3), world.shape).copy()
        single = counts[parents[children]] == 1
        turns[parents[children][single]] = smallest_rotations(new[single], old[single])
        for j in np.flatnonzero(counts > 1):
            mine = parents[children] == j
            turns[j] = _rotation_onto(new[mine], old[mine])
        corrected = world @ turns
        local = corrected.copy()
        local[children] = np.swapaxes(corrected[parents[children]], -1, -2) @ corrected[children]
        return local

    def corrective_change(self, rotations, previous_rotations) -> np.ndarray:
        """correctives(rotations) − correctives(previous_rotations) (V, 3), in one product: the
        correctives are linear in the pose features."""
        if len(self.pose_basis) == 0:
            return np.zeros((len(self.mean), 3))
        change = pose_features(rotations) - pose_features(previous_rotations)
        # In the basis's own precision (float32 in the file): a float64 product would copy
        # the whole basis (300 MB for a 100k-vertex body) on every slider step.
        basis = self.pose_basis.reshape(len(self.pose_basis), -1)
        moved = change.astype(basis.dtype) @ basis
        return moved.reshape(len(self.mean), 3).astype(np.float64)

    def _shape_columns(self, rotations, translation, ids=None):
        """pose(c, R, t) = base + Σ_k c_k columns_k with R and t fixed (LBS is linear in the rest
        vertices and joints): (base (V', 3), columns (k, V', 3)) on the vertices `ids` (all: None)."""
        rig = _rig()
        ids = slice(None) if ids is None else ids
        q, p0 = rig.pose_transforms(self.joint_mean, rotations, self.parents, translation)
        _, dp = rig.pose_transforms(self.joint_basis, rotations, self.parents, None)  # linear part, (k, J, 3)
        w = self.weights[ids].astype(np.float64)
        blended = (w @ q.reshape(-1, 9)).reshape(-1, 3, 3)
        if isinstance(ids, slice):
            base_rest = self.mean + self.correctives(rotations)
            components = self.components
        else:
            mean, components, _ = self._on_subset(ids)
            base_rest = mean + self.correctives(rotations, ids)
        base = (blended @ base_rest[:, :, None])[:, :, 0] + w @ (p0 - np.einsum("jab,jb->ja", q, self.joint_mean))
        joint_part = dp - np.einsum("jab,kjb->kja", q, self.joint_basis)  # (k, J, 3)
        columns = blended @ np.transpose(components, (1, 2, 0))  # (V', 3, k)
        columns += (w @ np.transpose(joint_part, (1, 2, 0)).reshape(len(self.parents), -1)).reshape(columns.shape)
        return base, np.transpose(columns, (2, 0, 1))

    def _prior(self) -> np.ndarray:
        return SHAPE_NOISE ** 2 / np.maximum(self.variances, 1e-12)

    def _shape_step(self, rotations, translation, target):
        """Coefficients minimising ‖pose(c, R, t) − target‖² + prior, with R and t fixed (linear in c)."""
        base, columns = self._shape_columns(rotations, translation)
        a = columns.reshape(self.k, -1)
        rhs = a @ (np.asarray(target, dtype=np.float64) - base).reshape(-1)
        return np.linalg.solve(a @ a.T + np.diag(self._prior()), rhs)

    def _joint_gauss_newton(self, target, ids, coefficients, rotations, translation, iterations, damping=1e-4):
        """Levenberg-Marquardt on pose and shape together, on the vertices `ids`: alternating the two
        converges slowly (rotations soak up shape differences, then shape adjusts to wrong rotations)."""
        rig = _rig()
        parents = self.parents
        joint_count = len(parents)
        w = self.weights[ids].astype(np.float64)
        subtree = _subtree_matrix(parents)
        sub_mass = w @ subtree
        prior = self._prior()
        n_pose = 3 * joint_count + 3
        n = n_pose + self.k
        c = np.array(coefficients, dtype=np.float64)
        rotations, translation = np.array(rotations, dtype=np.float64), np.array(translation, dtype=np.float64)

        def evaluate(c, rots, trans):
            mean, components, _ = self._on_subset(ids)
            rest = mean + np.einsum("k,kvc->vc", c, components) + self.correctives(rots, ids)
            joints = self.joints(c)
            q, p = rig.pose_transforms(joints, rots, parents, trans)
            shift = p - np.einsum("jab,jb->ja", q, joints)
            blended = (w @ q.reshape(-1, 9)).reshape(-1, 3, 3)
            residual = (blended @ rest[:, :, None])[:, :, 0] + w @ shift - target
            energy = float(np.sum(residual * residual) + prior @ (c * c))
            return rest, q, p, shift, residual, energy

        state = evaluate(c, rotations, translation)
        lam = damping
        for _ in range(iterations):
            rest, q, p, shift, residual, energy = state
            per_bone = rest[None] @ np.swapaxes(q, -1, -2) + shift[:, None, :]  # (J, V', 3)
            weighted = (w.T[:, :, None] * per_bone).reshape(joint_count, -1)
            moment = (subtree.T @ weighted).reshape(per_bone.shape) - sub_mass.T[:, :, None] * p[:, None, :]
            h_pose, g_pose = _normal_equations(moment, residual)
            _, columns = self._shape_columns(rotations, translation, ids)  # (k, V', 3)
            a = columns.reshape(self.k, -1)
            flat = np.swapaxes(moment, -1, -2).reshape(3 * joint_count, -1)  # rows (j, c), columns v
            # Jacobian of joint i is −[m_vi]×, of coefficient k the column a_kv: JᵀJ_ik = Σ_v m_vi × a_kv
            mixed = (flat @ np.transpose(columns, (1, 0, 2)).reshape(len(w), -1)).reshape(joint_count, 3, self.k, 3)
            cross = np.stack([mixed[:, 1, :, 2] - mixed[:, 2, :, 1], mixed[:, 2, :, 0] - mixed[:, 0, :, 2],
                              mixed[:, 0, :, 1] - mixed[:, 1, :, 0]], axis=1)  # (J, 3, k)
            hessian = np.zeros((n, n))
            hessian[:n_pose, :n_pose] = h_pose
            hessian[:3 * joint_count, n_pose:] = cross.reshape(3 * joint_count, self.k)
            hessian[3 * joint_count:n_pose, n_pose:] = columns.sum(axis=1).T
            hessian[n_pose:, :n_pose] = hessian[:n_pose, n_pose:].T
            hessian[n_pose:, n_pose:] = a @ a.T + np.diag(prior)
            gradient = np.concatenate([g_pose, a @ residual.reshape(-1) + prior * c])
            scale = np.maximum(np.diag(hessian), 1e-12)
            for _attempt in range(4):
                step = -np.linalg.solve(hessian + lam * np.diag(scale), gradient)
                omega = step[:3 * joint_count].reshape(joint_count, 3)
                increment = rig.axis_angle_to_matrix(omega)
                new_rotations = rotations.copy()
                for j, parent in enumerate(parents):
                    if parent < 0:
                        new_rotations[j] = increment[j] @ rotations[j]
                    else:
                        new_rotations[j] = q[parent].T @ increment[j] @ q[parent] @ rotations[j]
                trial = evaluate(c + step[n_pose:], new_rotations, translation + step[3 * joint_count:n_pose])
                if trial[5] <= energy:
                    c, rotations = c + step[n_pose:], new_rotations
                    translation = translation + step[3 * joint_count:n_pose]
                    state = trial
                    lam = max(lam * 0.3, 1e-9)
                    break
                lam *= 10.0
        return c, rotations, translation

    def fit(self, mesh_vertices, iterations: int = 5, rotations=None, translation=None):
        """Fit pose and shape together to a mesh (V, 3) of this topology (starting from `rotations`
        and `translation` when given, e.g. the previous frame's, else from a Procrustes per bone).

        Returns (coefficients (k,), rotations (J, 3, 3), translation (3,), error): the error is the
        mean vertex distance of pose(coefficients, rotations, translation) to the mesh.
        """
        target = np.asarray(mesh_vertices, dtype=np.float64)
        if target.shape != self.mean.shape:
            raise ValueError(f"the mesh has {len(target)} vertices, this articulated space {len(self.mean)}; "
                             "project only meshes of the topology it was learned from")
        if not np.isfinite(target).all():
            raise ValueError("the mesh has NaN or infinite vertex coordinates; fix or remove those vertices")
        if getattr(self, "_subset", None) is None:
            self._subset = pose_subset(self.weights)
        subset = self._subset
        w_sub = self.weights[subset]
        c = np.zeros(self.k)
        rest = self.rest(c)
        if rotations is None:
            rotations, translation = bone_procrustes(rest[subset], self.joints(c), target[subset], w_sub, self.parents)
        else:
            rotations = np.asarray(rotations, dtype=np.float64)
            translation = np.zeros(3) if translation is None else np.asarray(translation, dtype=np.float64)
        # pose alone first (the Procrustes start is rough), then pose and shape together on the
        # vertex subset, then the exact shape on every vertex and a last pose touch
        rotations, translation = pose_gauss_newton(rest[subset], self.joints(c), target[subset], w_sub,
                                                   self.parents, rotations, translation, iterations)
        c, rotations, translation = self._joint_gauss_newton(target[subset], subset, c, rotations, translation,
                                                             iterations)
        c = self._shape_step(rotations, translation, target)
        mean, components, _ = self._on_subset(subset)
        rest = mean + np.einsum("k,kvc->vc", c, components) + self.correctives(rotations, subset)
        rotations, translation = pose_gauss_newton(rest, self.joints(c), target[subset], w_sub,
                                                   self.parents, rotations, translation, 2)
        c = self._shape_step(rotations, translation, target)
        error = float(np.linalg.norm(self.pose(c, rotations, translation) - target, axis=1).mean())
        return c, rotations, translation, error

    def measured_direction(self, measure, samples: int = 128, seed: int = 0) -> np.ndarray:
        """The coefficient change per unit of a rest-shape measurement (e.g. height in metres), so
        that adding x × it changes the measurement by about x (+0.10 is about +10 cm of height).

        A least-squares line from `samples` plausible bodies (coefficients ~ N(0, variances)) to
        `measure(rest vertices (V, 3)) -> float` gives the slope g; the change is the least unlikely
        one along it, Σ g / (gᵀ Σ g) with Σ the component variances (it moves the well-sampled
        components, not the noise ones)."""
        _, slope = self.measurement_line(measure, samples, seed)
        spread = self.variances * slope
        return spread / max(float(slope @ spread), 1e-300)

    def measurement_line(self, measure, samples: int = 128, seed: int = 0) -> tuple[float, np.ndarray]:
        """(intercept, slope (k,)): the least-squares line measure(rest(c)) ≈ intercept + slope · c over
        `samples` plausible bodies (coefficients ~ N(0, variances)); a slider's estimate of the
        measurement, consistent with measured_direction (slope · direction = 1)."""
        rng = np.random.default_rng(seed)
        coefficients = rng.normal(size=(samples, self.k)) * self.standard_deviations
        values = np.array([measure(self.rest(c)) for c in coefficients])
        design = np.concatenate([np.ones((samples, 1)), coefficients], axis=1)
        line = np.linalg.lstsq(design, values, rcond=None)[0]
        return float(line[0]), line[1:]

    def to_arrays(self) -> dict:
        arrays = {"mean": self.mean, "components": self.components, "variances": self.variances,
                  "joint_mean": self.joint_mean, "joint_basis": self.joint_basis, "parents": self.parents,
                  "weights": self.weights, "pose_basis": self.pose_basis,
                  "joint_names": np.array(list(self.joint_names), dtype=np.str_)}
        if self.tail_mean is not None:
            arrays.update(tail_mean=self.tail_mean, tail_basis=self.tail_basis)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict) -> "ArticulatedSpace":
        names = tuple(str(n) for n in np.asarray(arrays.get("joint_names", np.array([], dtype=np.str_))))
        return cls(np.asarray(arrays["mean"], dtype=np.float64), np.asarray(arrays["components"], dtype=np.float64),
                   np.asarray(arrays["variances"], dtype=np.float64),
                   np.asarray(arrays["joint_mean"], dtype=np.float64),
                   np.asarray(arrays["joint_basis"], dtype=np.float64), np.asarray(arrays["parents"], dtype=np.int64),
                   np.asarray(arrays["weights"], dtype=np.float32), np.asarray(arrays["pose_basis"], dtype=np.float32),
                   names,
                   None if "tail_mean" not in arrays else np.asarray(arrays["tail_mean"], dtype=np.float64),
                   None if "tail_basis" not in arrays else np.asarray(arrays["tail_basis"], dtype=np.float64))


def smallest_rotations(source, target) -> np.ndarray:
    """(n, 3, 3) the smallest rotations carrying unit directions source_i onto target_i (n, 3):
    R = I + [v]× + [v]×² / (1 + c), v = s × t, c = s · t (Rodrigues without the angle)."""
    source, target = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    v = np.cross(source, target)
    c = np.einsum("na,na->n", source, target)
    cross = np.zeros((len(v), 3, 3))
    cross[:, 0, 1], cross[:, 0, 2], cross[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    cross -= np.swapaxes(cross, 1, 2)
    # opposite directions (c = −1) never come from a slider edit; the floor keeps the formula finite
    return np.eye(3) + cross + cross @ cross / np.maximum(1.0 + c, 1e-9)[:, None, None]


def _rotation_onto(source, target, rounds: int = 60) -> np.ndarray:
    """The rotation R with R·source_i ≈ target_i (unit rows of (n, 3)): the smallest one for a single
    pair of directions; for several, the one that keeps the largest angle small (Lawson's
    reweighting of a weighted Kabsch fit towards the minimax solution)."""
    source, target = np.atleast_2d(source), np.atleast_2d(target)
    if len(source) == 1 or np.linalg.matrix_rank(source, tol=1e-9) < 2:
        a = source.sum(axis=0)
        b = target.sum(axis=0)
        a, b = a / max(np.linalg.norm(a), 1e-12), b / max(np.linalg.norm(b), 1e-12)
        axis = np.cross(a, b)
        angle = np.arctan2(np.linalg.norm(axis), float(a @ b))
        return _rig().axis_angle_to_matrix(axis / max(np.linalg.norm(axis), 1e-12) * angle)
    # The weights keep a floor and the best round is returned: weights that collapse onto one pair
    # leave the turn about that direction free, and float32 noise in a nearly unchanged skeleton
    # then turned the spine's children 2° (read back from Blender) where a plain Kabsch fit keeps 0°.
    weights = np.full(len(source), 1.0 / len(source))
    best, best_misfit, history = None, np.inf, []
    for _ in range(rounds):
        u, _, vt = np.linalg.svd((target * weights[:, None]).T @ source)
        d = np.sign(np.linalg.det(u @ vt))
        rotation = u @ np.diag([1.0, 1.0, d]) @ vt
        misfit = np.linalg.norm(source @ rotation.T - target, axis=1)
        if misfit.max() < best_misfit:
            best, best_misfit = rotation, float(misfit.max())
        if best_misfit < 1e-12 or (len(history) >= 8 and history[-8] - best_misfit < 1e-3 * best_misfit):
            break  # converged, or stalled: a slider step needs tenths of a degree, not the last digits
        history.append(best_misfit)
        weights = weights * misfit / max(float(misfit.sum()), 1e-300)
        weights = np.maximum(weights / weights.sum(), 0.05 / len(source))
        weights /= weights.sum()
    return best


def _common_rest_pose(person_rest, unposed, mesh_joints, rotations, person_of, first_mesh, subset, weights, parents,
                      passes: int = 2):
    """Bring every person's rest shape into one rest pose: each bone of a person is turned (about its
    joint, as a chain) onto the mean rest shape's by a weighted Kabsch fit. Nothing in the meshes pins
    a bone's twist, an end bone (head, hands, feet) or small turns consistent with the joints, so
    without this the rest poses differ a few degrees (the head tens) from person to person and the
    shape components learn those turns. The person's meshes, joints and pose rotations follow."""
    rig = _rig()
    w_sub = weights[subset]
    for _ in range(passes):
        reference = person_rest.mean(axis=0)
        person_joints = mesh_joints[first_mesh]
        turn, _ = bone_procrustes(person_rest[:, subset], person_joints,
                                  np.broadcast_to(reference[subset], person_rest[:, subset].shape), w_sub, parents)
        world, _ = rig.pose_transforms(person_joints, turn, parents)
        person_rest, new_joints = rig.pose_vertices(person_rest, person_joints, turn, parents, weights)
        unposed = rig.pose_vertices(unposed, mesh_joints, turn[person_of], parents, weights)[0]
        mesh_joints = new_joints[person_of]
        # the meshes' poses now start from the turned rest: world Q_i C_jᵀ for every joint
        mesh_world, _ = rig.pose_transforms(mesh_joints, rotations, parents)
        mesh_world = mesh_world @ np.swapaxes(world[person_of], -1, -2)
        rotations = mesh_world.copy()
        for j, parent in enumerate(parents):
            if parent >= 0:
                rotations[:, j] = np.swapaxes(mesh_world[:, parent], -1, -2) @ mesh_world[:, j]
    return person_rest, unposed, mesh_joints, rotations


def fit_template_to_joints(template, template_joints, joints, weights, parents) -> np.ndarray:
    """The template (V, 3) moved onto other skeletons' rest joints (..., J, 3), keeping its rest pose:
    every bone turns (smallest rotation, or the minimax fit over several child bones), scales to
    the new bone length and moves to the new joint; the vertices blend those transforms with the
    skinning weights. Bones without children keep their parent's turn and scale."""
    template = np.asarray(template, dtype=np.float64)
    template_joints = np.asarray(template_joints, dtype=np.float64)
    joints = np.asarray(joints, dtype=np.float64)
    flat = joints.reshape(-1, len(parents), 3)
    turns = np.tile(np.eye(3), flat.shape[:2] + (1, 1))
    scales = np.ones(flat.shape[:2])
    for j in range(len(parents)):
        children = np.flatnonzero(np.asarray(parents) == j)
        if len(children) == 0:
            if parents[j] >= 0:
                turns[:, j], scales[:, j] = turns[:, parents[j]], scales[:, parents[j]]
            continue
        old = template_joints[children] - template_joints[j]
        old_length = np.linalg.norm(old, axis=1)
        for n in range(len(flat)):
            new = flat[n, children] - flat[n, j]
            new_length = np.linalg.norm(new, axis=1)
            turns[n, j] = _rotation_onto(old / np.maximum(old_length, 1e-12)[:, None],
                                         new / np.maximum(new_length, 1e-12)[:, None])
            scales[n, j] = float(np.mean(new_length / np.maximum(old_length, 1e-12)))
    # x' = Σ_j w_vj (J'_j + s_j R_j (x − J_j)) = (Σ_j w_vj s_j R_j) x + Σ_j w_vj (J'_j − s_j R_j J_j)
    linear = scales[..., None, None] * turns  # (n, J, 3, 3)
    shift = flat - np.einsum("njab,jb->nja", linear, template_joints)
    w = np.asarray(weights, dtype=np.float64)
    blended = (w @ linear.reshape(len(flat), len(parents), 9)).reshape(len(flat), -1, 3, 3)
    moved = (blended @ template[None, :, :, None])[..., 0] + w @ shift
    return moved.reshape(joints.shape[:-2] + template.shape)


def _ridge(features, targets, ridge):
    """(mean_f, mean_t, basis) with targets ≈ mean_t + (features − mean_f) · basis."""
    mf, mt = features.mean(axis=0), targets.mean(axis=0)
    f = features - mf
    # (FᵀF + λI)⁻¹ Fᵀ first: an F×N matrix, then one product with the (N × D) targets
    basis = np.linalg.solve(f.T @ f + ridge * np.eye(f.shape[1]), f.T) @ (targets - mt)
    return mf, mt, basis


def branch_directions_fixed(joint_mean, joint_basis, parents) -> np.ndarray:
    """The joint basis (k, J, 3) with every bone that leaves a branching joint (several children) changing
    only along its mean rest direction: each child's basis offset from its branching parent is projected
    onto the unit offset of `joint_mean` (J, 3). Joints elsewhere are unchanged (keep_pose keeps a single
    child's direction exactly by turning its parent)."""
    parents = np.asarray(parents)
    basis = np.array(joint_basis, dtype=np.float64, copy=True)
    children = np.arange(len(parents))[parents >= 0]
    counts = np.bincount(parents[children], minlength=len(parents))
    branch_children = children[counts[parents[children]] > 1]
    for child in branch_children:  # parents[j] < j: a branching joint that is itself a branch child comes first
        head = parents[child]
        offset = joint_mean[child] - joint_mean[head]
        unit = offset / max(float(np.linalg.norm(offset)), 1e-12)
        along = (basis[:, child] - basis[:, head]) @ unit  # (k,)
        basis[:, child] = basis[:, head] + along[:, None] * unit[None]
    return basis


def fit_articulated_space(vertices, parents, weights, joints=None, person_ids=None, k: int = 20, *,
                          joint_regressor=None, rest_template=None, template_joints=None, tails=None, rounds: int = 2,
                          pose_correctives: bool = True, shape_pca: str = "meshes", joint_names=(),
                          fixed_branch_directions: bool = True, progress=None) -> ArticulatedSpace:
    """Learn an ArticulatedSpace from posed meshes (N, V, 3) of one topology.

    `parents` (J,) (parents[j] < j, one root first), `weights` (V, J) skinning weights; rest-pose joints
    per mesh `joints` (N, J, 3), or `joint_regressor` (J, V) that places joints from a rest mesh;
    `person_ids` (N,) which meshes show the same person (default: every mesh its own); `rest_template`
    (V, 3) a mesh in the rest pose to start unposing from, with its joints `template_joints` (J, 3)
    (default: the first mesh and its joints, whose pose then becomes the rest pose); `tails` (N, J, 3)
    optional rest bone tails. `progress(fraction, text)` is called between rounds.

    `fixed_branch_directions`: the bones leaving a joint with several children (a spine joint holding the
    neck and both clavicles, a root holding spine and hips) keep their rest directions under every shape
    change, only their lengths following the shape (``branch_directions_fixed``). One rotation of the
    branching joint cannot keep several children's posed directions when the angles between them
    change with the shape, so a shape edit through ``keep_pose`` would turn some of them (the neck and
    clavicles by 2.2° for +10 cm of height through the operators on a 4-person space; by up to 5.3° for
    ±3σ component edits on a 10-person space). It moves a person's branch joints by 2–9 mm (6 people);
    the held-out fit error is unchanged (0.19 cm on 2 unseen people).
    """
    x = np.asarray(vertices, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"vertices must be (meshes, vertices, 3); got shape {x.shape}")
    count, vertex_count, _ = x.shape
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x).all(axis=(1, 2)))
        raise ValueError(f"meshes {bad[:5].tolist()} have NaN or infinite vertices; fix or leave them out")
    parents = _check_parents(parents)
    weights = np.asarray(weights, dtype=np.float32)
    if weights.shape != (vertex_count, len(parents)):
        raise ValueError(f"weights must be (vertices, joints) = ({vertex_count}, {len(parents)}); got {weights.shape}")
    if shape_pca not in ("meshes", "people"):
        raise ValueError(f"shape_pca must be 'meshes' or 'people', not {shape_pca!r}")
    if joints is None and joint_regressor is None:
        raise ValueError("give rest joints per mesh (joints=) or a joint regressor (joint_regressor=)")
    people = np.arange(count) if person_ids is None else np.asarray(person_ids).reshape(-1)
    if len(people) != count:
        raise ValueError(f"{len(people)} person ids for {count} meshes")
    labels, person_of = np.unique(people, return_inverse=True)
    if count < 2:
        raise ValueError("an articulated space needs at least 2 meshes")
    template = x[0] if rest_template is None else np.asarray(rest_template, dtype=np.float64)
    if template.shape != (vertex_count, 3):
        raise ValueError(f"the rest template has shape {template.shape}; it must be ({vertex_count}, 3)")
    if joint_regressor is not None:
        template_joints = np.einsum("jv,vc->jc", np.asarray(joint_regressor, dtype=np.float64), template)
    elif rest_template is None:
        template_joints = np.asarray(joints, dtype=np.float64)[0]
    elif template_joints is None:
        raise ValueError("a rest template needs its joints (template_joints=) when joints are given per mesh")
    template_joints = np.asarray(template_joints, dtype=np.float64).reshape(len(parents), 3)

    w64 = weights.astype(np.float64)
    subset = pose_subset(weights)
    w_sub = weights[subset]
    regressor = None if joint_regressor is None else np.asarray(joint_regressor, dtype=np.float64)
    if joints is not None:
        mesh_joints = np.asarray(joints, dtype=np.float64).reshape(count, len(parents), 3)
    else:
        mesh_joints = np.einsum("jv,vc->jc", regressor, template)[None].repeat(count, axis=0)
    first_mesh = np.array([np.flatnonzero(person_of == p)[0] for p in range(len(labels))])
    # Each person starts as the template fitted to their rest joints: already in the template's rest
    # pose and consistent with the joints the meshes are unposed about (no drift between people).
    person_rest = fit_template_to_joints(template, template_joints, mesh_joints[first_mesh], w64, parents)
    rotations = translation = None
    unposed = None
    for round_index in range(rounds):
        rest_of_mesh = person_rest[person_of]
        fit_joints = mesh_joints
        if rotations is None:
            rotations, translation = bone_procrustes(rest_of_mesh[:, subset], fit_joints, x[:, subset], w_sub, parents)
        for start in range(0, count, FIT_CHUNK):  # chunks keep the Jacobians small
            part = slice(start, start + FIT_CHUNK)
            rotations[part], translation[part] = pose_gauss_newton(
                rest_of_mesh[part][:, subset], fit_joints[part], x[part][:, subset], w_sub, parents,
                rotations[part], translation[part], iterations=6 if round_index == 0 else 4)
        unposed = unpose(x, mesh_joints, rotations, translation, w64, parents)
        for p in range(len(labels)):
            person_rest[p] = unposed[person_of == p].mean(axis=0)
        if len(labels) > 1:
            person_rest, unposed, mesh_joints, rotations = _common_rest_pose(
                person_rest, unposed, mesh_joints, rotations, person_of, first_mesh, subset, w64, parents)
        if regressor is not None:
            mesh_joints = np.einsum("jv,nvc->njc", regressor, person_rest[person_of])
        if progress is not None:
            progress((round_index + 1) / (rounds + 1), f"unposed {count} meshes, round {round_index + 1}/{rounds}")

    if pose_correctives:
        features = pose_features(rotations)
        residual = (unposed - person_rest[person_of]).reshape(count, -1)
        feature_mean, residual_mean, basis = _ridge(features, residual, CORRECTIVE_RIDGE)
        # correctives(R) = (f(R) − f̄) · basis, folded as f(R) · basis with the constant in the mean
        pose_basis = basis.reshape(-1, vertex_count, 3).astype(np.float32)  # as stored in the file
        constant = -(feature_mean @ basis).reshape(vertex_count, 3)
        correction = (features @ basis).reshape(unposed.shape) + constant
    else:
        pose_basis = np.zeros((0, vertex_count, 3), dtype=np.float32)
        constant = np.zeros((vertex_count, 3))
        correction = np.zeros_like(unposed)
    shapes = (unposed - correction).reshape(count, -1)
    # Shape PCA of the unposed meshes (shape_pca="meshes", k up to N − 1) or of the people's mean
    # rest shapes (shape_pca="people", as SMPL: averages out unposing artefacts, k up to people − 1).
    people_shapes = shapes if shape_pca == "meshes" else np.stack(
        [shapes[person_of == p].mean(axis=0) for p in range(len(labels))])
    if len(people_shapes) < 2:
        raise ValueError("all meshes show one person: shape_pca='people' needs at least 2 people; use "
                         "shape_pca='meshes' or add people")
    space = fit_shape_space(people_shapes, k=min(k, len(people_shapes) - 1))
    coefficients = space.project(shapes).astype(np.float64)
    mean = space.mean.reshape(vertex_count, 3).astype(np.float64) + constant
    components = space.components.reshape(-1, vertex_count, 3).astype(np.float64)

    def regress(targets):
        flat = targets.reshape(count, -1)
        cm, tm, basis = _ridge(coefficients, flat, JOINT_RIDGE)
        return (tm - cm @ basis).reshape(-1, 3), basis.reshape(len(coefficients[0]), -1, 3)

    if regressor is not None:
        joint_mean = np.einsum("jv,vc->jc", regressor, mean - constant)
        joint_basis = np.einsum("jv,kvc->kjc", regressor, components)
    else:
        joint_mean, joint_basis = regress(mesh_joints)
    if fixed_branch_directions:
        joint_basis = branch_directions_fixed(joint_mean, joint_basis, parents)
    tail_mean = tail_basis = None
    if tails is not None:
        tail_mean, tail_basis = regress(np.asarray(tails, dtype=np.float64).reshape(count, len(parents), 3))
    if progress is not None:
        progress(1.0, f"learned {space.k} shape components and {len(pose_basis)} pose correctives")
    return ArticulatedSpace(mean, components, np.asarray(space.variances, dtype=np.float64), joint_mean, joint_basis,
                            parents, weights, pose_basis, tuple(joint_names), tail_mean, tail_basis)


class LearningStopped(Exception):
    """The caller's should_stop said so while learn_articulated_collection ran."""


def learn_articulated_collection(stacked, parents, weights, head_regressor, rest_template, person_ids=None, *,
                                 k: int | None = None, variance: float | None = None, joint_names=(),
                                 progress=None, should_stop=lambda: False):
    """Learn Shape Space (Articulated) on a collection: the space with all N−1 components, kept to `k`
    (or to the share `variance` of the variance, 95% by default), then every training mesh placed in
    it (its shape coordinates for attributes later, its pose for Generate). `progress(fraction, line)`;
    raises LearningStopped once `should_stop()`. Returns (space, total variance of all components,
    coefficients (N, k), poses (N, J, 3, 3) float32)."""
    stacked = np.asarray(stacked, dtype=np.float64)
    count = len(stacked)
    report = progress or (lambda fraction, line: None)

    def on_fit(fraction, line):
        if should_stop():
            raise LearningStopped
        report(0.6 * fraction, line)

    space = fit_articulated_space(stacked, parents, weights, joint_regressor=head_regressor,
                                  rest_template=rest_template, person_ids=person_ids, k=count - 1,
                                  joint_names=joint_names, progress=on_fit)
    variances = np.asarray(space.variances, dtype=np.float64)
    total = float(variances.sum())  # all N-1 components: every direction the unposed meshes vary in
    if k is None:
        cumulative = np.cumsum(variances) / total
        k = int(np.searchsorted(cumulative, (0.95 if variance is None else variance) - 1e-12) + 1)
    k = max(1, min(int(k), len(variances)))
    space = replace(space, components=space.components[:k], variances=variances[:k],
                    joint_basis=space.joint_basis[:k])
    coefficients, poses = [], []
    for i, vertices in enumerate(stacked):
        if should_stop():
            raise LearningStopped
        c, rotations, _, _ = space.fit(vertices, iterations=4)
        coefficients.append(c)
        poses.append(rotations)
        report(0.6 + 0.4 * (i + 1) / count, f"placed mesh {i + 1}/{count} in it")
    return space, total, np.array(coefficients), np.asarray(poses, dtype=np.float32)


def rest_height(vertices) -> float:
    """A rest-pose mesh's height: its extent along Z (Blender's up)."""
    z = np.asarray(vertices)[:, 2]
    return float(z.max() - z.min())


def bench_articulated(people: int = 10, poses: int = 10, test_meshes: int = 3, k: int = 20, seed: int = 0) -> dict:
    """Seconds to fit pose and shape to one posed MakeHuman body (13,380 vertices) against a plain
    aligned-PCA projection of the same mesh, learned on `people` × `poses` posed bodies (median of
    `test_meshes` unseen meshes). Returns the times, the errors (metres) and the learning time."""
    import time

    from .shape_space import fit_shape_space as fit_pca

    posed_bodies = shapespace("posed_bodies")
    correspondence = shapespace("correspondence")
    makehuman = shapespace("makehuman")
    data = posed_bodies.open_default_makehuman()
    bodies = posed_bodies.posed_body_set(people + 1, poses, seed=seed, data=data)
    rig = _rig().load_body_rig(data.source, data.vertex_count)
    full = makehuman.body_from_macros(data, body_only=False).vertices
    learn = bodies.vertices[:people].reshape(-1, bodies.vertices.shape[2], 3)
    start = time.perf_counter()
    space = fit_articulated_space(learn, bodies.parents, bodies.weights, np.repeat(bodies.joints_rest[:people], poses, 0),
                                  np.repeat(np.arange(people), poses), k=k, rest_template=full[:len(bodies.weights)],
                                  template_joints=rig.heads(full))
    learn_seconds = time.perf_counter() - start
    aligned, *_ = correspondence.procrustes_align(learn)
    pca = fit_pca(aligned.reshape(len(learn), -1), k=k)
    fit_times, pca_times, fit_errors, pca_errors = [], [], [], []
    for mesh in bodies.vertices[people, :test_meshes]:
        start = time.perf_counter()
        *_, error = space.fit(mesh)
        fit_times.append(time.perf_counter() - start)
        fit_errors.append(error)
        start = time.perf_counter()
        moved, *_ = correspondence.align_to(mesh, pca.mean.reshape(-1, 3))
        back = pca.reconstruct(pca.project(moved.reshape(1, -1))).reshape(-1, 3)
        pca_times.append(time.perf_counter() - start)
        pca_errors.append(float(np.linalg.norm(back - moved, axis=1).mean()))
    return {"articulated_fit_s": float(np.median(fit_times)), "aligned_pca_project_s": float(np.median(pca_times)),
            "articulated_error_m": float(np.mean(fit_errors)), "aligned_pca_error_m": float(np.mean(pca_errors)),
            "learn_s": learn_seconds, "meshes": len(learn), "vertices": int(learn.shape[1])}
