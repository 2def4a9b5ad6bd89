"""The Learning section: train a model on the training collection, watch it, use it."""

import bpy

from ..operators.image_bridge import picture_icon
from ..operators.worker_jobs import CURVE_IMAGE
from .sidebar import DesignSpaceSidebar


class DESIGN_SPACE_UL_models(bpy.types.UIList):
    """The scene's trained models."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        layout.label(text=item.name, icon='MODIFIER_DATA')


class DESIGN_SPACE_PT_learning(DesignSpaceSidebar, bpy.types.Panel):
    bl_label = "Learning"
    bl_idname = "DESIGN_SPACE_PT_learning"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.design_space
        job = context.window_manager.design_space_job

        if job.running:
            box = layout.box()
            box.label(text=job.label, icon='SORTTIME')
            box.progress(factor=job.progress / 100.0, text=job.message or "starting…")
            box.operator("design_space.cancel_job", icon='CANCEL')
        else:
            column = layout.column()
            column.enabled = settings.training_collection is not None
            column.prop(settings, "predictor_target", icon='PROPERTIES')
            props = column.operator("design_space.train_attribute_predictor", icon='PLAY')
            props.target = settings.predictor_target
            if settings.training_collection is None:
                layout.label(text="Pick a training collection under Data", icon='INFO')
            if job.last_result:
                layout.label(text=job.last_result, icon='CHECKMARK')

        curves = picture_icon(CURVE_IMAGE)
        if curves is not None:
            layout.template_icon(icon_value=curves, scale=11.0)

        layout.label(text="Models")
        layout.template_list("DESIGN_SPACE_UL_models", "", settings, "models", settings, "active_model_index", rows=3)
        if settings.models:
            entry = settings.models[min(settings.active_model_index, len(settings.models) - 1)]
            details = layout.column(align=True)
            what = {"part_model": "Parts", "shape_attributes": "Sliders", "shape_space": "Shape space of"}
            subject = entry.target or entry.collection
            details.label(text=f"{what.get(entry.kind, 'Predicts')} {subject} · {entry.kind}")
            for line in entry.metrics.split("; "):  # one line per figure, so none is cut off
                details.label(text=line)
        row = layout.row(align=True)
        row.operator("design_space.predict_attribute", icon='VIEWZOOM')
        row.operator("design_space.load_model", text="", icon='FILEBROWSER')
        row.operator("design_space.export_training_dataset", text="", icon='EXPORT')
