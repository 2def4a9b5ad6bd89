"""State of Design Space (the panels only draw it): scene settings, the scene's model list, and the
running job's progress (on the window manager, so it is never saved into a .blend)."""

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty,
                       PointerProperty, StringProperty)


def _attribute_names(context, edit_text):
    from .operators.prediction.train_attribute_predictor import attribute_search

    return attribute_search(context, edit_text)


def _select_by_strength(settings, context):
    from .operators.comparisons.rank_by_attribute import select_by_strength

    select_by_strength(context, settings.comparison_attribute.strip(), settings.ranking_position)


def _on_slider_change(self, context):
    from .operators.shape_space.shape_editing import on_slider_change

    on_slider_change(self, context)


_class_items: list = []  # Blender needs the enum items kept alive while it shows them


def _volume_classes(context):
    """The active volumetric model's classes (from the model list: no file is read while drawing)."""
    from .operators.model_store import active_volumetric_entry

    entry = active_volumetric_entry(context.scene) if context and context.scene else None
    names = [c for c in entry.target.split(", ") if c] if entry is not None else []
    _class_items[:] = [(n, n, f"Generate {n} shapes") for n in names] or [("NONE", "(none)", "No volumetric model")]
    return _class_items


class DesignSpaceAttributeSlider(bpy.types.PropertyGroup):
    """One learned attribute of a shape in a shape space; moving it edits the mesh."""

    value: FloatProperty(name="Value", description="The attribute's value; moving it changes the shape while the "
                         "other attributes stay where they are", update=_on_slider_change, precision=3, step=1)
    applied: FloatProperty(name="Applied", description="The value the mesh shows now (set by Design Space)",
                           options={'HIDDEN'})


class DesignSpaceShapeEdit(bpy.types.PropertyGroup):
    """Attribute sliders of an object that lives in a learned shape space."""

    attribute_model: StringProperty(name="Attribute Model", description="The learned attributes the sliders use")
    sliders: CollectionProperty(type=DesignSpaceAttributeSlider, name="Attributes",
                                description="One slider per learned attribute")
    message: StringProperty(name="Message", description="Why the last slider move could not be applied")
    notice: StringProperty(name="Notice", description="Why the last slider move stopped short (a value outside "
                           "the training shapes' range is clamped)")


class DesignSpaceComparison(bpy.types.PropertyGroup):
    """One answer to "which shape is more <attribute>?", kept in the .blend."""

    shape_a: StringProperty(name="Shape A", description="The first shape (object name)")
    shape_b: StringProperty(name="Shape B", description="The second shape (object name)")
    attribute: StringProperty(name="Attribute", description="The attribute asked about (sturdy, comfortable, …)")
    answer: EnumProperty(name="Answer", description="Which shape is more so",
                         items=[('A', "A More", "Shape A is more so"), ('B', "B More", "Shape B is more so"),
                                ('SAME', "About the Same", "Neither is clearly more so")])


class DesignSpaceMatch(bpy.types.PropertyGroup):
    """A shape found by Find Similar (name is the shape's object name)."""

    score: FloatProperty(name="Similarity", description="1 for the same shape, ½ at the library's median distance, "
                         "towards 0 for shapes far apart")


class DesignSpaceVolumeAttribute(bpy.types.PropertyGroup):
    """An attribute a volumetric model was conditioned on (name is the attribute); Generate Volumes asks for
    `value` where `use` is on, and the class's typical value elsewhere."""

    use: BoolProperty(name="Use", description="Ask for this value (off: the class's typical value)", default=False)
    classes: StringProperty(name="Classes", description="The classes whose shapes have this attribute",
                            options={'HIDDEN'})
    value: FloatProperty(name="Value", description="The value to ask for, in the attribute's own units (metres "
                         "for sizes); values outside what the class showed in training are clamped", precision=3,
                         step=1)


class DesignSpaceModel(bpy.types.PropertyGroup):
    """A trained model listed in the scene; its weights live in a model file beside the .blend."""

    kind: StringProperty(name="Kind", description="What the model is (for example mlp_regressor, ridge)")
    # A plain string: "//" paths relative to the .blend (FILE_PATH warns about them in Blender 5).
    filepath: StringProperty(name="File", description="The model file (relative to the .blend once saved)")
    collection: StringProperty(name="Trained On", description="The collection the model was trained on")
    target: StringProperty(name="Predicts", description="The attribute the model predicts")
    part: StringProperty(name="Part", description="The part label a model of part attributes is about")
    metrics: StringProperty(name="Metrics", description="Validation figures from training")


class DesignSpaceSceneProperties(bpy.types.PropertyGroup):
    training_collection: PointerProperty(
        name="Training Collection",
        description="Collection of shapes that Design Space learns from",
        type=bpy.types.Collection,
    )
    demo_shapes_per_family: IntProperty(
        name="Shapes per Family",
        description="How many procedural shapes to make for each family",
        default=12, min=1, max=500,
    )
    demo_body_count: IntProperty(
        name="MakeHuman Bodies",
        description="How many MakeHuman bodies to make (0 for none; needs the MakeHuman data in preferences)",
        default=8, min=0, max=500,
    )
    demo_seed: IntProperty(
        name="Seed",
        description="Random seed: the same seed makes the same shapes",
        default=0, min=0,
    )
    predictor_target: StringProperty(
        name="Attribute",
        description="The numeric custom property (height, seat_height, …) that Train Attribute Predictor learns",
        search=lambda self, context, edit_text: _attribute_names(context, edit_text),
    )
    shape_template: PointerProperty(
        name="Template",
        description="Mesh fitted to every shape when the shapes do not share one topology (empty: the first shape)",
        type=bpy.types.Object, poll=lambda self, obj: obj.type == 'MESH',
    )
    shape_attributes: StringProperty(
        name="Attributes",
        description="Custom properties to learn as sliders, separated by commas (height_m, weight_kg, …); "
                    "numbers, booleans and text (one slider per text value)",
    )
    assembly_count: IntProperty(name="Count", description="How many assemblies Assemble Parts makes", default=6,
                                min=1, max=200)
    assembly_seed: IntProperty(name="Seed", description="The same seed makes the same assemblies", default=0, min=0)
    comparisons: CollectionProperty(type=DesignSpaceComparison, name="Comparisons",
                                    description="Answers to \"which shape is more …?\", kept in the .blend")
    comparison_attribute: StringProperty(name="Attribute", description="The attribute to ask about (a word such "
                                         "as sturdy or comfortable)", default="sturdy")
    ranking_position: FloatProperty(name="Strength", description="Select the shape at this point of the order "
                                    "(0: least, 1: most) in the newest Ordered by … collection",
                                    default=0.5, min=0.0, max=1.0, subtype='FACTOR',
                                    update=lambda self, context: _select_by_strength(self, context))
    comparison_part: StringProperty(name="Part", description="Compare parts of this label (leg, back, …) "
                                     "instead of whole shapes (empty: whole shapes)")
    comparison_a: StringProperty(name="Shape A", description="The shape shown on the left")
    comparison_b: StringProperty(name="Shape B", description="The shape shown on the right")
    score_collection: PointerProperty(name="Score In", description="The collection Score Shapes writes learned "
                                      "attribute strengths to (empty: the training collection)",
                                      type=bpy.types.Collection)
    edit_phrase: StringProperty(name="Describe Edit", description="How the active shape should change, in words: "
                                "'a bit taller', 'much less wide and slightly sturdier', '10 cm taller', 'more like "
                                "a lounge chair'")
    library_collection: PointerProperty(
        name="Search In",
        description="The collection Find Similar searches (empty: the training collection); it needs no training",
        type=bpy.types.Collection,
    )
    sketch_image: StringProperty(
        name="Sketch Image",
        description="An image of a sketch to search by (empty: the annotation strokes drawn in the viewport)",
        subtype='FILE_PATH',
    )
    collection_aligned: BoolProperty(
        name="Already Aligned",
        description="The shapes are already upright and facing one way (as the built-in families are): keep their "
                    "orientation instead of turning each into its canonical pose",
        default=False,
    )
    matches: CollectionProperty(type=DesignSpaceMatch, name="Matches",
                                description="The shapes Find Similar found, most similar first")
    volume_attributes: CollectionProperty(type=DesignSpaceVolumeAttribute, name="Volume Attributes",
                                          description="Attribute values Generate Volumes asks for")
    volume_category: EnumProperty(name="Class", description="The class Generate Volumes makes",
                                  items=lambda self, context: _volume_classes(context))
    volume_count: IntProperty(name="Count", description="How many shapes Generate Volumes makes", default=4, min=1,
                              max=100)
    volume_seed: IntProperty(name="Seed", description="The same seed makes the same shapes", default=0, min=0)
    volume_variety: FloatProperty(name="Variety", description="How far generated shapes stray from the class's "
                                  "typical shape (1: as far as the training shapes do; lower keeps them "
                                  "cleaner)", default=0.6, min=0.0, max=3.0, subtype='FACTOR')
    seeds_from_preferences: BoolProperty(name="Seeds Set", description="The scene's seeds were set from the "
                                         "preferences' default seed", default=False, options={'HIDDEN'})
    models: CollectionProperty(type=DesignSpaceModel, name="Models",
                               description="Models trained in this scene; their files lie beside the .blend")
    active_model_index: IntProperty(name="Active Model", description="The model that Predict and Generate use",
                                    default=0, min=0)


class DesignSpaceJobState(bpy.types.PropertyGroup):
    """Progress of the running job, shown in the panel and the status bar."""

    running: BoolProperty(name="Running", description="A Design Space job is running", default=False)
    label: StringProperty(name="Job", description="What is running")
    progress: FloatProperty(name="Progress", description="How far the job is", subtype='PERCENTAGE', min=0.0,
                            max=100.0, precision=0)
    message: StringProperty(name="Status", description="Epoch, losses and time left")
    last_result: StringProperty(name="Last Result", description="How the last job ended")


classes = (DesignSpaceAttributeSlider, DesignSpaceShapeEdit, DesignSpaceComparison, DesignSpaceMatch,
           DesignSpaceVolumeAttribute, DesignSpaceModel, DesignSpaceSceneProperties, DesignSpaceJobState)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.design_space = PointerProperty(type=DesignSpaceSceneProperties)
    bpy.types.WindowManager.design_space_job = PointerProperty(type=DesignSpaceJobState)
    bpy.types.Object.design_space_edit = PointerProperty(type=DesignSpaceShapeEdit)


def unregister():
    del bpy.types.Object.design_space_edit
    del bpy.types.WindowManager.design_space_job
    del bpy.types.Scene.design_space
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
