"""Hostile or degenerate input arrays, checked against Keras itself: NaN / Inf stay within
their sample, an empty batch gives empty outputs, a zero-length sequence gives what Keras
gives for a fully masked one, and Embedding ids outside the vocabulary raise a FastGRUError
(Keras 3 on jax reads row -1 or gives NaN; TensorFlow raises; fastgru refuses them)."""
import os

import numpy as np
import pytest

import fastgru
from fastgru.errors import FastGRUError

keras = pytest.importorskip("keras")
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "keras3")


def both(name):
    path = os.path.join(FIXTURES, name + ".keras")
    return keras.saving.load_model(path), fastgru.load(path)


def test_nan_and_inf_propagate_per_sample_like_keras():
    k, m = both("simple")
    x = np.random.default_rng(0).normal(size=(4, 6, 4)).astype(np.float32)
    x[1, 2, 0] = np.nan
    x[2, 0, 3] = np.inf
    x[3, 5, 1] = -np.inf
    want = np.asarray(k.predict(x, verbose=0))
    got = m.predict(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, atol=1e-5)   # NaNs compare equal here
    assert not np.isnan(got[[0, 2]]).any()             # the other samples stay clean


def test_empty_batch_gives_empty_outputs():
    k, m = both("two_in_two_out")
    xs = [np.zeros((0, 5) + tuple(t.shape[2:]) if len(t.shape) == 3 else (0,) + t.shape[1:],
                   np.float32) for t in m.inputs]
    for got, info in zip(m.predict(xs), m.outputs):
        assert got.shape[0] == 0 and got.dtype == np.float32
        assert got.shape[1:] == tuple(5 if d is None else d for d in info.shape[1:])


def test_zero_length_sequence_equals_a_fully_masked_one_in_keras():
    k, m = both("masking")               # Masking(0.0) before the GRUs
    masked = np.zeros((2, 7, 4), np.float32)
    want = k.predict(masked, verbose=0)
    for x in (np.zeros((2, 0, 4), np.float32), masked):
        got = m.predict(x)
        for g, w in zip(got, want):
            if g.ndim == 3:              # a return_sequences output: one row per step
                assert g.shape[1] == x.shape[1]
                g, w = g[:, -1:] if x.shape[1] else g, w[:, -1:] if x.shape[1] else w[:, :0]
            np.testing.assert_allclose(g, np.asarray(w), atol=1e-6)


@pytest.mark.parametrize("bad_id", [-1, 20, 2 ** 31 - 1])
def test_embedding_ids_out_of_range_raise(bad_id):
    _, m = both("embedding_mask")
    ids = np.array([[1, 2, bad_id, 3]], np.int32)
    with pytest.raises(FastGRUError, match=rf"layer 'emb'.*id {bad_id} .*outside the "
                                           r"vocabulary \[0, 20\)"):
        m.predict(ids)
    assert m.predict(ids.clip(0, 19)).shape[0] == 1   # the model is still usable
