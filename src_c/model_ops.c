/* model_ops.c - every op kind but gru: dense, embedding, masks, norms, activation,
 * reverse_time, concatenate and the elementwise merges.
 *
 * Data are C-contiguous (batch, per-sample dims); model_check_op has already matched every
 * shape for this (batch, timesteps), so the loops below only need the element counts.
 * Accumulations that Keras does in float32 are done in float32 in the same order where it
 * matters little, in double where it buys accuracy for free (norm statistics).
 */
#include <math.h>
#include <string.h>

#include "fg_activations.h"
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
static int64_t last_dim(const model_tensor *t) { return t->dims[t->rank - 1]; }
static const float *wdata(const fg_model *m, const model_op *o, int k) {
    return o->w[k] < 0 ? NULL : (const float *)m->weights[o->w[k]].data;
}

/* Rows split across threads when the product is big enough to pay for them; each row is
 * computed the same way on any thread, so results do not depend on the thread count. */
#define DENSE_MIN_FLOPS_PER_THREAD 2000000.0

static int run_dense(const fg_model *m, const model_op *o, const float *x, float *y,
                     int64_t rows, int32_t nthreads) {
    const model_weight *kw = &m->weights[o->w[0]];
    int64_t in = kw->dims[0], units = kw->dims[1];
    const float *k = kw->data, *b = wdata(m, o, 1);
    int64_t by_work = (int64_t)(2.0 * (double)rows * (double)in * (double)units /
                                DENSE_MIN_FLOPS_PER_THREAD);
    int nt = by_work < nthreads ? (int)by_work : nthreads;
    if (nt > 1 && !fg_openmp_usable()) nt = 1;   /* e.g. in a forked child */
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * units;
        const float *xr = x + r * in;
        for (int64_t j = 0; j < units; j++) yr[j] = b ? b[j] : 0.0f;
        for (int64_t i = 0; i < in; i++) {
            const float xi = xr[i], *kr = k + i * units;
            for (int64_t j = 0; j < units; j++) yr[j] += xi * kr[j];
        }
    }
    if (fg_activation_apply(o->iattr[DENSE_ACT], y, rows, units, units) != FG_OK)
        return fg_fail(FG_ERR_ARG, "layer '%s' (dense): %s", o->layer, fg_last_error());
    return FG_OK;
}

static int run_embedding(const fg_model *m, const model_op *o, const int32_t *ids, float *y,
                         int64_t n) {
    const model_weight *e = &m->weights[o->w[0]];
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

static void run_compute_mask(const model_tensor *x, const void *xd, float value, uint8_t *mask,
                             int64_t n_mask) {
    if (x->dtype == FG_DTYPE_INT32) {
        const int32_t *ids = xd;
        /* compared as doubles: exact for every id, and a mask value beyond int32's range
         * (from a hostile file) masks nothing instead of overflowing a cast */
        for (int64_t i = 0; i < n_mask; i++) mask[i] = (double)ids[i] != (double)value;
        return;
    }
    int64_t f = last_dim(x);
    const float *xf = xd;
    for (int64_t i = 0; i < n_mask; i++) {
        uint8_t any = 0;
        for (int64_t k = 0; k < f; k++) any |= xf[i * f + k] != value;
        mask[i] = any;
    }
}

/* LayerNormalization / BatchNormalization at inference, along the last axis. */
static void run_norm(const fg_model *m, const model_op *o, const float *x, float *y,
                     int64_t rows, int64_t f) {
    const float *gamma = wdata(m, o, 0), *beta = wdata(m, o, 1);
    double eps = o->fattr[0];
    if (o->kind == OP_BATCH_NORM) {
        const float *mean = wdata(m, o, 2), *var = wdata(m, o, 3);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < f; k++) {
                double v = (x[r * f + k] - (double)mean[k]) / sqrt((double)var[k] + eps);
                y[r * f + k] = (float)(v * (gamma ? gamma[k] : 1.0) + (beta ? beta[k] : 0.0));
            }
        return;
    }
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * f;
        double mean = 0, var = 0;
        for (int64_t k = 0; k < f; k++) mean += xr[k];
        mean /= (double)f;
        for (int64_t k = 0; k < f; k++) var += (xr[k] - mean) * (xr[k] - mean);
        double inv = 1.0 / sqrt(var / (double)f + eps);
        for (int64_t k = 0; k < f; k++)
            y[r * f + k] = (float)((xr[k] - mean) * inv * (gamma ? gamma[k] : 1.0) +
                                   (beta ? beta[k] : 0.0));
    }
}

static void run_concatenate(const fg_model *m, const model_op *o, const void *const *in,
                            float *y, int64_t batch, const int64_t *T) {
    const model_tensor *yt = tout(m, o, 0);
    int ax = yt->rank + o->iattr[CONCAT_AXIS];
    int64_t outer = batch;   /* product of the dims before the axis, batch included */
    for (int d = 0; d < ax; d++) outer *= yt->dims[d] == -1 ? T[yt->time_axis] : yt->dims[d];
    int64_t out_chunk = count(yt, batch, T) / (outer ? outer : 1), at = 0;
    for (int k = 0; k < o->n_in; k++) {
        int64_t chunk = count(tin(m, o, k), batch, T) / (outer ? outer : 1);
        const float *x = in[k];
        for (int64_t r = 0; r < outer; r++)
            memcpy(y + r * out_chunk + at, x + r * chunk, (size_t)chunk * 4);
        at += chunk;
    }
}

static void run_reverse_time(const model_tensor *t, const uint8_t *x, uint8_t *y, int64_t batch,
                             const int64_t *T) {
    int64_t steps = t->dims[0] == -1 ? T[t->time_axis] : t->dims[0];
    int64_t step_bytes = steps ? model_sample_elems(t, T) / steps * model_dtype_size(t->dtype) : 0;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t s = 0; s < steps; s++)
            memcpy(y + (b * steps + s) * step_bytes, x + (b * steps + steps - 1 - s) * step_bytes,
                   (size_t)step_bytes);
}

static void run_merge(const model_op *o, const void *const *in, float *y, int64_t n) {
    memcpy(y, in[0], (size_t)n * 4);
    for (int k = 1; k < o->n_in; k++) {
        const float *x = in[k];
        switch (o->kind) {
        case OP_SUBTRACT: for (int64_t i = 0; i < n; i++) y[i] -= x[i]; break;
        case OP_MULTIPLY: for (int64_t i = 0; i < n; i++) y[i] *= x[i]; break;
        default: for (int64_t i = 0; i < n; i++) y[i] += x[i]; break;   /* add, average */
        }
    }
    if (o->kind == OP_AVERAGE)
        for (int64_t i = 0; i < n; i++) y[i] /= (float)o->n_in;
}

int model_run_simple_op(const fg_model *m, const model_op *o, const void *const *in,
                        void *const *out, int64_t batch, const int64_t *T, int32_t nthreads) {
    const model_tensor *x = tin(m, o, 0), *y = tout(m, o, 0);
    int64_t n_out = count(y, batch, T);
    switch (o->kind) {
    case OP_DENSE:
        return run_dense(m, o, in[0], out[0], n_out / last_dim(y), nthreads);
    case OP_EMBEDDING:
        return run_embedding(m, o, in[0], out[0], count(x, batch, T));
    case OP_COMPUTE_MASK:
        run_compute_mask(x, in[0], o->fattr[0], out[0], n_out);
        return FG_OK;
    case OP_APPLY_MASK: {
        const float *xf = in[0];
        const uint8_t *mask = in[1];
        float *yf = out[0];
        int64_t f = last_dim(x);
        /* x * mask, as Keras' Masking computes it (a NaN stays NaN under the mask) */
        for (int64_t i = 0; i < n_out; i++) yf[i] = xf[i] * (float)(mask[i / f] != 0);
        return FG_OK;
    }
    case OP_MASK_AND: case OP_MASK_OR: {
        /* tf-keras merges masks with AND, Keras 3 with OR */
        uint8_t *mask = out[0];
        for (int64_t i = 0; i < n_out; i++) mask[i] = ((const uint8_t *)in[0])[i] != 0;
        for (int k = 1; k < o->n_in; k++) {
            const uint8_t *other = in[k];
            if (o->kind == OP_MASK_AND)
                for (int64_t i = 0; i < n_out; i++) mask[i] &= other[i] != 0;
            else
                for (int64_t i = 0; i < n_out; i++) mask[i] |= other[i] != 0;
        }
        return FG_OK;
    }
    case OP_LAYER_NORM: case OP_BATCH_NORM:
        run_norm(m, o, in[0], out[0], n_out / last_dim(y), last_dim(y));
        return FG_OK;
    case OP_ACTIVATION:
        memcpy(out[0], in[0], (size_t)n_out * 4);
        if (fg_activation_apply(o->iattr[ACTIVATION_ACT], out[0], n_out / last_dim(y),
                                last_dim(y), last_dim(y)) != FG_OK)
            return fg_fail(FG_ERR_ARG, "layer '%s' (activation): %s", o->layer, fg_last_error());
        return FG_OK;
    case OP_REVERSE_TIME:
        run_reverse_time(x, in[0], out[0], batch, T);
        return FG_OK;
    case OP_CONCATENATE:
        run_concatenate(m, o, in, out[0], batch, T);
        return FG_OK;
    case OP_ADD: case OP_SUBTRACT: case OP_MULTIPLY: case OP_AVERAGE:
        run_merge(o, in, out[0], n_out);
        return FG_OK;
    default:
        return fg_fail(FG_ERR_ARG, "layer '%s': op kind %d has no runner here", o->layer, o->kind);
    }
}
