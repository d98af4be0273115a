"""16-bit Keras layers (tools/fixtures_16bit.py): dtype float16 / bfloat16 weights are read
(Keras 3 stores bfloat16 as opaque 2-byte values), kept 16-bit in the model image where the
file stores them so, computed in float32, and ``fastgru inspect`` says what the file stores.
The outputs against Keras' own (computed in 16 bits) are checked by the fixture tests, within
fixture_manifest.KERAS_16BIT_TOL."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastgru
from fastgru import format as fmt
from fastgru.model import Model
from fastgru.keras import read_model
from fixture_manifest import MANIFEST, arrays, load_data, paths

ROOT = Path(__file__).resolve().parent.parent
# what each model's file stores its GRU weights as (a mixed policy keeps float32 variables)
STORED = {"gru_float16": "float16", "gru_bfloat16": "bfloat16",
          "gru_mixed_float16": "float32", "gru_mixed_bfloat16": "float32"}
ENTRIES = {e["id"]: e for e in MANIFEST if e["model"] in STORED}
needs_fixtures = pytest.mark.skipif(not ENTRIES, reason="no 16-bit fixtures")


def _weight_dtypes(image: bytes) -> list:
    """The stored dtype of each weight record of an image."""
    header = fmt.HEADER.unpack_from(image)
    count, at = header[9], header[16]
    names = {v: k for k, v in fmt.WEIGHT_DTYPES.items()}
    return [names[fmt.WEIGHT.unpack_from(image, at + i * fmt.WEIGHT.size)[2]]
            for i in range(count)]


@needs_fixtures
@pytest.mark.parametrize("entry", list(ENTRIES.values()), ids=list(ENTRIES))
def test_the_image_keeps_what_the_file_stores(entry):
    model_path, config = paths(entry)
    spec = read_model(model_path, config=config)
    image = fmt.pack_model(spec)
    stored = STORED[entry["model"]]
    # the GRU's packed weight (and nothing else) in the file's dtype; the Dense head float32
    assert sorted(set(_weight_dtypes(image))) == sorted({stored, "float32"})
    assert spec.extra.get("stored_weight_dtypes", {}).get("gru", ["float32"])[0] == stored
    # widening is exact: the image computes what one with float32 weights computes, bitwise
    spec.extra.pop("stored_weight_dtypes", None)
    wide = fmt.pack_model(spec)
    assert set(_weight_dtypes(wide)) == {"float32"}
    x = arrays(load_data(entry), "x")[0]
    assert Model(image).predict(x).tobytes() == Model(wide).predict(x).tobytes()
    if stored != "float32":
        assert len(image) < len(wide)


@needs_fixtures
@pytest.mark.parametrize("model", sorted(STORED))
def test_inspect_says_what_the_file_stores_and_how_keras_computes(model):
    entry = next(e for e in ENTRIES.values() if e["model"] == model and e["config"] is None)
    model_path, _ = paths(entry)
    run = subprocess.run([sys.executable, "-m", "fastgru", "inspect", str(model_path)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    stored = STORED[model]
    if stored == "float32":
        assert "weights stored as float32" in run.stdout
    else:
        assert f"weights stored as {stored} in layers gru" in run.stdout
    computed = "bfloat16" if "bfloat16" in model else "float16"
    assert f"layer 'gru': Keras computes it in {computed}" in run.stdout


@needs_fixtures
def test_opaque_values_in_a_layer_that_is_not_bfloat16_are_refused():
    entry = next(e for e in ENTRIES.values()
                 if e["model"] == "gru_bfloat16" and e["format"] == "keras3_weights_h5")
    weights, config = paths(entry)
    edited = json.loads(config.read_text())
    for layer in edited["config"]["layers"]:
        if layer["config"]["name"] == "gru":
            layer["config"]["dtype"] = "float32"
    with pytest.raises(fastgru.FastGRUError, match=r"layer 'gru'.*opaque 2-byte values.*"
                                                   r"bfloat16.*'float32'"):
        read_model(weights, config=edited)


@needs_fixtures
def test_float32_conversion_of_a_16bit_file_still_rounds_as_asked():
    """dtype= in convert stores every weight in that dtype (the file's 16-bit ones included)."""
    entry = next(e for e in ENTRIES.values()
                 if e["model"] == "gru_bfloat16" and e["config"] is None)
    spec = read_model(paths(entry)[0])
    assert set(_weight_dtypes(fmt.pack_model(spec, "float16"))) == {"float16"}
    x = arrays(load_data(entry), "x")[0]
    assert np.all(np.isfinite(Model(fmt.pack_model(spec, "float16")).predict(x)))



def test_inspect_of_a_converted_file_with_junk_facts_does_not_crash():
    """A .fgru file's metadata may hold anything in its extra facts: inspect prints what is
    well-formed and never fails on the rest."""
    from fastgru.storage_precision import describe

    assert describe({"extra": {"stored_weight_dtypes": "junk", "layer_dtypes": [1]}}) == \
        ["weights stored as float32"]
    assert describe({"extra": {"stored_weight_dtypes": {"g": ["float16"], "h": 3},
                               "layer_dtypes": {"g": "float16", "h": {}}}}) == \
        ["weights stored as float16 in layers g (as the Keras file stores them), the others "
         "as float32; computed in float32",
         "layer 'g': Keras computes it in float16 (dtype float16); fastgru computes in float32"]
