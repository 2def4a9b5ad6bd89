"""Train sketch search (Wang et al. 2015) on the training collection: normalised line drawings of every
shape from the views people draw from, a two-branch network whose sketch branch first learns human
strokes from the Quick, Draw! doodles (Quick, Draw! dataset, Google; CC BY 4.0) when they are found,
then learns the library from hand-drawn-looking copies of its views, drawn afresh every epoch."""

from __future__ import annotations

import bpy
from bpy.props import FloatProperty, IntProperty, StringProperty

from ..operator_support import reports_errors
from ..worker_jobs import LabelledJob, LabelledTraining


class SketchJob(LabelledJob):
    task = "sketch_retrieval"
    model_name, model_kind = "Sketch Search", "sketch_retrieval"

    def summary(self, metrics) -> str:
        doodles = f"; doodles {100 * metrics['doodle_top1']:.0f}%" if "doodle_top1" in metrics else ""
        if "top1" not in metrics:
            return "no held-out shapes" + doodles
        return f"held-out sketches: right class first {100 * metrics['top1']:.0f}%, mAP " \
               f"{metrics['sketch_map']:.2f}" + doodles


class DESIGN_SPACE_OT_train_sketch_search(LabelledTraining, bpy.types.Operator):
    """Learn to find the training collection's shapes from a sketch (line drawings of every shape, a two-branch network started from real doodles; runs in the background)"""

    bl_idname = "design_space.train_sketch_search"
    bl_label = "Train Sketch Search"
    bl_options = {'REGISTER', 'UNDO'}

    resolution: IntProperty(name="Resolution", description="Pixels per side of a normalised sketch", default=64,
                            min=64, max=128)
    pairs: IntProperty(name="Sketches", description="Hand-drawn-looking sketches drawn for training, a fresh "
                       "share every epoch, each paired with a view of a shape of its class", default=4000, min=100,
                       max=200000)
    epochs: IntProperty(name="Epochs", description="Passes, each over freshly drawn sketches", default=10, min=1,
                        max=1000)
    doodle_epochs: IntProperty(name="Doodle Epochs", description="Passes over the Quick, Draw! doodles that teach "
                               "the sketch branch human strokes first (0: skip)", default=10, min=0, max=200)
    doodle_folder: StringProperty(name="Doodles", description="Folder of the Quick, Draw! doodles (quickdraw-train/"
                                  "<class>.npy); empty: $DESIGN_SPACE_QUICKDRAW or shared/data/quickdraw beside "
                                  "the add-on", subtype='DIR_PATH')
    validation_fraction: FloatProperty(name="Held Out", description="Share of shapes kept out to measure the "
                                       "search with sketches of their outlines", default=0.2, min=0.0, max=0.8,
                                       subtype='FACTOR')

    @reports_errors
    def execute(self, context):
        from ...shapespace.quickdraw import find_quickdraw

        folder = self.doodle_folder.strip()
        if folder and find_quickdraw([bpy.path.abspath(folder)]) is None:
            raise ValueError(f"'{folder}' holds no Quick, Draw! doodles (quickdraw-train/<class>.npy); pick that "
                             "folder, or leave Doodles empty")
        doodles = find_quickdraw([bpy.path.abspath(folder)] if folder else [])
        self.start(context, SketchJob, pairs=self.pairs, doodle_epochs=self.doodle_epochs if doodles else 0,
                   quickdraw=str(doodles or ""))
        return {'FINISHED'}
