/* model_conv.c - the conv1d op (Keras Conv1D, channels_last): its checks, its run as a GEMM on
 * the dense op's SIMD kernels, and its causal stream.
 *
 * y[t, o] = act(bias[o] + sum_k sum_c xp[t*s + k*d, g*cin_g + c] . kernel[k, c, o]), with
 * g = o / cout_g and xp the input with `pad_left` zero steps before it (and enough after it
 * for the last window). For group g, the window of output step t is one row of K*cin_g
 * values; the kernel's (K*cin_g, cout_g) slice is packed at load into the gemm's 48-column
 * panels, as model_dense.c packs a dense kernel. With dilation 1 and one group the windows of
 * consecutive steps are contiguous stretches of xp, so the gemm reads them in place (row
 * stride s*cin, no im2col); otherwise a chunk of windows is gathered first.
 *
 * Every output row goes through the same gemm code whatever rows surround it, so results do not
 * depend on the thread count, and a stream step (its window: the carried last (K-1)*d inputs,
 * then the new one) gives predict's numbers bitwise.
 *
 * The bare-metal build (FG_MCU) has no packing and no heap: it runs a plain loop from flash.
 */
#include <stdlib.h>
#include <string.h>

#include "fg_activations.h"
#include "fg_alloc.h"
#include "fg_config_select.h"
#include "fg_team.h"
#include "model_internal.h"
#include "kernels/fg_kernels.h"

#define FAIL(c, ...) fg_fail((c)->code, __VA_ARGS__)
#define CONV_ROW_CHUNK MODEL_PANEL_ROWS_MAX   /* output steps per gemm call */
#define CONV_MIN_FLOPS_PER_THREAD 2000000.0
#define CONV_MAX_ATTR (1 << 24)       /* kernel size, stride, dilation: far above any model's */
#define CONV_MAX_STEPS ((int64_t)1 << 60)   /* keeps the window arithmetic below in range */

/* The op's sizes for an input of T steps. span: the dilated kernel's extent. */
typedef struct conv_geom {
    int64_t K, d, s, groups, cin, cout, cin_g, cout_g, span;
    int64_t T, Tout, pad_left, Tp;   /* Tp: steps of the padded input */
} conv_geom;

/* Output length and left padding as Keras computes them (TensorFlow's / XLA's SAME padding). */
static conv_geom geometry(const model_op *o, int64_t T) {
    conv_geom g;
    g.K = o->iattr[CONV1D_KERNEL_SIZE];
    g.d = o->iattr[CONV1D_DILATION_RATE];
    g.s = o->iattr[CONV1D_STRIDES];
    g.groups = o->iattr[CONV1D_GROUPS];
    g.cin = o->iattr[CONV1D_INPUT_DIM];
    g.cout = o->iattr[CONV1D_FILTERS];
    g.cin_g = g.cin / g.groups;
    g.cout_g = g.cout / g.groups;
    g.span = g.d * (g.K - 1) + 1;
    g.T = T;
    g.pad_left = 0;
    switch (o->iattr[CONV1D_PADDING]) {
    case MODEL_CONV_PAD_SAME: {
        g.Tout = (T + g.s - 1) / g.s;
        int64_t total = (g.Tout - 1) * g.s + g.span - T;
        g.pad_left = T && total > 0 ? total / 2 : 0;
        break;
    }
    case MODEL_CONV_PAD_CAUSAL:
        g.pad_left = g.span - 1;
        g.Tout = T ? (T - 1) / g.s + 1 : 0;
        break;
    default:
        g.Tout = T >= g.span ? (T - g.span) / g.s + 1 : 0;
    }
    int64_t need = g.Tout ? (g.Tout - 1) * g.s + g.span : 0;
    g.Tp = g.pad_left + T > need ? g.pad_left + T : need;
    return g;
}

static int one_step_window(const model_op *o) { return o->iattr[CONV1D_KERNEL_SIZE] == 1; }

/* As many output steps as input steps: stride 1, and padding or a one-step window. */
static int keeps_length(const model_op *o) {
    return o->iattr[CONV1D_STRIDES] == 1 &&
           (o->iattr[CONV1D_PADDING] != MODEL_CONV_PAD_VALID || one_step_window(o));
}

/* Output step t reads input steps up to t only: causal padding or a one-step window. */
int model_conv1d_streamable(const model_op *o) {
    return o->iattr[CONV1D_STRIDES] == 1 &&
           (o->iattr[CONV1D_PADDING] == MODEL_CONV_PAD_CAUSAL || one_step_window(o));
}

int64_t model_conv1d_state_floats(const model_op *o) {
    if (o->iattr[CONV1D_PADDING] != MODEL_CONV_PAD_CAUSAL || o->iattr[CONV1D_STRIDES] != 1)
        return 0;
    return (int64_t)o->iattr[CONV1D_DILATION_RATE] * (o->iattr[CONV1D_KERNEL_SIZE] - 1) *
           o->iattr[CONV1D_INPUT_DIM];
}

/* ---- checks ------------------------------------------------------------------------------ */
static int attr_in(const model_check_ctx *c, int slot, const char *name, int32_t lo, int32_t hi) {
    int32_t v = c->o->iattr[slot];
    if (v >= lo && v <= hi) return FG_OK;
    return FAIL(c, "layer '%s' (conv1d): attribute %s = %d (expected %d .. %d)", c->o->layer,
                name, v, lo, hi);
}

static int64_t steps_of(const model_check_ctx *c, const model_tensor *t) {
    return t->dims[0] == -1 ? c->T[t->time_axis] : t->dims[0];
}

static int check_tensors(const model_check_ctx *c, const model_tensor **x, const model_tensor **y) {
    const model_op *o = c->o;
    *x = o->in[0] < 0 ? NULL : &c->m->tensors[o->in[0]];
    *y = o->out[0] < 0 ? NULL : &c->m->tensors[o->out[0]];
    if (!*x || !*y || (*x)->dtype != FG_DTYPE_FLOAT32 || (*y)->dtype != FG_DTYPE_FLOAT32)
        return FAIL(c, "layer '%s' (conv1d): needs a float32 input and output", o->layer);
    if ((*x)->rank != 2 || (*x)->dims[1] != o->iattr[CONV1D_INPUT_DIM])
        return FAIL(c, "layer '%s' (conv1d): input '%s' must be (time, %d) per sample", o->layer,
                    (*x)->name, o->iattr[CONV1D_INPUT_DIM]);
    if ((*y)->rank != 2 || (*y)->dims[1] != o->iattr[CONV1D_FILTERS])
        return FAIL(c, "layer '%s' (conv1d): output '%s' must be (time, %d) per sample",
                    o->layer, (*y)->name, o->iattr[CONV1D_FILTERS]);
    /* A run-time length must come out as the same run-time length; a fixed one as Keras'
     * output length, at least one step. */
    int x_open = (*x)->dims[0] == -1, y_open = (*y)->dims[0] == -1;
    if (x_open != y_open || (x_open && ((*x)->time_axis != (*y)->time_axis ||
                                        !keeps_length(o))))
        return FAIL(c, "layer '%s' (conv1d): output '%s' cannot follow the run-time length of "
                    "input '%s' (only stride 1 with same or causal padding, or a one-step "
                    "window, keeps it)", o->layer, (*y)->name, (*x)->name);
    int64_t T = steps_of(c, *x), Tout = steps_of(c, *y);
    if (T > CONV_MAX_STEPS)
        return FAIL(c, "layer '%s' (conv1d): %lld input steps is more than this op takes",
                    o->layer, (long long)T);
    if (T >= 0 && Tout >= 0) {
        conv_geom g = geometry(o, T);
        if (g.Tout != Tout || (!x_open && Tout < 1))
            return FAIL(c, "layer '%s' (conv1d): %lld input steps give %lld output steps, "
                        "tensor '%s' has %lld", o->layer, (long long)T, (long long)g.Tout,
                        (*y)->name, (long long)Tout);
    }
    return FG_OK;
}

int model_check_conv1d(const model_check_ctx *c) {
    const model_op *o = c->o;
    int st;
    if ((st = attr_in(c, CONV1D_FILTERS, "filters", 1, INT32_MAX)) ||
        (st = attr_in(c, CONV1D_KERNEL_SIZE, "kernel_size", 1, CONV_MAX_ATTR)) ||
        (st = attr_in(c, CONV1D_STRIDES, "strides", 1, CONV_MAX_ATTR)) ||
        (st = attr_in(c, CONV1D_DILATION_RATE, "dilation_rate", 1, CONV_MAX_ATTR)) ||
        (st = attr_in(c, CONV1D_GROUPS, "groups", 1, INT32_MAX)) ||
        (st = attr_in(c, CONV1D_PADDING, "padding", MODEL_CONV_PAD_VALID, MODEL_CONV_PAD_CAUSAL)) ||
        (st = attr_in(c, CONV1D_USE_BIAS, "use_bias", 0, 1)) ||
        (st = attr_in(c, CONV1D_INPUT_DIM, "input_dim", 1, INT32_MAX)) ||
        (st = attr_in(c, CONV1D_ACTIVATION, "activation", 0, FG_ACT_COUNT - 1)))
        return st;
    if (!FG_ACT_BUILT(o->iattr[CONV1D_ACTIVATION]))
        return FAIL(c, "layer '%s': activation id %d is not built into this library "
                    "(fg_config.h)", o->layer, o->iattr[CONV1D_ACTIVATION]);
    int32_t groups = o->iattr[CONV1D_GROUPS];
    if (o->iattr[CONV1D_INPUT_DIM] % groups || o->iattr[CONV1D_FILTERS] % groups)
        return FAIL(c, "layer '%s' (conv1d): groups = %d must divide both the input channels "
                    "(%d) and filters (%d)", o->layer, groups, o->iattr[CONV1D_INPUT_DIM],
                    o->iattr[CONV1D_FILTERS]);
    const model_tensor *x, *y;
    if ((st = check_tensors(c, &x, &y))) return st;
    int64_t K = o->iattr[CONV1D_KERNEL_SIZE], cin_g = o->iattr[CONV1D_INPUT_DIM] / groups,
            cout = o->iattr[CONV1D_FILTERS];
    const model_weight *k = o->w[0] < 0 ? NULL : &c->m->weights[o->w[0]];
    if (!k || k->layout != LAYOUT_PLAIN || k->rank != 3 || k->dims[0] != K ||
        k->dims[1] != cin_g || k->dims[2] != cout)
        return FAIL(c, "layer '%s' (conv1d): kernel missing or not (%lld, %lld, %lld) = "
                    "(kernel_size, input channels / groups, filters)", o->layer, (long long)K,
                    (long long)cin_g, (long long)cout);
    const model_weight *b = o->w[1] < 0 ? NULL : &c->m->weights[o->w[1]];
    if ((b != NULL) != o->iattr[CONV1D_USE_BIAS] ||
        (b && (b->layout != LAYOUT_PLAIN || b->rank != 1 || b->dims[0] != cout)))
        return FAIL(c, "layer '%s' (conv1d): bias must be (%lld,) when use_bias = 1 and absent "
                    "otherwise (use_bias = %d)", o->layer, (long long)cout,
                    o->iattr[CONV1D_USE_BIAS]);
    return FG_OK;
}

/* ---- running ----------------------------------------------------------------------------- */
static const float *conv_bias(const fg_model *m, const model_op *o) {
    return o->w[1] < 0 ? NULL : m->weights[o->w[1]].data;
}

#ifdef FG_MCU
int model_pack_conv(fg_model *m) {
    (void)m;
    return FG_OK;
}

/* Output steps [t0, t0 + n) of one sample from its input x (T steps, unpadded); the window
 * reads zeros outside [0, T) and the carried history `hist` (`nh` steps just before x). */
static void conv_rows(const fg_model *m, const model_op *o, const conv_geom *g,
                      const float *hist, int64_t nh, const float *x, int64_t t0, int64_t n,
                      float *y) {
    const float *kernel = m->weights[o->w[0]].data, *bias = conv_bias(m, o);
    for (int64_t t = t0; t < t0 + n; t++)
        for (int64_t oc = 0; oc < g->cout; oc++) {
            int64_t grp = oc / g->cout_g;
            float acc = bias ? bias[oc] : 0.0f;
            for (int64_t k = 0; k < g->K; k++) {
                int64_t at = t * g->s + k * g->d - g->pad_left;   /* step in x */
                const float *row = at >= 0 && at < g->T ? x + at * g->cin
                                 : at < 0 && at >= -nh ? hist + (nh + at) * g->cin : NULL;
                if (!row) continue;
                for (int64_t c = 0; c < g->cin_g; c++)
                    acc += row[grp * g->cin_g + c] * kernel[(k * g->cin_g + c) * g->cout + oc];
            }
            y[t * g->cout + oc] = acc;
        }
}

static int conv_samples(const model_run_ctx *r, const conv_geom *g, const float *x, float *y) {
    for (int64_t b = 0; b < r->batch; b++)
        conv_rows(r->m, r->o, g, NULL, 0, x + b * g->T * g->cin, 0, g->Tout,
                  y + b * g->Tout * g->cout);
    return FG_OK;
}

/* One step per sample: the window is the carried history, then x. */
static int conv_step(const model_run_ctx *r, const conv_geom *g, float *hist, const float *x,
                     float *y) {
    int64_t nh = g->span - 1;
    conv_geom one = *g;
    one.pad_left = nh;
    one.T = 1;
    for (int64_t b = 0; b < r->batch; b++)
        conv_rows(r->m, r->o, &one, hist + b * nh * g->cin, nh, x + b * g->cin, 0, 1,
                  y + b * g->cout);
    return FG_OK;
}
#else
/* Floats of one group's packing: its panels, then its padded bias. */
static uint64_t group_floats(const conv_geom *g) {
    return model_panel_floats(g->K * g->cin_g, g->cout_g);
}

/* Each group's columns of the kernel, rows i = k * cin_g + c: kernel[k, c, :]. */
static void pack(const fg_model *m, model_op *o, const conv_geom *g, float *at) {
    const float *kernel = m->weights[o->w[0]].data, *bias = conv_bias(m, o);
    o->dense_panels = at;
    for (int64_t grp = 0; grp < g->groups; grp++, at += group_floats(g))
        model_pack_panels(kernel + grp * g->cout_g, g->cout, g->K * g->cin_g, g->cout_g,
                          bias ? bias + grp * g->cout_g : NULL, at);
}

int model_pack_conv(fg_model *m) {
    uint64_t floats = 0;
    for (int32_t i = 0; i < m->n_ops; i++) {
        if (m->ops[i].kind != OP_CONV1D) continue;
        conv_geom g = geometry(&m->ops[i], 0);
        /* the kernel lies in the image, so this is at most ~100 times its size */
        uint64_t per = group_floats(&g);
        if ((uint64_t)g.groups > (UINT64_MAX / 8 - floats) / per)
            return fg_fail(FG_ERR_NOMEM, "layer '%s': conv1d packing overflows",
                           m->ops[i].layer);
        floats += per * (uint64_t)g.groups;
    }
    if (!floats) return FG_OK;
    int st = model_alloc_panels(m, floats, "the packed conv1d kernels", &m->conv_packed);
    if (st) return st;
    float *at = m->conv_packed;
    for (int32_t i = 0; i < m->n_ops; i++) {
        model_op *o = &m->ops[i];
        if (o->kind != OP_CONV1D) continue;
        conv_geom g = geometry(o, 0);
        pack(m, o, &g, at);
        at += group_floats(&g) * (uint64_t)g.groups;
    }
    return FG_OK;
}

/* n floats (at least one), 64-byte aligned; NULL when out of memory. */
static float *alloc_floats(size_t n) {
    return fg_aligned_alloc(MODEL_ALIGN, (n * 4 / MODEL_ALIGN + 1) * MODEL_ALIGN);
}

/* Windows are read in place (one group, dilation 1) or gathered into `cols`. */
static int direct_windows(const conv_geom *g) { return g->groups == 1 && g->d == 1; }

/* Output steps [t0, t0 + n) (n <= CONV_ROW_CHUNK) of one sample from its padded input xp. */
static void conv_chunk(const fg_kernels *k, const model_op *o, const conv_geom *g,
                       const float *xp, int64_t t0, int64_t n, float *y, float *cols) {
    int64_t rows = g->K * g->cin_g;
    for (int64_t grp = 0; grp < g->groups; grp++) {
        const float *A = xp + t0 * g->s * g->cin, *P = o->dense_panels + grp * group_floats(g);
        int64_t lda = g->s * g->cin;
        if (!direct_windows(g)) {
            for (int64_t r = 0; r < n; r++)
                for (int64_t kk = 0; kk < g->K; kk++)
                    memcpy(cols + r * rows + kk * g->cin_g,
                           xp + ((t0 + r) * g->s + kk * g->d) * g->cin + grp * g->cin_g,
                           (size_t)g->cin_g * 4);
            A = cols;
            lda = rows;
        }
        model_panel_product(k, n, rows, A, lda, P, g->cout_g,
                            y + t0 * g->cout + grp * g->cout_g, g->cout);
    }
}

/* A run's work: every sample's padded input, cut in chunks of output steps; pieces of the
 * thread team take runs of chunks, each piece with its own gather buffer. */
typedef struct conv_job {
    const fg_kernels *k;
    const model_op *o;
    const conv_geom *g;
    const float *xp;     /* batch x Tp x cin */
    float *y;            /* batch x Tout x cout */
    float *cols;         /* pieces x CONV_ROW_CHUNK x K*cin_g, or NULL */
    int64_t chunks, batch;   /* chunks per sample */
    int pieces;
} conv_job;

static int conv_piece(void *arg, int phase, int unit) {
    (void)phase;
    const conv_job *j = arg;
    const conv_geom *g = j->g;
    int64_t items = j->batch * j->chunks;
    int64_t lo = items * unit / j->pieces, hi = items * (unit + 1) / j->pieces;
    float *cols = j->cols ? j->cols + (int64_t)unit * CONV_ROW_CHUNK * g->K * g->cin_g : NULL;
    for (int64_t it = lo; it < hi; it++) {
        int64_t b = it / j->chunks, t0 = it % j->chunks * CONV_ROW_CHUNK;
        int64_t n = g->Tout - t0 < CONV_ROW_CHUNK ? g->Tout - t0 : CONV_ROW_CHUNK;
        conv_chunk(j->k, j->o, g, j->xp + b * g->Tp * g->cin, t0, n,
                   j->y + b * g->Tout * g->cout, cols);
    }
    return 0;
}

/* y for `batch` samples whose padded inputs lie at xp (batch x Tp x cin). */
static int conv_padded(const model_run_ctx *r, const conv_geom *g, int64_t batch,
                       const float *xp, float *y) {
    int64_t chunks = (g->Tout + CONV_ROW_CHUNK - 1) / CONV_ROW_CHUNK;
    double flops = 2.0 * (double)batch * (double)g->Tout * (double)g->K * (double)g->cin_g *
                   (double)g->cout;
    int64_t by_work = (int64_t)(flops / CONV_MIN_FLOPS_PER_THREAD);
    int64_t items = batch * chunks;
    int nt = by_work < r->nthreads ? (int)by_work : r->nthreads;
    if (nt > items) nt = (int)items;
    if (nt > FG_TEAM_MAX) nt = FG_TEAM_MAX;
    if (nt < 1) nt = 1;
    float *cols = NULL;
    if (!direct_windows(g)) {
        size_t n = (size_t)nt * CONV_ROW_CHUNK * (size_t)(g->K * g->cin_g);
        int st = fg_check_cap(n * 4, "the conv1d gather buffer");
        if (st) return st;
        if (!(cols = alloc_floats(n)))
            return fg_fail(FG_ERR_NOMEM, "layer '%s' (conv1d): out of memory", r->o->layer);
    }
    conv_job job = {fg_kernels_for(fg_isa_active()), r->o, g, xp, y, cols, chunks, batch, nt};
    if (nt > 1) fg_team_run(nt, 1, nt, conv_piece, &job);
    else if (items) conv_piece(&job, 0, 0);
    fg_aligned_free(cols);
    return FG_OK;
}

/* Whole sequences: pad each sample (unless nothing pads), then the gemm. */
static int conv_samples(const model_run_ctx *r, const conv_geom *g, const float *x, float *y) {
    if (!g->pad_left && g->Tp == g->T) return conv_padded(r, g, r->batch, x, y);
    /* the padding can be much longer than the input (a hostile dilation): size it with care */
    if (r->batch && (g->Tp > INT64_MAX / 8 / g->cin / r->batch))
        return fg_fail(FG_ERR_NOMEM, "layer '%s' (conv1d): the padded input is too large",
                       r->o->layer);
    size_t n = (size_t)r->batch * (size_t)g->Tp * (size_t)g->cin;
    int st = fg_check_cap(n * 4, "the conv1d padded input");
    if (st) return st;
    float *xp = alloc_floats(n);
    if (!xp) return fg_fail(FG_ERR_NOMEM, "layer '%s' (conv1d): out of memory", r->o->layer);
    memset(xp, 0, n * 4);
    for (int64_t b = 0; b < r->batch; b++)
        memcpy(xp + (b * g->Tp + g->pad_left) * g->cin, x + b * g->T * g->cin,
               (size_t)(g->T * g->cin) * 4);
    st = conv_padded(r, g, r->batch, xp, y);
    fg_aligned_free(xp);
    return st;
}

/* One step per sample: its window is the carried history, then x; run as a valid conv. */
static int conv_step(const model_run_ctx *r, const conv_geom *g, float *hist, const float *x,
                     float *y) {
    int64_t nh = g->span - 1, batch = r->batch;
    conv_geom one = *g;
    one.T = one.Tp = g->span;
    one.Tout = 1;
    one.pad_left = 0;
    size_t n = (size_t)batch * (size_t)(g->span * g->cin);
    float *xp = alloc_floats(n);
    if (!xp) return fg_fail(FG_ERR_NOMEM, "layer '%s' (conv1d): out of memory", r->o->layer);
    for (int64_t b = 0; b < batch; b++) {
        memcpy(xp + b * g->span * g->cin, hist + b * nh * g->cin, (size_t)(nh * g->cin) * 4);
        memcpy(xp + (b * g->span + nh) * g->cin, x + b * g->cin, (size_t)g->cin * 4);
    }
    int st = conv_padded(r, &one, batch, xp, y);
    fg_aligned_free(xp);
    return st;
}
#endif

/* After a stream step: drop each sample's oldest carried input, append x. */
static void shift_history(const conv_geom *g, int64_t batch, float *hist, const float *x) {
    int64_t nh = g->span - 1;
    for (int64_t b = 0; b < batch; b++) {
        float *h = hist + b * nh * g->cin;
        memmove(h, h + g->cin, (size_t)((nh - 1) * g->cin) * 4);
        memcpy(h + (nh - 1) * g->cin, x + b * g->cin, (size_t)g->cin * 4);
    }
}

int model_run_conv1d(const model_run_ctx *r) {
    const model_op *o = r->o;
    const model_tensor *xt = &r->m->tensors[o->in[0]];
    conv_geom g = geometry(o, xt->dims[0] == -1 ? r->T[xt->time_axis] : xt->dims[0]);
    const float *x = r->in[0];
    float *y = r->out[0];
    int st;
    if (r->streaming && o->state_slot >= 0 && g.span > 1) {
        float *hist = r->state->h + r->state->slot_offset[o->state_slot];
        if (!(st = conv_step(r, &g, hist, x, y))) shift_history(&g, r->batch, hist, x);
    } else {
        st = conv_samples(r, &g, x, y);
    }
    if (st) return st;
    if (fg_activation_apply(o->iattr[CONV1D_ACTIVATION], y, r->batch * g.Tout, g.cout,
                            g.cout) != FG_OK)
        return fg_fail(FG_ERR_ARG, "layer '%s' (conv1d): %s", o->layer, fg_last_error());
    return FG_OK;
}
