/* test_threads.c - one loaded model run from 8 threads at once gives bitwise the serial results.
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

#include "fg_model.h"

#define THREADS 8
#define ROUNDS 20

typedef struct shared {
    const fg_model *model;
    const float *x;
    int64_t B, T, F, U;
    const float *want_run, *want_stream;   /* the serial results */
} shared;

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

static void *worker(void *arg) {
    const shared *s = arg;
    size_t n = (size_t)(s->B * s->T * s->U);
    float *y = malloc(n * sizeof(float));
    intptr_t mismatches = !y;
    for (int r = 0; r < ROUNDS && y; r++) {
        mismatches += run_all(s, y) || memcmp(y, s->want_run, n * sizeof(float)) != 0;
        mismatches += stream_all(s, y) || memcmp(y, s->want_stream, n * sizeof(float)) != 0;
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
                      THREADS * ROUNDS * 2); return 1; }
    printf("ok\n");
    return 0;
}
