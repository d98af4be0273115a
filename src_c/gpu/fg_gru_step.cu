/* fg_gru_step.cu - the GRU's gate epilogue (Keras' maths, docs/KERAS_FORMATS.md §10, masks
 * §12) and the elementwise activation, as CUDA kernels whose bodies are plain C functions of
 * one element index: CuPy compiles this file for the device (fastgru/gpu/kernels.py, after the
 * FG_ACT_* ids and fg_act_formulas.h), and tests/c/gpu_kernel_harness.c compiles the same
 * bodies on the CPU, looping over the block and thread indices, to check their maths.
 *
 * One step of a batch: xw = x_t.W + input bias (row stride xs, 3u wide, z r h blocks), hu =
 * h.U + recurrent bias. reset_after: one kernel (fg_gru_step_after). Otherwise the candidate
 * needs (r*h).U_h, a GEMM between two kernels: fg_gru_gates_before writes z and r*h, the
 * caller multiplies, and fg_gru_step_before finishes. The state h is updated in place; the
 * step's output goes to out (row stride os) and prev (the last output, which a masked step
 * repeats unless zero_output). keep: per row, 0 for a masked step; NULL when unmasked. */

/* the state and the step's output at element i once the cell computed the new state hn: a
 * masked row keeps h and repeats prev (0 with zero_output). The custom cells' generated kernels
 * (fastgru/gpu/custom_kernel.py) end with it too. */
FG_ACT_FN void fg_gru_emit_at(long i, long u, float hn, float *h, float *out, long os, float *prev,
                              const unsigned char *keep, int zero_output)
{
    long b = i / u, j = i % u;
    int kept = !keep || keep[b];
    float o = kept ? hn : (zero_output ? 0.0f : prev[i]);
    h[i] = kept ? hn : h[i];
    prev[i] = o;
    out[b * os + j] = o;
}

/* the new state and the step's output at element i, from the update gate and the candidate's
 * pre-activation */
FG_ACT_FN void fg_gru_finish_at(long i, long u, float z, float pre, int act, float *h, float *out,
                                long os, float *prev, const unsigned char *keep, int zero_output)
{
    fg_gru_emit_at(i, u, z * h[i] + (1.0f - z) * fg_act_formula(act, pre), h, out, os, prev, keep,
                   zero_output);
}

FG_ACT_FN void fg_gru_step_after_at(long i, long u, const float *xw, long xs, const float *hu,
                                    int act, int ract, float *h, float *out, long os, float *prev,
                                    const unsigned char *keep, int zero_output)
{
    long b = i / u, j = i % u;
    const float *x = xw + b * xs, *r_ = hu + b * 3 * u;
    float z = fg_act_formula(ract, x[j] + r_[j]);
    float r = fg_act_formula(ract, x[u + j] + r_[u + j]);
    fg_gru_finish_at(i, u, z, x[2 * u + j] + r * r_[2 * u + j], act, h, out, os, prev, keep,
                     zero_output);
}

FG_ACT_FN void fg_gru_gates_before_at(long i, long u, const float *xw, long xs, const float *hu,
                                      int ract, const float *h, float *z, float *rh)
{
    long b = i / u, j = i % u;
    const float *x = xw + b * xs, *r_ = hu + b * 2 * u;
    z[i] = fg_act_formula(ract, x[j] + r_[j]);
    rh[i] = fg_act_formula(ract, x[u + j] + r_[u + j]) * h[i];
}

FG_ACT_FN void fg_gru_step_before_at(long i, long u, const float *xw, long xs, const float *z,
                                     const float *rhu, int act, float *h, float *out, long os,
                                     float *prev, const unsigned char *keep, int zero_output)
{
    long b = i / u, j = i % u;
    fg_gru_finish_at(i, u, z[i], xw[b * xs + 2 * u + j] + rhu[i], act, h, out, os, prev, keep,
                     zero_output);
}

FG_ACT_FN void fg_activation_at(long i, int act, float *x)
{
    x[i] = fg_act_formula(act, x[i]);
}

#ifdef __CUDACC__
#define FG_INDEX ((long)blockIdx.x * blockDim.x + threadIdx.x)

extern "C" __global__ void fg_gru_step_after(long n, long u, const float *xw, long xs,
                                             const float *hu, int act, int ract, float *h,
                                             float *out, long os, float *prev,
                                             const unsigned char *keep, int zero_output)
{
    long i = FG_INDEX;
    if (i < n)
        fg_gru_step_after_at(i, u, xw, xs, hu, act, ract, h, out, os, prev, keep, zero_output);
}

extern "C" __global__ void fg_gru_gates_before(long n, long u, const float *xw, long xs,
                                               const float *hu, int ract, const float *h, float *z,
                                               float *rh)
{
    long i = FG_INDEX;
    if (i < n) fg_gru_gates_before_at(i, u, xw, xs, hu, ract, h, z, rh);
}

extern "C" __global__ void fg_gru_step_before(long n, long u, const float *xw, long xs,
                                              const float *z, const float *rhu, int act, float *h,
                                              float *out, long os, float *prev,
                                              const unsigned char *keep, int zero_output)
{
    long i = FG_INDEX;
    if (i < n)
        fg_gru_step_before_at(i, u, xw, xs, z, rhu, act, h, out, os, prev, keep, zero_output);
}

extern "C" __global__ void fg_activation(long n, int act, float *x)
{
    long i = FG_INDEX;
    if (i < n) fg_activation_at(i, act, x);
}
#endif
