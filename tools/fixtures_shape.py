"""Fixture builders for the pooling and shape layers (GlobalMax/AveragePooling1D, Max/
AveragePooling1D, Flatten, Reshape, Permute, RepeatVector, ZeroPadding1D, Cropping1D,
UpSampling1D), registered in the catalogue of tools/fixtures_catalogue.py.

Masks: GlobalAveragePooling1D consumes one in both Keras versions; the other layers drop it in
Keras 3 (``shape_mask_dropped``), while tf-keras refuses to build them on a masked input.
tf-keras pools channels_first only on a GPU, so those options are Keras 3 fixtures only.
"""
from __future__ import annotations

import numpy as np

from fixtures_catalogue import Env, Fixture, builder


def _masked_ids(env: Env, batch: int, steps: int) -> np.ndarray:
    """Ids with zeros (masked) at the end of row 0, the start of row 1 and the middle of row 3;
    no row fully masked (a mean over no step is 0/0 in Keras)."""
    ids = env.rng.integers(1, 20, size=(batch, steps)).astype(np.int32)
    ids[0, steps - 3:] = 0
    ids[1, :2] = 0
    ids[3, steps // 2] = 0
    return ids


@builder("shape_global_pool")
def shape_global_pool(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((7, 4), name="x")
    h = L.GRU(5, return_sequences=True, name="gru")(x)
    outs = [L.GlobalMaxPooling1D(name="gmp")(h),
            L.GlobalAveragePooling1D(name="gap")(h),
            L.GlobalMaxPooling1D(keepdims=True, name="gmp_keep")(h),
            L.GlobalAveragePooling1D(keepdims=True, name="gap_keep")(h),
            L.GlobalMaxPooling1D(data_format="channels_first", name="gmp_first")(h),
            L.GlobalAveragePooling1D(data_format="channels_first", keepdims=True,
                                     name="gap_first_keep")(h)]
    model = env.keras.Model(x, outs, name="shape_global_pool")
    return Fixture(model, [env.normal(4, 7, 4)],
                   "GRU(5, seq) -> GlobalMax/AveragePooling1D: plain, keepdims, "
                   "channels_first (steps = the 5 units), channels_first + keepdims")


@builder("shape_gap_mask")
def shape_gap_mask(env: Env) -> Fixture:
    L = env.layers
    ids = env.keras.Input((None,), dtype="int32", name="ids")
    e = L.Embedding(20, 6, mask_zero=True, name="emb")(ids)
    h = L.GRU(5, return_sequences=True, name="gru")(e)
    p = L.GlobalAveragePooling1D(name="gap")(h)
    y = L.Dense(3, name="head")(p)
    model = env.keras.Model(ids, y, name="shape_gap_mask")
    return Fixture(model, [_masked_ids(env, 5, 8)],
                   "Embedding(mask_zero) -> GRU(seq) -> GlobalAveragePooling1D (masked steps "
                   "left out of the mean) -> Dense; Input((None,)), run on T=8; rows 0, 1, 3 "
                   "padded")


@builder("shape_gap_masking")
def shape_gap_masking(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((None, 3), name="x")
    m = L.Masking(0.0, name="masking")(x)
    p = L.GlobalAveragePooling1D(name="gap")(m)
    y = L.Dense(2, name="head")(p)
    h = L.GRU(3, name="gru")(m)
    model = env.keras.Model(x, [y, h], name="shape_gap_masking")
    data = env.normal(4, 6, 3)
    data[0, 4:] = 0.0
    data[1, :2] = 0.0
    data[3, 3] = 0.0
    return Fixture(model, [data],
                   "Masking -> GlobalAveragePooling1D -> Dense: the mean over the kept steps "
                   "of the masked input itself; Masking -> GRU(3); rows 0, 1, 3 padded")


@builder("shape_pool1d")
def shape_pool1d(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((9, 3), name="x")
    outs = [L.MaxPooling1D(2, name="max_2")(x),
            L.MaxPooling1D(3, strides=2, padding="same", name="max_3s2_same")(x),
            L.AveragePooling1D(3, strides=2, name="avg_3s2")(x),
            L.AveragePooling1D(4, strides=3, padding="same", name="avg_4s3_same")(x),
            L.AveragePooling1D(2, strides=1, padding="same", name="avg_2s1_same")(x)]
    h = L.GRU(4, name="gru")(L.MaxPooling1D(2, strides=1, name="max_2s1")(x))
    outs.append(L.Dense(2, name="head")(h))
    model = env.keras.Model(x, outs, name="shape_pool1d")
    return Fixture(model, [env.normal(4, 9, 3)],
                   "Max/AveragePooling1D on 9 steps: pool 2; pool 3 stride 2 same; pool 3 "
                   "stride 2 valid; pool 4 stride 3 same (padding on both ends); pool 2 stride "
                   "1 same (one padded step after); MaxPooling1D(2, strides=1) -> GRU -> Dense")


@builder("shape_pool_variable")
def shape_pool_variable(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((None, 3), name="x")
    p = L.AveragePooling1D(3, strides=1, padding="same", name="avg_same")(x)
    p = L.MaxPooling1D(2, strides=1, padding="same", name="max_same")(p)
    h = L.GRU(4, return_sequences=True, name="gru")(p)
    y = L.Dense(2, name="head")(L.GlobalMaxPooling1D(name="gmp")(h))
    model = env.keras.Model(x, y, name="shape_pool_variable")
    return Fixture(model, [env.normal(3, 8, 3)],
                   "Input((None, 3)): pooling with padding same and stride 1 keeps the unknown "
                   "length -> GRU(seq) -> GlobalMaxPooling1D -> Dense; run on T=8")


@builder("shape_reshape")
def shape_reshape(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((6, 4), name="x")
    h = L.GRU(4, return_sequences=True, name="gru")(x)
    flat = L.Dense(3, name="flat_head")(L.Flatten(name="flatten")(h))
    pairs = L.GRU(3, name="gru_pairs")(L.Reshape((-1, 2), name="reshape_pairs")(h))
    swapped = L.GRU(3, name="gru_swapped")(L.Permute((2, 1), name="permute")(h))
    first = L.Dense(2, name="first_head")(
        L.Flatten(data_format="channels_first", name="flatten_first")(h))
    cube = L.Permute((3, 1, 2), name="permute_3d")(L.Reshape((2, 3, 4), name="reshape_3d")(h))
    cube_head = L.Dense(2, name="cube_head")(L.Flatten(name="flatten_3d")(cube))
    model = env.keras.Model(x, [flat, pairs, swapped, first, cube_head], name="shape_reshape")
    return Fixture(model, [env.normal(4, 6, 4)],
                   "GRU(4, seq) on 6 steps -> Flatten -> Dense; Reshape((-1, 2)) -> GRU; "
                   "Permute((2, 1)) -> GRU; Flatten(channels_first) -> Dense; Reshape((2, 3, "
                   "4)) -> Permute((3, 1, 2)) -> Flatten -> Dense")


@builder("shape_reshape_variable")
def shape_reshape_variable(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((None, 6), name="x")
    r = L.Reshape((-1, 2, 3), name="split")(x)
    r = L.Permute((1, 3, 2), name="swap_inner")(r)
    r = L.Reshape((-1, 6), name="join")(r)
    h = L.GRU(4, name="gru")(r)
    model = env.keras.Model(x, L.Dense(2, name="head")(h), name="shape_reshape_variable")
    return Fixture(model, [env.normal(3, 7, 6)],
                   "Input((None, 6)) -> Reshape((-1, 2, 3)) -> Permute((1, 3, 2)) -> "
                   "Reshape((-1, 6)): per-step reshapes keep the unknown length -> GRU -> "
                   "Dense; run on T=7")


@builder("shape_repeat")
def shape_repeat(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((5, 3), name="x")
    h = L.GRU(4, name="encoder")(x)
    r = L.RepeatVector(3, name="repeat")(h)
    y = L.GRU(2, return_sequences=True, name="decoder")(r)
    model = env.keras.Model(x, y, name="shape_repeat")
    return Fixture(model, [env.normal(4, 5, 3)],
                   "sequence autoencoder: GRU(4) -> RepeatVector(3) -> GRU(2, seq)")


@builder("shape_pad_crop")
def shape_pad_crop(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((6, 3), name="x")
    p = L.ZeroPadding1D(2, name="pad")(x)
    h = L.GRU(4, return_sequences=True, name="gru")(p)
    c = L.Cropping1D((1, 3), name="crop")(h)
    u = L.UpSampling1D(3, name="upsample")(c)
    y = L.GRU(3, name="gru_up")(u)
    tail = L.Cropping1D(2, name="crop_both")(L.ZeroPadding1D((0, 3), name="pad_after")(x))
    model = env.keras.Model(x, [y, tail, u], name="shape_pad_crop")
    return Fixture(model, [env.normal(4, 6, 3)],
                   "ZeroPadding1D(2) -> GRU(seq) -> Cropping1D((1, 3)) -> UpSampling1D(3) -> "
                   "GRU; ZeroPadding1D((0, 3)) -> Cropping1D(2)")


@builder("shape_channels_first", keras2=False)
def shape_channels_first(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((5, 8), name="x")
    outs = [L.MaxPooling1D(3, strides=2, padding="same", data_format="channels_first",
                           name="max_first")(x),
            L.AveragePooling1D(2, data_format="channels_first", name="avg_first")(x),
            L.ZeroPadding1D((1, 2), data_format="channels_first", name="pad_first")(x)]
    outs.append(L.GRU(3, name="gru")(outs[0]))
    model = env.keras.Model(x, outs, name="shape_channels_first")
    return Fixture(model, [env.normal(3, 5, 8)],
                   "(features 5, steps 8) channels_first: MaxPooling1D(3, 2, same), "
                   "AveragePooling1D(2), ZeroPadding1D((1, 2)); GRU(3) on the max pooled "
                   "(5, 4) (tf-keras pools channels_first only on a GPU)")


@builder("shape_mask_dropped", keras2=False)
def shape_mask_dropped(env: Env) -> Fixture:
    L = env.layers
    ids = env.keras.Input((8,), dtype="int32", name="ids")
    e = L.Embedding(20, 4, mask_zero=True, name="emb")(ids)
    pooled = L.GRU(3, name="gru_pooled")(L.MaxPooling1D(2, name="pool")(e))
    padded = L.GRU(3, name="gru_padded")(L.ZeroPadding1D(1, name="pad")(e))
    gmp = L.GlobalMaxPooling1D(name="gmp")(L.GRU(3, return_sequences=True, name="gru_seq")(e))
    model = env.keras.Model(ids, [pooled, padded, gmp], name="shape_mask_dropped")
    return Fixture(model, [_masked_ids(env, 5, 8)],
                   "Keras 3 drops the Embedding's mask at MaxPooling1D and ZeroPadding1D (the "
                   "GRUs after them see every step) and GlobalMaxPooling1D ignores it")


@builder("shape_variable_length")
def shape_variable_length(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((None, 3), name="x")
    p = L.MaxPooling1D(2, name="pool")(x)
    h = L.GRU(4, return_sequences=True, name="gru")(p)
    u = L.UpSampling1D(2, name="upsample")(L.ZeroPadding1D((1, 2), name="pad")(h))
    c = L.Cropping1D((1, 1), name="crop")(u)
    a = L.AveragePooling1D(3, strides=2, padding="same", name="avg")(c)
    y = L.Dense(2, name="head")(L.GRU(3, name="gru_last")(a))
    model = env.keras.Model(x, [y, c], name="shape_variable_length")
    return Fixture(model, [env.normal(3, 9, 3)],
                   "Input((None, 3)) -> MaxPooling1D(2) -> GRU(seq) -> ZeroPadding1D((1, 2)) "
                   "-> UpSampling1D(2) -> Cropping1D((1, 1)) -> AveragePooling1D(3, 2, same) "
                   "-> GRU -> Dense; outputs [head, the cropped sequence]; every length after "
                   "the input's is derived from it; run on T=9")
