"""Regenerate the real-Keras fixture files under tests/fixtures/ (both Keras versions).

Run from the repository root:

    KERAS_BACKEND=jax python tools/make_fixtures.py [--python-keras2 /opt/tfenv/bin/python]

The Keras 3 part runs in this interpreter (Keras 3 on jax); the Keras 2 part re-invokes this
script with ``--keras2`` under an interpreter that has tf-keras 2.x (default
``/opt/tfenv/bin/python``). Both write their files and return their manifest entries; this
process merges them into tests/fixtures/manifest.json. A full run takes about 10 minutes on
2 cores; ``--models a,b`` regenerates only those models. Seeds are fixed, so the numbers are
reproducible, trained models included (the ``date_saved`` inside ``.keras`` archives is not).

For every model of ``tools/fixtures_catalogue.py`` and every format of the Keras version, the
script saves the file, reloads it with the same Keras and checks that the reloaded model gives
the stored outputs (catches saving mistakes). See tests/fixtures/README.md for the layout.
"""
from __future__ import annotations

import argparse
import importlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
SEED = 20261121
# Catalogue modules beyond tools/fixtures_catalogue.py, one per family of layers; each
# registers its builders with fixtures_catalogue.builder.
CATALOGUE_MODULES: tuple = ("fixtures_shape", "fixtures_elementwise", "fixtures_conv",
                            "fixtures_16bit", "fixtures_attention", "fixtures_lstm",
                            "fixtures_custom_gru", "fixtures_time_major")
RELOAD_TOLERANCE = 1e-6

# format id -> file name suffix, per Keras version. Weight-only formats also get <model>.json.
FORMATS = {
    "keras3": {"keras3_keras": ".keras", "keras3_h5": ".h5", "keras3_weights_h5": ".weights.h5"},
    # tf-keras treats a name ending in ".weights.h5" as its new weights format: avoid it.
    "keras2": {"keras2_h5": ".h5", "keras2_weights_h5": "_weights.h5", "keras2_keras": ".keras"},
}
WEIGHTS_ONLY = {"keras3_weights_h5", "keras2_weights_h5"}


def import_keras(keras2: bool):
    if keras2:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tf_keras as keras
    else:
        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras
    return keras


# ---------------------------------------------------------------------------- weights

def weight_role(variable) -> str:
    """'kernel', 'bias', 'gamma', ... from a variable name in either Keras version
    (Keras 3: 'bias'; tf-keras: 'gru/gru_cell/bias:0')."""
    return variable.name.split("/")[-1].split(":")[0]


def random_weight(role: str, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """Deterministic values by role, of a scale that keeps activations in a useful range.
    Biases and norm offsets are non-zero on purpose: Keras' zero init would hide bias bugs."""
    if role == "moving_variance":
        value = rng.uniform(0.5, 2.0, shape)
    elif role == "gamma":
        value = 1.0 + 0.2 * rng.standard_normal(shape)
    elif role in ("bias", "beta", "moving_mean"):
        value = 0.5 * rng.standard_normal(shape)
    elif role == "embeddings":
        value = rng.standard_normal(shape)
    elif not shape:   # a scalar factor (Attention's scale, concat_score_weight)
        value = 1.0 + 0.3 * rng.standard_normal(shape)
    else:  # kernel, recurrent_kernel: scaled by fan-in
        value = rng.standard_normal(shape) / np.sqrt(max(shape[0], 1))
    return value.astype(np.float32)


def randomise_weights(model, rng: np.random.Generator) -> None:
    for variable in model.weights:
        shape = tuple(int(d) for d in variable.shape)
        variable.assign(random_weight(weight_role(variable), shape, rng))


# ---------------------------------------------------------------------------- running

def as_list(outputs) -> list:
    """Keras' outputs flattened in its own order: lists in order, dicts by sorted key."""
    if isinstance(outputs, dict):
        return [a for k in sorted(outputs) for a in as_list(outputs[k])]
    if isinstance(outputs, (list, tuple)):
        return [a for o in outputs for a in as_list(o)]
    return [np.asarray(outputs)]


def nest_of_indices(outputs):
    """A nested result's structure with each leaf's flat index (JSON), or None when flat; the
    fixture keeps it as `output_structure` so tests check predict's nesting against Keras'."""
    leaves = itertools.count()

    def walk(o):
        if isinstance(o, dict):
            return {k: walk(o[k]) for k in sorted(o)}
        if isinstance(o, (list, tuple)):
            return [walk(v) for v in o]
        return next(leaves)
    nest = walk(outputs)
    flat = isinstance(nest, int) or all(isinstance(i, int) for i in nest)
    return None if flat else nest


def keras_outputs(model, inputs: list, stateful: bool = False):
    """Keras' outputs for `inputs`, nested as the model returns them."""
    args = inputs if len(inputs) > 1 else inputs[0]
    if stateful:
        # Keras 3.15 on jax does not carry stateful RNN state from one predict() to the next
        # (a direct call does, as predict() does under tf-keras and the numpy backend).
        return model(args)
    return model.predict(args, batch_size=len(inputs[0]), verbose=0)


def reset_states(model) -> None:
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_states()


def run_fixture(model, fixture) -> dict:
    """Keras' outputs as npz arrays: x0.., y0.. from predict(), and for stateful models the
    call sequence from direct calls."""
    arrays = {}
    if fixture.stateful_calls is None:
        for i, x in enumerate(fixture.inputs):
            arrays[f"x{i}"] = x
        outputs = keras_outputs(model, fixture.inputs)
        for i, y in enumerate(as_list(outputs)):
            arrays[f"y{i}"] = y
        nest = nest_of_indices(outputs)
        if nest is not None:
            arrays["output_structure"] = np.array(json.dumps(nest))
        return arrays
    reset_states(model)
    for call, inputs in enumerate(fixture.stateful_calls):
        if call == 2:
            reset_states(model)
        for i, x in enumerate(inputs):
            arrays[f"x{i}_call{call}"] = x
        for i, y in enumerate(as_list(keras_outputs(model, inputs, stateful=True))):
            arrays[f"y{i}_call{call}"] = y
    for key in list(arrays):
        if key.endswith("_call0"):
            arrays[key[: -len("_call0")]] = arrays[key]
    return arrays


def check_same(name: str, expected: dict, found: dict) -> None:
    for key, value in expected.items():
        if key.startswith("y"):
            err = float(np.max(np.abs(found[key].astype(np.float64) - value)))
            if not err <= RELOAD_TOLERANCE:
                raise AssertionError(f"{name}: reloaded output {key} differs by {err}")


# ---------------------------------------------------------------------------- saving

def save(model, fmt: str, path: Path) -> None:
    if fmt in WEIGHTS_ONLY:
        model.save_weights(str(path))
    else:
        model.save(str(path))


def _load(keras, fmt: str, path: Path, config_json: str, fixture):
    """The saved file loaded back by the same Keras."""
    custom = fixture.custom_objects
    if fixture.needs_unsafe_load:
        keras.config.enable_unsafe_deserialization()
    if fmt in WEIGHTS_ONLY:
        restored = keras.models.model_from_json(config_json, custom_objects=custom)
        restored.load_weights(str(path))
        return restored
    kwargs = {"safe_mode": False} if fixture.needs_unsafe_load else {}
    return keras.models.load_model(str(path), custom_objects=custom, **kwargs)


def reload(keras, model, fmt: str, path: Path, config_json: str, fixture):
    """Load the saved file with the same Keras; returns (model, note or '')."""
    try:
        return _load(keras, fmt, path, config_json, fixture), ""
    except (TypeError, ValueError) as err:
        # Both Keras versions write bfloat16 weights to HDF5 as opaque 2-byte values and
        # cannot always read them back.
        text = f"{err} {err.__cause__}"
        if "|V2" in text or "No cast function available" in text:
            return model, (f"Keras {keras.__version__} cannot reload its own {path.suffix} of "
                           f"bfloat16 weights (opaque 2-byte values); outputs are from the "
                           f"in-memory model")
        # Keras 3 cannot load its legacy .h5 of a masked functional model (mask op nodes in
        # the config), nor of an Attention layer (it reads score_mode "dot" as the function
        # keras.ops.dot): check the weights the file holds through a rebuilt model instead.
        if fmt != "keras3_h5" or not ("NotEqual" in str(err) or "score_mode" in str(err)):
            raise
        why = ("Unknown layer 'NotEqual', docs/KERAS_FORMATS.md §4" if "NotEqual" in str(err)
               else "it deserializes Attention's score_mode 'dot' as a function")
    restored = keras.models.clone_model(model)
    restored.load_weights(str(path))
    return restored, (f"Keras 3.15 cannot load_model() this legacy .h5 ({why}); outputs are "
                      f"from the in-memory model")


def make_version(keras2: bool, names: list | None) -> list:
    keras = import_keras(keras2)
    import fixtures_catalogue as catalogue
    for module in CATALOGUE_MODULES:   # each registers its builders in catalogue.BUILDERS
        importlib.import_module(module)

    version = "keras2" if keras2 else "keras3"
    out_dir = FIXTURES / version
    out_dir.mkdir(parents=True, exist_ok=True)
    if not names:  # a full run leaves no file of a model that left the catalogue
        for stale in out_dir.iterdir():
            stale.unlink()
    entries = []
    for name, build in catalogue.BUILDERS.items():
        if not (build.for_keras2 if keras2 else build.for_keras3):
            continue
        if names and name not in names:
            continue
        seed = SEED + sum(map(ord, name))
        rng = np.random.default_rng(seed)
        # Fresh name counters per model: auto names in the config (not_equal, any, ...) then
        # do not depend on which models were built before in this process.
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        env = catalogue.Env(keras=keras, keras3=not keras2, rng=rng)
        fixture = build(env)
        model = fixture.model
        if fixture.randomise_weights:
            randomise_weights(model, rng)
        arrays = run_fixture(model, fixture)
        data_file = out_dir / f"{name}.npz"
        np.savez_compressed(data_file, **arrays)
        config_json = model.to_json()
        config_file = out_dir / f"{name}.json"
        config_file.write_text(config_json)

        for fmt, suffix in FORMATS[version].items():
            path = out_dir / f"{name}{suffix}"
            save(model, fmt, path)
            restored, note = reload(keras, model, fmt, path, config_json, fixture)
            check_same(f"{version}/{name}{suffix}", arrays, run_fixture(restored, fixture))
            notes = fixture.notes + (f"; {note}" if note else "")
            entries.append({
                "id": f"{version}/{name}/{fmt}",
                "file": path.relative_to(FIXTURES).as_posix(),
                "format": fmt,
                "keras_version": keras.__version__,
                "config": config_file.relative_to(FIXTURES).as_posix()
                if fmt in WEIGHTS_ONLY else None,
                "data": data_file.relative_to(FIXTURES).as_posix(),
                "model": name,
                "notes": notes,
            })
            print(f"{version}/{name}{suffix}: ok ({path.stat().st_size} bytes)", flush=True)
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keras2", action="store_true",
                        help="internal: generate the Keras 2 files (run under tf-keras)")
    parser.add_argument("--entries-out", help="internal: where --keras2 writes its entries")
    parser.add_argument("--python-keras2", default="/opt/tfenv/bin/python",
                        help="interpreter with tensorflow + tf-keras (default %(default)s)")
    parser.add_argument("--models", help="comma-separated subset of models to regenerate "
                        "(the manifest keeps the entries of the others)")
    args = parser.parse_args()
    names = args.models.split(",") if args.models else None
    sys.path.insert(0, str(Path(__file__).resolve().parent))

    if args.keras2:
        entries = make_version(keras2=True, names=names)
        Path(args.entries_out).write_text(json.dumps(entries))
        return

    with tempfile.TemporaryDirectory() as tmp:
        keras2_entries_file = Path(tmp) / "keras2.json"
        cmd = [args.python_keras2, __file__, "--keras2", "--entries-out",
               str(keras2_entries_file)] + (["--models", args.models] if args.models else [])
        keras2 = subprocess.Popen(cmd)
        try:
            entries = make_version(keras2=False, names=names)
        except BaseException:
            keras2.kill()  # never leave it writing files behind a failed run
            keras2.wait()
            raise
        if keras2.wait() != 0:
            sys.exit(f"the Keras 2 part failed ({' '.join(cmd)})")
        entries += json.loads(keras2_entries_file.read_text())

    manifest_path = FIXTURES / "manifest.json"
    if names and manifest_path.exists():
        regenerated = {e["id"] for e in entries}
        kept = [e for e in json.loads(manifest_path.read_text()) if e["id"] not in regenerated]
        entries = kept + entries
    entries.sort(key=lambda e: e["id"])
    manifest_path.write_text(json.dumps(entries, indent=1) + "\n")
    print(f"{len(entries)} manifest entries written to {manifest_path}")


if __name__ == "__main__":
    main()
