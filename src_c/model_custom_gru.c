/* model_custom_gru.c - the custom_gru op: a gru whose gate maths is a CustomGRU cell's
 * checked bytecode (fg_custom_program.h). Shapes, attributes, packing, state, masks and the
 * run are the gru op's (model_check.c, model_exec.c); this file adds the program. */
#include "fg_custom_program.h"
#include "model_internal.h"

/* The op shares gru's attribute slots, so the gru code reads either with GRU_*. */
#define SAME_SLOT(name) ((int)GRU_##name == (int)CUSTOM_GRU_##name)
_Static_assert(SAME_SLOT(UNITS) && SAME_SLOT(RESET_AFTER) && SAME_SLOT(USE_BIAS) &&
                   SAME_SLOT(GO_BACKWARDS) && SAME_SLOT(RETURN_SEQUENCES) &&
                   SAME_SLOT(ZERO_OUTPUT_FOR_MASK) && SAME_SLOT(STATEFUL) && SAME_SLOT(INPUT_DIM) &&
                   SAME_SLOT(ACTIVATION) && SAME_SLOT(RECURRENT_ACTIVATION),
               "custom_gru's attribute slots differ from gru's");
#undef SAME_SLOT

int model_custom_gru_load(fg_model *m, model_op *o)
{
    int32_t id = o->w[1];
    const model_weight *w = id < 0 ? NULL : &m->weights[id];
    if (w == NULL || w->layout != LAYOUT_CUSTOM_PROGRAM || w->rank != 2 || w->dims[1] != 2)
        return fg_fail(FG_ERR_FORMAT,
                       "model image: layer '%s' (custom_gru): its program "
                       "weight is missing or not an (n, 2) program record",
                       o->layer);
    int reset_after = o->iattr[CUSTOM_GRU_RESET_AFTER];
    if (reset_after != 0 && reset_after != 1)
        return fg_fail(FG_ERR_FORMAT,
                       "model image: layer '%s': attribute reset_after = %d "
                       "(expected 0 or 1)",
                       o->layer, reset_after);
    return fg_custom_program_load(w->data, w->dims[0], reset_after, o->layer, &o->program);
}

int model_check_custom_gru(const model_check_ctx *c)
{
    return model_check_recurrent(c);
}

int model_run_custom_gru(const model_run_ctx *r)
{
    return model_run_recurrent(r);
}
