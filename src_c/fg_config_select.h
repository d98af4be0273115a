/* fg_config_select.h - which op kinds and activations this build of the library holds.
 *
 * A build for a small target (`make -C src_c mcu FG_CONFIG=...`) names a generated config
 * (`fastgru convert --format c` writes NAME_fg_config.h beside the model header) defining
 *   FG_CONFIG_OPS          (64-bit masks) bit k set: op kind k (model_internal.h) is built
 *   FG_CONFIG_ACTIVATIONS  bit k set: activation id k (fg_activations.h) is built
 *   FG_CONFIG_BF16         0: no bf16 compute precision (FG_PRECISION_BF16 is refused)
 *   FG_CONFIG_TIME_MAJOR   0: no time-major ops (an image with them is refused)
 * so that the code of every other one compiles out. Without a config everything is built.
 * A model that needs what is not built is refused at load (FG_ERR_FORMAT), never run wrong.
 */
#ifndef FG_CONFIG_SELECT_H
#define FG_CONFIG_SELECT_H

#include "fg_activations.h"

#ifdef FG_CONFIG_FILE
#include FG_CONFIG_FILE
#endif
#ifndef FG_CONFIG_OPS
#define FG_CONFIG_OPS 0xFFFFFFFFFFFFFFFFull
#endif
#ifndef FG_CONFIG_ACTIVATIONS
#define FG_CONFIG_ACTIVATIONS 0xFFFFFFFFFFFFFFFFull
#endif
#ifndef FG_CONFIG_BF16
#define FG_CONFIG_BF16 1
#endif
#ifndef FG_CONFIG_TIME_MAJOR
#define FG_CONFIG_TIME_MAJOR 1
#endif

/* Constant for a constant argument, so `if (FG_OP_BUILT(OP_DENSE)) ...` drops the code. */
#define FG_OP_BUILT(kind) ((int)(((FG_CONFIG_OPS) >> (kind)) & 1ull))
#define FG_ACT_BUILT(act) ((int)(((FG_CONFIG_ACTIVATIONS) >> (act)) & 1ull))
/* Switch cases whose code compiles out when op kind `kind` / activation `id` is not built. */
#define FG_OP_CASE(kind) case kind: if (!FG_OP_BUILT(kind)) break;
#define FG_ACT_CASE(id) case id: if (!FG_ACT_BUILT(id)) break;
/* Any activation that needs a whole row (the GRU's unfused step) */
#define FG_ROWWISE_ACTS_BUILT                                                                  \
    (FG_ACT_BUILT(FG_ACT_SOFTMAX) || FG_ACT_BUILT(FG_ACT_LOG_SOFTMAX) ||                       \
     FG_ACT_BUILT(FG_ACT_SPARSEMAX))

#endif
