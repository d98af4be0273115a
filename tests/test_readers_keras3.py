"""Readers against models built here with real Keras 3 (jax backend), for the features the
committed fixtures do not cover: masks through merge layers (Keras 3 ORs them), the Keras 3
quirk that drops the mask of a GRU given initial_state (docs/KERAS_FORMATS.md §14.1), custom GRU
subclasses mapped with custom_objects, masked Sequential models, Keras 3's masked Multiply,
nested models, trained models with optimizer state. Each model is saved in all
three Keras 3 formats; Keras' own outputs (``model(x)``) are the reference."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

import fastgru  # noqa: E402
from fastgru.errors import FastGRUError  # noqa: E402
from fastgru.keras import read_model  # noqa: E402
from spec_reference import run_spec  # noqa: E402

L = keras.layers
TOL = 1e-5


def _padded(rng, batch, steps, features):
    """Rows: post-padded, pre-padded, one hole in the middle, the rest unpadded."""
    x = rng.normal(size=(batch, steps, features)).astype("float32")
    x[0, steps - 2:] = 0.0
    x[1, :2] = 0.0
    x[2, steps // 2] = 0.0
    return x


def _randomise(model, seed):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(rng.normal(0.0, 0.5, w.shape).astype("float32"))


def _saved_formats(model, tmp_path):
    """(path, config) for the .keras, legacy .h5 and .weights.h5 + JSON versions of ``model``."""
    base = tmp_path / model.name
    model.save(f"{base}.keras")
    model.save(f"{base}.h5")
    model.save_weights(f"{base}.weights.h5")
    return [(f"{base}.keras", None), (f"{base}.h5", None), (f"{base}.weights.h5", model.to_json())]


def _check(model, inputs, tmp_path, error_record, family, custom_objects=None):
    expected = model(inputs if len(inputs) > 1 else inputs[0])
    expected = [np.asarray(e) for e in (expected if isinstance(expected, (list, tuple)) else [expected])]
    for path, config in _saved_formats(model, tmp_path):
        spec = read_model(path, config=config, custom_objects=custom_objects)
        got = run_spec(spec, inputs)
        for g, e in zip(got, expected):
            assert g.shape == e.shape, path
            error_record.add("readers: spec vs Keras 3 (live)", family, g, e)
            assert np.max(np.abs(g - e)) <= TOL, path


def test_masks_through_merges_follow_keras3_or_rule(tmp_path, error_record):
    x = keras.Input((5, 3), name="x")
    mx = L.Masking(0.0, name="mx")(x)
    a = L.GRU(4, return_sequences=True, name="ga")(mx)
    b = L.GRU(4, return_sequences=True, name="gb")(mx)
    added = L.GRU(2, name="after_add")(L.Add(name="add")([a, b]))
    joined = L.GRU(2, name="after_cat")(L.Concatenate(name="cat")([a, b]))
    # an unmasked input makes the Keras 3 concatenated mask all true: no masking downstream
    mixed = L.GRU(2, name="after_mixed")(L.Concatenate(name="cat_mixed")([a, x]))
    # two different masks: Keras 3 ORs them
    y = keras.Input((5, 3), name="y")
    c = L.GRU(4, return_sequences=True, name="gc")(L.Masking(0.0, name="my")(y))
    either = L.GRU(2, name="after_or")(L.Subtract(name="sub")([a, c]))
    model = keras.Model([x, y], [added, joined, mixed, either], name="merge_masks")
    _randomise(model, 1)
    rng = np.random.default_rng(2)
    _check(model, [_padded(rng, 4, 5, 3), _padded(rng, 4, 5, 3)[::-1].copy()], tmp_path,
           error_record, "merge masks")
    kinds = [op.kind for op in read_model(tmp_path / "merge_masks.keras").ops]
    assert "mask_or" in kinds


def test_keras3_multiply_of_masked_inputs(tmp_path, error_record):
    """Keras 3's Multiply counts masked entries as 1 and zeroes steps no input keeps: exact for
    one shared mask, refused clearly for anything else."""
    x = keras.Input((5, 3), name="x")
    mx = L.Masking(0.0, name="mx")(x)
    a = L.GRU(4, return_sequences=True, name="ga")(mx)
    b = L.GRU(4, return_sequences=True, name="gb")(mx)
    shared = keras.Model(x, L.Multiply(name="mul")([a, b]), name="shared_mask_mul")
    _randomise(shared, 12)
    _check(shared, [_padded(np.random.default_rng(13), 4, 5, 3)], tmp_path, error_record,
           "Keras 3 masked Multiply")
    c = L.GRU(4, return_sequences=True, name="gc")(x)
    model = keras.Model(x, L.Multiply(name="mul")([a, c]), name="masked_mul")
    model.save(tmp_path / "masked_mul.keras")
    with pytest.raises(FastGRUError, match=r"layer 'mul'.*Multiply of inputs with different masks"):
        read_model(tmp_path / "masked_mul.keras")


def test_keras3_drops_the_mask_of_a_gru_given_initial_state(tmp_path, error_record):
    x = keras.Input((6, 3), name="x")
    h0 = keras.Input((4,), name="h0")
    masked = L.Masking(0.0, name="mk")(x)
    with_state = L.GRU(4, return_sequences=True, name="with_state")(masked, initial_state=h0)
    without = L.GRU(4, return_sequences=True, name="without")(masked)
    model = keras.Model([x, h0], [with_state, without], name="quirk_14_1")
    _randomise(model, 3)
    rng = np.random.default_rng(4)
    _check(model, [_padded(rng, 3, 6, 3), rng.normal(size=(3, 4)).astype("float32")],
           tmp_path, error_record, "mask + initial_state (14.1)")
    spec = read_model(tmp_path / "quirk_14_1.keras")
    masks = {op.layer: op.inputs[1] for op in spec.ops if op.kind == "gru"}
    assert masks["with_state"] is None and masks["without"] is not None


@keras.saving.register_keras_serializable(package="my_package")
class MyGRU(keras.layers.GRU):
    """A user subclass keeping the standard GRU maths."""


def test_custom_gru_subclass_loads_with_custom_objects(tmp_path, error_record):
    x = keras.Input((5, 3), name="x")
    y = MyGRU(4, name="mine")(x)
    model = keras.Model(x, L.Dense(2, name="head")(y), name="custom_gru")
    _randomise(model, 5)
    inputs = [np.random.default_rng(6).normal(size=(2, 5, 3)).astype("float32")]
    _check(model, inputs, tmp_path, error_record, "custom class", custom_objects={"my_package>MyGRU": "GRU"})
    _check(model, inputs, tmp_path, error_record, "custom class", custom_objects={"MyGRU": fastgru.GRU})
    with pytest.raises(FastGRUError, match=r"layer 'mine'.*my_package>MyGRU.*custom_objects"):
        read_model(tmp_path / "custom_gru.keras")


def test_masked_sequential_with_bidirectional_and_3d_dense(tmp_path, error_record):
    model = keras.Sequential([
        keras.Input((6, 3)), L.Masking(0.0), L.Bidirectional(L.GRU(3, return_sequences=True)),
        L.Dense(4, activation="tanh"), L.GRU(3, go_backwards=True, return_sequences=True),
        L.LayerNormalization(), L.GRU(2),
    ], name="masked_seq")
    _randomise(model, 7)
    _check(model, [_padded(np.random.default_rng(8), 4, 6, 3)], tmp_path, error_record, "masked Sequential")


def test_embedding_mask_used_by_bidirectional_with_return_state(tmp_path, error_record):
    ids = keras.Input((7,), dtype="int32", name="ids")
    e = L.Embedding(12, 4, mask_zero=True, name="emb")(ids)
    merged, hf, hb = L.Bidirectional(L.GRU(3, return_state=True), merge_mode="sum", name="bi")(e)
    model = keras.Model(ids, [merged, hf, hb], name="emb_bidi")
    _randomise(model, 9)
    tokens = np.random.default_rng(10).integers(1, 12, size=(3, 7)).astype("int32")
    tokens[0, 5:] = 0
    tokens[1, :2] = 0
    _check(model, [tokens], tmp_path, error_record, "embedding + bidi state")


def test_trained_model_optimizer_state_is_skipped(tmp_path, error_record):
    x = keras.Input((5, 3), name="x")
    model = keras.Model(x, L.Dense(2, name="head")(L.GRU(4, name="g")(x)), name="trained")
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(11)
    data = rng.normal(size=(8, 5, 3)).astype("float32")
    model.fit(data, rng.normal(size=(8, 2)).astype("float32"), epochs=2, verbose=0)
    _check(model, [data[:3]], tmp_path, error_record, "trained (optimizer state)")


def test_nested_models_are_inlined(tmp_path, error_record):
    """A masked Sequential and a functional model used as layers: their layers join the outer
    graph (the mask crosses into the nested functional model, as Keras does at run time)."""
    inner = keras.Sequential([keras.Input((5, 3)), L.Masking(0.0, name="mk"),
                              L.GRU(4, return_sequences=True, name="ig")], name="inner")
    xi = keras.Input((5, 4), name="fi")
    finner = keras.Model(xi, L.Dense(3, name="fd")(L.GRU(2, name="gru")(xi)), name="finner")
    x = keras.Input((5, 3), name="x")
    h = inner(x)
    model = keras.Model(x, [finner(h), L.Dense(2, name="head")(h)], name="outer")
    _randomise(model, 14)
    _check(model, [_padded(np.random.default_rng(15), 4, 5, 3)], tmp_path, error_record, "nested models")
    names = [layer.name for layer in read_model(tmp_path / "outer.keras").layers]
    assert names == ["x", "inner/mk", "inner/ig", "finner/gru", "finner/fd", "head"]


def test_nested_model_called_twice_is_refused(tmp_path):
    inner = keras.Sequential([keras.Input((5, 3)), L.GRU(4, name="ig")], name="inner")
    a, b = keras.Input((5, 3), name="a"), keras.Input((5, 3), name="b")
    model = keras.Model([a, b], L.Add(name="add")([inner(a), inner(b)]), name="twice")
    model.save(tmp_path / "twice.keras")
    with pytest.raises(FastGRUError, match=r"nested model 'inner' is called 2 times"):
        read_model(tmp_path / "twice.keras")
