"""The product end to end: every committed real-Keras fixture loaded with ``fastgru.load``
(reader -> model image -> C executor) gives Keras' stored outputs within 1e-5, and the same
holds after a ``.fgru`` round trip, after pickling, and step by step through ``stream()``."""
from __future__ import annotations

import itertools
import json
import pickle

import numpy as np
import pytest

import fastgru
from fastgru.output_structure import flatten
from fixture_manifest import (CUSTOM_OBJECTS, MANIFEST, REFUSED, TOL, arrays, is_stateful,
                              load_data, max_error, paths, tolerance)

LOADABLE = [e for e in MANIFEST if e["model"] not in REFUSED]
# One file per (Keras version, model) is enough for the slower whole-model checks.
ONE_PER_MODEL = list({(e["keras_version"][0], e["model"]): e for e in LOADABLE}.values())


def _load(entry, **kwargs):
    model_path, config = paths(entry)
    return fastgru.load(model_path, config=config,
                        custom_objects=CUSTOM_OBJECTS.get(entry["model"]), **kwargs)


def _feed(xs):
    return xs if len(xs) > 1 else xs[0]


def _run(model, data):
    """Outputs for the stored inputs; stateful fixtures run call 0, call 1 (carried state),
    reset_states(), call 2."""
    if not is_stateful(data):
        return flatten(model.predict(_feed(arrays(data, "x"))))
    got = flatten(model.predict(_feed(arrays(data, "x", "_call0"))))
    got += flatten(model.predict(_feed(arrays(data, "x", "_call1"))))
    model.reset_states()
    return got + flatten(model.predict(_feed(arrays(data, "x", "_call2"))))


def _expected(data):
    if not is_stateful(data):
        return arrays(data, "y")
    return arrays(data, "y", "_call0") + arrays(data, "y", "_call1") + arrays(data, "y", "_call2")


@pytest.mark.skipif(not MANIFEST, reason="no fixtures (tests/fixtures/manifest.json)")
@pytest.mark.parametrize("entry", LOADABLE, ids=lambda e: e["id"])
def test_load_reproduces_keras(entry, error_record):
    data = load_data(entry)
    got, expected = _run(_load(entry), data), _expected(data)
    error_record.add("fastgru.load vs Keras", f"{entry['format']}/{entry['model']}",
                     np.concatenate([g.ravel() for g in got]),
                     np.concatenate([e.ravel() for e in expected]))
    assert max_error(got, expected) <= tolerance(entry)


def _nest_of_indices(result, leaves):
    if isinstance(result, dict):
        return {k: _nest_of_indices(v, leaves) for k, v in result.items()}
    if isinstance(result, list):
        return [_nest_of_indices(v, leaves) for v in result]
    assert isinstance(result, np.ndarray)
    return next(leaves)


@pytest.mark.parametrize("entry", [e for e in LOADABLE if "output_structure" in load_data(e)],
                         ids=lambda e: e["id"])
def test_predict_nests_outputs_as_keras(entry, tmp_path):
    """Outputs nested in dicts and lists come back nested as Keras' predict gave them (the
    fixture keeps that nest, dict keys in Keras' order), from the Keras file and from its .fgru
    conversion."""
    data = load_data(entry)
    converted = tmp_path / "model.fgru"
    model_path, config = paths(entry)
    fastgru.convert(model_path, converted, config=config,
                    custom_objects=CUSTOM_OBJECTS.get(entry["model"]))
    keras_nest = json.dumps(json.loads(str(data["output_structure"])))
    for model in (_load(entry), fastgru.load(converted)):
        result = model.predict(_feed(arrays(data, "x")))
        assert json.dumps(_nest_of_indices(result, itertools.count())) == keras_nest


@pytest.mark.parametrize("entry", [e for e in MANIFEST if e["model"] in REFUSED],
                         ids=lambda e: e["id"])
def test_refused_models_name_the_reason(entry):
    with pytest.raises(fastgru.FastGRUError, match=REFUSED[entry["model"]]):
        _load(entry)


@pytest.mark.parametrize("entry", ONE_PER_MODEL, ids=lambda e: e["id"])
def test_fgru_round_trip_and_pickle_are_bitwise(entry, tmp_path):
    data = load_data(entry)
    model = _load(entry)
    converted = tmp_path / "model.fgru"
    model_path, config = paths(entry)
    fastgru.convert(model_path, converted, config=config,
                    custom_objects=CUSTOM_OBJECTS.get(entry["model"]))
    reference = _run(model, data)
    for other in (fastgru.load(converted), pickle.loads(pickle.dumps(_load(entry)))):
        for a, b in zip(reference, _run(other, data)):
            assert a.tobytes() == b.tobytes()


def _has_time_axis(x: np.ndarray) -> bool:
    return x.ndim == 3 or (x.ndim == 2 and np.issubdtype(x.dtype, np.integer))


def stream_steps(stream, xs):
    """Feed the stored inputs `xs` through `stream` one timestep at a time; yields each
    step's outputs (a list)."""
    for t in range(next(x.shape[1] for x in xs if _has_time_axis(x))):
        step_in = [x[:, t] if _has_time_axis(x) else x for x in xs]
        yield flatten(stream.step(_feed(step_in)))


@pytest.mark.parametrize("entry", ONE_PER_MODEL, ids=lambda e: e["id"])
def test_stream_steps_equal_predict(entry):
    """For causal models, step t of a stream gives the model's output for the sequence that
    ends at t: the last step equals predict(), and sequence outputs match at every step."""
    data = load_data(entry)
    if is_stateful(data):
        pytest.skip("stateful model: its state already carries between calls")
    model = _load(entry)
    xs = arrays(data, "x")
    try:
        stream = model.stream(batch_size=xs[0].shape[0])
    except fastgru.FastGRUError as exc:
        # non-causal (Bidirectional, go_backwards) or sequences joined along time
        assert "cannot be streamed" in str(exc)
        return
    full = flatten(model.predict(_feed(xs)))
    for t, step_out in enumerate(stream_steps(stream, xs)):
        for y_step, y_full in zip(step_out, full):
            if y_full.ndim == 3:
                np.testing.assert_allclose(y_step, y_full[:, t], atol=TOL, rtol=0)
    for y_step, y_full in zip(step_out, full):
        if y_full.ndim != 3:
            np.testing.assert_allclose(y_step, y_full, atol=TOL, rtol=0)
