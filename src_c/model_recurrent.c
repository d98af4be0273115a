/* model_recurrent.c - the registry's entries for the recurrent op kinds gru, lstm and
 * simple_rnn: one check (model_check.c) and one run (model_exec.c) serve all three, which
 * differ only in their cell (model_recurrent_cell) and an LSTM's cell state tensors. */
#include "model_internal.h"

#define RECURRENT_KIND(name)                                                                       \
    int model_check_##name(const model_check_ctx *c)                                               \
    {                                                                                              \
        return model_check_recurrent(c);                                                           \
    }                                                                                              \
    int model_run_##name(const model_run_ctx *r)                                                   \
    {                                                                                              \
        return model_run_recurrent(r);                                                             \
    }

RECURRENT_KIND(gru)
RECURRENT_KIND(lstm)
RECURRENT_KIND(simple_rnn)
