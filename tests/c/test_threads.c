/* test_threads.c - one loaded model run from 8 threads at once gives bitwise the serial results;
 * so does a batch-1 GRU layer whose units are split on a 3-thread team (fg_team.c) while the
 * other callers find the team busy and run alone. Then, alone: the same layer and a batch
 * split with a team worker stalled before every step (fg_team_set_stall: the others take its
 * pieces), or inside its pieces (fg_team_set_stall_in_piece: the caller ends the job for the
 * workers and does the rest), give the same bytes, and a cancel flag stops only the runs of the thread that set it.
 *
 * usage: test_threads IMAGE X.f32 B T F U
 *   IMAGE: a causal model with one float input (B, T, F) and one output (B, T, U).
 * Each thread runs the whole batch ROUNDS times (its own workspace, allocated per call) and
 * streams it step by step through its own fg_state; every result must equal, byte for byte,
 * the same call made serially before the threads start. Driven by tests/test_concurrency.py
 * (also built with ThreadSanitizer by `make -C tests/c sanitize`). Prints "ok" on success.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_gru.h"
#include "fg_model.h"
#include "fg_team.h"

#define THREADS 8
#define ROUNDS 20

typedef struct shared {
    const fg_model *model;
    const float *x;
    int64_t B, T, F, U;
    const float *want_run, *want_stream;   /* the serial results */
    const void *gru;                       /* packed GRU layer for the units split */
    const float *want_gru;
} shared;

/* The units split's layer: batch 1, 128 units (8 blocks), h0 carried in place. */
enum { GRU_F = 64, GRU_U = 128, GRU_T = 8 };
static const fg_gru_config gru_cfg = {
    GRU_F, GRU_U, 1, 1, FG_ACT_TANH, FG_ACT_SIGMOID, FG_PRECISION_FP32, FG_CELL_GRU};
static float gru_x[GRU_T * GRU_F];

static int run_gru(const shared *s, int nthreads, float *y) {
    float h[GRU_U] = {0};
    fg_gru_run r = {0};
    r.batch = 1, r.timesteps = GRU_T, r.x = gru_x, r.x_sb = GRU_T * GRU_F, r.x_st = GRU_F;
    r.h0 = h, r.h_final = h, r.y = y, r.y_sb = GRU_T * GRU_U, r.y_st = GRU_U;
    r.return_sequences = 1, r.nthreads = nthreads;
    return fg_gru_forward(&gru_cfg, s->gru, &r, NULL) != FG_OK;
}

static void *pack_gru(void) {
    size_t nw = GRU_F * 3 * GRU_U, nu = GRU_U * 3 * GRU_U;
    float *w = malloc((nw + nu + 6 * GRU_U) * sizeof(float));
    void *packed = aligned_alloc(64, fg_gru_packed_bytes(&gru_cfg));
    if (!w || !packed) return NULL;
    for (size_t i = 0; i < nw + nu + 6 * GRU_U; i++)
        w[i] = (float)((i * 7919) % 200) / 1600 - 0.06f;
    for (size_t i = 0; i < GRU_T * GRU_F; i++) gru_x[i] = (float)(i % 13) / 13 - 0.5f;
    int bad = fg_gru_pack(&gru_cfg, w, w + nw, w + nw + nu, packed) != FG_OK;
    free(w);
    if (bad) { free(packed); return NULL; }
    return packed;
}

/* Streams x step by step into y (B, T, U) through a fresh state. */
static int stream_all(const shared *s, float *y) {
    fg_state *st = NULL;
    if (fg_state_create(s->model, s->B, &st)) return 1;
    float *xt = malloc((size_t)(s->B * s->F) * sizeof(float));
    float *yt = malloc((size_t)(s->B * s->U) * sizeof(float));
    int bad = !xt || !yt;
    for (int64_t t = 0; t < s->T && !bad; t++) {
        for (int64_t b = 0; b < s->B; b++)
            memcpy(xt + b * s->F, s->x + (b * s->T + t) * s->F, (size_t)s->F * sizeof(float));
        const void *in[1] = {xt};
        void *out[1] = {yt};
        bad = fg_model_step(s->model, st, in, out, NULL, 0, 1) != FG_OK;
        for (int64_t b = 0; b < s->B && !bad; b++)
            memcpy(y + (b * s->T + t) * s->U, yt + b * s->U, (size_t)s->U * sizeof(float));
    }
    free(xt);
    free(yt);
    fg_state_free(st);
    return bad;
}

static int run_all(const shared *s, float *y) {
    const void *in[1] = {s->x};
    void *out[1] = {y};
    return fg_model_run(s->model, NULL, s->B, &s->T, in, out, NULL, 0, 1) != FG_OK;
}

/* A GRU run on `nthreads` threads of batch `batch` rows (the units split at batch 1, else the
 * batch split) into y (batch x GRU_T x GRU_U). */
static int run_gru_rows(const shared *s, int nthreads, int64_t batch, float *y) {
    fg_gru_run r = {0};
    r.batch = batch, r.timesteps = GRU_T, r.x = gru_x, r.x_sb = 0, r.x_st = GRU_F;
    r.y = y, r.y_sb = GRU_T * GRU_U, r.y_st = GRU_U;
    r.return_sequences = 1, r.nthreads = nthreads;
    return fg_gru_forward(&gru_cfg, s->gru, &r, NULL);
}

/* Runs of 2 threads with worker 1 stalled give the 1-thread bytes. */
static int stalled_runs_match(const shared *s) {
    enum { ROWS = 16 };
    static float want[ROWS * GRU_T * GRU_U], got[ROWS * GRU_T * GRU_U];
    int bad = 0;
    for (int64_t batch = 1; batch <= ROWS; batch += ROWS - 1) {
        size_t bytes = (size_t)batch * GRU_T * GRU_U * sizeof(float);
        bad |= run_gru_rows(s, 1, batch, want) != FG_OK;
        for (int inside = 0; inside < 2; inside++) { /* before each step, then in each piece */
            if (inside)
                fg_team_set_stall_in_piece(2000);
            else
                fg_team_set_stall(2000);
            for (int r = 0; r < 3; r++)
                bad |= run_gru_rows(s, 2, batch, got) != FG_OK || memcmp(got, want, bytes) != 0;
            fg_team_set_stall(0);
            fg_team_set_stall_in_piece(0);
        }
    }
    return bad;
}

static int cancelled_status;

/* A thread whose cancel flag is set: its runs stop. */
static void *cancelled_caller(void *arg) {
    static int flag = 1;
    static float y[GRU_T * GRU_U];
    fg_set_cancel_flag(&flag);
    cancelled_status = run_gru_rows(arg, 2, 1, y);
    return NULL;
}

/* A cancel flag belongs to the thread that set it: the runs of others go on. */
static int cancel_is_per_thread(const shared *s) {
    static float y[GRU_T * GRU_U];
    pthread_t th;
    if (pthread_create(&th, NULL, cancelled_caller, (void *)s)) return 1;
    pthread_join(th, NULL);
    return cancelled_status != FG_ERR_INTERRUPTED || run_gru_rows(s, 2, 1, y) != FG_OK;
}

static void *worker(void *arg) {
    const shared *s = arg;
    size_t n = (size_t)(s->B * s->T * s->U);
    float *y = malloc(n * sizeof(float));
    intptr_t mismatches = !y;
    for (int r = 0; r < ROUNDS && y; r++) {
        mismatches += run_all(s, y) || memcmp(y, s->want_run, n * sizeof(float)) != 0;
        mismatches += stream_all(s, y) || memcmp(y, s->want_stream, n * sizeof(float)) != 0;
        float yg[GRU_T * GRU_U];
        mismatches += run_gru(s, 3, yg) || memcmp(yg, s->want_gru, sizeof yg) != 0;
    }
    free(y);
    return (void *)mismatches;
}

int main(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: %s IMAGE X B T F U\n", argv[0]); return 2; }
    shared s = {0};
    s.B = atoll(argv[3]); s.T = atoll(argv[4]); s.F = atoll(argv[5]); s.U = atoll(argv[6]);
    size_t n_x = (size_t)(s.B * s.T * s.F), n_y = (size_t)(s.B * s.T * s.U);
    float *x = malloc(n_x * sizeof(float));
    FILE *f = fopen(argv[2], "rb");
    if (!x || !f || fread(x, sizeof(float), n_x, f) != n_x) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 2;
    }
    fclose(f);
    fg_model *m = NULL;
    if (fg_model_load_file(argv[1], &m)) { fprintf(stderr, "%s\n", fg_last_error()); return 2; }
    s.model = m;
    s.x = x;
    float *want_run = malloc(n_y * sizeof(float)), *want_stream = malloc(n_y * sizeof(float));
    if (!want_run || !want_stream || run_all(&s, want_run) || stream_all(&s, want_stream)) {
        fprintf(stderr, "serial run failed: %s\n", fg_last_error());
        return 1;
    }
    s.want_run = want_run;
    s.want_stream = want_stream;
    static float want_gru[GRU_T * GRU_U];
    if (!(s.gru = pack_gru()) || run_gru(&s, 1, want_gru)) {
        fprintf(stderr, "GRU layer: %s\n", fg_last_error());
        return 1;
    }
    s.want_gru = want_gru;
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&th[i], NULL, worker, &s)) {
            fprintf(stderr, "pthread_create failed\n");
            return 2;
        }
    intptr_t bad = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad += (intptr_t)r;
    }
    fg_model_free(m);
    free(x);
    free(want_run);
    free(want_stream);
    if (bad) { printf("%ld of %d calls differ from the serial result\n", (long)bad,
                      THREADS * ROUNDS * 3); return 1; }
    if (stalled_runs_match(&s)) { printf("a run with a stalled worker differs\n"); return 1; }
    if (cancel_is_per_thread(&s)) { printf("a cancel flag reached another thread\n"); return 1; }
    free((void *)s.gru);
    printf("ok\n");
    return 0;
}
