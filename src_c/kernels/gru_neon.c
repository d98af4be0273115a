/* gru_neon.c - the GRU kernels for aarch64 Advanced SIMD: four q registers per 16-unit gate
 * block, tiles of 2 batch rows x 3 gates x 4 = 24 accumulators (32 registers). */
#if defined(__aarch64__)
#include <arm_neon.h>

#include "../fg_activations.h"
#include "fg_kernels.h"

#define FGK(name) name##_neon
#define V float32x4_t
#define VL 4
#define MR 2
#define V_LOAD(p) vld1q_f32(p)
#define V_STORE(p, v) vst1q_f32((p), (v))
#define V_SET1(x) vdupq_n_f32(x)
#define V_ZERO() vdupq_n_f32(0.0f)
#define V_ADD vaddq_f32
#define V_SUB vsubq_f32
#define V_MUL vmulq_f32
#define V_DIV vdivq_f32
#define V_FMA(a, b, c) vfmaq_f32((c), (a), (b))
#define V_MAX vmaxq_f32 /* NaN in either operand gives NaN */
#define V_MIN vminq_f32
#define V_SIGNMASK vreinterpretq_f32_u32(vdupq_n_u32(0x80000000u))
#define V_AND(a, b) vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b)))
#define V_OR(a, b) vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b)))
#define V_ABS vabsq_f32
#define V_ROUND vrndnq_f32
#define V_POW2(n) vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23))

#include "gru_template.h"

const fg_kernels fg_kernels_neon = FG_KERNEL_TABLE;
#endif
