/* fuzz_image.c - libFuzzer / AFL++ target: load a model image from bytes, then run it.
 *
 * The input is a .fgru image (docs/FORMAT.md). Before loading, the harness rewrites the
 * header's total-size and CRC fields to match the mutated bytes: otherwise nearly every
 * mutation would stop at the checksum and the parser behind it would go unexplored (the
 * checksum path itself is covered by tests/test_format.py). A model that loads is then run
 * on a tiny batch (2 sequences of 3 steps, every time axis), with zero-length sequences and an
 * empty batch, streamed for two steps when it is causal, and run once with a stateful model's
 * state, all through the public C API.
 *
 * Build and run: tools/fuzz.sh (clang -fsanitize=fuzzer,address,undefined).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fastgru.h"

#define HEADER_BYTES 128
#define CRC_FROM 32
#define MAX_TENSOR_ELEMS (1 << 16)   /* the harness skips runs with larger inputs/outputs */

static uint32_t crc_table[256];

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
        crc_table[i] = c;
    }
}

static uint32_t crc32_ieee(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    while (n--) c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

static void put_le(uint8_t *p, uint64_t v, int bytes) {
    for (int k = 0; k < bytes; k++) p[k] = (uint8_t)(v >> (8 * k));
}

/* Elements of one batch of tensor `info` with its time axis times[] long; -1 if too many. */
static int64_t tensor_elems(const fg_tensor_info *info, int64_t batch, const int64_t *times) {
    int64_t n = batch;
    for (int k = 0; k < info->rank; k++) {
        int64_t d = info->dims[k] == -1 ? times[info->time_axis] : info->dims[k];
        if (d < 0 || (d && n > MAX_TENSOR_ELEMS / d)) return -1;
        n *= d;
    }
    return n;
}

typedef struct io {
    int n_in, n_out;
    void **in, **out;
} io;

static void io_free(io *b) {
    for (int i = 0; b->in && i < b->n_in; i++) free(b->in[i]);
    for (int i = 0; b->out && i < b->n_out; i++) free(b->out[i]);
    free(b->in);
    free(b->out);
    memset(b, 0, sizeof *b);
}

/* Inputs filled with small values of each dtype (ids 0..3, which some Embedding tables lack:
 * the range check is fuzzed too), outputs allocated. 0 when a tensor is too large. */
static int io_make(const fg_model *m, int64_t batch, const int64_t *times, io *b) {
    memset(b, 0, sizeof *b);
    b->n_in = fg_model_num_inputs(m);
    b->n_out = fg_model_num_outputs(m);
    b->in = calloc((size_t)b->n_in + 1, sizeof *b->in);
    b->out = calloc((size_t)b->n_out + 1, sizeof *b->out);
    if (!b->in || !b->out) return 0;
    for (int i = 0; i < b->n_in + b->n_out; i++) {
        fg_tensor_info info;
        int is_in = i < b->n_in;
        if (is_in ? fg_model_input_info(m, i, &info) : fg_model_output_info(m, i - b->n_in, &info))
            return 0;
        int64_t n = tensor_elems(&info, batch, times);
        if (n < 0) return 0;
        void *p = calloc((size_t)n + 1, 4);
        if (!p) return 0;
        if (is_in) {
            b->in[i] = p;
            for (int64_t k = 0; k < n; k++) {
                if (info.dtype == FG_DTYPE_FLOAT32) ((float *)p)[k] = (float)(k % 7) * 0.25f - 0.5f;
                else if (info.dtype == FG_DTYPE_INT32) ((int32_t *)p)[k] = (int32_t)(k % 4);
                else ((uint8_t *)p)[k] = (uint8_t)(k % 3 != 0);
            }
        } else {
            b->out[i - b->n_in] = p;
        }
    }
    return 1;
}

static void exercise(const fg_model *m) {
    size_t meta_bytes;
    (void)fg_model_metadata(m, &meta_bytes);
    for (int i = 0;; i++) {
        const void *data;
        size_t nbytes;
        int32_t layout;
        if (fg_model_weight(m, i, &data, &nbytes, &layout)) break;
    }
    /* every input's time axis 3 (or 0, or 1) long; the lengths layers derive follow */
    int64_t steps[8] = {3, 3, 3, 3, 3, 3, 3, 3}, zero_steps[8] = {0}, one_step[8];
    for (int k = 0; k < 8; k++) one_step[k] = 1;
    fg_model_resolve_timesteps(m, steps);
    fg_model_resolve_timesteps(m, zero_steps);
    fg_model_resolve_timesteps(m, one_step);
    int64_t batch = fg_model_stateful_batch(m);
    if (batch <= 0 || batch > 4) batch = 2;
    io b;
    if (io_make(m, batch, steps, &b)) {
        fg_model_run(m, NULL, batch, steps, (const void *const *)b.in, b.out, NULL, 0, 1);
        fg_state *s = NULL;
        if (fg_model_stateful_batch(m) && !fg_state_create(m, batch, &s))
            fg_model_run(m, s, batch, steps, (const void *const *)b.in, b.out, NULL, 0, 1);
        fg_state_free(s);
    }
    io_free(&b);
    /* the degenerate shapes: zero-length sequences, an empty batch */
    if (io_make(m, 1, zero_steps, &b))
        fg_model_run(m, NULL, 1, zero_steps, (const void *const *)b.in, b.out, NULL, 0, 1);
    io_free(&b);
    if (io_make(m, 0, steps, &b))
        fg_model_run(m, NULL, 0, steps, (const void *const *)b.in, b.out, NULL, 0, 1);
    io_free(&b);
    if (fg_model_check_streamable(m) == FG_OK && io_make(m, 2, one_step, &b)) {
        fg_state *s = NULL;
        if (!fg_state_create(m, 2, &s))
            for (int t = 0; t < 2; t++)
                fg_model_step(m, s, (const void *const *)b.in, b.out, NULL, 0, 1);
        fg_state_free(s);
    }
    io_free(&b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    crc_init();
    fg_set_max_bytes(64u << 20);   /* a hostile shape must fail cleanly, not exhaust memory */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* An aligned copy, so the loader takes its zero-copy path (the usual one for files). */
    uint8_t *img = aligned_alloc(64, (size + 64) / 64 * 64);
    if (!img) return 0;
    memcpy(img, data, size);
    if (size >= HEADER_BYTES) {
        put_le(img + 16, size, 8);
        put_le(img + 24, crc32_ieee(img + CRC_FROM, size - CRC_FROM), 4);
    }
    fg_model *m = NULL;
    if (fg_model_load(img, size, &m) == FG_OK) {
        /* inputs whose last byte is odd run the GRU products in bf16 (repacked weights) */
        if (data[size - 1] & 1) (void)fg_model_set_precision(m, FG_PRECISION_BF16);
        exercise(m);
        fg_model_free(m);
    }
    free(img);
    return 0;
}
