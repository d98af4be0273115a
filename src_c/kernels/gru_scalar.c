/* gru_scalar.c - the portable reference kernels: plain floats, libm tanh / exp, no FMA
 * (the build uses -ffp-contract=off). Every SIMD path is tested against this one. */
#include "../fg_activations.h"
#include "fg_kernels.h"

#define FGK(name) name##_scalar
#include "scalar_vocab.h"
#include "gru_template.h"

const fg_kernels fg_kernels_scalar = FG_KERNEL_TABLE;
