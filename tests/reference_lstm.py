"""Float64 numpy re-derivations of Keras' LSTM and SimpleRNN layers, from Keras' cell equations
(LSTM gate order i, f, c, o; SimpleRNN h' = act(x.W + b + h.U)) with the GRU's masking rules
(docs/KERAS_FORMATS.md §12): a masked step carries every state unchanged and repeats the last
output (zeros before the first unmasked step), or outputs zeros with zero_output_for_mask.

It never calls fastgru, so tests can hold the C kernels against an independent reference.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from reference_gru import reference_activation, run_cell


def _initial(initial_state, B: int, u: int) -> np.ndarray:
    return np.zeros((B, u)) if initial_state is None else np.array(initial_state, dtype=np.float64)


def lstm_reference(x, kernel, recurrent_kernel, bias, *, activation: str = "tanh",
                   recurrent_activation: str = "sigmoid", go_backwards: bool = False,
                   return_sequences: bool = False, mask: Optional[np.ndarray] = None,
                   initial_state: Optional[Sequence[np.ndarray]] = None,
                   zero_output_for_mask: bool = False
                   ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keras LSTM forward pass in float64: x (B, T, F), kernel (F, 4u), recurrent_kernel
    (u, 4u), bias None or (4u,); initial_state None or [h0, c0]. Returns (y, h, c)."""
    x = np.asarray(x, dtype=np.float64)
    W = np.asarray(kernel, dtype=np.float64)
    U = np.asarray(recurrent_kernel, dtype=np.float64)
    u = U.shape[0]
    b = np.zeros(4 * u) if bias is None else np.asarray(bias, dtype=np.float64)

    def act(v):
        return reference_activation(activation, v)

    def ract(v):
        return reference_activation(recurrent_activation, v)

    def step(xt, states):
        h, c = states
        z = xt @ W + h @ U + b
        i, f, o = ract(z[:, :u]), ract(z[:, u:2 * u]), ract(z[:, 3 * u:])
        c_new = f * c + i * act(z[:, 2 * u:3 * u])
        return [o * act(c_new), c_new]

    B = x.shape[0]
    h0, c0 = (None, None) if initial_state is None else initial_state
    y, (h, c) = run_cell(x, step, [_initial(h0, B, u), _initial(c0, B, u)],
                          go_backwards=go_backwards, return_sequences=return_sequences,
                          mask=mask, zero_output_for_mask=zero_output_for_mask)
    return y, h, c


def simple_rnn_reference(x, kernel, recurrent_kernel, bias, *, activation: str = "tanh",
                         go_backwards: bool = False, return_sequences: bool = False,
                         mask: Optional[np.ndarray] = None,
                         initial_state: Optional[np.ndarray] = None,
                         zero_output_for_mask: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Keras SimpleRNN forward pass in float64: kernel (F, u), recurrent_kernel (u, u), bias
    None or (u,). Returns (y, h)."""
    x = np.asarray(x, dtype=np.float64)
    W = np.asarray(kernel, dtype=np.float64)
    U = np.asarray(recurrent_kernel, dtype=np.float64)
    u = U.shape[0]
    b = np.zeros(u) if bias is None else np.asarray(bias, dtype=np.float64)

    def step(xt, states):
        return [reference_activation(activation, xt @ W + b + states[0] @ U)]

    y, (h,) = run_cell(x, step, [_initial(initial_state, x.shape[0], u)],
                        go_backwards=go_backwards, return_sequences=return_sequences, mask=mask,
                        zero_output_for_mask=zero_output_for_mask)
    return y, h


def _spec_op(op, env, carried, run):
    """A recurrent op of a ModelSpec through `run(x, weights, starts, attrs, mask)` -> [y,
    *final states]; stateful ops carry their states in `carried` (spec_reference.run_spec)."""
    x, mask_name, *start_names = op.inputs
    starts = [env[n] if n is not None else None for n in start_names]
    key = op.outputs[0]
    if op.attrs["stateful"] and all(s is None for s in starts) and key in carried:
        starts = carried[key]
    results = run(env[x], op.weights, starts, op.attrs,
                  env[mask_name] if mask_name is not None else None)
    if op.attrs["stateful"]:
        carried[key] = results[1:]
    return results


def _options(a, mask):
    return dict(activation=a["activation"], go_backwards=a["go_backwards"],
                return_sequences=a["return_sequences"], mask=mask,
                zero_output_for_mask=a["zero_output_for_mask"])


def spec_lstm(op, env, carried):
    def run(x, w, starts, a, mask):
        h0, c0 = starts
        zeros = np.zeros((x.shape[0], a["units"]))
        initial = None if h0 is None and c0 is None else [
            zeros if h0 is None else h0, zeros if c0 is None else c0]
        return list(lstm_reference(x, w["kernel"], w["recurrent_kernel"], w.get("bias"),
                                   recurrent_activation=a["recurrent_activation"],
                                   initial_state=initial, **_options(a, mask)))
    return _spec_op(op, env, carried, run)


def spec_simple_rnn(op, env, carried):
    def run(x, w, starts, a, mask):
        return list(simple_rnn_reference(x, w["kernel"], w["recurrent_kernel"], w.get("bias"),
                                         initial_state=starts[0], **_options(a, mask)))
    return _spec_op(op, env, carried, run)


# op kind -> its reference, for spec_reference.run_spec
SPEC_OPS = {"lstm": spec_lstm, "simple_rnn": spec_simple_rnn}
