/* gru_template.h - the recurrent kernels (GRU, LSTM, SimpleRNN), written once over a small
 * vector vocabulary.
 *
 * Included by one file per ISA (gru_scalar.c, gru_avx2.c, gru_avx512.c, gru_neon.c) after it
 * defines:
 *   FGK(name)   name with the ISA suffix          V, VL   vector type, lanes (VL divides 16)
 *   MR          batch rows per register tile of a GRU (3 gates); a tile of G gates x nb
 *               blocks takes FG_PASS_ROWS(G * nb) rows, the same accumulator count
 *   V_LOAD(p) V_STORE(p, v) V_SET1(x) V_ZERO() V_ADD V_SUB V_MUL V_DIV
 *   V_FMA(a, b, c) = a*b + c       V_MAX(a, b) / V_MIN(a, b): b when either is NaN
 *   V_EXP(x) V_TANH(x) V_SIGMOID(x)   libm-based for scalar; SIMD files leave them out and
 *                                  define what vmath_template.h needs instead
 * Layouts: see fg_kernels.h. Tiles hold rows x (gates x 16 units) accumulators; left-over
 * rows run the same code with 4, 2 or 1 rows, so each row sees the same operation order
 * whatever tile it lands in (results do not depend on the batch split between threads).
 * The kernels take the cell's gate count (gemm) or the cell (step_cell) at run time and
 * switch once into a copy specialised for it, so that tiles keep their accumulators in
 * registers.
 */
#include <math.h>

#include "../fg_config_select.h"
#include "../model_registry.h"

#define VPG (FG_BLOCK / VL)            /* vectors per gate per block */
#define VPB (FG_GATES_MAX * VPG)       /* vectors per block, at most (an LSTM's) */
#define FG_TILE_ROWS(gate_blocks) (MR * 3 / (gate_blocks) > 0 ? MR * 3 / (gate_blocks) : 1)
#define FG_TILE_ROWS_MAX (MR * 3)      /* a tile of one gate block's */
/* Passes over K of a tile of gb gate blocks: two, half its vectors each, where one would leave
 * it under two rows (an LSTM's 4 gates on AVX2: 1 row x 8 vectors, a load per FMA, 0.64 of
 * the GRU's rate at batch 64-256; two passes of 3 rows x 4 vectors), else one. Its rows: */
#define FG_TILE_PASSES(gb) (MR * 3 / (gb) < 2 && (gb) % 2 == 0 && MR * 6 / (gb) >= 2 ? 2 : 1)
#define FG_PASS_ROWS(gb) FG_TILE_ROWS((gb) / FG_TILE_PASSES(gb))
#define FG_INLINE static inline __attribute__((always_inline))
/* Rows of bw lanes per block of a K-row panel: K, or K/2 rounded up for the bf16 kernels
 * (gru_bf16_*.c), which also bring their own FGK(tile) and define FG_OWN_TILE. */
#ifndef FG_PANEL_ROWS
#define FG_PANEL_ROWS(K) (K)
#endif

/* Walk rows m = 0 .. M in tiles of TR rows, then 4, 2, 1: CALL(mr) with mr a constant. */
#define FG_ROW_TILES(M, m, TR, CALL)                                                               \
    for (int64_t m = 0; m < (M);) {                                                                \
        int64_t rem_ = (M) - m;                                                                    \
        if (rem_ >= (TR)) {                                                                        \
            CALL(TR);                                                                              \
            m += (TR);                                                                             \
        } else if ((TR) > 4 && rem_ >= 4) {                                                        \
            CALL(4);                                                                               \
            m += 4;                                                                                \
        } else if ((TR) > 2 && rem_ >= 2) {                                                        \
            CALL(2);                                                                               \
            m += 2;                                                                                \
        } else {                                                                                   \
            CALL(1);                                                                               \
            m += 1;                                                                                \
        }                                                                                          \
    }

/* Block jb of jb0 .. jb1-1 for the n-th iteration, upward or downward (fg_kernels.h). */
#define FG_BLOCK_AT(n, jb0, jb1, desc) ((desc) ? (jb0) + (jb1) - 1 - (n) : (n))

/* Walk blocks jb0 .. jb1-1 (downward when desc) in tiles of nb blocks from block jb, for M
 * rows: CALL(nb) with nb a constant. A 1-gate cell's tile spans three blocks, as many
 * accumulators as a GRU's, so that each broadcast of A feeds three FMAs rather than one
 * where a block is one vector (AVX-512: one block a tile, 24 rows x 1 vector, ran at a
 * quarter of the GRU's rate at batch 64-256) or the rows are too few to fill a one-block tile
 * (batch 1: 1 row x 2 vectors on AVX2, 0.6 of the GRU's rate); one tile of four (an LSTM's
 * shape) when the count leaves one over, so that a 2- or 1-block tile comes only from 2 or 1
 * blocks in all (16 blocks at batch 256, process CPU time: 0.84-0.94 of the GRU's rate as
 * 3+3+3+3+2+2, 0.99-1.08 as 4+3+3+3+3). Full one-block tiles of two or more vectors (AVX2 6
 * rows x 2, NEON 6 x 4) are balanced already, and wider tiles read more of U a row (AVX2,
 * batch 256: 98 GFLOP/s one block a tile, 80 three). Every other cell: one block a tile. */
#define FG_BLOCK_TILES(gates, M, jb0, jb1, desc, jb, CALL)                                         \
    for (int64_t n_ = (jb0), nb_; n_ < (jb1); n_ += nb_) {                                         \
        int64_t left_ = (jb1) - n_;                                                                \
        nb_ = (gates) != 1 || (VPG > 1 && (M) >= FG_TILE_ROWS_MAX) ? 1                             \
              : left_ % 3 == 1 && left_ > 3                        ? 4                             \
              : left_ < 3                                          ? left_                         \
                                                                   : 3;                            \
        int64_t jb = (desc) ? (jb0) + (jb1) - n_ - nb_ : n_;                                       \
        if (nb_ == 4) {                                                                            \
            CALL(4);                                                                               \
        } else if (nb_ == 3) {                                                                     \
            CALL(3);                                                                               \
        } else if (nb_ == 2) {                                                                     \
            CALL(2);                                                                               \
        } else {                                                                                   \
            CALL(1);                                                                               \
        }                                                                                          \
    }

/* clip to [lo, hi] keeping NaN */
FG_INLINE V FGK(clip)(V x, float lo, float hi)
{
    return V_MIN(V_SET1(hi), V_MAX(V_SET1(lo), x));
}

#ifndef V_TANH
#include "vmath_template.h"
#endif

/* Elementwise activation on one vector: the recurrence's common cases inline (those built:
 * fg_config_select.h), the rest lane by lane through the scalar definitions. */
FG_INLINE V FGK(act_v)(int act, V x)
{
    switch (act) {
    FG_ACT_CASE(FG_ACT_LINEAR) return x;
    FG_ACT_CASE(FG_ACT_TANH) return V_TANH(x);
    FG_ACT_CASE(FG_ACT_SIGMOID) return V_SIGMOID(x);
    FG_ACT_CASE(FG_ACT_HARD_SIGMOID) /* Keras 3 (jax.nn): relu6(x + 3) / 6 */
        return V_DIV(FGK(clip)(V_ADD(x, V_SET1(3.0f)), 0.0f, 6.0f), V_SET1(6.0f));
    FG_ACT_CASE(FG_ACT_HARD_SIGMOID_K2) /* tf-keras: clip(0.2 x + 0.5, 0, 1), multiply then add */
        return FGK(clip)(V_ADD(V_MUL(x, V_SET1(0.2f)), V_SET1(0.5f)), 0.0f, 1.0f);
    FG_ACT_CASE(FG_ACT_RELU) return V_MAX(V_ZERO(), x);
    default: break;
    }
    float lane[VL];
    V_STORE(lane, x);
    for (int i = 0; i < VL; i++) lane[i] = fg_act_scalar(act, lane[i]);
    return V_LOAD(lane);
}

#ifndef FG_OWN_TILE
/* acc[r][g0 .. g0+ng) = A[r, :K] . P[:, vectors g0 .. g0+ng) for r < mr, P a block of bw
 * floats a row; vectors past a row's bw / VL go on in the next blocks' panels, ps floats
 * apart (mr, g0, ng, bw constant after inlining, so the accumulators live in registers). */
FG_INLINE void FGK(tile)(const int mr, const int g0, const int ng, const int bw, int64_t ps,
                         int64_t K, const float *A, int64_t lda, const float *P, V acc[][VPB])
{
    const int vpr = bw / VL; /* vectors a panel row */
    for (int r = 0; r < mr; r++)
        for (int g = 0; g < ng; g++) acc[r][g0 + g] = V_ZERO();
    for (int64_t k = 0; k < K; k++) {
        V wv[VPB];
        for (int g = 0; g < ng; g++) {
            int v = g0 + g;
            wv[g] = V_LOAD(P + (v / vpr) * ps + k * bw + (v % vpr) * VL);
        }
        for (int r = 0; r < mr; r++) {
            V a = V_SET1(A[r * lda + k]);
            for (int g = 0; g < ng; g++) acc[r][g0 + g] = V_FMA(a, wv[g], acc[r][g0 + g]);
        }
    }
}
#endif

/* acc[r][0 .. gb * VPG) for r < mr, a tile of gb gate blocks (tile's arguments), in
 * FG_TILE_PASSES(gb) passes: each accumulator gets the same operations either way. */
FG_INLINE void FGK(tile_passes)(const int mr, const int gb, const int bw, int64_t ps, int64_t K,
                                const float *A, int64_t lda, const float *P, V acc[][VPB])
{
    const int passes = FG_TILE_PASSES(gb), ng = gb * VPG / passes;
    for (int p = 0; p < passes; p++)
        FGK(tile)(mr, p * ng, ng, bw, ps, K, A, lda, P, acc);
}

/* Rows 0 .. mr of nb blocks from P (panels ps floats apart); bias and C at the first block
 * (the blocks' columns are consecutive in them). */
FG_INLINE void FGK(gemm_rows)(const int mr, const int gates, const int nb, int64_t K,
                              const float *A, int64_t lda, const float *P, int64_t ps,
                              const float *bias, float *C, int64_t ldc)
{
    V acc[FG_TILE_ROWS_MAX][VPB];
    FGK(tile_passes)(mr, nb * gates, gates * FG_BLOCK, ps, K, A, lda, P, acc);
    for (int r = 0; r < mr; r++)
        for (int g = 0; g < nb * gates * VPG; g++)
            V_STORE(C + r * ldc + g * VL, V_ADD(acc[r][g], V_LOAD(bias + g * VL)));
}

FG_INLINE void FGK(gemm_of)(const int gates, int64_t M, int64_t K, const float *A, int64_t lda,
                            const float *P, int64_t jb0, int64_t jb1, const float *bias, float *C,
                            int64_t ldc)
{
    const int bw = gates * FG_BLOCK;
    const int64_t ps = FG_PANEL_ROWS(K) * bw;
#define GEMM_ROWS(mr)                                                                              \
    FGK(gemm_rows)(mr, gates, nb, K, A + m * lda, lda, P + jb * ps, ps, bias + jb * bw,            \
                   C + jb * bw + m * ldc, ldc)
#define GEMM_BLOCKS(n)                                                                             \
    {                                                                                              \
        const int nb = (n);                                                                        \
        FG_ROW_TILES(M, m, FG_PASS_ROWS(gates * nb), GEMM_ROWS)                                    \
    }
    FG_BLOCK_TILES(gates, M, jb0, jb1, 0, jb, GEMM_BLOCKS)
#undef GEMM_BLOCKS
#undef GEMM_ROWS
}

static void FGK(gemm)(int64_t M, int64_t K, const float *A, int64_t lda, const float *P, int gates,
                      int64_t jb0, int64_t jb1, const float *bias, float *C, int64_t ldc)
{
    switch (gates) {
    case 1: /* a SimpleRNN's: built with it only (fg_config_select.h) */
        if (FG_OP_BUILT(OP_SIMPLE_RNN)) FGK(gemm_of)(1, M, K, A, lda, P, jb0, jb1, bias, C, ldc);
        break;
    case 4:
        FGK(gemm_of)(4, M, K, A, lda, P, jb0, jb1, bias, C, ldc);
        break;
    default:
        FGK(gemm_of)(3, M, K, A, lda, P, jb0, jb1, bias, C, ldc);
        break;
    }
}

/* GRU reset_after=1 gate math for one row of one block from its accumulators:
 * z = ract(xz + (hUz + bz)), r = ract(xr + (hUr + br)), hh = act(xh + r*(hUh + bh)),
 * h' = z*h + (1-z)*hh. xw, b point at the block's 48 columns; h, o at its 16 units. */
FG_INLINE void FGK(after_out)(const V *acc, const float *xw, const float *b, const float *h,
                              float *o, int act, int ract)
{
    const V one = V_SET1(1.0f);
    for (int v = 0; v < VPG; v++) {
        int c = v * VL;
        V z = FGK(act_v)(ract, V_ADD(V_LOAD(xw + c), V_ADD(acc[v], V_LOAD(b + c))));
        V rr = FGK(act_v)(ract, V_ADD(V_LOAD(xw + FG_BLOCK + c),
                                      V_ADD(acc[VPG + v], V_LOAD(b + FG_BLOCK + c))));
        V hh = FGK(act_v)(act, V_ADD(V_LOAD(xw + 2 * FG_BLOCK + c),
                                     V_MUL(rr, V_ADD(acc[2 * VPG + v],
                                                     V_LOAD(b + 2 * FG_BLOCK + c)))));
        V hv = V_LOAD(h + c);
        V_STORE(o + c, V_ADD(V_MUL(z, hv), V_MUL(V_SUB(one, z), hh)));
    }
}

/* LSTM gate math for one row of one block: i, f, o = ract(x + hU), g = act(xc + hUc),
 * c' = f*c + i*g, h' = o*act(c'). cin, cout, o point at the block's 16 units. */
FG_INLINE void FGK(lstm_out)(const V *acc, const float *xw, const float *cin, float *cout, float *o,
                             int act, int ract)
{
    for (int v = 0; v < VPG; v++) {
        int c = v * VL;
        V i = FGK(act_v)(ract, V_ADD(V_LOAD(xw + c), acc[v]));
        V f = FGK(act_v)(ract, V_ADD(V_LOAD(xw + FG_BLOCK + c), acc[VPG + v]));
        V g = FGK(act_v)(act, V_ADD(V_LOAD(xw + 2 * FG_BLOCK + c), acc[2 * VPG + v]));
        V og = FGK(act_v)(ract, V_ADD(V_LOAD(xw + 3 * FG_BLOCK + c), acc[3 * VPG + v]));
        V cn = V_ADD(V_MUL(f, V_LOAD(cin + c)), V_MUL(i, g));
        V_STORE(cout + c, cn);
        V_STORE(o + c, V_MUL(og, FGK(act_v)(act, cn)));
    }
}

/* SimpleRNN: h' = act(x.W + b + h.U) for one row of nb blocks. */
FG_INLINE void FGK(rnn_out)(const int nb, const V *acc, const float *xw, float *o, int act)
{
    for (int v = 0; v < nb * VPG; v++)
        V_STORE(o + v * VL, FGK(act_v)(act, V_ADD(V_LOAD(xw + v * VL), acc[v])));
}

/* Rows 0 .. mr of nb blocks from block jb (units j0 ..) of `cell` (nb > 1: a SimpleRNN), U
 * panels ps floats apart: XW, bj, Hout point at the first block, H, Cin, Cout at the row
 * (Cin / Cout: LSTM only). */
FG_INLINE void FGK(cell_rows)(const int cell, const int nb, const int mr, int64_t units,
                              const float *H, int64_t ldh, int64_t j0, const float *XW,
                              int64_t ldxw, const float *Pj, int64_t ps, const float *bj,
                              const float *Cin, float *Cout, int64_t ldc, int act, int ract,
                              float *Hout, int64_t ldo)
{
    const int gates = fg_cell_gates(cell);
    V acc[FG_TILE_ROWS_MAX][VPB];
    FGK(tile_passes)(mr, nb * gates, gates * FG_BLOCK, ps, units, H, ldh, Pj, acc);
    for (int r = 0; r < mr; r++) {
        const float *xw = XW + r * ldxw;
        float *o = Hout + r * ldo;
        if (cell == FG_CELL_LSTM)
            FGK(lstm_out)(acc[r], xw, Cin + r * ldc + j0, Cout + r * ldc + j0, o, act, ract);
        else if (cell == FG_CELL_SIMPLE_RNN)
            FGK(rnn_out)(nb, acc[r], xw, o, act);
        else
            FGK(after_out)(acc[r], xw, bj, H + r * ldh + j0, o, act, ract);
    }
}

FG_INLINE void FGK(step_of)(const int cell, int64_t M, int64_t units, const float *H, int64_t ldh,
                            const float *XW, int64_t ldxw, const float *U, const float *brec,
                            const float *Cin, float *Cout, int64_t ldc, int64_t jb0, int64_t jb1,
                            int desc, int act, int ract, float *Hout, int64_t ldo)
{
    const int gates = fg_cell_gates(cell), bw = gates * FG_BLOCK;
    const int64_t ps = FG_PANEL_ROWS(units) * bw;
#define CELL_ROWS(mr)                                                                              \
    FGK(cell_rows)(cell, nb, mr, units, H + m * ldh, ldh, jb * FG_BLOCK, XW + jb * bw + m * ldxw,  \
                   ldxw, U + jb * ps, ps, brec + jb * bw, Cin + m * ldc, Cout + m * ldc, ldc, act, \
                   ract, Hout + jb * FG_BLOCK + m * ldo, ldo)
#define CELL_BLOCKS(n)                                                                             \
    {                                                                                              \
        const int nb = (n);                                                                        \
        FG_ROW_TILES(M, m, FG_PASS_ROWS(gates * nb), CELL_ROWS)                                    \
    }
    FG_BLOCK_TILES(gates, M, jb0, jb1, desc, jb, CELL_BLOCKS)
#undef CELL_BLOCKS
#undef CELL_ROWS
}

static void FGK(step_cell)(int cell, int64_t M, int64_t units, const float *H, int64_t ldh,
                           const float *XW, int64_t ldxw, const float *U, const float *brec,
                           const float *Cin, float *Cout, int64_t ldc, int64_t jb0, int64_t jb1,
                           int desc, int act, int ract, float *Hout, int64_t ldo)
{
    /* a cell whose op kind a small build leaves out (fg_config_select.h) compiles out; the
     * loader refuses models that need it */
    switch (cell) {
    case FG_CELL_LSTM:
        if (FG_OP_BUILT(OP_LSTM))
            FGK(step_of)(FG_CELL_LSTM, M, units, H, ldh, XW, ldxw, U, brec, Cin, Cout, ldc, jb0,
                         jb1, desc, act, ract, Hout, ldo);
        break;
    case FG_CELL_SIMPLE_RNN:
        if (FG_OP_BUILT(OP_SIMPLE_RNN))
            FGK(step_of)(FG_CELL_SIMPLE_RNN, M, units, H, ldh, XW, ldxw, U, brec, Cin, Cout, ldc,
                         jb0, jb1, desc, act, ract, Hout, ldo);
        break;
    default:
        FGK(step_of)(FG_CELL_GRU, M, units, H, ldh, XW, ldxw, U, brec, Cin, Cout, ldc, jb0, jb1,
                     desc, act, ract, Hout, ldo);
        break;
    }
}

/* reset_after=0, gates: z = ract(xz + hUz), r = ract(xr + hUr); Z = z, RH = r*h. */
FG_INLINE void FGK(zr_rows)(const int mr, int64_t units, const float *H, int64_t ldh, int64_t j0,
                            const float *XW, int64_t ldxw, const float *Pj, int ract, float *Z,
                            float *RH, int64_t ldz)
{
    V acc[FG_TILE_ROWS_MAX][VPB];
    FGK(tile)(mr, 0, 2 * VPG, FG_BLOCK3, 0, units, H, ldh, Pj, acc);
    for (int r = 0; r < mr; r++) {
        for (int v = 0; v < VPG; v++) {
            const float *xw = XW + r * ldxw + v * VL;
            int64_t o = r * ldz + j0 + v * VL;
            V z = FGK(act_v)(ract, V_ADD(V_LOAD(xw), acc[r][v]));
            V rr = FGK(act_v)(ract, V_ADD(V_LOAD(xw + FG_BLOCK), acc[r][VPG + v]));
            V_STORE(Z + o, z);
            V_STORE(RH + o, V_MUL(rr, V_LOAD(H + r * ldh + j0 + v * VL)));
        }
    }
}

static void FGK(step_before_zr)(int64_t M, int64_t units, const float *H, int64_t ldh,
                                const float *XW, int64_t ldxw, const float *U, int64_t jb0,
                                int64_t jb1, int desc, int ract, float *Z, float *RH,
                                int64_t ldz)
{
    for (int64_t n = jb0; n < jb1; n++) {
        int64_t jb = FG_BLOCK_AT(n, jb0, jb1, desc);
        const float *Pj = U + jb * FG_PANEL_ROWS(units) * FG_BLOCK3, *XWj = XW + jb * FG_BLOCK3;
        int64_t j0 = jb * FG_BLOCK;
#define ZR_ROWS(mr)                                                                            \
    FGK(zr_rows)(mr, units, H + m * ldh, ldh, j0, XWj + m * ldxw, ldxw, Pj, ract, Z + m * ldz, \
                 RH + m * ldz, ldz)
        FG_ROW_TILES(M, m, MR, ZR_ROWS)
#undef ZR_ROWS
    }
}

/* reset_after=0, candidate: hh = act(xh + (r*h)Uh), h' = z*h + (1-z)*hh. */
FG_INLINE void FGK(h_rows)(const int mr, int64_t units, const float *H, int64_t ldh, int64_t j0,
                           const float *XW, int64_t ldxw, const float *Pj, int act,
                           const float *Z, const float *RH, int64_t ldz, float *Hout,
                           int64_t ldo)
{
    V acc[FG_TILE_ROWS_MAX][VPB];
    FGK(tile)(mr, 2 * VPG, VPG, FG_BLOCK3, 0, units, RH, ldz, Pj, acc);
    const V one = V_SET1(1.0f);
    for (int r = 0; r < mr; r++) {
        for (int v = 0; v < VPG; v++) {
            V hh = FGK(act_v)(act, V_ADD(V_LOAD(XW + r * ldxw + 2 * FG_BLOCK + v * VL),
                                         acc[r][2 * VPG + v]));
            V z = V_LOAD(Z + r * ldz + j0 + v * VL), h = V_LOAD(H + r * ldh + j0 + v * VL);
            V_STORE(Hout + r * ldo + j0 + v * VL, V_ADD(V_MUL(z, h), V_MUL(V_SUB(one, z), hh)));
        }
    }
}

static void FGK(step_before_h)(int64_t M, int64_t units, const float *H, int64_t ldh,
                               const float *XW, int64_t ldxw, const float *U, int64_t jb0,
                               int64_t jb1, int desc, int act, const float *Z, const float *RH,
                               int64_t ldz, float *Hout, int64_t ldo)
{
    for (int64_t n = jb0; n < jb1; n++) {
        int64_t jb = FG_BLOCK_AT(n, jb0, jb1, desc);
        const float *Pj = U + jb * FG_PANEL_ROWS(units) * FG_BLOCK3, *XWj = XW + jb * FG_BLOCK3;
        int64_t j0 = jb * FG_BLOCK;
#define H_ROWS(mr)                                                                             \
    FGK(h_rows)(mr, units, H + m * ldh, ldh, j0, XWj + m * ldxw, ldxw, Pj, act, Z + m * ldz,   \
                RH + m * ldz, ldz, Hout + m * ldo, ldo)
        FG_ROW_TILES(M, m, MR, H_ROWS)
#undef H_ROWS
    }
}

static void FGK(act_inplace)(int act, float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + VL <= n; i += VL) V_STORE(x + i, FGK(act_v)(act, V_LOAD(x + i)));
    if (i < n) { /* tail through a padded vector, so every element gets the same code */
        float lane[VL] = {0};
        for (int64_t k = i; k < n; k++) lane[k - i] = x[k];
        V_STORE(lane, FGK(act_v)(act, V_LOAD(lane)));
        for (int64_t k = i; k < n; k++) x[k] = lane[k - i];
    }
}

/* Row x[0 .. n) -> its softmax, exp(x - max) / sum (the attention's weights). The tail runs
 * through a padded vector, so every element gets the same code; the lanes past n are zeroed
 * before they join the sum. */
static void FGK(softmax)(float *x, int64_t n)
{
    float lane[VL], top = -INFINITY, sum = 0.0f;
    int64_t full = n / VL * VL, i;
    V vtop = V_SET1(-INFINITY), vsum = V_ZERO();
    for (i = 0; i < full; i += VL) vtop = V_MAX(vtop, V_LOAD(x + i));
    V_STORE(lane, vtop);
    for (int k = 0; k < VL; k++) top = lane[k] > top ? lane[k] : top;
    for (i = full; i < n; i++) top = x[i] > top ? x[i] : top;
    vtop = V_SET1(top);
    for (i = 0; i < full; i += VL) {
        V e = V_EXP(V_SUB(V_LOAD(x + i), vtop));
        V_STORE(x + i, e);
        vsum = V_ADD(vsum, e);
    }
    if (full < n) {
        for (int k = 0; k < VL; k++) lane[k] = full + k < n ? x[full + k] - top : 0.0f;
        V_STORE(lane, V_EXP(V_LOAD(lane)));
        for (int k = 0; k < VL; k++) {
            if (full + k < n) x[full + k] = lane[k];
            else lane[k] = 0.0f;
        }
        vsum = V_ADD(vsum, V_LOAD(lane));
    }
    V_STORE(lane, vsum);
    for (int k = 0; k < VL; k++) sum += lane[k];
    V vs = V_SET1(sum);
    for (i = 0; i < full; i += VL) V_STORE(x + i, V_DIV(V_LOAD(x + i), vs));
    for (i = full; i < n; i++) x[i] /= sum;
}

#include "custom_template.h"

/* the custom cell kernels only in builds with the custom_gru op (fg_config_select.h) */
#define FG_CUSTOM_KERNEL(name) (FG_OP_BUILT(OP_CUSTOM_GRU) ? FGK(name) : 0)
#define FG_KERNEL_TABLE                                                                            \
    {FGK(gemm),                                                                                    \
     FGK(step_cell),                                                                               \
     FGK(step_before_zr),                                                                          \
     FGK(step_before_h),                                                                           \
     FGK(act_inplace),                                                                             \
     FG_OP_BUILT(OP_ATTENTION) ? FGK(softmax) : 0,                                                 \
     FG_CUSTOM_KERNEL(custom_after),                                                               \
     FG_CUSTOM_KERNEL(custom_before_zr),                                                           \
     FG_CUSTOM_KERNEL(custom_before_h)}
