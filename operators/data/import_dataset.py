"""Import a folder of meshes into a collection, one child collection per subfolder.

Files are read by Design Space's own readers (shapespace/mesh_readers.py), never by Blender's C
importers: those abort the whole process on some hostile headers, losing unsaved work, and turn
NaN/inf into 0. Objects are built in bulk by the mesh bridge and linked without a view-layer
update per file, so the cost of a file does not grow with the number of objects already in the
scene. In a window the import runs in batches on a timer, with progress and Esc to cancel
(already imported files stay, and the report says how many); in background mode it runs
synchronously and prints progress lines.
"""

from __future__ import annotations

import time
from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from ...shapespace.dataset_files import scan_dataset
from ...shapespace.mesh_readers import apply_axes, format_axes, read_mesh
from ...shapespace.off_format import MeshFileError
from ..mesh_bridge import SceneWriter
from ..operator_support import reports_errors

_AXIS_ITEMS = [('AUTO', "Per Format", "As Blender's own importer for the format: OBJ -Z forward and Y up, "
                                      "PLY, STL and OFF Y forward and Z up")] + [
    (axis.replace("-", "NEGATIVE_"), axis, f"The file's {axis} axis") for axis in ("X", "Y", "Z", "-X", "-Y", "-Z")]
PROGRESS_EVERY_SECONDS = 2.0  # background mode: a progress line at most this often
BATCH_SECONDS = 0.25  # interactive: work per timer tick; the window redraws (and Esc is read) between


def _axis_name(item: str) -> str:
    return item.replace("NEGATIVE_", "-")


def skipped_summary(skipped: list[str], limit: int = 5) -> str:
    """"skipped 3 files: 'a.ply' (declares …), …" from 'name: problem' messages."""
    parts = []
    for message in skipped[:limit]:
        name, _, problem = message.partition(": ")
        parts.append(f"'{name}' ({problem})" if problem else message)
    more = f", and {len(skipped) - limit} more" if len(skipped) > limit else ""
    word = "file" if len(skipped) == 1 else "files"
    return f"skipped {len(skipped)} {word}: " + ", ".join(parts) + more


class DatasetImport:
    """One import in steps: scan the folder, then `step()` reads and builds files until a time
    budget is used, `finish()` tidies up and returns what was made. `rollback()` removes it all."""

    def __init__(self, directory: str, collection_name: str = "", axis_forward: str = "AUTO",
                 axis_up: str = "AUTO"):
        self.files = scan_dataset(directory)
        self.root_dir = Path(directory).expanduser().resolve()
        self.axes = {suffix: format_axes(suffix, axis_forward, axis_up) for suffix in ("obj", "ply", "stl", "off")}
        self.skipped: list[str] = []
        self.imported: list = []
        self.next_index = 0
        self.writer = SceneWriter()
        self.root = self.writer.collection(collection_name or self.root_dir.name, reuse=False)
        self._made_for = {(): self.root}  # by folder path: Blender renames clashing names (train.001, …)

    @property
    def done(self) -> bool:
        return self.next_index >= len(self.files)

    def _target(self, folders: tuple):
        for depth in range(1, len(folders) + 1):
            key = folders[:depth]
            if key not in self._made_for:
                self._made_for[key] = self.writer.collection(key[-1], self._made_for[key[:-1]], reuse=False)
        return self._made_for[folders]

    def step(self, seconds: float = float("inf")) -> int:
        """Import files until `seconds` have passed (at least one file); returns how many were handled."""
        start, handled = time.perf_counter(), 0
        while not self.done and (handled == 0 or time.perf_counter() - start < seconds):
            dataset_file = self.files[self.next_index]
            self.next_index += 1
            handled += 1
            try:
                mesh = read_mesh(dataset_file.path)
            except MeshFileError as error:
                self.skipped.append(str(error))
                continue
            except MemoryError:
                self.skipped.append(f"{dataset_file.path.name}: too large to read in the memory left; "
                                    "decimate it or close other programs")
                continue
            except Exception as error:  # a reader bug must cost one file, not the import
                self.skipped.append(f"{dataset_file.path.name}: could not be read ({type(error).__name__}: "
                                    f"{error}); please report this file to Design Space")
                continue
            apply_axes(mesh, *self.axes[dataset_file.format])
            properties = {"category": dataset_file.category,
                          "source_file": str(Path(*dataset_file.folders, dataset_file.path.name))}
            self.imported.append(self.writer.mesh_object(mesh, self._target(dataset_file.folders),
                                                         properties=properties))
        return handled

    def finish(self) -> tuple:
        """(root collection, objects, skipped messages); raises if nothing could be read (and rolls back)."""
        if not self.imported:
            self.rollback()
            raise MeshFileError(f"None of the {len(self.files)} mesh files in '{self.root_dir}' could be read; "
                                + skipped_summary(self.skipped))
        _drop_empty_collections(self.root, self.writer)
        return self.root, self.imported, self.skipped

    def rollback(self) -> None:
        self.writer.rollback()


def import_dataset(context, directory: str, collection_name: str = "", axis_forward: str = "AUTO",
                   axis_up: str = "AUTO", progress=None) -> tuple:
    """Import every mesh below `directory`; returns (root collection, objects, skipped messages).

    Unreadable files are skipped and named; if none can be read, nothing is left behind.
    `progress(done, total)` is called now and then (background mode prints with it).
    """
    job = DatasetImport(directory, collection_name, axis_forward, axis_up)
    try:
        while not job.done:
            job.step(PROGRESS_EVERY_SECONDS)
            if progress is not None:
                progress(job.next_index, len(job.files))
        return job.finish()
    except BaseException:
        job.rollback()
        raise


def _drop_empty_collections(root, writer: SceneWriter) -> None:
    """Remove subfolder collections whose every file failed, so no empty shells stay behind."""
    for child in list(root.children):
        _drop_empty_collections(child, writer)
        if child in writer.collections and not child.all_objects:
            writer.collections.remove(child)
            bpy.data.collections.remove(child)


def _print_progress(done: int, total: int) -> None:
    print(f"Design Space: import dataset: {done} of {total} files read", flush=True)


class DESIGN_SPACE_OT_import_dataset(bpy.types.Operator):
    """Import a folder of OBJ, PLY, STL and OFF meshes into a collection, one child collection per subfolder; each object's 'category' is its folder's name (Esc cancels; imported files stay)"""

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
    axis_forward: EnumProperty(name="Forward", items=_AXIS_ITEMS, default='AUTO',
                               description="The files' forward axis (Per Format: as Blender's own importers)")
    axis_up: EnumProperty(name="Up", items=_AXIS_ITEMS, default='AUTO',
                          description="The files' up axis; choose Y for Y-up scans in PLY, STL or OFF files "
                                      "(Per Format: OBJ Y, others Z, as Blender's own importers)")
    run_in_batches: BoolProperty(
        name="Run in Batches", default=False, options={'HIDDEN', 'SKIP_SAVE'},
        description="Import a batch of files per timer tick with progress and Esc to cancel (needs a window; "
                    "set by the file browser)")
    filter_folder: BoolProperty(default=True, options={'HIDDEN'})

    def _report_result(self, context, root, objects, skipped, cancelled_at: int | None = None):
        if skipped:
            self.report({'WARNING'}, skipped_summary(skipped, limit=20))
            for message in skipped:
                self.report({'WARNING'}, f"Skipped {message}")
        context.scene.design_space.training_collection = root
        text = f"Imported {len(objects)} objects into '{root.name}'"
        if skipped:
            text += f", {skipped_summary(skipped, limit=3)}"
        if cancelled_at is not None:
            text = (f"Cancelled after {cancelled_at} of {self._job_total} files; the {len(objects)} objects "
                    f"imported so far stay in '{root.name}'")
            self.report({'WARNING'}, text)
        else:
            self.report({'INFO'}, text)

    @reports_errors
    def execute(self, context):
        axes = _axis_name(self.axis_forward), _axis_name(self.axis_up)
        if self.run_in_batches and not bpy.app.background and context.window is not None:
            return self._start_modal(context, DatasetImport(self.directory, self.collection, *axes))
        progress = _print_progress if bpy.app.background else None
        root, objects, skipped = import_dataset(context, self.directory, self.collection, *axes, progress=progress)
        self._report_result(context, root, objects, skipped)
        return {'FINISHED'}

    def invoke(self, context, event):
        self.run_in_batches = True  # the browser's confirm calls execute(), which then runs on a timer
        context.window_manager.fileselect_add(self)
        return {'RUNNING_MODAL'}

    # --- in a window: batches on a timer, progress, Esc cancels -------------------------------

    def _start_modal(self, context, job: DatasetImport):
        self._job = job
        self._job_total = len(job.files)
        # Hidden while it fills: otherwise every tick's redraw draws (and the depsgraph evaluates) all
        # objects imported so far, and the ticks get slower as the import goes (measured in real Blender)
        job.root.hide_viewport = True
        window_manager = context.window_manager
        window_manager.progress_begin(0, max(self._job_total, 1))
        self._timer = window_manager.event_timer_add(0.01, window=context.window)
        window_manager.modal_handler_add(self)
        self._status(context)
        return {'RUNNING_MODAL'}

    def _status(self, context):
        if context.workspace is not None:
            context.workspace.status_text_set(f"Importing {self._job.next_index} of {self._job_total} mesh files "
                                              "(Esc cancels; imported files stay)")

    def _stop(self, context):
        if getattr(self, "_stopped", False):
            return
        self._stopped = True
        try:
            self._job.root.hide_viewport = False
        except ReferenceError:  # rolled back: the collection is gone
            pass
        window_manager = context.window_manager
        window_manager.event_timer_remove(self._timer)
        window_manager.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)

    def modal(self, context, event):
        job = self._job
        if event.type == 'ESC' and event.value == 'PRESS':
            self._stop(context)
            if not job.imported:
                job.rollback()
                self.report({'WARNING'}, f"Cancelled before any of the {self._job_total} files was imported; "
                                         "nothing was added")
                return {'CANCELLED'}
            root, objects, skipped = job.finish()
            self._report_result(context, root, objects, skipped, cancelled_at=job.next_index)
            return {'FINISHED'}  # an undo step, so Ctrl+Z takes the partial import back
        if event.type != 'TIMER':  # (any window timer: events do not say whose it is)
            return {'RUNNING_MODAL'}  # the scene is not edited under a running import
        try:
            job.step(BATCH_SECONDS)
            context.window_manager.progress_update(job.next_index)
            self._status(context)
            if not job.done:
                return {'RUNNING_MODAL'}
            self._stop(context)
            root, objects, skipped = job.finish()
        except Exception as error:  # a failure mid-import: take everything back and say why
            job.rollback()
            self._stop(context)
            self.report({'ERROR'}, str(error))
            return {'CANCELLED'}
        self._report_result(context, root, objects, skipped)
        return {'FINISHED'}
