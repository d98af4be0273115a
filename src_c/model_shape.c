/* model_shape.c - the pooling and shape op kinds: global_pool (GlobalMax/AveragePooling1D),
 * pool1d (Max/AveragePooling1D), reshape (Flatten, Reshape), permute, repeat_vector, pad_time
 * (ZeroPadding1D, Cropping1D) and upsample_time (UpSampling1D): their checks, their runs, and
 * whether a stream can run them one step at a time.
 *
 * The sequence ops see a (steps, features) sample, or (features, steps) when channels_first;
 * `seq_geom` hides which, so one loop serves both layouts. Every size an op derives (a pooled
 * or padded length) is computed here from its attributes and the input's length and compared
 * with the output tensor's, so the runs below stay inside the buffers the executor planned.
 */
#include <string.h>

#include "model_internal.h"

#define FAIL(c, ...) fg_fail((c)->code, __VA_ARGS__)
#define MAX_STEPS ((int64_t)1 << 48)   /* a run length beyond any real buffer: no overflow */

static int64_t dim_at(const model_tensor *t, int k, const int64_t *T) {
    return t->dims[k] == -1 ? T[t->time_axis] : t->dims[k];
}
/* Equal, or either still open (-1: a time axis at load). */
static int dims_fit(int64_t a, int64_t b) { return a == b || a < 0 || b < 0; }

/* Tensor id `id` of the op, which must be present and float32 (or `dtype`, when >= 0). */
static int op_tensor(const model_check_ctx *c, int32_t id, const char *what, int32_t dtype,
                     const model_tensor **t) {
    const char *layer = c->o->layer, *kind = model_kind_name(c->o->kind);
    if (id < 0) return FAIL(c, "layer '%s' (%s): its %s is missing", layer, kind, what);
    *t = &c->m->tensors[id];
    if (dtype >= 0 && (*t)->dtype != dtype)
        return FAIL(c, "layer '%s' (%s): %s '%s' has dtype %d, expected %d", layer, kind, what,
                    (*t)->name, (*t)->dtype, dtype);
    return FG_OK;
}

/* The op's float32 input 0 and output 0, each of per-sample rank `rank` (0: any). */
static int in_out(const model_check_ctx *c, int rank, const model_tensor **x,
                  const model_tensor **y) {
    int st;
    if ((st = op_tensor(c, c->o->in[0], "input", FG_DTYPE_FLOAT32, x)) ||
        (st = op_tensor(c, c->o->out[0], "output", FG_DTYPE_FLOAT32, y)))
        return st;
    if (rank && (*x)->rank != rank)
        return FAIL(c, "layer '%s' (%s): input '%s' has per-sample rank %d, expected %d",
                    c->o->layer, model_kind_name(c->o->kind), (*x)->name, (*x)->rank, rank);
    return FG_OK;
}

static int attr_in(const model_check_ctx *c, int slot, const char *name, int32_t lo, int32_t hi) {
    int32_t v = c->o->iattr[slot];
    if (v >= lo && v <= hi) return FG_OK;
    return FAIL(c, "layer '%s' (%s): attribute %s = %d (expected %d..%d)", c->o->layer,
                model_kind_name(c->o->kind), name, v, lo, hi);
}

/* A (steps, features) sample, or (features, steps): element (s, f) at s*s_step + f*s_feat. */
typedef struct seq_geom {
    int64_t steps, feats, s_step, s_feat;
} seq_geom;

static seq_geom geom(const model_tensor *t, const int64_t *T, int channels_first) {
    int64_t a = dim_at(t, 0, T), b = dim_at(t, 1, T);
    return channels_first ? (seq_geom){b, a, 1, b} : (seq_geom){a, b, b, 1};
}

/* Output `y` of rank 2 holds `steps` steps of the input's features, laid out alike. */
static int seq_out_fits(const model_check_ctx *c, const model_tensor *y, seq_geom in,
                        int64_t steps, int channels_first) {
    seq_geom out = geom(y, c->T, channels_first);
    if (y->rank == 2 && dims_fit(out.steps, steps) && dims_fit(out.feats, in.feats)) return FG_OK;
    return FAIL(c, "layer '%s' (%s): output '%s' must hold %lld steps of %lld features "
                "(%s), rank 2", c->o->layer, model_kind_name(c->o->kind), y->name,
                (long long)steps, (long long)in.feats,
                channels_first ? "features first" : "steps first");
}

/* A resolved run length a sequence op may compute with (at load it is still open, -1). */
static int steps_ok(const model_check_ctx *c, int64_t steps, int64_t least) {
    if (steps < 0 || (steps >= least && steps <= MAX_STEPS)) return FG_OK;
    return FAIL(c, "layer '%s' (%s): a sequence of %lld steps (this layer needs %lld to %lld)",
                c->o->layer, model_kind_name(c->o->kind), (long long)steps, (long long)least,
                (long long)MAX_STEPS);
}

/* ---- global_pool: max or mean over the steps, masked steps left out of the mean ------------ */
int model_check_global_pool(const model_check_ctx *c) {
    const model_op *o = c->o;
    const model_tensor *x, *y, *mask = NULL;
    int st, first = o->iattr[GLOBAL_POOL_CHANNELS_FIRST];
    if ((st = attr_in(c, GLOBAL_POOL_AVERAGE, "average", 0, 1)) ||
        (st = attr_in(c, GLOBAL_POOL_CHANNELS_FIRST, "channels_first", 0, 1)) ||
        (st = attr_in(c, GLOBAL_POOL_MASK_MULTIPLIES, "mask_multiplies", 0, 1)) ||
        (st = in_out(c, 2, &x, &y)))
        return st;
    seq_geom g = geom(x, c->T, first);
    if ((st = steps_ok(c, g.steps, 1))) return st;
    if (o->n_in > 1 && o->in[1] >= 0) {
        if ((st = op_tensor(c, o->in[1], "mask", FG_DTYPE_BOOL, &mask))) return st;
        if (!o->iattr[GLOBAL_POOL_AVERAGE] || mask->rank != 1 ||
            !dims_fit(dim_at(mask, 0, c->T), g.steps))
            return FAIL(c, "layer '%s' (global_pool): mask '%s' must be (steps,) per sample, "
                        "and only an average takes one", o->layer, mask->name);
    }
    int64_t d0 = dim_at(y, 0, c->T), d1 = y->rank == 2 ? dim_at(y, 1, c->T) : 1;
    int fits = y->rank == 1 ? dims_fit(d0, g.feats)   /* keepdims: the steps axis stays, as 1 */
             : y->rank == 2 && dims_fit(first ? d0 : d1, g.feats) && dims_fit(first ? d1 : d0, 1);
    if (!fits)
        return FAIL(c, "layer '%s' (global_pool): output '%s' must hold the %lld features "
                    "(with a steps axis of 1 when keepdims)", o->layer, y->name,
                    (long long)g.feats);
    return FG_OK;
}

/* Features in chunks, steps in order: the inner loop runs along a row of a (steps, features)
 * sample, which the compiler vectorises (a column walk per feature did not), and each feature
 * still sees its steps in order, so max, NaN and sum come out as the step-by-step definition. */
#define GLOBAL_POOL_CHUNK 64

int model_run_global_pool(const model_run_ctx *r)
{
    const model_op *o = r->o;
    const model_tensor *xt = &r->m->tensors[o->in[0]];
    seq_geom g = geom(xt, r->T, o->iattr[GLOBAL_POOL_CHANNELS_FIRST]);
    int average = o->iattr[GLOBAL_POOL_AVERAGE];
    int multiplies = o->iattr[GLOBAL_POOL_MASK_MULTIPLIES];
    const uint8_t *mask = o->n_in > 1 ? r->in[1] : NULL;
    float best[GLOBAL_POOL_CHUNK];
    double sum[GLOBAL_POOL_CHUNK];
    for (int64_t b = 0; b < r->batch; b++) {
        const float *x = (const float *)r->in[0] + b * g.steps * g.feats;
        const uint8_t *mb = mask ? mask + b * g.steps : NULL;
        float *y = (float *)r->out[0] + b * g.feats;
        int64_t kept = 0;
        for (int64_t s = 0; s < g.steps; s++)
            kept += !mb || mb[s];
        for (int64_t f0 = 0; f0 < g.feats; f0 += GLOBAL_POOL_CHUNK) {
            int64_t n = g.feats - f0 < GLOBAL_POOL_CHUNK ? g.feats - f0 : GLOBAL_POOL_CHUNK;
            const float *xc = x + f0 * g.s_feat;
            for (int64_t i = 0; i < n; i++) {
                best[i] = xc[i * g.s_feat];
                sum[i] = 0;
            }
            for (int64_t s = average ? 0 : 1; s < g.steps; s++) {
                const float *row = xc + s * g.s_step;
                if (!average) { /* a NaN wins, as in Keras' max */
                    for (int64_t i = 0; i < n; i++) {
                        float v = row[i * g.s_feat];
                        best[i] = (v > best[i] || v != v) ? v : best[i];
                    }
                } else if (!mb || mb[s]) {
                    for (int64_t i = 0; i < n; i++)
                        sum[i] += row[i * g.s_feat];
                } else if (multiplies) {
                    /* tf-keras multiplies by the mask (a NaN in a masked step spreads); Keras 3
                     * selects, so masked steps add nothing */
                    for (int64_t i = 0; i < n; i++)
                        sum[i] += row[i * g.s_feat] * 0.0f;
                }
            }
            for (int64_t i = 0; i < n; i++) /* no step kept: 0/0, NaN */
                y[f0 + i] = average ? (float)(sum[i] / (double)kept) : best[i];
        }
    }
    return FG_OK;
}

/* ---- pool1d: windows of pool_size steps every `strides` steps ------------------------------- */
/* Output length and the padding before the first step, as Keras (TF / XLA "SAME") lays them. */
static int64_t pooled_steps(const model_op *o, int64_t steps, int64_t *pad_before) {
    int64_t pool = o->iattr[POOL1D_POOL_SIZE], stride = o->iattr[POOL1D_STRIDES];
    *pad_before = 0;
    if (!o->iattr[POOL1D_PADDING_SAME]) return steps < pool ? 0 : (steps - pool) / stride + 1;
    int64_t out = (steps + stride - 1) / stride;
    int64_t total = out ? (out - 1) * stride + pool - steps : 0;   /* (out-1)*stride < steps */
    *pad_before = total > 0 ? total / 2 : 0;
    return out;
}

int model_check_pool1d(const model_check_ctx *c) {
    const model_tensor *x, *y;
    int st, first = c->o->iattr[POOL1D_CHANNELS_FIRST];
    if ((st = attr_in(c, POOL1D_POOL_SIZE, "pool_size", 1, INT32_MAX)) ||
        (st = attr_in(c, POOL1D_STRIDES, "strides", 1, INT32_MAX)) ||
        (st = attr_in(c, POOL1D_PADDING_SAME, "padding_same", 0, 1)) ||
        (st = attr_in(c, POOL1D_AVERAGE, "average", 0, 1)) ||
        (st = attr_in(c, POOL1D_CHANNELS_FIRST, "channels_first", 0, 1)) ||
        (st = in_out(c, 2, &x, &y)))
        return st;
    seq_geom g = geom(x, c->T, first);
    if ((st = steps_ok(c, g.steps, 0))) return st;
    int64_t pad;
    int64_t out = g.steps < 0 ? -1 : pooled_steps(c->o, g.steps, &pad);
    return seq_out_fits(c, y, g, out, first);
}

int model_run_pool1d(const model_run_ctx *r) {
    const model_op *o = r->o;
    int first = o->iattr[POOL1D_CHANNELS_FIRST], average = o->iattr[POOL1D_AVERAGE];
    int64_t pool = o->iattr[POOL1D_POOL_SIZE], stride = o->iattr[POOL1D_STRIDES], pad;
    seq_geom gx = geom(&r->m->tensors[o->in[0]], r->T, first);
    seq_geom gy = geom(&r->m->tensors[o->out[0]], r->T, first);
    int64_t out = pooled_steps(o, gx.steps, &pad);
    for (int64_t b = 0; b < r->batch; b++) {
        const float *x = (const float *)r->in[0] + b * gx.steps * gx.feats;
        float *y = (float *)r->out[0] + b * gy.steps * gy.feats;
        for (int64_t t = 0; t < out; t++) {
            /* the window's steps inside the sequence: padding is neither a max nor counted */
            int64_t lo = t * stride - pad, hi = lo + pool;
            if (lo < 0) lo = 0;
            if (hi > gx.steps) hi = gx.steps;
            for (int64_t f = 0; f < gx.feats; f++) {
                const float *xf = x + f * gx.s_feat;
                float best = xf[lo * gx.s_step], sum = 0.0f;
                for (int64_t s = lo; s < hi; s++) {
                    float v = xf[s * gx.s_step];
                    sum += v;
                    if (v > best || v != v) best = v;   /* a NaN, once there, stays */
                }
                y[t * gy.s_step + f * gy.s_feat] = average ? sum / (float)(hi - lo) : best;
            }
        }
    }
    return FG_OK;
}

/* ---- reshape: the same elements in the same order under another shape ---------------------- */
/* Product of t's fixed dims (its time axis left out), or -1 past INT64_MAX. */
static int64_t fixed_elems(const model_tensor *t) {
    int64_t n = 1;
    for (int k = 0; k < t->rank; k++) {
        if (t->dims[k] == -1) continue;
        if (n > INT64_MAX / t->dims[k]) return -1;
        n *= t->dims[k];
    }
    return n;
}

static int timed(const model_tensor *t) { return t->rank > 0 && t->dims[0] == -1; }

int model_check_reshape(const model_check_ctx *c) {
    const model_tensor *x, *y;
    int st;
    if ((st = in_out(c, 0, &x, &y))) return st;
    int64_t nx = fixed_elems(x), ny = fixed_elems(y);
    /* equal for every run length: both scale with the same time axis, or neither does */
    int same = nx >= 0 && nx == ny && timed(x) == timed(y) &&
               (!timed(x) || x->time_axis == y->time_axis);
    if (same) return FG_OK;
    return FAIL(c, "layer '%s' (reshape): input '%s' and output '%s' do not hold the same number "
                "of elements per sample (%lld and %lld%s)", c->o->layer, x->name, y->name,
                (long long)nx, (long long)ny,
                timed(x) || timed(y) ? " per step, or not on the same time axis" : "");
}

int model_run_reshape(const model_run_ctx *r) {
    const model_tensor *y = &r->m->tensors[r->o->out[0]];
    memcpy(r->out[0], r->in[0], (size_t)(r->batch * model_sample_elems(y, r->T)) * 4);
    return FG_OK;
}

/* ---- permute: y axis k is x axis axis_k (per-sample axes, from 0) -------------------------- */
int model_check_permute(const model_check_ctx *c) {
    const model_tensor *x, *y;
    int st;
    if ((st = in_out(c, 0, &x, &y))) return st;
    int rank = x->rank, seen = 0;
    for (int k = 0; k < FG_MAX_RANK; k++) {
        int32_t a = c->o->iattr[PERMUTE_AXIS_0 + k];
        int ok = k < rank ? a >= 0 && a < rank && !(seen >> a & 1) : a == 0;
        if (!ok)
            return FAIL(c, "layer '%s' (permute): axis_%d = %d: the axes must be a permutation "
                        "of 0..%d (and 0 past the rank)", c->o->layer, k, a, rank - 1);
        if (k < rank) seen |= 1 << a;
    }
    int ok = rank >= 1 && y->rank == rank;
    for (int k = 0; ok && k < rank; k++)
        ok = dims_fit(dim_at(y, k, c->T), dim_at(x, c->o->iattr[PERMUTE_AXIS_0 + k], c->T));
    if (ok) return FG_OK;
    return FAIL(c, "layer '%s' (permute): output '%s' is not input '%s' with its axes permuted",
                c->o->layer, y->name, x->name);
}

int model_run_permute(const model_run_ctx *r) {
    const model_op *o = r->o;
    const model_tensor *xt = &r->m->tensors[o->in[0]];
    int rank = xt->rank;
    /* y dims and the x stride of each y axis, padded to 4 axes of length 1 */
    int64_t yd[FG_MAX_RANK] = {1, 1, 1, 1}, xs[FG_MAX_RANK] = {0, 0, 0, 0}, stride[FG_MAX_RANK];
    int64_t n = 1;
    for (int k = rank - 1; k >= 0; k--) {
        stride[k] = n;
        n *= dim_at(xt, k, r->T);
    }
    for (int k = 0; k < rank; k++) {
        int a = o->iattr[PERMUTE_AXIS_0 + k];
        yd[FG_MAX_RANK - rank + k] = dim_at(xt, a, r->T);
        xs[FG_MAX_RANK - rank + k] = stride[a];
    }
    float *y = r->out[0];
    for (int64_t b = 0; b < r->batch; b++) {
        const float *x = (const float *)r->in[0] + b * n;
        for (int64_t i0 = 0; i0 < yd[0]; i0++)
            for (int64_t i1 = 0; i1 < yd[1]; i1++)
                for (int64_t i2 = 0; i2 < yd[2]; i2++)
                    for (int64_t i3 = 0; i3 < yd[3]; i3++)
                        *y++ = x[i0 * xs[0] + i1 * xs[1] + i2 * xs[2] + i3 * xs[3]];
    }
    return FG_OK;
}

/* ---- repeat_vector: (features,) -> (n, features) -------------------------------------------- */
int model_check_repeat_vector(const model_check_ctx *c) {
    const model_tensor *x, *y;
    int st;
    if ((st = attr_in(c, REPEAT_VECTOR_N, "n", 1, INT32_MAX)) || (st = in_out(c, 1, &x, &y)))
        return st;
    if (y->rank == 2 && dims_fit(dim_at(y, 0, c->T), c->o->iattr[REPEAT_VECTOR_N]) &&
        dims_fit(dim_at(y, 1, c->T), x->dims[0]))
        return FG_OK;
    return FAIL(c, "layer '%s' (repeat_vector): output '%s' must be (%d, %lld) per sample",
                c->o->layer, y->name, c->o->iattr[REPEAT_VECTOR_N], (long long)x->dims[0]);
}

int model_run_repeat_vector(const model_run_ctx *r) {
    int64_t f = r->m->tensors[r->o->in[0]].dims[0], n = r->o->iattr[REPEAT_VECTOR_N];
    float *y = r->out[0];
    for (int64_t b = 0; b < r->batch; b++)
        for (int64_t k = 0; k < n; k++)
            memcpy(y + (b * n + k) * f, (const float *)r->in[0] + b * f, (size_t)f * 4);
    return FG_OK;
}

/* ---- pad_time: `before` / `after` steps of zeros added (> 0) or steps cropped (< 0) --------- */
int model_check_pad_time(const model_check_ctx *c) {
    const model_tensor *x, *y;
    int st, first = c->o->iattr[PAD_TIME_CHANNELS_FIRST];
    if ((st = attr_in(c, PAD_TIME_BEFORE, "before", -INT32_MAX, INT32_MAX)) ||
        (st = attr_in(c, PAD_TIME_AFTER, "after", -INT32_MAX, INT32_MAX)) ||
        (st = attr_in(c, PAD_TIME_CHANNELS_FIRST, "channels_first", 0, 1)) ||
        (st = in_out(c, 2, &x, &y)))
        return st;
    seq_geom g = geom(x, c->T, first);
    if ((st = steps_ok(c, g.steps, 0))) return st;
    int64_t out = g.steps < 0 ? -1
                : g.steps + c->o->iattr[PAD_TIME_BEFORE] + c->o->iattr[PAD_TIME_AFTER];
    if (g.steps >= 0 && out < 1)
        return FAIL(c, "layer '%s' (pad_time): cropping %d and %d steps leaves nothing of %lld "
                    "steps", c->o->layer, -c->o->iattr[PAD_TIME_BEFORE],
                    -c->o->iattr[PAD_TIME_AFTER], (long long)g.steps);
    return seq_out_fits(c, y, g, out, first);
}

int model_run_pad_time(const model_run_ctx *r) {
    const model_op *o = r->o;
    int first = o->iattr[PAD_TIME_CHANNELS_FIRST];
    int64_t before = o->iattr[PAD_TIME_BEFORE];
    seq_geom gx = geom(&r->m->tensors[o->in[0]], r->T, first);
    seq_geom gy = geom(&r->m->tensors[o->out[0]], r->T, first);
    for (int64_t b = 0; b < r->batch; b++) {
        const float *x = (const float *)r->in[0] + b * gx.steps * gx.feats;
        float *y = (float *)r->out[0] + b * gy.steps * gy.feats;
        for (int64_t t = 0; t < gy.steps; t++) {
            int64_t s = t - before;   /* the input step output step t shows, if any */
            for (int64_t f = 0; f < gy.feats; f++)
                y[t * gy.s_step + f * gy.s_feat] =
                    s >= 0 && s < gx.steps ? x[s * gx.s_step + f * gx.s_feat] : 0.0f;
        }
    }
    return FG_OK;
}

/* ---- upsample_time: every step repeated `size` times ---------------------------------------- */
int model_check_upsample_time(const model_check_ctx *c) {
    const model_tensor *x, *y;
    int st;
    if ((st = attr_in(c, UPSAMPLE_TIME_SIZE, "size", 1, INT32_MAX)) || (st = in_out(c, 2, &x, &y)))
        return st;
    seq_geom g = geom(x, c->T, 0);
    int64_t size = c->o->iattr[UPSAMPLE_TIME_SIZE];
    if ((st = steps_ok(c, g.steps, 0))) return st;
    if (g.steps > MAX_STEPS / size)
        return FAIL(c, "layer '%s' (upsample_time): %lld steps x %lld is too long", c->o->layer,
                    (long long)g.steps, (long long)size);
    return seq_out_fits(c, y, g, g.steps < 0 ? -1 : g.steps * size, 0);
}

int model_run_upsample_time(const model_run_ctx *r) {
    seq_geom g = geom(&r->m->tensors[r->o->in[0]], r->T, 0);
    int64_t size = r->o->iattr[UPSAMPLE_TIME_SIZE];
    const float *x = r->in[0];
    float *y = r->out[0];
    for (int64_t row = 0; row < r->batch * g.steps; row++)
        for (int64_t k = 0; k < size; k++)
            memcpy(y + (row * size + k) * g.feats, x + row * g.feats, (size_t)g.feats * 4);
    return FG_OK;
}

/* ---- run-time lengths that ops derive -------------------------------------------------------- */
/* Whether op `o` writes a sequence on a time axis of its own, whose length follows from its
 * input's: a pooled, padded or upsampled sequence of a length given per run. */
static int derives_axis(const fg_model *m, const model_op *o) {
    int steps_first = o->kind == OP_UPSAMPLE_TIME ||
                      (o->kind == OP_POOL1D && !o->iattr[POOL1D_CHANNELS_FIRST]) ||
                      (o->kind == OP_PAD_TIME && !o->iattr[PAD_TIME_CHANNELS_FIRST]);
    if (!steps_first || o->in[0] < 0 || o->out[0] < 0) return 0;
    const model_tensor *x = &m->tensors[o->in[0]], *y = &m->tensors[o->out[0]];
    return timed(x) && timed(y) && x->time_axis != y->time_axis;
}

void model_derive_times(const fg_model *m, int64_t *T) {
    for (int32_t i = 0; i < m->n_ops; i++) {
        const model_op *o = &m->ops[i];
        if (!derives_axis(m, o)) continue;
        int64_t steps = T[m->tensors[o->in[0]].time_axis], pad, n;
        if (steps < 0 || steps > MAX_STEPS) continue;   /* the op's check refuses it */
        if (o->kind == OP_POOL1D && o->iattr[POOL1D_POOL_SIZE] > 0 && o->iattr[POOL1D_STRIDES] > 0)
            n = pooled_steps(o, steps, &pad);
        else if (o->kind == OP_PAD_TIME)
            n = steps + o->iattr[PAD_TIME_BEFORE] + o->iattr[PAD_TIME_AFTER];
        else if (o->kind == OP_UPSAMPLE_TIME && o->iattr[UPSAMPLE_TIME_SIZE] > 0)
            n = steps > MAX_STEPS / o->iattr[UPSAMPLE_TIME_SIZE]
                    ? MAX_STEPS + 1 : steps * o->iattr[UPSAMPLE_TIME_SIZE];
        else
            continue;   /* a bad attribute: the op's check names it */
        T[m->tensors[o->out[0]].time_axis] = n < 0 ? 0 : n;
    }
}

/* ---- streams ------------------------------------------------------------------------------ */
const char *model_shape_stream_refusal(const fg_model *m, const model_op *o) {
    const model_tensor *x = &m->tensors[o->in[0]], *y = &m->tensors[o->out[0]];
    switch (o->kind) {
    case OP_GLOBAL_POOL: return "it pools over every step of the sequence";
    case OP_POOL1D:
        return o->iattr[POOL1D_POOL_SIZE] == 1 && o->iattr[POOL1D_STRIDES] == 1
                   ? NULL : "it pools windows of several steps (a stream is not built for it)";
    case OP_RESHAPE:
        return timed(x) && timed(y) ? NULL : "it reshapes across the steps of the sequence";
    case OP_PERMUTE:
        return timed(x) && o->iattr[PERMUTE_AXIS_0] == 0 ? NULL
                                                         : "it moves the steps of the sequence";
    case OP_REPEAT_VECTOR: return "it makes a whole sequence out of one vector";
    case OP_PAD_TIME: return "it adds or removes steps at the ends of the sequence";
    case OP_UPSAMPLE_TIME: return "it repeats each step of the sequence";
    default: return NULL;
    }
}
