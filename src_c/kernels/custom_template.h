/* custom_template.h - the CustomGRU step kernels, included by gru_template.h (same vocabulary,
 * same tiles). The recurrent tile is the standard GRU's; its epilogue runs the cell's
 * bytecode (fg_custom_program.h) instead of the fixed gate maths: each instruction is one
 * vector operation applied to all the tile's vectors of a value (mr rows x VPG vectors of one
 * 16-unit block), so the dispatch of an instruction is paid once per tile, not per vector.
 * Every row's lanes see the same operation sequence whatever mr is, so results do not depend
 * on the split of rows between threads. fg_custom_program_load has checked the program (stack
 * bounds, slots set before they are read), so nothing is checked here.
 *
 * Slots: xz xr xh from XW (input bias included), hz hr hh = tile + recurrent bias, h_prev
 * from H; reset_after=0 computes hh from (r*h_prev) after the z / r part of the program.
 */
#include "../fg_custom_program.h"
#include "../model_registry.h"

#define CW (MR * VPG) /* vectors per slot */

/* x ** n for an integral n != 0 as jax's integer_pow: square-and-multiply, then 1/x. */
FG_INLINE V FGK(custom_powi)(V x, int n)
{
    int m = n < 0 ? -n : n, have = 0;
    V acc = x;
    while (m > 0) {
        if (m & 1) {
            acc = have ? V_MUL(acc, x) : x;
            have = 1;
        }
        m >>= 1;
        if (m > 0) x = V_MUL(x, x);
    }
    return n < 0 ? V_DIV(V_SET1(1.0f), acc) : acc;
}

/* The opcodes without a vector form, lane by lane. */
FG_INLINE V FGK(custom_lanes)(const fg_custom_instr *in, V a, V b)
{
    float x[VL], y[VL];
    V_STORE(x, a);
    V_STORE(y, b);
    for (int l = 0; l < VL; l++)
        x[l] = fg_custom_scalar(in->op, in->value, x[l], y[l]);
    return V_LOAD(x);
}

/* activation `act` on n vectors: the switch once, not per vector */
FG_INLINE void FGK(custom_act)(int act, V *x, const int n)
{
    if (act == FG_ACT_TANH && FG_ACT_BUILT(FG_ACT_TANH))
        for (int k = 0; k < n; k++)
            x[k] = V_TANH(x[k]);
    else if (act == FG_ACT_SIGMOID && FG_ACT_BUILT(FG_ACT_SIGMOID))
        for (int k = 0; k < n; k++)
            x[k] = V_SIGMOID(x[k]);
    else
        for (int k = 0; k < n; k++)
            x[k] = FGK(act_v)(act, x[k]);
}

/* Instructions [from, to) over n vectors per slot; inlined into each tile size, so that n is
 * a constant and the per-vector loops unroll. */
FG_INLINE void FGK(custom_eval)(const fg_custom_program *prog, int32_t from, int32_t to,
                                const int n, V reg[FG_SLOT_COUNT][CW])
{
    V st[FG_CUSTOM_MAX_STACK][CW];
    int sp = 0;
    const V minus_one = V_SET1(-1.0f);
    for (int32_t i = from; i < to; i++) {
        const fg_custom_instr *in = &prog->code[i];
#define EACH(expr)                                                                                 \
    for (int k = 0; k < n; k++)                                                                    \
    expr
#define TOP st[sp - 1]
#define BINARY(VOP)                                                                                \
    do {                                                                                           \
        EACH(st[sp - 2][k] = VOP(st[sp - 2][k], TOP[k]));                                          \
        sp--;                                                                                      \
    } while (0)
        switch (in->op) {
        case FG_OPC_LOAD:
            EACH(st[sp][k] = reg[in->arg][k]);
            sp++;
            break;
        case FG_OPC_CONST: {
            V c = V_SET1(in->value);
            EACH(st[sp][k] = c);
            sp++;
            break;
        }
        case FG_OPC_STORE:
            EACH(reg[in->arg][k] = TOP[k]);
            sp--;
            break;
        case FG_OPC_ADD:
            BINARY(V_ADD);
            break;
        case FG_OPC_SUB:
            BINARY(V_SUB);
            break;
        case FG_OPC_MUL:
            BINARY(V_MUL);
            break;
        case FG_OPC_DIV:
            BINARY(V_DIV);
            break;
        case FG_OPC_MIN:
            BINARY(V_MIN);
            break;
        case FG_OPC_MAX:
            BINARY(V_MAX);
            break;
        case FG_OPC_GT:
            EACH(st[sp - 2][k] = FGK(custom_lanes)(in, st[sp - 2][k], TOP[k]));
            sp--;
            break;
        case FG_OPC_NEG:
            EACH(TOP[k] = V_MUL(TOP[k], minus_one));
            break;
        case FG_OPC_ABS:
            EACH(TOP[k] = V_MAX(TOP[k], V_MUL(TOP[k], minus_one)));
            break;
        case FG_OPC_POW:
            if (in->arg != 0)
                EACH(TOP[k] = FGK(custom_powi)(TOP[k], in->arg));
            else
                EACH(TOP[k] = FGK(custom_lanes)(in, TOP[k], TOP[k]));
            break;
        case FG_OPC_ACT:
            EACH(TOP[k] = FGK(act_v)(in->arg, TOP[k]));
            break;
        default:
            EACH(TOP[k] = FGK(custom_lanes)(in, TOP[k], TOP[k]));
            break; /* exp log sqrt */
        }
#undef BINARY
#undef TOP
#undef EACH
    }
}

/* xz xr xh of rows 0 .. mr of a block (XW at the block), and h_prev (H at unit j0). */
FG_INLINE void FGK(custom_inputs)(const int mr, const float *XW, int64_t ldxw, const float *H,
                                  int64_t ldh, int64_t j0, V reg[FG_SLOT_COUNT][CW])
{
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < VPG; v++) {
            int k = r * VPG + v;
            for (int g = 0; g < 3; g++)
                reg[FG_SLOT_XZ + g][k] = V_LOAD(XW + r * ldxw + g * FG_BLOCK + v * VL);
            reg[FG_SLOT_H_PREV][k] = V_LOAD(H + r * ldh + j0 + v * VL);
        }
}

/* reset_after=1: the whole step of rows 0 .. mr of block jb. */
FG_INLINE void FGK(custom_after_rows)(const int mr, int64_t units, const float *H, int64_t ldh,
                                      int64_t j0, const float *XW, int64_t ldxw, const float *Pj,
                                      const float *bj, const fg_custom_program *prog, float *Hout,
                                      int64_t ldo)
{
    V acc[MR][VPB], reg[FG_SLOT_COUNT][CW];
    FGK(tile)(mr, 0, 3 * VPG, FG_BLOCK3, 0, units, H, ldh, Pj, acc);
    FGK(custom_inputs)(mr, XW, ldxw, H, ldh, j0, reg);
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < VPG; v++)
            for (int g = 0; g < 3; g++)
                reg[FG_SLOT_HZ + g][r * VPG + v] =
                    V_ADD(acc[r][g * VPG + v], V_LOAD(bj + g * FG_BLOCK + v * VL));
    FGK(custom_eval)(prog, 0, prog->n, mr * VPG, reg);
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < VPG; v++)
            V_STORE(Hout + r * ldo + v * VL, reg[FG_SLOT_H][r * VPG + v]);
}

static void FGK(custom_after)(int64_t M, int64_t units, const float *H, int64_t ldh,
                              const float *XW, int64_t ldxw, const float *U, const float *brec,
                              int64_t jb0, int64_t jb1, int desc, const fg_custom_program *prog,
                              float *Hout, int64_t ldo)
{
    for (int64_t n = jb0; n < jb1; n++) {
        int64_t jb = FG_BLOCK_AT(n, jb0, jb1, desc);
        const float *Pj = U + jb * FG_PANEL_ROWS(units) * FG_BLOCK3, *bj = brec + jb * FG_BLOCK3;
#define CUSTOM_AFTER_ROWS(mr)                                                                      \
    FGK(custom_after_rows)(mr, units, H + m * ldh, ldh, jb * FG_BLOCK,                             \
                           XW + jb * FG_BLOCK3 + m * ldxw, ldxw, Pj, bj, prog,                     \
                           Hout + jb * FG_BLOCK + m * ldo, ldo)
        FG_ROW_TILES(M, m, MR, CUSTOM_AFTER_ROWS)
#undef CUSTOM_AFTER_ROWS
    }
}

/* reset_after=0 keeps z, r, hz, hr of each row between the two halves in S: per row 4 runs
 * of `up` floats. */
#define S_AT(S, r, up, s, j) ((S) + (r) * 4 * (up) + (s) * (up) + (j))
static const int custom_kept[4] = {FG_SLOT_HZ, FG_SLOT_HR, FG_SLOT_Z, FG_SLOT_R};

/* reset_after=0, first half of rows 0 .. mr of a block: z and r, kept in S; RH = r*h_prev. */
FG_INLINE void FGK(custom_zr_rows)(const int mr, int64_t units, const float *H, int64_t ldh,
                                   int64_t j0, const float *XW, int64_t ldxw, const float *Pj,
                                   const float *bj, const fg_custom_program *prog, float *S,
                                   int64_t up, float *RH, int64_t ldz)
{
    V acc[MR][VPB], reg[FG_SLOT_COUNT][CW];
    FGK(tile)(mr, 0, 2 * VPG, FG_BLOCK3, 0, units, H, ldh, Pj, acc);
    FGK(custom_inputs)(mr, XW, ldxw, H, ldh, j0, reg);
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < VPG; v++)
            for (int g = 0; g < 2; g++)
                reg[FG_SLOT_HZ + g][r * VPG + v] =
                    V_ADD(acc[r][g * VPG + v], V_LOAD(bj + g * FG_BLOCK + v * VL));
    FGK(custom_eval)(prog, 0, prog->zr_end, mr * VPG, reg);
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < VPG; v++) {
            int k = r * VPG + v;
            int64_t j = j0 + v * VL;
            for (int s = 0; s < 4; s++)
                V_STORE(S_AT(S, r, up, s, j), reg[custom_kept[s]][k]);
            V_STORE(RH + r * ldz + j, V_MUL(reg[FG_SLOT_R][k], reg[FG_SLOT_H_PREV][k]));
        }
}

static void FGK(custom_before_zr)(int64_t M, int64_t units, const float *H, int64_t ldh,
                                  const float *XW, int64_t ldxw, const float *U, const float *brec,
                                  int64_t jb0, int64_t jb1, int desc, const fg_custom_program *prog,
                                  float *S, float *RH, int64_t ldz)
{
    for (int64_t n = jb0; n < jb1; n++) {
        int64_t jb = FG_BLOCK_AT(n, jb0, jb1, desc);
        const float *Pj = U + jb * FG_PANEL_ROWS(units) * FG_BLOCK3, *bj = brec + jb * FG_BLOCK3;
#define CUSTOM_ZR_ROWS(mr)                                                                         \
    FGK(custom_zr_rows)(mr, units, H + m * ldh, ldh, jb * FG_BLOCK,                                \
                        XW + jb * FG_BLOCK3 + m * ldxw, ldxw, Pj, bj, prog, S + m * 4 * ldz, ldz,  \
                        RH + m * ldz, ldz)
        FG_ROW_TILES(M, m, MR, CUSTOM_ZR_ROWS)
#undef CUSTOM_ZR_ROWS
    }
}

/* reset_after=0, second half: hh = (r*h_prev).Uh + bh, then candidate and h. */
FG_INLINE void FGK(custom_h_rows)(const int mr, int64_t units, const float *H, int64_t ldh,
                                  int64_t j0, const float *XW, int64_t ldxw, const float *Pj,
                                  const float *bj, const fg_custom_program *prog, const float *S,
                                  int64_t up, const float *RH, int64_t ldz, float *Hout,
                                  int64_t ldo)
{
    V acc[MR][VPB], reg[FG_SLOT_COUNT][CW];
    FGK(tile)(mr, 2 * VPG, VPG, FG_BLOCK3, 0, units, RH, ldz, Pj, acc);
    FGK(custom_inputs)(mr, XW, ldxw, H, ldh, j0, reg);
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < VPG; v++) {
            int k = r * VPG + v;
            int64_t j = j0 + v * VL;
            for (int s = 0; s < 4; s++)
                reg[custom_kept[s]][k] = V_LOAD(S_AT(S, r, up, s, j));
            reg[FG_SLOT_HH][k] = V_ADD(acc[r][2 * VPG + v], V_LOAD(bj + 2 * FG_BLOCK + v * VL));
        }
    FGK(custom_eval)(prog, prog->zr_end, prog->n, mr * VPG, reg);
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < VPG; v++)
            V_STORE(Hout + r * ldo + j0 + v * VL, reg[FG_SLOT_H][r * VPG + v]);
}

static void FGK(custom_before_h)(int64_t M, int64_t units, const float *H, int64_t ldh,
                                 const float *XW, int64_t ldxw, const float *U, const float *brec,
                                 int64_t jb0, int64_t jb1, int desc, const fg_custom_program *prog,
                                 const float *S, const float *RH, int64_t ldz, float *Hout,
                                 int64_t ldo)
{
    for (int64_t n = jb0; n < jb1; n++) {
        int64_t jb = FG_BLOCK_AT(n, jb0, jb1, desc);
        const float *Pj = U + jb * FG_PANEL_ROWS(units) * FG_BLOCK3, *bj = brec + jb * FG_BLOCK3;
#define CUSTOM_H_ROWS(mr)                                                                          \
    FGK(custom_h_rows)(mr, units, H + m * ldh, ldh, jb * FG_BLOCK, XW + jb * FG_BLOCK3 + m * ldxw, \
                       ldxw, Pj, bj, prog, S + m * 4 * ldz, ldz, RH + m * ldz, ldz,                \
                       Hout + m * ldo, ldo)
        FG_ROW_TILES(M, m, MR, CUSTOM_H_ROWS)
#undef CUSTOM_H_ROWS
    }
}
#undef S_AT
#undef CW
