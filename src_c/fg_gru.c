/* fg_gru.c - recurrent layer (GRU, LSTM, SimpleRNN): config checks, weight packing, and the
 * forward driver, one for the three cells (they differ in the gates a unit block holds and in
 * the step kernel's gate math, kernels/gru_template.h).
 *
 * Driver, two ways to use several threads (threads_for picks), both on the team of
 * fg_team.h, whose threads claim pieces of work, so that a thread the OS has descheduled
 * holds up nobody:
 *  - batch split: pieces are runs of rows, each run through every time step (no wait per
 *    step); a few pieces a thread;
 *  - units split (batch smaller than the thread count, e.g. batch-1 latency): a piece is a
 *    run of 16-unit blocks of all rows for one step - their input projection, their
 *    recurrent tile over the whole h, gate math, masks and outputs - and a step begins when
 *    the last is done (two phases a step for reset_after=0); one piece a thread, which each
 *    thread takes first, so its slice of U stays in its own L2.
 * Each unit's arithmetic is the same either way, so results do not depend on the split, nor
 * on which thread does a piece.
 * Time is walked in chunks:
 * the input projection of a chunk is one GEMM into XW (scratch O(rows * chunk * G units)),
 * then each step runs the recurrent tile with the gate math fused (kernels/gru_template.h).
 * Row-wise activations (softmax, log_softmax, sparsemax) need the whole unit row, so they
 * take an unfused step: h.U into G, then gather, activate and blend row by row.
 * An LSTM also carries its cell state c, in two buffers that steps alternate between (a
 * masked step keeps the old one), read and written only by the units' own gate math.
 * Packed layout: kernels/fg_kernels.h.
 */
#include "fg_gru.h"

#include <stdlib.h>
#include <string.h>

#include "fg_alloc.h"
#include "fg_config_select.h"
#include "fg_custom_program.h"
#include "fg_internal.h"
#include "fg_team.h"
#include "kernels/fg_kernels.h"
#include "kernels/gru_bf16.h"
#include "model_registry.h"

#define FG_MAX_DIM (1 << 24)                /* input_dim, units */
/* Time steps per input GEMM, at most: batch 1, 64 -> 256 ran 4.5-4.7 ms with 16 or 32 and
 * 5.4 ms with 64 (a larger XW pushes U out of L2); batch 256 is the same for all. */
#define FG_CHUNK_STEPS 32
#define FG_CHUNK_BYTES (2u << 20)           /* XW scratch for a chunk, all rows */
/* Work (flops) a thread must get before a run is split. On a quiet machine a warm team pays
 * for itself from about a microsecond (2 Zen 4 cores, best of 400 runs: B=2 T=10 16->32,
 * 1.8e5 flops, 4.3 us on 1 thread, 3.1 us on 2); on a busy one a worker may take tens of us
 * to run at all: two stacked GRU(32), batch 4 x 12 (3.7e5 flops), 31 us on 1 thread, 34 us
 * by default (tools/bench_load.py). So a thread's share is at least ~50 us of maths. */
#define FG_MIN_FLOPS_PER_THREAD 5.0e5
/* When a batch smaller than the thread count splits its units (fg_team.c): each step pays a
 * hand-over between threads (~130 ns quiet) and each call a team start (~400 ns). Batch 1,
 * tanh/sigmoid, F = u/4, 2 Zen 4 cores (shared VM), median ns per step, 1 thread -> units
 * split on 2:
 *   T=64: u=32 (9.2e3 flops a step) 165 -> 255, u=48 (1.8e4) 310 -> 355, u=64 (3.1e4)
 *         566 -> 429, u=96 (6.9e4) 1191 -> 831, u=256 (4.9e5) 9313 -> 4727;
 *   T=1:  u=64 (3.1e4) 691 -> 841, u=96 (6.9e4) 1402 -> 1242, u=128 (1.2e5) 2384 -> 1843.
 * On a busy machine (load ~12 on the 2 cores) whole models lose below ~1e5 flops a step:
 * GRU(u, sequences) -> GRU(32) -> Dense(1), F=3, batch 1 x 50, median us a call, 1 -> 2
 * threads: u=64 (2.6e4 flops a step) 45 -> 68, u=96 (5.7e4) 80 -> 146, u=128 (1.0e5) 123 ->
 * 141. So: at least this many flops a step (all rows), and this many in the whole call. */
#define FG_MIN_STEP_FLOPS_UNITS_SPLIT 1.2e5
#define FG_MIN_FLOPS_UNITS_SPLIT 6.0e4

/* "GRU", "LSTM" or "SimpleRNN" for messages (cfg->cell checked). */
static const char *cell_name(int cell)
{
    return cell == FG_CELL_LSTM ? "LSTM" : cell == FG_CELL_SIMPLE_RNN ? "SimpleRNN" : "GRU";
}

int fg_gru_check_config(const fg_gru_config *cfg)
{
    if (cfg == NULL) return fg_fail(FG_ERR_ARG, "GRU config is NULL");
    if (cfg->cell != FG_CELL_GRU && cfg->cell != FG_CELL_LSTM && cfg->cell != FG_CELL_SIMPLE_RNN)
        return fg_fail(FG_ERR_ARG,
                       "recurrent cell must be %d (GRU), %d (LSTM) or %d (SimpleRNN), "
                       "got %d",
                       FG_CELL_GRU, FG_CELL_LSTM, FG_CELL_SIMPLE_RNN, cfg->cell);
    const char *name = cell_name(cfg->cell);
    if (cfg->input_dim <= 0 || cfg->input_dim > FG_MAX_DIM)
        return fg_fail(FG_ERR_ARG, "%s input_dim must be in 1 .. %d, got %d", name, FG_MAX_DIM,
                       cfg->input_dim);
    if (cfg->units <= 0 || cfg->units > FG_MAX_DIM)
        return fg_fail(FG_ERR_ARG, "%s units must be in 1 .. %d, got %d", name, FG_MAX_DIM,
                       cfg->units);
    if (cfg->reset_after != 0 && (cfg->reset_after != 1 || cfg->cell != FG_CELL_GRU))
        return fg_fail(FG_ERR_ARG, "%s reset_after must be 0%s, got %d", name,
                       cfg->cell == FG_CELL_GRU ? " or 1" : "", cfg->reset_after);
    if (cfg->use_bias != 0 && cfg->use_bias != 1)
        return fg_fail(FG_ERR_ARG, "%s use_bias must be 0 or 1, got %d", name, cfg->use_bias);
    if (cfg->activation < 0 || cfg->activation >= FG_ACT_COUNT)
        return fg_fail(FG_ERR_ARG, "%s activation id must be in 0 .. %d, got %d", name,
                       FG_ACT_COUNT - 1, cfg->activation);
    if (cfg->recurrent_activation < 0 || cfg->recurrent_activation >= FG_ACT_COUNT)
        return fg_fail(FG_ERR_ARG, "%s recurrent_activation id must be in 0 .. %d, got %d", name,
                       FG_ACT_COUNT - 1, cfg->recurrent_activation);
    if (!FG_ACT_BUILT(cfg->activation) || !FG_ACT_BUILT(cfg->recurrent_activation))
        return fg_fail(FG_ERR_ARG,
                       "%s activation %d / recurrent_activation %d: not built into "
                       "this library (fg_config.h)",
                       name, cfg->activation, cfg->recurrent_activation);
    if (cfg->precision == FG_PRECISION_BF16 && !FG_CONFIG_BF16)
        return fg_fail(FG_ERR_ARG,
                       "%s precision bf16 is not built into this library "
                       "(fg_config.h)",
                       name);
    if (cfg->precision != FG_PRECISION_FP32 && cfg->precision != FG_PRECISION_BF16)
        return fg_fail(FG_ERR_ARG, "%s precision must be %d (fp32) or %d (bf16), got %d", name,
                       FG_PRECISION_FP32, FG_PRECISION_BF16, cfg->precision);
    return FG_OK;
}

static int64_t blocks_of(const fg_gru_config *cfg) { return (cfg->units + FG_BLOCK - 1) / FG_BLOCK; }
/* Floats of one packed block row: 16 units x the cell's gates. */
static int64_t block_width(const fg_gru_config *cfg)
{
    return fg_cell_gates(cfg->cell) * FG_BLOCK;
}

/* Float offsets of the packed sections. */
typedef struct packed_layout {
    int64_t w, u, b_in, b_rec, total;
} packed_layout;

static packed_layout layout_of(const fg_gru_config *cfg)
{
    int64_t nb = blocks_of(cfg), bw = block_width(cfg);
    packed_layout l;
    l.w = 0;
    l.u = l.w + nb * fg_panel_rows(cfg, cfg->input_dim) * bw;
    l.b_in = l.u + nb * fg_panel_rows(cfg, cfg->units) * bw;
    l.b_rec = l.b_in + nb * bw;
    l.total = l.b_rec + nb * bw;
    return l;
}

size_t fg_gru_packed_bytes(const fg_gru_config *cfg)
{
    if (fg_gru_check_config(cfg) != FG_OK) return 0;
    size_t bytes; /* at most 256 * 2^20 * (2^25 + 2): fits 64 bits, not always 32 */
    if (__builtin_mul_overflow((size_t)layout_of(cfg).total, sizeof(float), &bytes)) return 0;
    return bytes;
}

/* Copy between a Keras (rows, G*u) matrix and its panel; to_panel picks the direction. */
static void panel_copy(const fg_gru_config *cfg, int64_t rows, float *keras, float *panel,
                       int to_panel)
{
    int64_t u = cfg->units, nb = blocks_of(cfg), gates = fg_cell_gates(cfg->cell);
    for (int64_t jb = 0; jb < nb; jb++)
        for (int64_t k = 0; k < rows; k++)
            for (int64_t g = 0; g < gates; g++)
                for (int l = 0; l < FG_BLOCK; l++) {
                    int64_t j = jb * FG_BLOCK + l;
                    float *p = panel + ((jb * rows + k) * gates + g) * FG_BLOCK + l;
                    if (j >= u) {
                        if (to_panel) *p = 0.0f;
                    } else if (to_panel) {
                        *p = keras[(k * gates + g) * u + j];
                    } else {
                        keras[(k * gates + g) * u + j] = *p;
                    }
                }
}

int fg_gru_pack(const fg_gru_config *cfg, const float *kernel, const float *recurrent_kernel,
                const float *bias, void *packed)
{
    int st = fg_gru_check_config(cfg);
    if (st != FG_OK) return st;
    if (kernel == NULL || recurrent_kernel == NULL || packed == NULL)
        return fg_fail(FG_ERR_ARG, "GRU pack: kernel, recurrent_kernel and packed must not be NULL");
    if (cfg->use_bias && bias == NULL)
        return fg_fail(FG_ERR_ARG, "GRU pack: use_bias=1 but bias is NULL");
    if ((uintptr_t)packed % 64 != 0)
        return fg_fail(FG_ERR_ARG, "GRU pack: packed buffer must be 64-byte aligned");
    if (FG_CONFIG_BF16 && cfg->precision == FG_PRECISION_BF16)
        return fg_gru_bf16_pack(cfg, kernel, recurrent_kernel, bias, packed);
    packed_layout l = layout_of(cfg);
    float *p = packed;
    panel_copy(cfg, cfg->input_dim, (float *)kernel, p + l.w, 1);
    panel_copy(cfg, cfg->units, (float *)recurrent_kernel, p + l.u, 1);
    /* biases: one row of the panel format each */
    int64_t u = cfg->units;
    memset(p + l.b_in, 0, (size_t)(l.total - l.b_in) * sizeof(float));
    if (cfg->use_bias) {
        panel_copy(cfg, 1, (float *)bias, p + l.b_in, 1);
        if (cfg->reset_after) panel_copy(cfg, 1, (float *)bias + 3 * u, p + l.b_rec, 1);
    }
    return FG_OK;
}

int fg_gru_unpack(const fg_gru_config *cfg, const void *packed, float *kernel,
                  float *recurrent_kernel, float *bias)
{
    int st = fg_gru_check_config(cfg);
    if (st != FG_OK) return st;
    if (kernel == NULL || recurrent_kernel == NULL || packed == NULL)
        return fg_fail(FG_ERR_ARG, "GRU unpack: kernel, recurrent_kernel and packed must not be NULL");
    if (FG_CONFIG_BF16 && cfg->precision == FG_PRECISION_BF16)
        return fg_gru_bf16_unpack(cfg, packed, kernel, recurrent_kernel, bias);
    packed_layout l = layout_of(cfg);
    float *p = (float *)packed;
    panel_copy(cfg, cfg->input_dim, kernel, p + l.w, 0);
    panel_copy(cfg, cfg->units, recurrent_kernel, p + l.u, 0);
    if (cfg->use_bias && bias != NULL) {
        panel_copy(cfg, 1, bias, p + l.b_in, 0);
        if (cfg->reset_after) panel_copy(cfg, 1, bias + 3 * (int64_t)cfg->units, p + l.b_rec, 0);
    }
    return FG_OK;
}

/* ---- forward ----------------------------------------------------------------------------- */

/* Scratch plan, in floats; every array is per batch row, so the total does not depend on
 * how rows are split between threads. */
typedef struct plan {
    int64_t units, up, gates, upg, nblk, chunk; /* upg: gates * up, a row of XW or G */
    int fused;                    /* both activations elementwise (or a custom cell) */
    int64_t xw, h_a, h_b, z, rh, prev, c_a, c_b, g, t, s, total;
} plan;

static int make_plan(const fg_gru_config *cfg, const fg_custom_program *custom, int64_t batch,
                     int64_t timesteps, plan *p)
{
    p->units = cfg->units;
    p->nblk = blocks_of(cfg);
    p->up = p->nblk * FG_BLOCK;
    p->gates = fg_cell_gates(cfg->cell);
    p->upg = p->gates * p->up;
    p->fused = custom != NULL || (fg_activation_is_elementwise(cfg->activation) &&
                                  fg_activation_is_elementwise(cfg->recurrent_activation));
    /* a custom cell with reset_after=0 keeps z, r, hz, hr between its two halves */
    int64_t kept = custom != NULL && !cfg->reset_after ? 4 * p->up : 0;
    int64_t rows = batch > 0 ? batch : 1, step_bytes, chunk = 1;
    if (!__builtin_mul_overflow(rows, p->upg * (int64_t)sizeof(float), &step_bytes))
        chunk = (int64_t)FG_CHUNK_BYTES / step_bytes;
    if (chunk > timesteps) chunk = timesteps;
    if (chunk > FG_CHUNK_STEPS) chunk = FG_CHUNK_STEPS;
    p->chunk = chunk < 1 ? 1 : chunk;
    /* per row: XW chunk, two h buffers, z, r*h, previous output, two c buffers, for the
     * unfused step G (G up) and T ((G + 2) up: the gates, act(c), sparsemax scratch), and a
     * custom cell's kept values */
    int64_t per_row =
        p->chunk * p->upg + 7 * p->up + (p->fused ? 0 : (2 * p->gates + 2) * p->up) + kept;
    if (__builtin_mul_overflow(per_row, rows, &p->total))
        return fg_fail(FG_ERR_NOMEM, "%s workspace overflows: batch %lld x %lld floats per row",
                       cell_name(cfg->cell), (long long)batch, (long long)per_row);
    p->xw = 0;
    p->h_a = p->xw + rows * p->chunk * p->upg;
    p->h_b = p->h_a + rows * p->up;
    p->z = p->h_b + rows * p->up;
    p->rh = p->z + rows * p->up;
    p->prev = p->rh + rows * p->up;
    p->c_a = p->prev + rows * p->up;
    p->c_b = p->c_a + rows * p->up;
    p->g = p->c_b + rows * p->up;
    p->t = p->g + (p->fused ? 0 : rows * p->upg);
    p->s = p->t + (p->fused ? 0 : rows * (p->gates + 2) * p->up);
    if (p->total > (int64_t)(SIZE_MAX / sizeof(float)) - 64)
        return fg_fail(FG_ERR_NOMEM, "GRU workspace of %lld floats is too large",
                       (long long)p->total);
    return FG_OK;
}

size_t fg_gru_custom_workspace_bytes(const fg_gru_config *cfg, const fg_custom_program *custom,
                                     int64_t batch, int64_t timesteps, int32_t nthreads)
{
    (void)nthreads; /* the plan is per row, so any thread count fits the same workspace */
    plan p;
    if (fg_gru_check_config(cfg) != FG_OK || batch < 0 || timesteps < 0 ||
        make_plan(cfg, custom, batch, timesteps, &p) != FG_OK)
        return 0;
    return (size_t)p.total * sizeof(float);
}

size_t fg_gru_workspace_bytes(const fg_gru_config *cfg, int64_t batch, int64_t timesteps,
                              int32_t nthreads)
{
    return fg_gru_custom_workspace_bytes(cfg, NULL, batch, timesteps, nthreads);
}

/* Everything the threads of one run share. The run is copied in: a team worker then reaches
 * it, the plan and the pointers in the lines it fetches first, one hop from the hand-over
 * (batch 1, 64 -> 256, one step a call, 2 threads, medians of 10 interleaved runs: 5.3 -> 5.1
 * us a step). Those lines hold nothing else (the caller's locals beside the job on its stack
 * would pull them back and forth), and the flags members write have a line of their own. */
typedef struct job {
    _Alignas(64) const fg_gru_config *cfg;
    const fg_custom_program *custom;   /* a CustomGRU cell's gate maths, or NULL */
    fg_gru_run run;
    const fg_kernels *k;
    plan p;
    const float *W, *U, *b_in, *b_rec;
    float *ws;
    int state_in_y;               /* steps write h straight into y (state_in_y()) */
    int last_in_y;                /* the last step writes h straight into y (last_in_y()) */
    int h0_in_place;              /* the first step reads h0 in place (h0_in_place()) */
    int pieces;                   /* the team's units: row or block runs */
    const int *cancel;            /* the caller's cancel flag (fg_set_cancel_flag), or NULL */
} job;

/* One piece of work: batch rows b0 .. b1 and unit blocks jb0 .. jb1 (units u0 .. u1). The
 * batch split gives a piece some rows and every block, for every step; the units split gives
 * it all rows and some blocks, for one step (one half-step for reset_after=0), and the team
 * begins a step once every piece of the last is done (the next step reads all of h; the
 * candidate of reset_after=0 reads all of r*h). */
typedef struct part {
    int64_t b0, b1, jb0, jb1, u0, u1;
} part;

/* Which kernels of a step to run: the units split runs reset_after=0's two halves (z and r*h;
 * then the candidate and h) as separate phases. */
enum { FIRST_HALF = 1, SECOND_HALF = 2, WHOLE_STEP = 3 };

/* Input row of processing step s (go_backwards walks time from the end). */
static int64_t time_of(const fg_gru_run *run, int64_t s)
{
    return run->go_backwards ? run->timesteps - 1 - s : s;
}

/* XW for steps s0 .. s0+n of the part's rows and blocks, row b step c at
 * XW[(b*chunk + c) * upg]. A GEMM over rows per step when there are enough rows, else over
 * steps per row: each output row is computed by the same code either way. */
static void input_projection(const job *jb, const part *pt, int64_t s0, int64_t n)
{
    const fg_gru_run *run = &jb->run;
    const plan *p = &jb->p;
    int64_t in = jb->cfg->input_dim, ldc_rows = p->chunk * p->upg, b0 = pt->b0, b1 = pt->b1;
    int gates = (int)p->gates;
    float *XW = jb->ws + p->xw;
    if (b1 - b0 >= n) {
        for (int64_t c = 0; c < n; c++)
            jb->k->gemm(b1 - b0, in, run->x + b0 * run->x_sb + time_of(run, s0 + c) * run->x_st,
                        run->x_sb, jb->W, gates, pt->jb0, pt->jb1, jb->b_in,
                        XW + (b0 * p->chunk + c) * p->upg, ldc_rows);
    } else {
        int64_t lda = run->go_backwards ? -run->x_st : run->x_st;
        for (int64_t b = b0; b < b1; b++)
            jb->k->gemm(n, in, run->x + b * run->x_sb + time_of(run, s0) * run->x_st, lda, jb->W,
                        gates, pt->jb0, pt->jb1, jb->b_in, XW + b * p->chunk * p->upg, p->upg);
    }
}

/* One GRU step without fusion (a row-wise activation): gather each row's gates into
 * contiguous unit vectors, activate, blend. Same arithmetic order as the fused kernels. Batch
 * split only (a row-wise activation needs the whole row). */
static void unfused_gru_step(const job *jb, int64_t b0, int64_t b1, const float *XW, int64_t ldxw,
                             const float *H, int64_t ldh, float *Hn)
{
    const plan *p = &jb->p;
    const fg_gru_config *cfg = jb->cfg;
    int64_t nr = b1 - b0, u = p->units, up = p->up, ldt = (p->gates + 2) * up;
    float *G = jb->ws + p->g + b0 * p->upg, *RH = jb->ws + p->rh + b0 * up;
    jb->k->gemm(nr, u, H, ldh, jb->U, 3, 0, p->nblk, jb->b_rec, G, p->upg);
    for (int64_t r = 0; r < nr; r++) {
        const float *xw = XW + r * ldxw, *g = G + r * p->upg, *h = H + r * ldh;
        float *T = jb->ws + p->t + (b0 + r) * ldt, *zc = T, *rc = T + up, *hc = T + 2 * up;
        for (int64_t j = 0; j < u; j++) {
            int64_t at = (j / FG_BLOCK) * FG_BLOCK3 + j % FG_BLOCK;
            zc[j] = xw[at] + g[at];
            rc[j] = xw[at + FG_BLOCK] + g[at + FG_BLOCK];
        }
        fg_activation_row(jb->k, cfg->recurrent_activation, zc, u, T + 4 * up);
        fg_activation_row(jb->k, cfg->recurrent_activation, rc, u, T + 4 * up);
        for (int64_t j = 0; j < u; j++) {
            int64_t at = (j / FG_BLOCK) * FG_BLOCK3 + 2 * FG_BLOCK + j % FG_BLOCK;
            if (cfg->reset_after) hc[j] = xw[at] + rc[j] * g[at];
            else RH[r * up + j] = rc[j] * h[j];
        }
    }
    if (!cfg->reset_after) /* (r*h).Uh: the h columns of a second product */
        jb->k->gemm(nr, u, RH, up, jb->U, 3, 0, p->nblk, jb->b_rec, G, p->upg);
    for (int64_t r = 0; r < nr; r++) {
        const float *xw = XW + r * ldxw, *g = G + r * p->upg, *h = H + r * ldh;
        float *T = jb->ws + p->t + (b0 + r) * ldt, *zc = T, *hc = T + 2 * up;
        if (!cfg->reset_after)
            for (int64_t j = 0; j < u; j++) {
                int64_t at = (j / FG_BLOCK) * FG_BLOCK3 + 2 * FG_BLOCK + j % FG_BLOCK;
                hc[j] = xw[at] + g[at];
            }
        fg_activation_row(jb->k, cfg->activation, hc, u, T + 4 * up);
        for (int64_t j = 0; j < u; j++)
            Hn[r * up + j] = zc[j] * h[j] + (1.0f - zc[j]) * hc[j];
    }
}

/* One LSTM or SimpleRNN step without fusion (a row-wise activation): h.U into G, each gate
 * gathered into contiguous units (x.W + b + h.U), activated and combined as the fused kernels
 * do (kernels/gru_template.h). Cin -> Cout: the rows' cell states (LSTM). */
static void unfused_cell_step(const job *jb, int64_t b0, int64_t b1, const float *XW, int64_t ldxw,
                              const float *H, int64_t ldh, const float *Cin, float *Cout, float *Hn)
{
    const plan *p = &jb->p;
    const fg_gru_config *cfg = jb->cfg;
    int64_t nr = b1 - b0, u = p->units, up = p->up, G = p->gates, ldt = (G + 2) * up;
    float *acc = jb->ws + p->g + b0 * p->upg;
    jb->k->gemm(nr, u, H, ldh, jb->U, (int)G, 0, p->nblk, jb->b_rec, acc, p->upg);
    for (int64_t r = 0; r < nr; r++) {
        const float *xw = XW + r * ldxw, *a = acc + r * p->upg;
        float *T = jb->ws + p->t + (b0 + r) * ldt, *scratch = T + (G + 1) * up;
        for (int64_t g = 0; g < G; g++) {
            for (int64_t j = 0; j < u; j++) {
                int64_t at = ((j / FG_BLOCK) * G + g) * FG_BLOCK + j % FG_BLOCK;
                T[g * up + j] = xw[at] + a[at];
            }
            /* LSTM gate 2 (the candidate) takes the activation, the others the recurrent one */
            int act = cfg->cell == FG_CELL_SIMPLE_RNN || g == 2 ? cfg->activation
                                                                : cfg->recurrent_activation;
            fg_activation_row(jb->k, act, T + g * up, u, scratch);
        }
        float *h = Hn + r * up;
        if (cfg->cell == FG_CELL_SIMPLE_RNN) {
            memcpy(h, T, (size_t)u * sizeof(float));
            continue;
        }
        const float *c = Cin + r * up;
        float *cn = Cout + r * up, *act_c = T + G * up;
        for (int64_t j = 0; j < u; j++)
            cn[j] = T[up + j] * c[j] + T[j] * T[2 * up + j];
        memcpy(act_c, cn, (size_t)u * sizeof(float));
        fg_activation_row(jb->k, cfg->activation, act_c, u, scratch);
        for (int64_t j = 0; j < u; j++)
            h[j] = T[3 * up + j] * act_c[j];
    }
}

/* The direction the step kernels walk the blocks in (fg_kernels.h), flipped at every step.
 * It is kept per thread across calls, so a stream of one-step calls alternates too (batch 1,
 * 16 -> 64, one step a call, 1 Zen 4 core: 711 -> 691 ns a step; 64 -> 256: 10.6 -> 10.0 us). */
static _Thread_local int blocks_desc;

/* The LSTM cell state step s reads (c_in) or writes (!c_in) for rows from pt->b0 (row stride
 * up): steps alternate between two buffers, so a masked step can keep the old state. */
static float *cell_state(const job *jb, const part *pt, int64_t s, int c_in)
{
    const plan *p = &jb->p;
    return jb->ws + ((s + !c_in) % 2 ? p->c_b : p->c_a) + pt->b0 * p->up;
}

/* step() for a CustomGRU cell: its kernels, with the whole recurrent bias (the cell's hz and
 * hr take it with reset_after=0 too). */
static void custom_step(const job *jb, const part *pt, int halves, int desc, const float *XW,
                        int64_t ldxw, const float *H, int64_t ldh, float *Hn, int64_t ldn)
{
    const plan *p = &jb->p;
    int64_t nr = pt->b1 - pt->b0;
    if (jb->cfg->reset_after) {
        jb->k->custom_after(nr, p->units, H, ldh, XW, ldxw, jb->U, jb->b_rec, pt->jb0, pt->jb1,
                            desc, jb->custom, Hn, ldn);
        return;
    }
    float *S = jb->ws + p->s + pt->b0 * 4 * p->up, *RH = jb->ws + p->rh + pt->b0 * p->up;
    if (halves & FIRST_HALF)
        jb->k->custom_before_zr(nr, p->units, H, ldh, XW, ldxw, jb->U, jb->b_rec, pt->jb0, pt->jb1,
                                desc, jb->custom, S, RH, p->up);
    if (halves & SECOND_HALF)
        jb->k->custom_before_h(nr, p->units, H, ldh, XW, ldxw, jb->U, jb->b_rec, pt->jb0, pt->jb1,
                               desc, jb->custom, S, RH, p->up, Hn, ldn);
}

/* The kernels for one step s of the part: H (row stride ldh) -> Hn (stride ldn), rows and
 * pointers from pt->b0. */
static void step(const job *jb, const part *pt, int64_t s, int halves, const float *XW,
                 int64_t ldxw, const float *H, int64_t ldh, float *Hn, int64_t ldn)
{
    const plan *p = &jb->p;
    const fg_gru_config *cfg = jb->cfg;
    int64_t nr = pt->b1 - pt->b0;
    int desc = blocks_desc;
    if (halves & FIRST_HALF) blocks_desc = !desc;
    const float *Cin = cell_state(jb, pt, s, 1);
    float *Cout = cell_state(jb, pt, s, 0);
    if (FG_OP_BUILT(OP_CUSTOM_GRU) && jb->custom != NULL) {
        custom_step(jb, pt, halves, desc, XW, ldxw, H, ldh, Hn, ldn);
    } else if (FG_ROWWISE_ACTS_BUILT && !p->fused && cfg->cell != FG_CELL_GRU) {
        unfused_cell_step(jb, pt->b0, pt->b1, XW, ldxw, H, ldh, Cin, Cout, Hn);
    } else if (FG_ROWWISE_ACTS_BUILT && !p->fused) {
        unfused_gru_step(jb, pt->b0, pt->b1, XW, ldxw, H, ldh, Hn);
    } else if (cfg->reset_after || cfg->cell != FG_CELL_GRU) {
        jb->k->step_cell(cfg->cell, nr, p->units, H, ldh, XW, ldxw, jb->U, jb->b_rec, Cin, Cout,
                         p->up, pt->jb0, pt->jb1, desc, cfg->activation, cfg->recurrent_activation,
                         Hn, ldn);
    } else {
        float *Z = jb->ws + p->z + pt->b0 * p->up, *RH = jb->ws + p->rh + pt->b0 * p->up;
        if (halves & FIRST_HALF)
            jb->k->step_before_zr(nr, p->units, H, ldh, XW, ldxw, jb->U, pt->jb0, pt->jb1,
                                  desc, cfg->recurrent_activation, Z, RH, p->up);
        if (halves & SECOND_HALF)
            jb->k->step_before_h(nr, p->units, H, ldh, XW, ldxw, jb->U, pt->jb0, pt->jb1,
                                 desc, cfg->activation, Z, RH, p->up, Hn, ldn);
    }
}

/* Masking and outputs of step s (time t) for the part's rows and units after the kernel
 * wrote Hn. */
static void finish_step(const job *jb, const part *pt, int64_t s, int64_t t, const float *H,
                        int64_t ldh, float *Hn)
{
    const fg_gru_run *run = &jb->run;
    const plan *p = &jb->p;
    size_t bytes = (size_t)(pt->u1 - pt->u0) * sizeof(float);
    for (int64_t b = pt->b0; b < pt->b1; b++) {
        const float *h = H + (b - pt->b0) * ldh + pt->u0;
        float *hn = Hn + (b - pt->b0) * p->up + pt->u0;
        float *prev = jb->ws + p->prev + b * p->up + pt->u0;
        const float *out = hn;
        if (run->mask != NULL) {
            if (run->mask[b * run->m_sb + t * run->m_st] != 0) {
                memcpy(prev, hn, bytes);
            } else {
                memcpy(hn, h, bytes); /* state carried unchanged */
                if (jb->cfg->cell == FG_CELL_LSTM) {
                    int64_t at = (b - pt->b0) * p->up + pt->u0;
                    memcpy(cell_state(jb, pt, s, 0) + at, cell_state(jb, pt, s, 1) + at, bytes);
                }
                if (run->zero_output_for_mask) memset(prev, 0, bytes);
            }
            out = prev;
        }
        if (run->return_sequences)
            memcpy(run->y + b * run->y_sb + s * run->y_st + pt->u0, out, bytes);
    }
}

/* One past the last float of `rows` rows (stride sb) of `steps` steps (stride st) of w floats
 * from a; check_run has checked that the span does not overflow. */
static uintptr_t end_of(const float *a, int64_t rows, int64_t sb, int64_t steps, int64_t st,
                        int64_t w)
{
    return (uintptr_t)(a + (rows - 1) * sb + (steps - 1) * st + w);
}

static int apart(const float *a, uintptr_t a_end, const float *b, uintptr_t b_end)
{
    return a_end <= (uintptr_t)b || b_end <= (uintptr_t)a;
}

/* 1 when the outputs y (every step's or the last) are clear of h0 (or there is no h0). */
static int y_clear_of_h0(const fg_gru_run *run, int64_t u)
{
    int64_t B = run->batch, y_steps = run->return_sequences ? run->timesteps : 1;
    return run->h0 == NULL || apart(run->y, end_of(run->y, B, run->y_sb, y_steps, run->y_st, u),
                                    run->h0, end_of(run->h0, B, run->h0_sb, 1, 0, u));
}

/* 1 when the first step may read h0 in place: its rows cover whole blocks (the kernels read
 * 16 units per block) and the outputs the steps write (y with return_sequences) do not
 * overlap it (h_final may: it is written after the last step). */
static int h0_in_place(const job *jb)
{
    const fg_gru_run *run = &jb->run;
    int64_t u = jb->p.units;
    if (run->h0 == NULL || jb->p.up != u || run->timesteps == 0) return 0;
    return !run->return_sequences || y_clear_of_h0(run, u);
}

/* Rows pt->b0 .. b1 of the part's padded units in `to` (row stride up): `from` (row stride
 * from_sb) for the real units, zeros past them; zeros throughout when from is NULL. */
static void load_state(const job *jb, const part *pt, float *to, const float *from, int64_t from_sb)
{
    int64_t w0 = pt->jb0 * FG_BLOCK, w1 = pt->jb1 * FG_BLOCK; /* this part's padded units */
    for (int64_t b = pt->b0; b < pt->b1; b++) {
        float *h = to + (b - pt->b0) * jb->p.up;
        int64_t copied = from == NULL ? w0 : pt->u1;
        if (from != NULL)
            memcpy(h + pt->u0, from + b * from_sb + pt->u0,
                   (size_t)(pt->u1 - pt->u0) * sizeof(float));
        memset(h + copied, 0, (size_t)(w1 - copied) * sizeof(float));
    }
}

/* Part pt's start: the output before any unmasked step, an LSTM's first cell state, and,
 * unless the first step reads h0 in place, the first state copied into H (zeros without
 * h0). */
static void begin_part(const job *jb, const part *pt)
{
    const fg_gru_run *run = &jb->run;
    const plan *p = &jb->p;
    if (run->mask != NULL || run->timesteps == 0)
        for (int64_t b = pt->b0; b < pt->b1; b++)
            memset(jb->ws + p->prev + b * p->up + pt->u0, 0, (size_t)(pt->u1 - pt->u0) * 4);
    if (jb->cfg->cell == FG_CELL_LSTM)
        load_state(jb, pt, cell_state(jb, pt, 0, 1), run->c0, run->c0_sb);
    if (!jb->h0_in_place) load_state(jb, pt, jb->ws + p->h_a + pt->b0 * p->up, run->h0, run->h0_sb);
}

/* 1 when step s writes its state straight into y. */
static int in_y(const job *jb, int64_t s)
{
    return jb->state_in_y || (jb->last_in_y && s == jb->run.timesteps - 1);
}

/* Where step s writes its state for rows from pt->b0 (row stride *ld): y, or the work buffer
 * the step before did not write (H for odd steps, which is free even if it held h0). */
static float *state_after(const job *jb, const part *pt, int64_t s, int64_t *ld)
{
    const fg_gru_run *run = &jb->run;
    if (in_y(jb, s)) {
        *ld = run->y_sb;
        return run->y + pt->b0 * run->y_sb + (jb->state_in_y ? s * run->y_st : 0);
    }
    *ld = jb->p.up;
    return jb->ws + (s % 2 ? jb->p.h_a : jb->p.h_b) + pt->b0 * jb->p.up;
}

/* The state step s reads, for rows from pt->b0 (row stride *ld). */
static const float *state_before(const job *jb, const part *pt, int64_t s, int64_t *ld)
{
    if (s > 0) return state_after(jb, pt, s - 1, ld);
    if (jb->h0_in_place) {
        *ld = jb->run.h0_sb;
        return jb->run.h0 + pt->b0 * jb->run.h0_sb;
    }
    *ld = jb->p.up;
    return jb->ws + jb->p.h_a + pt->b0 * jb->p.up;
}

/* The kernels (`halves` of them) and outputs of step s for part pt; at a time chunk's first
 * step, first the cancel check and the chunk's input projection. FG_ERR_INTERRUPTED when the
 * caller's cancel flag (or fg_request_cancel) is set. */
static int run_step(const job *jb, const part *pt, int64_t s, int halves)
{
    const fg_gru_run *run = &jb->run;
    const plan *p = &jb->p;
    int64_t c = s % p->chunk, ldh, ldo;
    if (c == 0 && (halves & FIRST_HALF)) {
        if (fg_cancel_requested(jb->cancel)) return FG_ERR_INTERRUPTED;
        input_projection(jb, pt, s, run->timesteps - s < p->chunk ? run->timesteps - s : p->chunk);
    }
    const float *XW = jb->ws + p->xw + (pt->b0 * p->chunk + c) * p->upg;
    const float *Hs = state_before(jb, pt, s, &ldh);
    float *out = state_after(jb, pt, s, &ldo);
    step(jb, pt, s, halves, XW, p->chunk * p->upg, Hs, ldh, out, ldo);
    if ((halves & SECOND_HALF) && !in_y(jb, s)) finish_step(jb, pt, s, time_of(run, s), Hs, ldh, out);
    return FG_OK;
}

/* The outputs written once after the last step, from the final state Hs (row stride ldh,
 * rows from pt->b0), for the part's rows and units. */
static void write_last(const job *jb, const part *pt, const float *Hs, int64_t ldh)
{
    const fg_gru_run *run = &jb->run;
    const plan *p = &jb->p;
    size_t bytes = (size_t)(pt->u1 - pt->u0) * sizeof(float);
    for (int64_t b = pt->b0; b < pt->b1; b++) {
        const float *h = Hs + (b - pt->b0) * ldh + pt->u0;
        /* the last output: the state; under a mask (or with no step at all) the last out_t */
        const float *last = run->mask != NULL || run->timesteps == 0
                                ? jb->ws + p->prev + b * p->up + pt->u0
                                : h;
        if (!run->return_sequences && !jb->last_in_y)
            memcpy(run->y + b * run->y_sb + pt->u0, last, bytes);
        if (run->h_final != NULL) /* Hs may be y's last row, which h_final may overlap */
            memmove(run->h_final + b * run->hf_sb + pt->u0, h, bytes);
        if (run->c_final != NULL && jb->cfg->cell == FG_CELL_LSTM)
            memcpy(run->c_final + b * run->cf_sb + pt->u0,
                   cell_state(jb, pt, run->timesteps, 1) + (b - pt->b0) * p->up + pt->u0, bytes);
    }
}

/* The part through every step, one thread. Returns FG_OK or FG_ERR_INTERRUPTED. */
static int run_part(const job *jb, const part *pt)
{
    int64_t ldh, T = jb->run.timesteps;
    begin_part(jb, pt);
    for (int64_t s = 0; s < T; s++)
        if (run_step(jb, pt, s, WHOLE_STEP) != FG_OK) return FG_ERR_INTERRUPTED;
    const float *Hs = state_before(jb, pt, T, &ldh);
    write_last(jb, pt, Hs, ldh);
    return FG_OK;
}

/* Largest element offset n1*s1 + n2*s2 + width reachable, checked for overflow. */
static int span_ok(int64_t n1, int64_t s1, int64_t n2, int64_t s2, int64_t width)
{
    int64_t a, b, c;
    if (n1 <= 0 || n2 <= 0) return 1;
    return !__builtin_mul_overflow(n1 - 1, s1, &a) && !__builtin_mul_overflow(n2 - 1, s2, &b) &&
           !__builtin_add_overflow(a, b, &c) && !__builtin_add_overflow(c, width, &c);
}

static int check_run(const fg_gru_config *cfg, const fg_gru_run *run)
{
    if (run == NULL) return fg_fail(FG_ERR_ARG, "GRU run is NULL");
    int64_t B = run->batch, T = run->timesteps, u = cfg->units;
    if (B < 0 || T < 0)
        return fg_fail(FG_ERR_ARG, "GRU batch and timesteps must be >= 0, got %lld and %lld",
                       (long long)B, (long long)T);
    int lstm = cfg->cell == FG_CELL_LSTM;
    if (run->x_sb < 0 || run->x_st < 0 || run->m_sb < 0 || run->m_st < 0 || run->h0_sb < 0 ||
        run->y_sb < 0 || run->y_st < 0 || run->hf_sb < 0 ||
        (lstm && (run->c0_sb < 0 || run->cf_sb < 0)))
        return fg_fail(FG_ERR_ARG, "GRU strides must be >= 0");
    if (B > 0 && T > 0 && run->x == NULL) return fg_fail(FG_ERR_ARG, "GRU input x is NULL");
    if (B > 0 && run->y == NULL) return fg_fail(FG_ERR_ARG, "GRU output y is NULL");
    if (!span_ok(B, run->x_sb, T, run->x_st, cfg->input_dim) ||
        !span_ok(B, run->m_sb, T, run->m_st, 1) || !span_ok(B, run->h0_sb, 1, 0, u) ||
        !span_ok(B, run->y_sb, T, run->y_st, u) || !span_ok(B, run->hf_sb, 1, 0, u) ||
        (lstm && (!span_ok(B, run->c0_sb, 1, 0, u) || !span_ok(B, run->cf_sb, 1, 0, u))))
        return fg_fail(FG_ERR_ARG, "GRU strides overflow 64-bit offsets for batch %lld, "
                       "timesteps %lld", (long long)B, (long long)T);
    return FG_OK;
}

/* 1 when each step may write its new state straight into its row of y and the next step read
 * it there, saving a copy a step (batch 1, 64 -> 256, 512 steps, 2 Zen 4 cores: 2.24 -> 2.22
 * ms; and a copy a call for a stream of one-step calls, whose h_final is then copied from y),
 * every output is the state (return_sequences, no mask), the kernels are fused (they take an output
 * stride), rows cover whole blocks (they write 16 units a block), and the rows of y are
 * disjoint (batch- or time-major). y may overlap h0 only when first_state copies h0 first
 * (h0_in_place). */
static int state_in_y(const fg_gru_config *cfg, const plan *p, const fg_gru_run *run)
{
    int64_t u = cfg->units, steps_span, rows_span;
    int disjoint =
        (run->y_st >= u && !__builtin_mul_overflow(run->timesteps, run->y_st, &steps_span) &&
         (run->batch == 1 || run->y_sb >= steps_span)) ||
        (run->y_sb >= u && !__builtin_mul_overflow(run->batch, run->y_sb, &rows_span) &&
         run->y_st >= rows_span);
    return run->timesteps > 0 && run->return_sequences && run->mask == NULL && p->fused &&
           p->up == u && disjoint;
}

/* 1 when the last step may write its state straight into y, saving a copy a call (batch 1,
 * 16 -> 64, one step a call): y holds only the last output (no return_sequences), which is
 * the state (no mask), the kernels are fused (they take an output stride), rows cover whole
 * blocks (they write 16 units a block), the rows of y are disjoint, and y is clear of what
 * steps still read as another thread writes it: h0 (read in place) and x (projected). */
static int last_in_y(const fg_gru_config *cfg, const plan *p, const fg_gru_run *run)
{
    int64_t u = cfg->units, B = run->batch;
    return run->timesteps > 0 && !run->return_sequences && run->mask == NULL && p->fused &&
           p->up == u && (B == 1 || run->y_sb >= u) && y_clear_of_h0(run, u) &&
           apart(run->y, end_of(run->y, B, run->y_sb, 1, 0, u), run->x,
                 end_of(run->x, B, run->x_sb, run->timesteps, run->x_st, cfg->input_dim));
}

/* Piece q of n: with units_split, all rows and a run of blocks; else a run of rows. */
static part part_of(const plan *p, int64_t batch, int units_split, int64_t q, int64_t n)
{
    part pt = {0, batch, 0, p->nblk, 0, p->units};
    if (units_split) {
        pt.jb0 = p->nblk * q / n;
        pt.jb1 = p->nblk * (q + 1) / n;
        pt.u0 = pt.jb0 * FG_BLOCK;
        pt.u1 = pt.jb1 * FG_BLOCK < p->units ? pt.jb1 * FG_BLOCK : p->units;
    } else {
        pt.b0 = batch * q / n;
        pt.b1 = batch * (q + 1) / n;
    }
    return pt;
}

/* Threads for a run, and whether they split the units (batch smaller than the team) or the
 * batch rows, both on the team of fg_team.h. */
static int threads_for(const fg_gru_config *cfg, const plan *p, const fg_gru_run *run,
                       int *units_split)
{
    int nt = run->nthreads > 0 ? run->nthreads : fg_default_threads();
    double step_flops = 2.0 * (double)p->gates * (double)(cfg->input_dim + cfg->units) *
                        (double)cfg->units * (double)run->batch;
    double flops = step_flops * (double)run->timesteps;
    *units_split = nt > run->batch && p->nblk > 1 && p->fused &&
                   step_flops >= FG_MIN_STEP_FLOPS_UNITS_SPLIT &&
                   flops >= FG_MIN_FLOPS_UNITS_SPLIT && run->timesteps < (1 << 28);
    if (*units_split) /* at least one block each */
        return nt < p->nblk ? nt : (int)p->nblk;
    int64_t by_work = (int64_t)(flops / FG_MIN_FLOPS_PER_THREAD);
    if (by_work < nt) nt = by_work < 1 ? 1 : (int)by_work;
    return nt < run->batch ? nt : (int)run->batch; /* at least one row each */
}

/* Team pieces of a batch split on nt threads: runs of at least 4 rows (a kernel tile), up to
 * 4 a thread, so that the rows of a thread that is not running are taken by those that are. */
static int batch_pieces(int64_t batch, int nt)
{
    int64_t n = batch / 4;
    if (n > 4 * (int64_t)nt) n = 4 * (int64_t)nt;
    if (n < nt) n = batch < nt ? batch : nt;
    return n > FG_TEAM_UNITS_MAX ? FG_TEAM_UNITS_MAX : (int)n;
}

/* A piece of the batch split: its rows through every step. */
static int batch_piece(void *arg, int phase, int q)
{
    job *jb = arg;
    (void)phase;
    part pt = part_of(&jb->p, jb->run.batch, 0, q, jb->pieces);
    return run_part(jb, &pt) != FG_OK;
}

/* Phases per step of the units split: a GRU with reset_after=0's candidate reads all of r*h. */
static int phases_per_step(const job *jb)
{
    return jb->cfg->cell == FG_CELL_GRU && !jb->cfg->reset_after ? 2 : 1;
}

/* A piece of the units split: phase 0 begins its blocks, phase 1 + k*s (+ 1) runs step s's
 * (halves of) kernels for them, the last phase writes the outputs after the last step. */
static int units_piece(void *arg, int phase, int q)
{
    job *jb = arg;
    part pt = part_of(&jb->p, jb->run.batch, 1, q, jb->pieces);
    int k = phases_per_step(jb);
    int64_t s = (phase - 1) / k, ldh;
    if (phase == 0) {
        begin_part(jb, &pt);
    } else if (s < jb->run.timesteps) {
        int halves = k == 1 ? WHOLE_STEP : (phase - 1) % 2 == 0 ? FIRST_HALF : SECOND_HALF;
        return run_step(jb, &pt, s, halves) != FG_OK;
    } else {
        const float *Hs = state_before(jb, &pt, jb->run.timesteps, &ldh);
        write_last(jb, &pt, Hs, ldh);
    }
    return 0;
}

int fg_gru_forward(const fg_gru_config *cfg, const void *packed, const fg_gru_run *run,
                   void *workspace)
{
    return fg_gru_custom_forward(cfg, NULL, packed, run, workspace);
}

int fg_gru_custom_forward(const fg_gru_config *cfg, const fg_custom_program *custom,
                          const void *packed, const fg_gru_run *run, void *workspace)
{
    int st = fg_gru_check_config(cfg);
    if (st != FG_OK) return st;
    if (packed == NULL) return fg_fail(FG_ERR_ARG, "GRU packed weights are NULL");
    if ((st = check_run(cfg, run)) != FG_OK) return st;
    job jb; /* every member is set below: zeroing the whole job cost ~50 instructions a call */
    if ((st = make_plan(cfg, custom, run->batch, run->timesteps, &jb.p)) != FG_OK) return st;
    if (run->batch == 0) return FG_OK;
    if (workspace != NULL && (uintptr_t)workspace % 64 != 0)
        return fg_fail(FG_ERR_ARG, "GRU workspace must be 64-byte aligned");
    void *owned = NULL;
    if (workspace == NULL) {
        size_t bytes = ((size_t)jb.p.total * sizeof(float) + 63) / 64 * 64;
        if ((st = fg_check_cap(bytes, "GRU workspace")) != FG_OK) return st;
        owned = workspace = fg_aligned_alloc(64, bytes);
        if (owned == NULL)
            return fg_fail(FG_ERR_NOMEM, "GRU workspace: cannot allocate %zu bytes", bytes);
    }
    packed_layout l = layout_of(cfg);
    const float *pk = packed;
    jb.cfg = cfg;
    jb.custom = custom;
    jb.run = *run;
    jb.k = FG_CONFIG_BF16 && cfg->precision == FG_PRECISION_BF16 ? fg_kernels_bf16()
                                                : fg_kernels_for(fg_isa_active());
    jb.W = pk + l.w;
    jb.U = pk + l.u;
    jb.b_in = pk + l.b_in;
    jb.b_rec = pk + l.b_rec;
    jb.ws = workspace;
    jb.state_in_y = state_in_y(cfg, &jb.p, run);
    jb.last_in_y = last_in_y(cfg, &jb.p, run);
    jb.h0_in_place = h0_in_place(&jb);
    jb.cancel = fg_cancel_flag();
    int interrupted, units_split;
    int nt = threads_for(cfg, &jb.p, run, &units_split);
    if (units_split) {
        jb.pieces = nt; /* one run of blocks a thread: its slice of U stays in its cache */
        interrupted = fg_team_run(nt, (int)(2 + run->timesteps * phases_per_step(&jb)),
                                  jb.pieces, units_piece, &jb);
    } else if (nt > 1) {
        jb.pieces = batch_pieces(run->batch, nt);
        interrupted = fg_team_run(nt, 1, jb.pieces, batch_piece, &jb);
    } else {
        part pt = part_of(&jb.p, run->batch, 0, 0, 1);
        interrupted = run_part(&jb, &pt) != FG_OK;
    }
    fg_aligned_free(owned);
    if (interrupted) return fg_fail(FG_ERR_INTERRUPTED, "GRU run interrupted by its cancel flag");
    return FG_OK;
}
