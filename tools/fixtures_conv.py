"""Fixture models with Conv1D (tools/make_fixtures.py lists this module in CATALOGUE_MODULES):
every padding, strides, dilation, groups, bias, activation, masks, and CNN-GRU hybrids."""
from __future__ import annotations

import numpy as np

from fixtures_catalogue import Env, Fixture, builder

# Every activation fastgru knows (fastgru/registry.py), by its Keras name; a name the Keras
# version in use does not know is left out (the notes list those used).
ACTIVATION_NAMES = ("linear", "tanh", "sigmoid", "hard_sigmoid", "relu", "relu6", "elu", "selu",
                    "softplus", "softsign", "exponential", "swish", "silu", "gelu",
                    "leaky_relu", "mish", "softmax", "log_softmax", "sparsemax", "celu",
                    "hard_shrink", "hard_tanh", "soft_shrink", "sparse_plus", "sparse_sigmoid",
                    "squareplus", "tanh_shrink", "log_sigmoid", "hard_silu", "hard_swish")


def _known(env: Env, name: str) -> bool:
    try:
        env.keras.activations.get(name)
    except (ValueError, KeyError, TypeError):
        return False
    return True


# (name, Conv1D arguments) of conv_options' branches.
OPTION_BRANCHES = (
    ("valid_relu", dict(filters=5, kernel_size=3, activation="relu")),
    ("same_s2_groups", dict(filters=6, kernel_size=4, strides=2, padding="same", groups=2)),
    ("causal_d2_nobias", dict(filters=4, kernel_size=3, dilation_rate=2, padding="causal",
                              use_bias=False)),
    ("valid_d3_tanh", dict(filters=3, kernel_size=2, dilation_rate=3, activation="tanh")),
    ("causal_s2", dict(filters=4, kernel_size=2, strides=2, padding="causal")),
    ("same_d2", dict(filters=4, kernel_size=3, dilation_rate=2, padding="same")),
    ("same_even_kernel", dict(filters=3, kernel_size=4, padding="same")),
    ("valid_s3_groups4", dict(filters=8, kernel_size=3, strides=3, groups=4)),
    ("same_wide", dict(filters=100, kernel_size=3, padding="same")),
    ("valid_groups_48", dict(filters=96, kernel_size=2, groups=2)),
    ("pointwise", dict(filters=5, kernel_size=1, activation="sigmoid")),
)


@builder("conv_options")
def conv_options(env: Env) -> Fixture:
    x = env.keras.Input((11, 4), name="x")
    outs = [env.layers.Conv1D(name=f"conv_{name}", **kw)(x) for name, kw in OPTION_BRANCHES]
    model = env.keras.Model(x, outs, name="conv_options")
    return Fixture(model, [env.normal(3, 11, 4)],
                   "one Conv1D per branch on Input((11, 4)), outputs in this order: "
                   + "; ".join(f"{n} {kw}" for n, kw in OPTION_BRANCHES))


@builder("conv_activations")
def conv_activations(env: Env) -> Fixture:
    names = [a for a in ACTIVATION_NAMES if _known(env, a)]
    x = env.keras.Input((None, 4), name="x")
    outs = [env.layers.Conv1D(3, 2, padding="causal", activation=a, name=f"conv_{a}")(x)
            for a in names]
    model = env.keras.Model(x, outs, name="conv_activations")
    # small inputs keep exponential's outputs where float32 still resolves 1e-5
    return Fixture(model, [0.25 * env.normal(3, 6, 4)],
                   "one causal Conv1D(3, 2) per activation on Input((None, 4)), inputs scaled "
                   "by 0.25, outputs in this order: " + ", ".join(names))


@builder("conv_gru")
def conv_gru(env: Env) -> Fixture:
    L = env.layers
    x = env.keras.Input((None, 4), name="x")
    h = L.Conv1D(8, 3, padding="causal", activation="relu", name="conv_a")(x)
    h = L.Conv1D(6, 2, padding="causal", dilation_rate=2, name="conv_b")(h)
    h = L.GRU(5, return_sequences=True, name="gru")(h)
    y = L.Dense(2, name="head")(h)
    model = env.keras.Model(x, y, name="conv_gru")
    return Fixture(model, [env.normal(4, 9, 4)],
                   "causal CNN-GRU: Conv1D(8, 3, causal, relu) -> Conv1D(6, 2, causal, "
                   "dilation 2) -> GRU(5, return_sequences) -> Dense(2); streams")


@builder("conv_gru_strided")
def conv_gru_strided(env: Env) -> Fixture:
    L = env.layers
    model = env.keras.Sequential([
        env.keras.Input((12, 4)),
        L.Conv1D(8, 3, strides=2, padding="same", activation="relu", name="conv"),
        L.Conv1D(6, 3, name="conv_valid"),
        L.GRU(5, name="gru"),
        L.Dense(3, name="head"),
    ], name="conv_gru_strided")
    return Fixture(model, [env.normal(4, 12, 4)],
                   "Sequential: Input((12, 4)) -> Conv1D(8, 3, strides 2, same, relu) -> "
                   "Conv1D(6, 3, valid) -> GRU(5) -> Dense(3); fixed length, does not stream")


@builder("conv_mask")
def conv_mask(env: Env) -> Fixture:
    L = env.layers
    ids = env.keras.Input((8,), dtype="int32", name="ids")
    e = L.Embedding(20, 4, mask_zero=True, name="emb")(ids)
    h = L.Conv1D(6, 3, padding="causal", name="conv")(e)
    y = L.GRU(5, name="gru")(h)
    model = env.keras.Model(ids, y, name="conv_mask")
    tokens = env.rng.integers(1, 20, size=(4, 8)).astype(np.int32)
    tokens[0, 5:] = 0
    tokens[1, :3] = 0
    tokens[2, 4] = 0
    return Fixture(model, [tokens],
                   "Embedding(20, 4, mask_zero) -> Conv1D(6, 3, causal) -> GRU(5): Conv1D "
                   "drops the mask in both Keras versions, so the GRU sees every step; row 0 "
                   "post-padded, 1 pre-padded, 2 one zero in the middle")


@builder("conv_channels_first")
def conv_channels_first(env: Env) -> Fixture:
    """data_format="channels_first": (batch, channels, steps) in and out."""
    L = env.layers
    x = env.keras.Input((4, 9), name="x")   # 4 channels, 9 steps
    a = L.Conv1D(5, 3, data_format="channels_first", activation="relu", name="conv_cf")(x)
    b = L.Conv1D(6, 2, strides=2, padding="same", groups=2, data_format="channels_first",
                 name="conv_cf_same_s2_groups")(x)
    h = L.Conv1D(3, 3, padding="causal", data_format="channels_first", name="conv_cf_causal")(x)
    h = L.GRU(4, name="gru")(L.Permute((2, 1), name="steps_first")(h))
    model = env.keras.Model(x, [a, b, h], name="conv_channels_first")
    return Fixture(model, [env.normal(3, 4, 9)],
                   "Conv1D data_format channels_first on Input((4, 9)): valid relu; same, "
                   "strides 2, groups 2; causal -> Permute -> GRU")
