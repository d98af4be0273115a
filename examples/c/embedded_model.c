/* embedded_model - run a model compiled into the program as a C array (zero copy).
 *
 * The header comes from `fastgru convert MODEL --format c -o model.h` and holds the image as
 * a 64-byte aligned const array with an accessor `NAME_image(size_t *nbytes)`; it can live
 * in flash. Build (see src_c/Makefile, target `embedded`):
 *   cc -Isrc_c -Iexamples/c -DFASTGRU_MODEL_HEADER='"model.h"' -DFASTGRU_MODEL_NAME=model \
 *      examples/c/embedded_model.c examples/c/run_npy.c examples/c/npy.c \
 *      src_c/build/libfastgru.a -lm -fopenmp
 * Run: embedded_model IN.npy [IN2.npy ...] OUT.npy   (outputs as for fastgru_run)
 */
#include <stdio.h>

#include "fastgru.h"
#include "run_npy.h"

#ifndef FASTGRU_MODEL_HEADER
#error "define FASTGRU_MODEL_HEADER (the header fastgru convert --format c wrote)"
#endif
#ifndef FASTGRU_MODEL_NAME
#error "define FASTGRU_MODEL_NAME (the symbol name given to fastgru convert --format c)"
#endif
#include FASTGRU_MODEL_HEADER

#define FG_PASTE(a, b) a##b
#define FG_ACCESSOR(name) FG_PASTE(name, _image)

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s IN.npy [IN2.npy ...] OUT.npy\n", argv[0]);
        return 2;
    }
    size_t nbytes = 0;
    const unsigned char *image = FG_ACCESSOR(FASTGRU_MODEL_NAME)(&nbytes);
    fg_model *model = NULL;
    /* the array is 64-byte aligned, so the loader uses the weights in place: no copy */
    if (fg_model_load(image, nbytes, &model) != FG_OK) {
        fprintf(stderr, "fastgru: %s\n", fg_last_error());
        return 2;
    }
    /* zero copy: the weights the model runs from lie inside the array itself */
    const void *weight = NULL;
    size_t weight_bytes = 0;
    int32_t layout = 0;
    if (fg_model_weight(model, 0, &weight, &weight_bytes, &layout) == FG_OK &&
        ((const unsigned char *)weight < image || (const unsigned char *)weight >= image + nbytes)) {
        fprintf(stderr, "fastgru: the loader copied the weights out of the array\n");
        fg_model_free(model);
        return 1;
    }
    run_options opts = {0, 0};
    int rc = run_npy(model, argc - 2, argv + 1, argv[argc - 1], &opts);
    fg_model_free(model);
    return rc ? 2 : 0;
}
