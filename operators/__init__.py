"""Operators: read the scene, call the pure core, write results through the mesh bridge."""

import bpy

from . import background_jobs, image_bridge
from .shape_space import shape_editing
from .cancel_job import DESIGN_SPACE_OT_cancel_job
from .install_torch import DESIGN_SPACE_OT_install_torch, add_packages_to_path
from .load_model import DESIGN_SPACE_OT_load_model
from .worker_jobs import show_curves
from .comparisons.answer_comparison import DESIGN_SPACE_OT_answer_comparison
from .comparisons.edit_by_phrase import DESIGN_SPACE_OT_edit_by_phrase
from .comparisons.export_comparisons import DESIGN_SPACE_OT_export_comparisons
from .comparisons.import_comparisons import DESIGN_SPACE_OT_import_comparisons
from .comparisons.learn_comparisons import DESIGN_SPACE_OT_learn_comparisons
from .comparisons.next_comparison import DESIGN_SPACE_OT_next_comparison
from .comparisons.rank_by_attribute import DESIGN_SPACE_OT_rank_by_attribute
from .comparisons.score_attribute import DESIGN_SPACE_OT_score_attribute
from .data.create_demo_collections import DESIGN_SPACE_OT_create_demo_collections
from .data.export_training_dataset import DESIGN_SPACE_OT_export_training_dataset
from .data.import_dataset import DESIGN_SPACE_OT_import_dataset
from .parts.adjust_part import DESIGN_SPACE_OT_adjust_part
from .parts.assemble_parts import DESIGN_SPACE_OT_assemble_parts
from .parts.keep_assembly import DESIGN_SPACE_OT_keep_assembly
from .parts.learn_part_model import DESIGN_SPACE_OT_learn_part_model
from .parts.swap_part import DESIGN_SPACE_OT_swap_part
from .prediction.predict_attribute import DESIGN_SPACE_OT_predict_attribute
from .prediction.train_attribute_predictor import DESIGN_SPACE_OT_train_attribute_predictor
from .recognition.classify import DESIGN_SPACE_OT_classify
from .recognition.find_similar import DESIGN_SPACE_OT_find_similar
from .recognition.sketch_search import DESIGN_SPACE_OT_sketch_search
from .recognition.train_classifier import DESIGN_SPACE_OT_train_classifier
from .recognition.train_sketch_search import DESIGN_SPACE_OT_train_sketch_search
from .shape_space.edit_attributes import DESIGN_SPACE_OT_edit_attributes
from .shape_space.generate_shapes import DESIGN_SPACE_OT_generate_shapes
from .shape_space.learn_attributes import DESIGN_SPACE_OT_learn_attributes
from .shape_space.learn_shape_space import DESIGN_SPACE_OT_learn_shape_space
from .shape_space.project_shape import DESIGN_SPACE_OT_project_shape
from .volumes.complete_volumetric import DESIGN_SPACE_OT_complete_volumetric
from .volumes.generate_volumetric import DESIGN_SPACE_OT_generate_volumetric
from .volumes.interpolate_volumetric import DESIGN_SPACE_OT_interpolate_volumetric
from .volumes.learn_volumetric import DESIGN_SPACE_OT_learn_volumetric

classes = (
    DESIGN_SPACE_OT_import_dataset,
    DESIGN_SPACE_OT_create_demo_collections,
    DESIGN_SPACE_OT_train_attribute_predictor,
    DESIGN_SPACE_OT_cancel_job,
    DESIGN_SPACE_OT_predict_attribute,
    DESIGN_SPACE_OT_load_model,
    DESIGN_SPACE_OT_export_training_dataset,
    DESIGN_SPACE_OT_learn_shape_space,
    DESIGN_SPACE_OT_generate_shapes,
    DESIGN_SPACE_OT_learn_attributes,
    DESIGN_SPACE_OT_project_shape,
    DESIGN_SPACE_OT_edit_attributes,
    DESIGN_SPACE_OT_learn_part_model,
    DESIGN_SPACE_OT_assemble_parts,
    DESIGN_SPACE_OT_swap_part,
    DESIGN_SPACE_OT_keep_assembly,
    DESIGN_SPACE_OT_next_comparison,
    DESIGN_SPACE_OT_answer_comparison,
    DESIGN_SPACE_OT_import_comparisons,
    DESIGN_SPACE_OT_export_comparisons,
    DESIGN_SPACE_OT_learn_comparisons,
    DESIGN_SPACE_OT_rank_by_attribute,
    DESIGN_SPACE_OT_score_attribute,
    DESIGN_SPACE_OT_edit_by_phrase,
    DESIGN_SPACE_OT_adjust_part,
    DESIGN_SPACE_OT_train_classifier,
    DESIGN_SPACE_OT_classify,
    DESIGN_SPACE_OT_find_similar,
    DESIGN_SPACE_OT_train_sketch_search,
    DESIGN_SPACE_OT_sketch_search,
    DESIGN_SPACE_OT_learn_volumetric,
    DESIGN_SPACE_OT_generate_volumetric,
    DESIGN_SPACE_OT_interpolate_volumetric,
    DESIGN_SPACE_OT_complete_volumetric,
    DESIGN_SPACE_OT_install_torch,
)

# Registered in order, unregistered in reverse.
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


@bpy.app.handlers.persistent
def apply_default_seed(*_):
    """New scenes start with the preferences' default seed (scenes that had theirs keep them)."""
    from .data_sources import preferences

    prefs = preferences()
    for scene in bpy.data.scenes if prefs is not None and hasattr(bpy.data, "scenes") else ():
        settings = scene.design_space
        if not settings.seeds_from_preferences:
            settings.demo_seed = settings.assembly_seed = settings.volume_seed = prefs.default_seed
            settings.seeds_from_preferences = True


def register():
    add_packages_to_path()  # PyTorch installed on demand into the extension's user folder
    _register_classes()
    background_jobs.register()
    image_bridge.register()
    background_jobs.runner.listeners.append(show_curves)
    bpy.app.handlers.load_post.append(apply_default_seed)
    bpy.app.handlers.depsgraph_update_post.append(shape_editing.follow_shape_keys)


def unregister():
    if shape_editing.follow_shape_keys in bpy.app.handlers.depsgraph_update_post:
        bpy.app.handlers.depsgraph_update_post.remove(shape_editing.follow_shape_keys)
    if bpy.app.timers.is_registered(shape_editing.settle_rest_bones):
        bpy.app.timers.unregister(shape_editing.settle_rest_bones)
    if apply_default_seed in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(apply_default_seed)
    background_jobs.unregister()  # stops any running job and its timer first
    image_bridge.unregister()
    _unregister_classes()
