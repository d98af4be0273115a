/* gru_neon.c - the GRU kernels for aarch64 Advanced SIMD: four q registers per 16-unit gate
 * block, tiles of 2 batch rows x 3 gates x 4 = 24 accumulators (32 registers). */
#if defined(__aarch64__)
#include <arm_neon.h>

#include "../fg_activations.h"
#include "fg_kernels.h"

#define FGK(name) name##_neon
#define MR 2
#define V_DIV vdivq_f32
#define V_MAX vmaxq_f32 /* NaN in either operand gives NaN */
#define V_MIN vminq_f32
#include "arm_q_vocab.h"

#include "gru_template.h"

const fg_kernels fg_kernels_neon = FG_KERNEL_TABLE;
#endif
