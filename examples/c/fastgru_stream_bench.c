/* fastgru_stream_bench - time the streaming step of a converted model, with no Python.
 *
 *   fastgru_stream_bench MODEL.fgru [steps] [threads] [precision]
 *
 * Batch 1 (or a stateful model's fixed batch), random float inputs (ids 0 for int inputs).
 * Runs `steps` / 10 warm-up steps, then times every one of `steps` steps (default 20000) and
 * prints the median and the mean in nanoseconds per step. precision: float32 (default) or
 * bfloat16 (every GRU's matrix products in bf16: fg_model_set_precision). The workspace and
 * state are made once, so the timed loop allocates nothing, as in an embedded program.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fastgru.h"
#include "fg_alloc.h" /* aligned blocks on Windows too */

#define MAX_IO 64

static int fail(void)
{
    fprintf(stderr, "fastgru: %s\n", fg_last_error());
    return 2;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Bytes of one step of a tensor for `batch` rows (a time axis counts as length 1). */
static size_t step_bytes(const fg_tensor_info *info, int64_t batch)
{
    size_t n = (size_t)batch * 4;
    for (int k = 0; k < info->rank; k++) n *= info->dims[k] == -1 ? 1 : (size_t)info->dims[k];
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 5) {
        fprintf(stderr, "usage: %s MODEL.fgru [steps] [threads] [precision: float32|bfloat16]\n",
                argv[0]);
        return 2;
    }
    int precision = FG_PRECISION_FP32;
    if (argc > 4 && strcmp(argv[4], "float32") != 0) {
        if (strcmp(argv[4], "bfloat16") != 0 && strcmp(argv[4], "bf16") != 0) {
            fprintf(stderr, "fastgru: precision must be float32 or bfloat16, got %s\n", argv[4]);
            return 2;
        }
        precision = FG_PRECISION_BF16;
    }
    long steps = argc > 2 ? atol(argv[2]) : 20000;
    int32_t nthreads = argc > 3 ? atoi(argv[3]) : 0;
    if (steps < 1) {
        fprintf(stderr, "fastgru: steps must be >= 1\n");
        return 2;
    }
    fg_model *model = NULL;
    if (fg_model_load_file(argv[1], &model) != FG_OK || fg_model_check_streamable(model) != FG_OK ||
        fg_model_set_precision(model, precision) != FG_OK)
        return fail();
    int n_in = fg_model_num_inputs(model), n_out = fg_model_num_outputs(model);
    if (n_in > MAX_IO || n_out > MAX_IO) {
        fprintf(stderr, "fastgru: too many inputs or outputs for this benchmark\n");
        return 2;
    }
    int64_t batch = fg_model_stateful_batch(model) ? fg_model_stateful_batch(model) : 1;
    int64_t ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};

    const void *inputs[MAX_IO];
    void *outputs[MAX_IO];
    fg_tensor_info info;
    unsigned seed = 1;
    for (int i = 0; i < n_in; i++) {
        fg_model_input_info(model, i, &info);
        size_t n = step_bytes(&info, batch);
        float *x = calloc(n / 4 + 1, 4);
        if (!x) return 2;
        if (info.dtype == FG_DTYPE_FLOAT32)
            for (size_t k = 0; k < n / 4; k++)
                x[k] = (float)((seed = seed * 1103515245u + 12345u) >> 16 & 0x7fff) / 16384.f - 1;
        inputs[i] = x;
    }
    for (int k = 0; k < n_out; k++) {
        fg_model_output_info(model, k, &info);
        if (!(outputs[k] = calloc(step_bytes(&info, batch) / 4 + 1, 4))) return 2;
    }
    fg_state *state = NULL;
    size_t ws_bytes = 0;
    if (fg_state_create(model, batch, &state) != FG_OK ||
        fg_model_workspace_bytes(model, batch, ones, nthreads, &ws_bytes) != FG_OK)
        return fail();
    void *ws = fg_aligned_alloc(64, (ws_bytes + 63) / 64 * 64 + 64);
    double *ns = malloc(sizeof(double) * (size_t)steps);
    if (!ws || !ns) return 2;

    for (long s = 0; s < steps / 10 + 1; s++)
        if (fg_model_step(model, state, inputs, outputs, ws, ws_bytes, nthreads) != FG_OK)
            return fail();
    double total = 0;
    for (long s = 0; s < steps; s++) {
        double t0 = now_ns();
        if (fg_model_step(model, state, inputs, outputs, ws, ws_bytes, nthreads) != FG_OK)
            return fail();
        ns[s] = now_ns() - t0;
        total += ns[s];
    }
    qsort(ns, (size_t)steps, sizeof *ns, by_value);
    printf("%s: batch %lld, %d thread(s), %s, isa %s, %ld steps: median %.0f ns/step, "
           "mean %.0f ns/step\n", argv[1], (long long)batch,
           nthreads > 0 ? nthreads : fg_default_threads(),
           precision == FG_PRECISION_BF16 ? "bfloat16" : "float32", fg_isa_name(fg_isa_active()),
           steps,
           ns[steps / 2], total / (double)steps);

    for (int i = 0; i < n_in; i++) free((void *)inputs[i]);
    for (int k = 0; k < n_out; k++) free(outputs[k]);
    fg_aligned_free(ws);
    free(ns);
    fg_state_free(state);
    fg_model_free(model);
    return 0;
}
