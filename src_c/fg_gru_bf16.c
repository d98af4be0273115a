/* fg_gru_bf16.c - pack / unpack the bf16 GRU layout (kernels/gru_bf16.h).
 *
 * Both go through the float32 packed layout: packing = the fp32 pack, then each pair of panel
 * rows narrowed into one row of bf16 pairs; unpacking = widen, then the fp32 unpack. One
 * float32 image is held in between, once per pack, never while running.
 */
#include <stdlib.h>

#include "fg_alloc.h"
#include "kernels/gru_bf16.h"

/* Narrow (to_pairs) or widen one panel of nblk blocks of K rows of bw lanes. */
static void panel_pairs(int64_t nblk, int64_t K, int64_t bw, float *f32, uint32_t *pairs,
                        int to_pairs)
{
    int64_t kp = (K + 1) / 2;
    for (int64_t jb = 0; jb < nblk; jb++)
        for (int64_t p = 0; p < kp; p++)
            for (int64_t c = 0; c < bw; c++) {
                float *lo = f32 + (jb * K + 2 * p) * bw + c;
                float *hi = 2 * p + 1 < K ? lo + bw : NULL; /* odd K: a zero row */
                uint32_t *w = pairs + (jb * kp + p) * bw + c;
                if (to_pairs) {
                    *w = fg_bf16_bits(*lo) | (hi ? (uint32_t)fg_bf16_bits(*hi) << 16 : 0u);
                } else {
                    *lo = fg_bf16_float((uint16_t)(*w & 0xFFFFu));
                    if (hi) *hi = fg_bf16_float((uint16_t)(*w >> 16));
                }
            }
}

/* Copy between the fp32 packed image `f32` (of cfg with precision fp32) and the bf16 one. */
static void convert(const fg_gru_config *cfg, float *f32, uint32_t *bf16, int to_bf16)
{
    int64_t nb = (cfg->units + FG_BLOCK - 1) / FG_BLOCK, in = cfg->input_dim, u = cfg->units;
    int64_t bw = fg_cell_gates(cfg->cell) * FG_BLOCK;
    int64_t w16 = nb * ((in + 1) / 2) * bw, u16 = nb * ((u + 1) / 2) * bw;
    int64_t w32 = nb * in * bw, u32 = nb * u * bw;
    panel_pairs(nb, in, bw, f32, bf16, to_bf16);
    panel_pairs(nb, u, bw, f32 + w32, bf16 + w16, to_bf16);
    /* b_in and b_rec follow the panels, float32 in both layouts */
    size_t bias_bytes = (size_t)(2 * nb * bw) * sizeof(float);
    if (to_bf16) memcpy(bf16 + w16 + u16, f32 + w32 + u32, bias_bytes);
    else memcpy(f32 + w32 + u32, bf16 + w16 + u16, bias_bytes);
}

void fg_gru_bf16_from_fp32(const fg_gru_config *cfg, const void *fp32_packed, void *bf16_packed)
{
    convert(cfg, (float *)fp32_packed, bf16_packed, 1);
}

/* A 64-byte aligned float32 packed image for cfg's layer in *out (cfg32 = cfg as fp32). */
static int fp32_image(const fg_gru_config *cfg, fg_gru_config *cfg32, float **out)
{
    *cfg32 = *cfg;
    cfg32->precision = FG_PRECISION_FP32;
    size_t bytes = fg_gru_packed_bytes(cfg32);
    int st = fg_check_cap(bytes, "the GRU's float32 weights while packing bf16");
    if (st != FG_OK) return st;
    if ((*out = fg_aligned_alloc(64, bytes)) == NULL)
        return fg_fail(FG_ERR_NOMEM, "GRU bf16 pack: cannot allocate %zu bytes", bytes);
    return FG_OK;
}

int fg_gru_bf16_pack(const fg_gru_config *cfg, const float *kernel,
                     const float *recurrent_kernel, const float *bias, void *packed)
{
    fg_gru_config cfg32;
    float *tmp;
    int st = fp32_image(cfg, &cfg32, &tmp);
    if (st != FG_OK) return st;
    st = fg_gru_pack(&cfg32, kernel, recurrent_kernel, bias, tmp);
    if (st == FG_OK) convert(cfg, tmp, packed, 1);
    fg_aligned_free(tmp);
    return st;
}

int fg_gru_bf16_unpack(const fg_gru_config *cfg, const void *packed, float *kernel,
                       float *recurrent_kernel, float *bias)
{
    fg_gru_config cfg32;
    float *tmp;
    int st = fp32_image(cfg, &cfg32, &tmp);
    if (st != FG_OK) return st;
    convert(cfg, tmp, (uint32_t *)packed, 0);
    st = fg_gru_unpack(&cfg32, tmp, kernel, recurrent_kernel, bias);
    fg_aligned_free(tmp);
    return st;
}
