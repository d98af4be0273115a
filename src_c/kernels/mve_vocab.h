/* mve_vocab.h - gru_template.h's vector vocabulary for Arm Helium (MVE, Cortex-M55): one q
 * register per 4 floats, tiles of 1 batch row (Helium has 8 q registers; a row's 12
 * accumulators already spill). Helium has no vector divide and only NaN-ignoring max / min:
 * V_DIV divides lane by lane (IEEE, as the scalar kernel), V_MAX / V_MIN select with the
 * template's NaN rule. The includer defines FGK first. */
#include <arm_mve.h>

#define MR 1
#define V_DIV(a, b) FGK(div)((a), (b))
/* b where b > a (b < a) or b is NaN, else a: scalar_vocab.h's rule */
#define V_MAX(a, b) vpselq_f32((b), (a), vcmpgtq_f32((b), (a)) | vcmpneq_f32((b), (b)))
#define V_MIN(a, b) vpselq_f32((b), (a), vcmpltq_f32((b), (a)) | vcmpneq_f32((b), (b)))
#include "arm_q_vocab.h"

static inline __attribute__((always_inline)) float32x4_t FGK(div)(float32x4_t a, float32x4_t b)
{
    float x[4], y[4];
    vst1q_f32(x, a);
    vst1q_f32(y, b);
    for (int i = 0; i < 4; i++)
        x[i] /= y[i];
    return vld1q_f32(x);
}
