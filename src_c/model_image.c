/* model_image.c - parse and check a model image (docs/FORMAT.md) into an fg_model.
 *
 * Nothing in the image is trusted: every count, offset, size, index and enum is checked
 * against the buffer before it is used, and a CRC32 over everything after the first 32 bytes
 * must match. float32 weight data stay where they are (zero copy) when the buffer is 64-byte
 * aligned; float16 / bfloat16 weights are widened once into float32 memory the model owns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef _WIN32
#include <io.h>
#else
#include <unistd.h>
#endif

#include "fg_alloc.h"
#include "fg_config_select.h"
#include "model_internal.h"

#define FORMAT_MAJOR 1
static const char MAGIC[8] = {'F', 'G', 'R', 'U', 'I', 'M', 'G', '\0'};
enum { TENSOR_REC = 32, OP_REC = 96, WEIGHT_REC = 48, CRC_FROM = 32 };

/* ---- little-endian field access (the image is little-endian on every host) -------------- */
static uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd_u64(const uint8_t *p) { return rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32; }
static int32_t rd_i32(const uint8_t *p) { uint32_t u = rd_u32(p); int32_t v; memcpy(&v, &u, 4); return v; }
static float rd_f32(const uint8_t *p) { uint32_t u = rd_u32(p); float v; memcpy(&v, &u, 4); return v; }

#ifdef FG_MCU
/* The bare-metal build (mcu/fg_mcu_prelude.h): the 8 KB of tables below would be most of a
 * microcontroller's stack, so four bits per step from a 16-entry table (64 bytes). */
static uint32_t crc32_bytes(const uint8_t *p, size_t n) {
    uint32_t t[16], c = 0xFFFFFFFFu;
    for (uint32_t i = 0; i < 16; i++) {
        uint32_t e = i;
        for (int k = 0; k < 4; k++) e = e & 1 ? 0xEDB88320u ^ (e >> 1) : e >> 1;
        t[i] = e;
    }
    for (; n; p++, n--) {
        c ^= *p;
        c = t[c & 0xF] ^ (c >> 4);
        c = t[c & 0xF] ^ (c >> 4);
    }
    return c ^ 0xFFFFFFFFu;
}
#else
/* CRC-32 (IEEE 802.3, the zlib / PNG one), eight bytes per step ("slicing by 8"). The tables
 * are rebuilt per call (a few thousand operations, nothing next to an image) so that loading
 * shares no mutable state between threads. */
static uint32_t crc32_bytes(const uint8_t *p, size_t n) {
    uint32_t t[8][256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
    uint32_t c = 0xFFFFFFFFu;
    for (; n >= 8; p += 8, n -= 8) {
        uint32_t lo = c ^ rd_u32(p), hi = rd_u32(p + 4);
        c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
            t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    }
    for (; n; p++, n--) c = t[0][(c ^ *p) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}
#endif

/* [off, off + count*rec) inside [header, total)? */
static int section_ok(uint64_t off, uint64_t count, uint64_t rec, uint64_t total) {
    if (off < MODEL_HEADER_BYTES || off > total) return 0;
    if (rec && count > (total - off) / rec) return 0;
    return 1;
}

typedef struct parse_ctx {
    const uint8_t *img;
    uint64_t total;
    uint64_t strings_off, strings_bytes;
} parse_ctx;

/* A NUL-terminated string at `off` inside the string section. */
static int get_string(const parse_ctx *c, uint32_t off, const char **out, const char *what) {
    if (off >= c->strings_bytes)
        return fg_fail(FG_ERR_FORMAT, "model image: %s string offset %u is outside the string "
                       "section (%llu bytes)", what, off, (unsigned long long)c->strings_bytes);
    const char *s = (const char *)c->img + c->strings_off + off;
    if (!memchr(s, '\0', c->strings_bytes - off))
        return fg_fail(FG_ERR_FORMAT, "model image: %s string at offset %u is not terminated",
                       what, off);
    *out = s;
    return FG_OK;
}

static int read_dims(const uint8_t *p, int32_t rank, int64_t *dims, int allow_time,
                     const char *what, long idx) {
    if (rank < 0 || rank > FG_MAX_RANK)
        return fg_fail(FG_ERR_FORMAT, "model image: %s %ld has rank %d (expected 0..%d)", what,
                       idx, rank, FG_MAX_RANK);
    for (int k = 0; k < FG_MAX_RANK; k++) {
        int32_t d = rd_i32(p + 4 * k);
        if (k >= rank) { dims[k] = 0; continue; }
        if (d > 0 || (d == -1 && k == 0 && allow_time)) { dims[k] = d; continue; }
        return fg_fail(FG_ERR_FORMAT, "model image: %s %ld has dimension %d = %d (expected > 0%s)",
                       what, idx, k, d, allow_time && k == 0 ? " or -1 for time" : "");
    }
    return FG_OK;
}

static int parse_tensors(fg_model *m, const parse_ctx *c, uint64_t off) {
    for (int32_t i = 0; i < m->n_tensors; i++) {
        const uint8_t *r = c->img + off + (uint64_t)i * TENSOR_REC;
        model_tensor *t = &m->tensors[i];
        int st = get_string(c, rd_u32(r), &t->name, "tensor name");
        if (st) return st;
        t->dtype = (int32_t)rd_u32(r + 4);
        t->rank = (int32_t)rd_u32(r + 8);
        if (t->dtype < FG_DTYPE_FLOAT32 || t->dtype > FG_DTYPE_BOOL)
            return fg_fail(FG_ERR_FORMAT, "model image: tensor '%s' has unknown dtype %d",
                           t->name, t->dtype);
        if ((st = read_dims(r + 16, t->rank, t->dims, 1, "tensor", i))) return st;
        uint32_t axis = rd_u32(r + 12);
        int timed = t->rank > 0 && t->dims[0] == -1;
        if (axis >= MODEL_MAX_TIME_AXES || (axis && !timed))
            return fg_fail(FG_ERR_FORMAT, "model image: tensor '%s' has time axis %u (expected "
                           "0..%d, and 0 without a -1 dimension)", t->name, axis,
                           MODEL_MAX_TIME_AXES - 1);
        t->time_axis = (int32_t)axis;
        if (timed && t->time_axis >= m->n_time) m->n_time = t->time_axis + 1;
        t->producer = t->last_use = -1;
        t->input_index = -1;
        t->output_index = -1;
    }
    return FG_OK;
}

/* Bytes per element of a stored weight dtype; 0 for an unknown one. */
static uint64_t weight_dtype_size(int32_t dtype) {
    if (dtype == MODEL_WDTYPE_FLOAT32) return 4;
    return dtype == MODEL_WDTYPE_FLOAT16 || dtype == MODEL_WDTYPE_BFLOAT16 ? 2 : 0;
}

static uint64_t align_up(uint64_t n) { return (n + MODEL_ALIGN - 1) / MODEL_ALIGN * MODEL_ALIGN; }

/* Give every 16-bit weight a float32 copy in one block the model owns (`bytes`: their
 * 64-byte aligned float32 sizes summed). The block is at most twice the image plus padding,
 * so a hostile header cannot ask for more than the buffer it came in justifies. */
static int widen_weights(fg_model *m, uint64_t bytes) {
    if (!bytes) return FG_OK;
    int st = bytes > SIZE_MAX ? FG_OK : fg_check_cap((size_t)bytes, "the widened 16-bit weights");
    if (st) return st;
    if (bytes > SIZE_MAX || !(m->widened = fg_aligned_alloc(MODEL_ALIGN, (size_t)bytes)))
        return fg_fail(FG_ERR_NOMEM, "model image: out of memory widening 16-bit weights to "
                       "%llu bytes of float32", (unsigned long long)bytes);
    m->held_bytes += model_block_bytes((size_t)bytes);
    uint8_t *at = (uint8_t *)m->widened;
    for (int32_t i = 0; i < m->n_weights; i++) {
        model_weight *w = &m->weights[i];
        if (w->dtype == MODEL_WDTYPE_FLOAT32) continue;
        model_widen_weights(w->dtype, w->data, w->nbytes / 4, (float *)at);
        w->data = at;
        at += align_up(w->nbytes);
    }
    return FG_OK;
}

static int parse_weights(fg_model *m, const parse_ctx *c, uint64_t off) {
    uint64_t widened_bytes = 0;
    for (int32_t i = 0; i < m->n_weights; i++) {
        const uint8_t *r = c->img + off + (uint64_t)i * WEIGHT_REC;
        model_weight *w = &m->weights[i];
        uint64_t woff = rd_u64(r), nbytes = rd_u64(r + 8);
        w->dtype = (int32_t)rd_u32(r + 16);
        w->layout = (int32_t)rd_u32(r + 20);
        w->rank = (int32_t)rd_u32(r + 24);
        if (woff % MODEL_ALIGN || !section_ok(woff, nbytes, 1, c->total))
            return fg_fail(FG_ERR_FORMAT, "model image: weight %d data [%llu, +%llu) is outside "
                           "the image (%llu bytes) or not 64-byte aligned", i,
                           (unsigned long long)woff, (unsigned long long)nbytes,
                           (unsigned long long)c->total);
        uint64_t esize = weight_dtype_size(w->dtype);
        if (!esize)
            return fg_fail(FG_ERR_FORMAT, "model image: weight %d has unknown dtype %d "
                           "(expected 0 float32, 1 float16 or 2 bfloat16)", i, w->dtype);
        if (rd_u32(r + 44) != 0)
            return fg_fail(FG_ERR_FORMAT, "model image: weight %d reserved field is not 0", i);
        if (w->layout != LAYOUT_PLAIN && w->layout != LAYOUT_GRU_PACKED &&
            w->layout != LAYOUT_CUSTOM_PROGRAM)
            return fg_fail(FG_ERR_FORMAT, "model image: weight %d has unknown layout %d", i,
                           w->layout);
        if (w->layout == LAYOUT_CUSTOM_PROGRAM && w->dtype != MODEL_WDTYPE_FLOAT32)
            return fg_fail(FG_ERR_FORMAT,
                           "model image: weight %d (a custom cell's program) "
                           "must be float32, not dtype %d",
                           i, w->dtype);
        int st = read_dims(r + 28, w->rank, w->dims, 0, "weight", i);
        if (st) return st;
        if (w->layout != LAYOUT_GRU_PACKED) {
            uint64_t n = esize;
            for (int k = 0; k < w->rank; k++) {
                if ((uint64_t)w->dims[k] > UINT64_MAX / n)
                    return fg_fail(FG_ERR_FORMAT, "model image: weight %d size overflows", i);
                n *= (uint64_t)w->dims[k];
            }
            if (n != nbytes)
                return fg_fail(FG_ERR_FORMAT, "model image: weight %d holds %llu bytes of dtype "
                               "%d but its shape needs %llu", i, (unsigned long long)nbytes,
                               w->dtype, (unsigned long long)n);
        } else if (nbytes % esize) {   /* packed: its size is checked against the op's config */
            return fg_fail(FG_ERR_FORMAT, "model image: weight %d holds %llu bytes of dtype %d, "
                           "not a whole number of %llu-byte values", i,
                           (unsigned long long)nbytes, w->dtype, (unsigned long long)esize);
        }
        w->data = c->img + woff;
        w->nbytes = nbytes / esize * 4;   /* the float32 size the executor sees */
        if (esize != 4) widened_bytes += align_up(w->nbytes);
    }
    return widen_weights(m, widened_bytes);
}

/* An index-pool list [at, at+n) of ids below `limit` (absent allowed when `optional`). */
static int index_list(fg_model *m, uint32_t n_index, uint32_t at, uint32_t n, int32_t limit,
                      const int32_t **out, const char *what, const char *layer) {
    if (at > n_index || n > n_index - at)
        return fg_fail(FG_ERR_FORMAT, "model image: layer '%s': %s list [%u, +%u) is outside "
                       "the index pool (%u entries)", layer, what, at, n, n_index);
    for (uint32_t k = 0; k < n; k++) {
        int32_t v = m->index[at + k];
        if (v != -1 && (v < 0 || v >= limit))
            return fg_fail(FG_ERR_FORMAT, "model image: layer '%s': %s %u refers to id %d "
                           "(only %d exist)", layer, what, k, v, limit);
    }
    *out = m->index + at;
    return FG_OK;
}

static int parse_ops(fg_model *m, const parse_ctx *c, uint64_t off, uint32_t n_index) {
    for (int32_t i = 0; i < m->n_ops; i++) {
        const uint8_t *r = c->img + off + (uint64_t)i * OP_REC;
        model_op *o = &m->ops[i];
        int st = get_string(c, rd_u32(r + 4), &o->layer, "layer name");
        if (st) return st;
        o->kind = (int32_t)rd_u32(r);
        if (o->kind < 0 || o->kind >= OP_KIND_COUNT)
            return fg_fail(FG_ERR_FORMAT, "model image: layer '%s': unknown op kind %d",
                           o->layer, o->kind);
        uint32_t n_in = rd_u32(r + 8), n_out = rd_u32(r + 16), n_w = rd_u32(r + 24);
        const model_op_kind *kind = &MODEL_OP_KINDS[o->kind];
        if (n_in < (uint32_t)kind->min_in || n_in > (uint32_t)kind->max_in ||
            n_out != (uint32_t)kind->n_out || n_w != (uint32_t)kind->n_w)
            return fg_fail(FG_ERR_FORMAT, "model image: layer '%s': op %s has %u inputs, %u "
                           "outputs, %u weights (expected %d..%d, %d, %d)", o->layer,
                           kind->name, n_in, n_out, n_w, kind->min_in, kind->max_in,
                           kind->n_out, kind->n_w);
        o->n_in = (int32_t)n_in; o->n_out = (int32_t)n_out; o->n_w = (int32_t)n_w;
        if ((st = index_list(m, n_index, rd_u32(r + 12), n_in, m->n_tensors, &o->in, "input",
                             o->layer)) ||
            (st = index_list(m, n_index, rd_u32(r + 20), n_out, m->n_tensors, &o->out,
                             "output", o->layer)) ||
            (st = index_list(m, n_index, rd_u32(r + 28), n_w, m->n_weights, &o->w, "weight",
                             o->layer)))
            return st;
        for (int k = 0; k < MODEL_NIATTR; k++) o->iattr[k] = rd_i32(r + 32 + 4 * k);
        for (int k = 0; k < MODEL_NFATTR; k++) o->fattr[k] = rd_f32(r + 80 + 4 * k);
        o->state_slot = -1;
        int cell = model_recurrent_cell(o->kind);
        if (cell >= 0) {
            o->gru = (fg_gru_config){o->iattr[GRU_INPUT_DIM],   o->iattr[GRU_UNITS],
                                     o->iattr[GRU_RESET_AFTER], o->iattr[GRU_USE_BIAS],
                                     o->iattr[GRU_ACTIVATION],  o->iattr[GRU_RECURRENT_ACTIVATION],
                                     FG_PRECISION_FP32,         cell};
        }
        /* a build without custom_gru refuses the op in check_graph (model_check_op) */
        if (FG_OP_BUILT(OP_CUSTOM_GRU) && o->kind == OP_CUSTOM_GRU &&
            (st = model_custom_gru_load(m, o)))
            return st;
    }
    return FG_OK;
}

/* Data flow: inputs defined before use, every tensor produced once, outputs defined. */
static int check_graph(fg_model *m, uint32_t features)
{
    for (int32_t k = 0; k < m->n_inputs; k++) {
        if (m->inputs[k] < 0 || m->tensors[m->inputs[k]].input_index >= 0)
            return fg_fail(FG_ERR_FORMAT, "model image: model input %d is absent or repeated", k);
        model_tensor *t = &m->tensors[m->inputs[k]];
        if (t->dtype == FG_DTYPE_BOOL)
            return fg_fail(FG_ERR_FORMAT, "model image: model input '%s' is a mask (bool); "
                           "inputs are float32 or int32", t->name);
        t->input_index = k;
    }
    for (int32_t i = 0; i < m->n_ops; i++) {
        model_op *o = &m->ops[i];
        for (int32_t k = 0; k < o->n_in; k++) {
            int32_t id = o->in[k];
            if (id < 0) continue;
            const model_tensor *t = &m->tensors[id];
            if (t->input_index < 0 && (t->producer < 0 || t->producer >= i))
                return fg_fail(FG_ERR_FORMAT, "model image: layer '%s' reads tensor '%s' before "
                               "any op writes it", o->layer, t->name);
            m->tensors[id].last_use = i;
        }
        for (int32_t k = 0; k < o->n_out; k++) {
            int32_t id = o->out[k];
            if (id < 0) continue;
            model_tensor *t = &m->tensors[id];
            if (t->input_index >= 0 || t->producer >= 0)
                return fg_fail(FG_ERR_FORMAT, "model image: layer '%s' writes tensor '%s', "
                               "which is already defined", o->layer, t->name);
            t->producer = t->last_use = i;
        }
        int st = model_check_op(m, o, NULL);
        if (st) return st;
        /* an op that carries state across calls or stream steps gets a slot in fg_state */
        o->state_floats = model_op_state_floats(m, o);
        if (o->state_floats > 0) o->state_slot = m->n_slots++;
        if (o->kind == OP_REVERSE_TIME ||
            (model_recurrent_cell(o->kind) >= 0 && o->iattr[GRU_GO_BACKWARDS]))
            m->causal = 0;
        /* the header says so, for readers that would run the op batch-major */
        if (model_op_time_major(o) && !(features & MODEL_FEATURE_TIME_MAJOR))
            return fg_fail(FG_ERR_FORMAT,
                           "model image: layer '%s' (%s) is time-major, but the "
                           "header does not declare feature 0x%x (time-major ops)",
                           o->layer, model_kind_name(o->kind), (unsigned)MODEL_FEATURE_TIME_MAJOR);
    }
    for (int32_t k = 0; k < m->n_outputs; k++) {
        int32_t id = m->outputs[k];
        if (id < 0 || (m->tensors[id].producer < 0 && m->tensors[id].input_index < 0))
            return fg_fail(FG_ERR_FORMAT, "model image: model output %d is absent or never "
                           "written", k);
        if (m->tensors[id].producer >= 0 && m->tensors[id].output_index < 0)
            m->tensors[id].output_index = k;
    }
    return FG_OK;
}

/* The op tables in one block (tensors, ops, weights, index pool and, in the bare-metal build,
 * the planning table of fg_model_workspace_bytes), each part 16-byte aligned. The counts were
 * checked against the image's size, but their products are checked here again: on a 32-bit
 * target a hostile count could overflow size_t. */
static int alloc_tables(fg_model *m, uint32_t n_index)
{
    uint64_t part[5] = {
        (uint64_t)m->n_tensors * sizeof *m->tensors, (uint64_t)m->n_ops * sizeof *m->ops,
        (uint64_t)m->n_weights * sizeof *m->weights, (uint64_t)n_index * sizeof *m->index, 0};
#ifdef FG_MCU
    part[4] = (3 * (uint64_t)m->n_tensors + 1) * sizeof *m->plan_table;
#endif
    uint64_t at[5], total = 0;
    for (int k = 0; k < 5; k++) {
        at[k] = total;
        total += (part[k] + 15) / 16 * 16;
    }
    if (total > SIZE_MAX / 2 || !model_block_bytes((size_t)total))
        return fg_fail(FG_ERR_NOMEM, "model image: its op tables (%llu bytes) are too large",
                       (unsigned long long)total);
    uint8_t *block = calloc(1, total ? (size_t)total : 1);
    if (!block) return fg_fail(FG_ERR_NOMEM, "model image: out of memory for the op tables");
    m->held_bytes += model_block_bytes(total ? (size_t)total : 1);
    m->tensors = (model_tensor *)(block + at[0]);
    m->ops = (model_op *)(block + at[1]);
    m->weights = (model_weight *)(block + at[2]);
    m->index = (int32_t *)(block + at[3]);
    m->plan_table = part[4] ? (size_t *)(block + at[4]) : NULL;
    return FG_OK;
}

static int parse(fg_model *m, const uint8_t *img, uint64_t total) {
    if (total < MODEL_HEADER_BYTES)
        return fg_fail(FG_ERR_FORMAT, "model image: %llu bytes is shorter than the %d-byte header",
                       (unsigned long long)total, MODEL_HEADER_BYTES);
    if (memcmp(img, MAGIC, 8) != 0)
        return fg_fail(FG_ERR_FORMAT, "not a fastgru model image (bad magic)");
    unsigned major = img[8] | img[9] << 8, minor = img[10] | img[11] << 8;
    if (major != FORMAT_MAJOR)
        return fg_fail(FG_ERR_FORMAT, "model image format version %u.%u is not supported by this "
                       "reader (major version %d only)", major, minor, FORMAT_MAJOR);
    if (rd_u32(img + 12) != MODEL_HEADER_BYTES)
        return fg_fail(FG_ERR_FORMAT, "model image: header size %u (expected %d)", rd_u32(img + 12),
                       MODEL_HEADER_BYTES);
    uint64_t declared = rd_u64(img + 16);
    if (declared != total)
        return fg_fail(FG_ERR_FORMAT, "model image: header says %llu bytes, buffer holds %llu "
                       "(truncated or padded)", (unsigned long long)declared,
                       (unsigned long long)total);
    uint32_t crc = crc32_bytes(img + CRC_FROM, total - CRC_FROM);
    if (crc != rd_u32(img + 24))
        return fg_fail(FG_ERR_FORMAT, "model image: checksum mismatch (stored %08x, computed "
                       "%08x): the image is corrupt", rd_u32(img + 24), crc);
    uint32_t features = rd_u32(img + 28);
    if (features & ~MODEL_KNOWN_FEATURES)
        return fg_fail(FG_ERR_FORMAT,
                       "model image (format %u.%u): it needs features 0x%x that "
                       "this reader does not know or was built without (header field features = "
                       "0x%x)",
                       major, minor, features & ~MODEL_KNOWN_FEATURES, features);

    uint32_t n_tensors = rd_u32(img + 32), n_ops = rd_u32(img + 36), n_weights = rd_u32(img + 40);
    uint32_t n_index = rd_u32(img + 44), n_inputs = rd_u32(img + 48), n_outputs = rd_u32(img + 52);
    int64_t stateful_batch = (int64_t)rd_u64(img + 56);
    uint64_t tensors_off = rd_u64(img + 64), ops_off = rd_u64(img + 72);
    uint64_t weights_off = rd_u64(img + 80), index_off = rd_u64(img + 88);
    parse_ctx c = {img, total, rd_u64(img + 96), rd_u64(img + 104)};
    uint64_t meta_off = rd_u64(img + 112), meta_bytes = rd_u64(img + 120);

    if (n_tensors > INT32_MAX || n_ops > INT32_MAX || n_weights > INT32_MAX ||
        n_index > INT32_MAX || (uint64_t)n_inputs + n_outputs > n_index || n_outputs == 0 ||
        stateful_batch < 0)
        return fg_fail(FG_ERR_FORMAT, "model image: bad counts (tensors %u, ops %u, weights %u, "
                       "index %u, inputs %u, outputs %u, stateful batch %lld)", n_tensors, n_ops,
                       n_weights, n_index, n_inputs, n_outputs, (long long)stateful_batch);
    if (!section_ok(tensors_off, n_tensors, TENSOR_REC, total) ||
        !section_ok(ops_off, n_ops, OP_REC, total) ||
        !section_ok(weights_off, n_weights, WEIGHT_REC, total) ||
        !section_ok(index_off, n_index, 4, total) ||
        !section_ok(c.strings_off, c.strings_bytes, 1, total) ||
        !section_ok(meta_off, meta_bytes, 1, total))
        return fg_fail(FG_ERR_FORMAT, "model image: a section lies outside the %llu-byte image",
                       (unsigned long long)total);

    m->n_tensors = (int32_t)n_tensors; m->n_ops = (int32_t)n_ops;
    m->n_weights = (int32_t)n_weights;
    m->n_inputs = (int32_t)n_inputs; m->n_outputs = (int32_t)n_outputs;
    m->stateful_batch = stateful_batch;
    m->causal = 1;
    m->meta = (const char *)img + meta_off;
    m->meta_bytes = (size_t)meta_bytes;
    int st = alloc_tables(m, n_index);
    if (st) return st;
    for (uint32_t k = 0; k < n_index; k++) {
        uint32_t v = rd_u32(img + index_off + 4 * (uint64_t)k);
        m->index[k] = v == MODEL_ABSENT ? -1 : v > INT32_MAX ? -2 : (int32_t)v;
    }
    if ((st = index_list(m, n_index, 0, n_inputs, (int32_t)n_tensors, &m->inputs, "model input",
                         "(model)")) ||
        (st = index_list(m, n_index, n_inputs, n_outputs, (int32_t)n_tensors, &m->outputs,
                         "model output", "(model)")) ||
        (st = parse_tensors(m, &c, tensors_off)) || (st = parse_weights(m, &c, weights_off)) ||
        (st = parse_ops(m, &c, ops_off, n_index)) || (st = check_graph(m, features)) ||
        (st = model_pack_dense(m)) || (FG_OP_BUILT(OP_CONV1D) && (st = model_pack_conv(m))))
        return st;
    return FG_OK;
}

void fg_model_free(fg_model *m) {
    if (!m) return;
    for (int32_t i = 0; m->ops && i < m->n_ops; i++)
        free(m->ops[i].program);
    free(m->tensors);   /* the block of every table (alloc_tables) */
    fg_aligned_free(m->owned_image);
    fg_aligned_free(m->widened);
    fg_aligned_free(m->repacked);
    fg_aligned_free(m->dense_packed);
    fg_aligned_free(m->conv_packed);
    free(m);
}

/* The block a model file is read into (read_model_file): whole 64-byte lines, one spare. */
static size_t file_block_bytes(size_t nbytes)
{
    return (nbytes / MODEL_ALIGN + 1) * MODEL_ALIGN;
}

static int load(const void *image, size_t nbytes, void *owned, fg_model **out) {
    int st = fg_check_cap(nbytes, "the model image");
    if (st) { fg_aligned_free(owned); return st; }
    fg_model *m = calloc(1, sizeof *m);
    if (!m) {
        fg_aligned_free(owned);
        return fg_fail(FG_ERR_NOMEM, "out of memory for the model");
    }
    m->held_bytes = model_block_bytes(sizeof *m);
    m->owned_image = owned;
    if (owned) m->held_bytes += model_block_bytes(file_block_bytes(nbytes));
    if (!owned && ((uintptr_t)image % MODEL_ALIGN) != 0) {
        /* Weights must sit 64-byte aligned for the kernels: copy once. */
        size_t copy_bytes = (nbytes + MODEL_ALIGN - 1) / MODEL_ALIGN * MODEL_ALIGN;
        m->owned_image = fg_aligned_alloc(MODEL_ALIGN, copy_bytes);
        if (!m->owned_image) { free(m); return fg_fail(FG_ERR_NOMEM, "out of memory copying the "
                                                       "unaligned model image"); }
        m->held_bytes += model_block_bytes(copy_bytes);
        memcpy(m->owned_image, image, nbytes);
        image = m->owned_image;
    }
    m->image = image;
    m->image_bytes = nbytes;
    st = parse(m, image, nbytes);
    if (st) { fg_model_free(m); return st; }
    *out = m;
    return FG_OK;
}

int fg_model_load(const void *image, size_t nbytes, fg_model **out) {
    if (!out || (!image && nbytes)) return fg_fail(FG_ERR_ARG, "fg_model_load: NULL argument");
    *out = NULL;
    if (!image || nbytes < MODEL_HEADER_BYTES)
        return fg_fail(FG_ERR_FORMAT, "model image: %zu bytes is shorter than the %d-byte header",
                       nbytes, MODEL_HEADER_BYTES);
    return load(image, nbytes, NULL, out);
}

#ifndef O_NONBLOCK   /* Windows: no FIFO to block on; binary mode instead */
#define O_NONBLOCK O_BINARY
#endif
#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif
#ifndef S_ISREG
#define S_ISREG(mode) (((mode) & S_IFMT) == S_IFREG)
#endif

/* The file's first n bytes, or -1 (lseek and read: Windows has no pread, and its read()
 * counts in an unsigned int, so at most 1 GiB a call). */
static int read_start(int fd, void *buf, size_t n) {
    if (lseek(fd, 0, SEEK_SET) != 0) return -1;
    for (size_t done = 0; done < n;) {
        size_t want = n - done < ((size_t)1 << 30) ? n - done : ((size_t)1 << 30);
        long got = (long)read(fd, (uint8_t *)buf + done, (unsigned)want);
        if (got <= 0) return -1;
        done += (size_t)got;
    }
    return 0;
}

/* Opened without blocking and refused unless a regular file (a FIFO or a device as the path
 * must not hang or stream forever); the header's declared size is checked against the file's
 * and the cap before the body is read. */
static int read_model_file(int fd, const char *path, void **image, size_t *nbytes) {
    struct stat sb;
    if (fstat(fd, &sb) != 0) return fg_fail(FG_ERR_IO, "cannot stat model file '%s'", path);
    if (!S_ISREG(sb.st_mode))
        return fg_fail(FG_ERR_IO, "model file '%s' is not a regular file (a folder, FIFO or "
                       "device)", path);
    uint64_t size = (uint64_t)sb.st_size;
    uint8_t header[MODEL_HEADER_BYTES];
    if (size >= MODEL_HEADER_BYTES) {
        if (read_start(fd, header, sizeof header) != 0)
            return fg_fail(FG_ERR_IO, "cannot read the header of model file '%s'", path);
        if (memcmp(header, MAGIC, 8) != 0)
            return fg_fail(FG_ERR_FORMAT, "model file '%s' is not a fastgru model image (bad "
                           "magic)", path);
        if (rd_u64(header + 16) != size)
            return fg_fail(FG_ERR_FORMAT, "model file '%s': header says %llu bytes, the file "
                           "holds %llu (truncated or padded)", path,
                           (unsigned long long)rd_u64(header + 16), (unsigned long long)size);
    }
    int st = size > SIZE_MAX - MODEL_ALIGN ? fg_fail(FG_ERR_NOMEM, "model file '%s' is too large",
                                                     path)
                                           : fg_check_cap((size_t)size, "model file");
    if (st) return st;
    void *buf = fg_aligned_alloc(MODEL_ALIGN, file_block_bytes((size_t)size));
    if (!buf) return fg_fail(FG_ERR_NOMEM, "out of memory reading '%s'", path);
    if (read_start(fd, buf, (size_t)size) != 0) {
        fg_aligned_free(buf);
        return fg_fail(FG_ERR_IO, "model file '%s': cannot read its %llu bytes", path,
                       (unsigned long long)size);
    }
    *image = buf;
    *nbytes = (size_t)size;
    return FG_OK;
}

int fg_model_load_file(const char *path, fg_model **out) {
    if (!path || !out) return fg_fail(FG_ERR_ARG, "fg_model_load_file: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return fg_fail(FG_ERR_IO, "cannot open model file '%s' (%s)", path, strerror(errno));
    void *image = NULL;
    size_t nbytes = 0;
    int st = read_model_file(fd, path, &image, &nbytes);
    close(fd);
    return st ? st : load(image, nbytes, image, out);
}

/* ---- read-only accessors ----------------------------------------------------------------- */
int fg_model_num_inputs(const fg_model *m) { return m ? m->n_inputs : 0; }
int fg_model_num_outputs(const fg_model *m) { return m ? m->n_outputs : 0; }
int fg_model_num_time_axes(const fg_model *m) { return m ? m->n_time : 0; }
int64_t fg_model_stateful_batch(const fg_model *m) { return m ? m->stateful_batch : 0; }
size_t fg_model_memory_bytes(const fg_model *m)
{
    return m ? m->held_bytes : 0;
}

const char *fg_model_metadata(const fg_model *m, size_t *nbytes) {
    if (nbytes) *nbytes = m ? m->meta_bytes : 0;
    return m ? m->meta : NULL;
}

static int tensor_info(const fg_model *m, const int32_t *ids, int n, int index,
                       fg_tensor_info *info, const char *what) {
    if (!m || !info) return fg_fail(FG_ERR_ARG, "fg_model_%s_info: NULL argument", what);
    if (index < 0 || index >= n)
        return fg_fail(FG_ERR_ARG, "model %s index %d out of range (model has %d)", what, index, n);
    const model_tensor *t = &m->tensors[ids[index]];
    info->name = t->name;
    info->dtype = t->dtype;
    info->rank = t->rank;
    info->time_axis = t->time_axis;
    memcpy(info->dims, t->dims, sizeof info->dims);
    return FG_OK;
}
int fg_model_input_info(const fg_model *m, int i, fg_tensor_info *info) {
    return tensor_info(m, m ? m->inputs : NULL, m ? m->n_inputs : 0, i, info, "input");
}
int fg_model_output_info(const fg_model *m, int i, fg_tensor_info *info) {
    return tensor_info(m, m ? m->outputs : NULL, m ? m->n_outputs : 0, i, info, "output");
}

int fg_model_weight(const fg_model *m, int index, const void **data, size_t *nbytes,
                    int32_t *layout) {
    if (!m || !data || !nbytes || !layout) return fg_fail(FG_ERR_ARG, "fg_model_weight: NULL");
    if (index < 0 || index >= m->n_weights)
        return fg_fail(FG_ERR_ARG, "weight index %d out of range (image has %d)", index,
                       m->n_weights);
    const model_weight *w = &m->weights[index];
    *data = w->fp32 ? w->fp32 : w->data;   /* the image's float32 form, whatever the precision */
    *nbytes = (size_t)(w->fp32 ? w->fp32_nbytes : w->nbytes);
    *layout = m->weights[index].layout;
    return FG_OK;
}
