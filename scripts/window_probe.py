"""What the real-window probes share: a 10 ms ticker's gaps are the frames the interface spent
drawing or waiting; the add-on's main-thread Python is timed and the viewport's region draws noted,
so that each slow frame can be split into its parts. Imported by real_blender_training_probe.py and
real_blender_jobs_probe.py (run inside real Blender with the installed extension)."""

import subprocess
import sys
import time

import bpy

MODULE = "bl_ext.user_default.design_space"
calls = []  # (start, seconds, what): Python run by Blender between two probe ticks, to explain slow frames


def timed(what, function):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            calls.append((start, time.perf_counter() - start, what))
    return wrapper


# Blender passes a registered method as many arguments as its code names: the wrappers keep the count.
METHOD_WRAPPERS = {
    "draw": lambda f: (lambda self, context: f(self, context)),
    "modal": lambda f: (lambda self, context, event: f(self, context, event)),
    "draw_item": lambda f: (lambda self, context, layout, data, item, icon, active_data, active_propname, index:
                            f(self, context, layout, data, item, icon, active_data, active_propname, index)),
}


def instrument():
    """Time the add-on's main-thread Python (timer, listeners, panel draws, the modal handler) and note
    when the viewport's regions are drawn, so each slow frame can be split into its parts."""
    module = sys.modules[MODULE]
    calls.append((time.perf_counter(), 0.0, "instrumented"))
    jobs = runner()
    jobs._poll = timed("job timer", jobs._poll)
    jobs.listeners[:] = [timed(getattr(f, "__name__", "listener"), f) for f in jobs.listeners]
    for cls in module.panels.classes + module.operators.classes:
        for name, wrap in METHOD_WRAPPERS.items():
            if name in cls.__dict__:
                setattr(cls, name, wrap(timed(f"{cls.__name__}.{name}", cls.__dict__[name])))
    for region in ("WINDOW", "UI", "HEADER"):
        bpy.types.SpaceView3D.draw_handler_add(
            lambda r=region: calls.append((time.perf_counter(), 0.0, f"draw {r}")), (), region, 'POST_PIXEL')


def explain(start, end):
    """What ran between two ticks: Python seconds per callback and which regions were drawn."""
    parts = {}
    for when, seconds, what in calls:
        if start <= when <= end:
            parts[what] = parts.get(what, 0.0) + seconds
    return {what: round(1000 * seconds, 1) for what, seconds in parts.items()}


def view3d_override():
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == 'VIEW_3D')
    region = next(r for r in area.regions if r.type == 'WINDOW')
    return dict(window=window, area=area, region=region)


def show_design_space_tab():
    """Open the sidebar and click its Design Space tab (see real_blender_panel.py for why a click)."""
    for area in bpy.context.window_manager.windows[0].screen.areas:
        if area.type == 'VIEW_3D':
            area.spaces.active.show_region_ui = True
    clicks = ["xdotool", "sleep", "0.5", "mousemove", "1308", "226", "sleep", "0.3", "click", "1", "sleep", "0.3"]
    for i in range(6):  # fold the sections above Learning (headers 27.5 px apart once folded)
        clicks += ["mousemove", "1080", str(int(97 + 27.5 * i)), "sleep", "0.2", "click", "1", "sleep", "0.3"]
    subprocess.Popen(clicks + ["mousemove", "700", "450"])


def runner():
    return sys.modules[MODULE + ".operators.background_jobs"].runner


def gap_figures(gaps):
    gaps = sorted(gaps)
    drawn = [gap for gap in gaps if gap > 0.02]  # ticks that waited for a redraw (the probe ticks every 10 ms)
    return {"max_gap_ms": 1000 * gaps[-1], "median_gap_ms": 1000 * gaps[len(gaps) // 2],
            "drawn_frames": len(drawn), "drawn_median_ms": 1000 * drawn[len(drawn) // 2] if drawn else 0.0,
            "p99_gap_ms": 1000 * gaps[int(0.99 * len(gaps))], "frames": len(gaps),
            "frames_over_100_ms": sum(gap > 0.1 for gap in gaps)}


def redraw_sidebar():
    for area in bpy.context.window_manager.windows[0].screen.areas:
        if area.type == 'VIEW_3D':
            next(r for r in area.regions if r.type == 'UI').tag_redraw()
