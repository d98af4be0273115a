"""Every committed real-Keras fixture (tests/fixtures/manifest.json) is read into a ModelSpec that,
run by the float64 interpreter in spec_reference.py, gives Keras' stored outputs (<= 1e-5).
This checks the readers (formats, weight lookup, masks, layer translation) independently of
the C executor."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fastgru.errors import FastGRUError
from fastgru.keras import read_model
from fixture_manifest import (CUSTOM_OBJECTS, FIXTURES, MANIFEST, REFUSED, TOL, arrays,
                              is_stateful, load_data, max_error, paths, tolerance)
from spec_reference import run_spec


def _read(entry, custom_objects=None):
    model_path, config = paths(entry)
    return read_model(model_path, config=config, custom_objects=custom_objects)


@pytest.mark.skipif(not MANIFEST, reason="no fixtures committed yet (tests/fixtures/manifest.json)")
@pytest.mark.parametrize("entry", MANIFEST, ids=lambda e: e["id"])
def test_fixture_reproduces_keras(entry, error_record):
    if entry["model"] in REFUSED:
        with pytest.raises(FastGRUError, match=REFUSED[entry["model"]]):
            _read(entry)
        return
    custom_objects = CUSTOM_OBJECTS.get(entry["model"])
    if custom_objects:
        with pytest.raises(FastGRUError, match="custom_objects"):
            _read(entry)
    spec = _read(entry, custom_objects)
    assert spec.keras_version == int(entry["keras_version"][0])
    data = load_data(entry)
    if is_stateful(data):
        # stateful: call 1 continues from call 0's state; call 2 starts after reset_states()
        carried = {}
        got = run_spec(spec, arrays(data, "x", "_call0"), carried) + \
            run_spec(spec, arrays(data, "x", "_call1"), carried) + \
            run_spec(spec, arrays(data, "x", "_call2"), {})
        expected = (arrays(data, "y", "_call0") + arrays(data, "y", "_call1")
                    + arrays(data, "y", "_call2"))
        assert spec.stateful_batch == data["x0_call0"].shape[0]
    else:
        got = run_spec(spec, arrays(data, "x"))
        expected = arrays(data, "y")
    error_record.add("readers: spec vs Keras", f"{entry['format']}/{entry['model']}",
                     np.concatenate([g.ravel() for g in got]),
                     np.concatenate([e.ravel() for e in expected]))
    assert max_error(got, expected) <= tolerance(entry)


@pytest.mark.skipif(not MANIFEST, reason="no fixtures committed yet")
def test_every_format_of_a_model_gives_the_same_layers():
    """LayerInfo (names, classes, weights in Keras order) is the same whichever file it came from."""
    by_model = {}
    for entry in MANIFEST:
        if entry["model"] in REFUSED:
            continue
        by_model.setdefault((entry["keras_version"][0], entry["model"]), []).append(entry)
    for entries in by_model.values():
        infos = [_read(e, CUSTOM_OBJECTS.get(e["model"])).layers for e in entries]
        first = infos[0]
        for other in infos[1:]:
            assert [(i.name, i.class_name, i.output_shapes) for i in other] == \
                [(i.name, i.class_name, i.output_shapes) for i in first]
            for a, b in zip(first, other):
                assert len(a.weights) == len(b.weights)
                for (_, wa), (_, wb) in zip(a.weights, b.weights):
                    np.testing.assert_array_equal(wa, wb)


@pytest.mark.skipif(not (FIXTURES / "keras2" / "simple_seq.json").exists(), reason="no Keras 2 fixtures")
def test_old_keras2_configs():
    """Keras < 2.2.3 wrote a Sequential config as a bare list of layers, and Keras before 2.1
    had no reset_after (its GRUs computed reset_after=False): both readings follow that."""
    config = json.loads((FIXTURES / "keras2" / "simple_seq.json").read_text())
    weights = FIXTURES / "keras2" / "simple_seq_weights.h5"
    data = np.load(FIXTURES / "keras2" / "simple_seq.npz")
    old = dict(config, config=config["config"]["layers"])
    spec = read_model(weights, config=old)
    assert max_error(run_spec(spec, arrays(data, "x")), arrays(data, "y")) <= TOL
    for layer in old["config"]:
        layer["config"].pop("reset_after", None)
    with pytest.raises(FastGRUError, match=r"bias.*expected \(\d+,\)"):
        read_model(weights, config=old)
