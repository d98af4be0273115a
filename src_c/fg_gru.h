/* fg_gru.h - one recurrent layer (GRU, LSTM or SimpleRNN): pack Keras weights once, then run
 * the forward pass. The three cells share the packing, the driver and the kernels; the names
 * say GRU, the layer it was written for first.
 *
 * Used by the Python binding (fastgru.GRU) and by the model executor alike, so that a layer
 * and a whole model run the very same kernel.
 *
 * Maths (docs/KERAS_FORMATS.md §10), gate order z, r, h:
 *   reset_after=1: z = ract(xz + hUz + bz'), r = ract(xr + hUr + br'), hh = act(xh + r*(hUh + bh'))
 *   reset_after=0: z = ract(xz + hUz),       r = ract(xr + hUr),       hh = act(xh + (r*h)Uh)
 *   h_new = z*h + (1-z)*hh          (x* include the input bias b, b' is the recurrent bias)
 * LSTM (cell FG_CELL_LSTM), gate order i, f, c, o, bias b (input bias only):
 *   i = ract(xi + hUi), f = ract(xf + hUf), o = ract(xo + hUo), c' = f*c + i*act(xc + hUc),
 *   h' = o*act(c')
 * SimpleRNN (FG_CELL_SIMPLE_RNN): h' = act(x.W + b + h.U)
 * Masking (section 12): where mask[b,t] == 0 the state is carried unchanged and the output
 * repeats the previous output (zeros before the first unmasked step), or is zero when
 * zero_output_for_mask is set.
 */
#ifndef FG_GRU_H
#define FG_GRU_H

#include "fg_common.h"
#include "fg_activations.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Compute precision of a GRU's two matrix products (fg_gru_config.precision). */
enum {
    FG_PRECISION_FP32 = 0, /* exact float32 */
    /* bf16 products: weights held as bfloat16, x and h rounded to bfloat16 (nearest even)
     * where they enter a product, float32 accumulation, gate maths and state. Native
     * AVX512_BF16 kernels where the CPU has them; elsewhere a portable kernel with the same
     * products (per 32-bit lane: acc += a_odd*w_odd, then acc += a_even*w_even). */
    FG_PRECISION_BF16 = 1
};

/* Recurrent cell of a layer (fg_gru_config.cell). */
enum { FG_CELL_GRU = 0, FG_CELL_LSTM = 1, FG_CELL_SIMPLE_RNN = 2 };

typedef struct fg_gru_config {
    int32_t input_dim;            /* > 0 */
    int32_t units;                /* > 0 */
    int32_t reset_after;          /* 0 or 1; GRU only (0 for the other cells) */
    int32_t use_bias;             /* 0 or 1 */
    int32_t activation;           /* fg_activation id (candidate) */
    int32_t recurrent_activation; /* fg_activation id (gates z, r; LSTM i, f, o; SimpleRNN
                                   * none: 0) */
    int32_t precision;            /* FG_PRECISION_*; the packed layout depends on it */
    int32_t cell;                 /* FG_CELL_*; 0 (GRU) in configs that leave it out */
} fg_gru_config;

/* Checks a config; FG_ERR_ARG with a message naming the field otherwise. */
int fg_gru_check_config(const fg_gru_config *cfg);

/* Size in bytes of the packed weights for `cfg` (a multiple of 64). 0 for an invalid config.
 * The packed layout does not depend on the ISA, so one packed image runs on every CPU; it
 * depends on cfg->precision (bf16: about half the bytes, kernels/gru_bf16.h). */
size_t fg_gru_packed_bytes(const fg_gru_config *cfg);

/* Pack Keras-layout weights into `packed` (64-byte aligned, fg_gru_packed_bytes(cfg) bytes),
 * G the cell's gates (GRU 3, LSTM 4, SimpleRNN 1):
 *   kernel           (input_dim, G*units) row-major
 *   recurrent_kernel (units, G*units) row-major
 *   bias             NULL when use_bias == 0; (2, 3*units) for a GRU with reset_after; else
 *                    (G*units,) */
int fg_gru_pack(const fg_gru_config *cfg, const float *kernel, const float *recurrent_kernel,
                const float *bias, void *packed);

/* Inverse of fg_gru_pack (for get_weights()); bias may be NULL when use_bias == 0. A bf16
 * packing gives the weights back as rounded to bf16 (the biases stay exact float32). */
int fg_gru_unpack(const fg_gru_config *cfg, const void *packed, float *kernel,
                  float *recurrent_kernel, float *bias);

/* One forward pass. Strides are in elements (floats or bytes for the mask) and may be any
 * non-negative values, so callers can run time-major data or write into a slice of a larger
 * array (e.g. one half of a Bidirectional concat) without copies. */
typedef struct fg_gru_run {
    int64_t batch;                /* >= 0 */
    int64_t timesteps;            /* >= 0 */
    const float *x;               /* x[b*x_sb + t*x_st + f], f contiguous */
    int64_t x_sb, x_st;
    const uint8_t *mask;          /* NULL = no mask; else mask[b*m_sb + t*m_st] != 0 is "keep" */
    int64_t m_sb, m_st;
    const float *h0;              /* NULL = zeros; else h0[b*h0_sb + j] */
    int64_t h0_sb;
    const float *c0; /* LSTM cell state: NULL = zeros; else c0[b*c0_sb + j] */
    int64_t c0_sb;
    float *y;                     /* return_sequences: y[b*y_sb + t*y_st + j]; else y[b*y_sb + j] */
    int64_t y_sb, y_st;
    float *h_final;               /* NULL = not wanted; else h_final[b*hf_sb + j] */
    int64_t hf_sb;
    float *c_final; /* LSTM: NULL = not wanted; else c_final[b*cf_sb + j] */
    int64_t cf_sb;
    int32_t go_backwards;         /* process t = T-1 .. 0; outputs stay in processing order */
    int32_t return_sequences;
    int32_t zero_output_for_mask;
    int32_t nthreads;             /* <= 0: fg_default_threads() */
} fg_gru_run;

/* Scratch needed by fg_gru_forward for this run shape; independent of the sequence length
 * beyond one time chunk. Scratch is planned per batch row, so the size does not depend on
 * nthreads either (the argument is kept for future layouts). */
size_t fg_gru_workspace_bytes(const fg_gru_config *cfg, int64_t batch, int64_t timesteps,
                              int32_t nthreads);

/* Run. `workspace` may be NULL (allocated and freed inside) or a 64-byte aligned buffer of
 * fg_gru_workspace_bytes() bytes. Results are bitwise identical for any thread count.
 * h_final may be the very array h0 (same pointer and stride), c_final c0: streaming updates
 * state in place. c0 / c_final are read only for an LSTM. */
int fg_gru_forward(const fg_gru_config *cfg, const void *packed, const fg_gru_run *run,
                   void *workspace);

#ifdef __cplusplus
}
#endif
#endif
