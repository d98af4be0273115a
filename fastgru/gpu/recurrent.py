"""The LSTM and SimpleRNN cells on an array module (Keras' maths: LSTM gates i, f, c, o,
c' = f * c + i * g, h' = o * act(c'); SimpleRNN h' = act(x.W + b + h.U); masks as for the
GRU, docs/KERAS_FORMATS.md §12): the input projection of every step as one GEMM, then per
step the recurrent GEMM and the gate maths as array operations."""
from __future__ import annotations

from . import activations


class CellWeights:
    """An lstm or simple_rnn op's weights on the device."""

    def __init__(self, xp, op):
        a, w = op.iattrs, op.weights
        self.units = a["units"]
        self.activation, self.recurrent_activation = a["activation"], a["recurrent_activation"]
        self.kernel = xp.asarray(w["kernel"])
        self.recurrent_kernel = xp.asarray(w["recurrent_kernel"])
        bias = w.get("bias")
        self.bias = xp.zeros(self.kernel.shape[1], dtype=xp.float32) if bias is None \
            else xp.asarray(bias)


def run_cell(xp, kind: str, w: CellWeights, x, mask, h, c, prev_out, *, go_backwards: bool,
             return_sequences: bool, zero_output_for_mask: bool):
    """Run the sequence x (B, T, F) of an lstm (c: its cell state) or simple_rnn (c: None)
    from h (B, u); returns (y, h, c, prev_out) as gru.run_gru does."""
    B, T = x.shape[0], x.shape[1]
    u = w.units
    act = lambda i, v: activations.apply(xp, i, v)   # noqa: E731
    xw_all = (x.reshape(B * T, -1) @ w.kernel + w.bias).reshape(B, T, -1)
    keep = None if mask is None else mask.astype(bool)
    y = xp.empty((B, T, u), dtype=xp.float32) if return_sequences else None
    zero = xp.zeros_like(h)
    for k in range(T):
        t = T - 1 - k if go_backwards else k
        z = xw_all[:, t] + h @ w.recurrent_kernel
        if kind == "lstm":
            ra = w.recurrent_activation
            c_new = act(ra, z[:, u:2 * u]) * c + act(ra, z[:, :u]) * act(w.activation,
                                                                       z[:, 2 * u:3 * u])
            h_new = act(ra, z[:, 3 * u:]) * act(w.activation, c_new)
        else:
            c_new, h_new = None, act(w.activation, z)
        if keep is None:
            h, c, out = h_new, c_new, h_new
        else:
            m = keep[:, t][:, None]
            out = xp.where(m, h_new, zero if zero_output_for_mask else prev_out)
            h = xp.where(m, h_new, h)
            c = None if c is None else xp.where(m, c_new, c)
        prev_out = out
        if return_sequences:
            y[:, k] = out
    return (y if return_sequences else prev_out), h, c, prev_out
