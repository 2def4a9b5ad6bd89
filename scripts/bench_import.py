"""Timing probe for importing a mesh library: seconds per file into an empty scene and into one
that already holds thousands of objects (the per-file cost must not grow), against Blender's own
importer called per file as the old `import_dataset` did.

    .venv/bin/python scripts/bench_import.py [--files 200] [--existing 2000] [--format ply] [--baseline 20]

`import_timing(bpy, addon, ...)` is what scripts/bench.py can call; it returns a dict of figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def grid_arrays(side: int = 100):
    """A side × side vertex grid of triangles (side=100: 10,000 vertices, 19,602 triangles)."""
    x, y = np.meshgrid(np.linspace(0, 1, side), np.linspace(0, 1, side))
    vertices = np.stack([x.ravel(), y.ravel(), np.sin(x * 6).ravel() * 0.1], 1).astype(np.float32)
    i = (np.arange(side - 1)[:, None] * side + np.arange(side - 1)[None, :]).ravel()
    triangles = np.concatenate([np.stack([i, i + 1, i + side + 1], 1), np.stack([i, i + side + 1, i + side], 1)])
    return vertices, triangles


def write_library(folder: Path, count: int, fmt: str = "ply", side: int = 100) -> Path:
    """`count` mesh files of a 10k-vertex grid in two class folders (binary PLY, OBJ, OFF or STL)."""
    vertices, triangles = grid_arrays(side)
    if fmt == "ply":
        header = (f"ply\nformat binary_little_endian 1.0\nelement vertex {len(vertices)}\nproperty float x\n"
                  f"property float y\nproperty float z\nelement face {len(triangles)}\n"
                  "property list uchar int vertex_indices\nend_header\n").encode()
        faces = np.zeros(len(triangles), dtype=[("n", "u1"), ("i", "<i4", (3,))])
        faces["n"], faces["i"] = 3, triangles
        data = header + vertices.tobytes() + faces.tobytes()
    elif fmt == "stl":
        records = np.zeros(len(triangles), dtype=[("n", "<f4", 3), ("c", "<f4", (3, 3)), ("a", "<u2")])
        records["c"] = vertices[triangles]
        data = b" " * 80 + np.uint32(len(triangles)).tobytes() + records.tobytes()
    else:
        v_lines = "\n".join(f"{'v ' if fmt == 'obj' else ''}{a:.6f} {b:.6f} {c:.6f}" for a, b, c in vertices)
        base = 1 if fmt == "obj" else 0
        f_lines = "\n".join(f"{'f' if fmt == 'obj' else '3'} {a + base} {b + base} {c + base}" for a, b, c in triangles)
        head = "" if fmt == "obj" else f"OFF\n{len(vertices)} {len(triangles)} 0\n"
        data = (head + v_lines + "\n" + f_lines + "\n").encode()
    for k in range(count):
        target = folder / ("chairs" if k % 2 else "tables") / f"shape_{k:04d}.{fmt}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder


def _fill_scene(bpy, addon, count: int) -> None:
    bridge = addon.operators.mesh_bridge
    MeshArrays = addon.shapespace.mesh_arrays.MeshArrays
    vertices, triangles = grid_arrays(4)
    small = MeshArrays.from_faces("filler", vertices, triangles)
    with bridge.SceneWriter() as writer:
        collection = writer.collection("existing objects")
        for k in range(count):
            writer.mesh_object(small, collection, name=f"filler_{k:04d}")
    bpy.context.view_layer.update()


def import_timing(bpy, addon, files: int = 200, existing: int = 2000, fmt: str = "ply", baseline_files: int = 0,
                  side: int = 100, through_operator: bool = True) -> dict:
    """Seconds per file importing `files` files into an empty scene, then `files` more into a scene of
    `existing` objects: through the operator (total / files) and file by file (median); with
    baseline_files, also Blender's own importer per file in both scenes."""
    figures = {"format": fmt, "vertices_per_file": side * side, "files": files, "existing_objects": existing}
    with tempfile.TemporaryDirectory() as tmp:
        library = write_library(Path(tmp) / "library", files, fmt, side)
        for label, fill in (("empty", 0), ("full", existing)):
            bpy.ops.wm.read_homefile(use_empty=True)
            if fill:
                _fill_scene(bpy, addon, fill)
            if through_operator:
                start = time.perf_counter()
                bpy.ops.design_space.import_dataset(directory=str(library), collection=f"{label} operator")
                figures[f"{label}_scene_operator_s_per_file"] = (time.perf_counter() - start) / files
            # The files alone, one at a time, without the operator's once-per-call costs (undo push,
            # report); the median resists the spikes other processes cause on shared machines.
            job = addon.operators.data.import_dataset.DatasetImport(str(library), f"{label} steps")
            seconds = []
            while not job.done:
                start = time.perf_counter()
                job.step(0.0)
                seconds.append(time.perf_counter() - start)
            figures[f"{label}_scene_s_per_file"] = statistics.median(seconds)
            figures[f"{label}_scene_s_per_file_p25"] = float(np.percentile(seconds, 25))
        figures["ratio"] = figures["full_scene_s_per_file"] / figures["empty_scene_s_per_file"]
        figures["ratio_p25"] = figures["full_scene_s_per_file_p25"] / figures["empty_scene_s_per_file_p25"]
        if through_operator:
            figures["operator_ratio"] = (figures["full_scene_operator_s_per_file"]
                                         / figures["empty_scene_operator_s_per_file"])
        if baseline_files and fmt in ("ply", "obj", "stl"):
            paths = sorted(library.rglob(f"*.{fmt}"))[:baseline_files]
            importer = getattr(bpy.ops.wm, f"{fmt}_import")
            for label, fill in (("empty", 0), ("full", existing)):
                bpy.ops.wm.read_homefile(use_empty=True)
                if fill:
                    _fill_scene(bpy, addon, fill)
                start = time.perf_counter()
                for path in paths:
                    importer(filepath=str(path))
                figures[f"blender_importer_{label}_scene_s_per_file"] = (time.perf_counter() - start) / len(paths)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--existing", type=int, default=2000)
    parser.add_argument("--format", default="ply", choices=("ply", "obj", "off", "stl"))
    parser.add_argument("--baseline", type=int, default=0, help="files for Blender's own importer (0: skip)")
    args = parser.parse_args()
    import dev_blender

    bpy = dev_blender.start_blender()
    figures = import_timing(bpy, dev_blender.addon(), args.files, args.existing, args.format, args.baseline)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
