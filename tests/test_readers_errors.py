"""Bad files and bad configs fail with FastGRUError (FastGRUFileNotFoundError for a missing
file) whose message names the file and the layer / field at fault, before any large
allocation. Every bad file is crafted here from a small real Keras 3 model."""
from __future__ import annotations

import copy
import json
import os
import shutil
import zipfile

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
h5py = pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from fastgru.errors import FastGRUError, FastGRUFileNotFoundError  # noqa: E402
from fastgru.keras import read_model  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A Keras 3 model (Input(6, 4) -> GRU(8) -> Dense(3)) in every Keras 3 format."""
    d = tmp_path_factory.mktemp("simple")
    x = keras.Input((6, 4), name="x")
    model = keras.Model(x, keras.layers.Dense(3, name="head")(keras.layers.GRU(8, name="gru")(x)),
                        name="simple")
    model.save(d / "simple.keras")
    model.save(d / "simple.h5")
    model.save_weights(d / "simple.weights.h5")
    config = json.loads(model.to_json())
    return {"dir": d, "keras": d / "simple.keras", "h5": d / "simple.h5",
            "weights": d / "simple.weights.h5", "config": config}


def _layer(config, name):
    return next(layer for layer in config["config"]["layers"] if layer["name"] == name)


def _raises(path, pattern, **kwargs):
    with pytest.raises(FastGRUError, match=pattern) as info:
        read_model(path, **kwargs)
    return str(info.value)


def test_missing_file_is_also_a_file_not_found_error(tmp_path):
    with pytest.raises(FastGRUFileNotFoundError, match="nope.keras") as info:
        read_model(tmp_path / "nope.keras")
    assert isinstance(info.value, FileNotFoundError)


def test_empty_text_and_directory_are_refused(tmp_path):
    (tmp_path / "empty.h5").write_bytes(b"")
    _raises(tmp_path / "empty.h5", r"empty\.h5.*empty")
    (tmp_path / "notes.keras").write_text("hello, I am text\n")
    _raises(tmp_path / "notes.keras", r"notes\.keras.*not a Keras model file")
    _raises(tmp_path, "directory")


@pytest.mark.parametrize("kind", ["keras", "h5"])
def test_truncated_files_are_refused(saved, tmp_path, kind):
    data = saved[kind].read_bytes()
    cut = tmp_path / f"cut.{kind}"
    cut.write_bytes(data[: len(data) // 2])
    _raises(cut, r"cut\.")


def test_hdf5_that_is_not_a_keras_model(tmp_path):
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["table"] = np.arange(10)
    _raises(tmp_path / "data.h5", r"data\.h5.*not a Keras model")


def test_weights_only_file_needs_a_config(saved):
    _raises(saved["weights"], r"weights-only.*config=")


def test_config_argument_forms(saved, tmp_path):
    text = json.dumps(saved["config"])
    (tmp_path / "model.json").write_text(text)
    for config in (saved["config"], text, tmp_path / "model.json", str(tmp_path / "model.json")):
        assert read_model(saved["weights"], config=config).outputs
    _raises(saved["weights"], "not valid JSON", config="{not json")
    with pytest.raises(FastGRUFileNotFoundError, match="missing.json"):
        read_model(saved["weights"], config=tmp_path / "missing.json")
    _raises(saved["weights"], "config= must be", config=42)


def test_deeply_nested_json_is_refused(saved):
    deep = "[" * 5000 + "]" * 5000
    _raises(saved["weights"], "nested deeper", config='{"a": ' + deep + "}")


def test_weight_shape_mismatch_names_layer_weight_and_shapes(saved, tmp_path):
    bad = tmp_path / "bad.h5"
    shutil.copy(saved["h5"], bad)
    with h5py.File(bad, "r+") as f:
        group = f["model_weights/gru"]
        name = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]][0]
        del group[name]
        group[name] = np.zeros((5, 24), np.float32)
    message = _raises(bad, r"layer 'gru'.*kernel")
    assert "(5, 24)" in message and "(4, 24)" in message


def test_config_that_disagrees_with_the_weights(saved):
    config = copy.deepcopy(saved["config"])
    _layer(config, "gru")["config"]["units"] = 9
    message = _raises(saved["weights"], r"layer 'gru'.*kernel", config=config)
    assert "(4, 27)" in message and "(4, 24)" in message


def test_missing_weights_are_reported(saved, tmp_path):
    bad = tmp_path / "bad.h5"
    shutil.copy(saved["h5"], bad)
    with h5py.File(bad, "r+") as f:
        del f["model_weights/head"]
    _raises(bad, r"layer 'head'.*expected 2 weights.*found 0")


@pytest.mark.parametrize("field, value, pattern", [
    ("units", 10 ** 9, r"layer 'gru'.*units=1000000000"),
    ("units", -3, r"layer 'gru'.*units=-3"),
    ("units", "8", r"layer 'gru'.*units must be an integer"),
])
def test_absurd_sizes_fail_before_allocation(saved, field, value, pattern):
    config = copy.deepcopy(saved["config"])
    _layer(config, "gru")["config"][field] = value
    _raises(saved["weights"], pattern, config=config)


def test_size_product_overflow_fails_before_allocation(saved):
    config = copy.deepcopy(saved["config"])
    _layer(config, "x")["config"]["batch_shape"] = [None, 6, 1 << 22]
    _layer(config, "gru")["config"]["units"] = 1 << 22
    _raises(saved["weights"], r"layer 'gru'.*more than \d+ elements", config=config)


def test_lambda_and_unknown_classes(saved):
    config = copy.deepcopy(saved["config"])
    head = _layer(config, "head")
    head["class_name"] = "Lambda"
    head["config"]["function"] = {"class_name": "__lambda__", "config": {"code": "AAAA"}}
    _raises(saved["weights"], r"layer 'head'.*Lambda.*never executes", config=config)
    head["class_name"] = "FancyDense"
    head["registered_name"] = "acme>FancyDense"
    _raises(saved["weights"], r"layer 'head'.*acme>FancyDense.*custom_objects", config=config)
    _raises(saved["weights"], "can map a custom class only", config=config,
            custom_objects={"acme>FancyDense": "Conv2D"})


def test_unsupported_options_are_refused_clearly(saved):
    config = copy.deepcopy(saved["config"])
    _layer(config, "gru")["config"]["time_major"] = True
    _raises(saved["weights"], r"layer 'gru'.*time_major", config=config)
    config = copy.deepcopy(saved["config"])
    _layer(config, "gru")["config"]["activation"] = "not_an_activation"
    _raises(saved["weights"], r"layer 'gru'.*not_an_activation", config=config)


def test_zip_without_config_or_with_oversized_members(saved, tmp_path):
    with zipfile.ZipFile(saved["keras"]) as z:
        members = {n: z.read(n) for n in z.namelist()}
    with zipfile.ZipFile(tmp_path / "noconfig.keras", "w") as z:
        for name, data in members.items():
            if name != "config.json":
                z.writestr(name, data)
    _raises(tmp_path / "noconfig.keras", "lacks config.json")
    with zipfile.ZipFile(tmp_path / "bomb.keras", "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data + b"\0" * (20 << 20) if name == "model.weights.h5" else data)
    _raises(tmp_path / "bomb.keras", "zip bomb")
    with zipfile.ZipFile(tmp_path / "bigjson.keras", "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data + b" " * (65 << 20) if name == "config.json" else data)
    _raises(tmp_path / "bigjson.keras", "config.json declares .* more than the limit")


def test_weights_from_another_model_are_detected_by_layer_name(saved):
    config = copy.deepcopy(saved["config"])
    # swap the names: the .keras group 'layers/dense' says it holds 'head'
    _layer(config, "head")["name"] = "other"
    _layer(config, "other")["config"]["name"] = "other"
    config["config"]["output_layers"] = ["other", 0, 0]
    _raises(saved["weights"], r"belongs to layer 'head'.*'other'", config=config)


def _mutations(obj, path=()):
    yield path
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        yield from _mutations(value, path + (key,))


def test_mutated_configs_fail_only_with_fastgru_errors(saved):
    """Any value of any config field replaced by junk: a FastGRUError or a successful read,
    never another exception."""
    rng = np.random.default_rng(0)
    junk = [None, 0, -1, 1.5, "x", [], {}, [1, 2], {"a": 1}, True, 10 ** 12]
    paths = [p for p in _mutations(saved["config"]) if p]
    for _ in range(300):
        config = copy.deepcopy(saved["config"])
        for _ in range(rng.integers(1, 4)):
            path = paths[rng.integers(len(paths))]
            target = config
            try:
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = junk[rng.integers(len(junk))]
            except (KeyError, IndexError, TypeError):
                continue          # an earlier mutation removed this path
        try:
            read_model(saved["weights"], config=config)
        except FastGRUError:
            pass


@pytest.mark.parametrize("kind", ["keras", "h5", "weights"])
def test_corrupted_bytes_fail_only_with_fastgru_errors(saved, tmp_path, kind):
    rng = np.random.default_rng(1)
    data = saved[kind].read_bytes()
    for trial in range(25):
        damaged = bytearray(data)
        for i in rng.integers(0, len(damaged), size=rng.integers(1, 20)):
            damaged[i] = rng.integers(256)
        path = tmp_path / f"damaged{trial}.{kind}"
        path.write_bytes(bytes(damaged))
        try:
            read_model(path, config=saved["config"])
        except FastGRUError:
            pass


@pytest.mark.parametrize("layer, pattern", [
    (lambda: keras.layers.BatchNormalization(axis=1, name="norm"), r"layer 'norm'.*axis=1.*last axis"),
    (lambda: keras.layers.LayerNormalization(axis=[1, 2], name="norm"), r"layer 'norm'.*axis=\[1, 2\]"),
])
def test_normalisation_over_other_axes_is_refused(tmp_path, layer, pattern):
    x = keras.Input((6, 4), name="x")
    model = keras.Model(x, keras.layers.GRU(3, name="gru")(layer()(x)), name="norm_axis")
    model.save(tmp_path / "norm_axis.keras")
    _raises(tmp_path / "norm_axis.keras", pattern)


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("bug", [TypeError, ValueError, KeyError, IndexError])
def test_a_reader_bug_is_not_reported_as_a_damaged_file(saved, monkeypatch, fmt, bug):
    """Only what damaged bytes raise becomes "damaged or unreadable file": an exception from
    a bug in the readers (planted here in the config reader) surfaces as itself."""
    from fastgru.keras import config

    def planted(*args, **kwargs):
        raise bug("planted reader bug")

    monkeypatch.setattr(config, "normalise", planted)
    with pytest.raises(bug, match="planted reader bug") as info:
        read_model(saved[fmt])
    assert not isinstance(info.value, FastGRUError)
