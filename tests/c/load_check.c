/* load_check.c - load a model image file with the C library alone and say what happened.
 *
 * usage: load_check IMAGE
 * Prints "ok <n_inputs> <n_outputs>" (exit 0), or "error <status>: <fg_last_error()>" (exit 1).
 * Driven by tests/test_precision.py to check that the C reader refuses bad weight records.
 */
#include <stdio.h>

#include "fg_model.h"

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: load_check IMAGE\n"); return 2; }
    fg_model *m = NULL;
    int st = fg_model_load_file(argv[1], &m);
    if (st != FG_OK) { printf("error %d: %s\n", st, fg_last_error()); return 1; }
    printf("ok %d %d\n", fg_model_num_inputs(m), fg_model_num_outputs(m));
    fg_model_free(m);
    return 0;
}
