/* gru_bf16.h - the bf16 GRU (fg_gru_config.precision == FG_PRECISION_BF16), internal.
 *
 * Packed layout: as fg_kernels.h's, but the W and U panels hold bfloat16 pairs. Block jb of a
 * K-row panel has ceil(K/2) rows of 48 32-bit lanes; lane c of pair row p holds
 * (w[2p][c] in the low 16 bits, w[2p+1][c] in the high 16 bits), a zero row padding odd K,
 * so one vdpbf16ps does two k at once. The biases stay float32 panels.
 * The kernel tables have fg_kernels' signatures; their P / U pointers point at pair panels.
 */
#ifndef FG_GRU_BF16_H
#define FG_GRU_BF16_H

#include <string.h>

#include "../fg_gru.h"
#include "fg_kernels.h"

/* 48-lane rows per block of a K-row panel for cfg's precision. */
static inline int64_t fg_panel_rows(const fg_gru_config *cfg, int64_t K)
{
    return cfg->precision == FG_PRECISION_BF16 ? (K + 1) / 2 : K;
}

/* bfloat16 bits of f, rounded to nearest even (NaN stays a quiet NaN): what vcvtne2ps2bf16
 * does on normal numbers. */
static inline uint16_t fg_bf16_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)(u >> 16 | 0x40u);
    return (uint16_t)((u + 0x7FFFu + (u >> 16 & 1u)) >> 16);
}

static inline float fg_bf16_float(uint16_t bits)
{
    uint32_t u = (uint32_t)bits << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* fg_gru_pack / fg_gru_unpack for a bf16 config (checked by the caller; fg_gru_bf16.c).
 * Packing rounds the weights to bf16; unpacking gives those rounded values back. */
int fg_gru_bf16_pack(const fg_gru_config *cfg, const float *kernel,
                     const float *recurrent_kernel, const float *bias, void *packed);
int fg_gru_bf16_unpack(const fg_gru_config *cfg, const void *packed, float *kernel,
                       float *recurrent_kernel, float *bias);
/* A float32 packed image (cfg with precision fp32) into the bf16 one of the same layer. */
void fg_gru_bf16_from_fp32(const fg_gru_config *cfg, const void *fp32_packed, void *bf16_packed);

/* The bf16 kernel table to use now: native AVX512_BF16 when fg_isa_bf16_native(), else the
 * portable one (same products; the gate maths as in the scalar fp32 kernels). */
const fg_kernels *fg_kernels_bf16(void);

extern const fg_kernels fg_kernels_bf16_portable;
#if defined(__x86_64__) || defined(__i386__)
extern const fg_kernels fg_kernels_bf16_avx512;
#endif

#endif
