/* fg_model.h - a whole model: load a model image (the .fgru format, docs/FORMAT.md), run it.
 *
 * A loaded fg_model is immutable: many threads may run it at once. Everything that changes
 * while running lives elsewhere: scratch in a caller-provided workspace (or one allocated per
 * call), carried GRU states (stateful models, streaming) in an fg_state.
 *
 * Shapes: every model input / output has the batch axis first, then its per-sample shape.
 * A per-sample dimension of -1 is a time axis, whose length is given per run. A model has
 * fg_model_num_time_axes() of them (e.g. 2 for an encoder-decoder whose two sequences differ
 * in length): runs take one length per time axis, `timesteps[time_axis]`.
 * Element types: FG_DTYPE_FLOAT32 (float), FG_DTYPE_INT32 (int32_t, e.g. Embedding ids).
 */
#ifndef FG_MODEL_H
#define FG_MODEL_H

#include "fg_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fg_model fg_model;
typedef struct fg_state fg_state;

enum { FG_DTYPE_FLOAT32 = 0, FG_DTYPE_INT32 = 1, FG_DTYPE_BOOL = 2 };
#define FG_MAX_RANK 4   /* per-sample rank (the batch axis not counted) */

typedef struct fg_tensor_info {
    const char *name;            /* valid while the model lives */
    int32_t dtype;               /* FG_DTYPE_* */
    int32_t rank;                /* per-sample rank */
    int64_t dims[FG_MAX_RANK];   /* -1 = a time axis (length given per run) */
    int32_t time_axis;           /* which one, when dims[0] == -1 */
} fg_tensor_info;

/* Load from a caller's buffer WITHOUT copying the weights: `image` must stay valid and
 * unchanged until fg_model_free. When `image` is not 64-byte aligned the weight data are
 * copied once into an aligned block instead. Every size, offset, index and the checksum are
 * checked first: a malformed image gives FG_ERR_FORMAT, never an out-of-bounds read. */
int fg_model_load(const void *image, size_t nbytes, fg_model **out);
/* Load from a file (read into an owned aligned buffer). FG_ERR_IO when it cannot be read. */
int fg_model_load_file(const char *path, fg_model **out);
void fg_model_free(fg_model *model);

/* Compute precision of every GRU's matrix products (FG_PRECISION_FP32, the default after
 * load, or FG_PRECISION_BF16; fg_gru.h). Independent of the stored weight dtype. bf16 repacks
 * the GRU weights once into memory the model owns (counted against FASTGRU_MAX_BYTES);
 * fp32 drops that copy again. Call it before the model is used: it must not overlap a run,
 * a step or fg_state_create on this model. FG_ERR_ARG on another value. */
int fg_model_set_precision(fg_model *model, int precision);
int fg_model_precision(const fg_model *model);

int fg_model_num_inputs(const fg_model *model);
int fg_model_num_outputs(const fg_model *model);
int fg_model_num_time_axes(const fg_model *model);
int fg_model_input_info(const fg_model *model, int index, fg_tensor_info *info);
int fg_model_output_info(const fg_model *model, int index, fg_tensor_info *info);
/* The fixed batch size of a stateful model, 0 when the model is not stateful. */
int64_t fg_model_stateful_batch(const fg_model *model);
/* The metadata JSON blob of the image (not NUL-terminated; length in *nbytes). */
const char *fg_model_metadata(const fg_model *model, size_t *nbytes);

/* Fills in the lengths of the time axes that layers derive from others (a pooled, padded or
 * upsampled sequence: its own time axis, fg_tensor_info.time_axis) from the lengths the
 * inputs give, in place: `timesteps` holds fg_model_num_time_axes() lengths, those of the
 * input axes set. A run checks every length against the model, so a caller that sizes
 * outputs from other lengths is refused (FG_ERR_ARG), never overrun. */
int fg_model_resolve_timesteps(const fg_model *model, int64_t *timesteps);

/* Workspace bytes fg_model_run needs for (batch, timesteps, nthreads); FG_ERR_ARG when the
 * shape does not fit the model (e.g. a time length the image fixes otherwise). `timesteps`
 * holds fg_model_num_time_axes() lengths (may be NULL when that is 0). */
int fg_model_workspace_bytes(const fg_model *model, int64_t batch, const int64_t *timesteps,
                             int32_t nthreads, size_t *bytes);

/* The memory the library holds besides a workspace, so that a caller with no heap (the
 * bare-metal build, mcu/fg_mcu.h) can size its buffers from these and nothing else. Each
 * block is counted in whole 64-byte lines. fg_model_memory_bytes: what the loaded model
 * holds beside its image (its tables; float32 copies of 16-bit weights; packed or bf16
 * weights; the copy of an unaligned image or a file's bytes), 0 for NULL. fg_state_bytes:
 * what fg_state_create(model, batch) takes, or the error it would give. */
size_t fg_model_memory_bytes(const fg_model *model);
int fg_state_bytes(const fg_model *model, int64_t batch, size_t *bytes);

/* Run a batch of sequences. inputs[i] points at model input i, C-contiguous
 * (batch, per-sample shape with -1 -> its timesteps[]); outputs[i] receives output i likewise.
 * `state` carries the GRU states of a stateful model (NULL: zeros, nothing kept) and must
 * have been made for this batch size (else FG_ERR_STATE). `workspace` is NULL (allocated
 * inside) or a 64-byte aligned block of `workspace_bytes` >= fg_model_workspace_bytes(),
 * one per concurrent call. nthreads <= 0: fg_default_threads(). */
int fg_model_run(const fg_model *model, fg_state *state, int64_t batch, const int64_t *timesteps,
                 const void *const *inputs, void *const *outputs, void *workspace,
                 size_t workspace_bytes, int32_t nthreads);

/* A state object: the carried recurrent states (and last outputs, for masked streaming) of one
 * batch of streams, or of a stateful model's batch. Starts at zero. One call at a time may
 * use a state; different states may run the same model concurrently. */
int fg_state_create(const fg_model *model, int64_t batch, fg_state **out);
void fg_state_free(fg_state *state);
int fg_state_reset(fg_state *state);
int64_t fg_state_batch(const fg_state *state);
/* Set the carried state of the model's op number `slot`, counting the ops that carry state
 * (gru, lstm and simple_rnn ops) in execution order from 0, to `h`, `n` floats = batch x the
 * floats the op carries per row: a gru or simple_rnn its h (units floats), an lstm its h then
 * its c (2 x units floats a row: h[0..units), c[0..units)). FG_ERR_ARG on a bad slot or size. */
int fg_state_set(fg_state *state, int slot, const float *h, size_t n);

/* FG_OK when fg_model_step can run the model; else FG_ERR_STATE saying why (a Bidirectional
 * / go_backwards / reversed layer, or a GRU input of fixed length). */
int fg_model_check_streamable(const fg_model *model);

/* Streaming: run one timestep through the whole model with every GRU state carried in
 * `state`. inputs / outputs are laid out as for fg_model_run with every time length 1 (a time
 * axis of length 1 is simply absent from the memory layout). Optional h0 inputs are used on the
 * first step after a reset only. FG_ERR_STATE for non-causal models. The workspace is as for
 * fg_model_run(model, batch, {1, 1, ...}, nthreads). */
int fg_model_step(const fg_model *model, fg_state *state, const void *const *inputs,
                  void *const *outputs, void *workspace, size_t workspace_bytes,
                  int32_t nthreads);

/* Weight record `index` of the image (for get_weights()): data pointer into the image, its
 * size in bytes and its layout (0 plain, 1 GRU packed; see docs/FORMAT.md). */
int fg_model_weight(const fg_model *model, int index, const void **data, size_t *nbytes,
                    int32_t *layout);

/* The executor's vocabulary (its source: fastgru/registry.py, docs/FORMAT.md), for tools:
 * op kind `kind`'s name and arity (max_inputs 64: any number up to 64); FG_ERR_ARG past
 * the last kind. Any output pointer may be NULL. */
int fg_model_op_kind(int kind, const char **name, int32_t *min_inputs, int32_t *max_inputs,
                     int32_t *n_outputs, int32_t *n_weights);
/* The canonical name of activation id `act` ("tanh"), NULL past the last one. */
const char *fg_activation_name(int act);

#ifdef __cplusplus
}
#endif
#endif
