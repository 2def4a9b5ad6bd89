"""What every Design Space operator shares: turning bad input into a report that names the fix."""

from __future__ import annotations

import functools

from ..shapespace.off_format import MeshFileError
from .mesh_bridge import BridgeError

# Errors that mean "the user's input is wrong", as opposed to a bug in Design Space.
# ImportError: a feature that needs PyTorch where it is missing (the message says what to do).
USER_ERRORS = (BridgeError, MeshFileError, FileNotFoundError, NotADirectoryError, PermissionError, ValueError,
               ImportError, RuntimeError)


def reports_errors(execute):
    """Wrap an operator's execute or invoke: bad input becomes an ERROR report and CANCELLED.

    An ERROR report makes `bpy.ops.design_space.*` raise RuntimeError with the same message,
    so scripts see the failure too.
    """

    def report(self, error):
        self.report({'ERROR'}, str(error))
        return {'CANCELLED'}

    # Blender checks the argument count of execute (self, context) and invoke (self, context, event).
    if execute.__code__.co_argcount == 3:
        @functools.wraps(execute)
        def invoke_wrapper(self, context, event):
            try:
                return execute(self, context, event)
            except USER_ERRORS as error:
                return report(self, error)

        return invoke_wrapper

    @functools.wraps(execute)
    def wrapper(self, context):
        try:
            return execute(self, context)
        except USER_ERRORS as error:
            return report(self, error)

    return wrapper
