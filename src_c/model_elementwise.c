/* model_elementwise.c - the elementwise, normalisation and merge op kinds of Keras' layers
 * around the GRU: normalize (Normalization), rescale (Rescaling), relu (ReLU, LeakyReLU,
 * ThresholdedReLU), prelu, elu, softmax (the Softmax layer, masks included), maximum,
 * minimum and dot (Dot).
 *
 * Weights of normalize / rescale / prelu have the input's per-sample rank, each dimension 1
 * (broadcast) or the input's. Each formula is Keras' own, in float32 where Keras' rounding
 * decides the result (the ReLU family, masks), in double where it only buys accuracy
 * (softmax sums, dot products): docs/KERAS_FORMATS.md §13.
 */
#include <math.h>
#include <string.h>

#include "fg_config_select.h"
#include "model_internal.h"

#define FAIL(c, ...) fg_fail((c)->code, __VA_ARGS__)

/* The Softmax layer's value for a masked position, in both Keras versions. */
#define SOFTMAX_MASKED (-1e9f)
enum { MASK_ADD = 0, MASK_REPLACE = 1, MASK_REPLACE_ZERO = 2 };

/* ---- checks ------------------------------------------------------------------------------ */
static int finite_attr(const model_check_ctx *c, float v, const char *name)
{
    if (isfinite(v)) return FG_OK;
    return FAIL(c, "layer '%s' (%s): attribute %s = %g is not finite", c->o->layer,
                model_kind_name(c->o->kind), name, v);
}

/* Weight slot k, required: plain, of x's per-sample rank, each dimension 1 or x's. */
static int broadcast_weight(const model_check_ctx *c, int k, const model_tensor *x)
{
    int32_t id = c->o->w[k];
    if (id < 0)
        return FAIL(c, "layer '%s' (%s): weight %d is missing", c->o->layer,
                    model_kind_name(c->o->kind), k);
    const model_weight *w = &c->m->weights[id];
    int ok = w->layout == LAYOUT_PLAIN && w->rank == x->rank;
    for (int d = 0; ok && d < x->rank; d++) {
        int64_t want = model_check_dim(c, x, d);
        ok = w->dims[d] == 1 || want < 0 || w->dims[d] == want;
    }
    if (ok) return FG_OK;
    return FAIL(c,
                "layer '%s' (%s): weight %d (rank %d) does not broadcast over input '%s' "
                "(rank %d): each dimension must be 1 or the input's",
                c->o->layer, model_kind_name(c->o->kind), k, w->rank, x->name, x->rank);
}

/* Same-shape float32 input and output, and every weight broadcasting over the input. */
static int check_weighted(const model_check_ctx *c)
{
    const model_tensor *x;
    int st;
    if ((st = model_check_same_shape(c, FG_DTYPE_FLOAT32)) ||
        (st = model_check_tensor(c, 0, 0, FG_DTYPE_FLOAT32, 1, &x)))
        return st;
    if (x->rank < 1) return FAIL(c, "layer '%s': input '%s' has no axis", c->o->layer, x->name);
    for (int k = 0; k < c->o->n_w; k++)
        if ((st = broadcast_weight(c, k, x))) return st;
    return FG_OK;
}

int model_check_normalize(const model_check_ctx *c)
{
    float eps = c->o->fattr[NORMALIZE_F_EPSILON];
    int st = model_check_flag(c, NORMALIZE_INVERT, "invert");
    if (st || (st = finite_attr(c, eps, "epsilon"))) return st;
    return check_weighted(c);
}
int model_check_rescale(const model_check_ctx *c)
{
    return check_weighted(c);
}
int model_check_prelu(const model_check_ctx *c)
{
    return check_weighted(c);
}

int model_check_relu(const model_check_ctx *c)
{
    const float *f = c->o->fattr;
    int st;
    if ((st = finite_attr(c, f[RELU_F_NEGATIVE_SLOPE], "negative_slope")) ||
        (st = finite_attr(c, f[RELU_F_THRESHOLD], "threshold")))
        return st;
    if (!(f[RELU_F_MAX_VALUE] >= 0.0f))   /* +inf: no maximum */
        return FAIL(c, "layer '%s' (relu): max_value %g is not >= 0", c->o->layer,
                    f[RELU_F_MAX_VALUE]);
    return model_check_same_shape(c, FG_DTYPE_FLOAT32);
}

int model_check_elu(const model_check_ctx *c)
{
    int st = finite_attr(c, c->o->fattr[ELU_F_ALPHA], "alpha");
    return st ? st : model_check_same_shape(c, FG_DTYPE_FLOAT32);
}

/* The first `rank` dimensions of a and b agree (an open time axis agrees with any). */
static int dims_match(const model_check_ctx *c, const model_tensor *a, const model_tensor *b,
                      int rank)
{
    for (int d = 0; d < rank; d++) {
        int64_t u = model_check_dim(c, a, d), v = model_check_dim(c, b, d);
        if (u >= 0 && v >= 0 && u != v) return 0;
    }
    return 1;
}

_Static_assert((int)MAXIMUM_MASKED == (int)MINIMUM_MASKED, "the extrema share a slot");

/* Unmasked: every input has the output's shape. Masked: n values of the output's shape, then
 * their n masks (absent, or the output's shape without its last axis). */
static int check_extremum(const model_check_ctx *c)
{
    const model_op *o = c->o;
    const model_tensor *y, *x, *m;
    int st = model_check_flag(c, MAXIMUM_MASKED, "masked");
    if (st || !o->iattr[MAXIMUM_MASKED])
        return st ? st : model_check_same_shape(c, FG_DTYPE_FLOAT32);
    if (o->n_in % 2)
        return FAIL(c,
                    "layer '%s' (%s): masked, but %d inputs are not n values and their n "
                    "masks",
                    o->layer, model_kind_name(o->kind), o->n_in);
    if ((st = model_check_tensor(c, 1, 0, FG_DTYPE_FLOAT32, 1, &y))) return st;
    for (int k = 0; k < o->n_in / 2; k++) {
        if ((st = model_check_tensor(c, 0, k, FG_DTYPE_FLOAT32, 1, &x)) ||
            (st = model_check_tensor(c, 0, o->n_in / 2 + k, FG_DTYPE_BOOL, 0, &m)))
            return st;
        if (y->rank < 1 || x->rank != y->rank || !dims_match(c, x, y, y->rank) ||
            (m && (m->rank != y->rank - 1 || !dims_match(c, m, y, m->rank))))
            return FAIL(c, "layer '%s' (%s): input '%s' or its mask does not fit output '%s'",
                        o->layer, model_kind_name(o->kind), x->name, y->name);
    }
    return FG_OK;
}
int model_check_maximum(const model_check_ctx *c)
{
    return check_extremum(c);
}
int model_check_minimum(const model_check_ctx *c)
{
    return check_extremum(c);
}

int model_check_softmax(const model_check_ctx *c)
{
    const model_op *o = c->o;
    const model_tensor *x, *mask = NULL, *y;
    int st;
    if ((st = model_check_tensor(c, 0, 0, FG_DTYPE_FLOAT32, 1, &x)) ||
        (o->n_in > 1 && (st = model_check_tensor(c, 0, 1, FG_DTYPE_BOOL, 0, &mask))) ||
        (st = model_check_tensor(c, 1, 0, FG_DTYPE_FLOAT32, 1, &y)))
        return st;
    int32_t axes = o->iattr[SOFTMAX_AXES], mode = o->iattr[SOFTMAX_MASK_MODE];
    if (x->rank < 1 || axes <= 0 || axes >= (1 << x->rank))
        return FAIL(c,
                    "layer '%s' (softmax): axes bit mask %d does not name axes of input "
                    "'%s' (per-sample rank %d)",
                    o->layer, axes, x->name, x->rank);
    if (mode < MASK_ADD || mode > MASK_REPLACE_ZERO)
        return FAIL(c, "layer '%s' (softmax): mask_mode %d (expected 0..2)", o->layer, mode);
    if (y->rank == x->rank && dims_match(c, x, y, x->rank) &&
        (!mask || (mask->rank == x->rank && dims_match(c, x, mask, x->rank))))
        return FG_OK;
    return FAIL(c, "layer '%s' (softmax): input '%s', mask and output '%s' must have one shape",
                o->layer, x->name, y->name);
}

int model_check_dot(const model_check_ctx *c)
{
    const model_op *o = c->o;
    const model_tensor *a, *b, *y;
    int st;
    if ((st = model_check_tensor(c, 0, 0, FG_DTYPE_FLOAT32, 1, &a)) ||
        (st = model_check_tensor(c, 0, 1, FG_DTYPE_FLOAT32, 1, &b)) ||
        (st = model_check_tensor(c, 1, 0, FG_DTYPE_FLOAT32, 1, &y)) ||
        (st = model_check_flag(c, DOT_NORMALIZE, "normalize")))
        return st;
    float eps = o->fattr[DOT_F_EPSILON];
    if (!(eps >= 0.0f) || isinf(eps))
        return FAIL(c, "layer '%s' (dot): epsilon %g is not a finite value >= 0", o->layer, eps);
    int32_t p = o->iattr[DOT_AXIS1], q = o->iattr[DOT_AXIS2];
    if (a->rank < 1 || b->rank < 1 || p < 0 || p >= a->rank || q < 0 || q >= b->rank)
        return FAIL(c,
                    "layer '%s' (dot): axes (%d, %d) are outside inputs '%s' (rank %d) and "
                    "'%s' (rank %d)",
                    o->layer, p, q, a->name, a->rank, b->name, b->rank);
    int64_t ka = model_check_dim(c, a, p), kb = model_check_dim(c, b, q);
    if (ka >= 0 && kb >= 0 && ka != kb)
        return FAIL(c,
                    "layer '%s' (dot): input '%s' has %lld along axis %d, input '%s' %lld "
                    "along axis %d",
                    o->layer, a->name, (long long)ka, p, b->name, (long long)kb, q);
    /* batch_dot's shape: a's other axes, then b's; (1,) when neither has any */
    int64_t want[2 * FG_MAX_RANK];
    int n = 0;
    for (int d = 0; d < a->rank; d++)
        if (d != p) want[n++] = model_check_dim(c, a, d);
    for (int d = 0; d < b->rank; d++)
        if (d != q) want[n++] = model_check_dim(c, b, d);
    if (!n) want[n++] = 1;
    int ok = y->rank == n;
    for (int d = 0; ok && d < n; d++) {
        int64_t got = model_check_dim(c, y, d);
        ok = got < 0 || want[d] < 0 || got == want[d];
    }
    if (ok) return FG_OK;
    return FAIL(c,
                "layer '%s' (dot): output '%s' (rank %d) is not input '%s''s axes but %d "
                "followed by input '%s''s but %d",
                o->layer, y->name, y->rank, a->name, p, b->name, q);
}

const char *model_elementwise_stream_refusal(const fg_model *m, const model_op *o)
{
    if (o->kind == OP_NORMALIZE || o->kind == OP_RESCALE || o->kind == OP_PRELU) {
        const model_tensor *x = &m->tensors[o->in[0]];
        for (int k = 0; k < o->n_w; k++)
            if (x->dims[0] == -1 && m->weights[o->w[k]].dims[0] > 1)
                return "a weight per time step needs the whole sequence";
    } else if (o->kind == OP_SOFTMAX) {
        const model_tensor *x = &m->tensors[o->in[0]];
        if ((o->iattr[SOFTMAX_AXES] & 1) && x->dims[0] == -1)
            return "a softmax over time needs the whole sequence";
    } else if (o->kind == OP_DOT) {
        const model_tensor *a = &m->tensors[o->in[0]], *b = &m->tensors[o->in[1]];
        int a_timed = a->dims[0] == -1, b_timed = b->dims[0] == -1;
        if ((a_timed && o->iattr[DOT_AXIS1] == 0) || (b_timed && o->iattr[DOT_AXIS2] == 0))
            return "a dot product over time needs the whole sequence";
        if (a_timed && b_timed) return "a dot product of every step with every other needs the "
                                       "whole sequence";
    }
    return NULL;
}

/* ---- runs -------------------------------------------------------------------------------- */
/* A tensor's per-sample dims for this run and their row-major strides (in elements). */
typedef struct run_shape {
    int rank;
    int64_t dims[FG_MAX_RANK], stride[FG_MAX_RANK], elems;
} run_shape;

static run_shape shape_of(const model_run_ctx *r, const model_tensor *t)
{
    run_shape s = {t->rank, {0}, {0}, 1};
    for (int d = t->rank - 1; d >= 0; d--) {
        s.dims[d] = t->dims[d] == -1 ? r->T[t->time_axis] : t->dims[d];
        s.stride[d] = s.elems;
        s.elems *= s.dims[d];
    }
    return s;
}

/* The offset of the i-th element (row-major) of the sub-array that the axes in bit mask
 * `axes` span, in the array of shape s. */
static int64_t offset_along(const run_shape *s, unsigned axes, int64_t i)
{
    int64_t off = 0;
    for (int d = s->rank - 1; d >= 0; d--) {
        if (!(axes >> d & 1u)) continue;
        off += i % s->dims[d] * s->stride[d];
        i /= s->dims[d];
    }
    return off;
}

/* The strides at which a broadcast weight (dims 1 or the input's) follows the input's axes:
 * 0 along its broadcast axes. */
static void weight_strides(const model_weight *w, int64_t *ws)
{
    int64_t n = 1;
    for (int d = w->rank - 1; d >= 0; d--) {
        ws[d] = w->dims[d] == 1 ? 0 : n;
        n *= w->dims[d];
    }
}

/* normalize, rescale, prelu: y = f(x, w0, w1) per element, the weights broadcast. */
static int run_weighted(const model_run_ctx *r)
{
    const fg_model *m = r->m;
    const model_op *o = r->o;
    run_shape s = shape_of(r, &m->tensors[o->in[0]]);
    int64_t last = s.dims[s.rank - 1], rows = last ? s.elems / last : 0;
    int64_t ws0[FG_MAX_RANK], ws1[FG_MAX_RANK] = {0};
    const model_weight *w0 = &m->weights[o->w[0]], *w1 = o->n_w > 1 ? &m->weights[o->w[1]] : w0;
    weight_strides(w0, ws0);
    weight_strides(w1, ws1);
    const float *a = w0->data, *b = w1->data;
    int invert = o->kind == OP_NORMALIZE && o->iattr[NORMALIZE_INVERT];
    float eps = o->fattr[NORMALIZE_F_EPSILON];
    for (int64_t row = 0; row < r->batch * rows; row++) {
        const float *x = (const float *)r->in[0] + row * last;
        float *y = (float *)r->out[0] + row * last;
        int64_t at0 = 0, at1 = 0, i = row % rows;
        for (int d = s.rank - 2; d >= 0; d--) {   /* this row's index along each axis */
            int64_t k = i % s.dims[d];
            at0 += k * ws0[d];
            at1 += k * ws1[d];
            i /= s.dims[d];
        }
        int64_t s0 = ws0[s.rank - 1], s1 = ws1[s.rank - 1];
        switch (o->kind) {
        case OP_NORMALIZE: /* Keras: (x - mean) / max(sqrt(var), eps); invert: mean + x * that */
            for (int64_t j = 0; j < last; j++) {
                float mean = a[at0 + j * s0], sd = fmaxf(sqrtf(b[at1 + j * s1]), eps);
                y[j] = invert ? mean + x[j] * sd : (x[j] - mean) / sd;
            }
            break;
        case OP_RESCALE:
            for (int64_t j = 0; j < last; j++)
                y[j] = x[j] * a[at0 + j * s0] + b[at1 + j * s1];
            break;
        default: /* prelu: relu(x) - alpha * relu(-x) */
            for (int64_t j = 0; j < last; j++)
                y[j] = x[j] >= 0.0f ? x[j] : a[at0 + j * s0] * x[j];
            break;
        }
    }
    return FG_OK;
}
int model_run_normalize(const model_run_ctx *r)
{
    return run_weighted(r);
}
int model_run_rescale(const model_run_ctx *r)
{
    return run_weighted(r);
}
int model_run_prelu(const model_run_ctx *r)
{
    return run_weighted(r);
}

static int64_t elems(const model_run_ctx *r)
{
    return r->batch * model_sample_elems(&r->m->tensors[r->o->out[0]], r->T);
}

/* Keras' relu(x, negative_slope, max_value, threshold), term by term in float32 (it is the
 * same in both versions; LeakyReLU and ThresholdedReLU are its special cases). */
int model_run_relu(const model_run_ctx *r)
{
    const float *x = r->in[0], *f = r->o->fattr;
    float *y = r->out[0];
    float slope = f[RELU_F_NEGATIVE_SLOPE], top = f[RELU_F_MAX_VALUE], thr = f[RELU_F_THRESHOLD];
    for (int64_t i = 0, n = elems(r); i < n; i++) {
        float v = thr != 0.0f ? (x[i] > thr ? x[i] : 0.0f) : fmaxf(x[i], 0.0f);
        if (top < INFINITY) v = fminf(fmaxf(v, 0.0f), top);
        if (slope != 0.0f) v -= slope * fmaxf(thr - x[i], 0.0f);
        y[i] = v;
    }
    return FG_OK;
}

int model_run_elu(const model_run_ctx *r)
{
    const float *x = r->in[0];
    float *y = r->out[0], alpha = r->o->fattr[ELU_F_ALPHA];
    for (int64_t i = 0, n = elems(r); i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]);
    return FG_OK;
}

/* max / min of a and b; a NaN wins, as in numpy's maximum / minimum */
static float extremum(float a, float b, int is_max)
{
    return (is_max ? b > a : b < a) || isnan(b) ? b : a;
}

static int run_extremum(const model_run_ctx *r, int is_max)
{
    const model_op *o = r->o;
    int masked = o->iattr[MAXIMUM_MASKED], n_x = masked ? o->n_in / 2 : o->n_in;
    float *y = r->out[0];
    int64_t n = elems(r);
    memcpy(y, r->in[0], (size_t)n * 4);
    if (!masked) {
        for (int k = 1; k < n_x; k++)
            for (int64_t i = 0; i < n; i++)
                y[i] = extremum(y[i], ((const float *)r->in[k])[i], is_max);
        return FG_OK;
    }
    /* Keras 3, step by step: a masked step of an input takes the running result, the running
     * result takes the input where it is itself masked; its mask is the OR while every input
     * has one */
    run_shape s = shape_of(r, &r->m->tensors[o->out[0]]);   /* rank >= 1 when masked */
    int64_t f = s.dims[s.rank - 1];
    const uint8_t *m0 = r->in[n_x];
    for (int64_t row = 0; f && row < n / f; row++) {
        float *yr = y + row * f;
        int has_mask = m0 != NULL, valid = !m0 || m0[row];
        for (int k = 1; k < n_x; k++) {
            const float *x = (const float *)r->in[k] + row * f;
            const uint8_t *mk = r->in[n_x + k];
            int take_x = !mk || mk[row], keep_y = !has_mask || valid;
            for (int64_t j = 0; j < f; j++) {
                float xv = take_x ? x[j] : yr[j];
                yr[j] = extremum(keep_y ? yr[j] : xv, xv, is_max);
            }
            if (mk && has_mask)
                valid = valid || mk[row];
            else
                has_mask = 0;
        }
    }
    return FG_OK;
}
int model_run_maximum(const model_run_ctx *r)
{
    return run_extremum(r, 1);
}
int model_run_minimum(const model_run_ctx *r)
{
    return run_extremum(r, 0);
}

int model_run_softmax(const model_run_ctx *r)
{
    const model_op *o = r->o;
    run_shape s = shape_of(r, &r->m->tensors[o->in[0]]);
    unsigned axes = (unsigned)o->iattr[SOFTMAX_AXES], kept = ((1u << s.rank) - 1) & ~axes;
    int mode = o->iattr[SOFTMAX_MASK_MODE];
    int64_t n_red = 1;
    for (int d = 0; d < s.rank; d++)
        if (axes >> d & 1u) n_red *= s.dims[d];
    if (!n_red) return FG_OK;
    int64_t n_kept = s.elems / n_red;
    const uint8_t *mask = o->n_in > 1 ? r->in[1] : NULL;
    float *y = r->out[0];
    for (int64_t b = 0; b < r->batch; b++) {
        const float *x = (const float *)r->in[0] + b * s.elems;
        const uint8_t *mk = mask ? mask + b * s.elems : NULL;
        float *yb = y + b * s.elems;
        for (int64_t i = 0; i < n_kept; i++) {
            int64_t base = offset_along(&s, kept, i);
            double top = -INFINITY, sum = 0;
            for (int64_t j = 0; j < n_red; j++) { /* the masked logits, in float32 as Keras */
                int64_t at = base + offset_along(&s, axes, j);
                float v = x[at];
                if (mk && mode == MASK_ADD)
                    v += (1.0f - (float)(mk[at] != 0)) * SOFTMAX_MASKED;
                else if (mk && !mk[at])
                    v = SOFTMAX_MASKED;
                yb[at] = v;
                if (v > top) top = v;
            }
            for (int64_t j = 0; j < n_red; j++) {
                int64_t at = base + offset_along(&s, axes, j);
                sum += exp(yb[at] - top);
            }
            for (int64_t j = 0; j < n_red; j++) {
                int64_t at = base + offset_along(&s, axes, j);
                int zero = mk && mode == MASK_REPLACE_ZERO && !mk[at];
                yb[at] = zero ? 0.0f : (float)(exp(yb[at] - top) / sum);
            }
        }
    }
    return FG_OK;
}

/* Keras' batch_dot of a and b over a's axis p and b's axis q; normalize: each side scaled by
 * 1 / sqrt(max(its sum of squares, eps)) first (l2_normalize). */
int model_run_dot(const model_run_ctx *r)
{
    const fg_model *m = r->m;
    const model_op *o = r->o;
    run_shape sa = shape_of(r, &m->tensors[o->in[0]]), sb = shape_of(r, &m->tensors[o->in[1]]);
    int p = o->iattr[DOT_AXIS1], q = o->iattr[DOT_AXIS2], norm = o->iattr[DOT_NORMALIZE];
    unsigned keep_a = ((1u << sa.rank) - 1) & ~(1u << p),
             keep_b = ((1u << sb.rank) - 1) & ~(1u << q);
    int64_t K = sa.dims[p], na = K ? sa.elems / K : 0, nb = sb.dims[q] ? sb.elems / sb.dims[q] : 0;
    double eps = o->fattr[DOT_F_EPSILON];
    float *y = r->out[0];
    if (!K) { /* an empty sum */
        memset(y, 0, (size_t)elems(r) * 4);
        return FG_OK;
    }
    for (int64_t bt = 0; bt < r->batch; bt++) {
        const float *a = (const float *)r->in[0] + bt * sa.elems;
        const float *b = (const float *)r->in[1] + bt * sb.elems;
        float *yb = y + bt * na * nb;
        for (int64_t i = 0; i < na; i++) {
            const float *ai = a + offset_along(&sa, keep_a, i);
            for (int64_t j = 0; j < nb; j++) {
                const float *bj = b + offset_along(&sb, keep_b, j);
                double dot = 0, ssa = 0, ssb = 0;
                for (int64_t k = 0; k < K; k++) {
                    double u = ai[k * sa.stride[p]], v = bj[k * sb.stride[q]];
                    dot += u * v;
                    ssa += u * u;
                    ssb += v * v;
                }
                if (norm) dot /= sqrt(fmax(ssa, eps)) * sqrt(fmax(ssb, eps));
                yb[i * nb + j] = (float)dot;
            }
        }
    }
    return FG_OK;
}
