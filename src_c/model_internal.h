/* model_internal.h - the loaded model as the executor sees it (private to src_c/model_*.c).
 *
 * model_image.c fills these structs from a checked image; model_check.c checks an op's shapes
 * for a (batch, timesteps) run; model_exec.c plans the run's workspace and runs the ops in
 * order (a stream keeps its plan in its fg_state); model_ops.c holds the non-GRU ops.
 */
#ifndef FG_MODEL_INTERNAL_H
#define FG_MODEL_INTERNAL_H

#include "fg_model.h"
#include "fg_gru.h"

/* Op kind ids (OP_*), iattr / fattr slot names and the MODEL_OPS / MODEL_ACTIVATIONS rows,
 * generated from fastgru/registry.py. */
#define MODEL_MAX_OP_INPUTS 64
#define MODEL_MAX_OP_OUTPUTS 2
#include "model_registry.h"

#define MODEL_NIATTR 12
#define MODEL_NFATTR 4
#define MODEL_ABSENT 0xFFFFFFFFu   /* index-pool entry for an absent optional tensor/weight */
#define MODEL_ALIGN 64
#define MODEL_HEADER_BYTES 128
#define MODEL_MAX_TIME_AXES 8   /* distinct run-time sequence lengths a model may have */

/* LAYOUT_CUSTOM_PROGRAM: a custom_gru op's bytecode, (n, 2) float32 rows whatever dtype the
 * other weights are stored in (fg_custom_program.h). */
enum { LAYOUT_PLAIN = 0, LAYOUT_GRU_PACKED = 1, LAYOUT_CUSTOM_PROGRAM = 2 };

/* Stored weight dtypes (weight record field; docs/FORMAT.md). The 16-bit ones are widened to
 * float32 at load, so the executor only ever sees float32 weights. */
enum { MODEL_WDTYPE_FLOAT32 = 0, MODEL_WDTYPE_FLOAT16 = 1, MODEL_WDTYPE_BFLOAT16 = 2 };

/* Widen `count` little-endian float16 / bfloat16 values at `src` into float32 `dst`
 * (model_weights_widen.c). */
void model_widen_weights(int32_t dtype, const uint8_t *src, uint64_t count, float *dst);

typedef struct model_tensor {
    const char *name;
    int32_t dtype, rank;
    int64_t dims[FG_MAX_RANK];
    int32_t producer;       /* op index, or -1 for a model input */
    int32_t last_use;       /* index of the last op that reads it (>= producer) */
    int32_t input_index;    /* position among the model inputs, or -1 */
    int32_t output_index;   /* an op writes it straight into this model output, or -1 */
    int32_t time_axis;      /* which run-time length a -1 dimension takes (0 otherwise) */
} model_tensor;

typedef struct model_weight {
    const void *data;       /* float32: in the image (or its aligned copy), or widened */
    uint64_t nbytes;        /* of the float32 data (the stored size for float32 records) */
    int32_t dtype, layout, rank;   /* dtype: as stored */
    int64_t dims[FG_MAX_RANK];
    /* a GRU weight run in bf16 (model_precision.c): its float32 packing, while `data` /
     * `nbytes` are the bf16 one; NULL otherwise */
    const void *fp32;
    uint64_t fp32_nbytes;
} model_weight;

typedef struct model_op {
    int32_t kind;
    const char *layer;
    int32_t n_in, n_out, n_w;
    const int32_t *in, *out, *w;   /* tensor / weight ids; -1 = absent */
    int32_t iattr[MODEL_NIATTR];
    float fattr[MODEL_NFATTR];
    fg_gru_config gru;             /* gru ops only */
    const float *dense_panels;     /* dense ops: the kernel in gemm panels, and the padded */
    const float *dense_bias;       /* bias (model_dense.c) */
    int32_t state_slot;            /* gru ops: index of its carried state; else -1 */
    struct fg_custom_program *program;   /* custom_gru ops: the checked cell (owned) */
} model_op;

/* gru and custom_gru ops run the same GRU (custom_gru with its cell's program): both carry
 * state, take a GRU workspace and share the attribute slots. */
static inline int model_op_is_gru(const model_op *o)
{
    return o->kind == OP_GRU || o->kind == OP_CUSTOM_GRU;
}

/* Builds a custom_gru op's program from its weight (model_custom_gru.c); at load. */
int model_custom_gru_load(fg_model *m, model_op *o);

struct fg_model {
    void *owned_image;       /* the file's bytes (fg_model_load_file) or the aligned copy */
    float *widened;          /* the float32 copies of 16-bit weights, 64-byte aligned each */
    void *repacked;          /* bf16 packings of the GRU weights (fg_model_set_precision) */
    float *dense_packed;     /* the dense kernels in gemm panels (model_dense.c) */
    int32_t precision;       /* FG_PRECISION_* of every GRU op */
    const uint8_t *image;
    size_t image_bytes;
    int32_t n_tensors, n_ops, n_weights, n_inputs, n_outputs, n_gru, n_time;
    model_tensor *tensors;
    model_op *ops;
    model_weight *weights;
    int32_t *index;          /* the image's index pool, as host ints */
    const int32_t *inputs, *outputs;   /* into index[] */
    int64_t stateful_batch;
    int causal;
    const char *meta;
    size_t meta_bytes;
};

/* A run's workspace layout (model_exec.c), in bytes from the workspace's start: the table of
 * tensor addresses, the tensor area, the GRU scratch, and the whole. */
typedef struct model_plan {
    size_t table, tensors_at, gru_at, total;
} model_plan;

struct fg_state {
    const fg_model *model;
    int64_t batch;
    int fresh;               /* no step since create / reset: optional h0 inputs still apply */
    /* Streaming: a stream's shape never changes, so its first step checks the ops for
     * (batch, 1) and plans the workspace once; later steps with the same thread count reuse
     * the plan. step_threads is that thread count, 0 before the first step. */
    int32_t step_threads;
    model_plan step_plan;
    size_t *step_off;        /* per tensor: its offset in the tensor area (step_plan) */
    float *h;                /* n_gru * batch * max(units) : carried states, slot-major */
    float *prev_out;         /* same shape: last output per GRU (masked streaming) */
    int64_t *slot_offset;    /* per slot: float offset of its (batch, units) block */
};

/* Element size of a tensor dtype. */
static inline int64_t model_dtype_size(int32_t dtype) { return dtype == FG_DTYPE_BOOL ? 1 : 4; }

/* "gru", "dense", ... for messages. */
const char *model_kind_name(int32_t kind);

/* Packs every dense op's kernel for the gemm (model_dense.c); after the ops are checked. */
int model_pack_dense(fg_model *m);

/* Checks op `o`'s inputs, outputs, attributes and weights against each other, with the time
 * axes resolved to the lengths times[axis] (or left open when times is NULL, at load). */
int model_check_op(const fg_model *m, const model_op *o, const int64_t *times);

/* What an op kind's check (model_check.c) sees. */
typedef struct model_check_ctx {
    const fg_model *m;
    const model_op *o;
    const int64_t *T;   /* length of each time axis; -1 = open */
    int code;           /* what a failure returns: FG_ERR_FORMAT at load, FG_ERR_ARG per run */
} model_check_ctx;

/* What an op kind's run (model_ops.c; gru: model_exec.c) sees. in[i] / out[i] point at the
 * op's tensors' data (NULL for an absent optional one), laid out C-contiguous (batch,
 * per-sample dims with time = its length), already checked for this shape. */
typedef struct model_run_ctx {
    const fg_model *m;
    const model_op *o;
    const void *const *in;
    void *const *out;
    int64_t batch;
    const int64_t *T;
    int32_t nthreads;      /* the most threads the op may use */
    fg_state *state;       /* gru: the carried states, or NULL */
    int streaming;         /* gru: one step of a stream */
    void *scratch;         /* gru: its workspace */
} model_run_ctx;

/* The registry: one row per op kind (model_registry.c), indexed by kind id. Every kind
 * `name` has a model_check_<name> and a model_run_<name>. */
typedef struct model_op_kind {
    const char *name;
    int32_t min_in, max_in, n_out, n_w;
    int (*check)(const model_check_ctx *c);
    int (*run)(const model_run_ctx *r);
} model_op_kind;
extern const model_op_kind MODEL_OP_KINDS[OP_KIND_COUNT];

#define MODEL_DECLARE_OP(KIND, name, min_in, max_in, n_out, n_w) \
    int model_check_##name(const model_check_ctx *c); \
    int model_run_##name(const model_run_ctx *r);
MODEL_OPS(MODEL_DECLARE_OP)
#undef MODEL_DECLARE_OP

/* Per-sample element count of tensor t with its time axis resolved; -1 on overflow. */
int64_t model_sample_elems(const model_tensor *t, const int64_t *times);

#endif
