/* model_dense.c - the dense op through the GEMM the GRU uses (kernels/fg_kernels.h).
 *
 * At load, each dense kernel (in, units) is packed into the gemm's panels with its bias
 * (model_panels.c). Each row is computed by the same instructions wherever it falls,
 * so results do not depend on the thread count; they follow the active ISA's gemm (fused
 * multiply-adds on SIMD, bias added last), so they may differ from a plain loop's in the
 * last bits. Threads share the rows through the thread team (fg_team.h), in a few runs of
 * row chunks per thread, so a thread the OS deschedules holds up one run at most (an OpenMP
 * loop's barrier waited for its whole share).
 *
 * The bare-metal build (FG_MCU) runs the kernel in place from flash instead: packing would
 * copy every dense kernel into RAM, which a microcontroller does not have to spare.
 */
#include <stdlib.h>

#include "fg_activations.h"
#include "fg_alloc.h"
#include "fg_team.h"
#include "model_internal.h"
#include "kernels/fg_kernels.h"

/* Rows split across threads when the product is big enough to pay for them. */
#define DENSE_MIN_FLOPS_PER_THREAD 2000000.0
#define DENSE_ROW_CHUNK MODEL_PANEL_ROWS_MAX   /* rows per gemm call */
#define DENSE_PIECES_PER_THREAD 4

int model_alloc_panels(fg_model *m, uint64_t floats, const char *what, float **out) {
    uint64_t bytes = (floats * 4 + MODEL_ALIGN - 1) / MODEL_ALIGN * MODEL_ALIGN;
    int st = bytes > SIZE_MAX ? fg_fail(FG_ERR_NOMEM, "%s are too large", what)
                              : fg_check_cap((size_t)bytes, what);
    if (st) return st;
    if (!(*out = fg_aligned_alloc(MODEL_ALIGN, (size_t)bytes)))
        return fg_fail(FG_ERR_NOMEM, "out of memory for %s (%llu bytes)", what,
                       (unsigned long long)bytes);
    m->held_bytes += model_block_bytes((size_t)bytes);
    return FG_OK;
}

#ifdef FG_MCU
int model_pack_dense(fg_model *m) {
    (void)m;
    return FG_OK;
}

/* y rows = x rows . kernel + bias, reading the kernel where the image holds it. */
static void dense_in_place(const fg_model *m, const model_op *o, int64_t in, int64_t units,
                           const float *x, float *y, int64_t rows) {
    const float *k = m->weights[o->w[0]].data;
    const float *b = o->w[1] < 0 ? NULL : m->weights[o->w[1]].data;
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * units;
        const float *xr = x + r * in;
        for (int64_t j = 0; j < units; j++) yr[j] = b ? b[j] : 0.0f;
        for (int64_t i = 0; i < in; i++)
            for (int64_t j = 0; j < units; j++) yr[j] += xr[i] * k[i * units + j];
    }
}
#else
/* Floats of a kernel's packing: its panels, then its padded bias. */
static uint64_t packed_floats(const model_weight *kernel) {
    return model_panel_floats(kernel->dims[0], kernel->dims[1]);
}

int model_pack_dense(fg_model *m) {
    uint64_t floats = 0;
    for (int32_t i = 0; i < m->n_ops; i++)
        if (m->ops[i].kind == OP_DENSE) {
            uint64_t n = packed_floats(&m->weights[m->ops[i].w[0]]);
            if (n > (UINT64_MAX / 8 - floats)) return fg_fail(FG_ERR_NOMEM, "dense packing overflows");
            floats += n;
        }
    if (!floats) return FG_OK;
    int st = model_alloc_panels(m, floats, "the packed dense kernels", &m->dense_packed);
    if (st) return st;
    float *at = m->dense_packed;
    for (int32_t i = 0; i < m->n_ops; i++) {
        model_op *o = &m->ops[i];
        if (o->kind != OP_DENSE) continue;
        const model_weight *kernel = &m->weights[o->w[0]];
        int64_t in = kernel->dims[0], units = kernel->dims[1];
        model_pack_panels(kernel->data, units, in, units,
                          o->w[1] < 0 ? NULL : m->weights[o->w[1]].data, at);
        o->dense_panels = at;
        at += packed_floats(kernel);
    }
    return FG_OK;
}

typedef struct dense_job {
    const fg_kernels *k;
    const model_op *o;
    int64_t in, units, rows, pieces;
    const float *x;
    float *y;
} dense_job;

/* Piece p of the job: its run of row chunks. */
static int dense_piece(void *arg, int phase, int p) {
    (void)phase;
    const dense_job *j = arg;
    int64_t chunks = (j->rows + DENSE_ROW_CHUNK - 1) / DENSE_ROW_CHUNK;
    for (int64_t c = chunks * p / j->pieces; c < chunks * (p + 1) / j->pieces; c++) {
        int64_t r0 = c * DENSE_ROW_CHUNK;
        int64_t n = j->rows - r0 < DENSE_ROW_CHUNK ? j->rows - r0 : DENSE_ROW_CHUNK;
        model_panel_product(j->k, n, j->in, j->x + r0 * j->in, j->in, j->o->dense_panels,
                            j->units, j->y + r0 * j->units, j->units);
    }
    return 0;
}
#endif

int model_run_dense(const model_run_ctx *r) {
    const model_op *o = r->o;
    const model_weight *kernel = &r->m->weights[o->w[0]];
    int64_t in = kernel->dims[0], units = kernel->dims[1];
    int64_t rows = r->batch * model_sample_elems(&r->m->tensors[o->out[0]], r->T) / units;
    const float *x = r->in[0];
    float *y = r->out[0];
#ifdef FG_MCU
    dense_in_place(r->m, o, in, units, x, y, rows);
#else
    int64_t by_work = (int64_t)(2.0 * (double)rows * (double)in * (double)units /
                                DENSE_MIN_FLOPS_PER_THREAD);
    int64_t chunks = (rows + DENSE_ROW_CHUNK - 1) / DENSE_ROW_CHUNK;
    int nt = by_work < r->nthreads ? (int)by_work : r->nthreads;
    if (nt > FG_TEAM_MAX) nt = FG_TEAM_MAX;
    int64_t pieces = (int64_t)nt * DENSE_PIECES_PER_THREAD;
    if (pieces > chunks) pieces = chunks;
    if (pieces > FG_TEAM_UNITS_MAX) pieces = FG_TEAM_UNITS_MAX;
    dense_job job = {fg_kernels_for(fg_isa_active()), o, in, units, rows, pieces, x, y};
    if (nt > 1 && pieces > 1) fg_team_run(nt, 1, (int)pieces, dense_piece, &job);
    else if (rows) {
        job.pieces = 1;
        dense_piece(&job, 0, 0);
    }
#endif
    if (fg_activation_apply(o->iattr[DENSE_ACTIVATION], y, rows, units, units) != FG_OK)
        return fg_fail(FG_ERR_ARG, "layer '%s' (dense): %s", o->layer, fg_last_error());
    return FG_OK;
}
