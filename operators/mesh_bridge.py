"""The one place that reads and writes Blender mesh data.

Everything goes through bulk `foreach_get`/`foreach_set` on attributes with contiguous numpy
buffers; there is no per-vertex Python anywhere. Source objects are only ever read. New data
is created through a `SceneWriter`, which can remove everything it made if a step fails, so
an operator never leaves half-written results behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from contextlib import contextmanager

import bpy
import numpy as np

from ..shapespace.mesh_arrays import MeshArrays
from ..shapespace.part_colors import part_face_colors

PART_ATTRIBUTE = "part"  # integer face attribute holding a part index
PART_LABELS_PROPERTY = "part_labels"  # list of label names, on the mesh or the object
PART_PROPERTY = "part"  # a child object's label

_NAME_SUFFIX = re.compile(r"(\.\d{3,})+$")
_TRAILING_INDEX = re.compile(r"[_\-. ]*\d+$")


class BridgeError(RuntimeError):
    """Bad input found while reading the scene; the message names the object and the fix."""


# --- reading ---------------------------------------------------------------------------------

def collection_objects(collection: bpy.types.Collection, recursive: bool = True) -> list:
    """Objects of a collection in link order, then those of its child collections (no repeats)."""
    seen, ordered = set(), []
    stack = [collection]
    while stack:
        current = stack.pop(0)
        for obj in current.objects:
            if obj.name_full not in seen:
                seen.add(obj.name_full)
                ordered.append(obj)
        if recursive:
            stack[0:0] = list(current.children)
    return ordered


def shape_roots(objects: list) -> list:
    """Objects that stand for whole shapes: those whose parent is not in the same set."""
    names = {o.name_full for o in objects}
    return [o for o in objects if o.parent is None or o.parent.name_full not in names]


def label_from_name(name: str) -> str:
    """'leg.003' or 'Leg_2' -> 'leg': the part label a child object's name implies."""
    base = _NAME_SUFFIX.sub("", name)
    base = _TRAILING_INDEX.sub("", base) or base
    return base.strip().lower()


def read_positions(mesh: bpy.types.Mesh) -> np.ndarray:
    """(V, 3) float32 local positions of a mesh, in one bulk read."""
    buf = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    if len(buf):  # an empty mesh has no position attribute at all
        position = mesh.attributes.get("position")
        if position is not None:
            position.data.foreach_get("vector", buf)
        else:  # Edit Mode (after update_from_editmode) lists no attributes; the vertices hold the flushed positions
            mesh.vertices.foreach_get("co", buf)
    return buf.reshape(-1, 3)


def _corner_vert_attribute(mesh: bpy.types.Mesh):
    """Blender's internal corner -> vertex attribute (Blender 3.6+): a bulk path 4-300× faster than
    `loops.foreach_*("vertex_index")`. Internal names may change, so callers fall back to loops."""
    attribute = mesh.attributes.get(".corner_vert")
    return attribute if attribute is not None and attribute.data_type == 'INT' else None


def read_topology(mesh: bpy.types.Mesh) -> tuple[np.ndarray, np.ndarray]:
    """Face sizes and flat corner vertex indices of a mesh."""
    starts = np.empty(len(mesh.polygons) + 1, dtype=np.int32)
    mesh.polygons.foreach_get("loop_start", starts[:-1])
    starts[-1] = len(mesh.loops)
    corners = np.empty(len(mesh.loops), dtype=np.int32)
    attribute = _corner_vert_attribute(mesh)
    if attribute is not None:
        attribute.data.foreach_get("value", corners)
    else:
        mesh.loops.foreach_get("vertex_index", corners)
    return np.diff(starts), corners


def read_custom_properties(idblock) -> dict:
    """Numeric, boolean and string custom properties of an ID (others are left out)."""
    values = {}
    for key in idblock.keys():
        value = idblock[key]
        if isinstance(value, (bool, int, float, str)):
            values[key] = value
    return values


def _face_parts_from_attribute(obj, mesh) -> tuple[np.ndarray | None, tuple]:
    attribute = mesh.attributes.get(PART_ATTRIBUTE)
    if attribute is None or attribute.domain != 'FACE' or attribute.data_type != 'INT':
        return None, ()
    labels = mesh.get(PART_LABELS_PROPERTY, obj.get(PART_LABELS_PROPERTY))
    parts = read_face_parts(mesh)
    if labels is None:
        count = int(parts.max()) + 1 if len(parts) else 0
        labels = [f"part_{i}" for i in range(count)]
    labels = tuple(str(label) for label in labels)
    if len(parts) and (parts.min() < 0 or parts.max() >= len(labels)):
        raise BridgeError(
            f"'{obj.name}': its '{PART_ATTRIBUTE}' face attribute uses index {int(parts.max())}, "
            f"but only {len(labels)} labels are listed in '{PART_LABELS_PROPERTY}'; add the missing labels")
    return parts, labels


class _MeshSource:
    """The mesh of one object, evaluated (modifiers applied) or as stored, freed when done."""

    def __init__(self, obj, depsgraph):
        self.obj = obj
        self.evaluated = depsgraph is not None
        self.copied = False
        if obj.mode == 'EDIT' or getattr(obj.data, "is_editmode", False):
            obj.update_from_editmode()  # in Edit Mode the mesh's own arrays are stale (or not there at all)
        if self.evaluated:
            self.eval_obj = obj.evaluated_get(depsgraph)
            self.mesh = self.eval_obj.to_mesh()
        elif getattr(obj.data, "is_editmode", False):
            # bpy 5.0 lists no attributes on a mesh in Edit Mode, even flushed: read a copy (removed on exit)
            self.mesh, self.copied = obj.data.copy(), True
        else:
            self.mesh = obj.data

    def __enter__(self):
        return self.mesh

    def __exit__(self, *exc):
        if self.evaluated:
            self.eval_obj.to_mesh_clear()
        if self.copied:
            bpy.data.meshes.remove(self.mesh)
        return False


def _transform(points: np.ndarray, matrix) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    if np.allclose(m, np.eye(4)):
        return points
    return (points.astype(np.float64) @ m[:3, :3].T + m[:3, 3]).astype(np.float32)


def read_shape(obj, *, space: str = "LOCAL", depsgraph=None, children: Iterable = ()) -> MeshArrays:
    """One shape as arrays: the object's own mesh plus its mesh children as labelled parts.

    space is "LOCAL" (the root object's own coordinates; children are brought into them) or
    "WORLD". With a depsgraph the evaluated meshes (modifiers applied) are read.
    """
    if space not in {"LOCAL", "WORLD"}:
        raise ValueError(f"space must be 'LOCAL' or 'WORLD', not {space!r}")
    children = [c for c in children if c.type == 'MESH']
    pieces = ([obj] if obj.type == 'MESH' else []) + children
    if not pieces:
        raise BridgeError(f"'{obj.name}' is a {obj.type.lower()}, not a mesh, and has no mesh children; "
                          "convert it to a mesh (Object > Convert > Mesh) or move it out of the collection")
    root_inverse = np.linalg.inv(np.array(obj.matrix_world, dtype=np.float64))
    verts, sizes, corners, face_parts = [], [], [], []
    labels: list[str] = []
    offset = 0
    for piece in pieces:
        with _MeshSource(piece, depsgraph) as mesh:
            positions = read_positions(mesh)
            piece_sizes, piece_corners = read_topology(mesh)
            parts, piece_labels = _face_parts_from_attribute(piece, mesh)
        if len(positions) == 0:
            raise BridgeError(f"'{piece.name}' is a mesh without vertices; delete it or move it out of the collection")
        bad = int((~np.isfinite(positions).all(axis=1)).sum())
        if bad:
            raise BridgeError(f"'{piece.name}' has {bad} {'vertex' if bad == 1 else 'vertices'} at a non-finite position (NaN or "
                              "infinity); delete or move them (they often come from a broken import), then try again")
        world = np.array(piece.matrix_world, dtype=np.float64)
        matrix = world if space == "WORLD" else root_inverse @ world
        if np.linalg.det(matrix[:3, :3]) < 0:  # a mirrored piece: keep its faces pointing outwards
            piece_corners = _reverse_faces(piece_sizes, piece_corners)
        verts.append(_transform(positions, matrix))
        sizes.append(piece_sizes)
        corners.append(piece_corners + offset)
        offset += len(positions)
        if parts is None:
            label = str(piece.get(PART_PROPERTY, "")) or (label_from_name(piece.name) if children else "")
            piece_labels, parts = (label,), np.zeros(len(piece_sizes), dtype=np.int32)
        remap = np.array([_label_index(labels, label) for label in piece_labels] or [0], dtype=np.int32)
        face_parts.append(remap[parts])
    has_parts = bool(children) or any(label for label in labels)
    attributes = read_custom_properties(obj)
    attributes.pop(PART_LABELS_PROPERTY, None)
    return MeshArrays(
        obj.name,
        np.concatenate(verts),
        np.concatenate(sizes),
        np.concatenate(corners),
        attributes=attributes,
        face_parts=np.concatenate(face_parts) if has_parts else None,
        part_labels=tuple(labels) if has_parts else (),
    )


def _reverse_faces(sizes: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The same faces with their corner order reversed (flips every normal)."""
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    ends = np.repeat(np.cumsum(sizes) - 1, sizes)
    position = np.arange(len(corners))
    return corners[starts + ends - position]


def _label_index(labels: list, label: str) -> int:
    if label not in labels:
        labels.append(label)
    return labels.index(label)


def read_collection(collection, *, recursive: bool = True, space: str = "LOCAL",
                    evaluated: bool = False, depsgraph=None) -> list[MeshArrays]:
    """Every shape of a collection as MeshArrays, with custom properties and part labels.

    A shape is a top-level object of the collection together with its child objects (its parts).
    Raises BridgeError naming the collection or object when there is nothing usable.
    """
    if collection is None:
        raise BridgeError("No collection given; pick a collection of mesh objects in the Design Space panel")
    objects = collection_objects(collection, recursive)
    if not objects:
        raise BridgeError(f"Collection '{collection.name}' is empty; add mesh objects to it or pick another")
    bpy.context.view_layer.update()  # world matrices are stale until the depsgraph is evaluated
    if evaluated and depsgraph is None:
        depsgraph = bpy.context.evaluated_depsgraph_get()
    if not evaluated:
        depsgraph = None
    members = {o.name_full for o in objects}
    shapes = []
    for root in shape_roots(objects):
        children = [c for c in root.children_recursive if c.name_full in members]
        if root.type != 'MESH' and not any(c.type == 'MESH' for c in children):
            raise BridgeError(
                f"'{root.name}' in collection '{collection.name}' is "
                f"{'an' if root.type[:1] in 'AEIOU' else 'a'} {root.type.lower()}, not a mesh; "
                "move it out of the collection or convert it (Object > Convert > Mesh)")
        shapes.append(read_shape(root, space=space, depsgraph=depsgraph, children=children))
    return shapes


# --- writing ---------------------------------------------------------------------------------

def _flat32(vertices: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(vertices, dtype=np.float32).reshape(-1)


def build_mesh(arrays: MeshArrays, name: str | None = None) -> bpy.types.Mesh:
    """A new mesh datablock from arrays, written in bulk (no from_pydata)."""
    arrays.validate()
    mesh = bpy.data.meshes.new(name or arrays.name)
    mesh.vertices.add(len(arrays.vertices))
    mesh.attributes["position"].data.foreach_set("vector", _flat32(arrays.vertices))
    mesh.loops.add(len(arrays.corner_vertices))
    attribute = _corner_vert_attribute(mesh)
    if attribute is not None:
        attribute.data.foreach_set("value", arrays.corner_vertices)
    else:
        mesh.loops.foreach_set("vertex_index", arrays.corner_vertices)
    mesh.polygons.add(len(arrays.face_sizes))
    mesh.polygons.foreach_set("loop_start", arrays.loop_starts)
    if arrays.face_parts is not None and arrays.part_labels:
        attribute = mesh.attributes.new(PART_ATTRIBUTE, 'INT', 'FACE')
        attribute.data.foreach_set("value", arrays.face_parts)
        mesh[PART_LABELS_PROPERTY] = list(arrays.part_labels)
    mesh.update(calc_edges=True)
    return mesh


def refuse_edit_mode(mesh: bpy.types.Mesh) -> None:
    """Writes to a mesh in Edit Mode are lost when Blender leaves it: say so instead."""
    if getattr(mesh, "is_editmode", False):
        raise BridgeError(f"Mesh '{mesh.name}' is in Edit Mode; switch to Object Mode (Tab) and try again")


def update_positions(mesh: bpy.types.Mesh, vertices: np.ndarray) -> None:
    """Overwrite a mesh's vertex positions in place (same vertex count)."""
    refuse_edit_mode(mesh)
    if len(vertices) != len(mesh.vertices):
        raise BridgeError(f"Mesh '{mesh.name}' has {len(mesh.vertices)} vertices, "
                          f"but {len(vertices)} positions were given")
    mesh.attributes["position"].data.foreach_set("vector", _flat32(vertices))
    mesh.update()


def add_to_positions(mesh: bpy.types.Mesh, offsets: np.ndarray) -> None:
    """Move every vertex by its offset ((V, 3) or flat) in place: one bulk read, one bulk write."""
    refuse_edit_mode(mesh)
    attribute = mesh.attributes["position"]
    buf = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    if len(buf) != np.size(offsets):
        raise BridgeError(f"Mesh '{mesh.name}' has {len(mesh.vertices)} vertices, "
                          f"but {np.size(offsets) // 3} offsets were given")
    attribute.data.foreach_get("vector", buf)
    buf += np.ravel(offsets)
    attribute.data.foreach_set("vector", buf)
    mesh.update()


def read_markers(obj) -> dict:
    """Landmarks of an object: its child empties, name (without numbering) -> position in the
    object's local coordinates."""
    inverse = np.linalg.inv(np.array(obj.matrix_world, dtype=np.float64))
    markers = {}
    for child in obj.children:
        if child.type == 'EMPTY':
            world = np.array(child.matrix_world, dtype=np.float64)[:3, 3]
            markers[label_from_name(child.name)] = inverse[:3, :3] @ world + inverse[:3, 3]
    return markers


def unapplied_transform(obj) -> str | None:
    """A short description of an object's rotation or scale that is not applied, or None."""
    matrix = np.array(obj.matrix_world, dtype=np.float64)[:3, :3]
    if np.allclose(matrix, np.eye(3), atol=1e-6):
        return None
    return "rotation or scale (Object > Apply > Rotation & Scale)"


def write_shape_keys(obj, keys: Mapping[str, np.ndarray], *, basis_name: str = "Basis") -> list:
    """Create or update shape keys (name -> (V, 3) positions); adds a basis if missing."""
    if obj.data.shape_keys is None:
        obj.shape_key_add(name=basis_name, from_mix=False)
    blocks = obj.data.shape_keys.key_blocks
    written = []
    for key_name, positions in keys.items():
        block = blocks.get(key_name)
        if block is None:
            block = obj.shape_key_add(name=key_name, from_mix=False)
            block.value = 0.0  # a new key starts inactive (bpy 5.0 would start it at 1)
        if len(positions) != len(block.data):
            raise BridgeError(f"Shape key '{key_name}' on '{obj.name}' needs {len(block.data)} positions, "
                              f"got {len(positions)}")
        block.data.foreach_set("co", _flat32(positions))
        written.append(block)
    obj.data.shape_keys.update_tag()  # the depsgraph caches key data until the Key itself is tagged
    obj.data.update()
    return written


def set_custom_properties(idblock, values: Mapping) -> None:
    """Store plain values as custom properties (numpy scalars and arrays become Python values)."""
    for key, value in values.items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, np.generic):
            value = value.item()
        idblock[key] = value


def ensure_collection(name: str, parent=None) -> bpy.types.Collection:
    """The child collection `name` of `parent` (the scene's master collection by default), made if missing."""
    return SceneWriter().collection(name, parent)  # a writer nobody keeps: nothing to roll back


class SceneWriter:
    """Creates objects, meshes and collections, and can take all of them back.

    Use as a context manager: if the block raises, everything made inside is removed, so a
    failing operator leaves the scene as it found it.
    """

    def __init__(self):
        self.objects: list = []
        self.meshes: list = []
        self.collections: list = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.rollback()
        return False

    def collection(self, name: str, parent=None, *, reuse: bool = True) -> bpy.types.Collection:
        """The child collection `name` of `parent` (the scene's by default); a new one unless reused."""
        parent = parent or bpy.context.scene.collection
        existing = parent.children.get(name) if reuse else None
        if existing is not None:
            return existing
        collection = bpy.data.collections.new(name)
        parent.children.link(collection)
        self.collections.append(collection)
        return collection

    def mesh_object(self, arrays: MeshArrays, collection, *, name: str | None = None,
                    properties: Mapping | None = None, location=None, color_parts: bool = False) -> bpy.types.Object:
        """A new object for `arrays` in `collection`, with its attributes as custom properties
        (and, with color_parts, a colour attribute that tells its parts apart)."""
        mesh = build_mesh(arrays, name)
        self.meshes.append(mesh)
        if color_parts and arrays.face_parts is not None and arrays.part_labels:
            write_face_colors(mesh, part_face_colors(arrays.face_parts))
        obj = bpy.data.objects.new(name or arrays.name, mesh)
        self.objects.append(obj)
        set_custom_properties(obj, arrays.attributes)
        if properties:
            set_custom_properties(obj, properties)
        if location is not None:
            obj.location = tuple(float(c) for c in location)
        collection.objects.link(obj)
        return obj

    def adopt(self, objects) -> None:
        """Take ownership of objects made elsewhere (e.g. by an importer) for rollback."""
        for obj in objects:
            self.objects.append(obj)
            if obj.type == 'MESH' and obj.data is not None:
                self.meshes.append(obj.data)

    def rollback(self) -> None:
        for datablocks, kind in ((self.objects, bpy.data.objects), (self.meshes, bpy.data.meshes),
                                 (self.collections, bpy.data.collections)):
            for block in reversed(datablocks):
                try:
                    kind.remove(block)
                except ReferenceError:  # already gone (removed with its object, or by the user)
                    pass
        self.objects.clear()
        self.meshes.clear()
        self.collections.clear()


def write_face_colors(mesh: bpy.types.Mesh, face_colors: np.ndarray, name: str = "part_color") -> None:
    """Store one RGBA colour per face as the mesh's active colour attribute (per corner, in bulk)."""
    sizes, _ = read_topology(mesh)
    corner_colors = np.repeat(np.asarray(face_colors, dtype=np.float32).reshape(-1, 4), sizes, axis=0)
    attribute = mesh.color_attributes.get(name) or mesh.color_attributes.new(name, 'FLOAT_COLOR', 'CORNER')
    attribute.data.foreach_set("color", corner_colors.ravel())
    mesh.color_attributes.active_color = attribute
    mesh.update()


def read_face_parts(mesh: bpy.types.Mesh) -> np.ndarray | None:
    """The integer part index of every face, or None if the mesh has no part attribute."""
    attribute = mesh.attributes.get(PART_ATTRIBUTE)
    if attribute is None or attribute.domain != 'FACE':
        return None
    parts = np.empty(len(mesh.polygons), dtype=np.int32)
    attribute.data.foreach_get("value", parts)
    return parts


# --- rigged output: an armature, skinning weights as vertex groups, an Armature modifier -----------
#
# Bones follow shapespace.body_rig's conventions: heads, tails and rolls in the armature's own
# coordinates, parents[j] < j, and a pose given as Blender pose-bone basis rotations
# (body_rig.basis_from_rotations). Per-bone loops are fine (tens of bones); weights are written per
# group and weight level, never per vertex.

WEIGHT_LEVELS = 1024  # skinning weights are written rounded to 1/1024 (the Armature modifier renormalises)


@contextmanager
def _bones_edited(armature_obj):
    """Edit Mode on `armature_obj` for the block (bones are only made and moved there), then Object
    Mode again; the previously active object and its mode are restored whatever happens."""
    view_layer = bpy.context.view_layer
    previous = view_layer.objects.active
    previous_mode = previous.mode if previous is not None else 'OBJECT'
    try:
        if previous is not None and previous_mode != 'OBJECT':
            bpy.ops.object.mode_set(mode='OBJECT')
        view_layer.objects.active = armature_obj
        bpy.ops.object.mode_set(mode='EDIT')
        yield
    finally:
        if armature_obj.mode == 'EDIT':  # also when the block failed: nothing is left in Edit Mode
            bpy.ops.object.mode_set(mode='OBJECT')
        view_layer.objects.active = previous
        if previous is not None and previous_mode != 'OBJECT' and previous.name in view_layer.objects:
            bpy.ops.object.mode_set(mode=previous_mode)


def write_armature(name: str, heads, tails, rolls, parents, bone_names, collection, *,
                   matrix_world=None) -> bpy.types.Object:
    """A new armature object in `collection` with one bone per joint, in its rest pose.

    Edit bones exist only in Edit Mode, so the armature is made active and edited briefly; the
    previously active object and its mode are restored. The caller removes the object (and its
    armature data) if a later step fails: see remove_armature."""
    heads, tails = np.asarray(heads, dtype=np.float64), np.asarray(tails, dtype=np.float64)
    rolls, parents = np.asarray(rolls, dtype=np.float64), np.asarray(parents)
    bone_names = [str(n) for n in bone_names]
    if not (len(heads) == len(tails) == len(rolls) == len(parents) == len(bone_names)):
        raise BridgeError(f"Armature '{name}': {len(bone_names)} bone names for {len(heads)} heads, {len(tails)} "
                          f"tails, {len(rolls)} rolls and {len(parents)} parents; give one of each per bone")
    short = np.linalg.norm(tails - heads, axis=1) < 1e-6
    if short.any():
        raise BridgeError(f"Armature '{name}': bone '{bone_names[int(np.argmax(short))]}' has no length (its head is "
                          "its tail); Blender deletes such bones, so give every bone a tail away from its head")
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    collection.objects.link(obj)
    if matrix_world is not None:
        obj.matrix_world = matrix_world
    try:
        with _bones_edited(obj):
            edit_bones = [data.edit_bones.new(bone) for bone in bone_names]
            for j, bone in enumerate(edit_bones):
                bone.head, bone.tail, bone.roll = heads[j].tolist(), tails[j].tolist(), float(rolls[j])
                bone.use_connect = False  # heads stay where the rig puts them, not on the parent's tail
                if parents[j] >= 0:
                    bone.parent = edit_bones[int(parents[j])]
    except Exception:
        remove_armature(obj)
        raise
    for pose_bone in obj.pose.bones:
        pose_bone.rotation_mode = 'QUATERNION'
    return obj


def remove_armature(obj) -> None:
    """Remove an armature object made by write_armature, with its armature data."""
    data = obj.data
    bpy.data.objects.remove(obj)
    if data is not None and data.users == 0:
        bpy.data.armatures.remove(data)


def pose_armature(obj, basis_rotations, bone_names, root_translation=None, update: bool = True,
                  locations=None) -> None:
    """Pose `obj`'s bones: basis rotations (J, 3, 3) in each bone's rest frame (as in
    body_rig.basis_from_rotations) and a root translation given in armature coordinates, or every
    bone's location (J, 3) in its rest frame (body_rig.basis_about_rest). `update`:
    evaluate the scene after (a caller that writes more first passes False: each evaluation deforms
    every mesh the armature drives)."""
    from mathutils import Matrix

    basis_rotations = np.asarray(basis_rotations, dtype=np.float64)
    locations = np.zeros((len(basis_rotations), 3)) if locations is None else np.asarray(locations, np.float64)
    bones = obj.pose.bones
    for name, rotation, location in zip(bone_names, basis_rotations, locations):
        bone = bones.get(str(name))
        if bone is None:
            raise BridgeError(f"Armature '{obj.name}' has no bone '{name}'; write it with write_armature first")
        bone.rotation_mode = 'QUATERNION'
        bone.rotation_quaternion = Matrix(rotation.tolist()).to_quaternion()
        bone.location = location.tolist()
    if root_translation is not None:
        root = bones[str(bone_names[0])]
        rest = np.array(root.bone.matrix_local, dtype=np.float64)[:3, :3]
        # a root bone's location is in its rest frame: Δhead = rest · location
        root.location = (rest.T @ np.asarray(root_translation, dtype=np.float64)).tolist()
    if update:
        bpy.context.view_layer.update()


def write_vertex_weights(obj, weights, group_names, levels: int = WEIGHT_LEVELS) -> None:
    """One vertex group per column of `weights` (V, J), in bulk: per group, one `add` per distinct
    weight after rounding to 1/levels (vertex groups have no foreach_set)."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or len(weights) != len(obj.data.vertices) or weights.shape[1] != len(group_names):
        raise BridgeError(f"'{obj.name}' has {len(obj.data.vertices)} vertices and {len(group_names)} groups were "
                          f"named, but the weights are {weights.shape}; give one row per vertex, one column per group")
    quantised = np.rint(np.clip(weights, 0.0, 1.0) * levels).astype(np.int64)
    for j, name in enumerate(group_names):
        group = obj.vertex_groups.get(str(name)) or obj.vertex_groups.new(name=str(name))
        column = quantised[:, j]
        used = np.flatnonzero(column)
        if not len(used):
            continue
        used = used[np.argsort(column[used], kind="stable")]
        values, starts = np.unique(column[used], return_index=True)
        for value, members in zip(values, np.split(used, starts[1:])):
            group.add(members.tolist(), float(value) / levels, 'REPLACE')


def add_armature_modifier(obj, armature_obj, name: str = "Armature"):
    """Deform `obj` by `armature_obj` through its vertex groups; the mesh follows the armature, and
    the armature takes the mesh's old parent (a body rigged in place still follows what it followed)."""
    modifier = obj.modifiers.new(name, 'ARMATURE')
    modifier.object = armature_obj
    modifier.use_vertex_groups = True
    modifier.use_bone_envelopes = False
    previous = obj.parent
    if previous is not None and previous != armature_obj and armature_obj.parent is None:
        armature_obj.parent = previous
        armature_obj.matrix_parent_inverse = previous.matrix_world.inverted()  # its world matrix stays
    obj.parent = armature_obj
    obj.matrix_parent_inverse = armature_obj.matrix_world.inverted()
    return modifier


def read_evaluated_positions(obj) -> np.ndarray:
    """(V, 3) positions of `obj` with its modifiers applied (what the viewport shows), in bulk."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    try:
        return read_positions(mesh)
    finally:
        evaluated.to_mesh_clear()


def read_bone_rest(armature_obj, bone_names) -> tuple[np.ndarray, np.ndarray]:
    """(rest heads (J, 3), rest frames (J, 3, 3)) of the named bones, in armature coordinates."""
    bones = armature_obj.data.bones
    missing = [str(n) for n in bone_names if bones.get(str(n)) is None]
    if missing:
        raise BridgeError(f"Armature '{armature_obj.name}' has no bone '{missing[0]}'; the rig was changed: "
                          "project the mesh again")
    heads = np.array([bones[str(n)].head_local[:] for n in bone_names], dtype=np.float64)
    frames = np.array([[row[:3] for row in bones[str(n)].matrix_local[:3]] for n in bone_names], dtype=np.float64)
    return heads, frames


def set_bone_locations(armature_obj, bone_names, locations) -> None:
    """Pose-bone locations (J, 3), each in its bone's rest frame; rotations stay."""
    bones = armature_obj.pose.bones
    for name, location in zip(bone_names, np.asarray(locations, dtype=np.float64)):
        bones[str(name)].location = location.tolist()
    bpy.context.view_layer.update()


def armature_of(obj):
    """The armature object deforming `obj` through an Armature modifier, or None."""
    return next((m.object for m in getattr(obj, "modifiers", ()) if m.type == 'ARMATURE' and m.object), None)


def read_bone_deformations(armature_obj, bone_names) -> np.ndarray:
    """(J, 4, 4) the transform each posed bone applies to rest points (armature coordinates):
    pose matrix × rest matrix⁻¹, what the Armature modifier blends for the vertices it weighs."""
    bpy.context.view_layer.update()
    pose_bones, bones = armature_obj.pose.bones, armature_obj.data.bones
    posed = np.array([[row[:] for row in pose_bones[str(n)].matrix] for n in bone_names], dtype=np.float64)
    rest = np.array([[row[:] for row in bones[str(n)].matrix_local] for n in bone_names], dtype=np.float64)
    return posed @ np.linalg.inv(rest)


def read_bone_pose(armature_obj, bone_names) -> tuple[np.ndarray, np.ndarray]:
    """(basis rotations (J, 3, 3), locations (J, 3)) of the named pose bones, each in its bone's rest
    frame: what the user or pose_armature left there (any rotation mode)."""
    bones = armature_obj.pose.bones
    missing = [str(n) for n in bone_names if bones.get(str(n)) is None]
    if missing:
        raise BridgeError(f"Armature '{armature_obj.name}' has no bone '{missing[0]}'; the rig was changed: "
                          "project the mesh again")
    basis = np.array([[row[:3] for row in bones[str(n)].matrix_basis[:3]] for n in bone_names], dtype=np.float64)
    locations = np.array([bones[str(n)].location[:] for n in bone_names], dtype=np.float64)
    return basis, locations


def read_armature_weights(obj, armature_obj, bone_names, parents) -> np.ndarray:
    """(V, J) the skinning weights `armature_obj`'s Armature modifier applies to `obj` (normalised as
    the modifier does), read in bulk without per-vertex loops: vertex groups have no foreach_get,
    so each bone in turn is moved by one unit along its own axis and the evaluated mesh read back.
    A moved bone carries its subtree, so bone j's weight is its subtree's share minus its children's.
    The pose is put back as it was (in a finally), and only this modifier is evaluated."""
    from mathutils import Matrix

    pose_bones = armature_obj.pose.bones
    saved_basis = {b.name: b.matrix_basis.copy() for b in pose_bones}
    saved_show = {m.name: m.show_viewport for m in obj.modifiers}
    modifier = next(m for m in obj.modifiers if m.type == 'ARMATURE' and m.object == armature_obj)
    linear = np.linalg.inv(np.array(obj.matrix_world, dtype=np.float64)[:3, :3]) @ np.array(
        armature_obj.matrix_world, dtype=np.float64)[:3, :3]  # armature coordinates → the mesh's own
    try:
        for m in obj.modifiers:
            m.show_viewport = m == modifier
        for bone in pose_bones:
            bone.matrix_basis = Matrix.Identity(4)
        bpy.context.view_layer.update()
        rest = read_evaluated_positions(obj).astype(np.float64)
        shares = np.empty((len(rest), len(bone_names)))
        for j, name in enumerate(bone_names):
            bone = pose_bones[str(name)]
            bone.location = (0.0, 1.0, 0.0)  # one unit along the bone (its rest frame's y)
            bpy.context.view_layer.update()
            moved = read_evaluated_positions(obj).astype(np.float64) - rest
            bone.location = (0.0, 0.0, 0.0)
            frame = np.array(bone.bone.matrix_local, dtype=np.float64)[:3, :3]
            step = linear @ frame[:, 1]
            shares[:, j] = moved @ step / max(float(step @ step), 1e-300)
    finally:
        for bone in pose_bones:
            bone.matrix_basis = saved_basis[bone.name]
        for m in obj.modifiers:
            m.show_viewport = saved_show[m.name]
        bpy.context.view_layer.update()
    weights = shares.copy()
    for j, parent in enumerate(parents):
        if parent >= 0:
            weights[:, parent] -= shares[:, j]
    return np.clip(weights, 0.0, 1.0)


def move_bone_rest(armature_obj, bone_names, heads, tails, rolls, update: bool = True) -> None:
    """Move the named bones' rest heads, tails and rolls (armature coordinates); pose-bone values
    stay. As in write_armature the armature is made active and edited briefly; the previously
    active object and its mode are restored."""
    heads, tails = np.asarray(heads, dtype=np.float64), np.asarray(tails, dtype=np.float64)
    rolls = np.asarray(rolls, dtype=np.float64)
    short = np.linalg.norm(tails - heads, axis=1) < 1e-6
    if short.any():
        raise BridgeError(f"Armature '{armature_obj.name}': bone '{bone_names[int(np.argmax(short))]}' would have no "
                          "length; Blender deletes such bones")
    with _bones_edited(armature_obj):
        edit_bones = armature_obj.data.edit_bones
        for j, name in enumerate(bone_names):
            bone = edit_bones[str(name)]
            bone.head, bone.tail, bone.roll = heads[j].tolist(), tails[j].tolist(), float(rolls[j])
    if update:
        bpy.context.view_layer.update()
