/* model_precision.c - run a loaded model's GRUs in bf16 (fg_model_set_precision).
 *
 * Each GRU weight's float32 packing (in the image, or widened from 16 bits) is repacked once
 * into the bf16 layout (kernels/gru_bf16.h) in one block the model owns; the executor then
 * reads the bf16 packing through the weight record like any other, and fg_model_weight keeps
 * handing out the float32 one.
 */
#include <stdlib.h>

#include "kernels/gru_bf16.h"
#include "fg_alloc.h"
#include "model_internal.h"

static uint64_t align_up(uint64_t n) { return (n + MODEL_ALIGN - 1) / MODEL_ALIGN * MODEL_ALIGN; }

/* Back to the float32 packings. */
static void restore_fp32(fg_model *m)
{
    for (int32_t i = 0; i < m->n_ops; i++)
        if (model_op_is_gru(&m->ops[i])) m->ops[i].gru.precision = FG_PRECISION_FP32;
    for (int32_t i = 0; i < m->n_weights; i++) {
        model_weight *w = &m->weights[i];
        if (w->fp32 == NULL) continue;
        w->data = w->fp32;
        w->nbytes = w->fp32_nbytes;
        w->fp32 = NULL;
    }
    fg_aligned_free(m->repacked);
    m->repacked = NULL;
}

/* The bf16 packing's bytes of GRU op o's weight, 64-byte aligned. */
static uint64_t bf16_bytes(const model_op *o)
{
    fg_gru_config cfg = o->gru;
    cfg.precision = FG_PRECISION_BF16;
    return align_up(fg_gru_packed_bytes(&cfg));
}

static int to_bf16(fg_model *m)
{
    uint64_t total = 0;   /* per op: a weight two ops shared would be counted twice, made once */
    for (int32_t i = 0; i < m->n_ops; i++)
        if (model_op_is_gru(&m->ops[i])) total += bf16_bytes(&m->ops[i]);
    int st = total > SIZE_MAX ? FG_OK : fg_check_cap((size_t)total, "the bf16 GRU weights");
    if (st) return st;
    if (total > SIZE_MAX || !(m->repacked = fg_aligned_alloc(MODEL_ALIGN, (size_t)total)))
        return fg_fail(FG_ERR_NOMEM, "model: out of memory repacking the GRU weights to bf16 "
                       "(%llu bytes)", (unsigned long long)total);
    uint8_t *at = m->repacked;
    for (int32_t i = 0; i < m->n_ops; i++) {
        model_op *o = &m->ops[i];
        if (!model_op_is_gru(o)) continue;
        o->gru.precision = FG_PRECISION_BF16;
        model_weight *w = &m->weights[o->w[0]];
        if (w->fp32 != NULL) { /* shared with an earlier GRU: its bf16 layout must fit this one */
            if (w->nbytes != fg_gru_packed_bytes(&o->gru))
                return fg_fail(FG_ERR_FORMAT, "model image: gru '%s' shares weight %d with a GRU "
                               "of another shape; cannot run it in bf16", o->layer, o->w[0]);
            continue;
        }
        fg_gru_bf16_from_fp32(&o->gru, w->data, at);
        w->fp32 = w->data;
        w->fp32_nbytes = w->nbytes;
        w->data = at;
        w->nbytes = fg_gru_packed_bytes(&o->gru);
        at += align_up(w->nbytes);
    }
    return FG_OK;
}

int fg_model_set_precision(fg_model *m, int precision)
{
    if (m == NULL) return fg_fail(FG_ERR_ARG, "fg_model_set_precision: NULL model");
    if (precision != FG_PRECISION_FP32 && precision != FG_PRECISION_BF16)
        return fg_fail(FG_ERR_ARG, "model precision must be %d (fp32) or %d (bf16), got %d",
                       FG_PRECISION_FP32, FG_PRECISION_BF16, precision);
    if (precision == m->precision) return FG_OK;
    restore_fp32(m);
    m->precision = FG_PRECISION_FP32;
    int st = precision == FG_PRECISION_BF16 ? to_bf16(m) : FG_OK;
    if (st != FG_OK) {
        restore_fp32(m);
        return st;
    }
    m->precision = precision;
    return FG_OK;
}

int fg_model_precision(const fg_model *m) { return m ? m->precision : FG_PRECISION_FP32; }
