"""Install the built extension zip into a throw-away Blender user folder and prove it behaves.

Runs inside Blender, either Blender as a Python module (`python install_check.py --zip Z`) or real
Blender (`blender --background --python install_check.py -- --installed`). Installs (unless
--installed), enables, runs an operator, disables and re-enables, and checks after each step that
no classes, properties, handlers or operators leak. Prints one line `INSTALL_CHECK {json}` and
exits 0 only if every check passed. Set BLENDER_USER_RESOURCES to a temporary folder first.
"""

import argparse
import json
import sys

import bpy  # noqa: I001 (bpy first: it puts addon_utils on the path)
import addon_utils

MODULE = "bl_ext.user_default.design_space"
checks = []


def check(name, ok, detail=""):
    checks.append({"check": name, "ok": bool(ok), "detail": str(detail)})
    print(("ok   " if ok else "FAIL ") + name + (f": {detail}" if detail else ""), flush=True)


def footprint():
    """What the add-on can leave in Blender: classes, scene properties, operators, handlers."""
    classes = sorted(n for n in dir(bpy.types) if n.startswith(("DESIGN_SPACE", "DesignSpace")))
    handlers = {n: len(getattr(bpy.app.handlers, n)) for n in dir(bpy.app.handlers)
                if isinstance(getattr(bpy.app.handlers, n), list)}
    operators = sorted(dir(bpy.ops.design_space))
    keymap_items = sum(len(km.keymap_items) for km in bpy.context.window_manager.keyconfigs.addon.keymaps) \
        if bpy.context.window_manager.keyconfigs.addon else 0
    return {"classes": classes, "scene_property": hasattr(bpy.types.Scene, "design_space")
            or hasattr(bpy.types.WindowManager, "design_space_job"),
            "timers": timers_of_design_space(),
            "operators": operators, "handlers": handlers, "keymap_items": keymap_items,
            "modules": sorted(m for m in sys.modules if m.startswith(MODULE))}


RUNNERS = []  # job runners seen while enabled; kept so that their timers can be checked after disable


def timers_of_design_space():
    """Timers of the add-on's job runners that are still registered."""
    for name, module in list(sys.modules.items()):
        runner = getattr(module, "runner", None) if name.startswith(MODULE) else None
        if runner is not None and all(runner is not r for r in RUNNERS):
            RUNNERS.append(runner)
    return [repr(r) for r in RUNNERS if bpy.app.timers.is_registered(r._poll)]


def run_operator(tag):
    bpy.ops.wm.read_homefile(use_empty=True)
    try:
        result = bpy.ops.design_space.create_demo_collections(
            families={'CHAIR', 'VASE'}, shapes_per_family=2, body_count=0, topology='SAME')
    except Exception as error:  # the check reports it
        check(f"{tag}: create_demo_collections runs", False, error)
        return
    meshes = [o for o in bpy.data.objects if o.type == 'MESH']
    check(f"{tag}: create_demo_collections runs", result == {'FINISHED'} and len(meshes) == 4,
          f"{result}, {len(meshes)} meshes")
    labels = meshes[0].data.get("part_labels") if meshes else None
    check(f"{tag}: parts are labelled", labels is not None and len(labels) > 1, labels)


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--zip", help="the extension zip to install")
    parser.add_argument("--installed", action="store_true", help="already installed and enabled")
    args = parser.parse_args(argv)
    bpy.ops.wm.read_homefile(use_empty=True)
    if args.installed:  # installed by Blender's command line: take the clean footprint with it disabled
        loaded, enabled = addon_utils.check(MODULE)
        check("installed and enabled by `blender --command extension install-file -e`", enabled,
              f"loaded={loaded}, enabled={enabled}")
        addon_utils.disable(MODULE, default_set=True)
    clean = footprint()
    check("nothing of Design Space before enabling", not clean["classes"] and not clean["scene_property"]
          and not clean["operators"], clean)
    if args.installed:
        addon_utils.enable(MODULE, default_set=True)
    else:
        bpy.ops.extensions.package_install_files(filepath=args.zip, repo='user_default', enable_on_install=True)
    loaded, enabled = addon_utils.check(MODULE)
    check("installed and enabled", enabled, f"loaded={loaded}, enabled={enabled}")
    if not enabled:
        return finish()
    on = footprint()
    check("registered its classes and scene properties", on["classes"] and on["scene_property"], on["classes"])
    run_operator("first enable")
    addon_utils.disable(MODULE, default_set=True)
    off = footprint()
    for key in ("classes", "scene_property", "operators", "handlers", "keymap_items", "timers"):
        check(f"disable leaves no {key}", off[key] == clean[key], f"{off[key]} vs {clean[key]}")
    addon_utils.enable(MODULE, default_set=True)
    again = footprint()
    check("re-enable registers the same things", {k: again[k] for k in ("classes", "operators", "handlers")}
          == {k: on[k] for k in ("classes", "operators", "handlers")})
    run_operator("after re-enable")
    addon_utils.disable(MODULE, default_set=True)
    check("second disable is clean", footprint()["classes"] == clean["classes"])
    return finish()


def finish():
    ok = all(c["ok"] for c in checks)
    print("INSTALL_CHECK " + json.dumps({"ok": ok, "blender": bpy.app.version_string,
                                         "python": sys.version.split()[0], "checks": checks}), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    code = main(argv)
    if bpy.app.background:
        sys.exit(code)
