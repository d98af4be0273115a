"""fastgru.dask.predict on a real dask.distributed LocalCluster (2 worker processes): bitwise
the serial result for an input of several blocks, the model in the graph once, and clear
errors for blocks that split sequences and for what it cannot run."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

import fastgru
from fastgru import FastGRUError

da = pytest.importorskip("dask.array", reason="needs dask (pip install 'fastgru[dask]')")
distributed = pytest.importorskip("dask.distributed", reason="needs dask.distributed")
fastgru_dask = pytest.importorskip("fastgru.dask")

DEMO = Path(fastgru.__file__).parent / "data" / "demo.keras"


@pytest.fixture(scope="module")
def model():
    return fastgru.load(DEMO)


def sequences(batch, steps=12, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, steps, 3)).astype(np.float32)


def test_two_workers_give_the_serial_bytes(model):
    x = sequences(103)
    dx = da.from_array(x, chunks=(25, -1, -1))          # 5 blocks, the last one short
    y = fastgru_dask.predict(model, dx)
    assert y.shape == (103, 1) and y.chunks[0] == dx.chunks[0]
    # the model is in the graph once (one key all blocks depend on), not once per block
    graph = pickle.dumps(dict(y.__dask_graph__()))
    middle = len(model.image) // 2
    assert graph.count(model.image[middle:middle + 64]) == 1
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster):
        got = y.compute()
    assert np.array_equal(got, model.predict(x))


def test_blocks_must_hold_whole_sequences(model):
    dx = da.from_array(sequences(8), chunks=(4, 6, -1))
    with pytest.raises(FastGRUError, match=r"chunked along axis 1 .*rechunk\(\{1: -1, 2: -1\}\)"):
        fastgru_dask.predict(model, dx)


def test_refuses_what_it_cannot_run(model):
    with pytest.raises(FastGRUError, match="must be a dask.array"):
        fastgru_dask.predict(model, sequences(4))
    with pytest.raises(FastGRUError, match="has 3 axes"):
        fastgru_dask.predict(model, da.zeros((4, 3), chunks=2))
