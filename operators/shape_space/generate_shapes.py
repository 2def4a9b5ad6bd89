"""Sample new, plausible shapes from a learned shape space.

An articulated space (pose separated from shape) makes rigged people: the sampled rest body with
its pose correctives, an armature with the skinning weights as vertex groups, posed as chosen (the
rest pose, the pose of the selected rigged mesh, or poses of the training meshes drawn at random),
with the shape coordinates and the pose stored so the sliders edit them and keep the pose.
"""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import EnumProperty, FloatProperty, IntProperty, StringProperty

from ..mesh_bridge import SceneWriter
from ..model_store import absolute_path, active_model
from ..operator_support import reports_errors

POSE_CHOICES = [('REST', "Rest Pose", "Every person in the space's rest pose"),
                ('SELECTED', "Selected Mesh's Pose", "The pose of the active mesh: a rigged projection (Edit a "
                                                     "Copy) as its rig shows it now, or a body of the space's "
                                                     "topology, whose pose is fitted"),
                ('SAMPLED', "Collection's Poses", "Poses of the training meshes, drawn at random (seeded)")]


def chosen_poses(context, articulated, space_path, pose: str, count: int, seed: int) -> np.ndarray:
    """(count, J, 3, 3) joint rotations for `pose` (see POSE_CHOICES)."""
    from ...learning.shape_space import load_articulated_arrays
    from .learn_shape_space import TRAINING_POSES
    from .shape_editing import COEFFICIENTS, POSE_ROTATIONS, rig_pose

    joint_count = len(articulated.parents)
    if pose == 'REST':
        return np.broadcast_to(np.eye(3), (count, joint_count, 3, 3)).copy()
    if pose == 'SAMPLED':
        arrays, _ = load_articulated_arrays(space_path)
        if TRAINING_POSES not in arrays:
            raise ValueError(f"'{space_path.stem}' was learned before shape spaces kept their training poses; learn "
                             "it again, or choose the rest pose or the selected mesh's pose")
        poses = np.asarray(arrays[TRAINING_POSES], dtype=np.float64)
        return poses[np.random.default_rng(seed).integers(0, len(poses), count)]
    obj = context.active_object
    if obj is None or obj.type != 'MESH':
        raise ValueError("Select the mesh whose pose the people should take (a rigged projection, or a body of the "
                         "space's topology), or choose another pose")
    if obj.get(POSE_ROTATIONS) is not None and obj.get(COEFFICIENTS) is not None:
        from .project_shape import articulated_model

        bone_names = articulated_model(space_path)[3]
        coefficients = np.array(list(obj[COEFFICIENTS]), dtype=np.float64)
        if len(coefficients) != articulated.k:
            raise ValueError(f"'{obj.name}' was posed in another shape space ({len(coefficients)} components, this "
                             f"one {articulated.k}); select a mesh projected into '{space_path.stem}'")
        rotations, _ = rig_pose(obj, articulated, bone_names, coefficients)
    else:
        from ..mesh_bridge import read_shape

        vertices = read_shape(obj).vertices.astype(np.float64)
        if vertices.shape != articulated.mean.shape:
            raise ValueError(f"'{obj.name}' has {len(vertices)} vertices and no rig of this space; its pose cannot be "
                             f"read: select a body of {len(articulated.mean)} vertices or a rigged projection")
        _, rotations, _, _ = articulated.fit(vertices)
    return np.broadcast_to(rotations, (count,) + rotations.shape).copy()


def generate_shapes(context, entry, count: int, seed: int, truncate_sigma: float, collection_name: str,
                    pose: str = 'REST'):
    from ...learning.shape_space import load_shape_space
    from ...shapespace.mesh_arrays import MeshArrays

    if entry is None or entry.kind != "shape_space":
        raise ValueError("Make a shape space the active model first (Learn Shape Space, or pick one in the list)")
    path = absolute_path(entry.filepath)
    space, face_sizes, corners, metadata = load_shape_space(path)
    articulated = metadata["info"].get("alignment") == "articulated"
    coefficients = space.sample(count, seed=seed, truncate_sigma=truncate_sigma)
    if articulated:
        return generate_people(context, entry, path, coefficients, seed, collection_name, pose, face_sizes, corners)
    shapes = space.reconstruct(coefficients).reshape(count, -1, 3)
    made = []
    with SceneWriter() as writer:
        target = writer.collection(collection_name or f"Generated from {entry.name}", reuse=False)
        width = float(shapes[0][:, 0].max() - shapes[0][:, 0].min()) + 0.5
        for i, (vertices, c) in enumerate(zip(shapes, coefficients)):
            arrays = MeshArrays(f"{entry.collection}_generated_{i:03d}", vertices, face_sizes, corners)
            made.append(writer.mesh_object(arrays, target, location=(i * width, 0.0, 0.0), properties={
                "design_space_model": entry.filepath, "design_space_seed": seed, "design_space_index": i,
                "shape_space_coefficients": [float(x) for x in c]}))
    return target, made


def generate_people(context, entry, path, coefficients, seed, collection_name, pose, face_sizes, corners):
    """Rigged people of an articulated space, posed as `pose` asks, each with sliders."""
    from mathutils import Matrix

    from ...shapespace.mesh_arrays import MeshArrays
    from .learn_shape_space import attach_rig
    from .project_shape import articulated_model
    from .shape_editing import POSE_ROTATIONS, POSE_TRANSLATION, attach_sliders, slider_model

    articulated, tail_regressor, rolls, bone_names = articulated_model(path)
    coefficients = np.asarray(coefficients, dtype=np.float64)
    poses = chosen_poses(context, articulated, path, pose, len(coefficients), seed)  # refusals before any write
    model = slider_model(path)
    made = []
    with SceneWriter() as writer:
        target = writer.collection(collection_name or f"Generated from {entry.name}", reuse=False)
        width = float(np.ptp(articulated.mean[:, 0])) + 0.5
        for i, (c, rotations) in enumerate(zip(coefficients, poses)):
            rest = articulated.rest(c) + articulated.correctives(rotations)
            obj = writer.mesh_object(MeshArrays(f"{entry.collection}_person_{i:03d}", rest, face_sizes, corners),
                                     target, properties={"design_space_model": entry.filepath,
                                                         "design_space_seed": seed, "design_space_index": i})
            obj.matrix_world = Matrix.Translation((i * width, 0.0, 0.0))
            writer.adopt([attach_rig(obj, articulated, tail_regressor, rolls, bone_names, c, rotations, np.zeros(3))])
            attach_sliders(obj, path, model.estimate(c[None])[0], c)
            obj[POSE_ROTATIONS] = [float(x) for x in np.ravel(rotations)]
            obj[POSE_TRANSLATION] = [0.0, 0.0, 0.0]
            made.append(obj)
    return target, made


class DESIGN_SPACE_OT_generate_shapes(bpy.types.Operator):
    """Sample new shapes from the active shape space (Gaussian in component coordinates, truncated; the same seed makes the same shapes). An articulated space makes rigged people in the chosen pose"""

    bl_idname = "design_space.generate_shapes"
    bl_label = "Generate Shapes"
    bl_options = {'REGISTER', 'UNDO'}

    count: IntProperty(name="Count", description="How many shapes to make", default=6, min=1, max=1000)
    seed: IntProperty(name="Seed", description="The same seed makes the same shapes", default=0, min=0)
    truncate_sigma: FloatProperty(name="Truncate at σ", description="Leave out samples further than this many "
                                  "standard deviations along any component (0: no limit)", default=2.0, min=0.0,
                                  max=6.0)
    collection: StringProperty(name="Collection", description="Output collection (empty: named after the space)")
    pose: EnumProperty(name="Pose", description="Articulated spaces: the pose the generated people take",
                       items=POSE_CHOICES, default='REST')

    @reports_errors
    def execute(self, context):
        target, made = generate_shapes(context, active_model(context.scene), self.count, self.seed,
                                       self.truncate_sigma, self.collection.strip(), self.pose)
        posed = ""
        if made and made[0].get("design_space_pose_rotations") is not None:
            posed = f", rigged, in {dict((k, n) for k, n, _ in POSE_CHOICES)[self.pose].lower()}"
        self.report({'INFO'}, f"Generated {len(made)} shapes into '{target.name}'{posed}")
        return {'FINISHED'}
