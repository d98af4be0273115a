/* gru_bf16_avx512.c - the bf16 GRU kernels for AVX512_BF16: gru_template.h over the AVX-512
 * vocabulary with a tile of vdpbf16ps, two k per instruction against the pair panels
 * (gru_bf16.h). Rows of A are rounded to bf16 32 k at a time (vcvtne2ps2bf16, nearest even)
 * into a small stack buffer, from which each pair is broadcast. */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "../fg_activations.h"
#include "gru_bf16.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma")
#endif

#define FGK(name) name##_bf16_avx512
#include "avx512_vocab.h"

#define FG_PANEL_ROWS(K) (((K) + 1) / 2)
#define FG_OWN_TILE
#define KSTEP 32 /* k rounded per conversion: two zmm of floats into one of bf16 pairs */

/* acc[r][g0 .. g0+ng) = bf16(A[r, :K]) . P for r < mr (P a pair panel of bw lanes a row;
 * vectors past bw / VL in the next blocks' panels, ps lanes apart: gru_template.h). */
static inline __attribute__((always_inline)) void FGK(tile)(const int mr, const int g0,
                                                            const int ng, const int bw, int64_t ps,
                                                            int64_t K, const float *A, int64_t lda,
                                                            const float *P, V acc[][FG_GATES_MAX])
{
    const int32_t *pp = (const int32_t *)P;
    const int vpr = bw / VL;
    int32_t a2[3 * MR][KSTEP / 2] __attribute__((aligned(64))); /* a SimpleRNN's tile rows */
    for (int r = 0; r < mr; r++)
        for (int g = 0; g < ng; g++) acc[r][g0 + g] = V_ZERO();
    for (int64_t k0 = 0; k0 < K; k0 += KSTEP) {
        int64_t n = K - k0 < KSTEP ? K - k0 : KSTEP;
        __mmask16 lo = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);
        __mmask16 hi = n >= 32 ? 0xFFFF : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
        for (int r = 0; r < mr; r++) { /* past K: zeros, against the panel's zero pad row */
            const float *a = A + r * lda + k0;
            __m512bh pairs = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, a + 16),
                                                 _mm512_maskz_loadu_ps(lo, a));
            _mm512_store_si512(a2[r], (__m512i)pairs);
        }
        const int32_t *w = pp + (k0 / 2) * bw;
        for (int64_t p = 0; p < (n + 1) / 2; p++, w += bw) {
            __m512bh wv[FG_GATES_MAX];
            for (int g = 0; g < ng; g++) {
                int v = g0 + g;
                wv[g] = (__m512bh)_mm512_loadu_si512(w + (v / vpr) * ps + (v % vpr) * VL);
            }
            for (int r = 0; r < mr; r++) {
                __m512bh a = (__m512bh)_mm512_set1_epi32(a2[r][p]);
                for (int g = 0; g < ng; g++)
                    acc[r][g0 + g] = _mm512_dpbf16_ps(acc[r][g0 + g], a, wv[g]);
            }
        }
    }
}

#include "gru_template.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const fg_kernels fg_kernels_bf16_avx512 = FG_KERNEL_TABLE;
#endif
