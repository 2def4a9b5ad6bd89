"""Writers for small mesh files in each format the dataset importer reads (test data only)."""

import struct

import numpy as np

CUBE_VERTICES = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0],
                          [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], dtype=np.float32)
CUBE_QUADS = np.array([[0, 3, 2, 1], [4, 5, 6, 7], [0, 1, 5, 4], [1, 2, 6, 5], [2, 3, 7, 6], [3, 0, 4, 7]])
CUBE_TRIANGLES = np.concatenate([CUBE_QUADS[:, [0, 1, 2]], CUBE_QUADS[:, [0, 2, 3]]])


def write_obj(path, vertices=CUBE_VERTICES, faces=CUBE_QUADS):
    lines = [f"v {x} {y} {z}" for x, y, z in vertices]
    lines += ["f " + " ".join(str(i + 1) for i in face) for face in faces]
    path.write_text("\n".join(lines) + "\n")


def write_off(path, vertices=CUBE_VERTICES, faces=CUBE_QUADS):
    lines = ["OFF", f"{len(vertices)} {len(faces)} 0"]
    lines += [f"{x} {y} {z}" for x, y, z in vertices]
    lines += [f"{len(face)} " + " ".join(str(i) for i in face) for face in faces]
    path.write_text("\n".join(lines) + "\n")


def write_ply(path, vertices=CUBE_VERTICES, faces=CUBE_QUADS):
    header = ["ply", "format ascii 1.0", f"element vertex {len(vertices)}", "property float x",
              "property float y", "property float z", f"element face {len(faces)}",
              "property list uchar int vertex_indices", "end_header"]
    lines = header + [f"{x} {y} {z}" for x, y, z in vertices]
    lines += [f"{len(face)} " + " ".join(str(i) for i in face) for face in faces]
    path.write_text("\n".join(lines) + "\n")


def write_stl(path, vertices=CUBE_VERTICES, triangles=CUBE_TRIANGLES):
    data = bytearray(b"design space test".ljust(80, b" ")) + struct.pack("<I", len(triangles))
    for tri in triangles:
        data += struct.pack("<3f", 0, 0, 0)
        for index in tri:
            data += struct.pack("<3f", *vertices[index])
        data += b"\0\0"
    path.write_bytes(bytes(data))
