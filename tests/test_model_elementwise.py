"""The elementwise, normalisation and merge ops (normalize, rescale, relu, prelu, elu,
softmax, maximum, minimum, dot) run by the C executor against the float64 numpy reference
(tests/reference_elementwise.py), every option; hostile images refused at load naming the
layer; the whole-sequence ones refuse to stream. The Keras side: fixtures in
tools/fixtures_elementwise.py, checked by tests/test_load_fixtures.py."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

import fastgru
from fastgru.errors import FastGRUError
from fastgru.format import pack_model
from fastgru.model import Model
from model_cases import SpecBuilder
from spec_reference import run_spec as reference_run

TOL = 2e-6
B, T, F = 3, 5, 4


def _close(spec, xs, tol=TOL):
    got = Model(pack_model(spec)).predict(xs if len(xs) > 1 else xs[0])
    got = got if isinstance(got, list) else [got]
    for g, e in zip(got, reference_run(spec, xs)):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, atol=tol, rtol=0)


def _x(rng, *shape):
    return (2 * rng.standard_normal(shape)).astype(np.float32)


def _positive(s, *shape):
    return np.abs(s.w(*shape)) + np.float32(0.5)


def test_normalize_and_rescale_broadcast_every_way():
    s = SpecBuilder("norms")
    x = s.input("x", (T, F))
    outs = []
    for name, shape in (("all", (1, 1)), ("last", (1, F)), ("steps", (T, 1)), ("both", (T, F))):
        for invert in (False, True):
            outs.append(s.same("normalize", f"norm_{name}_{invert}", [x],
                               {"invert": invert, "epsilon": 1e-7},
                               {"mean": s.w(*shape), "variance": _positive(s, *shape)}))
        outs.append(s.same("rescale", f"rescale_{name}", [x], {},
                           {"scale": s.w(*shape), "offset": s.w(*shape)}))
    # a zero variance divides by the epsilon floor
    outs.append(s.same("normalize", "norm_floor", [x], {"invert": False, "epsilon": 0.5},
                       {"mean": s.w(1, F), "variance": np.zeros((1, F), np.float32)}))
    _close(s.spec(outs), [_x(np.random.default_rng(1), B, T, F)])


def test_relu_family_prelu_elu_and_extrema():
    s = SpecBuilder("relus")
    x = s.input("x", (None, F))
    outs = []
    for slope, top, threshold in ((0.0, math.inf, 0.0), (0.0, 6.0, 0.0), (0.2, math.inf, 0.0),
                                  (0.1, 0.8, 0.05), (0.0, math.inf, 0.3), (0.3, 1.5, 0.0),
                                  (0.25, math.inf, 0.4)):
        outs.append(s.same("relu", f"relu_{len(outs)}", [x],
                           {"negative_slope": slope, "max_value": top, "threshold": threshold}))
    outs.append(s.same("prelu", "prelu", [x], {}, {"alpha": s.w(1, F)}))
    outs.append(s.same("elu", "elu", [x], {"alpha": 0.7}))
    y = s.dense("dense", x, F)
    outs.append(s.same("maximum", "maximum", [x, y, outs[0]]))
    outs.append(s.same("minimum", "minimum", [x, y]))
    _close(s.spec(outs), [_x(np.random.default_rng(2), B, T, F)])


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_softmax_axes_and_mask_modes(mode):
    s = SpecBuilder("softmax")
    x = s.input("x", (None, F))
    ids = s.input("ids", (None,), "int32")
    mask = s.op("compute_mask", "mask", [ids], [("mask", (None,), "bool")], {"value": 0})
    scores = s.op("dot", "scores", [x, s.dense("query", s.input("v", (F,)), F)],
                  [("scores", (None,))], {"axis1": 1, "axis2": 0, "normalize": False,
                                          "epsilon": 0.0})
    outs = [s.same("softmax", f"softmax_{bits}", [x, None], {"axes": bits, "mask_mode": 0})
            for bits in (1, 2, 3)]
    outs.append(s.same("softmax", "masked", [scores, mask], {"axes": 1, "mask_mode": mode}))
    rng = np.random.default_rng(3)
    tokens = rng.integers(1, 9, size=(B, T)).astype(np.int32)
    tokens[0, 3:] = 0
    tokens[1, :] = 0   # every step masked: uniform weights, or zeros under mode 2
    _close(s.spec(outs), [_x(rng, B, T, F), tokens, _x(rng, B, F)])


@pytest.mark.parametrize("normalize", [False, True])
def test_dot_of_every_rank_pair(normalize):
    s = SpecBuilder("dots")
    seq, other = s.input("seq", (T, F)), s.input("other", (T, 3))
    vec, vec2 = s.input("vec", (F,)), s.input("vec2", (F,))
    attrs = {"normalize": normalize, "epsilon": 1e-12}
    cases = [(seq, vec, 1, 0, (T,), True), (vec, seq, 0, 1, (T,), True),
             (seq, other, 0, 0, (F, 3), False), (seq, seq, 1, 1, (T, T), True),
             (vec, vec2, 0, 0, (1,), False)]
    outs = []
    for k, (a, b, p, q, shape, timed) in enumerate(cases):
        outs.append(s.op("dot", f"dot_{k}", [a, b], [(f"dot_{k}/y", shape)],
                         dict(attrs, axis1=p, axis2=q)))
        s.tensors[outs[-1]].time = timed
    rng = np.random.default_rng(4)
    xs = [_x(rng, B, T, F), _x(rng, B, T, 3), _x(rng, B, F), _x(rng, B, F)]
    xs[2][0] = 0   # a zero vector: its norm is floored by epsilon
    _close(s.spec(outs), xs)


@pytest.mark.parametrize("kind", ["maximum", "minimum"])
def test_masked_extrema_take_the_running_result_at_masked_steps(kind):
    """Keras 3's rule with masks on some inputs: the first and third masked, the second not
    (which ends the output mask), the fourth masked."""
    s = SpecBuilder("extrema")
    xs = [s.input(f"x{k}", (None, F)) for k in range(4)]
    masks = [s.op("compute_mask", f"mask{k}", [xs[k]], [(f"mask{k}", (None,), "bool")],
                  {"value": 0.0}) if k != 1 else None for k in range(4)]
    y = s.op(kind, "extremum", xs[:3] + masks[:3], [("y3", (None, F))], {"masked": True})
    z = s.op(kind, "extremum2", [xs[0], xs[2], xs[3]] + [masks[0], masks[2], masks[3]],
             [("y2", (None, F))], {"masked": True})
    rng = np.random.default_rng(6)
    data = [_x(rng, B, T, F) for _ in range(4)]
    data[0][0, 3:] = 0
    data[2][0, 1:4] = 0
    data[2][1, :] = 0
    data[3][2, 2] = 0
    _close(s.spec([y, z]), data)


def _one_op(kind, attrs, weights=None, shape=(None, F), out_shape=None, inputs=1):
    s = SpecBuilder("hostile")
    xs = [s.input(f"x{k}", shape) for k in range(inputs)]
    y = s.op(kind, "victim", xs, [("y", out_shape or shape)], attrs, weights or {})
    s.tensors[y].time = (out_shape or shape)[0] is None
    return s.spec([y])


HOSTILE = {
    "softmax axes beyond the rank": ("softmax", {"axes": 4, "mask_mode": 0}, None),
    "softmax no axes": ("softmax", {"axes": 0, "mask_mode": 0}, None),
    "softmax mask_mode": ("softmax", {"axes": 1, "mask_mode": 7}, None),
    "relu max_value NaN": ("relu", {"negative_slope": 0.0, "max_value": math.nan,
                                    "threshold": 0.0}, None),
    "relu max_value < 0": ("relu", {"negative_slope": 0.0, "max_value": -1.0,
                                    "threshold": 0.0}, None),
    "relu slope inf": ("relu", {"negative_slope": math.inf, "max_value": math.inf,
                                "threshold": 0.0}, None),
    "elu alpha NaN": ("elu", {"alpha": math.nan}, None),
    "normalize invert 2": ("normalize", {"invert": 2, "epsilon": 1e-7},
                           {"mean": np.zeros((1, F)), "variance": np.ones((1, F))}),
    "normalize epsilon inf": ("normalize", {"invert": 0, "epsilon": math.inf},
                              {"mean": np.zeros((1, F)), "variance": np.ones((1, F))}),
    "normalize weight not broadcasting": ("normalize", {"invert": 0, "epsilon": 1e-7},
                                          {"mean": np.zeros((1, F + 1)),
                                           "variance": np.ones((1, F))}),
    "normalize weight of another rank": ("normalize", {"invert": 0, "epsilon": 1e-7},
                                         {"mean": np.zeros((F,)), "variance": np.ones((F,))}),
    "rescale weight missing": ("rescale", {}, {"scale": np.ones((1, F))}),
    "prelu weight missing": ("prelu", {}, {}),
    "maximum masked 2": ("maximum", {"masked": 2}, None),
    "minimum masked, odd inputs": ("minimum", {"masked": 1}, None),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_attributes_and_weights_are_refused_at_load(case):
    kind, attrs, weights = HOSTILE[case]
    with pytest.raises(FastGRUError, match="victim"):
        Model(pack_model(_one_op(kind, attrs, weights)))


@pytest.mark.parametrize("axes, out_shape", [((2, 0), (F,)), ((0, 0), (F, F)),
                                              ((1, 0), (None, 5))])
def test_hostile_dot_axes_and_shapes_are_refused(axes, out_shape):
    """An axis beyond the rank, unequal contracted lengths (time against features), an
    output that is not batch_dot's shape."""
    s = SpecBuilder("hostile")
    a, b = s.input("a", (None, F)), s.input("b", (F, F))
    y = s.op("dot", "victim", [a, b], [("y", out_shape)],
             {"axis1": axes[0], "axis2": axes[1], "normalize": 0, "epsilon": 0.0})
    s.tensors[y].time = out_shape[0] is None
    s.tensors[b].time = False
    spec = s.spec([y])
    with pytest.raises(FastGRUError, match="victim"):
        Model(pack_model(spec)).predict([np.zeros((1, 3, F), np.float32),
                                         np.zeros((1, F, F), np.float32)])


def test_a_per_step_weight_checks_the_run_length():
    spec = _one_op("rescale", {}, {"scale": np.ones((T, F)), "offset": np.zeros((T, F))})
    model = Model(pack_model(spec))
    model.predict(np.zeros((2, T, F), np.float32))
    with pytest.raises(FastGRUError, match="victim"):
        model.predict(np.zeros((2, T + 1, F), np.float32))


@pytest.mark.parametrize("kind, attrs, weights, why", [
    ("softmax", {"axes": 1, "mask_mode": 0}, None, "softmax over time"),
    ("normalize", {"invert": 0, "epsilon": 1e-7},
     {"mean": np.zeros((T, F)), "variance": np.ones((T, F))}, "weight per time step"),
])
def test_whole_sequence_ops_refuse_to_stream(kind, attrs, weights, why):
    model = Model(pack_model(_one_op(kind, attrs, weights)))
    with pytest.raises(FastGRUError, match=f"'victim'.*{why}.*cannot be streamed"):
        model.stream(batch_size=1)


def test_dot_over_time_refuses_to_stream_and_per_step_dot_streams():
    over_time = _one_op("dot", {"axis1": 0, "axis2": 0, "normalize": 0, "epsilon": 0.0},
                        out_shape=(F, F), inputs=2)
    with pytest.raises(FastGRUError, match="'victim'.*dot product over time"):
        Model(pack_model(over_time)).stream(batch_size=1)
    s = SpecBuilder("per_step")
    x, v = s.input("x", (None, F)), s.input("v", (F,))
    y = s.op("dot", "dot", [x, v], [("y", (None,))],
             {"axis1": 1, "axis2": 0, "normalize": 1, "epsilon": 1e-12})
    spec = s.spec([y])
    model = Model(pack_model(spec))
    rng = np.random.default_rng(5)
    xs, vs = _x(rng, 2, T, F), _x(rng, 2, F)
    full = model.predict([xs, vs])
    stream = model.stream(batch_size=2)
    for t in range(T):
        np.testing.assert_array_equal(stream.step([xs[:, t], vs]), full[:, t])


# ---- the readers: hostile or unsupported Keras configs ------------------------------------
FIXTURES = Path(__file__).parent / "fixtures"


def _edited_config(version, model, layer, **changes):
    """A committed fixture's config (model.to_json()) with `layer`'s config changed."""
    config = json.loads((FIXTURES / version / f"{model}.json").read_text())
    for entry in config["config"]["layers"]:
        if entry["config"]["name"] == layer:
            entry["config"].update(changes)
    return json.dumps(config)


@pytest.mark.parametrize("version, model, layer, changes, match", [
    ("keras3", "elementwise_chain", "relu_all", {"max_value": -1.0}, "max_value"),
    ("keras3", "elementwise_chain", "relu_all", {"threshold": "high"}, "threshold"),
    ("keras3", "elementwise_chain", "elu", {"alpha": float("nan")}, "alpha"),
    ("keras3", "elementwise_chain", "prelu", {"shared_axes": [7]}, "shared_axes"),
    ("keras3", "elementwise_chain", "prelu", {"shared_axes": None}, "alpha"),
    ("keras3", "normalization", "norm_given", {"axis": 0}, "batch axis"),
    ("keras3", "normalization", "norm_given", {"mean": [1.0, 2.0]}, "broadcast"),
    ("keras3", "normalization", "rescale_ch", {"scale": [1.0, 2.0]}, "broadcast"),
    ("keras3", "normalization", "rescale", {"offset": float("inf")}, "not finite"),
    ("keras3", "softmax_axes", "softmax_last", {"axis": 3}, "axis"),
    ("keras2", "dot_merges", "dot_time", {"axes": [1, 2]}, "differ"),
    ("keras2", "dot_merges", "dot_seq_vec", {"axes": [2, 1, 0]}, "pair"),
])
def test_hostile_configs_name_the_layer(version, model, layer, changes, match):
    weights = FIXTURES / version / (f"{model}.weights.h5" if version == "keras3"
                                    else f"{model}_weights.h5")
    with pytest.raises(FastGRUError, match=f"{layer}.*{match}"):
        fastgru.load(weights, config=_edited_config(version, model, layer, **changes))


def test_normalization_statistics_too_large_to_broadcast_are_refused():
    """(The layers with weights are left out: theirs would not fit the larger input.)"""
    config = json.loads(_edited_config("keras2", "normalization", "norm_invert", axis=[1, 2]))
    model = config["config"]
    model["layers"] = [e for e in model["layers"]
                       if e["name"] not in ("norm_last", "norm_steps_features", "norm_all", "gru")]
    model["output_layers"] = [["norm_invert", 0, 0]]
    for entry in model["layers"]:
        if entry["name"] == "x":
            entry["config"]["batch_input_shape"] = [None, 1 << 16, 1 << 16]
        if entry["name"] == "norm_given":
            entry["config"].update(mean=0.0, variance=1.0)
    with pytest.raises(FastGRUError, match="norm_invert.*more than"):
        fastgru.load(FIXTURES / "keras2" / "normalization_weights.h5",
                     config=json.dumps(config))
