/* fg_custom_program.c - check a CustomGRU program from an image and build its instructions
 * (fg_custom_program.h says what is checked and why). */
#include "fg_custom_program.h"

#include <math.h>
#include <stdlib.h>

#include "fg_activations.h"
#include "fg_common.h"
#include "fg_config_select.h"

/* Values an opcode pops and pushes. */
static const int8_t POPS[FG_OPC_COUNT] = {
    [FG_OPC_LOAD] = 0, [FG_OPC_CONST] = 0, [FG_OPC_STORE] = 1, [FG_OPC_ADD] = 2, [FG_OPC_SUB] = 2,
    [FG_OPC_MUL] = 2,  [FG_OPC_DIV] = 2,   [FG_OPC_NEG] = 1,   [FG_OPC_MIN] = 2, [FG_OPC_MAX] = 2,
    [FG_OPC_GT] = 2,   [FG_OPC_ABS] = 1,   [FG_OPC_EXP] = 1,   [FG_OPC_LOG] = 1, [FG_OPC_SQRT] = 1,
    [FG_OPC_POW] = 1,  [FG_OPC_ACT] = 1,
};

static int integral(float v, int32_t lo, int32_t hi, int32_t *out)
{
    if (!(v >= (float)lo && v <= (float)hi) || v != floorf(v)) return 0;
    *out = (int32_t)v;
    return 1;
}

#define BAD(...) fg_fail(FG_ERR_FORMAT, __VA_ARGS__)

int fg_custom_program_load(const float *rows, int64_t n_rows, int reset_after, const char *layer,
                           fg_custom_program **out)
{
    *out = NULL;
    if (n_rows < 4 || n_rows > FG_CUSTOM_MAX_CODE)
        return BAD("layer '%s' (custom_gru): program of %lld instructions (expected 4 .. %d)",
                   layer, (long long)n_rows, FG_CUSTOM_MAX_CODE);
    fg_custom_program *p = malloc(sizeof *p + (size_t)n_rows * sizeof(fg_custom_instr));
    if (!p) return fg_fail(FG_ERR_NOMEM, "layer '%s': out of memory for its program", layer);
    p->n = (int32_t)n_rows;
    p->zr_end = 0;
    /* readable slots: the inputs (hh only after r with reset_after=0), then each stored gate */
    int defined[FG_SLOT_COUNT] = {0}, next_store = FG_SLOT_Z, sp = 0;
    for (int s = FG_SLOT_XZ; s <= FG_SLOT_H_PREV; s++)
        defined[s] = s != FG_SLOT_HH || reset_after;
    for (int64_t i = 0; i < n_rows; i++) {
        fg_custom_instr *in = &p->code[i];
        float code = rows[2 * i], operand = rows[2 * i + 1];
        in->value = operand;
        in->arg = 0;
        const char *why = NULL;
        if (next_store == FG_SLOT_COUNT) {
            why = "follows the store of h, which ends the program";
        } else if (!integral(code, 0, FG_OPC_COUNT - 1, &in->op)) {
            why = "unknown opcode";
        } else if (sp < POPS[in->op]) {
            why = "pops an empty stack";
        } else if (in->op == FG_OPC_LOAD || in->op == FG_OPC_STORE) {
            if (!integral(operand, 0, FG_SLOT_COUNT - 1, &in->arg))
                why = "slot out of range";
            else if (in->op == FG_OPC_LOAD && !defined[in->arg])
                why = "reads a slot before it is set";
            else if (in->op == FG_OPC_STORE && (in->arg != next_store || sp != 1))
                why = "stores out of the order z, r, candidate, h or with other values pending";
        } else if (in->op == FG_OPC_ACT) {
            if (!integral(operand, 0, FG_ACT_COUNT - 1, &in->arg))
                why = "activation id out of range";
            else if (!fg_activation_is_elementwise(in->arg))
                why = "activation is not elementwise";
            else if (!FG_ACT_BUILT(in->arg))
                why = "activation not built into this library";
        } else if (in->op == FG_OPC_CONST || in->op == FG_OPC_POW) {
            if (!isfinite(operand))
                why = "constant is not finite";
            else if (in->op == FG_OPC_POW &&
                     !integral(operand, -FG_CUSTOM_MAX_INT_POW, FG_CUSTOM_MAX_INT_POW, &in->arg))
                in->arg = 0;   /* 0: powf (an exponent 0 is integral and handled as 1.0) */
        } else if (operand != 0.0f) {
            why = "operand must be 0";
        }
        if (why) {
            free(p);
            return BAD("layer '%s' (custom_gru): program instruction %lld (opcode %g, operand %g): "
                       "%s",
                       layer, (long long)i, (double)code, (double)operand, why);
        }
        sp += (in->op == FG_OPC_LOAD || in->op == FG_OPC_CONST) - POPS[in->op] +
              (POPS[in->op] > 0 && in->op != FG_OPC_STORE);
        if (sp > FG_CUSTOM_MAX_STACK) {
            free(p);
            return BAD("layer '%s' (custom_gru): program instruction %lld needs more than %d "
                       "stack entries",
                       layer, (long long)i, FG_CUSTOM_MAX_STACK);
        }
        if (in->op == FG_OPC_STORE) {
            defined[in->arg] = 1;
            if (in->arg == FG_SLOT_R) {
                defined[FG_SLOT_HH] = 1;
                p->zr_end = (int32_t)i + 1;
            }
            next_store++;
        }
    }
    if (next_store != FG_SLOT_COUNT) {
        free(p);
        return BAD("layer '%s' (custom_gru): program ends before it stores all of z, r, "
                   "candidate and h",
                   layer);
    }
    *out = p;
    return FG_OK;
}

float fg_custom_scalar(int32_t op, float value, float a, float b)
{
    switch (op) {
    case FG_OPC_EXP:
        return expf(a);
    case FG_OPC_LOG:
        return logf(a);
    case FG_OPC_SQRT:
        return sqrtf(a);
    case FG_OPC_GT:
        return a > b ? 1.0f : 0.0f;
    default:
        return powf(a, value);   /* FG_OPC_POW, non-integral exponent */
    }
}
