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
