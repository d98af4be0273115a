/* model_internal.h - the loaded model as the executor sees it (private to src_c/model_*.c).
 *
 * model_image.c fills these structs from a checked image; model_check.c checks an op's shapes
 * for a (batch, timesteps) run; model_exec.c plans the run's workspace and runs the ops in
 * order (a stream keeps its plan in its fg_state); model_ops.c holds the non-GRU ops.
 */
#ifndef FG_MODEL_INTERNAL_H
#define FG_MODEL_INTERNAL_H

#include "fg_model.h"
#include "fg_config_select.h"
#include "fg_gru.h"

/* Op kind ids (OP_*), iattr / fattr slot names and the MODEL_OPS / MODEL_ACTIVATIONS rows,
 * generated from fastgru/registry.py. */
#define MODEL_MAX_OP_INPUTS 64
#define MODEL_MAX_OP_OUTPUTS 3   /* an lstm: y, h, c */
#include "model_registry.h"

#define MODEL_NIATTR 12
#define MODEL_NFATTR 4
#define MODEL_ABSENT 0xFFFFFFFFu   /* index-pool entry for an absent optional tensor/weight */
#define MODEL_ALIGN 64
#define MODEL_HEADER_BYTES 128
#define MODEL_MAX_TIME_AXES 8   /* distinct run-time sequence lengths a model may have */

/* What a block of `bytes` counts for in fg_model_memory_bytes / fg_state_bytes: whole 64-byte
 * lines, which is what the bare-metal pool (mcu/fg_mcu_pool.c) takes for it. 0 when that
 * overflows. */
static inline size_t model_block_bytes(size_t bytes)
{
    return bytes > SIZE_MAX - (MODEL_ALIGN - 1)
               ? 0
               : (bytes + MODEL_ALIGN - 1) / MODEL_ALIGN * MODEL_ALIGN;
}

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
    fg_gru_config gru;             /* recurrent ops only (gru, lstm, simple_rnn) */
    const float *dense_panels;     /* dense, conv1d: kernel and bias in gemm panels (model_panels.c) */
    int32_t state_slot;            /* index of its carried state in fg_state, or -1 */
    int64_t state_floats;          /* floats per batch row it carries (model_op_state_floats) */
    struct fg_custom_program *program; /* custom_gru ops: the checked cell (owned) */
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
    float *conv_packed;      /* the conv1d kernels in gemm panels (model_conv.c) */
    int32_t precision;       /* FG_PRECISION_* of every GRU op */
    const uint8_t *image;
    size_t image_bytes;
    int32_t n_tensors, n_ops, n_weights, n_inputs, n_outputs, n_slots, n_time;
    model_tensor *tensors;
    model_op *ops;
    model_weight *weights;
    int32_t *index;          /* the image's index pool, as host ints */
    /* the bare-metal build's table for planning a workspace in fg_model_workspace_bytes (one
     * thread, no heap: model_exec.c); NULL elsewhere */
    size_t *plan_table;
    size_t held_bytes; /* every block it holds, counted by model_block_bytes */
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
    /* Per state slot (ops with model_op_state_floats > 0, in execution order) a block of
     * batch x state_floats floats, slot after slot: */
    float *h;                /* what the op carries (a GRU: its h) */
    float *prev_out;         /* same layout: the op's last output (masked streaming) */
    int64_t *slot_offset;    /* per slot: float offset of its block */
};

/* Element size of a tensor dtype. */
static inline int64_t model_dtype_size(int32_t dtype) { return dtype == FG_DTYPE_BOOL ? 1 : 4; }

/* "gru", "dense", ... for messages. */
const char *model_kind_name(int32_t kind);

/* The cell (FG_CELL_*) a recurrent op kind runs, -1 for the other kinds. The three share
 * their attribute slots (fastgru/registry.py), read through the GRU_* names. */
static inline int model_recurrent_cell(int32_t kind)
{
    return kind == OP_GRU || kind == OP_CUSTOM_GRU ? FG_CELL_GRU
           : kind == OP_LSTM                       ? FG_CELL_LSTM
           : kind == OP_SIMPLE_RNN                 ? FG_CELL_SIMPLE_RNN
                                                   : -1;
}

/* Header field `features` (offset 28): what an image needs its reader to know; a reader
 * refuses a bit it does not know or was built without (readers before format 1.3 refuse any
 * nonzero value). */
enum { MODEL_FEATURE_TIME_MAJOR = 1u };
#define MODEL_KNOWN_FEATURES (FG_CONFIG_TIME_MAJOR ? (uint32_t)MODEL_FEATURE_TIME_MAJOR : 0u)

/* 1 when op `o` runs along the model's batch axis (docs/FORMAT.md): a time-major recurrent op
 * (its steps are the model's batch rows) or a reverse_time of the batch axis. */
static inline int model_op_time_major(const model_op *o)
{
    return model_recurrent_cell(o->kind) >= 0 ? o->iattr[GRU_TIME_MAJOR] != 0
           : o->kind == OP_REVERSE_TIME       ? o->iattr[REVERSE_TIME_BATCH_AXIS] != 0
                                              : 0;
}

/* Floats per batch row that op `o` carries across calls or stream steps (0: none); called
 * once the op's static checks passed (model_exec.c). */
int64_t model_op_state_floats(const fg_model *m, const model_op *o);

/* Packs every dense op's kernel for the gemm (model_dense.c); after the ops are checked. */
int model_pack_dense(fg_model *m);
/* A 64-byte aligned block of `floats` gemm panel floats, within the memory cap, counted in the
 * model's held bytes (model_dense.c). */
int model_alloc_panels(fg_model *m, uint64_t floats, const char *what, float **out);
/* A (rows x cols) weight matrix (element (i, j) at src[i * ld + j]) and its bias (NULL: zeros)
 * in gemm panels (model_panels.c): model_panel_floats floats at a 64-byte aligned `at`, whose
 * size keeps the next packing aligned. model_panel_product: C rows = A rows . matrix + bias
 * for n <= MODEL_PANEL_ROWS_MAX rows. */
#define MODEL_PANEL_ROWS_MAX 64
struct fg_kernels;
uint64_t model_panel_floats(int64_t rows, int64_t cols);
void model_pack_panels(const float *src, int64_t ld, int64_t rows, int64_t cols,
                       const float *bias, float *at);
void model_panel_product(const struct fg_kernels *k, int64_t n, int64_t rows, const float *A,
                         int64_t lda, const float *P, int64_t cols, float *C, int64_t ldc);

/* conv1d (model_conv.c): padding ids (iattr CONV1D_PADDING); packs every conv1d kernel for
 * the gemm (after the ops are checked); the floats per batch row a causal one carries in a
 * stream (its last (kernel_size - 1) * dilation inputs); whether it can run one step at a time. */
enum { MODEL_CONV_PAD_VALID = 0, MODEL_CONV_PAD_SAME = 1, MODEL_CONV_PAD_CAUSAL = 2 };
int model_pack_conv(fg_model *m);
int64_t model_conv1d_state_floats(const model_op *o);
int model_conv1d_streamable(const model_op *o);

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

/* model_check.c's rules for the checks of other files: tensor in[k] / out[k] (absent allowed
 * unless required; dtype -1: any), weight slot k (plain float32 of rank 1 or 2 with dims d0,
 * d1; -1: any), a 0/1 flag attribute, dimension k of a tensor with its time axis resolved
 * (-1 while open), and every input having the output's shape and dtype. Failures name the
 * layer and return c->code. */
int model_check_tensor(const model_check_ctx *c, int is_out, int k, int32_t dtype, int required,
                       const model_tensor **t);
int model_check_weight(const model_check_ctx *c, int k, int required, int32_t rank, int64_t d0,
                       int64_t d1, const model_weight **w);
int model_check_flag(const model_check_ctx *c, int slot, const char *name);
int64_t model_check_dim(const model_check_ctx *c, const model_tensor *t, int k);
int model_check_same_shape(const model_check_ctx *c, int32_t dtype);

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

/* Sets the lengths of the time axes that ops derive from their input's (pooling, padding,
 * upsampling; model_shape.c), in op order, from the lengths in T. */
void model_derive_times(const fg_model *m, int64_t *T);

/* Why op `o` cannot run one step of a stream (it needs the whole sequence), or NULL
 * (model_shape.c). */
const char *model_shape_stream_refusal(const fg_model *m, const model_op *o);

/* Why op `o` of the elementwise family cannot run one step of a stream, or NULL
 * (model_elementwise.c). */
const char *model_elementwise_stream_refusal(const fg_model *m, const model_op *o);
/* A recurrent op's check and run (model_check.c, model_exec.c), which each recurrent kind's
 * model_check_<name> / model_run_<name> calls (model_recurrent.c). */
int model_check_recurrent(const model_check_ctx *c);
int model_run_recurrent(const model_run_ctx *r);

/* Per-sample element count of tensor t with its time axis resolved; -1 on overflow. */
int64_t model_sample_elems(const model_tensor *t, const int64_t *times);

#endif
