"""Models and training, free of Blender."""

import importlib


def shapespace(name: str):
    """The module shapespace.<name>, beside this package: inside the installed extension `learning` is a
    subpackage (…design_space.learning), in the worker process a top-level package, and a plain
    `from shapespace import …` works only in the second."""
    parent = __name__.rpartition(".")[0]
    return importlib.import_module(f"{parent}.shapespace.{name}" if parent else f"shapespace.{name}")
