"""A small float64 numpy interpreter of ``fastgru.spec.ModelSpec``, written from the op table in
``fastgru/spec.py`` and the Keras maths in docs/KERAS_FORMATS.md. It checks what the Keras readers
produce against Keras' own stored outputs, independently of the C executor."""
from __future__ import annotations

import numpy as np

from reference_attention import OPS as ATTENTION_OPS
from reference_conv import conv1d_reference
from reference_custom_gru import custom_gru_op
from reference_elementwise import OPS as ELEMENTWISE_OPS
from reference_gru import gru_reference, reference_activation
from reference_lstm import SPEC_OPS as RECURRENT_SPEC_OPS
from reference_shape import REFERENCES as SHAPE_REFERENCES
from reference_time_major import reverse_time, time_major_aware

# Op kinds whose references live in modules of their own: kind -> f(inputs, attrs, weights);
# their outputs are read in the shapes of the op's output tensors.
TOPIC_OPS = {**ATTENTION_OPS}
# op kind -> f(op, env, carried) -> outputs, for the stateful kinds other modules define
SPEC_OPS = {k: time_major_aware(run) for k, run in RECURRENT_SPEC_OPS.items()}


def _gru(op, env, carried):
    x, mask_name, h0_name = op.inputs
    a, w = op.attrs, op.weights
    h0 = env[h0_name] if h0_name is not None else None
    key = op.outputs[0]
    if a["stateful"] and h0 is None and key in carried:
        h0 = carried[key]
    y, h = gru_reference(env[x], w["kernel"], w["recurrent_kernel"], w.get("bias"),
                         activation=a["activation"], recurrent_activation=a["recurrent_activation"],
                         reset_after=a["reset_after"], go_backwards=a["go_backwards"],
                         return_sequences=a["return_sequences"],
                         mask=env[mask_name] if mask_name is not None else None,
                         initial_state=h0, zero_output_for_mask=a["zero_output_for_mask"])
    if a["stateful"]:
        carried[key] = h
    return [y, h]


def _scale_and_center(y, w):
    """gamma and beta are present exactly when scale / center are on."""
    if "gamma" in w:
        y = y * w["gamma"]
    if "beta" in w:
        y = y + w["beta"]
    return y


def _layer_norm(x, a, w):
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return _scale_and_center((x - mean) / np.sqrt(var + a.get("epsilon", 1e-3)), w)


def _batch_norm(x, a, w):
    y = (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + a.get("epsilon", 1e-3))
    return _scale_and_center(y, w)


def _compute_mask(x, value):
    if x.ndim == 2:                       # ids (B, T)
        return x != value
    return np.any(x != value, axis=-1)


def _dense(x, a, w):
    y = x @ w["kernel"].astype(np.float64)
    if "bias" in w:
        y = y + w["bias"]
    return reference_activation(a.get("activation", "linear"), y)


def run_spec(spec, inputs, carried=None):
    """Run ``spec`` on ``inputs`` (list, model input order). ``carried`` (a dict, updated in
    place) holds stateful GRU states across calls, keyed by each GRU op's output tensor name. Returns the list of model outputs."""
    carried = {} if carried is None else carried
    env = {}
    for name, array in zip(spec.inputs, inputs):
        t = spec.tensors[name]
        env[name] = np.asarray(array, dtype=np.int64 if t.dtype == "int32" else np.float64)
    for op in spec.ops:
        xs = [env[n] if n is not None else None for n in op.inputs]
        a, w = op.attrs, {k: np.asarray(v, dtype=np.float64) for k, v in op.weights.items()}
        k = op.kind
        if k in SPEC_OPS:
            results = SPEC_OPS[k](op, env, carried)
        elif k == "gru":
            results = time_major_aware(_gru)(op, env, carried)
        elif k == "custom_gru":
            results = time_major_aware(custom_gru_op)(op, env, carried)
        elif k == "dense":
            results = [_dense(xs[0], a, w)]
        elif k == "embedding":
            results = [w["embeddings"][xs[0]]]
        elif k == "compute_mask":
            results = [_compute_mask(xs[0], a["value"])]
        elif k == "apply_mask":
            results = [xs[0] * xs[1][..., None]]
        elif k == "mask_and":
            results = [np.logical_and.reduce(xs)]
        elif k == "mask_or":
            results = [np.logical_or.reduce(xs)]
        elif k == "layer_norm":
            results = [_layer_norm(xs[0], a, w)]
        elif k == "batch_norm":
            results = [_batch_norm(xs[0], a, w)]
        elif k == "activation":
            results = [reference_activation(a["activation"], xs[0])]
        elif k == "reverse_time":
            results = [reverse_time(xs[0], a)]
        elif k == "concatenate":
            results = [np.concatenate(xs, axis=a["axis"])]
        elif k == "add":
            results = [np.sum(xs, axis=0)]
        elif k == "multiply":
            results = [np.prod(xs, axis=0)]
        elif k == "average":
            results = [np.mean(xs, axis=0)]
        elif k == "subtract":
            results = [xs[0] - xs[1]]
        elif k in SHAPE_REFERENCES:
            results = [SHAPE_REFERENCES[k](xs, a, w, spec.tensors[op.outputs[0]].shape)]
        elif k in ELEMENTWISE_OPS:
            results = [ELEMENTWISE_OPS[k](xs, a, w)]
        elif k == "conv1d":
            results = [conv1d_reference(xs[0], a, w)]
        elif k in TOPIC_OPS:
            results = [None if r is None or n is None else
                       r.reshape((len(r),) + tuple(-1 if d is None else d
                                                   for d in spec.tensors[n].shape))
                       for r, n in zip(TOPIC_OPS[k](xs, a, w), op.outputs)]
        else:
            raise KeyError(f"spec_reference: unknown op kind {k!r}")
        for name, value in zip(op.outputs, results):
            if name is not None:
                env[name] = value
    return [env[name] for name in spec.outputs]
