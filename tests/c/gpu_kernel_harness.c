/* gpu_kernel_harness.c - the CUDA kernels of src_c/gpu/fg_gru_step.cu run on the CPU: each
 * entry point walks the blocks and threads a launch of `block` threads per block would have
 * and calls the kernel's body for every index the guard lets through, as the device does.
 * Built as a shared library by tests/test_gpu_executor.py, which drives it through ctypes and
 * holds it against the executor's array path and the Keras fixtures. Built with
 * FG_CUSTOM_CELL_SOURCE (a file of fastgru/gpu/custom_kernel.py's source for one CustomGRU
 * program), it runs that program's kernels too (tests/test_gpu_custom_gru.py). */
#include <math.h>

#include "fg_activations.h"
#include "fg_act_formulas.h"
#include "gpu/fg_gru_step.cu"

#define LAUNCH(n, block, body)                                                                     \
    for (long blk = 0; blk < ((n) + (block) - 1) / (block); blk++)                                 \
        for (long thr = 0; thr < (block); thr++) {                                                 \
            long i = blk * (block) + thr;                                                          \
            if (i < (n)) body;                                                                     \
        }

void harness_gru_step_after(long block, long n, long u, const float *xw, long xs, const float *hu,
                            int act, int ract, float *h, float *out, long os, float *prev,
                            const unsigned char *keep, int zero_output)
{
    LAUNCH(n, block,
           fg_gru_step_after_at(i, u, xw, xs, hu, act, ract, h, out, os, prev, keep, zero_output));
}

void harness_gru_gates_before(long block, long n, long u, const float *xw, long xs, const float *hu,
                              int ract, const float *h, float *z, float *rh)
{
    LAUNCH(n, block, fg_gru_gates_before_at(i, u, xw, xs, hu, ract, h, z, rh));
}

void harness_gru_step_before(long block, long n, long u, const float *xw, long xs, const float *z,
                             const float *rhu, int act, float *h, float *out, long os, float *prev,
                             const unsigned char *keep, int zero_output)
{
    LAUNCH(n, block,
           fg_gru_step_before_at(i, u, xw, xs, z, rhu, act, h, out, os, prev, keep, zero_output));
}

void harness_activation(long block, long n, int act, float *x)
{
    LAUNCH(n, block, fg_activation_at(i, act, x));
}

#ifdef FG_CUSTOM_CELL_SOURCE
#include FG_CUSTOM_CELL_SOURCE
#if FG_CUSTOM_RESET_AFTER
void harness_custom_step_after(long block, long n, long u, const float *xw, long xs,
                               const float *hu, float *h, float *out, long os, float *prev,
                               const unsigned char *keep, int zero_output)
{
    LAUNCH(n, block,
           fg_custom_step_after_at(i, u, xw, xs, hu, h, out, os, prev, keep, zero_output));
}
#else
void harness_custom_gates_before(long block, long n, long u, const float *xw, long xs,
                                 const float *hu, const float *h, float *kept, float *rh)
{
    LAUNCH(n, block, fg_custom_gates_before_at(i, n, u, xw, xs, hu, h, kept, rh));
}

void harness_custom_step_before(long block, long n, long u, const float *xw, long xs,
                                const float *kept, const float *rhu, float *h, float *out, long os,
                                float *prev, const unsigned char *keep, int zero_output)
{
    LAUNCH(
        n, block,
        fg_custom_step_before_at(i, n, u, xw, xs, kept, rhu, h, out, os, prev, keep, zero_output));
}
#endif
#endif
