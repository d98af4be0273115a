/* model_registry.c - the registry rows: per op kind its name, arity, check and run, built from
 * the generated MODEL_OPS rows (fastgru/registry.py); and the lists a tool or test reads back.
 */
#include "fg_activations.h"
#include "fg_config_select.h"
#include "model_internal.h"

/* A kind this build leaves out (fg_config_select.h) has no check or run, so its code is never
 * linked; model_check_op refuses it before either would be called. */
const model_op_kind MODEL_OP_KINDS[OP_KIND_COUNT] = {
#define MODEL_OP_ROW(KIND, name, min_in, max_in, n_out, n_w)                                   \
    [OP_##KIND] = {#name, min_in, max_in, n_out, n_w,                                          \
                   FG_OP_BUILT(OP_##KIND) ? model_check_##name : 0,                            \
                   FG_OP_BUILT(OP_##KIND) ? model_run_##name : 0},
    MODEL_OPS(MODEL_OP_ROW)
#undef MODEL_OP_ROW
};

/* The executor passes an op at most these many tensors (model_exec.c). */
#define MODEL_OP_FITS(KIND, name, min_in, max_in, n_out, n_w) \
    _Static_assert(max_in <= MODEL_MAX_OP_INPUTS && n_out <= MODEL_MAX_OP_OUTPUTS, \
                   #name " has more tensors than the executor passes an op");
MODEL_OPS(MODEL_OP_FITS)
#undef MODEL_OP_FITS

/* fg_config_select.h selects op kinds and activations by bit in a 64-bit mask. */
_Static_assert(OP_KIND_COUNT <= 64 && FG_ACT_COUNT <= 64, "a build-selection mask is 64 bits");

/* The activation ids of the public header and of the registry are generated from one table;
 * this catches a header regenerated on one side only. */
#define MODEL_ACT_SAME(C_NAME, name, id) _Static_assert(C_NAME == id, #name " id differs");
MODEL_ACTIVATIONS(MODEL_ACT_SAME)
#undef MODEL_ACT_SAME

static const char *const ACTIVATION_NAMES[FG_ACT_COUNT] = {
#define MODEL_ACT_NAME(C_NAME, name, id) [id] = #name,
    MODEL_ACTIVATIONS(MODEL_ACT_NAME)
#undef MODEL_ACT_NAME
};

const char *model_kind_name(int32_t kind) {
    return kind >= 0 && kind < OP_KIND_COUNT ? MODEL_OP_KINDS[kind].name : "?";
}

int fg_model_op_kind(int kind, const char **name, int32_t *min_inputs, int32_t *max_inputs,
                     int32_t *n_outputs, int32_t *n_weights) {
    if (kind < 0 || kind >= OP_KIND_COUNT)
        return fg_fail(FG_ERR_ARG, "op kind %d out of range (%d kinds)", kind, OP_KIND_COUNT);
    const model_op_kind *k = &MODEL_OP_KINDS[kind];
    if (name) *name = k->name;
    if (min_inputs) *min_inputs = k->min_in;
    if (max_inputs) *max_inputs = k->max_in;
    if (n_outputs) *n_outputs = k->n_out;
    if (n_weights) *n_weights = k->n_w;
    return FG_OK;
}

const char *fg_activation_name(int act) {
    return act >= 0 && act < FG_ACT_COUNT ? ACTIVATION_NAMES[act] : NULL;
}
