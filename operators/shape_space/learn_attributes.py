"""Learn attribute sliders for a shape space (Allen et al. 2003): a map from the training shapes'
attributes (custom properties) to their component coordinates, by least squares, ridge or lasso
with λ chosen by k-fold cross-validation, and the reverse map that estimates attributes."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from ..image_bridge import write_image
from ..mesh_bridge import read_custom_properties
from ..model_store import add_model_entry, new_model_path
from ..operator_support import reports_errors
from .shape_editing import attach_sliders, shape_space_path_of

FIT_IMAGE = "Design Space Attribute Fit"
SKIPPED = ("design_space_", "shape_space_", "predicted_")


def attribute_names(records) -> list[str]:
    """Attributes every record has (numbers, booleans, text), without Design Space's own."""
    common = None
    for record in records:
        names = {k for k, v in record.items() if isinstance(v, (bool, int, float, str)) and not k.startswith(SKIPPED)}
        common = names if common is None else common & names
    return sorted(common or ())


def cross_validation_picture(record):
    """Training and held-out error against log10 λ (one dot for least squares)."""
    from ...learning.training_plot import plot_curves

    lambdas = np.asarray(record.lambdas, dtype=np.float64)
    x = np.log10(np.maximum(lambdas, 1e-12)) if len(lambdas) > 1 else np.zeros(1)
    best = int(np.argmin(record.validation_error))
    return plot_curves({"epoch": x, "train_loss": record.train_error, "val_loss": record.validation_error,
                        "best_epoch": float(x[best])}, 320, 240, log_scale=True)


def learn_attributes(context, space_path, attributes, method: str, folds: int, skip_incomplete: bool):
    from ...learning.attribute_space import encode_attributes, fit_attribute_space, save_attribute_space
    from ...learning.shape_space import load_shape_space
    from ...learning.training_plot import write_png

    space, _, _, metadata = load_shape_space(space_path)
    coefficients = space_arrays_coefficients(space_path)
    names = list(metadata["attribute_names"])
    missing = [n for n in names if n not in bpy.data.objects]
    if missing:
        raise ValueError(f"{len(missing)} shapes the space was learned from are gone (deleted or renamed): "
                         f"'{missing[0]}'…; learn the shape space again")
    records = [read_custom_properties(bpy.data.objects[n]) for n in names]
    if not attributes:
        raise ValueError("Name the attributes to learn (comma separated); the shapes have: "
                         + ", ".join(attribute_names(records)[:15]))
    table, kept = encode_attributes(records, attributes, names, skip_incomplete)
    model = fit_attribute_space(table, coefficients[kept], method.lower(), folds=folds)
    collection = metadata["collection"]
    name = f"{collection} Attributes"
    path = new_model_path(name)
    shape_space_file = space_path.name if space_path.parent == path.parent else str(space_path)
    rmse = {c: float(e) for c, e in zip(table.columns, model.estimate_rmse)}
    save_attribute_space(path, model, shape_space_file=shape_space_file, collection=collection,
                         method=method.lower(), metrics={f"rmse_{c}": e for c, e in rmse.items()} | {
                             "shapes": len(kept), "lambda": model.forward.lam})
    picture = cross_validation_picture(model.forward_cv)
    write_image(FIT_IMAGE, picture, keep=True)
    write_png(path.with_suffix(".cv.png"), picture)
    summary = ", ".join(f"{c} ±{e:.3g}" for c, e in rmse.items())
    add_model_entry(context.scene, name, "shape_attributes", path, collection, ", ".join(table.columns),
                    f"held-out error {summary}")
    # sliders on the space's own object, at the mean shape's estimated attributes
    for obj in bpy.data.objects:
        if obj.get("design_space_kind") == "shape_space" and obj.type == 'MESH' and \
                bpy.path.abspath(obj.get("design_space_model", "")) == str(space_path):
            current = np.asarray(obj.get("shape_space_coefficients", np.zeros(space.k)), dtype=np.float64)
            attach_sliders(obj, path, model.estimate(current[None])[0], current)
    return name, table, model, len(names) - len(kept)


def space_arrays_coefficients(space_path):
    from ...learning.model_files import load_model_file

    arrays = load_model_file(space_path, expected_kind="shape_space").arrays
    if "coefficients" not in arrays:
        raise ValueError(f"'{space_path.name}' was learned by an older Design Space without the shapes' "
                         "coordinates; learn the shape space again")
    return arrays["coefficients"]


class DESIGN_SPACE_OT_learn_attributes(bpy.types.Operator):
    """Learn one slider per attribute (custom property) for the shape space: moving a slider changes the shape while the other attributes stay where they are"""

    bl_idname = "design_space.learn_attributes"
    bl_label = "Learn Attributes"
    bl_options = {'REGISTER', 'UNDO'}

    attributes: StringProperty(name="Attributes", description="Custom properties of the training shapes, "
                               "separated by commas (empty: the Attributes field of the panel)")
    method: EnumProperty(name="Method", description="How the map from attributes to shapes is fitted",
                         items=[('RIDGE', "Ridge", "Least squares with an L2 penalty chosen by cross-validation"),
                                ('LASSO', "Lasso", "Least squares with an L1 penalty chosen by cross-validation "
                                                   "(sparse: attributes touch fewer components)"),
                                ('LEAST_SQUARES', "Least Squares", "No penalty")],
                         default='RIDGE')
    folds: IntProperty(name="Folds", description="Cross-validation folds used to choose λ", default=5, min=2,
                       max=20)
    skip_incomplete: BoolProperty(name="Skip Incomplete Shapes", description="Leave out shapes that lack an "
                                  "attribute (or hold NaN) instead of stopping", default=False)

    @reports_errors
    def execute(self, context):
        text = self.attributes.strip() or context.scene.design_space.shape_attributes.strip()
        wanted = [a.strip() for a in text.split(",") if a.strip()]
        space_path = shape_space_path_of(context, context.active_object)
        name, table, model, skipped = learn_attributes(context, space_path, wanted, self.method, self.folds,
                                                      self.skip_incomplete)
        errors = ", ".join(f"{c} ±{e:.3g}" for c, e in zip(table.columns, model.estimate_rmse))
        note = f"; {skipped} incomplete shapes left out" if skipped else ""
        notes = list(getattr(model, "notes", None) or [])  # e.g. λ still at the edge of its widened grid
        self.report({'WARNING'} if notes else {'INFO'},
                    f"Learned '{name}' from {len(table.values)} shapes (λ {model.forward.lam:.3g}); held-out error of "
                    f"the estimates: {errors}{note}" + "".join(f"; {n}" for n in notes))
        return {'FINISHED'}
