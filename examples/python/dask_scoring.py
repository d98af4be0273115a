"""Batch scoring on Dask: millions of sequences across worker processes (or machines).

    pip install "fastgru[dask]"
    python examples/python/dask_scoring.py

A LocalCluster stands in for a real cluster here: Client("scheduler:8786") works the same.
The array is chunked along the batch axis only (each block holds whole sequences); each task
runs fastgru on one thread, so a worker uses the threads it was given.
"""
from pathlib import Path

import numpy as np

import fastgru
import fastgru.dask


def main():
    import dask.array as da
    from dask.distributed import Client, LocalCluster

    model = fastgru.load(Path(fastgru.__file__).parent / "data" / "demo.keras")
    x = da.random.default_rng(3).normal(size=(20_000, 48, 3), chunks=(2_500, -1, -1))
    x = x.astype(np.float32)
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, \
            Client(cluster):
        y = fastgru.dask.predict(model, x).compute()
    print("scored", y.shape, "in", x.numblocks[0], "blocks")
    first = x[:2_500].compute()
    print("equal to the serial result:", np.array_equal(y[:2_500], model.predict(first)))


if __name__ == "__main__":   # worker processes import this file: start the cluster only here
    main()
