/* gru_avx2.c - the GRU kernels for AVX2 + FMA: two ymm per 16-unit gate block, tiles of
 * 2 batch rows x 3 gates x 2 = 12 accumulators (16 registers). */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "../fg_activations.h"
#include "fg_kernels.h"

/* every function below gets the target attribute (GCC and clang spell it differently) */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

#define FGK(name) name##_avx2
#define V __m256
#define VL 8
#define MR 2
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps((p), (v))
#define V_SET1(x) _mm256_set1_ps(x)
#define V_ZERO() _mm256_setzero_ps()
#define V_ADD _mm256_add_ps
#define V_SUB _mm256_sub_ps
#define V_MUL _mm256_mul_ps
#define V_DIV _mm256_div_ps
#define V_FMA _mm256_fmadd_ps
#define V_MAX _mm256_max_ps
#define V_MIN _mm256_min_ps
#define V_AND _mm256_and_ps
#define V_OR _mm256_or_ps
#define V_SIGNMASK _mm256_set1_ps(-0.0f)
#define V_ABS(x) _mm256_andnot_ps(V_SIGNMASK, (x))
#define V_ROUND(x) _mm256_round_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_POW2(n) _mm256_castsi256_ps(_mm256_slli_epi32( \
    _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23))

#include "gru_template.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const fg_kernels fg_kernels_avx2 = FG_KERNEL_TABLE;
#endif
