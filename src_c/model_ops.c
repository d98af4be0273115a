/* model_ops.c - the simple op kinds: embedding, masks, norms, activation, reverse_time,
 * concatenate and the elementwise merges (gru: model_exec.c; dense: model_dense.c).
 *
 * Data are C-contiguous (batch, per-sample dims); model_check_op has already matched every
 * shape for this (batch, timesteps), so the loops below only need the element counts.
 * Accumulations that Keras does in float32 are done in float32 in the same order where it
 * matters little, in double where it buys accuracy for free (norm statistics).
 */
#include <math.h>
#include <string.h>

#include "fg_activations.h"
#include "fg_config_select.h"
#include "model_internal.h"

static const model_tensor *tin(const fg_model *m, const model_op *o, int k) {
    return &m->tensors[o->in[k]];
}
static const model_tensor *tout(const fg_model *m, const model_op *o, int k) {
    return &m->tensors[o->out[k]];
}
static int64_t count(const model_tensor *t, int64_t batch, const int64_t *T) {
    return batch * model_sample_elems(t, T);
}
/* Elements of the op's first output for this run. */
static int64_t out_count(const model_run_ctx *r) {
    return count(tout(r->m, r->o, 0), r->batch, r->T);
}
static int64_t last_dim(const model_tensor *t) { return t->dims[t->rank - 1]; }
static const float *wdata(const fg_model *m, const model_op *o, int k) {
    return o->w[k] < 0 ? NULL : (const float *)m->weights[o->w[k]].data;
}

int model_run_embedding(const model_run_ctx *r) {
    const model_op *o = r->o;
    const int32_t *ids = r->in[0];
    float *y = r->out[0];
    int64_t n = count(tin(r->m, o, 0), r->batch, r->T);
    const model_weight *e = &r->m->weights[o->w[0]];
    int64_t vocab = e->dims[0], dim = e->dims[1];
    for (int64_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= vocab)
            return fg_fail(FG_ERR_ARG, "layer '%s' (embedding): id %d at flat position %lld is "
                           "outside the vocabulary [0, %lld)", o->layer, id, (long long)i,
                           (long long)vocab);
        memcpy(y + i * dim, (const float *)e->data + (int64_t)id * dim, (size_t)dim * 4);
    }
    return FG_OK;
}

int model_run_compute_mask(const model_run_ctx *r) {
    const model_tensor *x = tin(r->m, r->o, 0);
    float value = r->o->fattr[COMPUTE_MASK_F_VALUE];
    uint8_t *mask = r->out[0];
    int64_t n_mask = out_count(r);
    if (x->dtype == FG_DTYPE_INT32) {
        const int32_t *ids = r->in[0];
        /* compared as doubles: exact for every id, and a mask value beyond int32's range
         * (from a hostile file) masks nothing instead of overflowing a cast */
        for (int64_t i = 0; i < n_mask; i++) mask[i] = (double)ids[i] != (double)value;
        return FG_OK;
    }
    int64_t f = last_dim(x);
    const float *xf = r->in[0];
    for (int64_t i = 0; i < n_mask; i++) {
        uint8_t any = 0;
        for (int64_t k = 0; k < f; k++) any |= xf[i * f + k] != value;
        mask[i] = any;
    }
    return FG_OK;
}

/* The sum over n floats of (x[k] - c), or its square, in double, in four interleaved partial
 * sums: independent chains the CPU overlaps where one chain waits on each add, in a fixed
 * order. */
static double sum_deviations(const float *x, int64_t n, double c, int squared) {
    double s[4] = {0, 0, 0, 0};
    int64_t k = 0;
    for (; k + 4 <= n; k += 4)
        for (int j = 0; j < 4; j++) {
            double d = x[k + j] - c;
            s[j] += squared ? d * d : d;
        }
    for (; k < n; k++) {
        double d = x[k] - c;
        s[0] += squared ? d * d : d;
    }
    return (s[0] + s[1]) + (s[2] + s[3]);
}

/* LayerNormalization / BatchNormalization at inference, along the last axis. */
static int run_norm(const model_run_ctx *r) {
    const fg_model *m = r->m;
    const model_op *o = r->o;
    const float *x = r->in[0];
    float *y = r->out[0];
    int64_t f = last_dim(tout(m, o, 0)), rows = out_count(r) / f;
    const float *gamma = wdata(m, o, 0), *beta = wdata(m, o, 1);
    double eps = o->fattr[LAYER_NORM_F_EPSILON];
    if (o->kind == OP_BATCH_NORM) {
        const float *mean = wdata(m, o, 2), *var = wdata(m, o, 3);
        for (int64_t row = 0; row < rows; row++)
            for (int64_t k = 0; k < f; k++) {
                double v = (x[row * f + k] - (double)mean[k]) / sqrt((double)var[k] + eps);
                y[row * f + k] = (float)(v * (gamma ? gamma[k] : 1.0) + (beta ? beta[k] : 0.0));
            }
        return FG_OK;
    }
    for (int64_t row = 0; row < rows; row++) {
        const float *xr = x + row * f;
        double mean = sum_deviations(xr, f, 0.0, 0) / (double)f;
        double inv = 1.0 / sqrt(sum_deviations(xr, f, mean, 1) / (double)f + eps);
        for (int64_t k = 0; k < f; k++)
            y[row * f + k] = (float)((xr[k] - mean) * inv * (gamma ? gamma[k] : 1.0) +
                                     (beta ? beta[k] : 0.0));
    }
    return FG_OK;
}
int model_run_layer_norm(const model_run_ctx *r) { return run_norm(r); }
int model_run_batch_norm(const model_run_ctx *r) { return run_norm(r); }

int model_run_concatenate(const model_run_ctx *r) {
    const fg_model *m = r->m;
    const model_op *o = r->o;
    const int64_t batch = r->batch, *T = r->T;
    float *y = r->out[0];
    const model_tensor *yt = tout(m, o, 0);
    int ax = yt->rank + o->iattr[CONCATENATE_AXIS];
    int64_t outer = batch;   /* product of the dims before the axis, batch included */
    for (int d = 0; d < ax; d++) outer *= yt->dims[d] == -1 ? T[yt->time_axis] : yt->dims[d];
    int64_t out_chunk = count(yt, batch, T) / (outer ? outer : 1), at = 0;
    for (int k = 0; k < o->n_in; k++) {
        int64_t chunk = count(tin(m, o, k), batch, T) / (outer ? outer : 1);
        const float *x = r->in[k];
        for (int64_t row = 0; row < outer; row++)
            memcpy(y + row * out_chunk + at, x + row * chunk, (size_t)chunk * 4);
        at += chunk;
    }
    return FG_OK;
}

int model_run_reverse_time(const model_run_ctx *r) {
    const model_tensor *t = tin(r->m, r->o, 0);
    const uint8_t *x = r->in[0];
    uint8_t *y = r->out[0];
    const int64_t batch = r->batch, *T = r->T;
    /* batch_axis: the model's batch rows, last first */
    if (FG_CONFIG_TIME_MAJOR && r->o->iattr[REVERSE_TIME_BATCH_AXIS]) {
        size_t row_bytes = (size_t)(model_sample_elems(t, T) * model_dtype_size(t->dtype));
        for (int64_t b = 0; b < batch; b++)
            memcpy(y + b * row_bytes, x + (batch - 1 - b) * row_bytes, row_bytes);
        return FG_OK;
    }
    int64_t steps = t->dims[0] == -1 ? T[t->time_axis] : t->dims[0];
    int64_t step_bytes = steps ? model_sample_elems(t, T) / steps * model_dtype_size(t->dtype) : 0;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t s = 0; s < steps; s++)
            memcpy(y + (b * steps + s) * step_bytes, x + (b * steps + steps - 1 - s) * step_bytes,
                   (size_t)step_bytes);
    return FG_OK;
}

static int run_merge(const model_run_ctx *r) {
    const model_op *o = r->o;
    float *y = r->out[0];
    int64_t n = out_count(r);
    memcpy(y, r->in[0], (size_t)n * 4);
    for (int k = 1; k < o->n_in; k++) {
        const float *x = r->in[k];
        switch (o->kind) {
        case OP_SUBTRACT: for (int64_t i = 0; i < n; i++) y[i] -= x[i]; break;
        case OP_MULTIPLY: for (int64_t i = 0; i < n; i++) y[i] *= x[i]; break;
        default: for (int64_t i = 0; i < n; i++) y[i] += x[i]; break;   /* add, average */
        }
    }
    if (o->kind == OP_AVERAGE)
        for (int64_t i = 0; i < n; i++) y[i] /= (float)o->n_in;
    return FG_OK;
}
int model_run_add(const model_run_ctx *r) { return run_merge(r); }
int model_run_subtract(const model_run_ctx *r) { return run_merge(r); }
int model_run_multiply(const model_run_ctx *r) { return run_merge(r); }
int model_run_average(const model_run_ctx *r) { return run_merge(r); }

int model_run_apply_mask(const model_run_ctx *r) {
    const float *xf = r->in[0];
    const uint8_t *mask = r->in[1];
    float *yf = r->out[0];
    int64_t f = last_dim(tin(r->m, r->o, 0)), n = out_count(r);
    /* x * mask, as Keras' Masking computes it (a NaN stays NaN under the mask) */
    for (int64_t i = 0; i < n; i++) yf[i] = xf[i] * (float)(mask[i / f] != 0);
    return FG_OK;
}

/* tf-keras merges masks with AND, Keras 3 with OR */
static int run_mask_merge(const model_run_ctx *r, int is_and) {
    uint8_t *mask = r->out[0];
    int64_t n = out_count(r);
    for (int64_t i = 0; i < n; i++) mask[i] = ((const uint8_t *)r->in[0])[i] != 0;
    for (int k = 1; k < r->o->n_in; k++) {
        const uint8_t *other = r->in[k];
        if (is_and)
            for (int64_t i = 0; i < n; i++) mask[i] &= other[i] != 0;
        else
            for (int64_t i = 0; i < n; i++) mask[i] |= other[i] != 0;
    }
    return FG_OK;
}
int model_run_mask_and(const model_run_ctx *r) { return run_mask_merge(r, 1); }
int model_run_mask_or(const model_run_ctx *r) { return run_mask_merge(r, 0); }

int model_run_activation(const model_run_ctx *r) {
    int64_t n = out_count(r), f = last_dim(tout(r->m, r->o, 0));
    memcpy(r->out[0], r->in[0], (size_t)n * 4);
    if (fg_activation_apply(r->o->iattr[ACTIVATION_ACTIVATION], r->out[0], n / f, f, f) != FG_OK)
        return fg_fail(FG_ERR_ARG, "layer '%s' (activation): %s", r->o->layer, fg_last_error());
    return FG_OK;
}
