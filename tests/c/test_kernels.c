/* test_kernels.c - checks of the C GRU kernel against its own scalar reference.
 *
 *  1. every SIMD path the CPU has vs the scalar path, random weights, every option
 *     combination (reset_after, use_bias, mask, go_backwards, return_sequences,
 *     zero_output_for_mask, h0, units not a multiple of 16, row-wise activations);
 *  2. 1 thread vs 2 threads, bitwise; batch 1 and 3 on 2 .. 4 threads (the units split);
 *  3. vector tanh / logistic vs double precision over [-20, 20] step 1e-4, extremes, NaN;
 *  4. argument checks and cancellation return the documented statuses;
 *  5. time-major strides and h_final == h0 (streaming state updated in place); states written
 *     straight into y, with y rows, h0 and h_final that alias;
 *  6. the step kernels walking their blocks upward and downward, bitwise; one-step calls
 *     with the state updated in place under the units split, bitwise.
 * Build and run: make -C tests/c   (see Makefile). Exit status 0 when everything passes.
 * `test_kernels --quick` checks one shape only (for slow emulators such as qemu-aarch64).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_alloc.h"
#include "fg_gru.h"
#include "kernels/fg_kernels.h"

static int failures;
#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            failures++;                                                                        \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                        \
            printf(__VA_ARGS__);                                                               \
            printf("\n");                                                                      \
        }                                                                                      \
    } while (0)

static unsigned long long rng_state = 88172645463325252ull;
static float frand(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) / 8388608.0 - 1.0);
}
static void fill(float *a, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++) a[i] = frand() * scale;
}

typedef struct problem {
    fg_gru_config cfg;
    int64_t B, T;
    float *W, *U, *b, *x, *h0;
    uint8_t *mask;
    void *packed;
} problem;

/* A problem for `cell` (FG_CELL_*; weights sized for the largest, an LSTM's 4 gates). */
static void make_cell_problem(problem *p, int cell, int F, int u, int reset_after, int use_bias,
                              int act, int ract, int64_t B, int64_t T)
{
    fg_gru_config cfg = {F, u, reset_after, use_bias, act, ract, FG_PRECISION_FP32, cell};
    p->cfg = cfg;
    p->B = B, p->T = T;
    p->W = malloc(sizeof(float) * F * 4 * u), fill(p->W, (size_t)F * 4 * u, 1.0f / sqrtf((float)F));
    p->U = malloc(sizeof(float) * u * 4 * u),
    fill(p->U, (size_t)u * 4 * u, 1.0f / sqrtf((float)u)); /* keeps relu / gelu states bounded */
    p->b = malloc(sizeof(float) * 6 * u), fill(p->b, 6 * (size_t)u, 0.5f);
    p->x = malloc(sizeof(float) * B * T * F), fill(p->x, (size_t)(B * T * F), 1.0f);
    p->h0 = malloc(sizeof(float) * B * u), fill(p->h0, (size_t)(B * u), 0.8f);
    p->mask = malloc((size_t)(B * T));
    for (int64_t i = 0; i < B * T; i++) p->mask[i] = frand() > -0.4f;
    if (B > 1) memset(p->mask + T, 0, (size_t)T); /* one row fully masked */
    size_t bytes = fg_gru_packed_bytes(&p->cfg);
    p->packed = fg_aligned_alloc(64, bytes);
    int st = fg_gru_pack(&p->cfg, p->W, p->U, use_bias ? p->b : NULL, p->packed);
    CHECK(st == FG_OK, "pack: %s", fg_last_error());
}

static void make_problem(problem *p, int F, int u, int reset_after, int use_bias, int act, int ract,
                         int64_t B, int64_t T)
{
    make_cell_problem(p, FG_CELL_GRU, F, u, reset_after, use_bias, act, ract, B, T);
}

static void free_problem(problem *p)
{
    free(p->W), free(p->U), free(p->b), free(p->x), free(p->h0), free(p->mask);
    fg_aligned_free(p->packed);
}

/* Run with options; y (B*T*u or B*u) and hf (B*u) are allocated by the caller. */
static int run(const problem *p, const char *isa, int nthreads, int masked, int with_h0,
               int go_backwards, int return_sequences, int zero_out, float *y, float *hf)
{
    fg_set_isa_cap(isa);
    int64_t F = p->cfg.input_dim, u = p->cfg.units, T = p->T;
    fg_gru_run r = {0};
    r.batch = p->B, r.timesteps = T;
    r.x = p->x, r.x_sb = T * F, r.x_st = F;
    if (masked) r.mask = p->mask, r.m_sb = T, r.m_st = 1;
    if (with_h0) r.h0 = p->h0, r.h0_sb = u;
    r.y = y, r.y_sb = return_sequences ? T * u : u, r.y_st = u;
    r.h_final = hf, r.hf_sb = u;
    r.go_backwards = go_backwards, r.return_sequences = return_sequences;
    r.zero_output_for_mask = zero_out, r.nthreads = nthreads;
    int st = fg_gru_forward(&p->cfg, p->packed, &r, NULL);
    fg_set_isa_cap(NULL);
    return st;
}

/* Max abs difference, relative to max(1, max |a|): relu / gelu states can grow large. */
static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0, scale = 1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d) m = d;
        scale = fmax(scale, fabs((double)a[i]));
    }
    return m / scale;
}

static void test_isa_paths_and_threads(size_t nshapes)
{
    /* 1, 4, 3 and 5 blocks: a SimpleRNN's tiles of 1, 4, 3 and 3 + 2 blocks on AVX-512 */
    static const int shapes[][2] = {{5, 7}, {3, 64}, {9, 40}, {24, 80}};
    static const int acts[][2] = {{FG_ACT_TANH, FG_ACT_SIGMOID},
                                  {FG_ACT_TANH, FG_ACT_HARD_SIGMOID},
                                  {FG_ACT_RELU, FG_ACT_HARD_SIGMOID_K2},
                                  {FG_ACT_GELU, FG_ACT_SIGMOID},
                                  {FG_ACT_SOFTMAX, FG_ACT_SIGMOID},
                                  {FG_ACT_TANH, FG_ACT_SPARSEMAX}};
    const int isas[] = {FG_ISA_AVX2, FG_ISA_AVX512, FG_ISA_NEON};
    double worst[3] = {0};
    int runs = 0;
    for (int cell = FG_CELL_GRU; cell <= FG_CELL_SIMPLE_RNN; cell++)
        for (size_t s = 0; s < nshapes && s < sizeof shapes / sizeof *shapes; s++)
            for (size_t a = 0; a < sizeof acts / sizeof *acts; a++)
                for (int opt = 0; opt < 128; opt++) {
                    int ra = opt & 1, ub = opt >> 1 & 1, masked = opt >> 2 & 1, h0 = opt >> 3 & 1;
                    int gb = opt >> 4 & 1, rs = opt >> 5 & 1, zo = opt >> 6 & 1;
                    /* reset_after is the GRU's; the other cells take every other activation pair
                     * (fused, the Keras 2 hard sigmoid, the unfused softmax step) */
                    if (cell != FG_CELL_GRU && (ra || a % 2)) continue;
                    problem p;
                    int64_t B = 37, T = 25,
                            u = shapes[s][1]; /* the larger shapes run on 2 threads */
                    /* a SimpleRNN has no recurrent activation */
                    int ract = cell == FG_CELL_SIMPLE_RNN ? FG_ACT_LINEAR : acts[a][1];
                    make_cell_problem(&p, cell, shapes[s][0], (int)u, ra, ub, acts[a][0], ract, B,
                                      T);
                    size_t ny = (size_t)(rs ? B * T * u : B * u), nh = (size_t)(B * u);
                    float *y0 = malloc(ny * 4), *h0f = malloc(nh * 4), *y1 = malloc(ny * 4),
                          *h1f = malloc(nh * 4);
                    int st = run(&p, "scalar", 1, masked, h0, gb, rs, zo, y0, h0f);
                    CHECK(st == FG_OK, "scalar run: %s", fg_last_error());
                    for (int i = 0; i < 3; i++) {
                        if (!(fg_isa_available() & (unsigned)isas[i])) continue;
                        const char *name = fg_isa_name(isas[i]);
                        run(&p, name, 1, masked, h0, gb, rs, zo, y1, h1f);
                        double d = fmax(max_diff(y0, y1, ny), max_diff(h0f, h1f, nh));
                        if (d > worst[i]) worst[i] = d;
                        CHECK(d < 2e-5, "%s vs scalar %g (cell %d F=%d u=%d acts %d,%d opt %d)",
                              name, d, cell, shapes[s][0], (int)u, acts[a][0], ract, opt);
                        /* threads: bitwise identical on the same ISA */
                        float *y2 = malloc(ny * 4), *h2f = malloc(nh * 4);
                        run(&p, name, 2, masked, h0, gb, rs, zo, y2, h2f);
                        CHECK(memcmp(y1, y2, ny * 4) == 0 && memcmp(h1f, h2f, nh * 4) == 0,
                              "%s: 1 vs 2 threads differ (opt %d)", name, opt);
                        free(y2), free(h2f);
                    }
                    runs++;
                    free(y0), free(h0f), free(y1), free(h1f);
                    free_problem(&p);
                }
    for (int i = 0; i < 3; i++)
        if (fg_isa_available() & (unsigned)isas[i])
            printf("%-7s vs scalar: max diff %.3g (abs, relative above 1) over %d runs of the GRU, "
                   "LSTM and SimpleRNN cells (1 vs 2 threads bitwise)\n",
                   fg_isa_name(isas[i]), worst[i], runs);
}

/* Batch 1 and 3 on 2 .. 4 threads split the units (fg_gru.c): bitwise the 1-thread result
 * on every ISA, for every option and cell; units 192 read h0 in place, 200 end in a padded
 * block (a SimpleRNN's threads get 12 or 13 blocks in runs of 3 .. 7: tiles of 3, 2 and 1). */
static void test_units_split(void)
{
    static const int shapes[][2] = {{8, 192}, {24, 200}};
    const int isas[] = {FG_ISA_SCALAR, FG_ISA_AVX2, FG_ISA_AVX512, FG_ISA_NEON};
    int runs = 0;
    for (int opt = 0; opt < 128; opt++) {
        int ra = opt & 1, ub = opt >> 1 & 1, masked = opt >> 2 & 1, h0 = opt >> 3 & 1;
        int gb = opt >> 4 & 1, rs = opt >> 5 & 1, zo = opt >> 6 & 1;
        int s = (opt ^ opt >> 3) & 1; /* both shapes and batches meet every option */
        int64_t B = 1 + 2 * ((opt ^ opt >> 2 ^ opt >> 5) & 1), T = 6, u = shapes[s][1];
        int cell = FG_CELL_GRU + (opt >> 1) % 3; /* reset_after: the GRU's only */
        if (cell != FG_CELL_GRU) ra = 0;
        /* a SimpleRNN's one gate needs more inputs for a step worth splitting (fg_gru.c) */
        int F = cell == FG_CELL_SIMPLE_RNN ? 160 : shapes[s][0];
        problem p;
        make_cell_problem(&p, cell, F, (int)u, ra, ub, FG_ACT_TANH,
                          cell == FG_CELL_SIMPLE_RNN ? FG_ACT_LINEAR : FG_ACT_SIGMOID, B, T);
        size_t ny = (size_t)(rs ? B * T * u : B * u), nh = (size_t)(B * u);
        float *y1 = malloc(ny * 4), *h1 = malloc(nh * 4), *y2 = malloc(ny * 4),
              *h2 = malloc(nh * 4);
        for (int i = 0; i < 4; i++) {
            if (!(fg_isa_available() & (unsigned)isas[i])) continue;
            const char *name = fg_isa_name(isas[i]);
            CHECK(run(&p, name, 1, masked, h0, gb, rs, zo, y1, h1) == FG_OK, "%s",
                  fg_last_error());
            for (int nt = 2; nt <= 4; nt++) {
                CHECK(run(&p, name, nt, masked, h0, gb, rs, zo, y2, h2) == FG_OK, "%s",
                      fg_last_error());
                CHECK(memcmp(y1, y2, ny * 4) == 0 && memcmp(h1, h2, nh * 4) == 0,
                      "%s: units split on %d threads differs (cell %d B=%d u=%d opt %d)", name, nt,
                      cell, (int)B, (int)u, opt);
                runs++;
            }
        }
        free(y1), free(h1), free(y2), free(h2);
        free_problem(&p);
    }
    printf("units split: %d runs bitwise equal to 1 thread\n", runs);
}

/* A stream of one-step calls whose state is updated in place (h0 == h_final), as a model's
 * stream runs, under the units split: no thread may write its slice of the new state while
 * another still reads the old one. 2 .. 4 threads, bitwise equal to 1. */
static void test_streaming_split(void)
{
    const int64_t F = 24, u = 192, steps = 40; /* whole blocks: h0 is read in place */
    problem p;
    make_problem(&p, (int)F, (int)u, 1, 1, FG_ACT_TANH, FG_ACT_SIGMOID, 1, steps);
    float *ref = malloc(sizeof(float) * steps * u), *state = malloc(sizeof(float) * u);
    float *y = malloc(sizeof(float) * u);
    for (int nt = 1; nt <= 4; nt++) {
        memcpy(state, p.h0, sizeof(float) * u);
        int differs = 0;
        for (int64_t s = 0; s < steps; s++) {
            fg_gru_run r = {0};
            r.batch = 1, r.timesteps = 1, r.x = p.x + s * F, r.x_sb = F, r.x_st = F;
            r.h0 = state, r.h0_sb = u, r.h_final = state, r.hf_sb = u;
            r.y = y, r.y_sb = u, r.nthreads = nt;
            CHECK(fg_gru_forward(&p.cfg, p.packed, &r, NULL) == FG_OK, "%s", fg_last_error());
            if (nt == 1) memcpy(ref + s * u, state, sizeof(float) * u);
            else differs |= memcmp(ref + s * u, state, sizeof(float) * u) != 0;
        }
        CHECK(!differs, "one-step calls with the state in place differ on %d threads", nt);
    }
    free(ref), free(state), free(y);
    free_problem(&p);
    printf("streaming split: one-step calls on 2 .. 4 threads bitwise equal to 1\n");
}

/* The step kernels walk their blocks upward or downward (the driver alternates from step to
 * step): both orders give the same bytes on every ISA, for a range of blocks that starts
 * inside the layer and ends on a partial block (a thread's share of the units split). */
static void test_block_order(void)
{
    const int isas[] = {FG_ISA_SCALAR, FG_ISA_AVX2, FG_ISA_AVX512, FG_ISA_NEON};
    const int F = 8, u = 72;
    const int64_t M = 3, nb = (u + FG_BLOCK - 1) / FG_BLOCK, up = nb * FG_BLOCK;
    float *H = malloc(sizeof(float) * M * up), *XW = malloc(sizeof(float) * M * 3 * up);
    fill(H, (size_t)(M * up), 0.8f), fill(XW, (size_t)(M * 3 * up), 1.0f);
    size_t bytes = sizeof(float) * M * up;
    float *out[2], *Z[2], *RH[2];
    for (int d = 0; d < 2; d++)
        out[d] = calloc(1, bytes), Z[d] = calloc(1, bytes), RH[d] = calloc(1, bytes);
    for (int ra = 0; ra < 2; ra++) {
        problem p;
        make_problem(&p, F, u, ra, 1, FG_ACT_TANH, FG_ACT_SIGMOID, M, 1);
        const float *U = (const float *)p.packed + nb * F * FG_BLOCK3;
        const float *brec = U + nb * u * FG_BLOCK3 + nb * FG_BLOCK3;
        for (int i = 0; i < 4; i++) {
            if (!(fg_isa_available() & (unsigned)isas[i])) continue;
            const fg_kernels *k = fg_kernels_for(isas[i]);
            for (int d = 0; d < 2; d++) {
                if (ra) {
                    k->step_cell(FG_CELL_GRU, M, u, H, up, XW, 3 * up, U, brec, NULL, NULL, 0, 1,
                                 nb, d, FG_ACT_TANH, FG_ACT_SIGMOID, out[d], up);
                } else {
                    k->step_before_zr(M, u, H, up, XW, 3 * up, U, 1, nb, d, FG_ACT_SIGMOID,
                                      Z[d], RH[d], up);
                    k->step_before_h(M, u, H, up, XW, 3 * up, U, 1, nb, d, FG_ACT_TANH, Z[d],
                                     RH[d], up, out[d], up);
                }
            }
            CHECK(memcmp(out[0], out[1], bytes) == 0 && memcmp(out[0] + FG_BLOCK, H, 4) != 0,
                  "%s: blocks walked downward give other bytes (reset_after=%d)",
                  fg_isa_name(isas[i]), ra);
        }
        free_problem(&p);
    }
    for (int d = 0; d < 2; d++) free(out[d]), free(Z[d]), free(RH[d]);
    free(H), free(XW);
    printf("block order: upward and downward equal\n");
}

/* Max abs error of the active ISA's tanh / logistic against double over [-20, 20]. */
static void test_activation_accuracy(void)
{
    const int n = 400001;
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    const int isas[] = {FG_ISA_SCALAR, FG_ISA_AVX2, FG_ISA_AVX512, FG_ISA_NEON};
    for (int i = 0; i < 4; i++) {
        if (!(fg_isa_available() & (unsigned)isas[i])) continue;
        fg_set_isa_cap(fg_isa_name(isas[i]));
        int ids[] = {FG_ACT_TANH, FG_ACT_SIGMOID, FG_ACT_HARD_SIGMOID};
        for (int a = 0; a < 3; a++) {
            for (int k = 0; k < n; k++) x[k] = y[k] = (float)(-20.0 + k * 1e-4);
            fg_activation_apply(ids[a], y, 1, n, n);
            double worst = 0;
            for (int k = 0; k < n; k++) {
                double t = ids[a] == FG_ACT_TANH ? tanh((double)x[k])
                         : ids[a] == FG_ACT_SIGMOID ? 1.0 / (1.0 + exp(-(double)x[k]))
                         : fmin(fmax((double)x[k] + 3.0, 0.0), 6.0) / 6.0;
                worst = fmax(worst, fabs(t - y[k]));
            }
            printf("%-7s act %d: max abs err %.3g over [-20, 20] step 1e-4\n",
                   fg_isa_name(isas[i]), ids[a], worst);
            CHECK(worst < 5e-7, "act %d on %s: error %g", ids[a], fg_isa_name(isas[i]), worst);
            float edge[5] = {100.0f, -100.0f, NAN, INFINITY, -INFINITY};
            fg_activation_apply(ids[a], edge, 1, 5, 5);
            CHECK(edge[2] != edge[2], "act %d on %s: NaN in gives %g", ids[a],
                  fg_isa_name(isas[i]), edge[2]);
            for (int e = 0; e < 5; e++)
                CHECK(e == 2 || (edge[e] == edge[e] && fabsf(edge[e]) <= 1.0f),
                      "act %d on %s: extreme input %d gives %g", ids[a], fg_isa_name(isas[i]),
                      e, edge[e]);
        }
    }
    fg_set_isa_cap(NULL);
    free(x), free(y);
}

/* Time-major input and output strides give the batch-major results; h_final may be h0. */
static void test_layouts_and_in_place_state(void)
{
    problem p;
    const int64_t B = 6, T = 7, F = 5, u = 20;
    make_problem(&p, (int)F, (int)u, 1, 1, FG_ACT_TANH, FG_ACT_SIGMOID, B, T);
    float *y_ref = malloc(sizeof(float) * B * T * u), *h_ref = malloc(sizeof(float) * B * u);
    CHECK(run(&p, "", 1, 1, 1, 0, 1, 0, y_ref, h_ref) == FG_OK, "%s", fg_last_error());
    float *xt = malloc(sizeof(float) * B * T * F), *yt = malloc(sizeof(float) * B * T * u);
    uint8_t *mt = malloc((size_t)(B * T));
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            memcpy(xt + (t * B + b) * F, p.x + (b * T + t) * F, sizeof(float) * F);
            mt[t * B + b] = p.mask[b * T + t];
        }
    float *state = malloc(sizeof(float) * B * u);
    memcpy(state, p.h0, sizeof(float) * B * u);
    fg_gru_run r = {0};
    r.batch = B, r.timesteps = T, r.x = xt, r.x_sb = F, r.x_st = B * F;
    r.mask = mt, r.m_sb = 1, r.m_st = B, r.h0 = state, r.h0_sb = u;
    r.y = yt, r.y_sb = u, r.y_st = B * u, r.h_final = state, r.hf_sb = u;
    r.return_sequences = 1;
    CHECK(fg_gru_forward(&p.cfg, p.packed, &r, NULL) == FG_OK, "%s", fg_last_error());
    double d = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            d = fmax(d, max_diff(y_ref + (b * T + t) * u, yt + (t * B + b) * u, (size_t)u));
    CHECK(d == 0 && memcmp(state, h_ref, sizeof(float) * B * u) == 0,
          "time-major / in-place state differs: %g", d);
    free(y_ref), free(h_ref), free(xt), free(yt), free(mt), free(state);
    free_problem(&p);
}

/* A step writes its state straight into y when every output is the state (fg_gru.c
 * state_in_y): compare with the copying path (an all-ones mask), on 1 thread and on the units
 * split, for y rows that alias (one row for every step), h_final on y's last row and h0 on y's
 * first row. */
static void test_state_written_into_y(void)
{
    const int64_t T = 7, F = 16, u = 64;
    for (int ra = 0; ra < 2; ra++)
        for (int64_t B = 1; B <= 2; B++)
            for (int nt = 1; nt <= 2; nt++) {
                problem p;
                make_problem(&p, (int)F, (int)u, ra, 1, FG_ACT_TANH, FG_ACT_SIGMOID, B, T);
                memset(p.mask, 1, (size_t)(B * T));
                size_t ny = (size_t)(B * T * u), nh = (size_t)(B * u);
                float *y_ref = malloc(ny * 4), *h_ref = malloc(nh * 4), *y = malloc(ny * 4),
                      *hf = malloc(nh * 4);
                CHECK(run(&p, "", nt, 1, 1, 0, 1, 0, y_ref, h_ref) == FG_OK, "%s", fg_last_error());
                CHECK(run(&p, "", nt, 0, 1, 0, 1, 0, y, hf) == FG_OK, "%s", fg_last_error());
                CHECK(!memcmp(y, y_ref, ny * 4) && !memcmp(hf, h_ref, nh * 4),
                      "state into y differs (reset_after %d, B %d, %d threads)", ra, (int)B, nt);
                fg_gru_run r = {0};
                r.batch = B, r.timesteps = T, r.x = p.x, r.x_sb = T * F, r.x_st = F;
                r.h0 = p.h0, r.h0_sb = u, r.y = y, r.y_sb = u, r.y_st = 0, r.h_final = hf;
                r.hf_sb = u, r.return_sequences = 1, r.nthreads = nt;
                CHECK(fg_gru_forward(&p.cfg, p.packed, &r, NULL) == FG_OK, "%s", fg_last_error());
                CHECK(!memcmp(y, h_ref, nh * 4) && !memcmp(hf, h_ref, nh * 4),
                      "every step into one y row differs (B %d, %d threads)", (int)B, nt);
                for (int64_t b = 0; b < B; b++) /* h0 in y's first step, h_final in its last */
                    memcpy(y + b * T * u, p.h0 + b * u, (size_t)u * 4);
                r.h0 = y, r.h0_sb = T * u, r.y_sb = T * u, r.y_st = u;
                r.h_final = y + (T - 1) * u, r.hf_sb = T * u;
                CHECK(fg_gru_forward(&p.cfg, p.packed, &r, NULL) == FG_OK, "%s", fg_last_error());
                CHECK(!memcmp(y, y_ref, ny * 4), "h0 / h_final inside y differ (B %d, %d threads)",
                      (int)B, nt);
                free(y_ref), free(h_ref), free(y), free(hf);
                free_problem(&p);
            }
}

static void test_errors_and_cancel(void)
{
    fg_gru_config bad = {0, 8, 1, 1, FG_ACT_TANH, FG_ACT_SIGMOID, FG_PRECISION_FP32, FG_CELL_GRU};
    CHECK(fg_gru_check_config(&bad) == FG_ERR_ARG && strstr(fg_last_error(), "input_dim"),
          "input_dim 0 accepted: %s", fg_last_error());
    CHECK(fg_gru_packed_bytes(&bad) == 0, "packed bytes for a bad config");
    CHECK(fg_set_isa_cap("sse9") == FG_ERR_ARG, "unknown ISA name accepted");
    problem p;
    make_problem(&p, 4, 8, 1, 1, FG_ACT_TANH, FG_ACT_SIGMOID, 3, 200);
    float y[3 * 8], hf[3 * 8];
    fg_gru_run r = {0};
    r.batch = 3, r.timesteps = 200, r.x = p.x, r.x_sb = -1, r.x_st = 4, r.y = y, r.y_sb = 8;
    CHECK(fg_gru_forward(&p.cfg, p.packed, &r, NULL) == FG_ERR_ARG, "negative stride accepted");
    r.x_sb = INT64_MAX / 2;
    CHECK(fg_gru_forward(&p.cfg, p.packed, &r, NULL) == FG_ERR_ARG, "overflowing span accepted");
    fg_request_cancel(1);
    CHECK(run(&p, "", 1, 0, 0, 0, 0, 0, y, hf) == FG_ERR_INTERRUPTED, "cancel ignored");
    fg_request_cancel(0);
    CHECK(run(&p, "", 1, 0, 0, 0, 0, 0, y, hf) == FG_OK, "run after cancel cleared: %s",
          fg_last_error());
    free_problem(&p);
    /* the units split (batch 1, several threads) stops too, all threads together */
    make_problem(&p, 4, 256, 0, 1, FG_ACT_TANH, FG_ACT_SIGMOID, 1, 200);
    float y1[256], hf1[256];
    fg_request_cancel(1);
    CHECK(run(&p, "", 3, 0, 0, 0, 0, 0, y1, hf1) == FG_ERR_INTERRUPTED,
          "units split: cancel ignored");
    fg_request_cancel(0);
    CHECK(run(&p, "", 3, 0, 0, 0, 0, 0, y1, hf1) == FG_OK, "units split after cancel: %s",
          fg_last_error());
    free_problem(&p);
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0; /* e.g. under qemu */
    printf("ISA available 0x%x, active %s, OpenMP %d, default threads %d\n", fg_isa_available(),
           fg_isa_name(fg_isa_active()), fg_have_openmp(), fg_default_threads());
    test_activation_accuracy();
    test_errors_and_cancel();
    test_layouts_and_in_place_state();
    test_state_written_into_y();
    test_isa_paths_and_threads(quick ? 1 : 4);
    test_block_order();
    if (!quick) test_units_split(), test_streaming_split();
    printf(failures ? "%d FAILURES\n" : "all passed\n", failures);
    return failures != 0;
}
