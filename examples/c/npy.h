/* npy.h - a small strict reader / writer of NumPy .npy files for the C examples.
 *
 * Supported: format versions 1.0, 2.0 and 3.0; dtypes '<f4' (float32), '<i4' (int32) and
 * '<f8' (float64), little-endian, C order ('fortran_order': False), up to NPY_MAX_DIMS axes.
 * The header dict is parsed strictly (exactly the keys descr, fortran_order, shape, nothing
 * else) and every size is checked: the element count with overflow checks, and the file must
 * hold exactly the data its header announces. Anything else is refused with a message.
 */
#ifndef FG_EXAMPLES_NPY_H
#define FG_EXAMPLES_NPY_H

#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_DIMS 8

typedef enum npy_dtype { NPY_FLOAT32 = 0, NPY_INT32 = 1, NPY_FLOAT64 = 2 } npy_dtype;

typedef struct npy_array {
    npy_dtype dtype;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    size_t count;   /* number of elements (1 for a 0-d array) */
    void *data;     /* 64-byte aligned, count * npy_itemsize(dtype) bytes; free with npy_free */
} npy_array;

size_t npy_itemsize(npy_dtype dtype);

/* Read `path` into `out`. Returns 0, or -1 with a message naming the file and the fault in
 * err (err_len bytes, always NUL-terminated). */
int npy_read(const char *path, npy_array *out, char *err, size_t err_len);

/* Write `count` = prod(shape) elements of `dtype` as a version 1.0 .npy file (the header
 * padded to 64 bytes, as NumPy does). Returns 0, or -1 with a message in err. */
int npy_write(const char *path, npy_dtype dtype, int ndim, const int64_t *shape,
              const void *data, char *err, size_t err_len);

void npy_free(npy_array *array);

#endif
