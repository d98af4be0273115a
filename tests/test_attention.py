"""The attention op (src_c/model_attention.c) beyond the real-Keras fixtures: shapes that span
several gemm column blocks and heads against the float64 reference, thread counts and ISAs
against each other, the loader's checks on hostile images, and the refusals (streams,
options fastgru does not run) naming the layer."""
from __future__ import annotations

import itertools
import json
import shutil

import numpy as np
import pytest

import fastgru
from fastgru import _core
from fastgru.errors import FastGRUError
from fastgru.format import pack_model
from fastgru.model import Model
from fixture_manifest import MANIFEST, arrays, load_data, paths
from model_cases import SpecBuilder
from spec_reference import run_spec
from test_c_library import c_build, converted, run  # noqa: F401  (c_build: a fixture)

TOL = 1e-5
ATTRS = {"num_heads": 1, "score_mode": 0, "causal": False, "mask_fill": 0,
         "zero_masked_weights": False, "query_mask_rows": True, "query_scale": 1.0}


def attention_spec(tq=50, tk=70, heads=3, dk=5, dv=7, masks=(True, True, True), scores=False,
                   weights=None, **attrs):
    """q (tq, heads*dk), k (tk, heads*dk), v (tk, heads*dv) and the masks as model inputs
    (bool masks come from int ids through compute_mask; the attention mask is float 0 / 1);
    the scores (tq, tk) with one head, else (heads, tq, tk)."""
    s = SpecBuilder("attention", np.random.default_rng(3))
    q = s.input("q", (tq, heads * dk))
    k = s.input("k", (tk, heads * dk))
    v = s.input("v", (tk, heads * dv))
    mask_names = []
    for used, (name, shape) in zip(masks, (("q_ids", (tq,)), ("v_ids", (tk,)))):
        if not used:
            mask_names.append(None)
            continue
        ids = s.input(name, shape, "int32")
        mask_names.append(s.op("compute_mask", f"{name}_mask", [ids],
                               [(f"{name}/mask", shape, "bool")], {"value": 0.0}))
    am = s.input("am", (tq, tk)) if masks[2] else None
    scores_shape = (tq, tk) if heads == 1 else (heads, tq, tk)
    outputs = [("y", (tq, heads * dv))] + ([("scores", scores_shape)] if scores else [None])
    y = s.op("attention", "att", [q, k, v, *mask_names, am], outputs,
             {**ATTRS, "num_heads": heads, **attrs}, weights or {})
    if scores and heads > 1:
        s.tensors["scores"].time = False   # its first axis is the heads'
    return s.spec(y if scores else [y[0]])


def feed(spec, rng, batch=4):
    xs = []
    for name in spec.inputs:
        t = spec.tensors[name]
        if t.dtype == "int32":
            ids = rng.integers(0, 3, size=(batch,) + t.shape).astype(np.int32)
            ids[0] = 0   # a sample with every step masked
            xs.append(ids)
        elif name == "am":
            xs.append((rng.random((batch,) + t.shape) > 0.3).astype(np.float32))
        else:
            xs.append(rng.standard_normal((batch,) + t.shape).astype(np.float32))
    return xs


def predict(spec, xs, **kwargs):
    y = Model(pack_model(spec), **kwargs).predict(xs)
    return y if isinstance(y, list) else [y]


CASES = {
    "dot_heads_all_masks": {},
    "dot_causal_replace_zero": dict(causal=True, mask_fill=1, zero_masked_weights=True,
                                    query_mask_rows=False, query_scale=0.4472136),
    "dot_scale_scores": dict(heads=1, scores=True, weights={"scale": np.array([0.7], np.float32)}),
    "dot_heads_scores": dict(heads=4, dk=16, dv=16, scores=True, causal=True, mask_fill=1,
                             zero_masked_weights=True, query_mask_rows=False),
    "concat": dict(heads=1, tk=60, score_mode=1, masks=(True, True, False),
                   weights={"scale": np.array([1.3], np.float32),
                            "concat_score_weight": np.array([0.8], np.float32)}),
    "additive": dict(heads=1, tq=20, score_mode=2, causal=True, dk=6,
                     weights={"scale": np.linspace(-1, 1, 6).astype(np.float32)}),
    "no_masks_short": dict(tq=3, tk=1, masks=(False, False, False)),
}


@pytest.mark.parametrize("case", CASES)
def test_c_matches_the_reference(case):
    spec = attention_spec(**CASES[case])
    xs = feed(spec, np.random.default_rng(11))
    got, expected = predict(spec, xs), run_spec(spec, xs)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=TOL, rtol=0)


def test_thread_counts_and_isas_agree():
    spec = attention_spec(tq=40, tk=100, heads=4, dk=16, dv=16)
    xs = feed(spec, np.random.default_rng(5), batch=6)
    one = predict(spec, xs, threads=1)
    for threads in (2, 3):
        for a, b in zip(one, predict(spec, xs, threads=threads)):
            assert a.tobytes() == b.tobytes()
    try:
        _core.set_isa_cap("scalar")
        scalar = predict(spec, xs)
        for isa in _core.isa_available():
            _core.set_isa_cap(isa)
            for a, b in zip(predict(spec, xs), scalar):
                np.testing.assert_allclose(a, b, atol=TOL, rtol=0)
    finally:
        _core.set_isa_cap(None)


def test_run_time_lengths_are_checked():
    """Key and value each bring a time axis; lengths that disagree are refused by name."""
    spec = attention_spec(tq=None, tk=None, masks=(False, False, False))
    model = Model(pack_model(spec))
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal((2, n, d)).astype(np.float32)
               for n, d in ((4, 15), (6, 15), (5, 21)))
    with pytest.raises(FastGRUError, match="att"):
        model.predict([q, k, v])
    v = rng.standard_normal((2, 6, 21)).astype(np.float32)
    assert model.predict([q, k, v]).shape == (2, 4, 21)


HOSTILE = {
    "heads do not split the features": (dict(num_heads=4), {}, "split into 4 heads"),
    "no heads": (dict(num_heads=0), {}, "score_mode"),
    "unknown score mode": (dict(score_mode=7), {}, "score_mode 7"),
    "several heads for concat": (dict(score_mode=1, num_heads=3), {}, "score_mode"),
    "flag not 0 or 1": (dict(causal=2), {}, "causal = 2"),
    "mask fill not 0 or 1": (dict(mask_fill=-1), {}, "mask_fill"),
    "query scale not finite": (dict(query_scale=float("inf")), {}, "query_scale"),
    "scale of the wrong size": ({}, {"scale": np.ones(3, np.float32)}, "weight 0"),
    "concat without its weight": (dict(score_mode=1, num_heads=1), {}, "weight 1 is missing"),
    "concat weight on dot scores": ({}, {"concat_score_weight": np.ones(1, np.float32)},
                                    "concat_score_weight"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_images_are_refused_at_load(case):
    """A CRC-valid image whose attention op is inconsistent fails at load, naming the layer."""
    attrs, weights, message = HOSTILE[case]
    spec = attention_spec(tq=4, tk=5, heads=3, dk=2, dv=2, weights=weights, **attrs)
    with pytest.raises(FastGRUError, match=f"layer 'att'.*{message}"):
        Model(pack_model(spec))


# tensor -> its per-sample shape in a hostile image (k: (5, 2), v: (5, 2), scores: (4, 5),
# am: (4, 5))
HOSTILE_SHAPES = {"k": (5, 3), "v": (6, 2), "scores": (4, 6), "am": (4, 4)}


@pytest.mark.parametrize("heads, shape", [(2, (4, 5)), (2, (3, 4, 5)), (2, (2, 5, 5)),
                                          (1, (4, 5, 1))])
def test_scores_of_the_wrong_shape_are_refused(heads, shape):
    """Per-head scores are (heads, Tq, Tk); (Tq, Tk) only with one head. Refused at load, or
    where the query's length comes at run time, when the run's lengths are known."""
    spec = attention_spec(tq=4, tk=5, heads=heads, dk=2, dv=2, scores=True)
    spec.tensors["scores"].shape = shape
    with pytest.raises(FastGRUError, match="layer 'att'.*scores output"):
        predict(spec, feed(spec, np.random.default_rng(1)))


@pytest.mark.parametrize("tensor", HOSTILE_SHAPES)
def test_hostile_shapes_are_refused(tensor):
    """Refused at load where the image fixes the sizes; lengths (each sequence input brings a
    run-time length of its own) are checked when the run's lengths are known."""
    spec = attention_spec(tq=4, tk=5, heads=1, dk=2, dv=2, scores=True)
    spec.tensors[tensor].shape = HOSTILE_SHAPES[tensor]
    with pytest.raises(FastGRUError, match="layer 'att'"):
        predict(spec, feed(spec, np.random.default_rng(1)))


def test_streams_refuse_attention_by_name():
    """Attention looks at the whole sequence (fastgru keeps no key/value cache for causal
    self-attention), so a stream is refused, naming the layer."""
    spec = attention_spec(tq=None, tk=None, masks=(False, False, False), causal=True)
    with pytest.raises(FastGRUError, match="layer 'att'.*cannot be streamed"):
        Model(pack_model(spec)).stream(batch_size=2).step([np.zeros((2, 15), np.float32),
                                                           np.zeros((2, 15), np.float32),
                                                           np.zeros((2, 21), np.float32)])


def _save(keras, model, tmp_path):
    path = tmp_path / "m.keras"
    model.save(path)
    return path


def test_unsupported_options_are_refused_by_name(tmp_path):
    keras = pytest.importorskip("keras")
    L = keras.layers
    x = keras.Input((None, 4))   # (heads, Tq, Tk) scores need both lengths fixed
    _, scores = L.MultiHeadAttention(2, 3, name="mha_scores")(x, x, return_attention_scores=True)
    with pytest.raises(FastGRUError, match="mha_scores.*return_attention_scores.*fixed length"):
        fastgru.load(_save(keras, keras.Model(x, scores), tmp_path))
    q, v = keras.Input((5, 4)), keras.Input((None, 4))
    _, scores = L.Attention(name="open_scores")([q, v], return_attention_scores=True)
    with pytest.raises(FastGRUError, match="open_scores.*fixed length"):
        fastgru.load(_save(keras, keras.Model([q, v], scores), tmp_path))


@pytest.mark.parametrize("threads", [1, 2])
def test_batch_chunks_agree(threads):
    """predict in batch chunks gives the whole batch's bytes (every (sample, head) is
    computed alike wherever it falls)."""
    spec = attention_spec(tq=9, tk=11, heads=2)
    xs = feed(spec, np.random.default_rng(9), batch=5)
    model = Model(pack_model(spec), threads=threads)
    whole = model.predict(xs)
    assert whole.tobytes() == model.predict(xs, batch_size=2).tobytes()


def test_every_mask_combination_matches_the_reference():
    for masks, rows, fill in itertools.product(itertools.product((False, True), repeat=3),
                                               (False, True), (0, 1)):
        spec = attention_spec(tq=6, tk=7, heads=2, dk=3, dv=2, masks=masks,
                              query_mask_rows=rows, mask_fill=fill)
        xs = feed(spec, np.random.default_rng(4))
        np.testing.assert_allclose(predict(spec, xs)[0], run_spec(spec, xs)[0], atol=TOL,
                                   rtol=0, err_msg=f"masks {masks}, rows {rows}, fill {fill}")


def test_mutated_attention_images_never_crash(tmp_path):
    """test_format's image fuzzing on an image with every attention input and both outputs:
    each hostile variant loads and runs, or raises FastGRUError."""
    from test_format import fuzz_image
    path = tmp_path / "m.fgru"
    path.write_bytes(pack_model(attention_spec(tq=4, tk=5, heads=1, dk=2, dv=3, scores=True,
                                               weights={"scale": np.ones(1, np.float32)})))
    loaded, refused = fuzz_image(path, seed=2, count=800)
    assert refused > 500 and loaded > 0


@pytest.mark.skipif(shutil.which("valgrind") is None or shutil.which("make") is None,
                    reason="needs valgrind and make (Debian: valgrind)")
@pytest.mark.parametrize("entry_id", ["keras3/mha_cross/keras3_keras",
                                      "keras3/attention_tanh_scores/keras3_keras"])
def test_fastgru_run_attention_is_clean_under_valgrind(c_build, tmp_path, entry_id):
    """The attention op's packing and products through the C program, under memcheck (batch
    runs only: attention does not stream)."""
    model_path, in_paths, xs = converted(entry_id, tmp_path)
    out = tmp_path / "y.npy"
    r = run(["valgrind", "--error-exitcode=1", "--leak-check=full", c_build / "fastgru_run",
             "--threads", "1", model_path, *in_paths, out])
    assert r.returncode == 0, r.stderr[-3000:]


def test_tf_keras_causal_spelling(tmp_path):
    """Older tf-keras files say Attention(causal=True) in the layer config instead of
    use_causal_mask in the call: the same model written that way gives Keras' stored outputs
    (made with use_causal_mask)."""
    entry = next(e for e in MANIFEST if e["id"] == "keras2/attention_causal_scores/keras2_weights_h5")
    weights, config_path = paths(entry)
    config = json.loads(config_path.read_text())
    for layer in config["config"]["layers"]:
        for node in layer["inbound_nodes"]:
            for tensor in node:
                if tensor[3].pop("use_causal_mask", None):
                    layer["config"]["causal"] = True
    edited = tmp_path / "causal.json"
    edited.write_text(json.dumps(config))
    data = load_data(entry)
    got = fastgru.load(weights, config=edited).predict(arrays(data, "x")[0])
    for g, e in zip(got, arrays(data, "y")):
        np.testing.assert_allclose(g, e, atol=TOL, rtol=0)


@pytest.mark.parametrize("score_mode", [0, 1, 2])
def test_c_export_config_builds_tanh_for_tanh_scores(score_mode):
    """`--format c`'s fg_config.h: the attention op, and tanh where its scores sum tanh terms
    (concat, additive) even though no op names tanh as its activation."""
    import re

    from fastgru import c_export
    from fastgru.registry import ACTIVATIONS, OP_BY_NAME
    spec = attention_spec(tq=4, tk=5, heads=1, masks=(False, False, False), score_mode=score_mode,
                          weights={"concat_score_weight": np.ones(1, np.float32)}
                          if score_mode == 1 else None)
    text = c_export.config_text(pack_model(spec), "att")
    ops = int(re.search(r"FG_CONFIG_OPS 0x([0-9a-f]+)u", text).group(1), 16)
    acts = int(re.search(r"FG_CONFIG_ACTIVATIONS 0x([0-9a-f]+)u", text).group(1), 16)
    assert ops == 1 << OP_BY_NAME["attention"].id
    assert acts == (0 if score_mode == 0 else 1 << ACTIVATIONS["tanh"])


def test_explicit_masks_and_open_mask_lengths_are_refused_by_name(tmp_path):
    keras = pytest.importorskip("keras")
    L = keras.layers
    x, m = keras.Input((5, 4)), keras.Input((5,), dtype="int32")
    y = L.MultiHeadAttention(2, 3, name="mha_qmask")(x, x, query_mask=m)
    with pytest.raises(FastGRUError, match="mha_qmask.*query_mask"):
        fastgru.load(_save(keras, keras.Model([x, m], y), tmp_path))
    x, am = keras.Input((None, 4)), keras.Input((None, None))
    y = L.MultiHeadAttention(2, 3, name="mha_open")(x, x, attention_mask=am)
    with pytest.raises(FastGRUError, match="mha_open.*fixed value time"):
        fastgru.load(_save(keras, keras.Model([x, am], y), tmp_path))
