"""The batched (modal) import in a real Blender window: progress while it runs, Esc cancels.

    real-blender run --gui -- blender --enable-event-simulate --python scripts/real_blender_import_probe.py -- OUT.json [--cancel]

Imports a generated library of 10k-vertex PLY files (plus one hostile file) through the same path
the file browser takes (run_in_batches=True), samples the object count while the window stays
live, optionally presses Esc half-way, writes what it saw to OUT.json and quits.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import bpy

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_import  # noqa: E402
import dev_blender  # noqa: E402

argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
OUT = Path(argv[0] if argv else "import_probe.json")
CANCEL = "--cancel" in argv
FILES = 120
dev_blender.start_blender()
library = bench_import.write_library(Path(tempfile.mkdtemp()) / "library", FILES, "ply")
(library / "tables" / "hostile.ply").write_bytes(
    b"ply\nformat binary_little_endian 1.0\nelement vertex 1000000000000\nproperty float x\nproperty float y\n"
    b"property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n" + b"\0" * 100)
state = {"samples": [], "cancel": CANCEL}


def count_objects():
    collection = bpy.data.collections.get("library")
    return len(collection.all_objects) if collection is not None else 0


def start():
    window = bpy.context.window_manager.windows[0]
    with bpy.context.temp_override(window=window):
        result = bpy.ops.design_space.import_dataset(directory=str(library), run_in_batches=True)
    state["returned"] = sorted(result)
    state["start"] = time.perf_counter()
    bpy.app.timers.register(sample, first_interval=0.05)


def sample():
    elapsed = time.perf_counter() - state["start"]
    count = count_objects()
    state["samples"].append((round(elapsed, 2), count))
    if CANCEL and "cancelled_at" not in state and count >= FILES // 3:
        state["cancelled_at"] = count
        bpy.context.window_manager.windows[0].event_simulate(type='ESC', value='PRESS')
    finished = len(state["samples"]) > 3 and state["samples"][-1][1] == state["samples"][-3][1] and count > 0
    if finished or elapsed > 90:
        state["final_objects"] = count
        state["meshes_without_users"] = sum(1 for m in bpy.data.meshes if m.users == 0)
        state["training_collection"] = getattr(bpy.context.scene.design_space.training_collection, "name", None)
        OUT.write_text(json.dumps(state, indent=1))
        bpy.ops.wm.quit_blender()
        return None
    return 0.05


bpy.app.timers.register(start, first_interval=2.0)
