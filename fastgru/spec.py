"""The model spec: the plain-Python description of a model that the Keras readers produce
(``fastgru/keras/``) and the image packer consumes (``fastgru/format.py``).

Everything Keras-specific is resolved by the readers: class names, Keras 2 vs 3 activation
definitions, mask propagation (Keras 3 mask op nodes and tf-keras' implicit masks both become
explicit mask tensors), identity layers (Dropout & co. simply alias their input tensor),
Bidirectional and stacked cells (decomposed into ``gru`` ops). The executor only sees the op
kinds below.

Op kinds (``inputs`` / ``outputs`` are tensor names, ``None`` where optional and absent):

=============== ============================ ============ =========================================
kind            inputs                       outputs      attrs / weights
=============== ============================ ============ =========================================
gru             [x, mask|None, h0|None]      [y, h|None]  units, activation, recurrent_activation,
                                                          reset_after, use_bias, go_backwards,
                                                          return_sequences, zero_output_for_mask,
                                                          stateful / kernel, recurrent_kernel, bias
                                                          (bias absent when use_bias is False)
dense           [x]  (rank 2 or 3)           [y]          activation, use_bias / kernel, bias
embedding       [ids] (int, (B, T))          [y]          - / embeddings (vocab, dim)
compute_mask    [x]                          [mask]       value: mask = any(x != value, last axis)
                                                          for float (B, T, F); ids != value for
                                                          int (B, T)
apply_mask      [x, mask]                    [y]          y = x * mask[..., None]  (Masking output)
mask_and        [m1, m2, ...]                [m]          logical and
mask_or         [m1, m2, ...]                [m]          logical or (Keras 3 merge layers OR masks)
layer_norm      [x]                          [y]          epsilon, center, scale / gamma?, beta?
batch_norm      [x]                          [y]          epsilon / gamma?, beta?, moving_mean,
                                                          moving_variance
activation      [x]                          [y]          activation
reverse_time    [x] (B, T, F)                [y]          -
concatenate     [x1, ..., xn]                [y]          axis (negative, counted from the end)
add, multiply,  [x1, ..., xn]                [y]          -
average
subtract        [x1, x2]                     [y]          -
=============== ============================ ============ =========================================

Activation names in attrs are the canonical names of ``ACTIVATIONS`` (Keras 2's hard sigmoid is
``"hard_sigmoid_keras2"``). Ids, arities and slots of both: ``fastgru/registry.py``.
Norm / dense / gru layers act on the last axis only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional

import numpy as np

from .registry import ACTIVATIONS, OP_BY_NAME  # noqa: F401  (ACTIVATIONS: re-exported)

# The op kinds the executor runs (ids, arities and slots: fastgru/registry.py).
OP_KINDS = frozenset(OP_BY_NAME)


class GruConfig(NamedTuple):
    """One recurrent layer's shape and cell, in fg_gru_config's field order (src_c/fg_gru.h),
    so it passes to the C binding as it is. Activations are ids (``ACTIVATIONS``); precision 0
    is float32, 1 bfloat16; cell one of ``CELLS`` (GRU when left out)."""
    input_dim: int
    units: int
    reset_after: int
    use_bias: int
    activation: int
    recurrent_activation: int
    precision: int = 0
    cell: int = 0


# fg_gru_config.cell ids (FG_CELL_* in src_c/fg_gru.h) and the gates each cell computes
CELLS = {"gru": 0, "lstm": 1, "simple_rnn": 2}
CELL_GATES = {0: 3, 1: 4, 2: 1}


@dataclass
class TensorSpec:
    """A value flowing through the graph. ``shape`` excludes the batch axis; ``None`` marks a
    length only known at run time (the time axis). Masks are ``bool`` with shape ``(T,)``."""
    name: str
    dtype: str                      # "float32" | "int32" | "bool"
    shape: tuple


@dataclass
class OpSpec:
    kind: str                       # one of OP_KINDS
    layer: str                      # the Keras layer this op comes from (for messages)
    inputs: list                    # tensor names (str) or None
    outputs: list
    attrs: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)   # name -> float32 ndarray, Keras layout
    # weight name -> which of its layer's Keras weights (index into LayerInfo.weights) it is,
    # recorded by the reader; the image's metadata maps each Keras weight to its record by it
    sources: dict = field(default_factory=dict)


@dataclass
class LayerInfo:
    """A Keras layer as the user sees it (``model.layers``, ``summary()``)."""
    name: str
    class_name: str
    config: dict
    weights: list                   # [(weight name, ndarray)] in Keras order
    output_shapes: list             # per-sample shapes of the layer's outputs (first call)


@dataclass
class ModelSpec:
    name: str
    keras_version: int              # 2 or 3: whose activation definitions and rules apply
    source: str                     # the file it was read from, for messages
    inputs: list                    # tensor names, Keras order
    outputs: list                   # tensor names, Keras order
    tensors: dict                   # name -> TensorSpec
    ops: list                       # OpSpec in execution (topological) order
    layers: list                    # LayerInfo in Keras order
    stateful_batch: Optional[int] = None   # fixed batch size of a stateful model
    extra: dict = field(default_factory=dict)  # free-form facts for inspect (format, versions)


def weight(arr: Any) -> np.ndarray:
    """A weight as the packer wants it: C-contiguous float32."""
    return np.ascontiguousarray(np.asarray(arr, dtype=np.float32))
