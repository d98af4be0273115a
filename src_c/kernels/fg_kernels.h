/* fg_kernels.h - internal interface between the recurrent driver (fg_gru.c) and the per-ISA
 * kernels, for the three cells: GRU (gates z, r, h), LSTM (i, f, c, o), SimpleRNN (one gate).
 *
 * Packed weight layout (ISA independent, built by fg_gru_pack), units padded to up = 16*nblk,
 * G gates a cell, a block bw = 16*G floats wide (GRU 48, LSTM 64, SimpleRNN 16):
 *   W panel  nblk x input_dim x bw floats   block jb, row k: [gate 0: 16 | gate 1: 16 | ...]
 *                                           for units 16*jb .. 16*jb+15 (zero columns past
 *                                           `units`); GRU [z | r | h], LSTM [i | f | c | o]
 *   U panel  nblk x units x bw floats       same, rows k = 0 .. units-1 of recurrent_kernel
 *   b_in     nblk x bw floats               input bias in the same block order (zeros if none)
 *   b_rec    nblk x bw floats               recurrent bias (GRU reset_after=1 only, else zeros)
 * Every panel and every 16-float group starts on a 64-byte boundary when the image does.
 *
 * Row buffers used by the kernels hold one row of `up` (or G*up in block order) floats; the
 * kernels read h only at k < units, so the padded units never feed back into real ones.
 * Each output row is computed by the same instruction sequence whatever rows surround it
 * (remainder tiles repeat the full tile's order), which makes results independent of how
 * batch rows are split between threads.
 */
#ifndef FG_KERNELS_H
#define FG_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "../fg_gru.h"
struct fg_custom_program;

#define FG_BLOCK 16            /* units per packed block */
#define FG_BLOCK3 (3 * FG_BLOCK) /* a GRU block's width (and the dense op's column block) */
#define FG_GATES_MAX 4         /* an LSTM's */

/* Gates a cell (FG_CELL_*) computes per unit. */
static inline int fg_cell_gates(int cell)
{
    return cell == FG_CELL_LSTM ? 4 : cell == FG_CELL_SIMPLE_RNN ? 1 : 3;
}

/* Every kernel works on the 16-unit blocks jb0 .. jb1-1 only (a thread's share when units are
 * split between threads); P / U, bias / brec, XW, C, Z, RH and Hout are the base pointers of
 * the whole layer (block 0), the kernel offsets them by block. H and RH are read in full
 * (k < units). The step kernels walk the blocks downward when `desc` is set: blocks are
 * independent, so the order changes no result, and the driver alternates it from step to step
 * so that each step starts on the blocks whose weights the last step left in L1. */
typedef struct fg_kernels {
    /* C[m, :] = A[m, :K] . P + bias for M rows; P a W or U panel of `gates` (1, 3 or 4)
     * gates (nblk blocks of K x 16*gates), C rows in block order (gates*up floats).
     * bias: nblk x 16*gates. */
    void (*gemm)(int64_t M, int64_t K, const float *A, int64_t lda, const float *P, int gates,
                 int64_t jb0, int64_t jb1, const float *bias, float *C, int64_t ldc);
    /* One step of a cell whose gate math follows a single h.U product (GRU reset_after=1,
     * LSTM, SimpleRNN: `cell`, FG_CELL_*): Hout = cell(H, XW), the gate math fused into the
     * h.U tile. XW rows: input projection incl. b_in (block order); brec: b_rec (read by the
     * GRU only). LSTM: Cin -> Cout the cell state (row stride ldc; they may be the same
     * array); NULL for the others. */
    void (*step_cell)(int cell, int64_t M, int64_t units, const float *H, int64_t ldh,
                      const float *XW, int64_t ldxw, const float *U, const float *brec,
                      const float *Cin, float *Cout, int64_t ldc, int64_t jb0, int64_t jb1,
                      int desc, int act, int ract, float *Hout, int64_t ldo);
    /* reset_after=0, first half: Z = ract(xz + h.Uz), RH = ract(xr + h.Ur) * h. */
    void (*step_before_zr)(int64_t M, int64_t units, const float *H, int64_t ldh,
                           const float *XW, int64_t ldxw, const float *U, int64_t jb0,
                           int64_t jb1, int desc, int ract, float *Z, float *RH, int64_t ldz);
    /* reset_after=0, second half: Hout = Z*H + (1-Z)*act(xh + RH.Uh). */
    void (*step_before_h)(int64_t M, int64_t units, const float *H, int64_t ldh,
                          const float *XW, int64_t ldxw, const float *U, int64_t jb0,
                          int64_t jb1, int desc, int act, const float *Z, const float *RH,
                          int64_t ldz, float *Hout, int64_t ldo);
    /* In-place elementwise activation of n contiguous floats (any elementwise id). */
    void (*act_inplace)(int act, float *x, int64_t n);
    /* x[0 .. n) -> softmax(x) (builds with the attention op only) */
    void (*softmax)(float *x, int64_t n);
    /* CustomGRU steps (kernels/custom_template.h): as step_after / step_before_zr /
     * step_before_h with the cell's program for the gate maths. brec: the recurrent bias for
     * all three gates. S: per row z, r, hz, hr (4 x ldz floats) between the two halves. */
    void (*custom_after)(int64_t M, int64_t units, const float *H, int64_t ldh, const float *XW,
                         int64_t ldxw, const float *U, const float *brec, int64_t jb0, int64_t jb1,
                         int desc, const struct fg_custom_program *prog, float *Hout, int64_t ldo);
    void (*custom_before_zr)(int64_t M, int64_t units, const float *H, int64_t ldh, const float *XW,
                             int64_t ldxw, const float *U, const float *brec, int64_t jb0,
                             int64_t jb1, int desc, const struct fg_custom_program *prog, float *S,
                             float *RH, int64_t ldz);
    void (*custom_before_h)(int64_t M, int64_t units, const float *H, int64_t ldh, const float *XW,
                            int64_t ldxw, const float *U, const float *brec, int64_t jb0,
                            int64_t jb1, int desc, const struct fg_custom_program *prog,
                            const float *S, const float *RH, int64_t ldz, float *Hout, int64_t ldo);
} fg_kernels;

/* Bitmask of FG_ISA_* flags this CPU (and OS) supports. */
unsigned fg_cpu_isa_flags(void);
/* Kernel table for one FG_ISA_* flag (must be available). */
const fg_kernels *fg_kernels_for(int isa);

/* Scalar definition of every elementwise activation (the reference the vector code follows). */
float fg_act_scalar(int act, float x);

/* `act` along one row of n floats with kernel table k (row-wise ids included); sparsemax uses
 * n floats of scratch. */
void fg_activation_row(const fg_kernels *k, int act, float *x, int64_t n, float *scratch);

extern const fg_kernels fg_kernels_scalar;
#if defined(__x86_64__) || defined(__i386__)
extern const fg_kernels fg_kernels_avx2;
extern const fg_kernels fg_kernels_avx512;
#endif
#if defined(__aarch64__)
extern const fg_kernels fg_kernels_neon;
#endif
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 2)
extern const fg_kernels fg_kernels_mve;   /* Helium: gru_mve.c */
#endif

#endif
