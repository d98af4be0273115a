/* fg_custom_program.h - a CustomGRU cell's equations as checked bytecode (fastgru/custom_gru.py
 * compiles them; the custom_gru op's "program" weight stores them).
 *
 * Stored form: float32 rows (opcode, operand). The four equations z, r, candidate, h follow
 * each other, each a postorder stack program ending in a STORE of its slot. The kernels
 * (kernels/custom_template.h) evaluate one instruction over a whole row tile of a 16-unit block
 * at a time; fg_custom_program_load checks everything they rely on, so they never check again:
 * known opcodes, operands integral where they name a slot or an activation, finite constants,
 * the stack between 0 and FG_CUSTOM_MAX_STACK, every slot stored before it is read, and the
 * four stores in order with exactly one value on the stack.
 */
#ifndef FG_CUSTOM_PROGRAM_H
#define FG_CUSTOM_PROGRAM_H

#include <stddef.h>
#include <stdint.h>

#define FG_CUSTOM_MAX_STACK 16     /* MAX_STACK in fastgru/custom_gru.py */
#define FG_CUSTOM_MAX_CODE 4096    /* MAX_CODE in fastgru/custom_gru.py */

/* Value slots: the inputs a step computes, then the gates in evaluation order. */
enum {
    FG_SLOT_XZ,
    FG_SLOT_XR,
    FG_SLOT_XH,
    FG_SLOT_HZ,
    FG_SLOT_HR,
    FG_SLOT_HH,
    FG_SLOT_H_PREV,
    FG_SLOT_Z,
    FG_SLOT_R,
    FG_SLOT_CANDIDATE,
    FG_SLOT_H,
    FG_SLOT_COUNT
};

/* Opcodes (OPCODES in fastgru/custom_gru.py). */
enum {
    FG_OPC_LOAD,
    FG_OPC_CONST,
    FG_OPC_STORE,
    FG_OPC_ADD,
    FG_OPC_SUB,
    FG_OPC_MUL,
    FG_OPC_DIV,
    FG_OPC_NEG,
    FG_OPC_MIN,
    FG_OPC_MAX,
    FG_OPC_GT,
    FG_OPC_ABS,
    FG_OPC_EXP,
    FG_OPC_LOG,
    FG_OPC_SQRT,
    FG_OPC_POW,
    FG_OPC_ACT,
    FG_OPC_COUNT
};

typedef struct fg_custom_instr {
    int32_t op;
    int32_t arg;      /* LOAD / STORE: slot; ACT: activation id; POW: integer exponent */
    float value;      /* CONST: the constant; POW: the exponent */
} fg_custom_instr;

typedef struct fg_custom_program {
    int32_t n;
    int32_t zr_end;   /* one past the STORE of r: reset_after=0 runs [0, zr_end) before hh */
    fg_custom_instr code[];
} fg_custom_program;

/* POW with an integral exponent up to this magnitude multiplies (as jax's integer_pow);
 * others go through powf. */
#define FG_CUSTOM_MAX_INT_POW 64

/* Check `n_rows` stored rows and build the program (malloc'd; the caller frees it).
 * `reset_after` = 0 makes hh readable only after r's store. FG_ERR_FORMAT naming `layer`
 * and the instruction otherwise. */
int fg_custom_program_load(const float *rows, int64_t n_rows, int reset_after, const char *layer,
                           fg_custom_program **out);

/* One lane of the opcodes the kernels do lane by lane (exp, log, sqrt, gt, non-integer pow). */
float fg_custom_scalar(int32_t op, float value, float a, float b);

/* fg_gru_forward / fg_gru_workspace_bytes for a GRU whose gate maths is `custom` (NULL: the
 * standard cell); the packing is fg_gru_pack's, the recurrent bias packed for all three gates
 * whatever reset_after (fg_gru.c). */
struct fg_gru_config;
struct fg_gru_run;
size_t fg_gru_custom_workspace_bytes(const struct fg_gru_config *cfg,
                                     const fg_custom_program *custom, int64_t batch,
                                     int64_t timesteps, int32_t nthreads);
int fg_gru_custom_forward(const struct fg_gru_config *cfg, const fg_custom_program *custom,
                          const void *packed, const struct fg_gru_run *run, void *workspace);

#endif
