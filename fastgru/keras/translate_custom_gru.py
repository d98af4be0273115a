"""Keras custom GRU cells declared as ``fastgru.CustomGRU`` (``custom_objects={"MyCell":
fastgru.CustomGRU(...)}``): the cell inside ``RNN(...)`` or ``Bidirectional(RNN(...))``, or a
custom GRU layer class mapped as a whole. They run as the GRU family's ops (translate.py) with
kind ``custom_gru``; this module supplies what the cell's config does not say: units from the
weight shapes when the config has none, the bias from the weights the file holds. (A whole
custom GRU layer class mapped to a CustomGRU is translate.py's RNN over that cell.)"""
from __future__ import annotations


def custom_cell_config(b, layer, cell, cell_cfg, weight_prefix) -> dict:
    """A GRUCell-like config for the custom cell `cell` of `layer` (its own config
    `cell_cfg`): units, reset_after and use_bias, plus the bias shape the file holds.
    `weight_prefix` is "forward_" / "backward_" inside a Bidirectional, whose weights hold the
    two directions one after the other."""
    refs = list(b.weights.get(layer.name, []))
    if weight_prefix in ("forward_", "backward_"):
        half = len(refs) // 2
        refs = refs[:half] if weight_prefix == "forward_" else refs[half:]
    if len(refs) not in (2, 3):
        b.fail(layer.name, f"custom GRU cell {weight_prefix}weights: expected kernel, "
                           f"recurrent_kernel and an optional bias, found {len(refs)} weights")
    shapes = [tuple(r.shape) for r in refs]
    if len(shapes[1]) != 2:
        b.fail(layer.name, f"custom GRU cell {weight_prefix}recurrent_kernel has shape "
                           f"{shapes[1]}, expected (units, 3 * units)")
    units = cell_cfg.get("units", shapes[1][0])
    units = b.dim(layer.name, f"{weight_prefix}units", units)
    config = {"units": units, "reset_after": cell.reset_after, "use_bias": len(refs) == 3}
    if len(refs) == 3:
        if shapes[2] not in ((3 * units,), (2, 3 * units)):
            b.fail(layer.name, f"custom GRU cell {weight_prefix}bias has shape {shapes[2]}, "
                               f"expected ({3 * units},) or (2, {3 * units})")
        config["bias_shape"] = shapes[2]
    return config

