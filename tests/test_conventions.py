"""Blender conventions: every operator sits in the Design Space menu with a label and a tooltip; every
property of every operator, property group and the preferences says what it is."""


def _property_problems(cls) -> list:
    """Registered properties (as Blender sees them) without a tooltip; hidden ones need none."""
    ours = {name for base in cls.__mro__ for name in getattr(base, "__annotations__", {})}
    return [f"{cls.__name__}.{p.identifier} has no description" for p in cls.bl_rna.properties
            if p.identifier in ours and not p.is_hidden and not p.description.strip()]


def test_every_operator_is_in_the_menu_with_a_label_and_a_tooltip(addon, blender):
    in_menu = {f"design_space.{idname}" for _, _, idnames in addon.menus.SECTIONS for idname in idnames}
    operators = {cls.bl_idname: cls for cls in addon.operators.classes}
    assert set(operators) == in_menu
    for idname, cls in operators.items():
        assert cls.bl_label and cls.__doc__ and len(cls.__doc__.strip()) > 20, idname
        group, name = idname.split(".")
        assert getattr(getattr(blender.ops, group), name).get_rna_type().description == cls.__doc__.strip()
    assert hasattr(blender.types, "VIEW3D_MT_design_space")


def test_every_property_has_a_description(addon):
    classes = list(addon.operators.classes) + list(addon.properties.classes) + list(addon.preferences.classes)
    problems = [p for cls in classes for p in _property_problems(cls)]
    assert problems == []


# The menu's sections are the capabilities; each capability's operators live in the operators package named for
# it, so a newcomer finds a feature's operator by the menu entry alone. Shared operators (loading a model file,
# cancelling a job, installing torch) sit in operators/ itself.
SECTION_PACKAGES = {"Data": "data", "Learning": "prediction", "Shape Space": "shape_space", "Part Assembly": "parts",
                    "Comparisons": "comparisons", "Recognition": "recognition", "Volumes": "volumes"}
SHARED_OPERATORS = {"load_model", "cancel_job", "install_torch"}


def test_each_capability_has_its_operators_in_its_own_package(addon):
    by_idname = {cls.bl_idname.split(".")[1]: cls for cls in addon.operators.classes}
    root = addon.operators.__name__
    misplaced = []
    for label, _, idnames in addon.menus.SECTIONS:
        for idname in idnames:
            expected = root if idname in SHARED_OPERATORS else f"{root}.{SECTION_PACKAGES[label]}"
            module = by_idname[idname].__module__
            if module.rsplit(".", 1)[0] != expected or module.rsplit(".", 1)[1] != idname:
                misplaced.append(f"{idname}: {module} (expected {expected}.{idname})")
    assert misplaced == []
