"""Import a folder of meshes into a collection, one child collection per subfolder."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import BoolProperty, StringProperty

from ..shapespace.dataset_files import check_stl, scan_dataset
from ..shapespace.off_format import MeshFileError, read_off
from .mesh_bridge import SceneWriter, set_custom_properties
from .operator_support import reports_errors

_IMPORTERS = {"obj": "obj_import", "ply": "ply_import", "stl": "stl_import"}


def _import_with_blender(context, dataset_file, target, writer: SceneWriter) -> list:
    """Run Blender's own importer for one file and move what it made into `target`."""
    path = dataset_file.path
    if dataset_file.format == "stl":
        problem = check_stl(path)
        if problem:
            raise MeshFileError(problem)
    objects_before = set(bpy.data.objects)
    materials_before = set(bpy.data.materials)
    importer = getattr(bpy.ops.wm, _IMPORTERS[dataset_file.format])
    try:
        importer(filepath=str(path))
        error = None
    except RuntimeError as failure:  # Blender's importers report errors this way
        error = str(failure).replace("Error: ", "").strip()
    made = [o for o in bpy.data.objects if o not in objects_before]
    new_materials = [m for m in bpy.data.materials if m not in materials_before]
    meshes = [o for o in made if o.type == 'MESH' and len(o.data.polygons) > 0]
    if error or not meshes:
        for obj in made:
            mesh = obj.data
            bpy.data.objects.remove(obj)
            if mesh is not None and mesh.users == 0:
                bpy.data.meshes.remove(mesh)
        for material in new_materials:
            if material.users == 0:
                bpy.data.materials.remove(material)
        raise MeshFileError(f"{path.name}: {error or 'no faces could be read from it'}")
    writer.adopt(made)
    for obj in made:
        for collection in list(obj.users_collection):
            collection.objects.unlink(obj)
        target.objects.link(obj)
    return made


def import_dataset(context, directory: str, collection_name: str = "") -> tuple:
    """Import every mesh below `directory`; returns (root collection, objects, skipped messages).

    Unreadable files are skipped and named; if none can be read, nothing is left behind.
    """
    files = scan_dataset(directory)
    root_dir = Path(directory).expanduser().resolve()
    skipped: list[str] = []
    imported = []
    with SceneWriter() as writer:
        root = writer.collection(collection_name or root_dir.name, reuse=False)
        made_for = {(): root}  # by folder path: Blender renames clashing collection names (train.001, …)
        for dataset_file in files:
            for depth in range(1, len(dataset_file.folders) + 1):
                key = dataset_file.folders[:depth]
                if key not in made_for:
                    made_for[key] = writer.collection(key[-1], made_for[key[:-1]], reuse=False)
            target = made_for[dataset_file.folders]
            try:
                if dataset_file.format == "off":
                    made = [writer.mesh_object(read_off(dataset_file.path), target)]
                else:
                    made = _import_with_blender(context, dataset_file, target, writer)
            except MeshFileError as error:
                skipped.append(str(error))
                continue
            for obj in made:
                set_custom_properties(obj, {"category": dataset_file.category,
                                            "source_file": str(dataset_file.path.relative_to(root_dir))})
            imported.extend(made)
        if not imported:
            raise MeshFileError(f"None of the {len(files)} mesh files in '{root_dir}' could be read: "
                                + "; ".join(skipped[:5]))
        _drop_empty_collections(root, writer)
    return root, imported, skipped


def _drop_empty_collections(root, writer: SceneWriter) -> None:
    """Remove subfolder collections whose every file failed, so no empty shells stay behind."""
    for child in list(root.children):
        _drop_empty_collections(child, writer)
        if child in writer.collections and not child.all_objects:
            writer.collections.remove(child)
            bpy.data.collections.remove(child)


class DESIGN_SPACE_OT_import_dataset(bpy.types.Operator):
    """Import a folder of OBJ, PLY, STL and OFF meshes into a collection, one child collection per subfolder; each object's 'category' is its folder's name"""

    bl_idname = "design_space.import_dataset"
    bl_label = "Import Dataset Folder"
    bl_options = {'REGISTER', 'UNDO'}

    directory: StringProperty(
        name="Folder",
        description="Folder of meshes; each subfolder becomes a child collection and a category",
        subtype='DIR_PATH',
    )
    collection: StringProperty(
        name="Collection",
        description="Name of the new collection (empty: the folder's name)",
    )
    filter_folder: BoolProperty(default=True, options={'HIDDEN'})

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {'RUNNING_MODAL'}

    @reports_errors
    def execute(self, context):
        root, objects, skipped = import_dataset(context, self.directory, self.collection)
        for message in skipped:
            self.report({'WARNING'}, f"Skipped {message}")
        context.scene.design_space.training_collection = root
        self.report({'INFO'}, f"Imported {len(objects)} objects into '{root.name}'"
                              + (f", skipped {len(skipped)} unreadable files" if skipped else ""))
        return {'FINISHED'}
