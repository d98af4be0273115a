"""Hardening, round 2 (API side): hostile metadata in a CRC-valid .fgru, the convert write path,
API argument types and ranges, custom_objects and built-in Keras classes, config= with a file
that has its own config. Every hostile input is made here, from a real model."""
from __future__ import annotations

import inspect
import json
import os
import pathlib
import stat
import threading

import numpy as np
import pytest

import fastgru
from fastgru import format as fmt
from fastgru.errors import FastGRUError
from fastgru.keras.builtin_classes import KERAS3_LAYER_CLASSES
from fastgru.metadata import SCHEMA, field_names
from fastgru.model import Model
from fixture_manifest import FIXTURES
from image_edit import with_metadata

SIMPLE = FIXTURES / "keras3" / "simple.keras"
CUSTOM_GRU = FIXTURES / "keras3" / "custom_gru.keras"


@pytest.fixture(scope="module")
def image():
    return fastgru.load(SIMPLE).image


@pytest.fixture(scope="module")
def metadata(image):
    return fmt.read_metadata(image)


def _edited(metadata, edit):
    meta = json.loads(json.dumps(metadata))
    edit(meta)
    return json.dumps(meta).encode()


def _gru_ref(meta):
    return next(r for layer in meta["layers"] for r in layer["weights"] if "gru" in r)


def _set(path, value):
    """An edit that sets meta[path...] = value (path items: keys or list indexes)."""
    def edit(meta):
        node = meta
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


# (hostile metadata, words the error must contain): each found as the wrong exception before
HOSTILE_METADATA = [
    (lambda meta: b"[" * 200_000, "nested deeper"),
    (lambda meta: b'{"layers": [], "name": ' + b"7" * 100_000 + b"}", "number of 100000"),
    (lambda meta: _edited(meta, _set(["layers", 1, "highlights"], ["abc"])),
     "layers[1].highlights"),
    (lambda meta: _edited(meta, _set(["layers", 1, "params"], "lots")), "layers[1].params"),
    (lambda meta: _edited(meta, _set(["layers", 1, "weights"], ["x"])), "layers[1].weights[0]"),
    (lambda meta: _edited(meta, _set(["precision"], "x")), "metadata.precision"),
    (lambda meta: _edited(meta, _set(["layers", 1, "output_shapes"], 5)),
     "layers[1].output_shapes"),
    (lambda meta: _edited(meta, lambda m: _gru_ref(m)["config"].__setitem__(1, 1e30)),
     "config[1]"),
    (lambda meta: _edited(meta, lambda m: _gru_ref(m).__setitem__("gru", 2 ** 40)), ".gru"),
    (lambda meta: _edited(meta, lambda m: m.pop("layers")), "no field 'layers'"),
    (lambda meta: _edited(meta, _set(["states"], [{"layer": "g", "slot": -1, "units": 4}])),
     "states[0].slot"),
    (lambda meta: b"\xff\xfe", "UTF-8"),
]


@pytest.mark.parametrize("make, words", HOSTILE_METADATA,
                         ids=[w for _, w in HOSTILE_METADATA])
def test_hostile_metadata_in_a_crc_valid_image_is_a_fastgru_error_naming_the_field(
        image, metadata, make, words):
    hostile = with_metadata(image, make(metadata))
    for read in (Model, fmt.read_metadata):
        with pytest.raises(FastGRUError, match=words.replace("[", r"\[").replace("]", r"\]")
                           .replace(".", r"\.")):
            read(hostile)


@pytest.mark.parametrize("structure", [
    [0, 0], {"a": 1}, {"a": True}, {"a": [0], "b": []}, "x", 1.5,
    json.loads("[" * 40 + "0" + "]" * 40)])
def test_hostile_output_structure_is_a_fastgru_error_naming_it(image, metadata, structure):
    """The nest predict rebuilds (fastgru.output_structure) must hold each output index once;
    the one-output image here takes only 0 or a nest of it."""
    hostile = with_metadata(image, _edited(metadata, _set(["output_structure"], structure)))
    with pytest.raises(FastGRUError, match="output_structure"):
        Model(hostile)


def test_the_schema_knows_every_field_pack_model_writes(metadata):
    """The schema is declared by hand: it must cover what the writer produces (free-form
    sections excepted), and the image it came from must pass it unchanged."""
    def keys(node, free=False):
        if isinstance(node, dict):
            for key, value in node.items():
                if not free:
                    yield key
                yield from keys(value, free or key in ("extra", "highlights"))
        elif isinstance(node, list):
            for item in node:
                yield from keys(item, free)
    assert set(keys(metadata)) <= set(field_names())
    assert set(keys(metadata)) >= set(SCHEMA.required)
    reduced = fmt.read_metadata(fastgru.load(SIMPLE, dtype="float16").image)
    assert set(keys(reduced)) <= set(field_names()) and "precision" in reduced


# ---- convert's write path ---------------------------------------------------------------

def _leftovers(folder, keep):
    return sorted(set(os.listdir(folder)) - set(keep))


def test_convert_never_follows_a_planted_tmp_symlink(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    dst = tmp_path / "model.fgru"
    os.symlink(victim, str(dst) + ".tmp")
    fastgru.convert(SIMPLE, dst)
    assert victim.read_text() == "precious"
    assert not dst.is_symlink() and dst.read_bytes() == fastgru.load(SIMPLE).image
    assert _leftovers(tmp_path, ["victim.txt", "model.fgru", "model.fgru.tmp"]) == []


def test_two_converts_to_one_path_do_not_collide(tmp_path):
    dst, errors = tmp_path / "model.fgru", []
    # another writer's temp file under the old fixed name: never truncated nor renamed
    other = tmp_path / "model.fgru.tmp"
    other.write_bytes(b"another convert, half written")

    def run():
        try:
            for _ in range(3):
                fastgru.convert(SIMPLE, dst)
        except Exception as exc:   # reported below, with the thread's exception
            errors.append(exc)
    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert dst.read_bytes() == fastgru.load(SIMPLE).image
    assert other.read_bytes() == b"another convert, half written"
    assert _leftovers(tmp_path, ["model.fgru", "model.fgru.tmp"]) == []


def test_convert_file_mode_follows_the_umask_and_failures_leave_nothing(tmp_path):
    dst = tmp_path / "model.fgru"
    fastgru.convert(SIMPLE, dst)
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(dst.stat().st_mode) == 0o666 & ~umask   # not mkstemp's 0600
    (tmp_path / "folder").mkdir()
    with pytest.raises(FastGRUError, match="is a folder"):
        fastgru.convert(SIMPLE, tmp_path / "folder")
    with pytest.raises(FastGRUError, match="does not exist"):
        fastgru.convert(SIMPLE, tmp_path / "missing" / "model.fgru")
    with pytest.raises(FastGRUError):
        fastgru.convert(tmp_path / "model.fgru", tmp_path / "c.h", format="c", name="1bad")
    assert _leftovers(tmp_path, ["model.fgru", "folder"]) == []


# ---- API arguments ------------------------------------------------------------------------

def test_bytes_and_pathlike_paths_work():
    expected = fastgru.load(SIMPLE).image
    assert fastgru.load(os.fsencode(SIMPLE)).image == expected
    assert fastgru.load(pathlib.PurePath(SIMPLE)).image == expected
    assert fastgru.load(os.fsencode(SIMPLE)).source == str(SIMPLE)


def test_wrong_argument_types_are_type_errors_that_say_what_was_expected(tmp_path):
    with pytest.raises(TypeError, match="str, bytes or os.PathLike"):
        fastgru.load(12)
    with pytest.raises(TypeError, match="str, bytes or os.PathLike"):
        fastgru.convert(SIMPLE, 3.5)
    with pytest.raises(TypeError, match="threads must be None or an int"):
        fastgru.load(SIMPLE, threads="4")
    with pytest.raises(TypeError, match="dtype must be a str"):
        fastgru.load(SIMPLE, dtype=np.float16)
    with pytest.raises(TypeError, match="custom_objects must be None or a dict"):
        fastgru.load(SIMPLE, custom_objects=[("MyGRU", "GRU")])
    with pytest.raises(TypeError, match="format must be a str"):
        fastgru.convert(SIMPLE, tmp_path / "m.fgru", format=None)
    model = fastgru.load(SIMPLE)
    x = np.zeros((2, 3) + model.inputs[0].shape[2:], np.float32)
    with pytest.raises(TypeError, match="batch_size must be None or an int"):
        model.predict(x, batch_size=1.5)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        model.stream(batch_size="1")


@pytest.mark.parametrize("call", [
    lambda: fastgru.load(SIMPLE, threads=2 ** 40),
    lambda: fastgru.load(SIMPLE, threads=0),
    lambda: fastgru.load(SIMPLE).stream(batch_size=np.uint64(2 ** 63)),
    lambda: fastgru.load(SIMPLE).predict(None, batch_size=2 ** 40),
], ids=["threads=2**40", "threads=0", "stream batch 2**63", "predict batch 2**40"])
def test_out_of_range_counts_are_fastgru_errors(call):
    with pytest.raises(FastGRUError, match="out of range"):
        call()


# ---- custom_objects and built-in Keras classes -------------------------------------------

def test_the_builtin_class_list_covers_the_installed_keras():
    keras = pytest.importorskip("keras")
    installed = {name for name, cls in vars(keras.layers).items()
                 if inspect.isclass(cls) and issubclass(cls, keras.layers.Layer)}
    installed |= {vars(keras.layers)[name].__name__ for name in installed}
    assert installed <= KERAS3_LAYER_CLASSES, sorted(installed - KERAS3_LAYER_CLASSES)


@pytest.fixture(scope="module")
def unsupported_model(tmp_path_factory):
    """A real Keras model with three built-in layers fastgru does not read."""
    keras = pytest.importorskip("keras")
    L = keras.layers
    x = keras.Input((5, 3), name="x")
    h = L.GRU(4, return_sequences=True, name="gru")(x)
    h = L.Conv1DTranspose(4, 2, name="deconv")(h)
    h = L.GroupNormalization(groups=2, name="group")(h)
    y = L.UnitNormalization(name="unit")(h)
    path = tmp_path_factory.mktemp("unsupported") / "unsupported.keras"
    keras.Model(x, y).save(path)
    return path


@pytest.mark.parametrize("mapping", [{"Softmax": "Activation"}, {"Rescaling": "Activation"},
                                     {"Maximum": "Add"}, {"LSTM": "GRU"},
                                     {"keras>Softmax": "Activation"}])
def test_custom_objects_never_remap_a_builtin_keras_class(unsupported_model, mapping):
    with pytest.raises(FastGRUError, match="built-in Keras class"):
        fastgru.load(unsupported_model, custom_objects=mapping)


def test_a_refusal_names_every_unsupported_layer_and_no_mapping_hint_for_builtins(
        unsupported_model):
    with pytest.raises(FastGRUError) as info:
        fastgru.load(unsupported_model)
    message = str(info.value)
    for layer, cls in (("deconv", "Conv1DTranspose"), ("group", "GroupNormalization"),
                       ("unit", "UnitNormalization")):
        assert f"layer '{layer}' is a Keras {cls}" in message
    assert "3 layers" in message and "custom_objects" not in message


def test_the_mapping_hint_is_offered_for_a_custom_class():
    with pytest.raises(FastGRUError, match=r"custom class 'my_package>MyGRU'.*custom_objects="):
        fastgru.load(CUSTOM_GRU)


# ---- config= with a file that has its own config ------------------------------------------

def test_config_with_a_keras_archive_is_refused_like_fgru(tmp_path):
    # any config value: it must be refused, not silently ignored
    with pytest.raises(FastGRUError, match="carries its own config"):
        fastgru.load(SIMPLE, config={"class_name": "Sequential", "config": {"layers": []}})
    fastgru.convert(SIMPLE, tmp_path / "simple.fgru")
    with pytest.raises(FastGRUError, match="carries its own config"):
        fastgru.load(tmp_path / "simple.fgru", config={"class_name": "Sequential"})
