"""A float64 numpy evaluation of a ``fastgru.CustomGRU``'s declared equations: it walks the
parse trees (not the bytecode the C kernels run), so tests hold the compiler and the kernels
against the equations. Weights come in the Keras layout, blocks in the cell's gate_order."""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from reference_gru import reference_activation

_BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
           "min": np.minimum, "max": np.maximum,
           "gt": lambda a, b: (a > b).astype(np.float64)}
_UNARY = {"neg": np.negative, "abs": np.abs, "exp": np.exp, "log": np.log, "sqrt": np.sqrt}


def evaluate(node, env: dict) -> np.ndarray:
    """One parse tree in float64; `env` maps names to arrays."""
    kind = node[0]
    if kind == "const":
        return np.float64(node[1])
    if kind == "load":
        return env[node[1]]
    if kind == "act":
        return reference_activation(node[1], evaluate(node[2], env))
    if kind == "pow":
        return np.power(evaluate(node[1], env), node[2])
    if kind in _UNARY:
        return _UNARY[kind](evaluate(node[1], env))
    return _BINARY[kind](evaluate(node[1], env), evaluate(node[2], env))


def custom_gru_reference(cell, x, kernel, recurrent_kernel, bias, *, go_backwards=False,
                         return_sequences=False, mask=None,
                         initial_state: Optional[np.ndarray] = None,
                         zero_output_for_mask=False) -> Tuple[np.ndarray, np.ndarray]:
    """(y, h_final) of the RNN over `cell` in float64, as gru_reference (reference_gru.py)."""
    x = np.asarray(x, dtype=np.float64)
    B, T, _ = x.shape
    u = np.asarray(recurrent_kernel).shape[0]
    order = cell.block_permutation(u)
    W = np.asarray(kernel, dtype=np.float64)[:, order]
    U = np.asarray(recurrent_kernel, dtype=np.float64)[:, order]
    b_in, b_rec = np.zeros(3 * u), np.zeros(3 * u)
    if bias is not None:
        bias = np.asarray(bias, dtype=np.float64)[..., order]
        b_in, b_rec = (bias[0], bias[1]) if bias.ndim == 2 else (bias, b_rec)
    keep = np.ones((B, T), dtype=bool) if mask is None else np.asarray(mask).astype(bool)
    h = np.zeros((B, u)) if initial_state is None else np.array(initial_state, dtype=np.float64)
    prev_out = np.zeros((B, u))
    outputs = []
    for t in (range(T - 1, -1, -1) if go_backwards else range(T)):
        xw = x[:, t, :] @ W + b_in
        hu = h @ U + b_rec
        env = {"xz": xw[:, :u], "xr": xw[:, u:2 * u], "xh": xw[:, 2 * u:], "hz": hu[:, :u],
               "hr": hu[:, u:2 * u], "hh": hu[:, 2 * u:], "h_prev": h}
        env["z"] = evaluate(cell.trees["z"], env)
        env["r"] = evaluate(cell.trees["r"], env)
        if not cell.reset_after:
            env["hh"] = (env["r"] * h) @ U[:, 2 * u:] + b_rec[2 * u:]
        env["candidate"] = evaluate(cell.trees["candidate"], env)
        h_new = np.broadcast_to(evaluate(cell.trees["h"], env), h.shape)
        m = keep[:, t][:, None]
        h = np.where(m, h_new, h)
        prev_out = np.where(m, h_new, 0.0 if zero_output_for_mask else prev_out)
        outputs.append(prev_out)
    if return_sequences:
        return (np.stack(outputs, axis=1) if outputs else np.zeros((B, 0, u))), h
    return prev_out, h


def custom_gru_op(op, env, carried):
    """spec_reference's custom_gru: the gru op's wiring with the cell's equations."""
    x, mask_name, h0_name = op.inputs
    a, w = op.attrs, op.weights
    h0 = env[h0_name] if h0_name is not None else None
    key = op.outputs[0]
    if a.get("stateful") and h0 is None and key in carried:
        h0 = carried[key]
    y, h = custom_gru_reference(a["cell"], env[x], w["kernel"], w["recurrent_kernel"],
                                w.get("bias"), go_backwards=a.get("go_backwards", False),
                                return_sequences=a.get("return_sequences", False),
                                mask=env[mask_name] if mask_name is not None else None,
                                initial_state=h0,
                                zero_output_for_mask=a.get("zero_output_for_mask", False))
    if a.get("stateful"):
        carried[key] = h
    return [y, h]
