"""Whole-model runs (pack_model -> C executor -> Model.predict) against the float64 numpy
interpreter of tests/model_cases.py, for every op kind, masks, several inputs / outputs,
Bidirectional decompositions and stateful carry."""
import pickle

import numpy as np
import pytest

from fastgru.errors import FastGRUError
from fastgru.format import pack_model
from fastgru.model import Model
from model_cases import SpecBuilder
from spec_reference import run_spec as reference_run

TOL = 1e-5
B, T, F = 3, 7, 4


def assert_close(got, expected, tol=TOL):
    got = got if isinstance(got, list) else [got]
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, atol=tol, rtol=0)


def padded_x(rng, batch=B, steps=T, feats=F, value=0.0):
    """Inputs with post-padding (rows of `value`), one row fully padded, one not at all."""
    x = rng.normal(size=(batch, steps, feats)).astype(np.float32)
    lengths = [0, steps] + list(rng.integers(1, steps, batch - 2))
    for b, n in enumerate(lengths):
        x[b, n:] = value
    return x


def masked_stack():
    """Masking -> GRU (reset_after False, sequences) -> LayerNorm -> Dense relu (3-D) ->
    Activation -> GRU (last output) -> BatchNorm -> Dense softmax."""
    s = SpecBuilder("masked_stack")
    x = s.input("x", (None, F))
    mask = s.op("compute_mask", "masking", [x], [("masking/mask", (None,), "bool")],
                {"value": 0.0})
    xm = s.same("apply_mask", "masking", [x, mask], class_name="Masking")
    g1 = s.gru("gru1", xm, 6, mask=mask, reset_after=False, return_sequences=True)
    ln = s.same("layer_norm", "ln", [g1], {"epsilon": 1e-3},
                {"gamma": s.w(6) + 1, "beta": s.w(6)}, class_name="LayerNormalization")
    d = s.dense("td_dense", ln, 5, activation="relu")
    act = s.same("activation", "act", [d], {"activation": "gelu"}, class_name="Activation")
    g2 = s.gru("gru2", act, 4, mask=mask, activation="softsign",
               recurrent_activation="hard_sigmoid")
    bn = s.same("batch_norm", "bn", [g2], {"epsilon": 1e-3},
                {"gamma": s.w(4) + 1, "beta": s.w(4), "moving_mean": s.w(4),
                 "moving_variance": np.abs(s.w(4)) + 0.5}, class_name="BatchNormalization")
    y = s.dense("head", bn, 3, activation="softmax")
    return s.spec([y])


def test_masked_stack_matches_reference():
    spec = masked_stack()
    x = padded_x(np.random.default_rng(1))
    assert_close(Model(pack_model(spec)).predict(x), reference_run(spec, [x]))


def embedding_model():
    s = SpecBuilder("embedding")
    ids = s.input("ids", (None,), "int32")
    e = s.op("embedding", "emb", [ids], [("emb/y", (None, 6))], {},
             {"embeddings": s.w(20, 6, scale=3)}, "Embedding")
    mask = s.op("compute_mask", "emb", [ids], [("emb/mask", (None,), "bool")], {"value": 0})
    g = s.gru("gru", e, 5, mask=mask, return_sequences=True)
    y = s.dense("out", g, 2, use_bias=False)
    return s.spec([y])


def test_embedding_with_mask_zero_and_id_conversion():
    spec = embedding_model()
    model = Model(pack_model(spec))
    ids = np.random.default_rng(2).integers(1, 20, size=(B, T))
    ids[0, 3:] = 0
    ids[1, :] = 0
    expected = reference_run(spec, [ids])
    assert_close(model.predict(ids), expected)
    assert_close(model.predict(ids.astype(np.float64)), expected)   # floats holding integers
    with pytest.raises(FastGRUError, match="integer"):
        model.predict(ids + 0.5)


def test_embedding_id_out_of_range_names_the_layer():
    model = Model(pack_model(embedding_model()))
    ids = np.ones((2, T), dtype=np.int32)
    ids[1, 2] = 20
    with pytest.raises(FastGRUError, match=r"emb.*id 20.*vocabulary"):
        model.predict(ids)
    ids[1, 2] = -1
    with pytest.raises(FastGRUError, match="emb"):
        model.predict(ids)


def bidirectional(merge):
    """Bidirectional(GRU) as readers decompose it: forward GRU, backward GRU (go_backwards),
    reverse_time on the backward sequence, then the merge op."""
    s = SpecBuilder(f"bi_{merge}")
    x = s.input("x", (None, F))
    mask = s.op("compute_mask", "masking", [x], [("mask", (None,), "bool")], {"value": 0.0})
    fw = s.gru("bi_fw", x, 5, mask=mask, return_sequences=True, zero_output_for_mask=True,
               class_name="Bidirectional")
    bw = s.gru("bi_bw", x, 5, mask=mask, return_sequences=True, go_backwards=True,
               zero_output_for_mask=True, reset_after=False, class_name="Bidirectional")
    bw_r = s.same("reverse_time", "bi_rev", [bw])
    if merge == "concat":
        y = s.op("concatenate", "bi", [fw, bw_r], [("bi/y", (None, 10))], {"axis": -1})
    else:
        y = s.same(merge, "bi", [fw, bw_r])
    return s.spec([y])


@pytest.mark.parametrize("merge", ["concat", "add", "multiply", "average", "subtract"])
def test_bidirectional_decomposition(merge):
    spec = bidirectional(merge)
    x = padded_x(np.random.default_rng(3))
    assert_close(Model(pack_model(spec)).predict(x), reference_run(spec, [x]))


def two_in_two_out():
    """x and an initial state in; the GRU sequence (joined with a dense branch along the time
    axis) and the final state out."""
    s = SpecBuilder("two_io")
    x = s.input("x", (None, F))
    h0 = s.input("h0", (5,))
    y, h = s.gru("gru", x, 5, h0=h0, state_out=True, return_sequences=True)
    d = s.dense("proj", x, 5, activation="tanh")
    s.op("concatenate", "join", [y, d], [("join/y", (None, 5))], {"axis": 1})
    return s


def test_two_inputs_two_outputs_time_concat():
    s = two_in_two_out()
    # the output's time axis is 2T: give it a fixed, known length to check the concat sizes
    s.tensors["x"].shape = (T, F)
    s.tensors["gru/y"].shape = (T, 5)
    s.tensors["proj/y"].shape = (T, 5)
    s.tensors["join/y"].shape = (2 * T, 5)
    spec = s.spec(["join/y", "gru/h"])
    model = Model(pack_model(spec))
    rng = np.random.default_rng(4)
    x = rng.normal(size=(B, T, F))
    h0 = rng.uniform(-0.8, 0.8, size=(B, 5))
    expected = reference_run(spec, [x, h0])
    assert_close(model.predict([x, h0]), expected)
    assert_close(model.predict({"h0": h0, "x": x}), expected)
    assert_close(model([np.asfortranarray(x), h0.astype(np.float64)]), expected)
    assert [t.name for t in model.inputs] == ["x", "h0"]
    assert model.inputs[0].shape == (None, T, F) and model.outputs[1].shape == (None, 5)


def test_wrong_shapes_name_the_input():
    spec = two_in_two_out().spec(["gru/y", "gru/h"])
    model = Model(pack_model(spec))
    x = np.zeros((B, T, F), np.float32)
    with pytest.raises(FastGRUError, match=r"'h0'.*\(3, 5\).*\(3, 4\)"):
        model.predict([x, np.zeros((B, 4))])
    with pytest.raises(FastGRUError, match=r"'x'.*got \(3, 7\)"):
        model.predict([x[:, :, 0], np.zeros((B, 5))])
    with pytest.raises(FastGRUError, match="2 inputs"):
        model.predict([x])
    with pytest.raises(FastGRUError, match="missing"):
        model.predict({"x": x})


def test_batch_size_chunks_and_thread_counts_agree():
    spec = masked_stack()
    x = padded_x(np.random.default_rng(5), batch=11)
    full = Model(pack_model(spec), threads=1).predict(x)
    np.testing.assert_array_equal(Model(pack_model(spec), threads=2).predict(x), full)
    assert_close(Model(pack_model(spec)).predict(x, batch_size=4), [full])


def stateful_model(batch=2):
    s = SpecBuilder("stateful")
    x = s.input("x", (None, F))
    g = s.gru("gru", x, 5, return_sequences=True, stateful=True)
    y = s.dense("out", g, 2)
    return s.spec([y], stateful_batch=batch)


def test_stateful_carries_state_and_resets():
    spec = stateful_model()
    model = Model(pack_model(spec))
    rng = np.random.default_rng(6)
    x1, x2 = rng.normal(size=(2, 2, T, F))
    carried = {}
    assert_close(model.predict(x1), reference_run(spec, [x1], carried))
    assert_close(model.predict(x2), reference_run(spec, [x2], carried))   # state carried on
    model.reset_states()
    assert_close(model.predict(x2), reference_run(spec, [x2], {}))
    with pytest.raises(FastGRUError, match="fixed at 2"):
        model.predict(np.zeros((3, T, F)))


def test_pickle_round_trip_by_value():
    spec = masked_stack()
    model = Model(pack_model(spec))
    x = padded_x(np.random.default_rng(7))
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    assert again.image == model.image


def test_layers_get_weights_in_keras_order():
    spec = bidirectional("concat")
    model = Model(pack_model(spec))
    by_name = {l.name: l for l in spec.layers}
    assert [l.name for l in model.layers] == [l.name for l in spec.layers]
    for layer in model.layers:
        expected = by_name[layer.name].weights
        got = layer.get_weights()
        assert len(got) == len(expected)
        for g, (_, e) in zip(got, expected):
            np.testing.assert_array_equal(g, e)


def test_summary_lists_every_layer(capsys):
    spec = masked_stack()
    model = Model(pack_model(spec))
    model.summary()
    text = capsys.readouterr().out
    for layer in spec.layers:
        assert layer.name in text
    params = sum(int(np.prod(np.shape(w))) for l in spec.layers for _, w in l.weights)
    assert f"Total params: {params:,}" in text


def test_every_isa_gives_the_scalar_result():
    from fastgru import _core
    spec = masked_stack()
    x = padded_x(np.random.default_rng(8), batch=5)
    try:
        _core.set_isa_cap("scalar")
        scalar = Model(pack_model(spec)).predict(x)
        for isa in _core.isa_available():
            _core.set_isa_cap(isa)
            assert_close(Model(pack_model(spec)).predict(x), [scalar])
    finally:
        _core.set_isa_cap(None)


def test_workspace_reuses_the_memory_of_dead_tensors():
    """A chain of six activations needs two live buffers at a time, not six; the result is
    still each step applied in turn."""
    s = SpecBuilder("chain")
    h = s.input("x", (None, 32))
    for i, name in enumerate(["tanh", "relu", "sigmoid", "elu", "softsign", "swish"]):
        h = s.same("activation", f"act{i}", [h], {"activation": name})
    spec = s.spec([h])
    model = Model(pack_model(spec))
    tensor_bytes = 16 * 50 * 32 * 4
    assert model._core.workspace_bytes(16, (50,), 1) < 3 * tensor_bytes
    x = np.random.default_rng(9).normal(size=(16, 50, 32))
    assert_close(model.predict(x), reference_run(spec, [x]))


def test_reset_states_to_given_values():
    spec = stateful_model()
    model = Model(pack_model(spec))
    rng = np.random.default_rng(10)
    x = rng.normal(size=(2, T, F))
    h = rng.uniform(-0.5, 0.5, size=(2, 5))
    model.reset_states([h])
    assert_close(model.predict(x), reference_run(spec, [x], {spec.ops[0].outputs[0]: h}))
    with pytest.raises(FastGRUError, match=r"expects a state of shape \(2, 5\)"):
        model.reset_states([np.zeros((2, 4))])
    with pytest.raises(FastGRUError, match="carries 1 GRU states"):
        model.reset_states([h, h])


def test_encoder_decoder_sequences_of_different_lengths():
    """Each sequence input has its own time axis: an encoder's final state starts a decoder
    that reads a sequence of another length."""
    s = SpecBuilder("seq2seq")
    enc_in = s.input("encoder_in", (None, F))
    dec_in = s.input("decoder_in", (None, 3))
    _, h = s.gru("encoder", enc_in, 6, state_out=True)
    y = s.gru("decoder", dec_in, 6, h0=h, return_sequences=True, reset_after=False)
    spec = s.spec([s.dense("head", y, 2, activation="softmax")])
    model = Model(pack_model(spec))
    rng = np.random.default_rng(11)
    for enc_steps, dec_steps in ((9, 4), (3, 7)):
        x_enc = rng.normal(size=(B, enc_steps, F))
        x_dec = rng.normal(size=(B, dec_steps, 3))
        got = model.predict([x_enc, x_dec])
        assert got.shape == (B, dec_steps, 2)
        assert_close(got, reference_run(spec, [x_enc, x_dec]))
