"""Fixture builders for 16-bit layers: a GRU with dtype float16 or bfloat16, and one under a
mixed precision policy (float32 weights, 16-bit compute), each with a float32 Dense head so
that the stored outputs are float32. Keras computes these layers in 16 bits; fastgru reads
the stored weights and computes in float32 (the tests' tolerance says by how much they
differ)."""
from __future__ import annotations

import functools

from fixtures_catalogue import Env, Fixture, builder

# JAX has no QR for 16-bit types: the default orthogonal recurrent initializer fails there
# (the weights are randomised afterwards anyway).
_INIT = {"recurrent_initializer": "glorot_uniform"}


def _gru_model(env: Env, dtype: str) -> Fixture:
    L = env.layers
    x = env.keras.Input((6, 3), name="x")
    h = L.GRU(5, return_sequences=True, dtype=dtype, name="gru", **_INIT)(x)
    y = L.Dense(2, dtype="float32", name="head")(h)
    model = env.keras.Model(x, y, name=f"gru_{dtype}")
    return Fixture(model, [env.normal(4, 6, 3)],
                   f"GRU(5, dtype={dtype}, return_sequences) then a float32 Dense(2); Keras "
                   f"computes the GRU in {dtype.replace('mixed_', '')}")


for _dtype in ("float16", "bfloat16", "mixed_float16", "mixed_bfloat16"):
    builder(f"gru_{_dtype}")(functools.partial(_gru_model, dtype=_dtype))
