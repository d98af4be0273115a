/* scalar_vocab.h - gru_template.h's vocabulary in plain floats (VL 1, MR 1): libm tanh / exp,
 * no FMA (the build uses -ffp-contract=off). Shared by gru_scalar.c and gru_bf16_portable.c. */
#include <math.h>

#define V float
#define VL 1
#define MR 1
#define V_LOAD(p) (*(p))
#define V_STORE(p, v) (*(p) = (v))
#define V_SET1(x) (x)
#define V_ZERO() 0.0f
#define V_ADD(a, b) ((a) + (b))
#define V_SUB(a, b) ((a) - (b))
#define V_MUL(a, b) ((a) * (b))
#define V_DIV(a, b) ((a) / (b))
#define V_FMA(a, b, c) ((a) * (b) + (c))
#define V_MAX(a, b) ((b) != (b) || (b) > (a) ? (b) : (a)) /* b when NaN, as x86 maxps */
#define V_MIN(a, b) ((b) != (b) || (b) < (a) ? (b) : (a))
#define V_EXP(x) expf(x)
#define V_TANH(x) tanhf(x)
#define V_SIGMOID(x) (1.0f / (1.0f + expf(-(x))))

