/* loader_fuzz.c - the C loader's mutation test on the bare-metal build: thousands of hostile
 * variants of a model image (header words set to edge values, random words in the tables,
 * random bytes before the weight data; the checksum fixed up so that the checks behind it
 * are reached). Each must load and run, or be refused; a fault ends the run with status 99
 * (startup.c). Prints "loaded N refused M ran R" for tests/test_mcu.py.
 *
 * Built by examples/mcu/Makefile (target loader_fuzz) with MODEL_H / MODEL_NAME. */
#include <stdint.h>
#include <string.h>

#include "fastgru.h"
#include "fg_mcu.h"
#include "semihost.h"

#include MODEL_H

#define CAT(a, b) a##b
#define IMAGE_OF(name) CAT(name, _image)

#define MAX_IMAGE_BYTES 65536
#define RANDOM_MUTATIONS 1500   /* of each random kind, as tests/test_format.py */
#define MAX_FEED_FLOATS 4096

static _Alignas(64) uint8_t blob[MAX_IMAGE_BYTES];
static uint8_t pool[32768];
static _Alignas(64) uint8_t workspace[65536];
static float feed[8][MAX_FEED_FLOATS];   /* inputs, then outputs */
static uint32_t loaded, refused, ran;

/* xorshift32: the same mutations on every run */
static uint32_t rng_state = 12345u;
static uint32_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint32_t word_at(size_t pos)
{
    uint32_t v;
    memcpy(&v, blob + pos, 4);
    return v;
}

static void set_word(size_t pos, uint32_t v) { memcpy(blob + pos, &v, 4); }

/* Elements of a tensor for batch 2 and every time axis 3 long; 0 when too many to feed. */
static int64_t feed_count(const fg_tensor_info *t)
{
    int64_t n = 2;
    for (int d = 0; d < t->rank; d++) {
        n *= t->dims[d] < 0 ? 3 : t->dims[d];
        if (n > MAX_FEED_FLOATS) return 0;
    }
    return n;
}

/* A model that loads must also run (or refuse the run) without a fault. */
static void run_once(const fg_model *m)
{
    int n_in = fg_model_num_inputs(m), n_out = fg_model_num_outputs(m);
    if (n_in + n_out > 8) return;
    const void *in[8];
    void *out[8];
    fg_tensor_info t;
    for (int i = 0; i < n_in + n_out; i++) {
        if (i < n_in) fg_model_input_info(m, i, &t);
        else fg_model_output_info(m, i - n_in, &t);
        if (feed_count(&t) == 0) return;
        for (int k = 0; k < MAX_FEED_FLOATS; k++) feed[i][k] = t.dtype == FG_DTYPE_FLOAT32 ? 1.0f : 0.0f;
        if (i < n_in) in[i] = feed[i];
        else out[i - n_in] = feed[i];
    }
    int64_t times[8] = {3, 3, 3, 3, 3, 3, 3, 3};
    size_t need;
    if (fg_model_workspace_bytes(m, 2, times, 1, &need) != FG_OK || need > sizeof workspace)
        return;
    if (fg_model_run(m, NULL, 2, times, in, out, workspace, sizeof workspace, 1) == FG_OK) ran++;
}

static void try_load(size_t image_bytes)
{
    set_word(24, crc32_of(blob + 32, image_bytes - 32));
    fg_mcu_pool(pool, sizeof pool);
    fg_model *m;
    if (fg_model_load(blob, image_bytes, &m) != FG_OK) {
        refused++;
        return;
    }
    loaded++;
    run_once(m);
    fg_model_free(m);
}

int main(void)
{
    size_t n;
    const unsigned char *image = IMAGE_OF(MODEL_NAME)(&n);
    if (n > sizeof blob || n < 128) return 2;
    uint32_t tables_end;   /* the metadata offset: every table lies before it */
    memcpy(&tables_end, image + 112, 4);
    if (tables_end > n || tables_end < 132) return 2;
    static const uint32_t words[] = {0, 1, 2, 0x7F, 0xFFFF, 0x7FFFFFFF, 0x80000000u,
                                     0xFFFFFFFFu, 0xFFFFFFC0u};
    for (size_t pos = 32; pos < 128; pos += 4) {
        memcpy(blob, image, n);
        uint32_t old = word_at(pos);
        const uint32_t near[] = {old + 1, old - 1, old + 64, old * 2};
        for (size_t k = 0; k < 13; k++) {
            memcpy(blob, image, n);
            set_word(pos, k < 9 ? words[k] : near[k - 9]);
            try_load(n);
        }
    }
    for (int i = 0; i < RANDOM_MUTATIONS; i++) {
        memcpy(blob, image, n);
        size_t pos = (128 + next_random() % (tables_end - 4 - 128)) & ~(size_t)3;
        uint32_t r = next_random();
        set_word(pos, r % 2 ? words[r / 2 % 9] : next_random());
        try_load(n);
    }
    for (int i = 0; i < RANDOM_MUTATIONS; i++) {
        memcpy(blob, image, n);
        blob[32 + next_random() % (tables_end - 32)] = (uint8_t)next_random();
        try_load(n);
    }
    semihost_write("loaded ");
    print_u32(loaded);
    semihost_write(" refused ");
    print_u32(refused);
    semihost_write(" ran ");
    print_u32(ran);
    semihost_write("\n");
    return 0;
}
