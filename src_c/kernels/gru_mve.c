/* gru_mve.c - the GRU kernels for Arm Helium (MVE with floating point: Cortex-M55, built by
 * `make -C src_c mcu MCU=cortex-m55`), over mve_vocab.h; tests/test_mcu.py checks them
 * against the scalar kernel under qemu's MPS3 AN547. Empty in every other build. */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 2)
#include "../fg_activations.h"
#include "fg_kernels.h"

#define FGK(name) name##_mve
#include "mve_vocab.h"
#include "gru_template.h"

const fg_kernels fg_kernels_mve = FG_KERNEL_TABLE;
#endif
