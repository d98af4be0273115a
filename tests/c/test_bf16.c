/* test_bf16.c - the native AVX512_BF16 products against the portable ones, bitwise.
 *
 * Random normal-range inputs and weights (no denormals: vdpbf16ps flushes them, the portable
 * kernel does not), shapes that hit every tail: K odd / even / not a multiple of 32, row
 * counts around the 8-row tile, block ranges that start past 0. Checks the gemm entry (the
 * products every step kernel uses) plus the bf16 pack -> unpack round trip (the weights come
 * back rounded to bf16, nearest even). Prints "skip: ..." and exits 0 on a CPU without
 * AVX512_BF16; run by tests/test_bf16.py.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_gru.h"
#include "kernels/gru_bf16.h"

static int failures;

static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void) /* uniform in [-1, 1), never a denormal */
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    float f = (float)((rng_state >> 40) / 8388608.0 - 1.0);
    return fabsf(f) < 1e-30f ? 0.5f : f;
}

static void *zalloc(size_t bytes)
{
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    memset(p, 0, (bytes + 63) / 64 * 64);
    return p;
}

/* gemm on both tables for one shape; 1 when bitwise equal. */
static int gemm_case(int64_t M, int64_t K, int64_t units, int64_t jb0)
{
    fg_gru_config cfg = {(int32_t)K,     (int32_t)units,    1,          1, FG_ACT_TANH,
                         FG_ACT_SIGMOID, FG_PRECISION_BF16, FG_CELL_GRU};
    int64_t nblk = (units + FG_BLOCK - 1) / FG_BLOCK, lda = K + 3, ldc = 3 * nblk * FG_BLOCK;
    float *W = zalloc((size_t)(K * 3 * units) * 4), *R = zalloc((size_t)(units * 3 * units) * 4);
    float *b = zalloc((size_t)(6 * units) * 4), *A = zalloc((size_t)(M * lda) * 4);
    float *C1 = zalloc((size_t)(M * ldc) * 4), *C2 = zalloc((size_t)(M * ldc) * 4);
    void *packed = zalloc(fg_gru_packed_bytes(&cfg));
    for (int64_t i = 0; i < K * 3 * units; i++) W[i] = frand();
    for (int64_t i = 0; i < units * 3 * units; i++) R[i] = frand();
    for (int64_t i = 0; i < 6 * units; i++) b[i] = frand();
    for (int64_t i = 0; i < M * lda; i++) A[i] = 4.0f * frand();
    int ok = fg_gru_pack(&cfg, W, R, b, packed) == FG_OK;
    /* the W panel starts the image, the input bias follows both panels */
    const float *P = packed;
    const float *bias = P + nblk * ((K + 1) / 2 + (units + 1) / 2) * FG_BLOCK3;
    fg_kernels_bf16_avx512.gemm(M, K, A, lda, P, 3, jb0, nblk, bias, C1, ldc);
    fg_kernels_bf16_portable.gemm(M, K, A, lda, P, 3, jb0, nblk, bias, C2, ldc);
    ok = ok && memcmp(C1, C2, (size_t)(M * ldc) * 4) == 0;
    int nonzero = 0;
    for (int64_t i = jb0 * FG_BLOCK3; i < ldc; i++) nonzero |= C1[i] != 0.0f;
    ok = ok && nonzero;
    free(W), free(R), free(b), free(A), free(C1), free(C2), free(packed);
    if (!ok)
        printf("FAIL gemm M=%lld K=%lld units=%lld jb0=%lld\n", (long long)M, (long long)K,
               (long long)units, (long long)jb0);
    return ok;
}

static void round_trip(void)
{
    fg_gru_config cfg = {5, 20, 0, 1, FG_ACT_TANH, FG_ACT_SIGMOID, FG_PRECISION_BF16, FG_CELL_GRU};
    float W[5 * 60], R[20 * 60], b[60], W2[5 * 60], R2[20 * 60], b2[60];
    for (int i = 0; i < 5 * 60; i++) W[i] = frand();
    for (int i = 0; i < 20 * 60; i++) R[i] = frand();
    for (int i = 0; i < 60; i++) b[i] = frand();
    void *packed = zalloc(fg_gru_packed_bytes(&cfg));
    int ok = fg_gru_pack(&cfg, W, R, b, packed) == FG_OK &&
             fg_gru_unpack(&cfg, packed, W2, R2, b2) == FG_OK;
    for (int i = 0; ok && i < 5 * 60; i++) ok = W2[i] == fg_bf16_float(fg_bf16_bits(W[i]));
    for (int i = 0; ok && i < 20 * 60; i++) ok = R2[i] == fg_bf16_float(fg_bf16_bits(R[i]));
    for (int i = 0; ok && i < 60; i++) ok = b2[i] == b[i]; /* biases stay float32 */
    /* nearest even: 1 + 2^-8 is a tie that rounds down to 1, 1 + 3 * 2^-8 up to 1 + 2^-6 */
    ok = ok && fg_bf16_bits(1.0f + 0x1p-8f) == 0x3F80 && fg_bf16_bits(1.0f + 3 * 0x1p-8f) == 0x3F82;
    if (!ok) {
        failures++;
        printf("FAIL bf16 pack / unpack round trip\n");
    }
    free(packed);
}

int main(void)
{
    round_trip();
    if (!(fg_isa_available() & FG_ISA_AVX512BF16)) {
        printf("skip: this CPU has no AVX512_BF16 (round trip checked only)\n");
        return failures != 0;
    }
    static const int64_t Ks[] = {1, 2, 15, 16, 17, 31, 32, 33, 64, 65, 100, 256};
    static const int64_t Ms[] = {1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17};
    for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k++)
        for (size_t m = 0; m < sizeof Ms / sizeof *Ms; m++)
            failures += !gemm_case(Ms[m], Ks[k], 40, (int64_t)(m % 2));
    failures += !gemm_case(1, 256, 256, 0); /* the S2 shape */
    printf(failures ? "FAILED %d\n" : "ok\n", failures);
    return failures != 0;
}
