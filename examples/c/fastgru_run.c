/* fastgru_run - run a converted .fgru model on .npy arrays, with no Python.
 *
 *   fastgru_run [options] MODEL.fgru IN.npy [IN2.npy ...] OUT.npy
 *   fastgru_run [options] -o OUT.npy MODEL.fgru IN.npy [IN2.npy ...]
 *
 * One .npy file per model input, in the model's input order (`fastgru inspect` lists them).
 * Output 0 goes to OUT.npy; a model with several outputs also writes OUT_1.npy, OUT_2.npy, ...
 * Options:
 *   --stream       run the sequence one step at a time (fg_model_step); causal models only
 *   --threads N    threads (default: FASTGRU_NUM_THREADS, else every core)
 *   --isa NAME     cap the instruction set: scalar, avx2, avx512, neon
 * Exit status 0 on success, 2 on a bad argument, file or input, with a message on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastgru.h"
#include "run_npy.h"

static int usage(void)
{
    fprintf(stderr, "usage: fastgru_run [--stream] [--threads N] [--isa NAME] "
                    "[-o OUT.npy] MODEL.fgru IN.npy [IN2.npy ...] [OUT.npy]\n");
    return 2;
}

int main(int argc, char **argv)
{
    run_options opts = {0, 0};
    const char *out_path = NULL;
    char *positional[130];
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--stream") == 0) {
            opts.stream = 1;
        } else if (strcmp(a, "--threads") == 0 && i + 1 < argc) {
            opts.nthreads = atoi(argv[++i]);
        } else if (strcmp(a, "--isa") == 0 && i + 1 < argc) {
            if (fg_set_isa_cap(argv[++i]) != FG_OK) {
                fprintf(stderr, "fastgru: %s\n", fg_last_error());
                return 2;
            }
        } else if (strcmp(a, "-o") == 0 && i + 1 < argc) {
            out_path = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage();
        } else if (n_pos < (int)(sizeof positional / sizeof *positional)) {
            positional[n_pos++] = argv[i];
        } else {
            return usage();
        }
    }
    if (!out_path && n_pos >= 3) out_path = positional[--n_pos];
    if (!out_path || n_pos < 2) return usage();

    fg_model *model = NULL;
    if (fg_model_load_file(positional[0], &model) != FG_OK) {
        fprintf(stderr, "fastgru: %s\n", fg_last_error());
        return 2;
    }
    int rc = run_npy(model, n_pos - 1, positional + 1, out_path, &opts);
    fg_model_free(model);
    return rc ? 2 : 0;
}
