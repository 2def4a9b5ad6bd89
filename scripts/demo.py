"""The Design Space demo: build the demo collections, run every capability there is so far,
save demo.blend and renders of the results, and say what was done.

    .venv/bin/python scripts/demo.py --output demo_output      (or: make demo)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dev_blender  # noqa: E402

def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def render_collection(bpy, collection, path: Path, resolution=(1280, 480)) -> None:
    """A Workbench render framing every object of `collection`, parts coloured."""
    from mathutils import Vector

    scene = bpy.context.scene
    bpy.context.view_layer.update()  # world matrices of objects moved since the last evaluation
    objects = [o for o in collection.all_objects if o.type == 'MESH']
    corners = np.array([[o.matrix_world @ Vector(c) for c in o.bound_box] for o in objects]).reshape(-1, 3)
    low, high = corners.min(axis=0), corners.max(axis=0)
    center = (low + high) / 2
    direction = np.array([0.35, -1.0, 0.45])
    direction /= np.linalg.norm(direction)
    camera_data = bpy.data.cameras.get("Demo Camera") or bpy.data.cameras.new("Demo Camera")
    camera = bpy.data.objects.get("Demo Camera") or bpy.data.objects.new("Demo Camera", camera_data)
    if camera.name not in scene.collection.objects:
        scene.collection.objects.link(camera)
    camera_data.type = 'ORTHO'
    span = high - low
    aspect = resolution[0] / resolution[1]
    camera_data.ortho_scale = float(max(span[0] * 1.1, span[2] * aspect * 1.5, 0.5))
    camera.location = tuple(center + direction * float(np.linalg.norm(span) * 2 + 5))
    look = Vector(tuple(-direction))
    camera.rotation_euler = look.to_track_quat('-Z', 'Y').to_euler()
    camera_data.clip_end = float(np.linalg.norm(span) * 4 + 20)
    scene.camera = camera
    hidden = []
    for layer_collection in bpy.context.view_layer.layer_collection.children:
        for child in _walk(layer_collection):
            if child.collection is not collection and collection.name not in _names_below(child.collection) \
                    and child.collection.name not in _names_below(collection):
                if not child.exclude:
                    hidden.append(child)
                    child.exclude = True
    scene.render.engine = 'BLENDER_WORKBENCH'
    scene.display.shading.color_type = 'VERTEX'
    scene.display.shading.light = 'STUDIO'
    scene.display.shading.show_cavity = True
    scene.render.resolution_x, scene.render.resolution_y = resolution
    scene.render.film_transparent = False
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    for child in hidden:
        child.exclude = False


def _walk(layer_collection):
    yield layer_collection
    for child in layer_collection.children:
        yield from _walk(child)


def _names_below(collection):
    names = set()
    for child in collection.children:
        names.add(child.name)
        names |= _names_below(child)
    return names


def write_sample_dataset(addon, folder: Path) -> None:
    """A small folder of OFF files from the procedural families, to exercise the importer."""
    procedural = addon.shapespace.procedural
    for family in ("chair", "lamp"):
        (folder / family).mkdir(parents=True, exist_ok=True)
        for shape in procedural.make_family(family, 3, seed=7, same_topology=False):
            lines = ["OFF", f"{len(shape.vertices)} {shape.face_count} 0"]
            lines += [f"{x:.6f} {y:.6f} {z:.6f}" for x, y, z in shape.vertices]
            starts = shape.loop_starts
            for start, size in zip(starts, shape.face_sizes):
                lines.append(f"{size} " + " ".join(map(str, shape.corner_vertices[start:start + size])))
            (folder / family / f"{shape.name}.off").write_text("\n".join(lines) + "\n")


def save_image(bpy, name: str, path: Path) -> None:
    image = bpy.data.images.get(name)
    if image is not None:
        image.filepath_raw = str(path)
        image.file_format = 'PNG'
        image.save()


def measured_height(obj) -> float:
    positions = np.empty(len(obj.data.vertices) * 3, np.float32)
    obj.data.attributes["position"].data.foreach_get("vector", positions)
    return float(np.ptp(positions.reshape(-1, 3)[:, 2]))


def shape_space_demo(bpy, addon, demo, output: Path, seed: int) -> list:
    """Shape spaces with attribute sliders: MakeHuman bodies edited by height and weight, vases
    generated from a space, and a space learned from varied-topology vases by template fitting.
    Returns the collections to render."""
    settings = bpy.context.scene.design_space
    rendered = []
    bridge = addon.operators.mesh_bridge
    if "Bodies" in demo.children:
        bodies = demo.children["Bodies"]
        settings.training_collection = bodies
        bpy.ops.design_space.learn_shape_space(component_mode='VARIANCE', variance=0.9999)
        save_image(bpy, "Design Space Variance Explained", output / "renders" / "bodies_variance_explained.png")
        bpy.ops.design_space.learn_attributes(attributes="height_m, weight_kg, age_years, gender, muscle")
        save_image(bpy, "Design Space Attribute Fit", output / "renders" / "bodies_attribute_fit.png")
        say(f"shape space of {len(bodies.objects)} bodies; sliders {settings.models[-1].target}: "
            f"{settings.models[-1].metrics}")
        source = bodies.objects[0]
        edits = bridge.ensure_collection("Body Edits")
        row = []
        for label, attribute, change in (("as is", "height_m", 0.0), ("+10 cm", "height_m", 0.10),
                                         ("+15 kg", "weight_kg", 15.0), ("+30 years", "age_years", 30.0),
                                         ("more muscle", "muscle", 0.4)):
            bpy.ops.object.select_all(action='DESELECT')
            bpy.context.view_layer.objects.active = source
            bpy.ops.design_space.project_shape(target='COPY')
            copy = bpy.context.active_object
            sliders = copy.design_space_edit.sliders
            height, weight = measured_height(copy), sliders["weight_kg"].value
            bpy.ops.design_space.edit_attributes(attribute=attribute, value=change, relative=True)
            copy.name = f"{source.name} {label}"
            for collection in copy.users_collection:
                collection.objects.unlink(copy)
            edits.objects.link(copy)
            copy.location = (len(row) * 0.8, 0.0, 0.0)
            row.append(copy)
            say(f"{source.name} {label}: measured height {100 * height:.1f} → {100 * measured_height(copy):.1f} cm, "
                f"estimated weight {weight:.1f} → {sliders['weight_kg'].value:.1f} kg")
        rendered.append(edits)

    vases = demo.children.get("Vases")
    if vases is not None:
        settings.training_collection = vases
        bpy.ops.design_space.learn_shape_space(component_mode='VARIANCE', variance=0.999)
        bpy.ops.design_space.learn_attributes(attributes="height, max_radius, neck_radius")
        space_model = next(i for i, m in enumerate(settings.models) if m.name == "Vases Shape Space")
        settings.active_model_index = space_model
        bpy.ops.design_space.generate_shapes(count=8, seed=seed, collection="Generated Vases")
        rendered.append(bpy.data.collections["Generated Vases"])
        say(f"generated 8 vases from '{settings.models[space_model].name}' "
            f"({settings.models[space_model].metrics})")
    varied = demo.children.get("Vases (varied topology)")
    if varied is not None and vases is not None:
        settings.training_collection = varied
        bpy.ops.design_space.learn_shape_space(correspondence='TEMPLATE', template=vases.objects[0].name,
                                               component_mode='VARIANCE', variance=0.99)
        entry = settings.models[settings.active_model_index]
        say(f"template fitted to {len(varied.objects)} varied-topology vases: {entry.metrics}")
    return rendered


def part_assembly_demo(bpy, seed: int) -> list:
    """New chairs and airplanes assembled from the parts of 30 varied-topology shapes each."""
    settings = bpy.context.scene.design_space
    bpy.ops.design_space.create_demo_collections(families={'CHAIR', 'AIRPLANE'}, shapes_per_family=30, body_count=0,
                                                 topology='VARIED', seed=seed + 1, collection="Part Sources")
    sources = bpy.data.collections["Part Sources"]
    rendered = []
    for family in ("Chairs", "Airplanes"):
        collection = next(c for c in sources.children if c.name.startswith(family))  # names may get .001
        for obj in collection.objects:
            obj.location.y += 30.0  # out of the way of the demo rows
        settings.training_collection = collection
        bpy.ops.design_space.learn_part_model(seed=seed)
        entry = settings.models[settings.active_model_index]
        say(f"part model of {len(collection.objects)} {family.lower()}: {entry.metrics}")
        bpy.ops.design_space.assemble_parts(count=6, seed=seed, collection=f"Assembled {family}")
        made = bpy.data.collections[f"Assembled {family}"]
        for obj in made.objects:
            parts = ", ".join(obj["design_space_sources"])
            say(f"  {obj.name}: score {obj['design_space_score']:.1f} from {parts}")
        rendered.append(made)
        if family == "Chairs":
            rendered.append(sturdier_legs(bpy, collection, made, seed))
    return rendered


def sturdier_legs(bpy, chairs, assembled, seed: int):
    """Leg comparisons from a hidden rule (the source chair's leg thickness), learned, then an
    assembled chair's legs made sturdier twice; the three stages side by side."""
    ranking = dev_blender.addon().learning.ranking
    simulate_comparisons, write_comparisons_csv = ranking.simulate_comparisons, ranking.write_comparisons_csv
    thickness = [o["leg_thickness"] for o in chairs.objects]
    answers = simulate_comparisons(thickness, [f"{o.name}:leg" for o in chairs.objects], "sturdy", 150, seed=seed)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "legs.csv"
        path.write_text(write_comparisons_csv(answers))
        bpy.ops.design_space.import_comparisons(filepath=str(path))
    bpy.ops.design_space.learn_comparisons()
    settings = bpy.context.scene.design_space
    say(f"leg 'sturdy' from 150 comparisons: {settings.models[settings.active_model_index].metrics}")
    settings.active_model_index = next(i for i, m in enumerate(settings.models) if m.kind == "part_model"
                                       and m.collection == chairs.name)
    stages = bpy.data.collections.new("Sturdier Legs")
    bpy.context.scene.collection.children.link(stages)
    current = assembled.objects[0]
    for step in range(3):
        copy = current.copy()
        copy.data = current.data.copy()
        copy.name = f"legs step {step}"
        stages.objects.link(copy)
        copy.location = (step * 0.9, 0.0, 0.0)
        if step == 2:
            break
        bpy.context.view_layer.objects.active = current
        try:
            bpy.ops.design_space.adjust_part(label="leg", attribute="sturdy", direction='MORE')
        except RuntimeError as end:
            say(f"  {end}")
            break
    sources = [dict(s.split(":", 1) for s in o["design_space_sources"])["leg"] for o in stages.objects]
    say("made an assembled chair's legs sturdier: legs from " + " → ".join(
        f"{name} ({chairs.objects[name]['leg_thickness'] * 100:.1f} cm)" for name in sources))
    return stages


def comparisons_demo(bpy, addon, seed: int) -> list:
    """"Sturdy" learned from 200 simulated comparisons (a hidden rule: leg thickness plus seat width,
    5% of answers flipped, close calls answered "about the same"): the chairs ordered by it, a chair
    moved along it in its shape space, and an assembled chair given sturdier legs."""
    ranking = addon.learning.ranking
    settings = bpy.context.scene.design_space
    bpy.ops.design_space.create_demo_collections(families={'CHAIR'}, shapes_per_family=40, body_count=0,
                                                 topology='SAME', seed=seed + 3, collection="Comparison Chairs")
    chairs = next(c for c in bpy.data.collections["Comparison Chairs"].children if c.name.startswith("Chairs"))
    for obj in chairs.objects:
        obj.location.y += 40.0
    settings.training_collection = chairs
    bpy.ops.design_space.learn_shape_space(component_mode='VARIANCE', variance=0.9999)
    legs = np.array([o["leg_thickness"] for o in chairs.objects])
    seats = np.array([o["seat_width"] for o in chairs.objects])
    hidden = legs / legs.std() + seats / seats.std()
    names = [o.name for o in chairs.objects]
    answers = ranking.simulate_comparisons(hidden, names, "sturdy", 200, seed=seed)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sturdy.csv"
        path.write_text(ranking.write_comparisons_csv(answers))
        bpy.ops.design_space.import_comparisons(filepath=str(path))
    bpy.ops.design_space.learn_comparisons()
    entry = settings.models[settings.active_model_index]
    learned = ranking.load_rankings(addon.operators.model_store.absolute_path(entry.filepath))[0][0]
    features, feature_names, _, _ = addon.operators.comparisons.comparison_support.collection_features(bpy.context)
    tau = ranking.kendall_tau(learned.strength(features), [hidden[names.index(n)] for n in feature_names])
    say(f"'sturdy' from 200 comparisons ({sum(a.answer == 'SAME' for a in answers)} 'about the same'): "
        f"{entry.metrics}; Kendall's τ with the hidden rule {tau:.2f}")
    bpy.ops.design_space.rank_by_attribute(attribute="sturdy")
    ordered = bpy.data.collections["Ordered by sturdy"]
    for obj in list(ordered.objects):
        rank = int(obj.name.split(" ")[1].rstrip(":"))
        if rank % 8 != 0 and rank != len(names) - 1:  # every eighth, for a readable picture
            bpy.data.objects.remove(obj)
    for i, obj in enumerate(sorted(ordered.objects, key=lambda o: o.location.x)):
        obj.location.x = i * 0.8
    slider_row = addon.operators.mesh_bridge.ensure_collection("Sturdy Slider")
    for i, change in enumerate((-1.5, 0.0, 1.5)):
        bpy.ops.object.select_all(action='DESELECT')
        bpy.context.view_layer.objects.active = chairs.objects[5]
        bpy.ops.design_space.project_shape(target='COPY')
        copy = bpy.context.active_object
        copy.design_space_edit.sliders["sturdy"].value += change
        copy.name = f"sturdy {change:+.1f}"
        for collection in copy.users_collection:
            collection.objects.unlink(copy)
        slider_row.objects.link(copy)
        copy.location = (i * 0.9, 0.0, 0.0)
    say("moved a chair along 'sturdy' in its shape space by -1.5, 0 and +1.5 (Sturdy Slider)")
    return [ordered, slider_row]


def recognition_demo(bpy, addon, output: Path, seed: int, bodies: bool) -> list:
    """A multi-view classifier and sketch search trained on the procedural families (and MakeHuman
    bodies as one more class); new shapes classified; a vase's neighbours found; a sketch searched."""
    settings = bpy.context.scene.design_space
    bpy.ops.design_space.create_demo_collections(shapes_per_family=20, body_count=20 if bodies else 0,
                                                 topology='VARIED', seed=seed + 5, collection="Recognition Library")
    library = bpy.data.collections["Recognition Library"]
    for obj in library.all_objects:
        obj.location.y += 60.0
    settings.training_collection = library
    bpy.ops.design_space.train_classifier(epochs=60, copies=2, seed=seed)
    say(f"multi-view network: {settings.models[settings.active_model_index].metrics}")
    save_image(bpy, "Design Space Confusion", output / "renders" / "classifier_confusion.png")
    classifier_index = settings.active_model_index
    bpy.ops.design_space.create_demo_collections(shapes_per_family=3, body_count=3 if bodies else 0,
                                                 topology='VARIED', seed=seed + 77, collection="New Shapes")
    new = [o for o in bpy.data.collections["New Shapes"].all_objects if o.parent is None]
    bpy.ops.object.select_all(action='DESELECT')
    for obj in new:
        obj.select_set(True)
    bpy.ops.design_space.classify()
    right = sum(o["predicted_category"] == o["category"] for o in new)
    say(f"classified {len(new)} new shapes: {right} right")
    query = next(o for o in new if o["category"] == "vase")
    bpy.context.view_layer.objects.active = query
    settings.library_collection = library
    bpy.ops.design_space.find_similar(count=4, method='LEARNED')
    say(f"most like {query.name} (light field + learned residual): " + ", ".join(f"{m.name} ({m.score:.3f})" for m in settings.matches))
    bpy.ops.design_space.find_similar(count=4, method='TRAINING_FREE')
    say(f"most like {query.name} (training-free light field): "
        + ", ".join(f"{m.name} ({m.score:.3f})" for m in settings.matches))

    settings.training_collection = library  # making the new shapes picked their collection
    bpy.ops.design_space.train_sketch_search(pairs=3000, epochs=10, seed=seed)
    say(f"sketch search: {settings.models[settings.active_model_index].metrics}")
    import importlib

    ranking = importlib.import_module(addon.__name__ + ".learning.sketch")
    render_views = importlib.import_module(addon.__name__ + ".shapespace.views").render_views
    views = render_views(addon.operators.mesh_bridge.read_shape(
        next(o for o in new if o["category"] == "chair")), resolution=128)
    lines = ranking.hand_drawn(ranking.contour(views["mask"][1]), np.random.default_rng(seed))
    addon.learning.training_plot.write_png(output / "renders" / "sketch_query.png",
                                           np.dstack([1 - lines] * 3 + [np.ones_like(lines)]))
    bpy.context.scene.cursor.location = (0.0, 80.0, 0.0)
    bpy.ops.design_space.sketch_search(filepath=str(output / "renders" / "sketch_query.png"), count=5)
    say("a sketch of a chair found: " + ", ".join(f"{m.name} ({m.score:.2f})" for m in settings.matches))
    bpy.context.scene.cursor.location = (0.0, 0.0, 0.0)
    settings.active_model_index = classifier_index
    return []


def volumes_demo(bpy, addon, seed: int) -> list:
    """A conditional 3D VAE learned from voxelised procedural families: new chairs and lamps and a strip
    from a chair to a lamp; the implicit signed-distance decoder's chairs, tables, lamps and airplanes
    (one clean piece each, upright) and its strip from a chair to a lamp; half a chair completed by
    each."""
    settings = bpy.context.scene.design_space
    bpy.ops.design_space.create_demo_collections(families={'CHAIR', 'TABLE', 'LAMP', 'AIRPLANE', 'VASE'},
                                                 shapes_per_family=50, body_count=0, topology='VARIED',
                                                 seed=seed + 11, collection="Volume Library")
    library = bpy.data.collections["Volume Library"]
    for obj in library.all_objects:
        obj.location.y += 90.0
    settings.training_collection = library
    bpy.ops.design_space.learn_volumetric(model_kind='voxel_vae', resolution='32', epochs=100, seed=seed)
    say(f"volumetric VAE: {settings.models[settings.active_model_index].metrics}")
    made = []
    for category in ("chair", "lamp"):
        bpy.ops.design_space.generate_volumetric(category=category, count=5, seed=seed, variety=0.6)
        generated = bpy.data.collections[f"Generated {category}"]
        for obj in generated.objects:
            obj.location.y -= 20.0 if category == "chair" else 24.0
        made.append(generated)
        say(f"generated {len(generated.objects)} {category}s: " + ", ".join(
            f"{o.name} ({o.dimensions.z:.2f} m tall)" for o in generated.objects))
    chairs = [o for o in library.all_objects if o.get("category") == "chair"]
    lamps = [o for o in library.all_objects if o.get("category") == "lamp"]
    bpy.ops.object.select_all(action='DESELECT')
    chairs[0].select_set(True)
    lamps[0].select_set(True)
    bpy.context.view_layer.objects.active = lamps[0]
    bpy.ops.design_space.interpolate_volumetric(steps=6)
    strip = next(c for c in bpy.context.scene.collection.children if c.name.startswith("Interpolation"))
    for obj in strip.objects:
        obj.location.y = -28.0
    made.append(strip)
    say(f"interpolated {chairs[0].name} → {lamps[0].name}: {len(strip.objects)} shapes")

    # The implicit signed-distance decoder on a smaller library (12 per family; about a minute on 2 cores):
    # the built-in families are upright and aligned, so their own frame is kept.
    started = time.perf_counter()
    bpy.ops.design_space.create_demo_collections(families={'CHAIR', 'TABLE', 'LAMP', 'AIRPLANE'},
                                                 shapes_per_family=12, body_count=0, topology='VARIED',
                                                 seed=seed + 23, collection="Implicit Library")
    small = bpy.data.collections["Implicit Library"]
    for obj in small.all_objects:
        obj.location.y += 130.0
    settings.training_collection, settings.collection_aligned = small, True
    bpy.ops.design_space.learn_volumetric(model_kind='implicit_sdf', resolution='32', epochs=60, seed=seed)
    say(f"implicit decoder ({time.perf_counter() - started:.0f} s): "
        f"{settings.models[settings.active_model_index].metrics}")
    for row, category in enumerate(("chair", "table", "lamp", "airplane")):
        existing = set(bpy.data.collections)
        bpy.ops.design_space.generate_volumetric(category=category, count=5, seed=seed, variety=0.6)
        generated = next(c for c in bpy.data.collections if c not in existing)
        generated.name = f"Implicit {category}s"
        for obj in generated.objects:
            obj.location.y -= 40.0 + 4.0 * row
        made.append(generated)
        say(f"implicit {category}s: " + ", ".join(f"{o.name} ({o.dimensions.z:.2f} m tall, "
                                                  f"{o['design_space_pieces']} piece)" for o in generated.objects))
    # the implicit model walks from one of its chairs to one of its lamps (a code fitted to each end)
    implicit_index = settings.active_model_index
    ends = [next(o for o in small.all_objects if o.get("category") == c) for c in ("chair", "lamp")]
    bpy.ops.object.select_all(action='DESELECT')
    for obj in ends:
        obj.select_set(True)
    bpy.context.view_layer.objects.active = ends[1]
    existing = set(bpy.data.collections)
    bpy.ops.design_space.interpolate_volumetric(steps=6)
    walk = next(c for c in bpy.data.collections if c not in existing)
    walk.name = "Implicit interpolation"
    for obj in walk.objects:
        obj.location.y = -60.0
    made.append(walk)
    say(f"implicit interpolation {ends[0].name} → {ends[1].name}: {len(walk.objects)} shapes")
    settings.training_collection, settings.collection_aligned = library, False
    # the VAE completes the half chair below, then the implicit model
    vae_index = next(i for i, m in enumerate(settings.models) if m.kind == "voxel_vae")

    # Half a chair: the faces right of the middle deleted; a box marks what is missing.
    bridge = addon.operators.mesh_bridge
    whole = bridge.read_shape(chairs[5])
    centres = np.add.reduceat(whole.vertices[whole.corner_vertices], whole.loop_starts) / whole.face_sizes[:, None]
    half = addon.shapespace.parts.submesh(whole, centres[:, 0] < 0.0, "Half chair")
    completion = bridge.ensure_collection("Completion")
    with bridge.SceneWriter() as writer:
        partial = writer.mesh_object(half, completion, location=(0.0, -32.0, 0.0))
    low, high = whole.vertices.min(axis=0), whole.vertices.max(axis=0)
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=(high[0] / 2, -32.0, (low[2] + high[2]) / 2))
    region = bpy.context.active_object
    region.name = "Missing part"
    region.scale = (high[0] * 1.05, (high[1] - low[1]) * 1.1, (high[2] - low[2]) * 1.1)
    region.display_type = 'WIRE'
    bpy.context.view_layer.update()
    # left to right: the half, the implicit model's completion, the VAE's (moved aside first)
    for model_index, method in ((vae_index, "VAE"), (implicit_index, "implicit")):
        settings.active_model_index = model_index
        bpy.ops.object.select_all(action='DESELECT')
        region.select_set(True)
        partial.select_set(True)
        bpy.context.view_layer.objects.active = partial
        bpy.ops.design_space.complete_volumetric()
        completed = bpy.data.objects[f"{partial.name} completed"]
        completed.name = f"{partial.name} completed ({method})"
        if method == "VAE":
            completed.location.x += 1.3 * (high[0] - low[0])
        say(f"completed '{partial.name}' into '{completed.name}' ({completed['category']})")
    region.hide_render = True
    made.append(completion)
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="demo_output", help="folder for demo.blend and the renders")
    parser.add_argument("--shapes", type=int, default=8, help="shapes per procedural family")
    parser.add_argument("--bodies", type=int, default=40, help="MakeHuman bodies")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    output = Path(args.output).resolve()
    (output / "renders").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    bpy = dev_blender.start_blender()
    addon = dev_blender.addon()
    bridge = addon.operators.mesh_bridge
    bpy.ops.wm.read_homefile(use_empty=True)
    say(f"Blender {bpy.app.version_string}, Design Space enabled from {dev_blender.REPO_ROOT}")

    bpy.ops.design_space.create_demo_collections(shapes_per_family=args.shapes, body_count=args.bodies,
                                                 seed=args.seed)
    demo = bpy.data.collections["Design Space Demo"]
    for child in demo.children:
        shapes = bridge.read_collection(child)
        vertex_counts = sorted({len(s.vertices) for s in shapes})
        attributes = sorted(set().union(*(s.attributes for s in shapes)) - {"design_space_seed"})
        labels = sorted(set().union(*(s.part_labels for s in shapes)))
        say(f"{child.name}: {len(shapes)} shapes, vertex counts {vertex_counts[:4]}"
            f"{'…' if len(vertex_counts) > 4 else ''}; parts {labels or '-'}; attributes {attributes}")

    with tempfile.TemporaryDirectory() as folder:
        write_sample_dataset(addon, Path(folder) / "sample_dataset")
        bpy.ops.design_space.import_dataset(directory=str(Path(folder) / "sample_dataset"),
                                            collection="Imported Dataset")
    imported = bpy.data.collections["Imported Dataset"]
    say(f"Imported a folder of OFF files: {len(imported.all_objects)} objects in "
        f"{[c.name for c in imported.children]}, category from the subfolder")
    imported_objects = list(imported.all_objects)
    for i, obj in enumerate(imported_objects):  # set them apart from the demo rows
        obj.location = (i * 1.5, 12.0, 0.0)

    # Training runtime: learn to predict chair height from geometry, then predict it for the varied chairs.
    # Saving first puts the model files beside demo.blend, linked by relative paths.
    blend = output / "demo.blend"
    bpy.context.preferences.filepaths.save_version = 0  # no demo.blend1 backups
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    settings = bpy.context.scene.design_space
    settings.training_collection = demo.children["Chairs"]
    bpy.ops.design_space.train_attribute_predictor(target="height", model_kind='MLP', epochs=300, seed=args.seed)
    bpy.ops.design_space.train_attribute_predictor(target="height", model_kind='RIDGE')
    for entry in settings.models:
        say(f"model '{entry.name}' ({entry.kind}): {entry.metrics}; file {entry.filepath}")
    curves = bpy.data.images.get("Design Space Training")
    if curves is not None:
        curves.filepath_raw = str(output / "renders" / "training_curves.png")
        curves.file_format = 'PNG'
        curves.save()
    settings.active_model_index = 0
    varied = demo.children["Chairs (varied topology)"]
    bpy.ops.object.select_all(action='DESELECT')
    for obj in varied.objects:
        obj.select_set(True)
    bpy.ops.design_space.predict_attribute()
    errors = [abs(o["predicted_height"] - o["height"]) for o in varied.objects]
    say(f"predicted the height of {len(errors)} varied-topology chairs (not seen in training): "
        f"mean error {100 * sum(errors) / len(errors):.1f} cm")

    rendered = shape_space_demo(bpy, addon, demo, output, args.seed)
    rendered += part_assembly_demo(bpy, args.seed)
    rendered += comparisons_demo(bpy, addon, args.seed)
    rendered += recognition_demo(bpy, addon, output, args.seed, args.bodies > 0)
    rendered += volumes_demo(bpy, addon, args.seed)

    for child in list(demo.children) + [imported] + rendered:
        path = output / "renders" / f"{child.name.lower().replace(' ', '_').replace('(', '').replace(')', '')}.png"
        render_collection(bpy, child, path)
        say(f"rendered {path.relative_to(output.parent) if output.parent in path.parents else path}")

    bpy.ops.wm.save_mainfile()
    say(f"saved {blend} ({blend.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
