"""Bad and hostile input to every operator family (issue 16): each case must be refused with a
message that names the thing and says the fix, and leave the scene, the model folder, the temp
folder (job folders) and the process table exactly as they were.

A case is (id, setup, expected message): setup builds the scene and returns the call to make; the
runner hashes the scene (objects, meshes and their vertex positions, collections, custom
properties, the scene's model list and comparisons) before and after, and looks for new files
and child processes. Cases that could take Blender down (decompression bombs, huge declared
arrays) also run in a child process with a memory cap and a timeout.
"""

import hashlib
import io
import os
import re
import subprocess
import sys
import tempfile
import struct
import textwrap
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------
# Scene hash and leftovers
# --------------------------------------------------------------------------------------------


def _without_empty_groups(value):
    """Reading an unset pointer property through RNA leaves an empty group behind in Blender 4.3: it holds
    nothing, so it is no change."""
    if isinstance(value, dict):
        return {k: _without_empty_groups(v) for k, v in value.items() if v != {}}
    return value


def _property_text(owner) -> str:
    """Custom properties as text (arrays and groups through their Python values)."""
    items = []
    for key in sorted(owner.keys()):
        value = owner[key]
        value = value.to_list() if hasattr(value, "to_list") else value.to_dict() if hasattr(value, "to_dict") \
            else value
        if value != {}:
            items.append(f"{key}={_without_empty_groups(value)!r}")
    return ";".join(items)


def scene_parts(bpy) -> dict:
    """{what: SHA-256} for every object, mesh (vertex positions included), collection and their custom
    properties, and the scene's Design Space state (models, comparisons, training collection)."""
    parts = {}
    for view_layer in bpy.context.scene.view_layers:  # world matrices are stale until an update: evaluate first
        view_layer.update()

    def add(*fields):
        parts[f"{fields[0]} {fields[1]}"] = repr(fields)

    for obj in bpy.data.objects:
        matrix = np.array(obj.matrix_world, dtype=np.float64)
        add("object", obj.name, obj.type, obj.parent.name if obj.parent else None,
            obj.data.name if obj.data else None, matrix.round(9).tobytes(), _property_text(obj),
            obj.mode, [c.name for c in obj.users_collection])
        sliders = getattr(obj, "design_space_edit", None)
        if sliders is not None:
            add("sliders", sliders.attribute_model, [(s.name, s.value, s.applied) for s in sliders.sliders])
    for mesh in bpy.data.meshes:
        buffer = np.empty(len(mesh.vertices) * 3, np.float32)
        if len(mesh.vertices) and not mesh.is_editmode:
            mesh.attributes["position"].data.foreach_get("vector", buffer)
        add("mesh", mesh.name, len(mesh.vertices), len(mesh.polygons), buffer.tobytes(), _property_text(mesh),
            None if mesh.shape_keys is None else [(k.name, k.value) for k in mesh.shape_keys.key_blocks])
    for collection in bpy.data.collections:
        add("collection", collection.name, sorted(o.name for o in collection.objects),
            sorted(c.name for c in collection.children), _property_text(collection))
    for image in bpy.data.images:
        add("image", image.name)
    for scene in bpy.data.scenes:
        settings = scene.design_space
        add("scene", scene.name, _property_text(scene), [(m.name, m.kind, m.filepath) for m in settings.models],
            [(c.shape_a, c.shape_b, c.attribute, c.answer) for c in settings.comparisons],
            settings.training_collection.name if settings.training_collection else None)
    return parts


def scene_hash(bpy) -> str:
    """One SHA-256 over scene_parts."""
    return hashlib.sha256(repr(sorted(scene_parts(bpy).items())).encode("utf-8")).hexdigest()


def _first_difference(before: str, after: str) -> str:
    at = next((i for i, (a, b) in enumerate(zip(before, after)) if a != b), min(len(before), len(after)))
    return f"…{before[max(0, at - 60):at + 60]}… became …{after[max(0, at - 60):at + 60]}…"


def child_processes() -> set:
    """Process ids whose parent is this process (Linux /proc; elsewhere nothing is checked)."""
    me, children = os.getpid(), set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == me and fields[0] != "Z":
            children.add(int(entry.name))
    return children


def job_folders() -> set:
    return set(Path(tempfile.gettempdir()).glob("design_space_job_*"))


class Leftovers:
    """What exists now in the places an operator may write: checked again after the case."""

    def __init__(self, bpy, addon, *folders):
        self.bpy, self.folders = bpy, [addon.operators.model_store.model_directory(), *folders]
        self.parts, self.files, self.jobs = scene_parts(bpy), self._files(), job_folders()
        self.processes, self.objects = child_processes(), len(bpy.data.objects)

    def _files(self):
        return {p for folder in self.folders for p in Path(folder).rglob("*")}

    def assert_none(self):
        now = scene_parts(self.bpy)
        changed = sorted(k for k in now.keys() | self.parts.keys() if now.get(k) != self.parts.get(k))
        assert not changed, (f"the scene changed: {changed[:8]}; first: "
                             f"{_first_difference(self.parts.get(changed[0], ''), now.get(changed[0], ''))}"
                             if changed else "")
        assert len(self.bpy.data.objects) == self.objects
        assert self._files() == self.files, f"files left: {sorted(self._files() - self.files)}"
        assert job_folders() == self.jobs, f"job folders left: {sorted(job_folders() - self.jobs)}"
        deadline = time.time() + 5
        while child_processes() - self.processes and time.time() < deadline:
            time.sleep(0.05)
        assert not child_processes() - self.processes, "a worker process is still running"


# --------------------------------------------------------------------------------------------
# Scene builders
# --------------------------------------------------------------------------------------------


def mesh_object(bpy, name, vertices, faces, collection=None):
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(map(float, v)) for v in vertices], [], [tuple(f) for f in faces])
    obj = bpy.data.objects.new(name, mesh)
    (collection or bpy.context.scene.collection).objects.link(obj)
    return obj


CUBE_V = [(x, y, z) for x in (0, 1) for y in (0, 1) for z in (0, 1)]
CUBE_F = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]


def new_collection(bpy, name, training=True):
    collection = bpy.data.collections.new(name)
    bpy.context.scene.collection.children.link(collection)
    if training:
        bpy.context.scene.design_space.training_collection = collection
    return collection


def demo(bpy, family="VASE", count=6, topology="SAME", seed=0):
    bpy.ops.design_space.create_demo_collections(families={family}, shapes_per_family=count, body_count=0,
                                                 topology=topology, seed=seed)
    title = {"VASE": "Vases", "CHAIR": "Chairs", "TABLE": "Tables"}[family]
    collection = bpy.data.collections[title]
    bpy.context.scene.design_space.training_collection = collection
    return collection


def vase_space(bpy):
    collection = demo(bpy, "VASE", 8, seed=4)
    bpy.ops.design_space.learn_shape_space(component_mode='VARIANCE', variance=0.999)
    return collection


def sliders_object(bpy):
    """A vase projected into a shape space with learned height/max_radius sliders, made active."""
    collection = vase_space(bpy)
    bpy.ops.design_space.learn_attributes(attributes="height, max_radius", method='RIDGE')
    source = collection.objects[2]
    bpy.context.view_layer.objects.active = source
    bpy.ops.design_space.project_shape(target='IN_PLACE')
    return source


def activate(bpy, obj):
    for other in bpy.context.view_layer.objects:
        other.select_set(False)
    if obj is not None:
        obj.select_set(True)
    bpy.context.view_layer.objects.active = obj


def fake_entry(bpy, addon, kind, path, collection="Vases", target=""):
    """A model list entry pointing at `path` (deleted, hostile, …), made active."""
    addon.operators.model_store.add_model_entry(bpy.context.scene, f"{kind} model", kind, Path(path), collection,
                                                target, "")


# --- collections of every bad kind (training collection) -------------------------------------

def no_collection(bpy, tmp):
    bpy.context.scene.design_space.training_collection = None


def empty_collection(bpy, tmp):
    new_collection(bpy, "Nothing")


def one_shape(bpy, tmp):
    collection = new_collection(bpy, "One")
    mesh_object(bpy, "lonely", CUBE_V, CUBE_F, collection)["height"] = 1.0


def two_shapes(bpy, tmp):
    collection = new_collection(bpy, "Two")
    for i in range(2):
        mesh_object(bpy, f"box_{i}", CUBE_V, CUBE_F, collection)["height"] = float(i)


def only_empties(bpy, tmp):
    collection = new_collection(bpy, "Empties")
    for i in range(3):
        empty = bpy.data.objects.new(f"empty_{i}", None)
        collection.objects.link(empty)


def empties_with_parts(bpy, tmp):
    collection = new_collection(bpy, "Assemblies")
    for i in range(4):
        empty = bpy.data.objects.new(f"assembly_{i}", None)
        collection.objects.link(empty)
        part = mesh_object(bpy, f"part_{i}", [(x + i * 0.1, y, z) for x, y, z in CUBE_V], CUBE_F, collection)
        part.parent = empty


def a_camera(bpy, tmp):
    collection = new_collection(bpy, "Cameras")
    for i in range(3):
        mesh_object(bpy, f"box_{i}", CUBE_V, CUBE_F, collection)
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    collection.objects.link(camera)


def flat_shapes(bpy, tmp):
    collection = new_collection(bpy, "Flat")
    for i in range(5):
        obj = mesh_object(bpy, f"sheet_{i}", [(0, 0, 0), (1 + i, 0, 0), (1 + i, 1, 0), (0, 1, 0)], [(0, 1, 2, 3)],
                          collection)
        obj["category"] = "sheet"


def duplicates(bpy, tmp):
    collection = new_collection(bpy, "Copies")
    for i in range(5):
        mesh_object(bpy, f"copy_{i}", CUBE_V, CUBE_F, collection)["height"] = 1.0


def nan_vertex(bpy, tmp):
    collection = demo(bpy, "VASE", 5)
    obj = collection.objects[1]
    obj.data.vertices[0].co.x = float("nan")


def tiny_scale(bpy, tmp):
    collection = new_collection(bpy, "Tiny")
    for i in range(4):
        mesh_object(bpy, f"speck_{i}", [(x * 1e-30 * (i + 1), y * 1e-30, z * 1e-30) for x, y, z in CUBE_V],
                    CUBE_F, collection)["height"] = float(i)


def edit_mode_member(bpy, tmp):
    collection = demo(bpy, "VASE", 5)
    activate(bpy, collection.objects[0])
    bpy.ops.object.mode_set(mode='EDIT')


COLLECTIONS = {
    "no_collection": (no_collection, r"No collection given; pick a collection|Choose a training collection first"),
    "empty": (empty_collection, r"Collection 'Nothing' is empty; add mesh objects"),
    "one_shape": (one_shape, r"'One' holds 1 shape; .* needs at least \d: add shapes"),
    "only_empties": (only_empties, r"'empty_0' in collection 'Empties' is an empty, not a mesh; move it out"),
    "camera": (a_camera, r"'Camera' in collection 'Cameras' is a camera, not a mesh; move it out"),
}

# Each training operator with its arguments and what it must say of a collection of a kind.
TRAINERS = {
    "learn_shape_space": (dict(component_mode='COUNT', components=2), {}),
    "train_predictor": (dict(target="height", model_kind='RIDGE'), {}),
    "learn_volumetric": (dict(model_kind='voxel_logistic', resolution='16', epochs=1), {}),
    "learn_part_model": (dict(time_budget=1.0), {}),
    "export_training_dataset": (None, {}),
}
OPERATOR_NAMES = {"train_predictor": "train_attribute_predictor"}


ONE_SHAPE_MESSAGES = {
    "train_predictor": r"Only 1 shape has a number in 'height' \('lonely'\); .* at least 2 .*add shapes",
    "export_training_dataset": r"Only 1 shape has a number in 'height' \('lonely'\)",
    "learn_part_model": r"has no part labels: 'lonely'; label their parts",
}
# Collections that only some trainers can refuse (the others learn from them, or refuse earlier).
EXTRA_COLLECTION_CASES = {
    ("learn_volumetric", "flat"): (flat_shapes, r"5 shapes in 'Flat' are flat or without faces \('sheet_0', .*give "
                                   r"them thickness"),
    ("learn_shape_space", "nan_vertex"): (nan_vertex, r"'vase_001' has 1 .*(NaN|non-finite|not a number)"),
    ("train_predictor", "nan_vertex"): (nan_vertex, r"'vase_001' has 1 .*(NaN|non-finite|not a number)"),
    ("learn_volumetric", "nan_vertex"): (nan_vertex, r"'vase_001' has 1 .*(NaN|non-finite|not a number)"),
    ("learn_shape_space", "tiny_scale"): (tiny_scale, r"All shapes are identical: there is no variation to learn"),
    ("learn_shape_space", "duplicates"): (duplicates, r"All shapes are identical: there is no variation to learn"),
    ("train_predictor", "duplicates"): (duplicates, r"'height' has the same value on every shape"),
}


def collection_case(trainer, kind, build=None, message=None):
    if build is None:
        build, message = COLLECTIONS[kind]
        if kind == "one_shape":
            message = ONE_SHAPE_MESSAGES.get(trainer, message)

    def setup(bpy, addon, tmp):
        build(bpy, tmp)
        arguments, _ = TRAINERS[trainer]
        if trainer == "export_training_dataset":
            arguments = dict(filepath=str(tmp / "data.npz"), target="height")
        operator = getattr(bpy.ops.design_space, OPERATOR_NAMES.get(trainer, trainer))
        return lambda: operator(**arguments)

    return setup, message


CASES = {}
for trainer in TRAINERS:
    for kind in COLLECTIONS:
        CASES[f"{trainer}-{kind}"] = collection_case(trainer, kind)
for (trainer, kind), (build, message) in EXTRA_COLLECTION_CASES.items():
    CASES[f"{trainer}-{kind}"] = collection_case(trainer, kind, build, message)


# --- one mesh, made active: recognition, projection, prediction, parts -----------------------

def zero_faces(bpy, tmp):
    activate(bpy, mesh_object(bpy, "points", [(0, 0, 0), (1, 0, 0), (0, 1, 0)], []))


def one_vertex(bpy, tmp):
    activate(bpy, mesh_object(bpy, "dot", [(0, 0, 0)], []))


def nan_active(bpy, tmp):
    obj = mesh_object(bpy, "broken", CUBE_V, CUBE_F)
    positions = np.array(CUBE_V, np.float32)
    positions[3, 2] = np.inf  # a bulk write keeps inf (an RNA assignment would clamp it to 3.4e38)
    obj.data.attributes["position"].data.foreach_set("vector", positions.ravel())
    activate(bpy, obj)


def nothing_active(bpy, tmp):
    mesh_object(bpy, "cube", CUBE_V, CUBE_F)
    activate(bpy, None)


def camera_active(bpy, tmp):
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    bpy.context.scene.collection.objects.link(camera)
    activate(bpy, camera)


def edit_mode_active(bpy, tmp):
    activate(bpy, mesh_object(bpy, "editing", CUBE_V, CUBE_F))
    bpy.ops.object.mode_set(mode='EDIT')


ACTIVE = {
    "zero_faces": (zero_faces, r"'points' has no faces"),
    "one_vertex": (one_vertex, r"'dot' has no faces"),
    "nan_vertex": (nan_active, r"'broken' has 1 vertex at a non-finite position \(NaN or infinity\); delete or move"),
    "nothing_active": (nothing_active, r"Select|select|active object"),
    "camera_active": (camera_active, r"'Camera' is a camera|Select|select|active object \(a mesh\)"),
    "edit_mode": (edit_mode_active, r"'editing' is in Edit Mode; switch to Object Mode"),
}
def with_predictor(bpy):
    demo(bpy, "CHAIR", 8, seed=1)
    bpy.ops.design_space.train_attribute_predictor(target="height", model_kind='RIDGE')


def with_library(bpy):
    demo(bpy, "VASE", 4)


def with_attributes(bpy):
    vase_space(bpy)
    bpy.ops.design_space.learn_attributes(attributes="height, max_radius", method='RIDGE')


MESH_OPERATORS = {
    "find_similar": (with_library, {"library": "Vases", "method": 'TRAINING_FREE'}),
    "project_shape": (with_attributes, {"target": 'COPY'}),
    "predict_attribute": (with_predictor, {}),
    "edit_attributes": (None, {"attribute": "height", "value": 1.0}),
}
NO_SLIDERS = r"' has no attribute sliders; select a mesh and use Edit with Attribute Sliders first"
ACTIVE_MESSAGES = {  # where an operator rightly says something else first
    ("edit_attributes", "zero_faces"): "'points" + NO_SLIDERS, ("edit_attributes", "one_vertex"): "'dot" + NO_SLIDERS,
    ("edit_attributes", "nan_vertex"): "'broken" + NO_SLIDERS, ("edit_attributes", "edit_mode"): "'editing" + NO_SLIDERS,
    ("edit_attributes", "nothing_active"): r"There is no active object; select a mesh with attribute sliders",
    ("edit_attributes", "camera_active"): r"'Camera' is a camera, not a mesh; select a mesh",
    ("find_similar", "nothing_active"): r"Nothing is active: make the shape to search with the active object",
    ("find_similar", "camera_active"): r"'Camera' is a camera, not a mesh: make the shape to search with the active",
    ("find_similar", "zero_faces"): r"'points' has no surface to compare \(no faces.*search with a shape that has faces",
    ("find_similar", "one_vertex"): r"'dot' has no surface to compare \(no faces.*search with a shape that has faces",
    ("predict_attribute", "zero_faces"): r"points: the mesh has no surface area to sample",
    ("predict_attribute", "one_vertex"): r"dot: the mesh has no surface area to sample",
    ("project_shape", "zero_faces"): r"'points'", ("project_shape", "one_vertex"): r"'dot'",
}


def active_case(operator_name, kind):
    build, message = ACTIVE[kind]
    message = ACTIVE_MESSAGES.get((operator_name, kind), message)
    prepare, arguments = MESH_OPERATORS[operator_name]

    def setup(bpy, addon, tmp):
        if prepare is not None:
            prepare(bpy)
        build(bpy, tmp)
        operator = getattr(bpy.ops.design_space, operator_name)
        return lambda: operator(**arguments)

    return setup, message


for operator_name in MESH_OPERATORS:
    for kind in ACTIVE:
        if kind == "edit_mode" and operator_name != "edit_attributes":
            continue  # Edit Mode meshes are read (flushed first): these operators work on them
        CASES[f"{operator_name}-{kind}"] = active_case(operator_name, kind)


def no_classifier(bpy, addon, tmp):
    demo(bpy, "VASE", 4)
    activate(bpy, bpy.data.objects["vase_000"])
    return lambda: bpy.ops.design_space.classify()


CASES["classify-no_model"] = (no_classifier, r"Make a classifier the active model first \(Train Classifier")


def template_fit_on_empties(bpy, addon, tmp):
    empties_with_parts(bpy, tmp)
    return lambda: bpy.ops.design_space.learn_shape_space(correspondence='TEMPLATE')


CASES["learn_shape_space-template_on_empties"] = (template_fit_on_empties, r"Collection 'Assemblies' has no top-level "
                                                  r"mesh to fit as the template .*choose a Template mesh")


# --- hostile model files --------------------------------------------------------------------

def good_model(tmp) -> Path:
    from learning.model_files import save_model_file

    rng = np.random.default_rng(0)
    return save_model_file(tmp / "good.npz", "ridge_regression",
                           {"x_mean": rng.normal(size=3), "x_scale": np.ones(3), "weights": rng.normal(size=(3, 1)),
                            "bias": np.zeros(1), "y_mean": np.zeros(1), "y_scale": np.ones(1)},
                           feature_layout={"inputs": ["a", "b", "c"], "outputs": ["height"]}).path


def npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def raw_zip(path: Path, members) -> None:
    """A zip64 archive written by hand: (name, stored bytes, method, declared size) per member, so a
    member can claim what zipfile would never write (a deflate stream of GBs built from repeats)."""
    out, central = bytearray(), bytearray()
    for name, data, method, size in members:
        encoded = name.encode("utf-8")
        offset = len(out)
        extra = struct.pack("<HHQQ", 1, 16, size, len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, method, 0, 0x21, 0, 0xFFFFFFFF, 0xFFFFFFFF,
                           len(encoded), len(extra)) + encoded + extra + data
        extra = struct.pack("<HHQQQ", 1, 24, size, len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, method, 0, 0x21, 0, 0xFFFFFFFF,
                               0xFFFFFFFF, len(encoded), len(extra), 0, 0, 0, 0, 0xFFFFFFFF) + encoded + extra
    directory = len(out)
    out += central
    end = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(members), len(members), len(central),
                       directory)
    out += struct.pack("<IIQI", 0x07064B50, 0, end, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path.write_bytes(bytes(out))


def stored_member(name, array):
    data = npy_bytes(array)
    return name, data, zipfile.ZIP_STORED, len(data)


BOMB_CHUNKS = 256  # × 16 MB = 4 GB when inflated


def deflate_bomb(tmp) -> Path:
    """~4 MB on disk, a valid deflate stream that inflates to 4 GB: a float32 array of 2³⁰ − 32
    zeros. Each 16 MB chunk is compressed once and repeated (a full flush makes the copies
    independent), so building it takes a fraction of a second."""
    path = tmp / "bomb.npz"
    chunk = 1 << 24
    header = io.BytesIO()
    count = (BOMB_CHUNKS * chunk - 128) // 4
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (count,)})
    header = header.getvalue().ljust(128, b" ")[:-1] + b"\n" if len(header.getvalue()) < 128 else header.getvalue()
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = first.compress(header + bytes(chunk - len(header))) + first.flush(zlib.Z_FULL_FLUSH)
    repeat = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = repeat.compress(bytes(chunk)) + repeat.flush(zlib.Z_FULL_FLUSH)
    stream = head + zeros * (BOMB_CHUNKS - 1) + b"\x03\x00"  # an empty final block ends the stream
    raw_zip(path, [("weights.npy", stream, zipfile.ZIP_DEFLATED, BOMB_CHUNKS * chunk),
                   stored_member("__metadata__.npy", np.frombuffer(b"{}", np.uint8)),
                   stored_member("__hash__.npy", np.frombuffer(b"0" * 64, np.uint8))])
    return path


def hostile_file(kind: str, tmp: Path) -> Path:
    good = good_model(tmp)
    data = good.read_bytes()
    path = tmp / f"{kind}.npz"
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty_file":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("weights = [1, 2, 3]\n")
    elif kind == "pickle":
        import pickle

        path.write_bytes(pickle.dumps({"weights": [1.0]}))
    elif kind == "pickled_member":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("weights.npy", npy_bytes(np.array([{"x": 1}], dtype=object)))
            archive.writestr("__metadata__.npy", npy_bytes(np.frombuffer(b"{}", np.uint8)))
            archive.writestr("__hash__.npy", npy_bytes(np.frombuffer(b"0" * 64, np.uint8)))
    elif kind == "torch_zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    elif kind == "huge_declared":  # a header declaring 10¹² floats over 80 stored bytes
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10 ** 12,)})
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("weights.npy", header.getvalue() + bytes(80))
            archive.writestr("__metadata__.npy", npy_bytes(np.frombuffer(b"{}", np.uint8)))
            archive.writestr("__hash__.npy", npy_bytes(np.frombuffer(b"0" * 64, np.uint8)))
    elif kind == "deflated":
        path = deflate_bomb(tmp)
    elif kind in ("wrong_kind", "nan_weights"):
        from learning.model_files import save_model_file

        weights = np.full((3, 1), np.nan) if kind == "nan_weights" else np.ones((3, 1))
        save_model_file(path, "random_forest" if kind == "wrong_kind" else "ridge_regression",
                        {"x_mean": np.zeros(3), "x_scale": np.ones(3), "weights": weights, "bias": np.zeros(1),
                         "y_mean": np.zeros(1), "y_scale": np.ones(1)})
    elif kind == "tampered":
        with zipfile.ZipFile(good) as archive:
            members = {i.filename: archive.read(i) for i in archive.infolist()}
        members["weights.npy"] = npy_bytes(np.full((3, 1), 7.0))
        with zipfile.ZipFile(path, "w") as archive:
            for name, blob in members.items():
                archive.writestr(name, blob)
    elif kind == "folder":
        path = tmp / "models_folder.npz"
        path.mkdir()
    elif kind == "missing":
        path = tmp / "gone.npz"
    good.unlink()
    return path


HOSTILE = {
    "truncated": r"truncated or corrupt",
    "empty_file": r"is empty \(0 bytes\)",
    "text": r"not an \.npz \(zip\) archive",
    "pickle": r"a Python pickle.*never unpickles",
    "pickled_member": r"array 'weights' holds pickled Python objects; it was refused",
    "torch_zip": r"holds 'archive/data.pkl', which is not a numpy array",
    "huge_declared": r"array 'weights' declares shape \(1000000000000,\)",
    "deflated": r"array 'weights' is compressed .*refused without being unpacked",
    "wrong_kind": r"model kind 'random_forest' is unknown",
    "nan_weights": r"array 'weights' holds NaN or infinite numbers",
    "tampered": r"content hash does not match",
    "folder": r"this is a folder, not a model file",
    "missing": r"the model file does not exist",
}


def load_case(kind):
    def setup(bpy, addon, tmp):
        path = hostile_file(kind, tmp)
        return lambda: bpy.ops.design_space.load_model(filepath=str(path))

    return setup, r"'[^']*" + re.escape(kind if kind not in ("folder", "missing", "deflated") else
                                        {"folder": "models_folder", "missing": "gone", "deflated": "bomb"}[kind]) \
        + r"\.npz': .*" + HOSTILE[kind]


for kind in HOSTILE:
    CASES[f"load_model-{kind}"] = load_case(kind)


# An active model entry whose file is hostile or was deleted (reopening a .blend after the files went).
ENTRY_USERS = {
    "predict_attribute": ("ridge_regression", lambda bpy: activate(bpy, mesh_object(bpy, "cube", CUBE_V, CUBE_F)),
                          {}),
    "generate_shapes": ("shape_space", None, {"count": 2}),
    "generate_volumetric": ("voxel_logistic", None, {"count": 1}),
    "assemble_parts": ("part_model", None, {"count": 1}),
    "classify": ("view_network", lambda bpy: activate(bpy, mesh_object(bpy, "cube", CUBE_V, CUBE_F)), {}),
    "learn_attributes": ("shape_space", None, {"attributes": "height"}),
}


def entry_case(operator_name, kind):
    model_kind, prepare, arguments = ENTRY_USERS[operator_name]

    def setup(bpy, addon, tmp):
        demo(bpy, "VASE", 4)
        if prepare is not None:
            prepare(bpy)
        path = hostile_file(kind, tmp)
        fake_entry(bpy, addon, model_kind, path)
        operator = getattr(bpy.ops.design_space, operator_name)
        return lambda: operator(**arguments)

    expected = {"missing": r"gone\.npz'(: the model file)? does not exist|gone\.npz\); train it again or load", "deflated": r"is compressed .*refused without being unpacked",
                "pickled_member": r"holds pickled Python objects", "truncated": r"truncated or corrupt",
                "huge_declared": r"declares shape"}[kind]
    return setup, expected


for operator_name in ENTRY_USERS:
    for kind in ("missing", "deflated", "pickled_member", "truncated", "huge_declared"):
        CASES[f"{operator_name}-model_{kind}"] = entry_case(operator_name, kind)


# --- paths: folders instead of files, missing files, text that is not UTF-8 -----------------

def path_case(operator_name, kind):
    def setup(bpy, addon, tmp):
        collection = demo(bpy, "VASE", 4)
        settings = bpy.context.scene.design_space
        if operator_name == "export_comparisons":
            item = settings.comparisons.add()
            item.shape_a, item.shape_b = collection.objects[0].name, collection.objects[1].name
            item.attribute, item.answer = "tall", "A"
        path = {"folder": tmp, "missing": tmp / "nowhere" / "file.csv", "latin1": tmp / "answers.csv",
                "none": tmp / "answers.csv"}[kind]
        if kind == "latin1":
            path.write_bytes("shape_a,shape_b,attribute,answer\nvase_000,vase_001,gr\xf6\xdfe,A\n".encode("latin-1"))
        if operator_name == "export_training_dataset":
            return lambda: bpy.ops.design_space.export_training_dataset(filepath=str(path), target="height")
        return lambda: getattr(bpy.ops.design_space, operator_name)(filepath=str(path))

    expected = {("import_comparisons", "folder"): r"' is a folder; choose a comparisons \.csv file",
                ("import_comparisons", "missing"): r"file\.csv' does not exist; choose a comparisons \.csv file",
                ("import_comparisons", "latin1"): r"answers\.csv' is not UTF-8 text .*save it as a UTF-8",
                ("export_comparisons", "folder"): r"' is a folder; give a file name such as",
                ("export_comparisons", "missing"): r"the folder '.*nowhere' does not exist; create it first",
                ("export_comparisons", "none"): r"There are no comparisons to export yet; import some",
                ("export_training_dataset", "folder"): r"' is a folder",
                ("export_training_dataset", "missing"): r"nowhere' does not exist"}[(operator_name, kind)]
    return setup, expected


for operator_name, kind in (("import_comparisons", "folder"), ("import_comparisons", "missing"),
                            ("import_comparisons", "latin1"), ("export_comparisons", "folder"),
                            ("export_comparisons", "missing"), ("export_training_dataset", "folder"),
                            ("export_training_dataset", "missing")):
    CASES[f"{operator_name}-{kind}"] = path_case(operator_name, kind)


# --- sliders: values that are not numbers ------------------------------------------------------

def slider_value_case(value, relative=False):
    def setup(bpy, addon, tmp):
        sliders_object(bpy)
        return lambda: bpy.ops.design_space.edit_attributes(attribute="height", value=value, relative=relative)

    return setup, rf"{re.escape(str(value))} is not a usable value for 'height' of 'vase_002'; enter a finite number"


# (±inf never arrives: Blender's float property turns it into ±3.4e38, which is clamped like 1e30)
CASES["edit_attributes-nan"] = slider_value_case(float("nan"))
CASES["edit_attributes-relative_nan"] = slider_value_case(float("nan"), relative=True)


def unknown_attribute(bpy, addon, tmp):
    sliders_object(bpy)
    return lambda: bpy.ops.design_space.edit_attributes(attribute="weight", value=1.0)


CASES["edit_attributes-unknown_attribute"] = (unknown_attribute, r"'vase_002' has no attribute 'weight'; choose one "
                                              r"of: height, max_radius")


# --- edits said in words, and scores of learned attributes (issue 19) ---------------------------

def phrase_case(phrase, message):
    def setup(bpy, addon, tmp):
        sliders_object(bpy)
        return lambda: bpy.ops.design_space.edit_by_phrase(phrase=phrase)

    return setup, message


KNOWN = r"they know: height \('taller/shorter'\), max_radius"
PHRASES = {
    "unknown_word": ("much floofier", r"'floofier' names no attribute the models know; " + KNOWN),
    "unknown_clause": ("taller and floofier", r"'floofier' names no attribute the models know"),
    "degree_alone": ("a bit", r"'a bit' says how much but not what; add an attribute, e\.g\. 'a bit taller'"),
    "number_without_unit": ("10 taller", r"10 what\? 'height' is in m; give the unit, e\.g\. '10 cm'"),
    "wrong_unit": ("5 kg taller", r"kg is a mass but 'height' is a length"),
    "empty": ("   ", r"The phrase is empty; say how the shape should change"),
}
for kind, (phrase, message) in PHRASES.items():
    CASES[f"edit_by_phrase-{kind}"] = phrase_case(phrase, message)


def phrase_without_sliders(bpy, addon, tmp):
    demo(bpy, "VASE", 4)
    activate(bpy, bpy.data.collections["Vases"].objects[0])
    return lambda: bpy.ops.design_space.edit_by_phrase(phrase="taller")


CASES["edit_by_phrase-no_sliders"] = (phrase_without_sliders, r"'vase_000' .*(Edit with Attribute Sliders|sliders)")


def score_without_model(bpy, addon, tmp):
    demo(bpy, "VASE", 4)
    return lambda: bpy.ops.design_space.score_attribute(target='COLLECTION', collection="Vases")


CASES["score_attribute-no_model"] = (score_without_model, r"Make a model learned from comparisons the active model "
                                     r"first \(Learn from Comparisons\)")


# --- the articulated space (issue 17) -------------------------------------------------------

def articulated_mixed_topology(bpy, addon, tmp):
    demo(bpy, "VASE", 4)
    mesh_object(bpy, "odd_box", CUBE_V, CUBE_F, bpy.data.collections["Vases"])
    return lambda: bpy.ops.design_space.learn_shape_space(alignment='ARTICULATED', component_mode='COUNT',
                                                          components=2)


CASES["learn_articulated-mixed_topology"] = (articulated_mixed_topology, r"'odd_box' has 8 vertices but 'vase_000' "
                                             r"has \d+")


def articulated_nan_body(bpy, addon, tmp):
    bpy.ops.design_space.create_demo_collections(families=set(), body_count=3, seed=1)
    collection = bpy.data.collections["Bodies"]
    bpy.context.scene.design_space.training_collection = collection
    obj = collection.objects[1]
    obj.data.vertices[7].co.z = float("nan")
    return lambda: bpy.ops.design_space.learn_shape_space(alignment='ARTICULATED', component_mode='COUNT',
                                                          components=2)


CASES["learn_articulated-nan_vertex"] = (articulated_nan_body, r"'[^']+' has 1 .*(NaN|non-finite)")


def articulated_one_mesh_per_person(bpy, addon, tmp):
    """Bent tubes (a figure in several poses), each mesh marked as a different person: no person is
    seen in two poses, so no skeleton can be learned from one person's motion."""
    collection = new_collection(bpy, "Bent")
    rings, around = 13, 8
    angle = np.linspace(0.0, 2 * np.pi, around, endpoint=False)
    faces = [(r * around + a, r * around + (a + 1) % around, (r + 1) * around + (a + 1) % around,
              (r + 1) * around + a) for r in range(rings - 1) for a in range(around)]
    for i, bend in enumerate((0.0, 0.5, 1.0, 1.4)):
        z = np.repeat(np.linspace(0.0, 2.0, rings), around)
        x, y = np.tile(0.2 * np.cos(angle), rings), np.tile(0.2 * np.sin(angle), rings)
        top = z > 1.0  # the upper half turns about the y axis at z = 1
        c, s_ = np.cos(bend), np.sin(bend)
        x2 = np.where(top, c * x + s_ * (z - 1.0), x)
        z2 = np.where(top, 1.0 - s_ * x + c * (z - 1.0), z)
        obj = mesh_object(bpy, f"bent_{i}", list(zip(x2, y, z2)), faces, collection)
        obj["person"] = f"someone_{i}"
    return lambda: bpy.ops.design_space.learn_shape_space(alignment='ARTICULATED', component_mode='COUNT',
                                                          components=2)


CASES["learn_articulated-one_mesh_per_person"] = (
    articulated_one_mesh_per_person, r"No skeleton could be learned from 'Bent': person .*has only one mesh")


# --- the implicit volumetric decoder (issue 18) ---------------------------------------------

def implicit_one_shape_class(bpy, addon, tmp):
    collection = demo(bpy, "CHAIR", 5, seed=3)
    collection.objects[0]["category"] = "sofa"
    return lambda: bpy.ops.design_space.learn_volumetric(model_kind='implicit_sdf', resolution='16', epochs=1)


CASES["learn_volumetric-implicit_one_shape_class"] = (implicit_one_shape_class, r"'sofa' \(1 shape\) in 'Chairs' is "
                                                      r"too few to learn a class from: .*add shapes of that class")

# --------------------------------------------------------------------------------------------
# The suite
# --------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def private_temp_folder(tmp_path, monkeypatch):
    """Job folders go to a folder of this test's own: other test runs on the machine make theirs too."""
    folder = tmp_path / "temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_by_name_and_changes_nothing(bpy, addon, tmp_path, name):
    setup, expected = CASES[name]
    call = setup(bpy, addon, tmp_path)
    leftovers = Leftovers(bpy, addon, tmp_path)
    started = time.perf_counter()
    with pytest.raises(RuntimeError) as refusal:
        call()
    message = str(refusal.value)
    assert time.perf_counter() - started < 20, "a refusal must come quickly"
    assert re.search(expected, message), f"{name}: {message}"
    assert "Traceback" not in message and "[Errno" not in message and "poll() failed" not in message, message
    leftovers.assert_none()
    if bpy.context.object is not None and bpy.context.object.mode == 'EDIT':
        bpy.ops.object.mode_set(mode='OBJECT')


def test_the_suite_covers_every_operator_family():
    assert len(CASES) >= 80
    families = {name.split("-")[0] for name in CASES}
    assert {"learn_shape_space", "learn_attributes", "train_predictor", "learn_volumetric", "learn_part_model",
            "load_model", "classify", "find_similar", "project_shape", "edit_attributes", "generate_shapes",
            "generate_volumetric", "assemble_parts", "import_comparisons", "export_comparisons"} <= families


def test_ctrl_c_during_a_headless_training_stops_the_worker_and_frees_the_runner(bpy, addon, tmp_path):
    """KeyboardInterrupt from inside the job's loop (at its first progress line): no worker process
    left, no job folder, the runner free, and the next training runs."""
    demo(bpy, "CHAIR", 12, seed=2)
    runner = addon.operators.background_jobs.runner
    leftovers = Leftovers(bpy, addon, tmp_path)
    seen = {}

    def interrupt(progress):
        if progress is not None and "pid" not in seen:
            seen["pid"], seen["folder"] = runner.job.process.pid, runner.job.workdir
            raise KeyboardInterrupt

    runner.listeners.append(interrupt)
    try:
        # the operator call turns the interrupt into a RuntimeError (bpy.ops wraps every exception of execute)
        with pytest.raises((KeyboardInterrupt, RuntimeError), match="KeyboardInterrupt|^$"):
            bpy.ops.design_space.train_attribute_predictor(target="height", model_kind='RIDGE')
    finally:
        runner.listeners.remove(interrupt)
    assert "pid" in seen, "the job never reported progress"
    with pytest.raises(ProcessLookupError):
        os.kill(seen["pid"], 0)  # killed and reaped
    assert not seen["folder"].exists()
    assert not runner.running and runner.job is None
    leftovers.assert_none()
    assert bpy.ops.design_space.train_attribute_predictor(target="height", model_kind='RIDGE') == {'FINISHED'}
    assert len(bpy.context.scene.design_space.models) == 1


def test_a_slider_value_far_outside_the_training_range_is_clamped_with_a_warning(bpy, capfd):
    from blender_helpers import positions

    obj = sliders_object(bpy)
    heights = [o["height"] for o in bpy.data.collections["Vases"].objects]
    capfd.readouterr()
    assert bpy.ops.design_space.edit_attributes(attribute="height", value=1e30) == {'FINISHED'}
    out = capfd.readouterr().out
    assert re.search(r"'height' of 'vase_002' was set to [\d.]+ instead of 1e\+30: the training shapes span", out), out
    slider = obj.design_space_edit.sliders["height"]
    spread = max(heights) - min(heights)
    assert max(heights) < slider.value < max(heights) + 3 * spread  # clamped, not 10³⁰
    assert slider.value == pytest.approx(slider.applied)
    z = positions(obj)[:, 2]
    assert np.isfinite(positions(obj)).all() and (z.max() - z.min()) < 3 * max(heights)
    # a NaN written straight into the slider (a script, a driver) puts it back where the mesh is
    before = positions(obj).copy()
    slider.value = float("nan")
    assert slider.value == pytest.approx(slider.applied) and np.array_equal(positions(obj), before)
    assert "not a usable value" in obj.design_space_edit.message


def test_a_decompression_bomb_is_refused_fast_in_a_memory_capped_process(tmp_path):
    """The 4 MB file that inflates to 4 GB, opened by a child process allowed 1 GB of memory."""
    path = deflate_bomb(tmp_path)
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("weights.npy").file_size == 4 << 30 and path.stat().st_size < 5 << 20
    script = textwrap.dedent(f"""
        import resource, sys, time
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from learning.model_files import ModelFileError, load_model_file
        started = time.perf_counter()
        try:
            load_model_file({str(path)!r})
        except ModelFileError as error:
            print(f"{{time.perf_counter() - started:.3f}} {{error}}")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seconds, message = done.stdout.split(" ", 1)
    assert float(seconds) < 0.5
    assert "bomb.npz': array 'weights' is compressed" in message and "refused without being unpacked" in message
    assert "Choose a model file that Design Space saved" in message and "train" not in message.lower()


def test_a_million_repeated_comparison_rows_are_stored_a_few_times(bpy, tmp_path, capfd):
    collection = demo(bpy, "VASE", 8)
    names = [o.name for o in collection.objects]
    pairs = [f"{a},{b},tall,A\n" for i, a in enumerate(names) for b in names[i + 1:]]  # 28 pairs
    path = tmp_path / "repeats.csv"
    path.write_text("shape_a,shape_b,attribute,answer\n" + "".join(pairs) * (1_000_000 // len(pairs)))
    started = time.perf_counter()
    assert bpy.ops.design_space.import_comparisons(filepath=str(path)) == {'FINISHED'}
    seconds = time.perf_counter() - started
    kept = 28 * 5  # each answer at most MAX_REPEATS times
    assert len(bpy.context.scene.design_space.comparisons) == kept
    out = capfd.readouterr().out
    assert f"Imported {kept} comparisons" in out and f"left out {1_000_000 // 28 * 28 - kept} repeated rows" in out, out
    assert seconds < 30
    bpy.ops.design_space.import_comparisons(filepath=str(path))  # again: nothing new
    assert len(bpy.context.scene.design_space.comparisons) == kept
