"""Streaming: stepping a causal model one timestep at a time gives, at each step, what
predict gives for the sequence so far (masks, initial states and several outputs included);
non-causal models are refused."""
import threading

import numpy as np
import pytest

from fastgru.errors import FastGRUError
from fastgru.format import pack_model
from fastgru.model import Model
from model_cases import SpecBuilder
from test_model_exec import bidirectional, embedding_model

B, T, F = 3, 8, 4


def causal_model():
    """Masking -> GRU (sequences, masked) -> GRU (last output, initial state input, state out)
    -> Dense: every way a step depends on earlier steps."""
    s = SpecBuilder("causal")
    x = s.input("x", (None, F))
    h0 = s.input("h0", (3,))
    mask = s.op("compute_mask", "masking", [x], [("mask", (None,), "bool")], {"value": 0.0})
    xm = s.same("apply_mask", "masking", [x, mask])
    g1 = s.gru("gru1", xm, 5, mask=mask, return_sequences=True)
    g2, h = s.gru("gru2", g1, 3, mask=mask, h0=h0, state_out=True, reset_after=False)
    y = s.dense("out", g2, 2, activation="sigmoid")
    return s.spec([y, h])


def data(rng):
    x = rng.normal(size=(B, T, F)).astype(np.float32)
    x[0, 5:] = 0          # post-padding
    x[1, :3] = 0          # pre-padding
    x[2, 2] = 0           # a hole
    h0 = rng.uniform(-0.8, 0.8, (B, 3)).astype(np.float32)
    return x, h0


def test_step_by_step_equals_predict_on_the_prefix():
    model = Model(pack_model(causal_model()))
    x, h0 = data(np.random.default_rng(0))
    stream = model.stream(batch_size=B)
    for t in range(T):
        y_t, h_t = stream.step([x[:, t], h0])
        y_ref, h_ref = model.predict([x[:, :t + 1], h0])
        np.testing.assert_allclose(y_t, y_ref, atol=1e-6, rtol=0)
        np.testing.assert_allclose(h_t, h_ref, atol=1e-6, rtol=0)


def test_step_writes_into_out_and_reset_restarts():
    model = Model(pack_model(causal_model()))
    x, h0 = data(np.random.default_rng(1))
    stream = model.stream(batch_size=B)
    y_buf, h_buf = np.empty((B, 2), np.float32), np.empty((B, 3), np.float32)
    first = [a.copy() for a in stream.step([x[:, 0], h0])]
    stream.step([x[:, 1], h0])
    stream.reset()
    result = stream.step([x[:, 0], h0], out=[y_buf, h_buf])
    assert result[0] is y_buf and result[1] is h_buf
    np.testing.assert_array_equal(y_buf, first[0])
    np.testing.assert_array_equal(h_buf, first[1])
    with pytest.raises(FastGRUError, match="out="):
        stream.step([x[:, 0], h0], out=[np.empty((B, 3), np.float32), h_buf])


def test_streams_are_independent_across_threads():
    model = Model(pack_model(causal_model()))
    x, h0 = data(np.random.default_rng(2))
    expected = model.predict([x, h0])
    results = {}

    def run(k):
        stream = model.stream(batch_size=B)
        for t in range(T):
            out = stream.step([x[:, t], h0])
        results[k] = out

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for out in results.values():
        np.testing.assert_allclose(out[0], expected[0], atol=1e-6, rtol=0)


def test_embedding_stream_accepts_int_ids():
    model = Model(pack_model(embedding_model()))
    ids = np.random.default_rng(3).integers(0, 20, size=(2, T))
    stream = model.stream(batch_size=2)
    outs = [stream.step(ids[:, t]).copy() for t in range(T)]
    np.testing.assert_allclose(np.stack(outs, 1), model.predict(ids), atol=1e-6, rtol=0)


def test_wrong_step_shape_names_the_input():
    stream = Model(pack_model(causal_model())).stream(batch_size=B)
    with pytest.raises(FastGRUError, match=r"'x'.*\(3, 4\)"):
        stream.step([np.zeros((2, F)), np.zeros((B, 3))])


def test_non_causal_model_cannot_stream():
    model = Model(pack_model(bidirectional("concat")))
    with pytest.raises(FastGRUError, match="backwards"):
        model.stream()


def test_step_uses_arrays_in_place_only_when_they_fit():
    """step() checks its arrays in C: inputs of another dtype, byte order or layout are
    converted (same outputs), and out= arrays that cannot be written in place are refused."""
    model = Model(pack_model(causal_model()))
    x, h0 = data(np.random.default_rng(4))
    want = model.stream(batch_size=B).step([x[:, 0], h0])
    variants = [x[:, 0].astype(np.float64), x[:, 0].astype(">f4"), x[:, 0].tolist(),
                np.asfortranarray(x[:, 0]), np.repeat(x[:, 0], 2, axis=1)[:, ::2]]
    for x_t in variants:
        got = model.stream(batch_size=B).step([x_t, h0])
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    read_only = np.empty((B, 2), np.float32)
    read_only.flags.writeable = False
    h_buf = np.empty((B, 3), np.float32)
    stream = model.stream(batch_size=B)
    for bad in (np.empty((B, 2), np.float64), np.empty((B, 2), ">f4"), read_only,
                np.empty((2, B), np.float32).T, np.empty((B, 2, 1), np.float32), [[0.0] * 2] * B):
        with pytest.raises(FastGRUError, match="out="):
            stream.step([x[:, 0], h0], out=[bad, h_buf])


def test_a_step_large_enough_to_release_the_gil_equals_predict():
    """64 -> 256 (1 MiB of weights): past the size at which step() releases the GIL."""
    s = SpecBuilder("wide")
    s_x = s.input("x", (None, 64))
    model = Model(pack_model(s.spec([s.gru("gru", s_x, 256, return_sequences=True)])))
    x = np.random.default_rng(5).normal(size=(2, 4, 64)).astype(np.float32)
    stream = model.stream(batch_size=2)
    out = np.empty((2, 256), np.float32)
    steps = [stream.step(x[:, t], out=out).copy() for t in range(4)]
    np.testing.assert_allclose(np.stack(steps, 1), model.predict(x), atol=1e-5, rtol=0)


def test_stream_of_a_wide_layer_is_the_same_on_several_threads():
    """Batch 1 and units in whole blocks: each one-step call splits the units between threads
    and reads the state in place while writing the new one; every thread count must give the
    bytes one thread gives (a thread that finished first once overwrote state another read)."""
    s = SpecBuilder("wide")
    x = s.input("x", (None, 32))
    s_out = s.gru("gru", x, 128)
    image = pack_model(s.spec([s_out]))
    xs = np.random.default_rng(3).normal(size=(40, 1, 32)).astype(np.float32)
    runs = []
    for threads in (1, 2, 3):
        stream = Model(image, threads=threads).stream(batch_size=1)
        runs.append(np.stack([stream.step(x_t)[0].copy() for x_t in xs]))
    np.testing.assert_array_equal(runs[1], runs[0])
    np.testing.assert_array_equal(runs[2], runs[0])
    y_ref = Model(image, threads=1).predict(xs.transpose(1, 0, 2))
    np.testing.assert_array_equal(runs[0][-1], y_ref[0])
