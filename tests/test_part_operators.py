"""Part assembly inside Blender: learn_part_model, assemble_parts, swap_part, keep_assembly."""

import numpy as np
import pytest
from blender_helpers import demo_collection, positions


@pytest.fixture
def chairs(bpy):
    return demo_collection(bpy, 'CHAIR', "Chairs (varied topology)", 24, 'VARIED', seed=1)


def test_assemble_swap_and_keep(bpy, addon, chairs):
    before = {o.name: positions(o).copy() for o in chairs.objects}
    assert bpy.ops.design_space.learn_part_model() == {'FINISHED'}
    entry = bpy.context.scene.design_space.models[0]
    assert entry.kind == "part_model" and "shape style" in entry.metrics and "held-out" in entry.metrics
    assert bpy.ops.design_space.assemble_parts(count=4, seed=3, collection="New Chairs",
                                               order='PLAUSIBILITY') == {'FINISHED'}
    made = list(bpy.data.collections["New Chairs"].objects)
    assert len(made) == 4
    scores = [o["design_space_score"] for o in made]
    assert scores == sorted(scores, reverse=True)
    for obj in made:
        sources = dict(s.split(":", 1) for s in obj["design_space_sources"])
        assert set(sources) <= {"seat", "back", "leg", "arm"} and len(set(sources.values())) > 1
        assert list(obj.data["part_labels"]) == [l for l in ("seat", "back", "leg", "arm") if l in sources]
        assert abs(positions(obj)[:, 2].min()) < 1e-3
    again = bpy.ops.design_space.assemble_parts(count=4, seed=3, collection="Again", order='PLAUSIBILITY')
    assert again == {'FINISHED'}
    assert [list(o["design_space_sources"]) for o in bpy.data.collections["Again"].objects] == \
        [list(o["design_space_sources"]) for o in made]

    first = made[0]
    bpy.context.view_layer.objects.active = first
    old = dict(s.split(":", 1) for s in first["design_space_sources"])
    assert bpy.ops.design_space.swap_part(label="back") == {'FINISHED'}
    new = dict(s.split(":", 1) for s in first["design_space_sources"])
    assert new["back"] != old["back"] and {k: v for k, v in new.items() if k != "back"} == \
        {k: v for k, v in old.items() if k != "back"}
    assert bpy.ops.design_space.keep_assembly() == {'FINISHED'}
    assert first.users_collection[0].name == "Kept Assemblies"
    for obj in chairs.objects:  # the training shapes were only read
        np.testing.assert_array_equal(positions(obj), before[obj.name])


def test_bad_input_is_named(bpy, chairs):
    with pytest.raises(RuntimeError, match="Make a part model the active model first"):
        bpy.ops.design_space.assemble_parts()
    big = chairs.objects[2]
    big.data.transform(np.diag([100.0, 100.0, 100.0, 1.0]))
    with pytest.raises(RuntimeError, match=f"more than 10× \\('{big.name}'…\\): mixed units"):
        bpy.ops.design_space.learn_part_model()
    big.data.transform(np.diag([0.01, 0.01, 0.01, 1.0]))
    big.data.attributes.remove(big.data.attributes["part"])
    with pytest.raises(RuntimeError, match=f"1 shape has no part labels: '{big.name}'"):
        bpy.ops.design_space.learn_part_model()
    bpy.context.view_layer.objects.active = chairs.objects[0]
    with pytest.raises(RuntimeError, match="is not an assembly"):
        bpy.ops.design_space.swap_part(label="leg")


def test_make_the_legs_sturdier(bpy, chairs, tmp_path):
    from learning.ranking import simulate_comparisons, write_comparisons_csv

    thickness = {o.name: o["leg_thickness"] for o in chairs.objects}
    names = [f"{n}:leg" for n in thickness]
    comparisons = simulate_comparisons(list(thickness.values()), names, "sturdy", 150, seed=3)
    (tmp_path / "legs.csv").write_text(write_comparisons_csv(comparisons))
    bpy.ops.design_space.import_comparisons(filepath=str(tmp_path / "legs.csv"))
    assert bpy.ops.design_space.learn_comparisons() == {'FINISHED'}
    entry = bpy.context.scene.design_space.models[-1]
    assert entry.name == "Chairs (varied topology) Leg Attributes" and entry.target == "sturdy" and entry.part == "leg"
    bpy.ops.design_space.learn_part_model()
    bpy.ops.design_space.assemble_parts(count=3, seed=1, collection="New Chairs")
    chair = bpy.data.collections["New Chairs"].objects[0]
    bpy.context.view_layer.objects.active = chair

    def leg_source():
        return dict(s.split(":", 1) for s in chair["design_space_sources"])["leg"]

    steps = []
    for _ in range(3):
        before = leg_source()
        try:
            bpy.ops.design_space.adjust_part(label="leg", attribute="sturdy", direction='MORE')
        except RuntimeError as end:
            assert "is more sturdy than the one it has" in str(end)
            break
        steps.append(thickness[leg_source()] - thickness[before])
    assert steps and np.mean(steps) > 0  # the legs got sturdier (by the hidden thickness)


class ProgressRecorder:
    """A runner listener that records each Progress and, with `cancel_after`, presses Cancel once that
    many have arrived (headless, the job runs inside the operator call, so this is how a test cancels)."""

    def __init__(self, runner, cancel_after: int | None = None):
        self.runner, self.cancel_after, self.seen = runner, cancel_after, []

    def __call__(self, progress):
        if progress is None:
            return
        self.seen.append((progress.fraction, progress.message))
        if self.cancel_after is not None and len(self.seen) >= self.cancel_after:
            self.runner.cancel()

    def __enter__(self):
        self.runner.listeners.append(self)
        return self

    def __exit__(self, *_):
        self.runner.listeners.remove(self)


def test_assembly_and_swap_run_as_jobs_with_progress_and_cancel(bpy, addon, chairs):
    from test_bad_input import scene_hash

    runner = addon.operators.background_jobs.runner
    part_models = addon.operators.parts.part_models
    assert bpy.ops.design_space.learn_part_model() == {'FINISHED'}
    part_models._cache.clear()

    # Cancelled while the synthesizer is being built: nothing written, nothing half-built kept.
    state = scene_hash(bpy)
    with ProgressRecorder(runner, cancel_after=1) as recorder:
        assert bpy.ops.design_space.assemble_parts(count=3, seed=3, collection="Cancelled") == {'CANCELLED'}
    assert recorder.seen and "split the parts" in recorder.seen[0][1]
    assert scene_hash(bpy) == state and "Cancelled" not in bpy.data.collections
    assert not part_models._cache and not runner.running

    # Run to the end: progress climbs from the build through the search, then the shapes appear.
    with ProgressRecorder(runner) as recorder:
        assert bpy.ops.design_space.assemble_parts(count=3, seed=3, collection="Made") == {'FINISHED'}
    fractions = [f for f, _ in recorder.seen]
    assert len(fractions) >= 8 and fractions == sorted(fractions) and fractions[-1] >= 0.9
    assert any("how parts meet" in m for _, m in recorder.seen)
    assert any("candidates passed the checks" in m for _, m in recorder.seen)
    assert len(bpy.data.collections["Made"].objects) == 3 and part_models._cache

    # Cancelled during the search (the synthesizer is cached now): the scene stays as it was.
    state = scene_hash(bpy)
    with ProgressRecorder(runner, cancel_after=2) as recorder:
        assert bpy.ops.design_space.assemble_parts(count=3, seed=4, collection="Cancelled") == {'CANCELLED'}
    assert len(recorder.seen) == 2 and "candidates passed the checks" in recorder.seen[0][1]
    assert scene_hash(bpy) == state and "Cancelled" not in bpy.data.collections

    # Swap: progress over the training shapes; cancelled, the assembly keeps its part and its mesh.
    chair = bpy.data.collections["Made"].objects[0]
    bpy.context.view_layer.objects.active = chair
    state = scene_hash(bpy)
    with ProgressRecorder(runner, cancel_after=1) as recorder:
        assert bpy.ops.design_space.swap_part(label="back") == {'CANCELLED'}
    assert recorder.seen and "trying the back" in recorder.seen[0][1]
    assert scene_hash(bpy) == state and "design_space_swapped" not in chair
    with ProgressRecorder(runner) as recorder:
        assert bpy.ops.design_space.swap_part(label="back") == {'FINISHED'}
    assert len(recorder.seen) >= 5 and chair["design_space_swapped"]
