"""Small helpers for the Blender integration tests."""

import numpy as np


def positions(obj):
    """(V, 3) positions of an object's mesh (or an evaluated object's), in one bulk read."""
    buf = np.empty(len(obj.data.vertices) * 3, np.float32)
    obj.data.attributes["position"].data.foreach_get("vector", buf)
    return buf.reshape(-1, 3)


def demo_collection(bpy, family: str, title: str, count: int, topology: str = 'SAME', seed: int = 0):
    """Built-in shapes of one family, made the training collection."""
    bpy.ops.design_space.create_demo_collections(families={family}, shapes_per_family=count, body_count=0,
                                                 topology=topology, seed=seed)
    collection = bpy.data.collections[title]
    bpy.context.scene.design_space.training_collection = collection
    return collection
