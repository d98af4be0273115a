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
#include "avx512_vocab.h"
#include "gru_template.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const fg_kernels fg_kernels_avx512 = FG_KERNEL_TABLE;
#endif
