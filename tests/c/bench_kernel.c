/* bench_kernel.c - rough timings of fg_gru_forward (tanh / sigmoid, reset_after=1 or 0, 64 -> 256
 * units, return_sequences): batch 1 x 512 steps and batch 256 x 100 steps, per ISA and
 * thread count. Best of several runs, milliseconds of wall time; on one thread also the
 * process CPU time, steadier than wall time on a shared machine. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fg_gru.h"

static double now_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int reset_after = 1; /* `bench_kernel 0` times reset_after=0 */

static double bench(const char *isa, int nthreads, int64_t B, int64_t T, int reps,
                    clockid_t clock)
{
    const int F = 64, u = 256;
    fg_gru_config cfg = {
        F, u, reset_after, 1, FG_ACT_TANH, FG_ACT_SIGMOID, FG_PRECISION_FP32, FG_CELL_GRU};
    float *W = calloc((size_t)F * 3 * u, 4), *U = calloc((size_t)u * 3 * u, 4);
    float *b = calloc(6 * (size_t)u, 4), *x = calloc((size_t)(B * T * F), 4);
    float *y = malloc(sizeof(float) * (size_t)(B * T * u));
    for (int64_t i = 0; i < (int64_t)F * 3 * u; i++) W[i] = (float)((i * 7919) % 200 - 100) / 800;
    for (int64_t i = 0; i < (int64_t)u * 3 * u; i++) U[i] = (float)((i * 104729) % 200 - 100) / 3200;
    for (int64_t i = 0; i < B * T * F; i++) x[i] = (float)(i % 17) / 17;
    void *packed = aligned_alloc(64, fg_gru_packed_bytes(&cfg));
    fg_gru_pack(&cfg, W, U, b, packed);
    size_t ws_bytes = (fg_gru_workspace_bytes(&cfg, B, T, nthreads) + 63) / 64 * 64;
    void *ws = aligned_alloc(64, ws_bytes);
    fg_gru_run r = {0};
    r.batch = B, r.timesteps = T, r.x = x, r.x_sb = T * F, r.x_st = F;
    r.y = y, r.y_sb = T * u, r.y_st = u, r.return_sequences = 1, r.nthreads = nthreads;
    fg_set_isa_cap(isa);
    double best = 1e30;
    for (int i = 0; i < reps; i++) {
        double t0 = now_ms(clock);
        if (fg_gru_forward(&cfg, packed, &r, ws) != FG_OK) printf("error %s\n", fg_last_error());
        double t = now_ms(clock) - t0;
        if (t < best) best = t;
    }
    fg_set_isa_cap(NULL);
    free(W), free(U), free(b), free(x), free(y), free(packed), free(ws);
    return best;
}

int main(int argc, char **argv)
{
    if (argc > 1) reset_after = atoi(argv[1]) != 0;
    printf("reset_after=%d\n", reset_after);
    const char *isas[] = {"scalar", "avx2", "avx512"};
    for (int i = 0; i < 3; i++)
        for (int nt = 1; nt <= 2; nt++) {
            clockid_t clock = nt == 1 ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC;
            double small = bench(isas[i], nt, 1, 512, 5, clock);
            double big = bench(isas[i], nt, 256, 100, 3, clock);
            double gflops = 256.0 * 100 * 6 * (64 + 256) * 256 / (big * 1e6);
            printf("%-7s %d thread(s) %s: B=1 T=512 %8.2f ms   B=256 T=100 %8.2f ms (%.0f GFLOP/s)\n",
                   isas[i], nt, nt == 1 ? "cpu " : "wall", small, big, gflops);
        }
    return 0;
}
