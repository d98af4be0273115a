"""Storage precision (``convert(..., dtype=...)``): weights stored as float16 / bfloat16
(fastgru/format.py rounds them, src_c/model_image.c widens them back to float32 for compute),
with the error that costs measured once, at conversion, and recorded in the image's metadata:

    "precision": {"dtype": "float16", "max_abs_error_vs_float32": 3.1e-4, "probe": "..."}

The probe runs the float32 model and the reduced one on the same seeded random input and
takes the largest absolute difference over every output element. Compute precision (bf16
products at load) is ``precision.py``.

Keras files with 16-bit layers (dtype float16 / bfloat16) keep those weights 16-bit in a
float32 image, exactly (the readers record them as ``stored_weight_dtypes`` in the metadata's
extra facts, format.py stores them so); ``describe`` says what inspect prints about all this.
"""
from __future__ import annotations

from typing import List

import numpy as np

from .format import pack_model
from .model import Model
from .output_structure import flatten
from .spec import ModelSpec

# Batch 32 rather than a handful of rows: on the fixtures the probe then bounds the error on
# Keras' own stored inputs within 1.25x, where 4 rows of a trained classifier's saturated
# outputs underestimated it up to 13x.
PROBE_SEED, PROBE_BATCH, PROBE_STEPS = 0, 32, 32


def _vocab(spec: ModelSpec) -> int:
    """Ids below this are valid for every Embedding of the model (2 when there is none)."""
    sizes = [int(np.shape(op.weights["embeddings"])[0]) for op in spec.ops
             if op.kind == "embedding" and "embeddings" in op.weights]
    return min(sizes) if sizes else 2


def _probe_inputs(model, spec: ModelSpec) -> List[np.ndarray]:
    """Seeded random inputs for `model` (the float32 one): PROBE_STEPS on every open time
    axis; ids below every Embedding's vocabulary."""
    rng = np.random.default_rng(PROBE_SEED)
    batch = spec.stateful_batch or PROBE_BATCH
    vocab = _vocab(spec)
    arrays = []
    for info in model.inputs:
        shape = [batch] + [PROBE_STEPS if d is None else d for d in info.shape[1:]]
        if np.issubdtype(info.dtype, np.integer):
            arrays.append(rng.integers(0, vocab, size=shape).astype(info.dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(np.float32))
    return arrays


def _outputs(model, inputs) -> List[np.ndarray]:
    return flatten(model.predict(inputs if len(inputs) > 1 else inputs[0]))


def probe_description(spec: ModelSpec) -> str:
    batch = spec.stateful_batch or PROBE_BATCH
    ids = any(t.dtype == "int32" for t in (spec.tensors[n] for n in spec.inputs))
    return (f"numpy default_rng({PROBE_SEED}): batch {batch}, {PROBE_STEPS} timesteps, "
            f"standard normal floats" +
            (f", integer ids uniform in [0, {_vocab(spec)})" if ids else ""))


def reduced_image(spec: ModelSpec, dtype: str) -> bytes:
    """The image of `spec` with weights stored as `dtype`; a reduced dtype's image carries its
    measured max abs error against the float32 model in its metadata."""
    if dtype == "float32":
        return pack_model(spec)
    full, reduced = Model(pack_model(spec)), Model(pack_model(spec, dtype))
    inputs = _probe_inputs(full, spec)
    error = max((float(np.max(np.abs(a - b))) if a.size else 0.0
                 for a, b in zip(_outputs(full, inputs), _outputs(reduced, inputs))),
                default=0.0)
    return pack_model(spec, dtype, precision={
        "dtype": dtype, "max_abs_error_vs_float32": error, "probe": probe_description(spec)})


def describe(meta: dict) -> List[str]:
    """Lines for ``fastgru inspect``: how the weights are stored, and which layers Keras
    computes in 16 bits where fastgru computes in float32."""
    precision = meta.get("precision")
    if precision:
        lines = [f"weights stored as {precision.get('dtype')} (computed in float32): max abs "
                 f"output error vs float32 {precision.get('max_abs_error_vs_float32'):.3g} "
                 f"on the probe {precision.get('probe')}"]
    else:
        by_dtype: dict = {}
        for layer, dtypes in _facts(meta, "stored_weight_dtypes").items():
            for dtype in sorted({str(d) for d in dtypes} - {"float32"}):
                by_dtype.setdefault(dtype, []).append(layer)
        stored = "; ".join(f"{dtype} in layers {', '.join(layers)}"
                           for dtype, layers in sorted(by_dtype.items()))
        lines = [f"weights stored as {stored} (as the Keras file stores them), the others as "
                 f"float32; computed in float32" if stored else "weights stored as float32"]
    for layer, policy in _facts(meta, "layer_dtypes").items():
        policy = str(policy)
        lines.append(f"layer '{layer}': Keras computes it in {policy.replace('mixed_', '')} "
                     f"(dtype {policy}); fastgru computes in float32")
    return lines


def _facts(meta: dict, key: str) -> dict:
    """The metadata's extra[key], a {layer: facts} table, where it is one (a .fgru file's
    metadata may hold anything there)."""
    extra = meta.get("extra")
    table = extra.get(key) if isinstance(extra, dict) else None
    if not isinstance(table, dict):
        return {}
    return {layer: facts for layer, facts in table.items()
            if isinstance(facts, (str, list))}
