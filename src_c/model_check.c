/* model_check.c - the shape / dtype / attribute rules of every op kind.
 *
 * Run once at load with the time axes open (a -1 dimension matches anything; failures are
 * FG_ERR_FORMAT) and again for each run shape with the time axes resolved (failures are
 * FG_ERR_ARG). Once an op passes for a shape, the kernels in model_ops.c and
 * fg_gru_forward cannot read or write outside the tensors' buffers.
 */
#include <math.h>

#include "fg_activations.h"
#include "fg_config_select.h"
#include "model_internal.h"

#define FAIL(c, ...) fg_fail((c)->code, __VA_ARGS__)

static int64_t dim(const model_check_ctx *c, const model_tensor *t, int k) {
    return t->dims[k] == -1 ? c->T[t->time_axis] : t->dims[k];
}
static int dim_eq(int64_t a, int64_t b) { return a == b || a < 0 || b < 0; }

/* The tensor at in[k] (or out[k]); fails when required and absent, or of the wrong dtype. */
static int tensor_at(const model_check_ctx *c, int is_out, int k, int32_t dtype, int required,
                     const model_tensor **t) {
    int32_t id = is_out ? c->o->out[k] : c->o->in[k];
    *t = NULL;
    if (id < 0) {
        if (!required) return FG_OK;
        return FAIL(c, "layer '%s' (%s): %s %d is missing", c->o->layer,
                    model_kind_name(c->o->kind), is_out ? "output" : "input", k);
    }
    *t = &c->m->tensors[id];
    if (dtype >= 0 && (*t)->dtype != dtype)
        return FAIL(c, "layer '%s' (%s): tensor '%s' has dtype %d, expected %d", c->o->layer,
                    model_kind_name(c->o->kind), (*t)->name, (*t)->dtype, dtype);
    return FG_OK;
}

/* `t` has the shape of `ref` with its last axis dropped (drop_last) or replaced by `last`
 * (last > 0), or equal (last == 0). */
static int shape_like(const model_check_ctx *c, const model_tensor *t, const model_tensor *ref,
                      int drop_last, int64_t last) {
    int32_t rank = ref->rank - (drop_last ? 1 : 0);
    int ok = t->rank == rank;
    for (int k = 0; ok && k < rank; k++) {
        int64_t want = (!drop_last && last > 0 && k == rank - 1) ? last : dim(c, ref, k);
        ok = dim_eq(dim(c, t, k), want);
    }
    if (ok) return FG_OK;
    return FAIL(c, "layer '%s' (%s): tensor '%s' has a shape that does not fit tensor '%s' "
                "(ranks %d and %d)", c->o->layer, model_kind_name(c->o->kind), t->name, ref->name,
                t->rank, ref->rank);
}

/* Weight slot k: absent allowed unless required; plain float32 of rank 1 or 2 with the dims. */
static int weight_at(const model_check_ctx *c, int k, int required, int32_t rank, int64_t d0,
                     int64_t d1, const model_weight **w) {
    int32_t id = c->o->w[k];
    *w = NULL;
    if (id < 0) {
        if (!required) return FG_OK;
        return FAIL(c, "layer '%s' (%s): weight %d is missing", c->o->layer,
                    model_kind_name(c->o->kind), k);
    }
    *w = &c->m->weights[id];
    int ok = (*w)->layout == LAYOUT_PLAIN && (*w)->rank == rank && (d0 < 0 || (*w)->dims[0] == d0);
    if (ok && rank == 2) ok = d1 < 0 || (*w)->dims[1] == d1;
    if (ok) return FG_OK;
    return FAIL(c, "layer '%s' (%s): weight %d has rank %d, dims (%lld, %lld); expected rank %d, "
                "dims (%lld, %lld)", c->o->layer, model_kind_name(c->o->kind), k, (*w)->rank,
                (long long)(*w)->dims[0], (long long)((*w)->rank > 1 ? (*w)->dims[1] : 0), rank,
                (long long)d0, (long long)d1);
}

static int flag_ok(const model_check_ctx *c, int slot, const char *name) {
    int32_t v = c->o->iattr[slot];
    if (v == 0 || v == 1) return FG_OK;
    return FAIL(c, "layer '%s': attribute %s = %d (expected 0 or 1)", c->o->layer, name, v);
}

static int act_ok(const model_check_ctx *c, int32_t act) {
    if (act < 0 || act >= FG_ACT_COUNT)
        return FAIL(c, "layer '%s': unknown activation id %d", c->o->layer, act);
    if (!FG_ACT_BUILT(act))
        return FAIL(c, "layer '%s': activation id %d is not built into this library "
                    "(fg_config.h)", c->o->layer, act);
    return FG_OK;
}

/* The recurrent kinds share the gru's attribute slots (fastgru/registry.py). */
_Static_assert((int)LSTM_INPUT_DIM == (int)GRU_INPUT_DIM &&
                   (int)SIMPLE_RNN_INPUT_DIM == (int)GRU_INPUT_DIM &&
                   (int)LSTM_STATEFUL == (int)GRU_STATEFUL &&
                   (int)SIMPLE_RNN_STATEFUL == (int)GRU_STATEFUL,
               "recurrent ops read their attributes through the gru's slot names");

/* A state tensor (h0, c0, h or c) of a recurrent op, when present: (units,) per sample. */
static int state_ok(const model_check_ctx *c, const model_tensor *t, const char *what)
{
    int64_t U = c->o->gru.units;
    if (!t || (t->rank == 1 && t->dims[0] == U)) return FG_OK;
    return FAIL(c, "layer '%s' (%s): %s '%s' must be (%lld,) per sample", c->o->layer,
                model_kind_name(c->o->kind), what, t->name, (long long)U);
}

/* gru: inputs x, mask, h0; outputs y, h. lstm: also the cell state, input c0 and output c.
 * simple_rnn: as gru, with no recurrent activation (0). */
int model_check_recurrent(const model_check_ctx *c)
{
    const model_op *o = c->o;
    const char *kind = model_kind_name(o->kind);
    const model_tensor *x, *mask, *h0, *y, *h, *c0 = NULL, *cell = NULL;
    int st, lstm = o->kind == OP_LSTM;
    if ((st = flag_ok(c, GRU_GO_BACKWARDS, "go_backwards")) ||
        (st = flag_ok(c, GRU_RETURN_SEQUENCES, "return_sequences")) ||
        (st = flag_ok(c, GRU_ZERO_OUTPUT_FOR_MASK, "zero_output_for_mask")) ||
        (st = flag_ok(c, GRU_STATEFUL, "stateful")) ||
        (st = flag_ok(c, GRU_TIME_MAJOR, "time_major")))
        return st;
    if (fg_gru_check_config(&o->gru) != FG_OK) {
        char why[256]; /* a copy: FAIL writes the buffer fg_last_error() reads */
        const char *msg = fg_last_error();
        size_t n = 0;
        for (; msg[n] && n + 1 < sizeof why; n++) why[n] = msg[n]; /* no stdio on an MCU */
        why[n] = '\0';
        return FAIL(c, "layer '%s' (%s): %s", o->layer, kind, why);
    }
    if (o->kind == OP_SIMPLE_RNN && o->gru.recurrent_activation != 0)
        return FAIL(c,
                    "layer '%s' (simple_rnn): attribute recurrent_activation = %d (a "
                    "SimpleRNN has none: expected 0)",
                    o->layer, o->gru.recurrent_activation);
    int64_t U = o->gru.units;
    if ((st = tensor_at(c, 0, 0, FG_DTYPE_FLOAT32, 1, &x)) ||
        (st = tensor_at(c, 0, 1, FG_DTYPE_BOOL, 0, &mask)) ||
        (st = tensor_at(c, 0, 2, FG_DTYPE_FLOAT32, 0, &h0)) ||
        (lstm && (st = tensor_at(c, 0, 3, FG_DTYPE_FLOAT32, 0, &c0))) ||
        (st = tensor_at(c, 1, 0, FG_DTYPE_FLOAT32, 1, &y)) ||
        (st = tensor_at(c, 1, 1, FG_DTYPE_FLOAT32, 0, &h)) ||
        (lstm && (st = tensor_at(c, 1, 2, FG_DTYPE_FLOAT32, 0, &cell))))
        return st;
    if (x->rank != 2 || x->dims[1] != o->gru.input_dim)
        return FAIL(c, "layer '%s' (%s): input '%s' must be (time, %d) per sample", o->layer, kind,
                    x->name, o->gru.input_dim);
    if (mask && (st = shape_like(c, mask, x, 1, 0))) return st;
    if ((st = state_ok(c, h0, "initial state")) || (st = state_ok(c, c0, "initial cell state")) ||
        (st = state_ok(c, h, "state output")) || (st = state_ok(c, cell, "cell state output")))
        return st;
    /* time-major: x, mask and y are (time, batch, ...) in the model's layout, so the last
     * output and the states, (batch, units), have no model batch axis */
    if (FG_CONFIG_TIME_MAJOR && o->iattr[GRU_TIME_MAJOR] &&
        (!o->iattr[GRU_RETURN_SEQUENCES] || o->iattr[GRU_STATEFUL] || h0 || c0 || h || cell))
        return FAIL(c,
                    "layer '%s' (%s): a time-major op must return sequences and take no "
                    "initial state, give no final state and not be stateful",
                    o->layer, kind);
    if (o->iattr[GRU_RETURN_SEQUENCES] ? (st = shape_like(c, y, x, 0, U))
                                       : (y->rank != 1 || y->dims[0] != U))
        return st ? st
                  : FAIL(c, "layer '%s' (%s): output '%s' must be (%lld,) per sample", o->layer,
                         kind, y->name, (long long)U);
    const model_weight *w = &c->m->weights[o->w[0] < 0 ? 0 : o->w[0]];
    if (o->w[0] < 0 || w->layout != LAYOUT_GRU_PACKED || w->nbytes != fg_gru_packed_bytes(&o->gru))
        return FAIL(c,
                    "layer '%s' (%s): packed weights missing or of the wrong size (expected "
                    "%zu bytes)",
                    o->layer, kind, fg_gru_packed_bytes(&o->gru));
    return FG_OK;
}

int model_check_dense(const model_check_ctx *c) {
    const model_tensor *x, *y;
    const model_weight *k, *b;
    int st;
    if ((st = tensor_at(c, 0, 0, FG_DTYPE_FLOAT32, 1, &x)) ||
        (st = tensor_at(c, 1, 0, FG_DTYPE_FLOAT32, 1, &y)) ||
        (st = flag_ok(c, DENSE_USE_BIAS, "use_bias")) || (st = act_ok(c, c->o->iattr[DENSE_ACTIVATION])))
        return st;
    if (x->rank < 1 || x->dims[x->rank - 1] < 1)
        return FAIL(c, "layer '%s' (dense): input '%s' needs a feature axis", c->o->layer, x->name);
    if ((st = weight_at(c, 0, 1, 2, x->dims[x->rank - 1], -1, &k))) return st;
    int64_t units = k->dims[1];
    if ((st = weight_at(c, 1, c->o->iattr[DENSE_USE_BIAS], 1, units, -1, &b))) return st;
    if (b && !c->o->iattr[DENSE_USE_BIAS])
        return FAIL(c, "layer '%s' (dense): bias present with use_bias = 0", c->o->layer);
    return shape_like(c, y, x, 0, units);
}

int model_check_embedding(const model_check_ctx *c) {
    const model_tensor *ids, *y;
    const model_weight *e;
    int st;
    if ((st = tensor_at(c, 0, 0, FG_DTYPE_INT32, 1, &ids)) ||
        (st = tensor_at(c, 1, 0, FG_DTYPE_FLOAT32, 1, &y)) ||
        (st = weight_at(c, 0, 1, 2, -1, -1, &e)))
        return st;
    if (ids->rank >= FG_MAX_RANK || y->rank != ids->rank + 1 || y->dims[ids->rank] != e->dims[1])
        return FAIL(c, "layer '%s' (embedding): output '%s' must be the ids' shape + (%lld,)",
                    c->o->layer, y->name, (long long)e->dims[1]);
    for (int k = 0; k < ids->rank; k++)
        if (!dim_eq(dim(c, y, k), dim(c, ids, k)))
            return FAIL(c, "layer '%s' (embedding): output '%s' does not match ids '%s'",
                        c->o->layer, y->name, ids->name);
    return FG_OK;
}

int model_check_compute_mask(const model_check_ctx *c) {
    const model_tensor *x, *mask;
    int st;
    if ((st = tensor_at(c, 0, 0, -1, 1, &x)) ||
        (st = tensor_at(c, 1, 0, FG_DTYPE_BOOL, 1, &mask)))
        return st;
    if (x->dtype == FG_DTYPE_BOOL || x->rank < 1)
        return FAIL(c, "layer '%s' (compute_mask): input '%s' must be float or int ids",
                    c->o->layer, x->name);
    return shape_like(c, mask, x, x->dtype == FG_DTYPE_FLOAT32, 0);
}

int model_check_apply_mask(const model_check_ctx *c) {
    const model_tensor *x, *mask, *y;
    int st;
    if ((st = tensor_at(c, 0, 0, FG_DTYPE_FLOAT32, 1, &x)) ||
        (st = tensor_at(c, 0, 1, FG_DTYPE_BOOL, 1, &mask)) ||
        (st = tensor_at(c, 1, 0, FG_DTYPE_FLOAT32, 1, &y)))
        return st;
    if (x->rank < 1) return FAIL(c, "layer '%s': input '%s' has no axis", c->o->layer, x->name);
    if ((st = shape_like(c, mask, x, 1, 0))) return st;
    return shape_like(c, y, x, 0, 0);
}

/* Every input has the output's shape and dtype (mask_and, add, subtract, ...). */
static int check_same(const model_check_ctx *c, int32_t dtype) {
    const model_tensor *y, *x;
    int st = tensor_at(c, 1, 0, dtype, 1, &y);
    for (int k = 0; !st && k < c->o->n_in; k++)
        if (!(st = tensor_at(c, 0, k, dtype, 1, &x))) st = shape_like(c, x, y, 0, 0);
    return st;
}

_Static_assert((int)LAYER_NORM_F_EPSILON == (int)BATCH_NORM_F_EPSILON, "the norms share an epsilon slot");

static int check_norm(const model_check_ctx *c) {
    const model_tensor *x;
    int st = check_same(c, FG_DTYPE_FLOAT32);
    if (st || (st = tensor_at(c, 0, 0, FG_DTYPE_FLOAT32, 1, &x))) return st;
    if (x->rank < 1 || x->dims[x->rank - 1] < 1)
        return FAIL(c, "layer '%s': input '%s' needs a feature axis", c->o->layer, x->name);
    float eps = c->o->fattr[LAYER_NORM_F_EPSILON];   /* batch_norm's is the same slot */
    if (!(eps >= 0.0f) || isinf(eps))
        return FAIL(c, "layer '%s': epsilon %g is not a finite value >= 0", c->o->layer, eps);
    const model_weight *w;
    for (int k = 0; k < c->o->n_w; k++) {
        int required = c->o->kind == OP_BATCH_NORM && k >= 2;   /* moving mean, variance */
        if ((st = weight_at(c, k, required, 1, x->dims[x->rank - 1], -1, &w))) return st;
    }
    return FG_OK;
}

int model_check_concatenate(const model_check_ctx *c) {
    const model_tensor *y, *x;
    int st = tensor_at(c, 1, 0, FG_DTYPE_FLOAT32, 1, &y);
    if (st) return st;
    int32_t axis = c->o->iattr[CONCATENATE_AXIS];
    if (axis >= 0 || axis < -y->rank)
        return FAIL(c, "layer '%s' (concatenate): axis %d must be in [-%d, -1] (the batch axis "
                    "cannot be joined)", c->o->layer, axis, y->rank);
    int ax = y->rank + axis;
    int64_t sum = 0;
    for (int k = 0; k < c->o->n_in; k++) {
        if ((st = tensor_at(c, 0, k, FG_DTYPE_FLOAT32, 1, &x))) return st;
        int ok = x->rank == y->rank;
        for (int d = 0; ok && d < y->rank; d++) ok = d == ax || dim_eq(dim(c, x, d), dim(c, y, d));
        if (!ok)
            return FAIL(c, "layer '%s' (concatenate): input '%s' does not fit output '%s' off "
                        "axis %d", c->o->layer, x->name, y->name, axis);
        int64_t d = dim(c, x, ax);
        sum = (sum < 0 || d < 0) ? -1 : sum + d;
    }
    if (!dim_eq(sum, dim(c, y, ax)))
        return FAIL(c, "layer '%s' (concatenate): inputs add up to %lld along axis %d, output "
                    "'%s' has %lld", c->o->layer, (long long)sum, axis, y->name,
                    (long long)dim(c, y, ax));
    return FG_OK;
}

int model_check_layer_norm(const model_check_ctx *c) { return check_norm(c); }
int model_check_batch_norm(const model_check_ctx *c) { return check_norm(c); }
int model_check_mask_and(const model_check_ctx *c) { return check_same(c, FG_DTYPE_BOOL); }
int model_check_mask_or(const model_check_ctx *c) { return check_same(c, FG_DTYPE_BOOL); }
int model_check_add(const model_check_ctx *c) { return check_same(c, FG_DTYPE_FLOAT32); }
int model_check_subtract(const model_check_ctx *c) { return check_same(c, FG_DTYPE_FLOAT32); }
int model_check_multiply(const model_check_ctx *c) { return check_same(c, FG_DTYPE_FLOAT32); }
int model_check_average(const model_check_ctx *c) { return check_same(c, FG_DTYPE_FLOAT32); }

int model_check_activation(const model_check_ctx *c) {
    const model_tensor *x;
    int st;
    if ((st = act_ok(c, c->o->iattr[ACTIVATION_ACTIVATION])) ||
        (st = check_same(c, FG_DTYPE_FLOAT32)) ||
        (st = tensor_at(c, 0, 0, FG_DTYPE_FLOAT32, 1, &x)))
        return st;
    if (x->rank < 1) return FAIL(c, "layer '%s': input '%s' has no axis", c->o->layer, x->name);
    return FG_OK;
}

int model_check_reverse_time(const model_check_ctx *c) {
    const model_tensor *y;
    int st;
    if ((st = tensor_at(c, 1, 0, -1, 1, &y)) || (st = check_same(c, y->dtype)) ||
        (st = flag_ok(c, REVERSE_TIME_BATCH_AXIS, "batch_axis")))
        return st;
    if (y->rank < 1 && !c->o->iattr[REVERSE_TIME_BATCH_AXIS])
        return FAIL(c, "layer '%s': tensor '%s' has no time axis", c->o->layer, y->name);
    return FG_OK;
}

/* The rules above, for the op kinds checked in files of their own (model_internal.h). */
int model_check_tensor(const model_check_ctx *c, int is_out, int k, int32_t dtype, int required,
                       const model_tensor **t) {
    return tensor_at(c, is_out, k, dtype, required, t);
}
int model_check_weight(const model_check_ctx *c, int k, int required, int32_t rank, int64_t d0,
                       int64_t d1, const model_weight **w) {
    return weight_at(c, k, required, rank, d0, d1, w);
}
int model_check_flag(const model_check_ctx *c, int slot, const char *name) {
    return flag_ok(c, slot, name);
}
int64_t model_check_dim(const model_check_ctx *c, const model_tensor *t, int k) {
    return dim(c, t, k);
}
int model_check_same_shape(const model_check_ctx *c, int32_t dtype) {
    return check_same(c, dtype);
}

int model_check_op(const fg_model *m, const model_op *o, const int64_t *times) {
    static const int64_t open[MODEL_MAX_TIME_AXES] = {-1, -1, -1, -1, -1, -1, -1, -1};
    model_check_ctx c = {m, o, times ? times : open, times ? FG_ERR_ARG : FG_ERR_FORMAT};
    if (o->kind < 0 || o->kind >= OP_KIND_COUNT)   /* the loader refuses these already */
        return FAIL(&c, "layer '%s': unknown op kind %d", o->layer, o->kind);
    if (!FG_OP_BUILT(o->kind))
        return FAIL(&c, "layer '%s': op kind %s is not built into this library (fg_config.h)",
                    o->layer, model_kind_name(o->kind));
    return MODEL_OP_KINDS[o->kind].check(&c);
}


