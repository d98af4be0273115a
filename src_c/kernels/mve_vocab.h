/* mve_vocab.h - gru_template.h's vector vocabulary for Arm Helium (MVE, Cortex-M55): one q
 * register per 4 floats, tiles of 1 batch row (Helium has 8 q registers; a row's 12
 * accumulators already spill). Helium has no vector divide and only NaN-ignoring max / min:
 * V_DIV divides lane by lane (IEEE, as the scalar kernel), V_MAX / V_MIN select with the
 * template's NaN rule. The includer defines FGK first. */
#include <arm_mve.h>

#define V float32x4_t
#define VL 4
#define MR 1
#define V_LOAD(p) vld1q_f32(p)
#define V_STORE(p, v) vst1q_f32((p), (v))
#define V_SET1(x) vdupq_n_f32(x)
#define V_ZERO() vdupq_n_f32(0.0f)
#define V_ADD vaddq_f32
#define V_SUB vsubq_f32
#define V_MUL vmulq_f32
#define V_DIV(a, b) FGK(div)((a), (b))
#define V_FMA(a, b, c) vfmaq_f32((c), (a), (b))
/* b where b > a (b < a) or b is NaN, else a: scalar_vocab.h's rule */
#define V_MAX(a, b) vpselq_f32((b), (a), vcmpgtq_f32((b), (a)) | vcmpneq_f32((b), (b)))
#define V_MIN(a, b) vpselq_f32((b), (a), vcmpltq_f32((b), (a)) | vcmpneq_f32((b), (b)))
#define V_SIGNMASK vreinterpretq_f32_u32(vdupq_n_u32(0x80000000u))
#define V_AND(a, b)                                                                                \
    vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b)))
#define V_OR(a, b)                                                                                 \
    vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b)))
#define V_ABS vabsq_f32
#define V_ROUND vrndnq_f32
#define V_POW2(n)                                                                                  \
    vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23))

static inline __attribute__((always_inline)) float32x4_t FGK(div)(float32x4_t a, float32x4_t b)
{
    float x[4], y[4];
    vst1q_f32(x, a);
    vst1q_f32(y, b);
    for (int i = 0; i < 4; i++)
        x[i] /= y[i];
    return vld1q_f32(x);
}
