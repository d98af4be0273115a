"""Fixture models of the elementwise, normalisation and merge layers (Normalization,
Rescaling, Softmax, the ReLU family, PReLU, ELU, Maximum, Minimum, Dot), registered in the
catalogue of tools/fixtures_catalogue.py for tools/make_fixtures.py."""
from __future__ import annotations

import numpy as np

from fixtures_catalogue import PADDING_NOTE, Env, Fixture, builder, pad_rows


def _leaky_relu(env: Env, slope: float, name: str):
    key = "negative_slope" if env.keras3 else "alpha"   # tf-keras names it alpha
    return env.layers.LeakyReLU(**{key: slope}, name=name)


@builder("elementwise_chain")
def elementwise_chain(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((7, 4), name="x")
    h = L.Dense(5, name="dense")(L.Masking(0.0, name="masking")(x))
    chain = L.ReLU(max_value=0.8, negative_slope=0.1, threshold=0.05, name="relu_all")(h)
    chain = _leaky_relu(env, 0.15, "leaky")(chain)
    chain = L.ELU(alpha=0.7, name="elu")(chain)
    chain = L.PReLU(shared_axes=[1], name="prelu")(chain)
    outs = [L.GRU(3, return_sequences=True, name="gru")(chain),
            L.ReLU(name="relu")(h), L.ReLU(max_value=6.0, name="relu6")(h),
            _leaky_relu(env, 0.3, "leaky_default")(h), L.ELU(name="elu_default")(h)]
    if env.keras3:
        outs.append(L.ReLU(threshold=0.2, name="relu_threshold")(h))
    else:
        outs.append(L.ThresholdedReLU(theta=0.2, name="thresholded")(h))
    model = env.keras.Model(x, outs, name="elementwise_chain")
    return Fixture(model, [pad_rows(env.normal(5, 7, 4))],
                   "Masking -> Dense(5) -> ReLU(max_value 0.8, negative_slope 0.1, threshold "
                   "0.05) -> LeakyReLU(0.15) -> ELU(0.7) -> PReLU(shared_axes [1]) -> GRU(3, "
                   "return_sequences): the mask passes through every layer; also "
                   "ReLU(), ReLU(max_value 6), LeakyReLU(0.3), ELU() and ThresholdedReLU(0.2) "
                   "(tf-keras) / ReLU(threshold 0.2) (Keras 3) of the Dense output. "
                   + PADDING_NOTE)


@builder("normalization")
def normalization(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((5, 3), name="x")
    data = 2.0 * env.normal(16, 5, 3) + np.float32(1.5)
    adapted = [L.Normalization(name="norm_last")]
    if not env.keras3:   # Keras 3.15 reloads its own .h5 of these with axis -1's shapes
        adapted += [L.Normalization(axis=(1, 2), name="norm_steps_features"),
                    L.Normalization(axis=None, name="norm_all")]
    for layer in adapted:
        layer.adapt(data)
    outs = [layer(x) for layer in adapted]
    outs.append(L.Normalization(axis=1, mean=[0.5, -1.0, 0.0, 2.0, 1.0],
                                variance=[1.0, 4.0, 0.25, 2.0, 0.01], name="norm_given")(x))
    outs.append(L.Normalization(mean=0.5, variance=4.0, invert=True, name="norm_invert")(x))
    outs.append(L.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(x))
    outs.append(L.Rescaling([0.5, 2.0, -1.0], offset=[0.1, 0.2, 0.3], name="rescale_ch")(x))
    outs.append(L.GRU(4, name="gru")(outs[0]))
    model = env.keras.Model(x, outs, name="normalization")
    return Fixture(model, [2.0 * env.normal(4, 5, 3) + np.float32(1.5)],
                   "Normalization adapted on axis -1 (tf-keras: also (1, 2) and None); given "
                   "mean / variance per step (axis 1); scalar given, invert=True; "
                   "Rescaling(1/127.5, -1) and per-channel Rescaling; GRU(4) of the first",
                   randomise_weights=False)


@builder("softmax_axes")
def softmax_axes(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((6, 4), name="x")
    h = L.Dense(4, name="dense")(x)
    # (Keras cannot give a Softmax of (batch, time, features) a (batch, time) mask: it must
    # broadcast over the logits)
    outs = [L.Softmax(name="softmax_last")(h), L.Softmax(axis=1, name="softmax_time")(h)]
    if not env.keras3:   # Keras 3.15 reloads its own .h5 of it over the last axis only
        outs.append(L.Softmax(axis=[1, 2], name="softmax_both")(h))
    outs.append(L.GRU(3, name="gru")(outs[0]))
    model = env.keras.Model(x, outs, name="softmax_axes")
    return Fixture(model, [2.0 * env.normal(3, 6, 4)],
                   "Softmax over the last axis, over time (axis 1, not streamable) and "
                   "(tf-keras) over [1, 2]; GRU(3) of the first")


@builder("softmax_mask", keras2=False)
def softmax_mask(env: Env) -> Fixture:
    L = env.layers
    ids = env.keras.Input((None,), dtype="int32", name="ids")
    e = L.Embedding(20, 4, mask_zero=True, name="embedding")(ids)
    seq = L.GRU(4, return_sequences=True, name="gru_seq")(e)
    query = L.GRU(4, name="gru_query")(e)
    scores = L.Dot(axes=(2, 1), name="scores")([seq, query])
    weights = L.Softmax(name="softmax")(scores, mask=env.keras.ops.not_equal(ids, 0))
    context = L.Dot(axes=(1, 1), name="context")([weights, seq])
    model = env.keras.Model(ids, [weights, context], name="softmax_mask")
    tokens = env.rng.integers(1, 20, size=(4, 7)).astype(np.int32)
    tokens[0, 4:] = 0
    tokens[1, :2] = 0
    tokens[2, :] = 0
    return Fixture(model, [tokens],
                   "attention by hand: Dot(axes (2, 1)) of a GRU sequence and a GRU state, "
                   "Softmax with mask=not_equal(ids, 0) (Keras 3.15: masked logits replaced "
                   "by -1e9, masked outputs zeroed; row 2 fully masked), Dot(axes (1, 1)) "
                   "over time; ids rows: 0 post-padded, 1 pre-padded, 2 all padding")


@builder("dot_merges")
def dot_merges(env: Env) -> Fixture:
    L = env.layers
    a = env.keras.Input((6, 4), name="a")
    v = env.keras.Input((4,), name="v")
    b = L.Dense(4, name="dense_b")(a)
    c = L.Dense(3, name="dense_c")(a)
    w = L.Dense(4, name="dense_w")(v)
    outs = [L.Dot(axes=(2, 1), name="dot_seq_vec")([a, v]),
            L.Dot(axes=(1, 2), name="dot_vec_seq")([v, a]),
            L.Dot(axes=1, name="dot_time")([a, c]),
            L.Dot(axes=-1, normalize=True, name="dot_cosine")([v, w]),
            L.Dot(axes=2, normalize=True, name="dot_steps")([a, b]),
            L.Maximum(name="maximum")([a, b]),
            L.Minimum(name="minimum")([a, b, L.Dense(4, name="dense_d")(a)])]
    outs.append(L.GRU(3, name="gru")(outs[-2]))
    model = env.keras.Model([a, v], outs, name="dot_merges")
    return Fixture(model, [env.normal(3, 6, 4), env.normal(3, 4)],
                   "Dot axes (2, 1) sequence . vector, (1, 2) vector . sequence, 1 over time, "
                   "-1 normalize (cosine of vectors), 2 normalize (every step with every "
                   "step, fixed length 6); Maximum of 2, Minimum of 3; GRU(3) of the Maximum")


@builder("masked_extrema")
def masked_extrema(env: Env) -> Fixture:
    L = env.layers
    a, b = env.keras.Input((7, 4), name="a"), env.keras.Input((7, 4), name="b")
    masked_a, masked_b = L.Masking(0.0, name="mask_a")(a), L.Masking(0.0, name="mask_b")(b)
    d = L.Dense(4, name="dense")(masked_a)
    most = L.Maximum(name="most")([masked_a, masked_b, d])
    least = L.Minimum(name="least")([d, b])
    model = env.keras.Model([a, b], [most, least,
                                     L.GRU(3, return_sequences=True, name="gru")(most)],
                            name="masked_extrema")
    xb = env.normal(5, 7, 4)
    xb[0, 1] = 0.0
    xb[4, 2:4] = 0.0
    xb[2, :3] = 0.0
    return Fixture(model, [pad_rows(env.normal(5, 7, 4)), xb],
                   "Maximum of Masking(a), Masking(b) and Dense(Masking(a)); Minimum of the "
                   "Dense and the unmasked b; GRU(3) of the Maximum. Keras 3: a masked step of "
                   "an input takes the running result, the output mask is the OR (none when an "
                   "input has none); tf-keras: plain extrema, masks ANDed. a: " + PADDING_NOTE
                   + "; b masked at row 0 step 1, row 2 steps 0-2, row 4 steps 2-3")
