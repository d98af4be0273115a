/* gru_bf16_portable.c - the bf16 GRU kernels for every CPU: the scalar kernels
 * (gru_scalar.c's vocabulary) with a tile that widens the bf16 pairs on the fly. Its
 * products equal vdpbf16ps lane for lane: the product of two bf16 is exact in float32, so
 * acc += a*w rounds once, as the instruction does (DAZ / FTZ aside: normal numbers only). */
#include "../fg_activations.h"
#include "gru_bf16.h"

#define FGK(name) name##_bf16_portable
#include "scalar_vocab.h"

#define FG_PANEL_ROWS(K) (((K) + 1) / 2)
#define FG_OWN_TILE

/* acc[r][g0 .. g0+ng) = bf16(A[r, :K]) . P for r < mr (pair panel of bw lanes a row, see
 * gru_bf16.h; lanes past bw in the next blocks' panels, ps lanes apart: gru_template.h); per
 * lane and pair the odd k first, then the even one, as vdpbf16ps. */
static inline __attribute__((always_inline)) void
FGK(tile)(const int mr, const int g0, const int ng, const int bw, int64_t ps, int64_t K,
          const float *A, int64_t lda, const float *P, float acc[][FG_GATES_MAX * FG_BLOCK])
{
    const uint32_t *pp = (const uint32_t *)P;
    for (int r = 0; r < mr; r++) {
        const float *a = A + r * lda;
        for (int g = 0; g < ng; g++)
            acc[r][g0 + g] = 0.0f;
        for (int64_t k = 0; k < K; k += 2) {
            float a0 = fg_bf16_float(fg_bf16_bits(a[k]));
            float a1 = k + 1 < K ? fg_bf16_float(fg_bf16_bits(a[k + 1])) : 0.0f;
            const uint32_t *w = pp + (k / 2) * bw;
            for (int g = 0; g < ng; g++) {
                uint32_t pair = w[(g0 + g) / bw * ps + (g0 + g) % bw];
                float s = acc[r][g0 + g] + a1 * fg_bf16_float((uint16_t)(pair >> 16));
                acc[r][g0 + g] = s + a0 * fg_bf16_float((uint16_t)(pair & 0xFFFFu));
            }
        }
    }
}

#include "gru_template.h"

const fg_kernels fg_kernels_bf16_portable = FG_KERNEL_TABLE;
