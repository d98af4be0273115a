/* model_panels.c - a fixed weight matrix in the gemm's panels (kernels/fg_kernels.h), and
 * products through it: the dense and conv1d ops.
 *
 * The columns go into blocks of 48 (three-gate panels) while whole ones remain, the rest into
 * blocks of 16 (one-gate panels), the last zero-padded, so at most 15 columns are computed for
 * nothing (48-column blocks alone padded a 64-unit layer to 96). Each block holds its columns
 * for every row; the padded bias follows the panels. Blocks run in column order, so the gemm
 * writes whole blocks straight into the output rows. Each column is the same sum in the same
 * order whichever block width holds it: results do not depend on the split.
 */
#include <string.h>

#include "model_internal.h"
#include "kernels/fg_kernels.h"

#ifndef FG_MCU
/* Columns in 48-column blocks, the rest in 16-column blocks, and those padded. */
static int64_t wide_columns(int64_t cols) { return cols / FG_BLOCK3 * FG_BLOCK3; }
static int64_t padded_columns(int64_t cols) { return (cols + FG_BLOCK - 1) / FG_BLOCK * FG_BLOCK; }

uint64_t model_panel_floats(int64_t rows, int64_t cols) {
    return (uint64_t)padded_columns(cols) * ((uint64_t)rows + 1);   /* a multiple of 16 */
}

/* Columns [c0, c0 + n * bw) in n blocks of bw, zeros past `cols`. */
static void pack_blocks(const float *src, int64_t ld, int64_t rows, int64_t cols, int64_t c0,
                        int64_t n, int64_t bw, float *at) {
    for (int64_t jb = 0; jb < n; jb++)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t c = 0; c < bw; c++) {
                int64_t col = c0 + jb * bw + c;
                at[(jb * rows + i) * bw + c] = col < cols ? src[i * ld + col] : 0.0f;
            }
}

void model_pack_panels(const float *src, int64_t ld, int64_t rows, int64_t cols,
                       const float *bias, float *at) {
    int64_t wide = wide_columns(cols), padded = padded_columns(cols);
    pack_blocks(src, ld, rows, cols, 0, wide / FG_BLOCK3, FG_BLOCK3, at);
    pack_blocks(src, ld, rows, cols, wide, (padded - wide) / FG_BLOCK, FG_BLOCK,
                at + wide * rows);
    float *b = at + padded * rows;
    for (int64_t col = 0; col < padded; col++) b[col] = bias && col < cols ? bias[col] : 0.0f;
}

void model_panel_product(const fg_kernels *k, int64_t n, int64_t rows, const float *A,
                         int64_t lda, const float *P, int64_t cols, float *C, int64_t ldc) {
    int64_t wide = wide_columns(cols), padded = padded_columns(cols);
    int64_t narrow = (cols - wide) / FG_BLOCK * FG_BLOCK, tail = cols - wide - narrow;
    const float *bias = P + padded * rows, *Pn = P + wide * rows;   /* Pn: the 16-column blocks */
    if (wide) k->gemm(n, rows, A, lda, P, 3, 0, wide / FG_BLOCK3, bias, C, ldc);
    if (narrow)
        k->gemm(n, rows, A, lda, Pn, 1, 0, narrow / FG_BLOCK, bias + wide, C + wide, ldc);
    if (!tail) return;
    _Alignas(64) float buf[MODEL_PANEL_ROWS_MAX * FG_BLOCK];
    k->gemm(n, rows, A, lda, Pn + narrow * rows, 1, 0, 1, bias + wide + narrow, buf, FG_BLOCK);
    for (int64_t r = 0; r < n; r++)
        memcpy(C + r * ldc + wide + narrow, buf + r * FG_BLOCK, (size_t)tail * 4);
}
#endif
