"""Assemble new shapes from the parts of the active part model's collection, most plausible first."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from .mesh_bridge import SceneWriter, set_custom_properties
from .model_store import stored_path
from .operator_support import reports_errors
from .part_models import SOURCES, active_part_model_path, synthesizer_for


def assembly_properties(assembly, model_path, seed) -> dict:
    return {SOURCES: [f"{label}:{name}" for label, name in assembly.sources.items()],
            "design_space_score": assembly.score, "design_space_seed": seed,
            "design_space_model": stored_path(model_path), "design_space_kind": "assembly"}


class DESIGN_SPACE_OT_assemble_parts(bpy.types.Operator):
    """Make new shapes from parts of the training shapes, as the active part model suggests: ranked by plausibility, parts placed so they meet, copies of training shapes left out"""

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

    @reports_errors
    def execute(self, context):
        path = active_part_model_path(context)
        synthesizer = synthesizer_for(path)
        assemblies = synthesizer.assemble(self.count, seed=self.seed, variety=self.order == 'VARIETY')
        if not assemblies:
            raise ValueError("No assembly passed the checks (slots meet, nothing floats or cuts in); try another "
                             "seed, or add shapes to the training collection")
        made = []
        with SceneWriter() as writer:
            target = writer.collection(self.collection.strip() or f"Assemblies ({path.stem})", reuse=False)
            x = 0.0
            for i, assembly in enumerate(assemblies):
                mesh = assembly.placement.mesh
                mesh.name = f"{target.name} {i:03d}"
                obj = writer.mesh_object(mesh, target, location=(x, 0.0, 0.0), color_parts=True)
                set_custom_properties(obj, assembly_properties(assembly, path, self.seed))
                x += float(mesh.vertices[:, 0].max() - mesh.vertices[:, 0].min()) * 1.3 + 0.1
                made.append(obj)
        for obj in context.selected_objects:
            obj.select_set(False)
        made[0].select_set(True)
        context.view_layer.objects.active = made[0]
        short = f" (fewer passed the checks than the {self.count} asked for)" if len(made) < self.count else ""
        self.report({'INFO'}, f"Assembled {len(made)} shapes into '{target.name}'{short}; best score "
                              f"{assemblies[0].score:.1f}")
        return {'FINISHED'}
