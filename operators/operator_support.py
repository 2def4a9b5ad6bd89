"""What every Design Space operator shares: turning bad input into a report that names the fix."""

from __future__ import annotations

import functools

from ..shapespace.off_format import MeshFileError
from .mesh_bridge import BridgeError

# Errors that mean "the user's input is wrong", as opposed to a bug in Design Space.
USER_ERRORS = (BridgeError, MeshFileError, FileNotFoundError, NotADirectoryError, PermissionError, ValueError)


def reports_errors(execute):
    """Wrap an operator's execute: bad input becomes an ERROR report and CANCELLED.

    An ERROR report makes `bpy.ops.design_space.*` raise RuntimeError with the same message,
    so scripts see the failure too.
    """

    @functools.wraps(execute)
    def wrapper(self, context):
        try:
            return execute(self, context)
        except USER_ERRORS as error:
            self.report({'ERROR'}, str(error))
            return {'CANCELLED'}

    return wrapper
