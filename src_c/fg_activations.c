/* fg_activations.c - the scalar definition of every activation (Keras 3 on the jax backend
 * follows jax.nn; Keras 2's hard_sigmoid has its own id) and the row-wise ones.
 *
 * The elementwise formulas live in fg_act_formulas.h, which the CUDA kernels share. */
#include "fg_activations.h"

#include <math.h>
#include <stdlib.h>

#include "fg_common.h"
#include "fg_config_select.h"
#include "fg_act_formulas.h"
#include "kernels/fg_kernels.h"

/* A case not built (fg_config_select.h) compiles out; the loader refuses models needing it.
 * Row-wise ids never reach here (fg_activation_apply routes them). */
float fg_act_scalar(int act, float x)
{
    return fg_act_formula(act, x);
}

int fg_activation_is_elementwise(int act)
{
    return act >= 0 && act < FG_ACT_COUNT && act != FG_ACT_SOFTMAX &&
           act != FG_ACT_LOG_SOFTMAX && act != FG_ACT_SPARSEMAX;
}

static float row_max(const float *x, int64_t n)
{
    float m = x[0];
    for (int64_t i = 1; i < n; i++)
        if (x[i] > m || x[i] != x[i]) m = x[i];
    return m;
}

static void softmax_row(float *x, int64_t n)
{
    float m = row_max(x, n), sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += (x[i] = expf(x[i] - m));
    for (int64_t i = 0; i < n; i++) x[i] /= sum;
}

static void log_softmax_row(float *x, int64_t n)
{
    float m = row_max(x, n), sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += expf(x[i] - m);
    float lse = logf(sum);
    for (int64_t i = 0; i < n; i++) x[i] = x[i] - m - lse;
}

/* Keras' sparsemax (docs/KERAS_FORMATS.md §14.2): sort descending, cumulative sums c_k; support
 * k where s_k - (c_k - 1)/k > 0; tau = (sum of c_k over the support - 1) / |support|.
 * `sorted` is n floats of scratch. */
static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

static void sparsemax_row(float *x, int64_t n, float *sorted)
{
    for (int64_t i = 0; i < n; i++) sorted[i] = x[i];
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_desc);
    float cum = 0.0f, support_cum = 0.0f;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        cum += sorted[i];
        if (sorted[i] - (cum - 1.0f) / (float)(i + 1) > 0.0f) {
            support_cum += cum;
            k++;
        }
    }
    float tau = (support_cum - 1.0f) / (float)k;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] - tau;
        x[i] = v > 0.0f ? v : (v != v ? v : 0.0f);
    }
}

void fg_activation_row(const fg_kernels *k, int act, float *x, int64_t n, float *scratch)
{
    switch (act) {
    FG_ACT_CASE(FG_ACT_SOFTMAX) softmax_row(x, n); break;
    FG_ACT_CASE(FG_ACT_LOG_SOFTMAX) log_softmax_row(x, n); break;
    FG_ACT_CASE(FG_ACT_SPARSEMAX) sparsemax_row(x, n, scratch); break;
    default: k->act_inplace(act, x, n);
    }
}

int fg_activation_apply(int act, float *x, int64_t rows, int64_t n, int64_t stride)
{
    if (act < 0 || act >= FG_ACT_COUNT)
        return fg_fail(FG_ERR_ARG, "unknown activation id %d (expected 0 .. %d)", act,
                       FG_ACT_COUNT - 1);
    if (rows < 0 || n < 0 || (rows > 1 && stride < n))
        return fg_fail(FG_ERR_ARG, "activation rows=%lld n=%lld stride=%lld: need rows, n >= 0 "
                       "and stride >= n", (long long)rows, (long long)n, (long long)stride);
    if (n == 0 || rows == 0) return FG_OK;
    if (x == NULL) return fg_fail(FG_ERR_ARG, "activation: x is NULL");
    if (act == FG_ACT_LINEAR) return FG_OK;   /* the identity: not a pass over memory */
    const fg_kernels *k = fg_kernels_for(fg_isa_active());
    float *scratch = NULL;
    if (act == FG_ACT_SPARSEMAX && (scratch = malloc((size_t)n * sizeof *scratch)) == NULL)
        return fg_fail(FG_ERR_NOMEM, "sparsemax: no memory for %lld floats", (long long)n);
    for (int64_t r = 0; r < rows; r++) fg_activation_row(k, act, x + r * stride, n, scratch);
    free(scratch);
    return FG_OK;
}
