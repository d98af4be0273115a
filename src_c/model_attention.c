/* model_attention.c - the attention op: Keras' Attention, AdditiveAttention and the core of
 * MultiHeadAttention (whose query / key / value / output projections are dense ops).
 *
 * Per sample b and head h (columns h*dk .. of query and key, h*dv .. of value and y):
 *   scores = query_scale * q . k^T   (dot; times `scale` when present)
 *          | cw * sum_d tanh(scale * (q_d + k_d))   (concat)
 *          | sum_d scale_d * tanh(q_d + k_d)        (additive)
 *   a position (i, j) is masked unless value_mask[j], j <= i when causal, attention_mask[i, j]
 *   (a bool, int32 or float32 tensor: nonzero keeps, as Keras casts it to bool)
 *   and, unless query_mask_rows, query_mask[i]; a masked score becomes score - 1e9 (mask_fill
 *   0: Attention, tf-keras' MultiHeadAttention) or -1e9 (1: Keras 3's and tf-keras' robust
 *   masking); weights = softmax over j, zeroed where masked when zero_masked_weights (Keras 3's
 *   explicit path); y = weights . v, with rows i where !query_mask[i] zeroed when
 *   query_mask_rows (Attention). The scores output, when present, gets the weights: per sample
 *   (heads, Tq, Tk), or (Tq, Tk) with one head. The two products run on the gemm kernels (fg_kernels.h),
 *   their right-hand sides (k^T, v) packed per (b, h) into one-gate panels of 16 columns,
 *   which a head of 16 or 32 features fills (48-column panels would be mostly zeros); the
 *   softmax runs on the kernels' vector exp.
 * Every (b, h) is computed by the same code whichever thread takes it, so results do not
 * depend on the thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fg_activations.h"
#include "fg_alloc.h"
#include "fg_config_select.h"
#include "fg_team.h"
#include "model_internal.h"
#include "kernels/fg_kernels.h"

#define FAIL(c, ...) fg_fail((c)->code, __VA_ARGS__)
#define MASKED_OFFSET 1.0e9f   /* what Keras subtracts from, or puts in place of, a masked score */
#define MIN_FLOPS_PER_THREAD 200000.0
/* Pieces per thread: a thread the OS deschedules in the middle of one holds up that one only */
#define PIECES_PER_THREAD 4

enum { SCORE_DOT = 0, SCORE_CONCAT = 1, SCORE_ADDITIVE = 2 };
enum { IN_Q, IN_K, IN_V, IN_QMASK, IN_VMASK, IN_AMASK };

/* Column blocks of n columns in the gemm's one-gate panels (gates 1: FG_BLOCK columns). */
static int64_t blocks(int64_t n) { return (n + FG_BLOCK - 1) / FG_BLOCK; }

/* ---- checks ------------------------------------------------------------------------------ */
/* t is (want[0], .., want[rank - 1]) per sample, rank 1 to 3; -1: any size. */
static int check_shape(const model_check_ctx *c, const model_tensor *t, int32_t rank,
                       const int64_t *want, const char *what) {
    int ok = t->rank == rank;
    for (int k = 0; ok && k < rank; k++)
        ok = want[k] < 0 || model_check_dim(c, t, k) < 0 || model_check_dim(c, t, k) == want[k];
    if (ok) return FG_OK;
    long long a = want[0], b = rank > 1 ? want[1] : 0, d = rank > 2 ? want[2] : 0;
    const char *layer = c->o->layer, *name = t->name;
    if (rank == 1)
        return FAIL(c, "layer '%s' (attention): %s '%s' must be (%lld) per sample", layer,
                    what, name, a);
    if (rank == 2)
        return FAIL(c, "layer '%s' (attention): %s '%s' must be (%lld, %lld) per sample (-1: "
                    "any size)", layer, what, name, a, b);
    return FAIL(c, "layer '%s' (attention): %s '%s' must be (%lld, %lld, %lld) per sample "
                "(-1: any size)", layer, what, name, a, b, d);
}

int model_check_attention(const model_check_ctx *c) {
    const model_op *o = c->o;
    const model_tensor *q, *k, *v, *qm, *vm, *am, *y, *s;
    const model_weight *scale, *cw;
    int st;
    if ((st = model_check_tensor(c, 0, IN_Q, FG_DTYPE_FLOAT32, 1, &q)) ||
        (st = model_check_tensor(c, 0, IN_K, FG_DTYPE_FLOAT32, 1, &k)) ||
        (st = model_check_tensor(c, 0, IN_V, FG_DTYPE_FLOAT32, 1, &v)) ||
        (st = model_check_tensor(c, 0, IN_QMASK, FG_DTYPE_BOOL, 0, &qm)) ||
        (st = model_check_tensor(c, 0, IN_VMASK, FG_DTYPE_BOOL, 0, &vm)) ||
        (st = model_check_tensor(c, 0, IN_AMASK, -1, 0, &am)) ||   /* bool, or 0 / nonzero */
        (st = model_check_tensor(c, 1, 0, FG_DTYPE_FLOAT32, 1, &y)) ||
        (st = model_check_tensor(c, 1, 1, FG_DTYPE_FLOAT32, 0, &s)) ||
        (st = model_check_flag(c, ATTENTION_CAUSAL, "causal")) ||
        (st = model_check_flag(c, ATTENTION_MASK_FILL, "mask_fill")) ||
        (st = model_check_flag(c, ATTENTION_ZERO_MASKED_WEIGHTS, "zero_masked_weights")) ||
        (st = model_check_flag(c, ATTENTION_QUERY_MASK_ROWS, "query_mask_rows")))
        return st;
    int32_t heads = o->iattr[ATTENTION_NUM_HEADS], mode = o->iattr[ATTENTION_SCORE_MODE];
    float qscale = o->fattr[ATTENTION_F_QUERY_SCALE];
    if (mode < SCORE_DOT || mode > SCORE_ADDITIVE || heads < 1 || (mode != SCORE_DOT && heads != 1))
        return FAIL(c, "layer '%s' (attention): score_mode %d with %d heads (expected 0 dot, 1 "
                    "concat or 2 additive; several heads for dot only)", o->layer, mode, heads);
    if (mode != SCORE_DOT && !FG_ACT_BUILT(FG_ACT_TANH))
        return FAIL(c, "layer '%s' (attention): its scores need tanh, which is not built into "
                    "this library (fg_config.h)", o->layer);
    if (!isfinite(qscale))
        return FAIL(c, "layer '%s' (attention): query_scale %g is not finite", o->layer, qscale);
    if (q->rank != 2 || k->rank != 2 || v->rank != 2)
        return FAIL(c, "layer '%s' (attention): query, key and value must be (time, features) "
                    "per sample", o->layer);
    int64_t qd = q->dims[1], vd = v->dims[1], tq = model_check_dim(c, q, 0),
            tk = model_check_dim(c, k, 0);
    if (qd % heads || vd % heads)
        return FAIL(c, "layer '%s' (attention): feature sizes %lld (query) and %lld (value) "
                    "must split into %d heads", o->layer, (long long)qd, (long long)vd, heads);
    if ((st = check_shape(c, k, 2, (int64_t[]){-1, qd}, "key")) ||
        (st = check_shape(c, v, 2, (int64_t[]){tk, vd}, "value")) ||
        (st = check_shape(c, y, 2, (int64_t[]){tq, vd}, "output")) ||
        (qm && (st = check_shape(c, qm, 1, (int64_t[]){tq}, "query mask"))) ||
        (vm && (st = check_shape(c, vm, 1, (int64_t[]){tk}, "value mask"))) ||
        (am && (st = check_shape(c, am, 2, (int64_t[]){tq, tk}, "attention mask"))))
        return st;
    /* scores: (heads, Tq, Tk), the sequence axes fixed; (Tq, Tk) with one head */
    if (s && (st = s->rank == 2 && heads == 1
                       ? check_shape(c, s, 2, (int64_t[]){tq, tk}, "scores output")
                       : check_shape(c, s, 3, (int64_t[]){heads, tq, tk}, "scores output")))
        return st;
    if ((st = model_check_weight(c, 0, 0, 1, mode == SCORE_ADDITIVE ? qd : 1, -1, &scale)) ||
        (st = model_check_weight(c, 1, mode == SCORE_CONCAT, 1, 1, -1, &cw)))
        return st;
    if (cw && mode != SCORE_CONCAT)
        return FAIL(c, "layer '%s' (attention): concat_score_weight without score_mode concat",
                    o->layer);
    return FG_OK;
}

/* ---- running ----------------------------------------------------------------------------- */
typedef struct attention_job {
    const model_run_ctx *r;
    const fg_kernels *kern;
    int64_t heads, tq, tk, dk, dv, tasks, pieces;
    size_t slab;              /* floats of one piece's scratch */
    float *scratch;
} attention_job;

/* The scratch of one (b, h), in floats: the scaled query, k^T's panels, the scores (row stride
 * blocks(tk)*16), v's panels, the product (row stride blocks(dv)*16), a zero bias and one
 * row of (q_i + k_j) sums for the tanh scores. SIZE_MAX when that overflows. */
static size_t slab_floats(int64_t tq, int64_t tk, int64_t dk, int64_t dv) {
    double sk = (double)blocks(tk) * FG_BLOCK, sv = (double)blocks(dv) * FG_BLOCK;
    double n = (double)tq * dk + sk * dk + (double)tq * sk + sv * (double)tk + (double)tq * sv +
               (sk > sv ? sk : sv) + (double)tk * dk + 64.0;
    return n > 1e15 ? SIZE_MAX : (size_t)n;
}

/* k^T (dk x tk) of one head in panels: block jb, row d holds k[j, d] for the keys j of the
 * block, zeros past tk. */
static void pack_keys(const float *k, int64_t ldk, int64_t tk, int64_t dk, float *P) {
    for (int64_t j = 0; j < blocks(tk) * FG_BLOCK; j++) {
        float *at = P + j / FG_BLOCK * dk * FG_BLOCK + j % FG_BLOCK;
        if (j < tk)
            for (int64_t d = 0; d < dk; d++) at[d * FG_BLOCK] = k[j * ldk + d];
        else
            for (int64_t d = 0; d < dk; d++) at[d * FG_BLOCK] = 0.0f;
    }
}

/* v (tk x dv) of one head in panels: block jb, row j holds v[j, 16 jb ..], zeros past dv. */
static void pack_values(const float *v, int64_t ldv, int64_t tk, int64_t dv, float *P) {
    for (int64_t jb = 0; jb < blocks(dv); jb++) {
        int64_t n = dv - jb * FG_BLOCK < FG_BLOCK ? dv - jb * FG_BLOCK : FG_BLOCK;
        for (int64_t j = 0; j < tk; j++) {
            const float *src = v + j * ldv + jb * FG_BLOCK;
            float *at = P + (jb * tk + j) * FG_BLOCK;
            for (int64_t c = 0; c < FG_BLOCK; c++) at[c] = c < n ? src[c] : 0.0f;
        }
    }
}

/* The concat / additive scores of row i: S[j] = cw * sum_d w_d * tanh(a * (q_d + k_d)). */
static void tanh_scores(const attention_job *J, const float *qi, const float *k, int64_t ldk,
                        const float *w, float a, float cw, float *row, float *S) {
    int64_t tk = J->tk, dk = J->dk;
    for (int64_t j = 0; j < tk; j++)
        for (int64_t d = 0; d < dk; d++) row[j * dk + d] = a * (qi[d] + k[j * ldk + d]);
    J->kern->act_inplace(FG_ACT_TANH, row, tk * dk);
    for (int64_t j = 0; j < tk; j++) {
        float sum = 0.0f;
        for (int64_t d = 0; d < dk; d++) sum += (w ? w[d] : 1.0f) * row[j * dk + d];
        S[j] = cw * sum;
    }
}

/* The attention mask's element k (of its dtype), as Keras' cast to bool reads it. */
static int mask_keeps(const void *am, int32_t dtype, int64_t k) {
    if (dtype == FG_DTYPE_FLOAT32) return ((const float *)am)[k] != 0.0f;
    if (dtype == FG_DTYPE_INT32) return ((const int32_t *)am)[k] != 0;
    return ((const uint8_t *)am)[k] != 0;
}

/* Row i of the scores in place -> its attention weights; keep[j]: scratch. */
static void masked_softmax(const attention_job *J, const uint8_t *qm, const uint8_t *vm,
                           const void *am, int32_t am_dtype, int64_t i, float *S,
                           uint8_t *keep) {
    const model_op *o = J->r->o;
    int64_t tk = J->tk;
    int causal = o->iattr[ATTENTION_CAUSAL], replace = o->iattr[ATTENTION_MASK_FILL];
    int row_ok = o->iattr[ATTENTION_QUERY_MASK_ROWS] || !qm || qm[i];
    int masked = !row_ok || vm || causal || am;
    for (int64_t j = 0; masked && j < tk; j++) {
        keep[j] = row_ok && (!vm || vm[j]) && (!causal || j <= i) &&
                  (!am || mask_keeps(am, am_dtype, i * tk + j));
        if (!keep[j]) S[j] = replace ? -MASKED_OFFSET : S[j] - MASKED_OFFSET;
    }
    J->kern->softmax(S, tk);
    if (masked && o->iattr[ATTENTION_ZERO_MASKED_WEIGHTS])
        for (int64_t j = 0; j < tk; j++)
            if (!keep[j]) S[j] = 0.0f;
}

/* Sample b, head h. */
static void attend(const attention_job *J, int64_t b, int64_t h, float *scratch) {
    const model_run_ctx *r = J->r;
    const model_op *o = r->o;
    const fg_model *m = r->m;
    int64_t tq = J->tq, tk = J->tk, dk = J->dk, dv = J->dv, H = J->heads;
    int64_t ldq = H * dk, ldv = H * dv, sk = blocks(tk) * FG_BLOCK, sv = blocks(dv) * FG_BLOCK;
    const float *q = (const float *)r->in[IN_Q] + b * tq * ldq + h * dk;
    const float *k = (const float *)r->in[IN_K] + b * tk * ldq + h * dk;
    const float *v = (const float *)r->in[IN_V] + b * tk * ldv + h * dv;
    const uint8_t *qm = r->in[IN_QMASK], *vm = r->in[IN_VMASK], *am = r->in[IN_AMASK];
    int32_t am_dtype = am ? m->tensors[o->in[IN_AMASK]].dtype : FG_DTYPE_BOOL;
    if (qm) qm += b * tq;
    if (vm) vm += b * tk;
    if (am) am += b * tq * tk * model_dtype_size(am_dtype);
    const float *scale = o->w[0] < 0 ? NULL : m->weights[o->w[0]].data;
    const float *cw = o->w[1] < 0 ? NULL : m->weights[o->w[1]].data;
    float *Q = scratch, *KP = Q + tq * dk, *S = KP + sk * dk, *VP = S + tq * sk,
          *O = VP + sv * tk, *zero = O + tq * sv, *row = zero + (sk > sv ? sk : sv);
    memset(zero, 0, (size_t)(sk > sv ? sk : sv) * sizeof *zero);
    float qscale = o->fattr[ATTENTION_F_QUERY_SCALE];
    for (int64_t i = 0; i < tq; i++)
        for (int64_t d = 0; d < dk; d++) Q[i * dk + d] = q[i * ldq + d] * qscale;
    switch (o->iattr[ATTENTION_SCORE_MODE]) {
    case SCORE_DOT:
        pack_keys(k, ldq, tk, dk, KP);
        J->kern->gemm(tq, dk, Q, dk, KP, 1, 0, blocks(tk), zero, S, sk);
        if (scale)
            for (int64_t i = 0; i < tq; i++)
                for (int64_t j = 0; j < tk; j++) S[i * sk + j] *= scale[0];
        break;
    case SCORE_CONCAT:
        for (int64_t i = 0; i < tq; i++)
            tanh_scores(J, Q + i * dk, k, ldq, NULL, scale ? scale[0] : 1.0f, cw[0], row,
                        S + i * sk);
        break;
    default:   /* additive */
        for (int64_t i = 0; i < tq; i++)
            tanh_scores(J, Q + i * dk, k, ldq, scale, 1.0f, 1.0f, row, S + i * sk);
    }
    float *scores = r->out[1] ? (float *)r->out[1] + (b * H + h) * tq * tk : NULL;
    for (int64_t i = 0; i < tq; i++) {
        masked_softmax(J, qm, vm, am, am_dtype, i, S + i * sk, (uint8_t *)row);
        if (scores) memcpy(scores + i * tk, S + i * sk, (size_t)tk * 4);
    }
    pack_values(v, ldv, tk, dv, VP);
    float *y = (float *)r->out[0] + b * tq * ldv + h * dv;
    int direct = dv % FG_BLOCK == 0;   /* whole blocks: the gemm writes y itself */
    J->kern->gemm(tq, tk, S, sk, VP, 1, 0, blocks(dv), zero, direct ? y : O, direct ? ldv : sv);
    int zero_rows = o->iattr[ATTENTION_QUERY_MASK_ROWS] && qm;
    for (int64_t i = 0; i < tq; i++) {
        if (zero_rows && !qm[i]) memset(y + i * ldv, 0, (size_t)dv * 4);
        else if (!direct) memcpy(y + i * ldv, O + i * sv, (size_t)dv * 4);
    }
}

/* Piece p: its share of the (b, h) pairs, on its own scratch. */
static int attention_piece(void *arg, int phase, int piece) {
    (void)phase;
    const attention_job *J = arg;
    float *scratch = J->scratch + (size_t)piece * J->slab;
    for (int64_t t = piece; t < J->tasks; t += J->pieces) attend(J, t / J->heads, t % J->heads, scratch);
    return 0;
}

int model_run_attention(const model_run_ctx *r) {
    const fg_model *m = r->m;
    const model_op *o = r->o;
    const model_tensor *q = &m->tensors[o->in[IN_Q]], *k = &m->tensors[o->in[IN_K]],
                       *v = &m->tensors[o->in[IN_V]];
    attention_job J = {.r = r, .kern = fg_kernels_for(fg_isa_active()),
                       .heads = o->iattr[ATTENTION_NUM_HEADS]};
    J.tq = q->dims[0] == -1 ? r->T[q->time_axis] : q->dims[0];
    J.tk = k->dims[0] == -1 ? r->T[k->time_axis] : k->dims[0];
    J.dk = q->dims[1] / J.heads;
    J.dv = v->dims[1] / J.heads;
    J.tasks = r->batch * J.heads;
    if (!J.tasks || !J.tq) return FG_OK;
    double flops = 2.0 * (double)J.tasks * (double)J.tq * (double)J.tk * (double)(J.dk + J.dv);
    int64_t by_work = (int64_t)(flops / MIN_FLOPS_PER_THREAD);
    int64_t nt = r->nthreads < by_work ? r->nthreads : by_work;
    if (nt > FG_TEAM_MAX) nt = FG_TEAM_MAX;
    if (nt < 1) nt = 1;
    J.pieces = nt > 1 ? nt * PIECES_PER_THREAD : 1;
    if (J.pieces > J.tasks) J.pieces = J.tasks;
    if (J.pieces > FG_TEAM_UNITS_MAX) J.pieces = FG_TEAM_UNITS_MAX;
    J.slab = (slab_floats(J.tq, J.tk, J.dk, J.dv) + 15) / 16 * 16;   /* 64-byte aligned slabs */
    if (J.slab > SIZE_MAX / 8 / (size_t)J.pieces)
        return fg_fail(FG_ERR_NOMEM, "layer '%s' (attention): %lld x %lld scores are too large",
                       o->layer, (long long)J.tq, (long long)J.tk);
    size_t bytes = J.slab * (size_t)J.pieces * sizeof(float);
    int st = fg_check_cap(bytes, "the attention scratch");
    if (st) return st;
    if (!(J.scratch = fg_aligned_alloc(MODEL_ALIGN, bytes)))
        return fg_fail(FG_ERR_NOMEM, "layer '%s' (attention): out of memory for %zu bytes of "
                       "scratch", o->layer, bytes);
    fg_team_run((int)nt, 1, (int)J.pieces, attention_piece, &J);
    fg_aligned_free(J.scratch);
    return FG_OK;
}
