/* fg_activations.h - every activation Keras accepts by name for a GRU (and Dense/Activation).
 *
 * The numeric ids are part of the model image format: never renumber, only append.
 * Definitions follow the Keras version noted; where Keras 2 and 3 differ there are two ids.
 */
#ifndef FG_ACTIVATIONS_H
#define FG_ACTIVATIONS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fg_activation {
    FG_ACT_LINEAR = 0,          /* x */
    FG_ACT_TANH = 1,
    FG_ACT_SIGMOID = 2,         /* 1 / (1 + exp(-x)) */
    FG_ACT_HARD_SIGMOID = 3,    /* Keras 3: clip(x/6 + 0.5, 0, 1) */
    FG_ACT_HARD_SIGMOID_K2 = 4, /* Keras 2 (tf-keras): clip(0.2x + 0.5, 0, 1) */
    FG_ACT_RELU = 5,
    FG_ACT_RELU6 = 6,
    FG_ACT_ELU = 7,             /* alpha 1 */
    FG_ACT_SELU = 8,
    FG_ACT_SOFTPLUS = 9,
    FG_ACT_SOFTSIGN = 10,
    FG_ACT_EXPONENTIAL = 11,
    FG_ACT_SWISH = 12,          /* x * sigmoid(x); also "silu" */
    FG_ACT_GELU = 13,           /* exact: 0.5x(1 + erf(x/sqrt 2)) */
    FG_ACT_LEAKY_RELU = 14,     /* negative slope 0.2 */
    FG_ACT_MISH = 15,           /* x * tanh(softplus(x)) */
    FG_ACT_SOFTMAX = 16,        /* over the last (units) axis */
    FG_ACT_LOG_SOFTMAX = 17,    /* over the last axis */
    FG_ACT_SPARSEMAX = 18,      /* last axis, Keras' own formula (docs/KERAS_FORMATS.md §14.2) */
    FG_ACT_CELU = 19,           /* alpha 1 */
    FG_ACT_HARD_SHRINK = 20,    /* threshold 0.5 */
    FG_ACT_HARD_TANH = 21,      /* clip(x, -1, 1) */
    FG_ACT_SOFT_SHRINK = 22,    /* threshold 0.5 */
    FG_ACT_SPARSE_PLUS = 23,
    FG_ACT_SPARSE_SIGMOID = 24,
    FG_ACT_SQUAREPLUS = 25,     /* b = 4 */
    FG_ACT_TANH_SHRINK = 26,    /* x - tanh(x) */
    FG_ACT_LOG_SIGMOID = 27,
    FG_ACT_HARD_SILU = 28,      /* x * clip(x/6 + 0.5, 0, 1); also "hard_swish" */
    FG_ACT_COUNT = 29
} fg_activation;

/* 1 when the activation acts on each element alone (all but softmax, log_softmax, sparsemax). */
int fg_activation_is_elementwise(int act);

/* Apply `act` in place to `rows` rows of `n` contiguous floats (row stride `stride` floats).
 * Non-elementwise activations work along each row. Uses the active ISA's vector code for
 * tanh / sigmoid / hard sigmoid. Returns FG_OK or FG_ERR_ARG for an unknown id. */
int fg_activation_apply(int act, float *x, int64_t rows, int64_t n, int64_t stride);

#ifdef __cplusplus
}
#endif
#endif
