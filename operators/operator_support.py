"""What every Design Space operator shares: turning bad input into a report that names the fix."""

from __future__ import annotations

import functools

from ..shapespace.off_format import MeshFileError
from .mesh_bridge import BridgeError

# Errors that mean "the user's input is wrong", as opposed to a bug in Design Space.
# ImportError: a feature that needs PyTorch where it is missing (the message says what to do).
USER_ERRORS = (BridgeError, MeshFileError, OSError, ValueError, ImportError, RuntimeError)

# What a raw OSError from Python ("[Errno 2] No such file or directory: 'x'") means, said as a fix.
_OS_ERROR_ADVICE = {
    FileNotFoundError: "does not exist; check the path (a relative path starts at the .blend file's folder)",
    IsADirectoryError: "is a folder; choose a file inside it",
    NotADirectoryError: "is not a folder (a part of the path is a file); check the path",
    PermissionError: "cannot be read or written (permission denied); choose another place or fix its permissions",
}


def user_message(error: BaseException) -> str:
    """The report for an error: its own message, or for a raw OSError the file and what to do."""
    if isinstance(error, OSError) and error.filename is not None and str(error).startswith("[Errno"):
        for kind, advice in _OS_ERROR_ADVICE.items():
            if isinstance(error, kind):
                return f"'{error.filename}' {advice}"
        return f"'{error.filename}': {error.strerror or 'cannot be used'}; check the path and the disk"
    return str(error)


def reports_errors(execute):
    """Wrap an operator's execute or invoke: bad input becomes an ERROR report and CANCELLED.

    An ERROR report makes `bpy.ops.design_space.*` raise RuntimeError with the same message,
    so scripts see the failure too.
    """

    def report(self, error):
        self.report({'ERROR'}, user_message(error))
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
