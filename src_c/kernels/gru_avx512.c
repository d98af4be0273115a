/* gru_avx512.c - the GRU kernels for AVX-512 (F, BW, DQ, VL): one zmm per 16-unit gate
 * block, tiles of 8 batch rows x 3 gates = 24 accumulators. */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "../fg_activations.h"
#include "fg_kernels.h"

/* every function below gets the target attribute (GCC and clang spell it differently) */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#endif

#define FGK(name) name##_avx512
#define V __m512
#define VL 16
#define MR 8
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_SET1(x) _mm512_set1_ps(x)
#define V_ZERO() _mm512_setzero_ps()
#define V_ADD _mm512_add_ps
#define V_SUB _mm512_sub_ps
#define V_MUL _mm512_mul_ps
#define V_DIV _mm512_div_ps
#define V_FMA _mm512_fmadd_ps
#define V_MAX _mm512_max_ps
#define V_MIN _mm512_min_ps
#define V_AND _mm512_and_ps
#define V_OR _mm512_or_ps
#define V_SIGNMASK _mm512_set1_ps(-0.0f)
#define V_ABS(x) _mm512_andnot_ps(V_SIGNMASK, (x))
#define V_ROUND(x) _mm512_roundscale_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_POW2(n) _mm512_castsi512_ps(_mm512_slli_epi32( \
    _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23))

#include "gru_template.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const fg_kernels fg_kernels_avx512 = FG_KERNEL_TABLE;
#endif
