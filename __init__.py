"""Design Space: machine learning for geometric modeling, trained on your own collections."""

from . import menus, operators, panels, preferences, properties

_modules = (preferences, properties, operators, panels, menus)


def register():
    for module in _modules:
        module.register()


def unregister():
    for module in reversed(_modules):
        module.unregister()
