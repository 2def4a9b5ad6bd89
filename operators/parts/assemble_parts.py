"""Assemble new shapes from the parts of the active part model's collection, most plausible first.

The training shapes are read on the main thread; splitting their parts, measuring how they meet and
the search itself run as a background job (progress, Esc or Cancel); the assemblies are written only
when it has finished, in one undo step."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from ..background_jobs import Job, JobOperator, StepReporter
from ..mesh_bridge import SceneWriter, set_custom_properties
from ..model_store import stored_path
from .part_models import SOURCES, active_part_model_path, part_model_inputs

NOTHING_PASSED = ("No assembly passed the checks (slots meet, nothing floats or cuts in); try another seed, or add "
                  "shapes to the training collection")


def assembly_properties(assembly, model_path, seed) -> dict:
    return {SOURCES: [f"{label}:{name}" for label, name in assembly.sources.items()],
            "design_space_score": assembly.score, "design_space_seed": seed,
            "design_space_model": stored_path(model_path), "design_space_kind": "assembly"}


def select_only(context, obj) -> None:
    """Make `obj` the only selected object and the active one (also from a timer, where the context
    has no window)."""
    view_layer = getattr(context, "view_layer", None) or context.scene.view_layers[0]
    for other in view_layer.objects:
        if other.select_get(view_layer=view_layer):
            other.select_set(False, view_layer=view_layer)
    obj.select_set(True, view_layer=view_layer)
    view_layer.objects.active = obj


class AssemblePartsJob(Job):
    """Builds the part synthesizer if this session has not yet, draws and places assemblies (pure
    numpy, off the main thread), then writes them as objects in `apply`."""

    def __init__(self, inputs, path, count: int, seed: int, variety: bool, collection: str):
        self.inputs, self.path, self.count, self.seed, self.variety = inputs, path, count, seed, variety
        self.collection = collection
        self.label = f"Assemble {count} shape{'s' * (count != 1)}"
        self.applied = False

    def work(self, report, should_stop):
        steps = StepReporter(report)
        search_start = 0.0 if self.inputs.cached is not None else 0.4
        synthesizer = self.inputs.synthesizer(steps.phase(0.0, search_start), should_stop)
        if synthesizer is None:
            return None
        assemblies = synthesizer.assemble(self.count, seed=self.seed, variety=self.variety,
                                          progress=steps.phase(search_start, 1.0), should_stop=should_stop)
        if should_stop():
            return None
        if not assemblies:
            raise ValueError(NOTHING_PASSED)
        return assemblies

    def apply(self, context, assemblies):
        made = []
        with SceneWriter() as writer:
            target = writer.collection(self.collection, reuse=False)
            x = 0.0
            for i, assembly in enumerate(assemblies):
                mesh = assembly.placement.mesh
                mesh.name = f"{target.name} {i:03d}"
                obj = writer.mesh_object(mesh, target, location=(x, 0.0, 0.0), color_parts=True)
                set_custom_properties(obj, assembly_properties(assembly, self.path, self.seed))
                x += float(mesh.vertices[:, 0].max() - mesh.vertices[:, 0].min()) * 1.3 + 0.1
                made.append(obj)
        select_only(context, made[0])
        self.applied = True
        short = f" (fewer passed the checks than the {self.count} asked for)" if len(made) < self.count else ""
        return 'INFO', (f"Assembled {len(made)} shape{'s' * (len(made) != 1)} into '{target.name}'{short}; best "
                        f"score {assemblies[0].score:.1f}")


class DESIGN_SPACE_OT_assemble_parts(JobOperator, bpy.types.Operator):
    """Make new shapes from parts of the training shapes, as the active part model suggests: ranked by plausibility, parts placed so they meet, copies of training shapes left out (runs in the background; Esc cancels)"""

    bl_idname = "design_space.assemble_parts"
    bl_label = "Assemble Parts"
    bl_options = {'REGISTER', 'UNDO'}

    count: IntProperty(name="Count", description="How many assemblies to make", default=6, min=1, max=200)
    seed: IntProperty(name="Seed", description="The same seed makes the same assemblies", default=0, min=0)
    collection: StringProperty(name="Collection", description="Output collection (empty: named after the model)")
    order: EnumProperty(name="Order", description="How the suggestions are ordered",
                        items=[('PLAUSIBILITY', "Most Plausible", "Strictly by the model's likelihood"),
                               ('VARIETY', "Variety", "The best of each structure (which parts, how many pieces) "
                                                      "first, then the second best of each, …")],
                        default='VARIETY')

    def job(self, context) -> AssemblePartsJob:
        path = active_part_model_path(context)
        return AssemblePartsJob(part_model_inputs(path), path, self.count, self.seed, self.order == 'VARIETY',
                                self.collection.strip() or f"Assemblies ({path.stem})")
