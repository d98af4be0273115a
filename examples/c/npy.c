/* npy.c - strict .npy reader / writer (see npy.h). */
#include "npy.h"

#include "fg_alloc.h" /* aligned blocks on Windows too */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
#define MAX_HEADER (1u << 20) /* NumPy itself refuses headers over 10 kB without a flag */

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

size_t npy_itemsize(npy_dtype dtype)
{
    return dtype == NPY_FLOAT64 ? 8 : 4;
}

static const char *descr_of(npy_dtype dtype)
{
    return dtype == NPY_FLOAT32 ? "<f4" : dtype == NPY_INT32 ? "<i4" : "<f8";
}

/* ---- header dict parser: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } ---- */

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_spaces(cursor *c)
{
    while (c->p < c->end && *c->p == ' ') c->p++;
}

static int accept(cursor *c, char ch)
{
    skip_spaces(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted string of printable ASCII without escapes into buf; 0 when malformed or longer
 * than buf (so that messages quoting it stay readable). */
static int parse_string(cursor *c, char *buf, size_t len)
{
    skip_spaces(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        if (*c->p == '\\' || *c->p < ' ' || *c->p > '~' || n + 1 >= len) return 0;
        buf[n++] = *c->p++;
    }
    if (c->p >= c->end) return 0;
    c->p++;
    buf[n] = '\0';
    return 1;
}

static int parse_word(cursor *c, const char *word)
{
    skip_spaces(c);
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return 0;
    c->p += n;
    return 1;
}

/* A non-negative decimal that fits in int64 (no sign, no leading '+'). */
static int parse_dim(cursor *c, int64_t *v)
{
    skip_spaces(c);
    int64_t x = 0;
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        int d = *c->p++ - '0';
        if (x > (INT64_MAX - d) / 10) return 0;
        x = x * 10 + d;
    }
    if (c->p == start) return 0;
    *v = x;
    return 1;
}

/* (), (n,), (a, b), (a, b,) */
static int parse_shape(cursor *c, npy_array *a, char *err, size_t err_len, const char *path)
{
    if (!accept(c, '(')) return fail(err, err_len, "%s: shape is not a tuple", path);
    a->ndim = 0;
    while (!accept(c, ')')) {
        if (a->ndim == NPY_MAX_DIMS)
            return fail(err, err_len, "%s: more than %d axes", path, NPY_MAX_DIMS);
        if (!parse_dim(c, &a->shape[a->ndim]))
            return fail(err, err_len, "%s: shape entry %d is not a non-negative integer", path,
                        a->ndim);
        a->ndim++;
        if (!accept(c, ',')) {
            if (!accept(c, ')')) return fail(err, err_len, "%s: malformed shape tuple", path);
            if (a->ndim == 1) return fail(err, err_len, "%s: malformed shape tuple", path);
            break;
        }
    }
    return 0;
}

static int parse_header(const char *text, size_t len, npy_array *a, char *err, size_t err_len,
                        const char *path)
{
    cursor c = {text, text + len};
    int seen_descr = 0, seen_order = 0, seen_shape = 0;
    if (!accept(&c, '{')) return fail(err, err_len, "%s: header is not a dict", path);
    while (!accept(&c, '}')) {
        char key[32], descr[16];
        if (!parse_string(&c, key, sizeof key) || !accept(&c, ':'))
            return fail(err, err_len, "%s: malformed header dict", path);
        if (strcmp(key, "descr") == 0 && !seen_descr) {
            seen_descr = 1;
            if (!parse_string(&c, descr, sizeof descr))
                return fail(err, err_len, "%s: malformed descr", path);
            if (strcmp(descr, "<f4") == 0) a->dtype = NPY_FLOAT32;
            else if (strcmp(descr, "<i4") == 0) a->dtype = NPY_INT32;
            else if (strcmp(descr, "<f8") == 0) a->dtype = NPY_FLOAT64;
            else
                return fail(err, err_len, "%s: dtype '%s' is not supported (expected '<f4', "
                            "'<i4' or '<f8')", path, descr);
        } else if (strcmp(key, "fortran_order") == 0 && !seen_order) {
            seen_order = 1;
            if (parse_word(&c, "True"))
                return fail(err, err_len, "%s: Fortran order is not supported; save a "
                            "C-contiguous array", path);
            if (!parse_word(&c, "False"))
                return fail(err, err_len, "%s: fortran_order is not True or False", path);
        } else if (strcmp(key, "shape") == 0 && !seen_shape) {
            seen_shape = 1;
            if (parse_shape(&c, a, err, err_len, path)) return -1;
        } else {
            return fail(err, err_len, "%s: unexpected or repeated header key '%s'", path, key);
        }
        if (!accept(&c, ',')) {
            if (!accept(&c, '}')) return fail(err, err_len, "%s: malformed header dict", path);
            break;
        }
    }
    if (!seen_descr || !seen_order || !seen_shape)
        return fail(err, err_len, "%s: header lacks descr, fortran_order or shape", path);
    /* the rest is padding: spaces, then one final newline */
    while (c.p < c.end && *c.p == ' ') c.p++;
    if (c.p + 1 != c.end || *c.p != '\n')
        return fail(err, err_len, "%s: header does not end with padding and a newline", path);
    return 0;
}

int npy_read(const char *path, npy_array *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, err_len, "%s: cannot open (%s)", path, strerror(errno));
    int rc = -1;
    char *header = NULL;
    unsigned char pre[12];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, MAGIC, 6) != 0) {
        fail(err, err_len, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    uint32_t hlen;
    size_t pre_len;
    if (pre[6] == 1 && pre[7] == 0) {
        hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
        pre_len = 10;
    } else if ((pre[6] == 2 || pre[6] == 3) && pre[7] == 0) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            fail(err, err_len, "%s: truncated header", path);
            goto done;
        }
        hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 |
               (uint32_t)pre[11] << 24;
        pre_len = 12;
    } else {
        fail(err, err_len, "%s: .npy version %u.%u is not supported", path, pre[6], pre[7]);
        goto done;
    }
    if (hlen == 0 || hlen > MAX_HEADER) {
        fail(err, err_len, "%s: header length %u out of range", path, hlen);
        goto done;
    }
    header = malloc(hlen);
    if (!header || fread(header, 1, hlen, f) != hlen) {
        fail(err, err_len, "%s: truncated header", path);
        goto done;
    }
    if (parse_header(header, hlen, out, err, err_len, path)) goto done;

    size_t item = npy_itemsize(out->dtype), count = 1;
    for (int k = 0; k < out->ndim; k++) {
        if (out->shape[k] != 0 && count > SIZE_MAX / item / (size_t)out->shape[k]) {
            fail(err, err_len, "%s: shape too large", path);
            goto done;
        }
        count *= (size_t)out->shape[k];
    }
    size_t nbytes = count * item;
    if (fseek(f, 0, SEEK_END) != 0) {
        fail(err, err_len, "%s: cannot seek", path);
        goto done;
    }
    long file_len = ftell(f);
    if (file_len < 0 || (uint64_t)file_len != (uint64_t)pre_len + hlen + nbytes) {
        fail(err, err_len, "%s: file holds %ld bytes, its header announces %zu", path, file_len,
             pre_len + hlen + nbytes);
        goto done;
    }
    fseek(f, (long)(pre_len + hlen), SEEK_SET);
    out->count = count;
    out->data = fg_aligned_alloc(64, (nbytes + 63) / 64 * 64 + 64);
    if (!out->data) {
        fail(err, err_len, "%s: out of memory for %zu bytes", path, nbytes);
        goto done;
    }
    if (fread(out->data, 1, nbytes, f) != nbytes) {
        fail(err, err_len, "%s: truncated data", path);
        goto done;
    }
    rc = 0;
done:
    free(header);
    fclose(f);
    if (rc) npy_free(out);
    return rc;
}

int npy_write(const char *path, npy_dtype dtype, int ndim, const int64_t *shape,
              const void *data, char *err, size_t err_len)
{
    if (ndim < 0 || ndim > NPY_MAX_DIMS) return fail(err, err_len, "%s: bad ndim %d", path, ndim);
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     descr_of(dtype));
    size_t count = 1;
    for (int k = 0; k < ndim; k++) {
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld%s", (long long)shape[k],
                      ndim == 1 ? "," : k + 1 < ndim ? ", " : "");
        count *= (size_t)shape[k];
    }
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    /* pad with spaces so that magic + version + length + dict + '\n' is a multiple of 64 */
    size_t total = ((size_t)n + 10 + 1 + 63) / 64 * 64, hlen = total - 10;
    char header[600];
    memcpy(header, MAGIC, 6);
    header[6] = 1, header[7] = 0;
    header[8] = (char)(hlen & 0xff), header[9] = (char)(hlen >> 8);
    memcpy(header + 10, dict, (size_t)n);
    memset(header + 10 + n, ' ', hlen - (size_t)n - 1);
    header[total - 1] = '\n';

    FILE *f = fopen(path, "wb");
    if (!f) return fail(err, err_len, "%s: cannot create (%s)", path, strerror(errno));
    size_t nbytes = count * npy_itemsize(dtype);
    int ok = fwrite(header, 1, total, f) == total && fwrite(data, 1, nbytes, f) == nbytes;
    if (fclose(f) != 0) ok = 0;
    return ok ? 0 : fail(err, err_len, "%s: write failed", path);
}

void npy_free(npy_array *array)
{
    fg_aligned_free(array->data);
    array->data = NULL;
}
