"""Multi-view images: the numpy renderer agrees with Blender's own Workbench render of the same camera."""

import numpy as np
import pytest

from shapespace.mesh_arrays import MeshArrays
from shapespace.procedural import make_shape
from shapespace.views import dodecahedron_views, normalize, render_views, ring_views


def _workbench_mask(bpy, mesh, direction, resolution, tmp_path):
    from mathutils import Vector

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    data = bpy.data.meshes.new("shape")
    data.from_pydata(normalize(mesh.vertices).tolist(), [], mesh.triangles.tolist())
    scene.collection.objects.link(bpy.data.objects.new("shape", data))
    camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    camera.data.type, camera.data.ortho_scale = 'ORTHO', 2.0
    camera.data.clip_start, camera.data.clip_end = 0.1, 20.0
    camera.location = Vector(tuple(5.0 * direction))
    camera.rotation_euler = Vector(tuple(-direction)).to_track_quat('-Z', 'Y').to_euler()
    scene.collection.objects.link(camera)
    scene.camera = camera
    scene.render.engine = 'BLENDER_WORKBENCH'
    scene.display.render_aa = 'OFF'
    scene.render.film_transparent = True
    scene.render.resolution_x = scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    scene.render.filepath = str(tmp_path / "view.png")
    bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(str(tmp_path / "view.png"))
    pixels = np.array(image.pixels[:], dtype=np.float32).reshape(resolution, resolution, 4)[::-1]
    return pixels[..., 3] > 0.5


@pytest.mark.parametrize("family, view", [("chair", 1), ("airplane", 4), ("lamp", 7)])
def test_silhouettes_match_blenders_workbench(bpy, tmp_path, family, view):
    mesh = make_shape(family, 3, same_topology=False)
    direction = ring_views()[view]
    ours = render_views(mesh, [direction], resolution=128)["mask"][0]
    blender = _workbench_mask(bpy, mesh, direction, 128, tmp_path)
    iou = (ours & blender).sum() / (ours | blender).sum()
    print(f"silhouette IoU {family} view {view}: {iou:.4f}")
    assert iou >= 0.98, iou


def test_images_are_consistent():
    mesh = make_shape("table", 2)
    views = render_views(mesh, dodecahedron_views(), resolution=48)
    assert views["mask"].shape == (20, 48, 48)
    assert np.isfinite(views["depth"][views["mask"]]).all() and np.isinf(views["depth"][~views["mask"]]).all()
    assert (views["shaded"][~views["mask"]] == 0).all() and (views["shaded"][views["mask"]] > 0).all()
    assert views["lines"].sum() > 0 and (views["lines"] <= 1).all()
    # moving or scaling the shape changes nothing: it is normalised first
    moved = MeshArrays("moved", mesh.vertices * 3.0 + 7.0, mesh.face_sizes, mesh.corner_vertices)
    np.testing.assert_array_equal(render_views(moved, dodecahedron_views(), resolution=48)["mask"], views["mask"])
    with pytest.raises(ValueError, match="between 16 and 512"):
        render_views(mesh, resolution=8)
