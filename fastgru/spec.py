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
global_pool     [x, mask|None] (B, T, F)     [y] (B, F)   average, channels_first (x is (B, F, T)),
                                                          mask_multiplies (tf-keras: x * mask)
pool1d          [x] (B, T, F)                [y]          pool_size, strides, padding_same,
                                                          average, channels_first
reshape         [x]                          [y]          - (same elements, same order)
permute         [x]                          [y]          axis_0..axis_3 (y axis k = x axis axis_k)
repeat_vector   [x] (B, F)                   [y] (B,n,F)  n
pad_time        [x] (B, T, F)                [y]          before, after (> 0: zeros, < 0: cropped),
                                                          channels_first
upsample_time   [x] (B, T, F)                [y]          size (each step repeated)
normalize       [x]                          [y]          invert, epsilon / mean, variance (x's
                                                          rank, each dim 1 or x's): (x - mean) /
                                                          max(sqrt(variance), epsilon); invert:
                                                          mean + x * max(sqrt(variance), epsilon)
rescale         [x]                          [y]          - / scale, offset (as normalize's):
                                                          x * scale + offset
relu            [x]                          [y]          negative_slope, max_value (inf: none),
                                                          threshold: Keras' relu()
prelu           [x]                          [y]          - / alpha (as normalize's): x < 0 ? alpha
                                                          * x : x
elu             [x]                          [y]          alpha: x > 0 ? x : alpha * expm1(x)
softmax         [x, mask|None]               [y]          axes (bit k: per-sample axis k),
                                                          mask_mode (0 add -1e9 to masked logits,
                                                          1 replace them by -1e9, 2 replace and
                                                          zero their outputs); mask has x's shape
maximum,        [x1, ..., xn]                [y]          -
minimum
dot             [x1, x2]                     [y]          axis1, axis2 (per-sample), normalize,
                                                          epsilon (floor of each sum of squares):
                                                          Keras' batch_dot, x1's other axes then
                                                          x2's, (1,) when neither has any
conv1d          [x] (B, T, C)                [y]          filters, kernel_size, strides,
                                                          dilation_rate, groups, padding
                                                          ("valid", "same", "causal"),
                                                          activation / kernel (K, C/groups,
                                                          filters), bias?
attention       [q, k, v, q_mask|None,       [y, scores|  num_heads, score_mode, causal, mask_fill,
                v_mask|None, attn_mask|None] None]        zero_masked_weights, query_mask_rows,
                                                          query_scale / scale?, concat_score_weight?
                                                          (src_c/model_attention.c)
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
    # whether the first axis is time; None: decided by rank (has_time_axis)
    time: Optional[bool] = None

    @property
    def has_time_axis(self) -> bool:
        """Whether the first per-sample axis is time: as the reader says, else when its length
        is open, else by rank (most ops act on the last axis): float tensors of rank >= 2
        ((T, F)) and int ids / masks of rank >= 1 ((T,)) are sequences, while a (F,) float
        vector (a final state, a Dense output) is not."""
        if self.time is not None:
            return self.time
        if self.shape and self.shape[0] is None:   # a length known only at run time
            return True
        return len(self.shape) >= (2 if self.dtype == "float32" else 1)


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
    output_structure: Any = None    # outputs nested in lists / dicts (fastgru.output_structure)


def weight(arr: Any) -> np.ndarray:
    """A weight as the packer wants it: C-contiguous float32."""
    return np.ascontiguousarray(np.asarray(arr, dtype=np.float32))
