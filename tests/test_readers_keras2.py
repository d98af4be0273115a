"""Readers against models built here with real tf-keras (the Keras 2 API), for Keras 2 rules the
committed fixtures do not cover: masks through merge layers (tf-keras ANDs them), a masked
Bidirectional given initial states (tf-keras keeps the mask), Keras 2's hard_sigmoid, a
Sequential without an InputLayer, a mask crossing TimeDistributed, nested models (tf-keras
numbers their calls from 1). tf-keras needs TensorFlow,
so the models are made by a separate interpreter (``FASTGRU_TFKERAS_PYTHON``, default
``/opt/tfenv/bin/python``); the test is skipped where there is none."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fastgru.keras import read_model
from spec_reference import run_spec

TF_PYTHON = os.environ.get("FASTGRU_TFKERAS_PYTHON", "/opt/tfenv/bin/python")
TOL = 1e-5
MODELS = ("merge_masks", "bidi_state_mask", "hard_sigmoid", "seq_no_input", "td_mask", "nested")

MAKER = textwrap.dedent('''
    import sys
    import numpy as np
    import tf_keras as keras
    L = keras.layers
    out = sys.argv[1]
    rng = np.random.default_rng(0)

    def padded(b, t, f):
        x = rng.normal(size=(b, t, f)).astype("float32")
        x[0, t - 2:] = 0; x[1, :2] = 0; x[2, t // 2] = 0
        return x

    def models():
        x = keras.Input((5, 3), name="x"); y = keras.Input((5, 3), name="y")
        a = L.GRU(4, return_sequences=True, name="ga")(L.Masking(0.0, name="mx")(x))
        b = L.GRU(4, return_sequences=True, name="gb")(L.Masking(0.0, name="my")(y))
        added = L.GRU(2, name="after_add")(L.Add(name="add")([a, b]))
        mixed = L.GRU(2, name="after_cat")(L.Concatenate(name="cat")([a, y]))
        xv, yv = padded(4, 5, 3), padded(4, 5, 3)[::-1].copy()
        yield "merge_masks", keras.Model([x, y], [added, mixed]), [xv, yv]

        x = keras.Input((6, 3), name="x"); hf = keras.Input((3,), name="hf"); hb = keras.Input((3,), name="hb")
        bi = L.Bidirectional(L.GRU(3, return_sequences=True), name="bi")(L.Masking(0.0, name="mk")(x),
                                                                          initial_state=[hf, hb])
        yield "bidi_state_mask", keras.Model([x, hf, hb], bi), [
            padded(3, 6, 3), rng.normal(size=(3, 3)).astype("float32"), rng.normal(size=(3, 3)).astype("float32")]

        x = keras.Input((5, 3), name="x")
        g = L.GRU(4, recurrent_activation="hard_sigmoid", activation="hard_sigmoid", name="g")(x)
        yield "hard_sigmoid", keras.Model(x, L.Activation("hard_sigmoid", name="act")(g)), [
            3 * rng.normal(size=(3, 5, 3)).astype("float32")]

        seq = keras.Sequential([L.Masking(0.0, input_shape=(6, 3), name="mk"),
                                L.GRU(4, return_sequences=True, name="g1"), L.GRU(2, name="g2")])
        yield "seq_no_input", seq, [padded(4, 6, 3)]

        ids = keras.Input((6,), dtype="int32", name="ids")
        e = L.Embedding(10, 4, mask_zero=True, name="emb")(ids)
        td = L.TimeDistributed(L.Dense(3, activation="relu"), name="td")(e)
        tok = rng.integers(1, 10, size=(3, 6)).astype("int32"); tok[0, 4:] = 0; tok[1, :2] = 0
        yield "td_mask", keras.Model(ids, L.GRU(2, name="g")(td)), [tok]

        inner = keras.Sequential([keras.Input((5, 3)), L.Masking(0.0), L.GRU(4, return_sequences=True, name="ig")],
                                 name="inner")
        xi = keras.Input((5, 4), name="fi")
        finner = keras.Model(xi, L.Dense(3, name="fd")(L.GRU(2, name="gru")(xi)), name="finner")
        x = keras.Input((5, 3), name="x")
        h = inner(x)
        yield "nested", keras.Model(x, [finner(h), L.Dense(2, name="head")(h)]), [padded(4, 5, 3)]

    for name, model, inputs in models():
        for w in model.weights:
            w.assign(rng.normal(0, 0.5, w.shape))
        outs = model(inputs if len(inputs) > 1 else inputs[0])
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        model.save(f"{out}/{name}.h5"); model.save(f"{out}/{name}.keras")
        model.save_weights(f"{out}/{name}_weights.h5")
        open(f"{out}/{name}.json", "w").write(model.to_json())
        np.savez(f"{out}/{name}.npz", **{f"x{i}": v for i, v in enumerate(inputs)},
                 **{f"y{i}": np.asarray(v) for i, v in enumerate(outs)})
''')


@pytest.fixture(scope="module")
def keras2_dir(tmp_path_factory):
    if not Path(TF_PYTHON).exists():
        pytest.skip(f"no tf-keras interpreter at {TF_PYTHON}")
    out = tmp_path_factory.mktemp("keras2")
    (out / "make.py").write_text(MAKER)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    done = subprocess.run([TF_PYTHON, str(out / "make.py"), str(out)], capture_output=True, text=True,
                          env=env, timeout=600)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        pytest.fail("tf-keras could not build the models")
    return out


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("kind", ["h5", "keras", "weights"])
def test_tf_keras_model_reproduced(keras2_dir, model, kind, error_record):
    path = keras2_dir / (f"{model}_weights.h5" if kind == "weights" else f"{model}.{kind}")
    config = keras2_dir / f"{model}.json" if kind == "weights" else None
    spec = read_model(path, config=config)
    assert spec.keras_version == 2
    data = np.load(keras2_dir / f"{model}.npz")
    inputs = [data[f"x{i}"] for i in range(len(spec.inputs))]
    expected = [data[f"y{i}"] for i in range(len(spec.outputs))]
    for got, want in zip(run_spec(spec, inputs), expected):
        assert got.shape == want.shape
        error_record.add("readers: spec vs tf-keras (live)", model, got, want)
        assert np.max(np.abs(got - want)) <= TOL


def test_keras2_hard_sigmoid_is_the_keras2_formula(keras2_dir):
    spec = read_model(keras2_dir / "hard_sigmoid.h5")
    gru = next(op for op in spec.ops if op.kind == "gru")
    act = next(op for op in spec.ops if op.kind == "activation")
    assert gru.attrs["recurrent_activation"] == gru.attrs["activation"] == "hard_sigmoid_keras2"
    assert act.attrs["activation"] == "hard_sigmoid_keras2"
