/* test_model_api.c - the model C API with no Python: load from a file and (zero copy) from a
 * buffer, run with a caller workspace, stream step by step, and the error paths.
 *
 * usage: test_model_api IMAGE X.f32 Y.f32 B T F U
 *   IMAGE: a causal model with one float input (B, T, F) and one output (B, T, U);
 *   X.f32 / Y.f32: raw float32 input and the output Model.predict gave for it.
 * Built and driven by tests/test_model_capi.py. Exit 0 and "ok" when every check passes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastgru.h"

static int failures = 0;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL %s:%d: ", __FILE__, \
    __LINE__); printf(__VA_ARGS__); printf(" [%s]\n", fg_last_error()); } } while (0)

static void *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = aligned_alloc(64, (*n / 64 + 1) * 64);
    if (buf && fread(buf, 1, *n, f) != *n) { free(buf); buf = NULL; }
    fclose(f);
    return buf;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

int main(int argc, char **argv) {
    if (argc != 8) { fprintf(stderr, "usage: %s IMAGE X Y B T F U\n", argv[0]); return 2; }
    int64_t B = atoll(argv[4]), T = atoll(argv[5]), F = atoll(argv[6]), U = atoll(argv[7]);
    size_t image_n, x_n, y_n;
    void *image = read_all(argv[1], &image_n);
    float *x = read_all(argv[2], &x_n), *want = read_all(argv[3], &y_n);
    if (!image || !x || !want || x_n != (size_t)(B * T * F) * 4 || y_n != (size_t)(B * T * U) * 4) {
        fprintf(stderr, "bad input files\n");
        return 2;
    }

    fg_model *from_file = NULL, *in_place = NULL;
    CHECK(fg_model_load_file(argv[1], &from_file) == FG_OK, "load_file");
    CHECK(fg_model_load(image, image_n, &in_place) == FG_OK, "load from buffer");
    if (!from_file || !in_place) return 1;
    fg_tensor_info info;
    CHECK(fg_model_num_inputs(in_place) == 1 && fg_model_num_outputs(in_place) == 1, "io counts");
    CHECK(fg_model_input_info(in_place, 0, &info) == FG_OK && info.rank == 2 &&
          info.dims[0] == -1 && info.dims[1] == F, "input info");
    CHECK(fg_model_check_streamable(in_place) == FG_OK, "streamable");
    CHECK(fg_model_num_time_axes(in_place) == 1, "one time axis");

    /* the memory reported: a model loaded from a file also holds the file's bytes (whole
     * 64-byte lines and one spare); bf16 adds its repacked weights and fp32 gives them back */
    size_t held = fg_model_memory_bytes(in_place), state_n = 0, state_more = 0;
    CHECK(held > 0 && fg_model_memory_bytes(from_file) == held + (image_n / 64 + 1) * 64,
          "memory bytes: in place %zu, from a file %zu", held, fg_model_memory_bytes(from_file));
    CHECK(fg_model_set_precision(in_place, FG_PRECISION_BF16) == FG_OK &&
              fg_model_memory_bytes(in_place) > held,
          "bf16 weights are counted");
    CHECK(fg_model_set_precision(in_place, FG_PRECISION_FP32) == FG_OK &&
              fg_model_memory_bytes(in_place) == held,
          "fp32 gives the bf16 weights back");
    CHECK(fg_state_bytes(in_place, B, &state_n) == FG_OK && state_n % 64 == 0 &&
              fg_state_bytes(in_place, 100 * B, &state_more) == FG_OK && state_more > state_n,
          "state bytes %zu, %zu", state_n, state_more);
    CHECK(fg_state_bytes(in_place, 0, &state_n) == FG_ERR_ARG && state_n == 0, "batch 0");
    const int64_t one = 1;

    /* batch run with a caller workspace: nothing allocated inside */
    size_t ws_n = 0;
    CHECK(fg_model_workspace_bytes(in_place, B, &T, 1, &ws_n) == FG_OK && ws_n > 0, "ws size");
    void *ws = aligned_alloc(64, ws_n);
    float *y = calloc((size_t)(B * T * U), sizeof(float));
    const void *inputs[1] = {x};
    void *outputs[1] = {y};
    for (int k = 0; k < 2; k++) {
        const fg_model *m = k ? from_file : in_place;
        memset(y, 0, (size_t)(B * T * U) * 4);
        CHECK(fg_model_run(m, NULL, B, &T, inputs, outputs, ws, ws_n, 1) == FG_OK, "run");
        CHECK(max_diff(y, want, (size_t)(B * T * U)) <= 1e-6, "run output differs by %g",
              max_diff(y, want, (size_t)(B * T * U)));
    }
    CHECK(fg_model_run(in_place, NULL, B, &T, inputs, outputs, ws, ws_n - 64, 1) == FG_ERR_ARG,
          "a short workspace is refused");

    /* streaming: step t's output is row t of the sequence output */
    fg_state *state = NULL;
    CHECK(fg_state_create(in_place, B, &state) == FG_OK, "state");
    size_t step_ws_n = 0;
    CHECK(fg_model_workspace_bytes(in_place, B, &one, 1, &step_ws_n) == FG_OK, "step ws");
    void *step_ws = aligned_alloc(64, step_ws_n + 64);
    float *x_t = malloc((size_t)(B * F) * 4), *y_t = malloc((size_t)(B * U) * 4);
    double worst = 0;
    for (int pass = 0; pass < 2; pass++) {   /* the second pass after a reset */
        for (int64_t t = 0; t < T; t++) {
            for (int64_t b = 0; b < B; b++) memcpy(x_t + b * F, x + (b * T + t) * F, F * 4);
            const void *in_t[1] = {x_t};
            void *out_t[1] = {y_t};
            /* a stream keeps its plan: it must still refuse a short workspace, re-plan when
             * the thread count changes and allocate when given no workspace */
            int32_t threads = 1 + (int32_t)(t % 2);
            CHECK(fg_model_step(in_place, state, in_t, out_t, step_ws, step_ws_n - 64,
                                threads) == FG_ERR_ARG, "a short step workspace is refused");
            CHECK(fg_model_step(in_place, state, in_t, out_t, t == 2 ? NULL : step_ws,
                                step_ws_n, threads) == FG_OK, "step");
            for (int64_t b = 0; b < B; b++)
                worst = fmax(worst, max_diff(y_t + b * U, want + (b * T + t) * U, (size_t)U));
        }
        CHECK(fg_state_reset(state) == FG_OK, "reset");
    }
    CHECK(worst <= 1e-5, "stream differs from the batch run by %g", worst);
    CHECK(fg_model_run(in_place, state, B + 1, &T, inputs, outputs, NULL, 0, 1) == FG_ERR_STATE,
          "a state of another batch size is refused");

    fg_state_free(state);
    fg_model_free(in_place);   /* before the buffer it runs from is damaged below */

    /* error paths */
    fg_model *bad = NULL;
    ((unsigned char *)image)[image_n / 2] ^= 0x40;
    CHECK(fg_model_load(image, image_n, &bad) == FG_ERR_FORMAT && !bad &&
          strstr(fg_last_error(), "checksum"), "corrupt image");
    CHECK(fg_model_load(image, 100, &bad) == FG_ERR_FORMAT, "truncated image");
    CHECK(fg_model_load_file("/nonexistent/model.fgru", &bad) == FG_ERR_IO, "missing file");

    fg_model_free(from_file);
    free(image); free(x); free(want); free(ws); free(y); free(step_ws); free(x_t); free(y_t);
    if (failures) return 1;
    printf("ok\n");
    return 0;
}
