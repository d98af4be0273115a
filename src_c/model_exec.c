/* model_exec.c - plan a (batch, timesteps) run, run the ops in order, stream one step.
 *
 * Workspace layout for one run (all 64-byte aligned):
 *   [table: per tensor its address, its offset in the tensor area and its size]
 *   [tensor area: the tensors that ops write; two tensors share bytes when their lifetimes
 *    (from the op that writes one to the last op that reads it) do not overlap]
 *   [recurrent scratch: the largest fg_gru_workspace_bytes over the gru, lstm and simple_rnn
 *    ops]
 * Model inputs are read in place from the caller's arrays, and ops write model outputs
 * straight into the caller's arrays (an output that is a model input, or that appears twice
 * among the outputs, is copied at the end). fg_model_run plans per call (cheap next to a
 * sequence's maths), so the model stays immutable; a stream plans on its first step and keeps
 * the plan in its fg_state, because a single step's maths can be well under a microsecond.
 */
#include <stdlib.h>
#include <string.h>

#include "fg_alloc.h"
#include "fg_custom_program.h"
#include "fg_config_select.h"
#include "model_internal.h"

static size_t align_up(size_t n) { return (n + MODEL_ALIGN - 1) / MODEL_ALIGN * MODEL_ALIGN; }

int64_t model_sample_elems(const model_tensor *t, const int64_t *T) {
    int64_t n = 1;
    for (int k = 0; k < t->rank; k++) {
        int64_t d = t->dims[k] == -1 ? T[t->time_axis] : t->dims[k];
        if (d < 0 || (d && n > INT64_MAX / d)) return -1;
        n *= d;
    }
    return n;
}

/* Bytes of tensor t for the batch, or SIZE_MAX when that overflows. */
static size_t tensor_bytes(const model_tensor *t, int64_t batch, const int64_t *T) {
    int64_t n = model_sample_elems(t, T);
    if (n < 0 || (batch && n > INT64_MAX / 8 / batch)) return SIZE_MAX;
    return (size_t)(batch * n * model_dtype_size(t->dtype));
}

/* The batch rows and timesteps a recurrent op runs for a model batch of `batch`: a time-major
 * op's steps are the model's batch rows and its rows its input's first per-sample axis. */
static void recurrent_extent(const fg_model *m, const model_op *o, int64_t batch, const int64_t *T,
                             int64_t *rows, int64_t *steps)
{
    const model_tensor *x = &m->tensors[o->in[0]];
    int64_t first = x->dims[0] == -1 ? T[x->time_axis] : x->dims[0];
    int tm = FG_CONFIG_TIME_MAJOR && o->iattr[GRU_TIME_MAJOR];
    *rows = tm ? first : batch;
    *steps = tm ? batch : first;
}

/* The caller's lengths, one per time axis, copied into a full-size array (checked >= 0). */
static int read_times(const fg_model *m, const int64_t *timesteps, int64_t *times) {
    if (!timesteps && m->n_time)
        return fg_fail(FG_ERR_ARG, "the model has %d time axes: timesteps is NULL", m->n_time);
    for (int k = 0; k < MODEL_MAX_TIME_AXES; k++) {
        times[k] = k < m->n_time ? timesteps[k] : 0;
        if (times[k] < 0)
            return fg_fail(FG_ERR_ARG, "timesteps[%d] = %lld must be >= 0", k,
                           (long long)times[k]);
    }
    return FG_OK;
}

static int lifetimes_overlap(const model_tensor *a, const model_tensor *b) {
    return a->producer <= b->last_use && b->producer <= a->last_use;
}

/* First-fit placement of the tensors with size[i] > 0 into the tensor area: off[i] is the
 * lowest offset whose bytes no tensor alive at the same time already holds. Returns the area's
 * size. O(n^2) per tensor at worst, for a few dozen tensors. */
static size_t place_tensors(const fg_model *m, const size_t *size, size_t *off) {
    size_t top = 0;
    for (int32_t i = 0; i < m->n_tensors; i++) {
        if (!size[i]) continue;
        size_t at = 0;
        for (int32_t j = 0; j < i; j++) {
            if (!size[j] || !lifetimes_overlap(&m->tensors[i], &m->tensors[j])) continue;
            if (at < off[j] + size[j] && off[j] < at + size[i]) {
                at = off[j] + size[j];   /* clashes: move past j and check everyone again */
                j = -1;
            }
        }
        off[i] = at;
        if (at + size[i] > top) top = at + size[i];
    }
    return top;
}

/* Checks every op for this shape (unless `checked` says that was done for this very shape)
 * and lays the workspace out; `table` holds 3 x n_tensors words: addresses (filled in by the
 * caller), offsets in the tensor area, sizes. */
static int make_plan(const fg_model *m, int64_t batch, const int64_t *T, int32_t nthreads,
                     model_plan *p, size_t *table, int checked) {
    if (batch < 0) return fg_fail(FG_ERR_ARG, "batch (%lld) must be >= 0", (long long)batch);
    for (int32_t i = 0; i < m->n_ops && !checked; i++) {
        int st = model_check_op(m, &m->ops[i], T);
        if (st) return st;
    }
    size_t *off = table + m->n_tensors, *size = table + 2 * (size_t)m->n_tensors;
    for (int32_t i = 0; i < m->n_tensors; i++) {
        const model_tensor *t = &m->tensors[i];
        size[i] = off[i] = 0;
        if (t->producer < 0 || t->output_index >= 0) continue;
        size_t b = tensor_bytes(t, batch, T);
        if (b == SIZE_MAX || b > SIZE_MAX / 4 / (size_t)m->n_tensors)
            return fg_fail(FG_ERR_NOMEM, "tensor '%s' for batch %lld, %lld steps is too large",
                           t->name, (long long)batch, (long long)T[t->time_axis]);
        size[i] = align_up(b);
    }
    size_t gru = 0;
    for (int32_t i = 0; i < m->n_ops; i++) {
        const model_op *o = &m->ops[i];
        if (model_recurrent_cell(o->kind) < 0) continue;
        int64_t rows, steps;
        recurrent_extent(m, o, batch, T, &rows, &steps);
        size_t b = fg_gru_custom_workspace_bytes(&o->gru, o->program, rows, steps, nthreads);
        if (b > gru) gru = b;
    }
    p->table = align_up(3 * (size_t)m->n_tensors * sizeof(size_t));
    p->tensors_at = p->table;
    p->gru_at = p->tensors_at + place_tensors(m, size, off);
    if (gru > SIZE_MAX / 4 - p->gru_at)
        return fg_fail(FG_ERR_NOMEM, "workspace for batch %lld is too large", (long long)batch);
    p->total = p->gru_at + align_up(gru);
    return fg_check_cap(p->total, "the run's workspace");
}

/* make_plan with a table of its own (for callers that have no workspace yet). */
static int make_plan_alone(const fg_model *m, int64_t batch, const int64_t *T,
                           int32_t nthreads, model_plan *p) {
#ifdef FG_MCU
    /* one thread and no heap: the model's own table (counted in fg_model_memory_bytes) */
    return make_plan(m, batch, T, nthreads, p, m->plan_table, 0);
#else
    size_t *table = malloc((3 * (size_t)m->n_tensors + 1) * sizeof(size_t));
    if (!table) return fg_fail(FG_ERR_NOMEM, "out of memory planning the workspace");
    int st = make_plan(m, batch, T, nthreads, p, table, 0);
    free(table);
    return st;
#endif
}

/* A workspace of its own for one run, planned once: the table is built aside, then copied
 * to the workspace's start where the run expects it. */
static int own_workspace(const fg_model *m, int64_t batch, const int64_t *T, int32_t nthreads,
                         int checked, model_plan *p, void **out) {
    size_t words = 3 * (size_t)m->n_tensors;
    size_t *table = malloc((words + 1) * sizeof(size_t));
    if (!table) return fg_fail(FG_ERR_NOMEM, "out of memory planning the workspace");
    int st = make_plan(m, batch, T, nthreads, p, table, checked);
    if (!st && !(*out = fg_aligned_alloc(MODEL_ALIGN, p->total)))
        st = fg_fail(FG_ERR_NOMEM, "out of memory for a %zu-byte workspace", p->total);
    if (!st) memcpy(*out, table, words * sizeof(size_t));
    free(table);
    return st;
}

int fg_model_workspace_bytes(const fg_model *m, int64_t batch, const int64_t *timesteps,
                             int32_t nthreads, size_t *bytes) {
    if (!m || !bytes) return fg_fail(FG_ERR_ARG, "fg_model_workspace_bytes: NULL argument");
    model_plan p;
    int64_t T[MODEL_MAX_TIME_AXES];
    int st = read_times(m, timesteps, T);
    if (!st) st = make_plan_alone(m, batch, T, nthreads > 0 ? nthreads : fg_default_threads(), &p);
    *bytes = st ? 0 : p.total;
    return st;
}

/* ---- state objects ----------------------------------------------------------------------- */
/* A state is one block: the struct, then (each 16-byte aligned) its slot offsets, its stream
 * plan's tensor offsets, h and prev_out. Byte offsets of those parts and the whole. */
typedef struct state_layout {
    size_t slot_offset, step_off, h, prev_out, total;
} state_layout;

static int layout_state(const fg_model *m, int64_t batch, state_layout *l)
{
    if (batch < 1) return fg_fail(FG_ERR_ARG, "state batch size must be >= 1, got %lld",
                                  (long long)batch);
    int64_t floats = 0;   /* of h: batch x state_floats per slot */
    for (int32_t i = 0; i < m->n_ops; i++) {
        const model_op *o = &m->ops[i];
        if (o->state_slot < 0) continue;
        if (batch > (INT64_MAX / 8 - floats) / o->state_floats) {
            floats = -1;
            break;
        }
        floats += batch * o->state_floats;
    }
    uint64_t part[4] = {
        ((uint64_t)m->n_slots + 1) * sizeof(int64_t), ((uint64_t)m->n_tensors + 1) * sizeof(size_t),
        ((uint64_t)floats + 1) * sizeof(float), ((uint64_t)floats + 1) * sizeof(float)};
    uint64_t at[4], total = (sizeof(fg_state) + 15) / 16 * 16;
    for (int k = 0; k < 4; k++) {
        at[k] = total;
        total += (part[k] + 15) / 16 * 16;
    }
    if (floats < 0 || total > SIZE_MAX / 2 || !model_block_bytes((size_t)total))
        return fg_fail(FG_ERR_NOMEM, "a state of batch %lld is too large", (long long)batch);
    *l = (state_layout){(size_t)at[0], (size_t)at[1], (size_t)at[2], (size_t)at[3], (size_t)total};
    return fg_check_cap(l->total, "the state object");
}

int fg_state_bytes(const fg_model *m, int64_t batch, size_t *bytes)
{
    if (!m || !bytes) return fg_fail(FG_ERR_ARG, "fg_state_bytes: NULL argument");
    state_layout l;
    int st = layout_state(m, batch, &l);
    *bytes = st ? 0 : model_block_bytes(l.total);
    return st;
}

int fg_state_create(const fg_model *m, int64_t batch, fg_state **out)
{
    if (!m || !out) return fg_fail(FG_ERR_ARG, "fg_state_create: NULL argument");
    *out = NULL;
    state_layout l;
    int st = layout_state(m, batch, &l);
    if (st) return st;
    uint8_t *block = calloc(1, l.total);
    if (!block)
        return fg_fail(FG_ERR_NOMEM, "out of memory for a state of batch %lld", (long long)batch);
    fg_state *s = (fg_state *)block;
    s->slot_offset = (int64_t *)(block + l.slot_offset);
    s->step_off = (size_t *)(block + l.step_off);
    s->h = (float *)(block + l.h);
    s->prev_out = (float *)(block + l.prev_out);
    int64_t at = 0;
    for (int32_t i = 0; i < m->n_ops; i++) {
        const model_op *o = &m->ops[i];
        if (o->state_slot < 0) continue;
        s->slot_offset[o->state_slot] = at;
        at += batch * o->state_floats;
    }
    s->model = m;
    s->batch = batch;
    s->fresh = 1;
    *out = s;
    return FG_OK;
}

/* one block (fg_state_create) */
void fg_state_free(fg_state *s)
{
    free(s);
}

int fg_state_reset(fg_state *s) {
    if (!s) return fg_fail(FG_ERR_ARG, "fg_state_reset: NULL state");
    int64_t total = 0;
    for (int32_t i = 0; i < s->model->n_ops; i++)
        if (s->model->ops[i].state_slot >= 0) total += s->batch * s->model->ops[i].state_floats;
    memset(s->h, 0, (size_t)total * sizeof(float));
    memset(s->prev_out, 0, (size_t)total * sizeof(float));
    s->fresh = 1;
    return FG_OK;
}

int64_t fg_state_batch(const fg_state *s) { return s ? s->batch : 0; }

int fg_state_set(fg_state *s, int slot, const float *h, size_t n) {
    if (!s || !h) return fg_fail(FG_ERR_ARG, "fg_state_set: NULL argument");
    const fg_model *m = s->model;
    for (int32_t i = 0; i < m->n_ops; i++) {
        const model_op *o = &m->ops[i];
        if (o->state_slot != slot) continue;
        size_t want = (size_t)s->batch * (size_t)o->state_floats;
        if (n != want)
            return fg_fail(FG_ERR_ARG, "layer '%s': a state of %zu floats (batch %lld x %lld "
                           "per row) was expected, got %zu", o->layer, want, (long long)s->batch,
                           (long long)o->state_floats, n);
        memcpy(s->h + s->slot_offset[slot], h, n * sizeof(float));
        return FG_OK;
    }
    return fg_fail(FG_ERR_ARG, "state slot %d out of range (the model has %d ops that carry "
                   "state)", slot, m->n_slots);
}

/* A recurrent op carries h per row; an LSTM h, then c (2 units a row). */
/* Whether a family of op kinds is in this build (fg_config_select.h): its code links only
 * then, so a small build's library holds none of it. */
#define KIND_BIT(k) (1ull << (k))
#define SHAPE_KINDS                                                                                \
    (KIND_BIT(OP_GLOBAL_POOL) | KIND_BIT(OP_POOL1D) | KIND_BIT(OP_RESHAPE) |                       \
     KIND_BIT(OP_PERMUTE) | KIND_BIT(OP_REPEAT_VECTOR) | KIND_BIT(OP_PAD_TIME) |                   \
     KIND_BIT(OP_UPSAMPLE_TIME))
#define ELEMENTWISE_KINDS                                                                          \
    (KIND_BIT(OP_NORMALIZE) | KIND_BIT(OP_RESCALE) | KIND_BIT(OP_PRELU) | KIND_BIT(OP_SOFTMAX) |   \
     KIND_BIT(OP_DOT))
#define FAMILY_BUILT(kinds) (((FG_CONFIG_OPS) & (kinds)) != 0)

int64_t model_op_state_floats(const fg_model *m, const model_op *o) {
    (void)m;
    switch (o->kind) {
    case OP_GRU:
    case OP_CUSTOM_GRU:
    case OP_SIMPLE_RNN:
        return o->gru.units;
    case OP_LSTM:
        return 2 * (int64_t)o->gru.units;
    case OP_CONV1D:
        return FG_OP_BUILT(OP_CONV1D) ? model_conv1d_state_floats(o) : 0;
    default: return 0;
    }
}

/* rows x n floats from `from` (row stride from_ld) to `to` (row stride to_ld). */
static void copy_rows(float *to, int64_t to_ld, const float *from, int64_t from_ld, int64_t rows,
                      int64_t n)
{
    for (int64_t b = 0; b < rows; b++)
        memcpy(to + b * to_ld, from + b * from_ld, (size_t)n * sizeof(float));
}

/* ---- running ----------------------------------------------------------------------------- */
/* gru, lstm, simple_rnn. An LSTM's carried state is a row of h then c (model_op_state_floats),
 * which the run reads and writes in place through its row strides. */
int model_run_recurrent(const model_run_ctx *r)
{
    const fg_model *m = r->m;
    const model_op *o = r->o;
    fg_state *state = r->state;
    int streaming = r->streaming, lstm = o->kind == OP_LSTM,
        tm = FG_CONFIG_TIME_MAJOR && o->iattr[GRU_TIME_MAJOR];
    int64_t batch, steps, F = o->gru.input_dim, U = o->gru.units;
    recurrent_extent(m, o, r->batch, r->T, &batch, &steps);
    const uint8_t *mask = r->in[1];
    const float *h0 = r->in[2], *c0 = lstm ? r->in[3] : NULL;
    float *h_out = r->out[1], *c_out = lstm ? r->out[2] : NULL;
    float *y = r->out[0];
    int seq = o->iattr[GRU_RETURN_SEQUENCES];
    /* x, mask and y elements apart from one row to the next and one step to the next: a
     * time-major op (the model's batch axis is time) reads them with the two swapped */
    int64_t row_ld = tm ? 1 : steps, step_ld = tm ? batch : 1;
    fg_gru_run run = {
        .batch = batch,
        .timesteps = steps,
        .x = r->in[0],
        .x_sb = row_ld * F,
        .x_st = step_ld * F,
        .mask = mask,
        .m_sb = row_ld,
        .m_st = step_ld,
        .h0 = h0,
        .h0_sb = U,
        .c0 = c0,
        .c0_sb = U,
        .y = y,
        .y_sb = seq ? row_ld * U : U,
        .y_st = seq ? step_ld * U : 0,
        .h_final = h_out,
        .hf_sb = U,
        .c_final = c_out,
        .cf_sb = U,
        .go_backwards = o->iattr[GRU_GO_BACKWARDS],
        .return_sequences = seq,
        .zero_output_for_mask = o->iattr[GRU_ZERO_OUTPUT_FOR_MASK],
        .nthreads = r->nthreads,
    };
    float *carried = NULL;
    int64_t ld = o->state_floats; /* a carried row: h (U), then an LSTM's c (U) */
    if (state && (streaming || o->iattr[GRU_STATEFUL])) {
        carried = state->h + state->slot_offset[o->state_slot];
        if (streaming && state->fresh && h0) copy_rows(carried, ld, h0, U, batch, U);
        if (streaming && state->fresh && c0) copy_rows(carried + U, ld, c0, U, batch, U);
        /* an explicit initial state wins otherwise */
        if (streaming || !h0) run.h0 = carried, run.h0_sb = ld;
        run.h_final = carried, run.hf_sb = ld;
        if (lstm && (streaming || !c0)) run.c0 = carried + U, run.c0_sb = ld;
        if (lstm) run.c_final = carried + U, run.cf_sb = ld;
    }
    int st = fg_gru_custom_forward(&o->gru, o->program, m->weights[o->w[0]].data, &run, r->scratch);
    if (st) return st;
    if (carried && h_out) copy_rows(h_out, U, carried, ld, batch, U);
    if (carried && c_out) copy_rows(c_out, U, carried + U, ld, batch, U);
    if (streaming && mask) {
        /* One step at a time: a masked step repeats the previous step's output (Keras
         * carries prev_output across the whole sequence), which the T=1 run cannot know. */
        float *prev = state->prev_out + state->slot_offset[o->state_slot];
        for (int64_t b = 0; b < batch; b++) {
            if (!mask[b] && !run.zero_output_for_mask) memcpy(y + b * U, prev + b * U, U * 4);
            memcpy(prev + b * U, y + b * U, (size_t)U * 4);
        }
    }
    return FG_OK;
}

static int execute(const fg_model *m, fg_state *state, int streaming, int64_t batch,
                   const int64_t *T,
                   const void *const *inputs, void *const *outputs, void *workspace,
                   size_t workspace_bytes, int32_t nthreads) {
    if (!m || (!inputs && m->n_inputs) || !outputs)
        return fg_fail(FG_ERR_ARG, "fg_model_run: NULL model, inputs or outputs");
    if (nthreads <= 0) nthreads = fg_default_threads();
    if (state && (state->model != m || state->batch != batch))
        return fg_fail(FG_ERR_STATE, "the state object was made for batch size %lld%s; this "
                       "run has batch size %lld", (long long)state->batch,
                       state->model != m ? " of another model" : "", (long long)batch);
    if (m->stateful_batch && !streaming && batch != m->stateful_batch && state)
        return fg_fail(FG_ERR_STATE, "stateful model: batch size is fixed at %lld, got %lld",
                       (long long)m->stateful_batch, (long long)batch);
    for (int32_t k = 0; k < m->n_inputs; k++)
        if (!inputs[k] && tensor_bytes(&m->tensors[m->inputs[k]], batch, T))
            return fg_fail(FG_ERR_ARG, "model input %d ('%s') is NULL", k,
                           m->tensors[m->inputs[k]].name);
    for (int32_t k = 0; k < m->n_outputs; k++)
        if (!outputs[k] && tensor_bytes(&m->tensors[m->outputs[k]], batch, T))
            return fg_fail(FG_ERR_ARG, "model output %d ('%s') is NULL", k,
                           m->tensors[m->outputs[k]].name);
    model_plan p;
    int st = FG_OK;
    void *owned = NULL;
    int planned = streaming && state->step_threads == nthreads;
    /* a stream that has stepped before was checked for its shape then */
    int checked = streaming && state->step_threads;
    if (planned) p = state->step_plan;
    if (!workspace) {
        if (planned && !(owned = fg_aligned_alloc(MODEL_ALIGN, p.total)))
            return fg_fail(FG_ERR_NOMEM, "out of memory for a %zu-byte workspace", p.total);
        if (!planned && (st = own_workspace(m, batch, T, nthreads, checked, &p, &owned)))
            return st;
        workspace = owned;
    } else if ((uintptr_t)workspace % MODEL_ALIGN ||
               workspace_bytes < 3 * (size_t)m->n_tensors * sizeof(size_t)) {
        return fg_fail(FG_ERR_ARG, "workspace of %zu bytes at %p is too small or not 64-byte "
                       "aligned", workspace_bytes, workspace);
    } else if (!planned && (st = make_plan(m, batch, T, nthreads, &p, workspace, checked))) {
        return st;
    }
    uint8_t *base = workspace;
    void **ptr = workspace;
    const size_t *off = planned ? state->step_off : (const size_t *)workspace + m->n_tensors;
    if (streaming && !planned) {
        memcpy(state->step_off, off, (size_t)m->n_tensors * sizeof *off);
        state->step_plan = p;
        state->step_threads = nthreads;
    }
    if (workspace_bytes < p.total && !owned)
        return fg_fail(FG_ERR_ARG, "workspace of %zu bytes: this run needs %zu",
                       workspace_bytes, p.total);
    for (int32_t i = 0; i < m->n_tensors; i++) {
        const model_tensor *t = &m->tensors[i];
        uint8_t *at = base + p.tensors_at + off[i];
        ptr[i] = t->input_index >= 0 ? (void *)inputs[t->input_index]
               : t->output_index >= 0 ? outputs[t->output_index]
               : t->producer >= 0 ? (void *)at : NULL;
    }
    const void *in[MODEL_MAX_OP_INPUTS];
    void *out[MODEL_MAX_OP_OUTPUTS];
    model_run_ctx run = {m, NULL, in, out, batch, T, nthreads, state, streaming,
                         base + p.gru_at};
    for (int32_t i = 0; i < m->n_ops && !st; i++) {
        const model_op *o = run.o = &m->ops[i];
        for (int k = 0; k < o->n_in; k++) in[k] = o->in[k] >= 0 ? ptr[o->in[k]] : NULL;
        for (int k = 0; k < o->n_out; k++) out[k] = o->out[k] >= 0 ? ptr[o->out[k]] : NULL;
        st = MODEL_OP_KINDS[o->kind].run(&run);
    }
    for (int32_t k = 0; k < m->n_outputs && !st; k++) {
        const model_tensor *t = &m->tensors[m->outputs[k]];
        if (t->output_index == k) continue;   /* its op wrote it in place */
        size_t b = tensor_bytes(t, batch, T);   /* planned, so never SIZE_MAX here */
        if (b && b != SIZE_MAX) memcpy(outputs[k], ptr[m->outputs[k]], b);
    }
    if (!st && state && streaming) state->fresh = 0;
    fg_aligned_free(owned);
    return st;
}

int fg_model_run(const fg_model *m, fg_state *state, int64_t batch, const int64_t *timesteps,
                 const void *const *inputs, void *const *outputs, void *workspace,
                 size_t workspace_bytes, int32_t nthreads) {
    if (!m) return fg_fail(FG_ERR_ARG, "fg_model_run: NULL model");
    int64_t T[MODEL_MAX_TIME_AXES];
    int st = read_times(m, timesteps, T);
    if (st) return st;
    return execute(m, state, 0, batch, T, inputs, outputs, workspace, workspace_bytes, nthreads);
}

int fg_model_resolve_timesteps(const fg_model *m, int64_t *timesteps) {
    if (!m || (!timesteps && m->n_time))
        return fg_fail(FG_ERR_ARG, "fg_model_resolve_timesteps: NULL argument");
    int64_t T[MODEL_MAX_TIME_AXES] = {0};
    for (int k = 0; k < m->n_time; k++) T[k] = timesteps[k];
    if (FAMILY_BUILT(SHAPE_KINDS)) model_derive_times(m, T);
    for (int k = 0; k < m->n_time; k++) timesteps[k] = T[k];
    return FG_OK;
}

int fg_model_check_streamable(const fg_model *m) {
    if (!m) return fg_fail(FG_ERR_ARG, "fg_model_check_streamable: NULL model");
    for (int32_t i = 0; FG_CONFIG_TIME_MAJOR && i < m->n_ops; i++)
        if (model_op_time_major(&m->ops[i]))
            return fg_fail(FG_ERR_STATE,
                           "layer '%s' (%s) is time-major: its steps run along "
                           "the model's batch axis, not along the model's calls, so the model "
                           "cannot be streamed one step at a time",
                           m->ops[i].layer, model_kind_name(m->ops[i].kind));
    if (!m->causal)
        return fg_fail(FG_ERR_STATE, "this model cannot be streamed one step at a time: it "
                       "reads sequences backwards (Bidirectional, go_backwards or a time "
                       "reversal), so each output depends on later steps");
    for (int32_t i = 0; i < m->n_ops; i++) {
        const model_op *o = &m->ops[i];
        int timed_op = model_recurrent_cell(o->kind) >= 0 || o->kind == OP_CONV1D;
        if (timed_op && m->tensors[o->in[0]].dims[0] != -1)
            return fg_fail(FG_ERR_STATE, "layer '%s': its input has a fixed length of %lld "
                           "steps in the image, so the model cannot be streamed one step at a "
                           "time", o->layer, (long long)m->tensors[o->in[0]].dims[0]);
        /* each op family says why one of its ops needs the whole sequence */
        const char *why = FAMILY_BUILT(SHAPE_KINDS) ? model_shape_stream_refusal(m, o) : NULL;
        if (!why && FAMILY_BUILT(ELEMENTWISE_KINDS)) why = model_elementwise_stream_refusal(m, o);
        if (!why && o->kind == OP_ATTENTION)   /* causal ones too: no key/value cache */
            why = "each of its outputs attends over the whole sequence";
        if (!why && FG_OP_BUILT(OP_CONV1D) && o->kind == OP_CONV1D && !model_conv1d_streamable(o))
            why = "a Conv1D with strides > 1 or padding other than causal looks at later steps "
                  "or skips some";
        if (why)
            return fg_fail(FG_ERR_STATE, "layer '%s' (%s): %s, so the model cannot be streamed "
                           "one step at a time", o->layer, model_kind_name(o->kind), why);
    }
    return FG_OK;
}

int fg_model_step(const fg_model *m, fg_state *state, const void *const *inputs,
                  void *const *outputs, void *workspace, size_t workspace_bytes,
                  int32_t nthreads) {
    /* a state that has stepped through this model was checked streamable then */
    int st = state && state->model == m && state->step_threads ? FG_OK
                                                                : fg_model_check_streamable(m);
    if (st) return st;
    if (!state) return fg_fail(FG_ERR_ARG, "fg_model_step: NULL state");
    static const int64_t one_step[MODEL_MAX_TIME_AXES] = {1, 1, 1, 1, 1, 1, 1, 1};
    return execute(m, state, 1, state->batch, one_step, inputs, outputs, workspace,
                   workspace_bytes, nthreads);
}
