/* run_npy.c - model inputs from .npy files, outputs to .npy files (see run_npy.h). */
#include "run_npy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_alloc.h" /* aligned blocks on Windows too */
#include "npy.h"

#define MAX_IO 64
#define MAX_AXES 8

/* Print "fastgru: <message>" on stderr and return 1 (the failure code of run_npy). */
static int say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fastgru: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

/* The path of output k: out.npy for k == 0, else out_k.npy. */
static void output_path(const char *out_path, int k, char *buf, size_t len)
{
    size_t n = strlen(out_path);
    if (k == 0) {
        snprintf(buf, len, "%s", out_path);
    } else if (n >= 4 && strcmp(out_path + n - 4, ".npy") == 0) {
        snprintf(buf, len, "%.*s_%d.npy", (int)(n - 4), out_path, k);
    } else {
        snprintf(buf, len, "%s_%d", out_path, k);
    }
}

/* Check input array `a` against the model input `info`, fill batch / time lengths from it
 * and convert float64 to float32 in place. */
static int check_input(const fg_tensor_info *info, npy_array *a, const char *path,
                       int64_t *batch, int64_t *timesteps)
{
    if (a->ndim != info->rank + 1)
        return say("%s: has %d axes, model input '%s' needs %d (batch first)", path, a->ndim,
                   info->name, info->rank + 1);
    if (*batch < 0) *batch = a->shape[0];
    if (a->shape[0] != *batch) return say("%s: batch size differs from input 0's", path);
    for (int k = 0; k < info->rank; k++) {
        int64_t want = info->dims[k], got = a->shape[k + 1];
        if (want == -1) {
            int64_t *t = &timesteps[info->time_axis];
            if (*t < 0) *t = got;
            if (*t != got)
                return say("%s: time length %lld differs from another input's %lld on the same "
                           "time axis", path, (long long)got, (long long)*t);
        } else if (want != got) {
            return say("%s: axis %d is %lld, model input '%s' needs %lld", path, k + 1,
                       (long long)got, info->name, (long long)want);
        }
    }
    if (info->dtype == FG_DTYPE_INT32) {
        if (a->dtype != NPY_INT32) return say("%s: model input '%s' needs int32 ids", path,
                                              info->name);
    } else if (a->dtype == NPY_FLOAT64) {
        float *f = a->data;
        const double *d = a->data;
        for (size_t i = 0; i < a->count; i++) f[i] = (float)d[i]; /* in place, front to back */
        a->dtype = NPY_FLOAT32;
    } else if (a->dtype != NPY_FLOAT32) {
        return say("%s: model input '%s' needs float32 or float64", path, info->name);
    }
    return 0;
}

/* Elements per batch row of a tensor, and per time step when it has a time axis. */
static int64_t row_elems(const fg_tensor_info *info, const int64_t *timesteps)
{
    int64_t n = 1;
    for (int k = 0; k < info->rank; k++)
        n *= info->dims[k] == -1 ? timesteps[info->time_axis] : info->dims[k];
    return n;
}

/* Copy step t of every timed row between the sequence layout (B, T, rest) and the step
 * layout (B, rest). to_step: sequence -> step, else step -> sequence. */
static void copy_step(char *seq, char *step, int64_t batch, int64_t T, int64_t t,
                      size_t step_bytes, int to_step)
{
    for (int64_t b = 0; b < batch; b++) {
        char *s = seq + ((size_t)(b * T + t)) * step_bytes, *p = step + (size_t)b * step_bytes;
        if (to_step) memcpy(p, s, step_bytes);
        else memcpy(s, p, step_bytes);
    }
}

static int run_stream(const fg_model *model, int n_in, int n_out, fg_tensor_info *in_info,
                      fg_tensor_info *out_info, int64_t batch, const int64_t *timesteps,
                      void **in_data, void **out_data, int32_t nthreads)
{
    int n_axes = fg_model_num_time_axes(model);
    int64_t T = n_axes ? timesteps[0] : 1, ones[MAX_AXES];
    for (int a = 0; a < n_axes; a++) {
        ones[a] = 1;
        if (timesteps[a] != T)
            return say("--stream needs every sequence input to have the same length");
    }
    if (fg_model_check_streamable(model) != FG_OK) return say("%s", fg_last_error());
    fg_state *state = NULL;
    size_t ws_bytes = 0;
    if (fg_state_create(model, batch, &state) != FG_OK ||
        fg_model_workspace_bytes(model, batch, ones, nthreads, &ws_bytes) != FG_OK)
        return fg_state_free(state), say("%s", fg_last_error());

    /* one step's buffers: timed tensors get a (batch, rest) slice, the others run whole */
    const void *step_in[MAX_IO];
    void *step_out[MAX_IO], *owned[2 * MAX_IO] = {0};
    size_t in_step[MAX_IO], out_step[MAX_IO];
    void *ws = fg_aligned_alloc(64, (ws_bytes + 63) / 64 * 64 + 64);
    int rc = ws ? 0 : say("out of memory");
    for (int i = 0; i < n_in && !rc; i++) {
        in_step[i] = (size_t)row_elems(&in_info[i], ones) * 4;
        step_in[i] = in_data[i];
        if (in_info[i].dims[0] == -1 && !(owned[i] = malloc(in_step[i] * (size_t)batch + 1)))
            rc = say("out of memory");
        if (owned[i]) step_in[i] = owned[i];
    }
    for (int k = 0; k < n_out && !rc; k++) {
        out_step[k] = (size_t)row_elems(&out_info[k], ones) * 4;
        step_out[k] = out_data[k];
        if (out_info[k].dims[0] == -1 &&
            !(owned[MAX_IO + k] = malloc(out_step[k] * (size_t)batch + 1)))
            rc = say("out of memory");
        if (owned[MAX_IO + k]) step_out[k] = owned[MAX_IO + k];
    }
    for (int64_t t = 0; t < T && !rc; t++) {
        for (int i = 0; i < n_in; i++)
            if (owned[i]) copy_step(in_data[i], owned[i], batch, T, t, in_step[i], 1);
        if (fg_model_step(model, state, step_in, step_out, ws, ws_bytes, nthreads) != FG_OK) {
            rc = say("%s", fg_last_error());
            break;
        }
        for (int k = 0; k < n_out; k++)
            if (owned[MAX_IO + k])
                copy_step(out_data[k], owned[MAX_IO + k], batch, T, t, out_step[k], 0);
    }
    for (int i = 0; i < 2 * MAX_IO; i++) free(owned[i]);
    fg_aligned_free(ws);
    fg_state_free(state);
    return rc;
}

int run_npy(const fg_model *model, int n_in, char *const *in_paths, const char *out_path,
            const run_options *opts)
{
    int n_model_in = fg_model_num_inputs(model), n_out = fg_model_num_outputs(model);
    int n_axes = fg_model_num_time_axes(model);
    if (n_in != n_model_in)
        return say("the model takes %d input file(s), %d given", n_model_in, n_in);
    if (n_in > MAX_IO || n_out > MAX_IO || n_axes > MAX_AXES)
        return say("%s", "the model has more inputs, outputs or time axes than this "
                   "example handles");

    fg_tensor_info in_info[MAX_IO], out_info[MAX_IO];
    npy_array in[MAX_IO] = {0};
    void *in_data[MAX_IO], *out_data[MAX_IO] = {0};
    int64_t batch = -1, timesteps[MAX_AXES];
    for (int a = 0; a < MAX_AXES; a++) timesteps[a] = -1;
    char err[512];
    int rc = 0;
    for (int i = 0; i < n_in && !rc; i++) {
        fg_model_input_info(model, i, &in_info[i]);
        if (npy_read(in_paths[i], &in[i], err, sizeof err)) rc = say("%s", err);
        else rc = check_input(&in_info[i], &in[i], in_paths[i], &batch, timesteps);
        in_data[i] = in[i].data;
    }
    for (int a = 0; a < n_axes && !rc; a++)
        if (timesteps[a] < 0) timesteps[a] = 0;   /* derived (pooling, padding) or unused */
    if (!rc && fg_model_resolve_timesteps(model, timesteps)) rc = say("%s", fg_last_error());

    /* the embedded pattern: ask for the workspace size once (this also checks every shape
     * with the time lengths resolved, before any output is allocated), run with no allocation */
    size_t ws_bytes = 0;
    if (!rc && fg_model_workspace_bytes(model, batch, timesteps, opts->nthreads, &ws_bytes))
        rc = say("%s", fg_last_error());
    size_t out_elems[MAX_IO], out_bytes = 0;
    for (int k = 0; k < n_out && !rc; k++) {
        fg_model_output_info(model, k, &out_info[k]);
        if (out_info[k].dtype != FG_DTYPE_FLOAT32)
            rc = say("output '%s' is not float32", out_info[k].name);
        out_elems[k] = (size_t)(batch * row_elems(&out_info[k], timesteps));
        out_bytes += out_elems[k] * sizeof(float);
    }
    /* the outputs are allocated on fastgru's behalf: they count against the memory cap */
    if (!rc && fg_check_cap(out_bytes, "the run's outputs") != FG_OK)
        rc = say("%s", fg_last_error());
    for (int k = 0; k < n_out && !rc; k++)
        if (!(out_data[k] = calloc(out_elems[k] + 1, sizeof(float)))) rc = say("out of memory");

    if (!rc && opts->stream) {
        rc = run_stream(model, n_in, n_out, in_info, out_info, batch, timesteps, in_data,
                        out_data, opts->nthreads);
    } else if (!rc) {
        void *ws = fg_aligned_alloc(64, (ws_bytes + 63) / 64 * 64 + 64);
        if (!ws)
            rc = say("out of memory");
        else if (fg_model_run(model, NULL, batch, timesteps, (const void *const *)in_data,
                              out_data, ws, ws_bytes, opts->nthreads) != FG_OK)
            rc = say("%s", fg_last_error());
        fg_aligned_free(ws);
    }

    for (int k = 0; k < n_out && !rc; k++) {
        int64_t shape[FG_MAX_RANK + 1] = {batch};
        for (int d = 0; d < out_info[k].rank; d++)
            shape[d + 1] = out_info[k].dims[d] == -1 ? timesteps[out_info[k].time_axis]
                                                     : out_info[k].dims[d];
        char path[4096];
        output_path(out_path, k, path, sizeof path);
        if (npy_write(path, NPY_FLOAT32, out_info[k].rank + 1, shape, out_data[k], err,
                      sizeof err))
            rc = say("%s", err);
    }
    for (int i = 0; i < n_in; i++) npy_free(&in[i]);
    for (int k = 0; k < n_out; k++) free(out_data[k]);
    return rc;
}
