"""PyTorch on demand: the extension never carries torch (gigabytes); the preferences detect it and this
operator installs a pinned build into the extension's own user folder with pip, in the background
(progress in the status bar, Cancel stops it). It respects Blender's Allow Online Access; a folder
of wheels (torch and what it needs) installs with no network at all."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import bpy
from bpy.props import EnumProperty, StringProperty

from .background_jobs import Job, Progress, runner, start_and_report
from .data_sources import ADDON_PACKAGE
from .operator_support import reports_errors

TORCH_VERSION = "2.13.0"  # the version Design Space is tested with
INDEXES = {'CPU': "https://download.pytorch.org/whl/cpu", 'CUDA': "https://download.pytorch.org/whl/cu128"}
INDEX_ENV = "DESIGN_SPACE_TORCH_INDEX"  # a mirror's URL, or a folder of wheels (offline sites, tests)
_PHASES = (("Looking in", 0.05), ("Collecting", 0.1), ("Downloading", 0.3), ("Installing collected", 0.8),
           ("Successfully installed", 1.0))


def packages_dir(create: bool = False) -> Path | None:
    """The extension's own site-packages folder, where PyTorch goes (None outside an extension)."""
    try:
        return Path(bpy.utils.extension_path_user(ADDON_PACKAGE, path="site-packages", create=create))
    except (ValueError, AttributeError):
        return None


def add_packages_to_path() -> None:
    """Make what was installed importable (after Blender's own packages, so its numpy stays first)."""
    folder = packages_dir()
    if folder is not None and folder.is_dir() and str(folder) not in sys.path:
        sys.path.append(str(folder))
        importlib.invalidate_caches()


def torch_status() -> str:
    """One line for the preferences: which PyTorch Design Space would use, or that there is none."""
    if importlib.util.find_spec("torch") is None:
        return "PyTorch is not installed: neural networks are off (closed-form models and geometry work)"
    try:
        version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown version"
    return f"PyTorch {version} is installed"


def online_allowed() -> bool:
    return bool(getattr(bpy.app, "online_access", True))


def ensure_pip() -> None:
    """pip for this Python: Blender from blender.org has it (or ensurepip); a Linux distribution's Blender
    may have neither, and then the message says what to do instead."""
    if importlib.util.find_spec("pip") is not None:
        return
    result = subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], capture_output=True, text=True)
    importlib.invalidate_caches()
    if result.returncode != 0 or importlib.util.find_spec("pip") is None:
        raise ValueError(f"This Blender's Python ({sys.executable}) has no pip, so Design Space cannot install "
                         "PyTorch itself; install torch with your system's package manager (for example "
                         "apt install python3-torch) or use Blender from blender.org")


def pip_command(variant: str, wheel_folder: str, target: Path) -> list:
    """The pip call: from a folder of wheels (no network), or the pinned build from PyTorch's index."""
    command = [sys.executable, "-m", "pip", "install", "--target", str(target), "--upgrade",
               "--disable-pip-version-check", "--no-warn-script-location"]
    source = wheel_folder.strip() or os.environ.get(INDEX_ENV, "")
    if source and Path(bpy.path.abspath(source)).is_dir():
        return command + ["--no-index", "--find-links", bpy.path.abspath(source), f"torch=={TORCH_VERSION}"]
    if not online_allowed():
        raise ValueError("Blender's online access is off (Preferences ▸ System ▸ Network ▸ Allow Online Access); "
                         "allow it, or choose a folder holding the torch wheel and what it needs")
    return command + ["--index-url", source or INDEXES[variant], f"torch=={TORCH_VERSION}"]


class TorchInstallJob(Job):
    """pip in a process of its own; its output lines become progress."""

    push_undo = False

    def __init__(self, command: list, target: Path):
        self.command, self.target = command, target
        self.label = f"Install PyTorch {TORCH_VERSION}"

    def work(self, report, should_stop):
        process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        fraction, tail = 0.0, []
        for line in process.stdout:
            if should_stop():
                process.terminate()
                process.wait()
                return {"cancelled": True}
            line = line.strip()
            if not line:
                continue
            tail = (tail + [line])[-8:]
            fraction = max([fraction] + [f for prefix, f in _PHASES if line.startswith(prefix)])
            report(Progress(fraction, re.sub(r"\s+", " ", line)[:90], {}))
        if process.wait() != 0:
            raise RuntimeError("pip could not install PyTorch: " + " / ".join(tail[-3:]))
        return {"cancelled": False}

    def apply(self, context, result):
        if result["cancelled"]:
            return 'WARNING', "PyTorch installation cancelled"
        add_packages_to_path()
        return 'INFO', f"Installed PyTorch {TORCH_VERSION} into {self.target}; neural networks are on"

    def discard(self, reason: str) -> None:
        pass


class DESIGN_SPACE_OT_install_torch(bpy.types.Operator):
    """Install the pinned PyTorch into Design Space's own user folder (needs Allow Online Access, or a folder of wheels); runs in the background"""

    bl_idname = "design_space.install_torch"
    bl_label = "Install PyTorch"
    bl_options = {'REGISTER'}

    variant: EnumProperty(
        name="Build", description="Which PyTorch build to download",
        items=[('CPU', "CPU", "Works on every machine (about 200 MB)"),
               ('CUDA', "CUDA (NVIDIA GPU)", "Trains on an NVIDIA GPU (several GB)")],
        default='CPU')
    wheel_folder: StringProperty(name="Wheel Folder", description="A folder holding the torch wheel and the wheels "
                                 "it needs: installs with no network (empty: download)", subtype='DIR_PATH')

    @classmethod
    def poll(cls, context):
        return not runner.running

    @reports_errors
    def execute(self, context):
        target = packages_dir(create=True)
        if target is None:
            raise ValueError("Design Space is not installed as an extension, so it has no user folder for PyTorch; "
                             "install torch into Blender's Python instead")
        command = pip_command(self.variant, self.wheel_folder, target)
        ensure_pip()
        job = TorchInstallJob(command, target)
        start_and_report(self, job, context)
        return {'FINISHED'}
