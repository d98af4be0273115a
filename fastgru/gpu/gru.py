"""One gru op on an array module: the input projection of every step as one GEMM, then per
step the recurrent GEMM and the gate epilogue (Keras' GRU maths, docs/KERAS_FORMATS.md §10;
masking §12). The epilogue is the CUDA kernels of src_c/gpu/fg_gru_step.cu on a device
(fastgru/gpu/kernels.py) and the array operations of ArraySteps otherwise; both compute in
float32 in the same order. A custom_gru runs the same steps with its cell program as the
epilogue (custom_cell.py)."""
from __future__ import annotations

from . import activations


class GruWeights:
    """A gru or custom_gru op's weights on the device, split as the step uses them; a
    custom_gru's cell program (custom_cell.CellProgram) in `program`."""

    def __init__(self, xp, op, program=None):
        a, w = op.iattrs, op.weights
        u = a["units"]
        self.units = u
        self.reset_after = bool(a["reset_after"])
        self.activation, self.recurrent_activation = a["activation"], a["recurrent_activation"]
        self.program = program
        # a row-wise activation (softmax over the units) cannot run in an elementwise kernel;
        # a cell program has none (the C loader refuses them)
        self.row_wise = self.program is None and bool(
            {self.activation, self.recurrent_activation} & activations.ROW_WISE)
        self.kernel = xp.asarray(w["kernel"])
        self.recurrent_kernel = xp.asarray(w["recurrent_kernel"])
        bias = w.get("bias")
        zeros = xp.zeros(3 * u, dtype=xp.float32)
        if bias is None:
            self.input_bias, self.recurrent_bias = zeros, zeros
        elif bias.ndim == 2:
            self.input_bias, self.recurrent_bias = xp.asarray(bias[0]), xp.asarray(bias[1])
        else:
            self.input_bias, self.recurrent_bias = xp.asarray(bias), zeros


def masked_output(xp, new_h, h, prev, keep, zero_output, out):
    """(state, output) of a step whose cell computed new_h: a masked row (keep 0) keeps h and
    repeats prev (zeros with zero_output); the output is written into `out` too."""
    if keep is None:
        h = o = new_h
    else:
        m = keep[:, None]
        o = xp.where(m, new_h, xp.zeros_like(h) if zero_output else prev)
        h = xp.where(m, new_h, h)
    out[...] = o
    return h, o


class ArraySteps:
    """The epilogue as array operations. The contract, shared with kernels.CudaSteps and the
    custom cells' steps (custom_cell.py, kernels.CudaCustomSteps): xw is the step's x.W +
    input bias (B, 3u); `after` / `finish_before` write the step's output into `out` and
    return (new h, the output), and may update h and prev in place; `gates_before` returns
    (what finish_before reads: z here, r * h)."""

    def __init__(self, xp):
        self.xp = xp

    def _act(self, act_id, x):
        return activations.apply(self.xp, act_id, x)

    def _finish(self, w, z, pre, h, prev, keep, zero_output, out):
        new_h = z * h + (1 - z) * self._act(w.activation, pre)
        return masked_output(self.xp, new_h, h, prev, keep, zero_output, out)

    def after(self, w, xw, hu, h, prev, keep, zero_output, out):
        u = w.units
        z = self._act(w.recurrent_activation, xw[:, :u] + hu[:, :u])
        r = self._act(w.recurrent_activation, xw[:, u:2 * u] + hu[:, u:2 * u])
        return self._finish(w, z, xw[:, 2 * u:] + r * hu[:, 2 * u:], h, prev, keep,
                            zero_output, out)

    def gates_before(self, w, xw, hu_zr, h):
        u = w.units
        z = self._act(w.recurrent_activation, xw[:, :u] + hu_zr[:, :u])
        r = self._act(w.recurrent_activation, xw[:, u:2 * u] + hu_zr[:, u:])
        return z, r * h

    def finish_before(self, w, xw, z, rhu, h, prev, keep, zero_output, out):
        return self._finish(w, z, xw[:, 2 * w.units:] + rhu, h, prev, keep, zero_output, out)


def run_gru(xp, steps, w: GruWeights, x, mask, h, prev_out, *, go_backwards: bool,
            return_sequences: bool, zero_output_for_mask: bool):
    """Run the sequence x (B, T, F) from state h (B, u) and the previous output prev_out
    (B, u), which masked steps repeat. Returns (y, h, prev_out); y is (B, T, u) in processing
    order when return_sequences, else the last output (B, u). `steps`: the epilogue (the
    array one for a row-wise activation, which the kernels cannot run)."""
    B, T = x.shape[0], x.shape[1]
    u = w.units
    xw_all = (x.reshape(B * T, -1) @ w.kernel + w.input_bias).reshape(B, T, 3 * u)
    keep = None if mask is None else xp.ascontiguousarray(mask.astype(xp.uint8))
    y = xp.empty((B, T, u), dtype=xp.float32) if return_sequences else None
    h = xp.array(h, dtype=xp.float32, copy=True)            # updated in place by the kernels
    prev_out = xp.array(prev_out, dtype=xp.float32, copy=True)
    rk_zr, rk_h = w.recurrent_kernel[:, :2 * u], w.recurrent_kernel[:, 2 * u:]
    if w.row_wise:
        steps = ArraySteps(xp)
    for k in range(T):
        t = T - 1 - k if go_backwards else k
        xw = xw_all[:, t]
        keep_t = None if keep is None else keep[:, t]
        out = y[:, k] if return_sequences else prev_out
        if w.reset_after:
            hu = h @ w.recurrent_kernel + w.recurrent_bias
            h, prev_out = steps.after(w, xw, hu, h, prev_out, keep_t, zero_output_for_mask, out)
        else:
            z, rh = steps.gates_before(w, xw, h @ rk_zr + w.recurrent_bias[:2 * u], h)
            rhu = rh @ rk_h + w.recurrent_bias[2 * u:]
            h, prev_out = steps.finish_before(w, xw, z, rhu, h, prev_out, keep_t,
                                              zero_output_for_mask, out)
    return (y if return_sequences else prev_out), h, prev_out
