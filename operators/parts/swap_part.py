"""Swap one part of an assembly for the next compatible part (the others stay).

Trying the training shapes' parts in place runs as a background job (progress, Esc or Cancel); the
assembly changes only when it has finished, in one undo step."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from .assemble_parts import assembly_properties
from ..background_jobs import Job, JobOperator, StepReporter
from ..mesh_bridge import build_mesh, set_custom_properties, write_face_colors
from .part_models import assembly_source, part_model_inputs, sources_of


def replace_assembly(obj, choice, model_path) -> None:
    """Give the assembly object the geometry and provenance of another assembly (one undo step)."""
    from ...shapespace.part_colors import part_face_colors

    old = obj.data
    mesh = build_mesh(choice.placement.mesh, old.name)
    write_face_colors(mesh, part_face_colors(choice.placement.mesh.face_parts))
    obj.data = mesh
    if old.users == 0:
        bpy.data.meshes.remove(old)
    set_custom_properties(obj, assembly_properties(choice, model_path, obj.get("design_space_seed", 0)))


class SwapPartJob(Job):
    """Finds the valid assemblies with another part of `label` (off the main thread), then gives the
    assembly the best one it has not had yet, in `apply`."""

    def __init__(self, obj, sources: dict, label: str, inputs, path):
        self.name, self.sources, self.part, self.inputs, self.path = obj.name, sources, label, inputs, path
        self.tried = list(obj.get("design_space_swapped", []))
        self.label = f"Swap the {label} of '{obj.name}'"
        self.applied = False

    def work(self, report, should_stop):
        steps = StepReporter(report)
        search_start = 0.0 if self.inputs.cached is not None else 0.6
        synthesizer = self.inputs.synthesizer(steps.phase(0.0, search_start), should_stop)
        if synthesizer is None:
            return None
        alternatives = synthesizer.alternatives(self.sources, self.part, progress=steps.phase(search_start, 1.0),
                                                should_stop=should_stop)
        if should_stop():
            return None
        if not alternatives:
            raise ValueError(f"No other '{self.part}' fits '{self.name}'")
        return alternatives

    def apply(self, context, alternatives):
        obj = bpy.data.objects.get(self.name)
        if obj is None or obj.get("design_space_sources") is None or sources_of(obj) != self.sources:
            return 'WARNING', f"'{self.name}' was deleted or changed meanwhile; nothing was swapped"
        fresh = [a for a in alternatives if f"{self.part}:{a.sources[self.part]}" not in self.tried]
        choice = (fresh or alternatives)[0]
        replace_assembly(obj, choice, self.path)
        obj["design_space_swapped"] = (self.tried + [f"{self.part}:{self.sources[self.part]}"])[-50:]
        self.applied = True
        return 'INFO', (f"'{obj.name}': {self.part} from '{choice.sources[self.part]}' (was "
                        f"'{self.sources[self.part]}'), score {choice.score:.1f}")


class DESIGN_SPACE_OT_swap_part(JobOperator, bpy.types.Operator):
    """Replace one part of the active assembly with the next part of the same label that fits, in order of plausibility (runs in the background; Esc cancels)"""

    bl_idname = "design_space.swap_part"
    bl_label = "Swap Part"
    bl_options = {'REGISTER', 'UNDO'}

    label: StringProperty(name="Part", description="The part label to swap (seat, leg, …)")

    def job(self, context) -> SwapPartJob:
        obj, sources, path = assembly_source(context, self.label)
        return SwapPartJob(obj, sources, self.label, part_model_inputs(path), path)
