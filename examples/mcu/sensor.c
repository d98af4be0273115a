/* sensor.c - a sensor model (e.g. GRU(64) -> GRU(32) -> Dense) on a bare-metal Cortex-M:
 * the model image is a const array in flash (`fastgru convert --format c`), loaded in place;
 * the model and its stream state come from a static pool and every run uses a static
 * workspace, so nothing is allocated. It runs the whole input sequence once, then streams it
 * again one fg_model_step per sample as a sensor loop would, printing each output's float
 * bits, the memory the C API reports (fg_model_memory_bytes, fg_state_bytes,
 * fg_model_workspace_bytes) and what the pool and stack saw (tests/test_mcu.py reads them).
 * POOL_BYTES and WORKSPACE_BYTES may be exactly the reported figures: tools/mcu_report.py
 * builds it once with room to spare, then again sized so. Exit status 0, or the failing
 * step's code (10: a buffer smaller than the API says it must be).
 *
 * Built by examples/mcu/Makefile with MODEL_H (the model header), MODEL_NAME (its symbol
 * prefix) and INPUT_H (SAMPLE_STEPS, SAMPLE_FEATURES, sample_bits[]: the input sequence);
 * ISA_CAP optionally caps the kernel it runs. */
#include <stdint.h>
#include <string.h>

#include "fastgru.h"
#include "fg_mcu.h"
#include "semihost.h"

#include MODEL_H
#include INPUT_H

#define CAT(a, b) a##b
#define IMAGE_OF(name) CAT(name, _image)

#define MAX_OUTPUTS 64

static _Alignas(64) uint8_t pool[POOL_BYTES];
static _Alignas(64) uint8_t workspace[WORKSPACE_BYTES];
static float sequence[SAMPLE_STEPS * SAMPLE_FEATURES];
static float output[MAX_OUTPUTS];

uint32_t stack_untouched_bytes(void);

static void print_value(const char *label, uint32_t v)
{
    semihost_write(label);
    semihost_write(" ");
    print_u32(v);
    semihost_write("\n");
}

/* "LABEL N b0 b1 ...": the output's float bits */
static void print_output(const char *label, uint32_t n, int64_t count)
{
    semihost_write(label);
    semihost_write(" ");
    print_u32(n);
    for (int64_t i = 0; i < count; i++) {
        semihost_write(" ");
        print_f32_bits(output[i]);
    }
    semihost_write("\n");
}

static int fail(const char *what, int status)
{
    semihost_write("error ");
    semihost_write(what);
    semihost_write(": ");
    semihost_write(fg_last_error());
    semihost_write("\n");
    return status;
}

int main(void)
{
    memcpy(sequence, sample_bits, sizeof sequence);
#ifdef ISA_CAP /* e.g. "scalar": the scalar kernel where a SIMD one is built (the M55's Helium) */
    if (fg_set_isa_cap(ISA_CAP) != FG_OK) return fail("isa cap", 2);
#endif
    semihost_write("isa ");
    semihost_write(fg_isa_name(fg_isa_active()));
    semihost_write("\n");
    fg_mcu_pool(pool, sizeof pool);
    size_t image_bytes;
    const unsigned char *image = IMAGE_OF(MODEL_NAME)(&image_bytes);
    fg_model *model;
    int st = fg_model_load(image, image_bytes, &model);
    if (st != FG_OK) return fail("load", st);
    print_value("model_bytes", (uint32_t)fg_model_memory_bytes(model));
    print_value("pool_model", (uint32_t)fg_mcu_pool_used());

    fg_tensor_info info;
    fg_model_output_info(model, 0, &info);
    int64_t out_count = 1;
    for (int d = 0; d < info.rank; d++) out_count *= info.dims[d];
    if (fg_model_num_inputs(model) != 1 || fg_model_num_outputs(model) != 1 ||
        out_count < 1 || out_count > MAX_OUTPUTS)
        return fail("model: need one input and one output of at most 64 values", 2);

    /* the whole sequence in one run */
    int64_t steps = SAMPLE_STEPS;
    size_t need;
    if ((st = fg_model_workspace_bytes(model, 1, &steps, 1, &need)) != FG_OK)
        return fail("workspace_bytes", st);
    print_value("workspace_run", (uint32_t)need);
    if (need > sizeof workspace) return fail("workspace: WORKSPACE_BYTES too small", 10);
    const void *in[1] = {sequence};
    void *out[1] = {output};
    if ((st = fg_model_run(model, NULL, 1, &steps, in, out, workspace, sizeof workspace, 1)))
        return fail("run", st);
    print_output("run", (uint32_t)SAMPLE_STEPS, out_count);

    /* the same sequence streamed: one call per sample */
    size_t state_bytes;
    if ((st = fg_state_bytes(model, 1, &state_bytes)) != FG_OK) return fail("state_bytes", st);
    print_value("state_bytes", (uint32_t)state_bytes);
    if (fg_model_memory_bytes(model) + state_bytes > sizeof pool)
        return fail("pool: POOL_BYTES too small", 10);
    size_t before = fg_mcu_pool_used();
    fg_state *state;
    if ((st = fg_state_create(model, 1, &state)) != FG_OK) return fail("state_create", st);
    print_value("pool_state", (uint32_t)(fg_mcu_pool_used() - before));
    int64_t one = 1;
    if ((st = fg_model_workspace_bytes(model, 1, &one, 1, &need)) != FG_OK)
        return fail("workspace_bytes", st);
    print_value("workspace_step", (uint32_t)need);
    if (need > sizeof workspace) return fail("workspace: WORKSPACE_BYTES too small", 10);
    for (int t = 0; t < SAMPLE_STEPS; t++) {
        in[0] = sequence + t * SAMPLE_FEATURES;
        if ((st = fg_model_step(model, state, in, out, workspace, sizeof workspace, 1)))
            return fail("step", st);
        print_output("step", (uint32_t)t + 1, out_count);
    }
    print_value("pool_end", (uint32_t)fg_mcu_pool_used());
    print_value("pool_peak", (uint32_t)fg_mcu_pool_peak());
    print_value("stack_used", (uint32_t)(16384 - stack_untouched_bytes()));
    return 0;
}
