/* model_weights_widen.c - widen stored float16 / bfloat16 weights to float32 at load.
 *
 * Portable bit arithmetic (no F16C needed), exact: every float16 and bfloat16 value, subnormals,
 * infinities and NaNs included, is representable in float32. Runs once per load, so the
 * scalar loop is not worth an ISA-specific path. The stored data are little-endian 16-bit
 * words at any alignment.
 */
#include <string.h>

#include "model_internal.h"

static float f32_from_bits(uint32_t bits) { float f; memcpy(&f, &bits, 4); return f; }

static float widen_f16(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
    if (exp == 0x1F) return f32_from_bits(sign | 0x7F800000u | man << 13);   /* inf, NaN */
    if (exp) return f32_from_bits(sign | (exp + 112) << 23 | man << 13);     /* rebias 15 -> 127 */
    float sub = (float)man * 0x1p-24f;   /* zero or subnormal: man * 2^-24, exact in float32 */
    return sign ? -sub : sub;
}

void model_widen_weights(int32_t dtype, const uint8_t *src, uint64_t count, float *dst) {
    for (uint64_t i = 0; i < count; i++) {
        uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
        dst[i] = dtype == MODEL_WDTYPE_FLOAT16 ? widen_f16(h) : f32_from_bits((uint32_t)h << 16);
    }
}
