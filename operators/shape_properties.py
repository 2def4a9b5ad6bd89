"""What the shapes of a collection say about themselves: numeric attributes and class labels,
read from custom properties (and, for labels, the child collection a shape sits in). Shared by
every operator that learns from labelled or measured shapes."""

from __future__ import annotations

import math

import numpy as np

SEED_PROPERTY = "design_space_seed"  # written by the procedural families; not an attribute of the shape


def numeric_attribute_names(shapes) -> list[str]:
    names = set()
    for shape in shapes:
        names |= {k for k, v in shape.attributes.items() if isinstance(v, (int, float, bool))}
    return sorted(names - {SEED_PROPERTY})


def attribute_targets(shapes, target: str, skip_incomplete: bool):
    """(kept shapes, target values) or a ValueError naming the shapes that lack a usable value."""
    values, missing = [], []
    for shape in shapes:
        value = shape.attributes.get(target)
        if isinstance(value, (bool, int, float)) and math.isfinite(float(value)):
            values.append(float(value))
        else:
            missing.append(shape.name)
    if missing and not skip_incomplete:
        listed = ", ".join(f"'{n}'" for n in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ValueError(f"{len(missing)} shape{' has' if len(missing) == 1 else 's have'} no number in '{target}': "
                         f"{listed}; give {'it' if len(missing) == 1 else 'them'} a value "
                         "or enable 'Skip Incomplete Shapes'")
    kept = [s for s in shapes if s.name not in set(missing)]
    if not values:
        raise ValueError(f"No shape has a number in '{target}'; the shapes have: "
                         + ", ".join(numeric_attribute_names(shapes)[:12]))
    if len(values) < 2:  # one shape is not a constant attribute: say which it is
        raise ValueError(f"Only 1 shape has a number in '{target}' ('{kept[0].name}'); learning to predict it needs "
                         "at least 2 (dozens are better): add shapes with a value")
    if len(set(values)) < 2:
        raise ValueError(f"'{target}' has the same value on every shape; there is nothing to learn")
    return kept, np.array(values, dtype=np.float32)[:, None]


def shape_labels(collection, shapes, label_property: str) -> list:
    """A label per shape: its `label_property`, else the name of the child collection holding it."""
    holder = {}
    for child in collection.children_recursive:
        for obj in child.objects:
            holder.setdefault(obj.name, child.name)
    labels, missing = [], []
    for shape in shapes:
        value = shape.attributes.get(label_property)
        if isinstance(value, (str, int, bool)) and str(value):
            labels.append(str(value))
        elif shape.name in holder:
            labels.append(holder[shape.name])
        else:
            missing.append(shape.name)
    if missing:
        one = len(missing) == 1
        raise ValueError(f"{len(missing)} {'shape has' if one else 'shapes have'} no '{label_property}' and "
                         f"{'sits' if one else 'sit'} in no child collection ('{missing[0]}'…); give "
                         f"{'it' if one else 'them'} the property or sort {'it' if one else 'them'} into child "
                         "collections")
    return labels
