/* run_npy.h - run a loaded fastgru model on .npy inputs and write .npy outputs.
 *
 * Shared by fastgru_run (model from a .fgru file) and embedded_model (model from a C array).
 */
#ifndef FG_EXAMPLES_RUN_NPY_H
#define FG_EXAMPLES_RUN_NPY_H

#include "fastgru.h"

typedef struct run_options {
    int stream;        /* 1: feed the sequence one step at a time through fg_model_step */
    int32_t nthreads;  /* <= 0: fg_default_threads() */
} run_options;

/* Read model input i from in_paths[i] (n_in must equal fg_model_num_inputs), run the model,
 * write output 0 to out_path and output k >= 1 to out_path with "_k" before ".npy"
 * (out.npy, out_1.npy, ...). Float inputs accept float32 or float64 arrays, int inputs int32.
 * In stream mode an output with a time axis gets every step's output; one without gets the
 * last step's. Returns 0, or prints a message to stderr and returns 1. */
int run_npy(const fg_model *model, int n_in, char *const *in_paths, const char *out_path,
            const run_options *opts);

#endif
