"""Batch scoring on Dask: ``fastgru.dask.predict(model, x)`` for a ``dask.array`` chunked along
the batch axis (``pip install "fastgru[dask]"``).

- Each block holds whole sequences: the time (and feature) axes are one chunk each, since a
  GRU's step t needs every step before it. Anything else is refused with the rechunk to do.
- The model goes into the task graph once, as one key that every block depends on, so each
  worker receives (and unpickles) it once, not once per block.
- Each block runs fastgru on ``threads`` threads (default 1). A worker with n threads runs n
  blocks at once (fastgru releases the GIL), so it keeps the n cores it was given busy; never
  every core of the machine in every worker process.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

import numpy as np

from .errors import FastGRUError
from .model import Model

log = logging.getLogger(__name__)


def _import_dask():
    try:
        import dask
        import dask.array as da
    except ImportError:
        raise FastGRUError('fastgru.dask needs dask: pip install "fastgru[dask]"') from None
    return dask, da


def _score_block(block: np.ndarray, model: Model) -> np.ndarray:
    return model.predict(block, verbose=0)


def _checked(model: Model, x: Any, da) -> None:
    if not isinstance(model, Model):
        raise FastGRUError(f"fastgru.dask.predict: expects a fastgru Model (fastgru.load), got "
                           f"{type(model).__name__}")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise FastGRUError(f"fastgru.dask.predict: runs one-input, one-output models; this one "
                           f"has {len(model.inputs)} inputs and {len(model.outputs)} outputs")
    if model.stateful:
        raise FastGRUError("fastgru.dask.predict: a stateful model carries its state from one "
                           "call to the next, which blocks scored in parallel cannot do")
    if not isinstance(x, da.Array):
        raise FastGRUError(f"fastgru.dask.predict: x must be a dask.array, got "
                           f"{type(x).__name__} (use model.predict for numpy arrays)")
    if model._time_major_layer is not None and x.numblocks[0] > 1:
        raise FastGRUError("fastgru.dask.predict: " + model.whole_batch_reason(
            f"scored in {x.numblocks[0]} blocks (chunks {x.chunks[0]})"))
    want = len(model.inputs[0].shape)
    if x.ndim != want:
        raise FastGRUError(f"fastgru.dask.predict: input '{model.inputs[0].name}' has {want} "
                           f"axes {model.inputs[0].shape}, x has {x.ndim} {x.shape}")
    split = [axis for axis in range(1, x.ndim) if len(x.chunks[axis]) > 1]
    if split:
        whole = ", ".join(f"{axis}: -1" for axis in range(1, x.ndim))
        raise FastGRUError(f"fastgru.dask.predict: x is chunked along axis {split[0]} "
                           f"(chunks {x.chunks[split[0]]}); each block must hold whole "
                           f"sequences: chunk along the batch axis only, e.g. "
                           f"x.rechunk({{{whole}}})")


def predict(model: Model, x: Any, *, threads: Optional[int] = 1):
    """``model.predict`` over a dask.array ``x`` chunked along its batch axis: a lazy
    dask.array of the model's output, chunked like ``x`` along the batch. Compute it on any
    scheduler (a dask.distributed cluster, or dask's local threads)."""
    dask, da = _import_dask()
    _checked(model, x, da)
    worker_model = Model(model.image, threads=threads, precision=model.precision)
    probe = worker_model.predict(np.zeros((1,) + x.shape[1:], x.dtype), verbose=0)
    shipped = dask.delayed(worker_model, pure=True)   # one key: sent once to each worker
    log.debug("fastgru.dask.predict: %d blocks of %s, %s threads each", x.numblocks[0],
              x.chunks[0], threads)
    return da.map_blocks(_score_block, x, shipped, dtype=probe.dtype,
                         chunks=(x.chunks[0],) + tuple((n,) for n in probe.shape[1:]),
                         drop_axis=list(range(1, x.ndim)), new_axis=list(range(1, probe.ndim)),
                         meta=np.empty((0,) * probe.ndim, probe.dtype))
