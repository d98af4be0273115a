"""Real Keras 3 models end to end: save .keras -> fastgru.keras.read_model -> pack_model ->
Model.predict, against Keras' own predict (<= 1e-5). Needs the readers (fastgru.keras) and
Keras; skipped where either is missing."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")
readers = pytest.importorskip("fastgru.keras")

from fastgru.format import pack_model  # noqa: E402
from fastgru.model import Model  # noqa: E402

layers = keras.layers
TOL = 1e-5
T, F = 9, 5


def _stack():
    inp = keras.Input((None, F))
    h = layers.Masking(0.0)(inp)
    h = layers.GRU(8, return_sequences=True, reset_after=False)(h)
    h = layers.Bidirectional(layers.GRU(6, return_sequences=True,
                                        recurrent_activation="hard_sigmoid"))(h)
    h = layers.LayerNormalization()(h)
    h = layers.TimeDistributed(layers.Dense(7, activation="relu"))(h)
    h = layers.GRU(5)(h)
    h = layers.BatchNormalization()(h)
    return keras.Model(inp, layers.Dense(3, activation="softmax")(h))


def _bidirectional(mode):
    def build():
        inp = keras.Input((None, F))
        return keras.Model(inp, layers.Bidirectional(layers.GRU(4, return_sequences=True),
                                                     merge_mode=mode)(layers.Masking()(inp)))
    return build


def _embedding():
    inp = keras.Input((None,), dtype="int32")
    e = layers.Embedding(30, 6, mask_zero=True)(inp)
    return keras.Model(inp, layers.GRU(4, return_sequences=True)(e))


def _two_in_two_out():
    a, s0 = keras.Input((None, F)), keras.Input((6,))
    y, state = layers.GRU(6, return_sequences=True, return_state=True)(a, initial_state=s0)
    z = layers.Add()([y, layers.Dense(6)(a)])
    joined = layers.Concatenate()([z, layers.Activation("tanh")(y)])
    return keras.Model([a, s0], [joined, state])


def _backwards():
    inp = keras.Input((None, F))
    out = layers.GRU(4, go_backwards=True, return_sequences=True)(inp)
    return keras.Model(inp, layers.Subtract()([out, layers.Dense(4)(inp)]))


MODELS = {"stack": _stack, "bi_concat": _bidirectional("concat"),
          "bi_sum": _bidirectional("sum"), "bi_mul": _bidirectional("mul"),
          "bi_ave": _bidirectional("ave"), "embedding": _embedding,
          "two_in_two_out": _two_in_two_out, "backwards": _backwards}


def _inputs(name, rng):
    x = rng.normal(size=(4, T, F)).astype(np.float32)
    x[0, 6:] = 0
    x[1, :] = 0
    if name == "embedding":
        ids = rng.integers(1, 30, size=(4, T))
        ids[0, 5:] = 0
        return ids
    if name == "two_in_two_out":
        return [x, rng.normal(size=(4, 6)).astype(np.float32)]
    return x


def _as_list(y):
    return [np.asarray(a) for a in (y if isinstance(y, (list, tuple)) else [y])]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_matches_keras_predict(name, tmp_path):
    keras_model = MODELS[name]()
    path = tmp_path / f"{name}.keras"
    keras_model.save(path)
    model = Model(pack_model(readers.read_model(path)))
    x = _inputs(name, np.random.default_rng(0))
    for got, want in zip(_as_list(model.predict(x)), _as_list(keras_model.predict(x, verbose=0))):
        np.testing.assert_allclose(got, want, atol=TOL, rtol=0)


def test_stream_matches_keras_on_prefixes(tmp_path):
    keras_model = _two_in_two_out()
    keras_model.save(tmp_path / "m.keras")
    model = Model(pack_model(readers.read_model(tmp_path / "m.keras")))
    x, h0 = _inputs("two_in_two_out", np.random.default_rng(1))
    stream = model.stream(batch_size=4)
    for t in (0, 1, 2):
        got = stream.step([x[:, t], h0])
        want = _as_list(keras_model.predict([x[:, :t + 1], h0], verbose=0))
        np.testing.assert_allclose(got[0], want[0][:, t], atol=TOL, rtol=0)
        np.testing.assert_allclose(got[1], want[1], atol=TOL, rtol=0)
