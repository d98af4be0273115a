"""Fixture models of the attention layers: Attention, AdditiveAttention, MultiHeadAttention.

Registered with fixtures_catalogue.builder (tools/make_fixtures.py imports this module). A
masked tensor feeds one attention layer only: Keras 3's MultiHeadAttention clears the mask of
the tensors it is called on, so what another consumer of the same tensor sees would depend
on the order Keras runs them in.
"""
from __future__ import annotations

import numpy as np

from fixtures_catalogue import Env, Fixture, builder


def _tokens(env: Env, batch: int, steps: int) -> np.ndarray:
    """Ids with zeros (mask_zero): row 0 post-padded, 1 pre-padded, 2 all padding, 3 a hole."""
    ids = env.rng.integers(1, 12, size=(batch, steps)).astype(np.int32)
    ids[0, steps - 2:] = 0
    ids[1, :2] = 0
    ids[2, :] = 0
    ids[3, steps // 2] = 0
    return ids


TOKENS_NOTE = "ids rows: 0 post-padded, 1 pre-padded, 2 all padding, 3 a zero in the middle"


@builder("attention_dot")
def attention_dot(env: Env) -> Fixture:
    L = env.layers
    q = env.keras.Input((5, 4), name="q")
    v = env.keras.Input((None, 4), name="v")
    k = env.keras.Input((None, 4), name="k")
    plain = L.Attention(name="plain")([q, v])
    scaled = L.Attention(use_scale=True, dropout=0.3, name="scaled")([q, v, k])
    model = env.keras.Model([q, v, k], [plain, scaled], name="attention_dot")
    return Fixture(model, [env.normal(3, 5, 4), env.normal(3, 7, 4), env.normal(3, 7, 4)],
                   "Attention dot scores: [q, v] and use_scale (dropout ignored) on [q, v, k]; "
                   "value length 7 left open")


@builder("attention_tanh_scores")
def attention_tanh_scores(env: Env) -> Fixture:
    L = env.layers
    q = env.keras.Input((5, 4), name="q")
    v = env.keras.Input((6, 3), name="v")
    k = env.keras.Input((6, 4), name="k")
    outputs = [
        L.Attention(score_mode="concat", use_scale=True, name="concat_scaled")([q, k]),
        L.Attention(score_mode="concat", name="concat")([q, v, k]),
        L.AdditiveAttention(name="additive")([q, k]),
        L.AdditiveAttention(use_scale=False, name="additive_plain")([q, v, k]),
    ]
    model = env.keras.Model([q, v, k], outputs, name="attention_tanh_scores")
    return Fixture(model, [env.normal(3, 5, 4), env.normal(3, 6, 3), env.normal(3, 6, 4)],
                   "Attention score_mode concat (with and without use_scale), "
                   "AdditiveAttention (use_scale on and off), with and without a key")


@builder("attention_causal_scores")
def attention_causal_scores(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((6, 4), name="x")
    y, scores = L.Attention(use_scale=True, name="self_att")(
        [x, x], use_causal_mask=True, return_attention_scores=True)
    z = L.AdditiveAttention(name="additive_causal")([x, x], use_causal_mask=True)
    model = env.keras.Model(x, [y, scores, z], name="attention_causal_scores")
    return Fixture(model, [env.normal(4, 6, 4)],
                   "causal self-attention (use_causal_mask) returning its scores; causal "
                   "AdditiveAttention")


@builder("attention_masks")
def attention_masks(env: Env) -> Fixture:
    L = env.layers
    qi = env.keras.Input((6,), dtype="int32", name="q_ids")
    vi = env.keras.Input((5,), dtype="int32", name="v_ids")
    q = L.Embedding(12, 4, mask_zero=True, name="q_emb")(qi)
    v = L.Embedding(12, 4, mask_zero=True, name="v_emb")(vi)
    att = L.Attention(name="att")([q, v])
    h = L.GRU(3, return_sequences=True, name="gru")(att)   # runs on the query's mask
    model = env.keras.Model([qi, vi], [att, h], name="attention_masks")
    return Fixture(model, [_tokens(env, 5, 6), _tokens(env, 5, 5)],
                   "Embedding(mask_zero) query and value -> Attention -> GRU(return_sequences) "
                   "(query mask passed on); " + TOKENS_NOTE)


@builder("additive_masks_causal")
def additive_masks_causal(env: Env) -> Fixture:
    L = env.layers
    ids = env.keras.Input((6,), dtype="int32", name="ids")
    e = L.Embedding(12, 4, mask_zero=True, name="emb")(ids)
    y = L.AdditiveAttention(name="additive")([e, e], use_causal_mask=True)
    model = env.keras.Model(ids, y, name="additive_masks_causal")
    return Fixture(model, [_tokens(env, 5, 6)],
                   "causal AdditiveAttention self-attention on a masked Embedding; " + TOKENS_NOTE)


@builder("mha_self")
def mha_self(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((None, 6), name="x")
    a = L.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")(x, x)
    b = L.MultiHeadAttention(num_heads=3, key_dim=2, use_bias=False, output_shape=5,
                             name="mha_causal")(x, x, use_causal_mask=True)
    model = env.keras.Model(x, [a, b], name="mha_self")
    return Fixture(model, [env.normal(3, 7, 6)],
                   "MultiHeadAttention self-attention: 2 heads; 3 heads, no bias, output_shape "
                   "5, use_causal_mask; length left open")


@builder("mha_cross")
def mha_cross(env: Env) -> Fixture:
    L = env.layers
    q = env.keras.Input((5, 4), name="q")
    v = env.keras.Input((7, 6), name="v")
    k = env.keras.Input((7, 3), name="k")
    am = env.keras.Input((5, 7), name="attention_mask")
    # dropout (ignored at inference) keeps Keras 3 off its fused path, which cannot take a
    # value_dim other than key_dim
    a = L.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4, dropout=0.1,
                             name="mha_key")(q, v, key=k)
    b = L.MultiHeadAttention(num_heads=2, key_dim=2, name="mha_mask")(q, v, attention_mask=am)
    model = env.keras.Model([q, v, k, am], [a, b], name="mha_cross")
    mask = (env.rng.random((3, 5, 7)) > 0.4).astype(np.float32)
    mask[0, 1] = 0.0   # a query row that attends to nothing
    return Fixture(model, [env.normal(3, 5, 4), env.normal(3, 7, 6), env.normal(3, 7, 3), mask],
                   "MultiHeadAttention cross-attention: a key of its own and value_dim 4; an "
                   "attention_mask input (float 0/1, one row all zero)")


def _masked_mha(env: Env, name: str, **mha_args) -> Fixture:
    L = env.layers
    ids = env.keras.Input((6,), dtype="int32", name="ids")
    e = L.Embedding(12, 4, mask_zero=True, name="emb")(ids)
    h = L.GRU(6, return_sequences=True, name="gru_in")(e)
    a = L.MultiHeadAttention(num_heads=2, key_dim=3, name="mha", **mha_args)(
        h, h, use_causal_mask=True)
    last = L.GRU(4, name="gru_out")(a)   # runs on the query's mask MultiHeadAttention passes on
    model = env.keras.Model(ids, [a, last], name=name)
    return Fixture(model, [_tokens(env, 5, 6)],
                   f"Embedding(mask_zero) -> GRU -> causal MultiHeadAttention({mha_args or ''}) "
                   f"self-attention with the mask carried in -> GRU; {TOKENS_NOTE}")


@builder("mha_masks")
def mha_masks(env: Env) -> Fixture:
    return _masked_mha(env, "mha_masks")


@builder("mha_masks_dropout")
def mha_masks_dropout(env: Env) -> Fixture:
    """Keras 3 runs MultiHeadAttention with dropout off its fused path, where fully masked
    query rows get zero weights instead of uniform ones."""
    return _masked_mha(env, "mha_masks_dropout", dropout=0.2)


@builder("mha_robust_masking", keras3=False)
def mha_robust_masking(env: Env) -> Fixture:
    return _masked_mha(env, "mha_robust_masking", softmax_robust_masking=True)


@builder("mha_scores")
def mha_scores(env: Env) -> Fixture:
    """return_attention_scores=True: Keras 3 then runs its own softmax (masked weights zeroed),
    tf-keras its only path."""
    L = env.layers
    ids = env.keras.Input((6,), dtype="int32", name="ids")
    x = env.keras.Input((5, 4), name="x")
    e = L.Embedding(12, 4, mask_zero=True, name="emb")(ids)
    y, scores = L.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")(
        e, e, use_causal_mask=True, return_attention_scores=True)
    y1, scores1 = L.MultiHeadAttention(num_heads=1, key_dim=2, name="mha_one_head")(
        x, x, return_attention_scores=True)
    model = env.keras.Model([ids, x], [y, scores, y1, scores1], name="mha_scores")
    return Fixture(model, [_tokens(env, 5, 6), env.normal(5, 5, 4)],
                   "MultiHeadAttention returning its (heads, Tq, Tk) scores: 2 heads, causal, on "
                   "a masked Embedding; 1 head, unmasked; " + TOKENS_NOTE)
