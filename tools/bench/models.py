"""python -m tools.bench.models: whole Keras models through fastgru and the engines that run
Keras models, at batch 1 and 64, on 1 and 2 threads.

    python -m tools.bench.models                      # every peer, table on stdout
    python -m tools.bench.models --write              # ... and into BENCHMARKS.md
    python -m tools.bench.models --only fastgru --batches 1 --threads 1

The architectures are the three of the whole-model benchmark (ARCHITECTURES). Peers: fastgru;
Keras on TensorFlow as a tf.function, without and with XLA (jit_compile); onnxruntime on the
tf2onnx conversion; OpenVINO on the model exported as a SavedModel. A missing peer, and an architecture a peer
(fastgru included: layers other work brings) cannot run, is reported with the reason instead
of a time. Each (peer, thread count) runs in a fresh worker process with its threading knobs
set before the engine starts; every output is checked against Keras' own (stored by the
parent), and a time only counts when it matches within TOLERANCE.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .processes import REPO_ROOT, thread_env

STEPS = 50
BATCHES = (1, 64)
THREADS = (1, 2)
TOLERANCE = 1e-4
MIN_SECONDS = 0.3      # time each cell for at least this long (and at least MIN_CALLS calls)
MIN_CALLS = 5
WORKER_TIMEOUT = 1800
PEERS = ("fastgru", "tf_function", "tf_xla", "onnxruntime", "openvino")
SECTION = "## Whole models"


@dataclass(frozen=True)
class Architecture:
    name: str
    title: str
    build: Callable       # keras module -> model
    inputs: Callable      # (rng, batch) -> [arrays]


def _ids(rng, batch):
    ids = rng.integers(1, 1000, size=(batch, STEPS)).astype(np.int32)
    ids[:, STEPS * 3 // 4:] = 0        # padding the mask removes
    return [ids]


def _floats(rng, batch):
    return [rng.standard_normal((batch, STEPS, 16)).astype(np.float32)]


def _embedding_bigru(keras):
    L = keras.layers
    ids = keras.Input((STEPS,), dtype="int32")
    h = L.Embedding(1000, 32, mask_zero=True)(ids)
    h = L.Bidirectional(L.GRU(64, return_sequences=True))(h)
    return keras.Model(ids, L.Dense(1)(L.GlobalMaxPooling1D()(h)))


def _conv_gru(keras):
    L = keras.layers
    x = keras.Input((STEPS, 16))
    h = L.MaxPooling1D(2)(L.Conv1D(32, 5, activation="relu")(x))
    return keras.Model(x, L.Dense(1)(L.GRU(64)(h)))


def _gru_mha(keras):
    L = keras.layers
    x = keras.Input((STEPS, 16))
    h = L.GRU(64, return_sequences=True)(x)
    h = L.LayerNormalization()(L.MultiHeadAttention(4, 16)(h, h))
    return keras.Model(x, L.Dense(1)(L.GlobalAveragePooling1D()(h)))


def _gru_mha_unpooled(keras):
    L = keras.layers
    x = keras.Input((STEPS, 16))
    h = L.GRU(64, return_sequences=True)(x)
    h = L.LayerNormalization()(L.MultiHeadAttention(4, 16)(h, h))
    return keras.Model(x, L.Dense(1)(h))


ARCHITECTURES = {
    "A1": Architecture("A1", "Embedding(mask_zero) → Bidirectional(GRU(64)) → "
                       "GlobalMaxPooling1D → Dense", _embedding_bigru, _ids),
    "A2": Architecture("A2", "Conv1D(32, 5) → MaxPooling1D → GRU(64) → Dense", _conv_gru,
                       _floats),
    "A3": Architecture("A3", "GRU(64, return_sequences) → MultiHeadAttention(4 heads, key_dim "
                       "16) → LayerNormalization → GlobalAveragePooling1D → Dense", _gru_mha,
                       _floats),
    # A3 up to its pooling: what fastgru runs before GlobalAveragePooling1D lands
    "A3u": Architecture("A3u", "A3 without its pooling: GRU(64, return_sequences) → "
                        "MultiHeadAttention → LayerNormalization → Dense per step",
                        _gru_mha_unpooled, _floats),
}


# ---- the parent: models, reference outputs ------------------------------------------------
def prepare(archs, workdir, batches):
    """Each architecture saved as <workdir>/<name>.keras with seeded weights, and its inputs
    and Keras outputs per batch size in <name>_b<batch>.npz."""
    import keras
    for arch in archs:
        rng = np.random.default_rng(sum(map(ord, arch.name)))
        keras.utils.set_random_seed(1)
        model = arch.build(keras)
        model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.3
                           for w in model.get_weights()])
        model.save(os.path.join(workdir, f"{arch.name}.keras"))
        for batch in batches:
            xs = arch.inputs(rng, batch)
            y = np.asarray(model.predict(xs, verbose=0))
            np.savez(os.path.join(workdir, f"{arch.name}_b{batch}.npz"), y=y,
                     **{f"x{i}": x for i, x in enumerate(xs)})


# ---- the workers: one peer, one thread count ----------------------------------------------
def _keras_tf(path, threads):
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"Keras runs on {keras.backend.backend()}, not TensorFlow")
    return tf, keras.saving.load_model(path)


def _tf_runner(jit):
    def load(path, threads):
        tf, model = _keras_tf(path, threads)
        fn = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False),
                         jit_compile=jit)
        return lambda xs: fn(*xs).numpy()
    return load


def _onnx_file(path, threads):
    """The model converted by tf2onnx (cached next to it), with its input names."""
    onnx_path = path.replace(".keras", ".onnx")
    tf, model = _keras_tf(path, threads)
    import tf2onnx
    spec = [tf.TensorSpec((None,) + tuple(t.shape[1:]), t.dtype, name=f"x{i}")
            for i, t in enumerate(model.inputs)]
    if not os.path.exists(onnx_path):
        tf2onnx.convert.from_keras(model, input_signature=spec, output_path=onnx_path)
    return onnx_path


def _onnxruntime(path, threads):
    onnx_path = _onnx_file(path, threads)
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda xs: session.run(None, dict(zip(names, xs)))[0]


def _saved_model(path, threads):
    """The model exported as a TensorFlow SavedModel (cached next to it)."""
    saved_path = path.replace(".keras", "_saved_model")
    if not os.path.exists(saved_path):
        _, model = _keras_tf(path, threads)
        model.export(saved_path, format="tf_saved_model", verbose=False)
    return saved_path


def _openvino(path, threads):
    """OpenVINO's TensorFlow frontend on the SavedModel (its ONNX frontend rejects the loop
    tf2onnx makes of a GRU), in float32: on a CPU with bf16 it would otherwise pick bf16."""
    saved_path = _saved_model(path, threads)
    import openvino as ov
    compiled = ov.Core().compile_model(ov.convert_model(saved_path), "CPU",
                                       {"INFERENCE_NUM_THREADS": threads,
                                        "INFERENCE_PRECISION_HINT": "f32"})
    return lambda xs: compiled(xs)[0]


def _fastgru(path, threads):
    import fastgru
    model = fastgru.load(path, threads=threads)
    return lambda xs: model.predict(xs if len(xs) > 1 else xs[0])


LOADERS = {"fastgru": _fastgru, "tf_function": _tf_runner(False), "tf_xla": _tf_runner(True),
           "onnxruntime": _onnxruntime, "openvino": _openvino}


def time_calls(run, xs, min_seconds=MIN_SECONDS, min_calls=MIN_CALLS):
    """Median seconds of one call, after a warm-up call."""
    run(xs)
    times, start = [], time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        run(xs)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def run_worker(peer, threads, workdir, arch_names, batches, **timing):
    """Rows {arch, batch, seconds, max_abs_err} or {arch, skipped} for one peer."""
    rows = []
    for name in arch_names:
        try:
            run = LOADERS[peer](os.path.join(workdir, f"{name}.keras"), threads)
        except Exception as exc:   # a missing engine, or a model it cannot run
            why = str(exc).replace(os.path.join(workdir, ""), "")
            rows.append({"arch": name, "skipped": f"{type(exc).__name__}: {why}"[:300]})
            continue
        for batch in batches:
            with np.load(os.path.join(workdir, f"{name}_b{batch}.npz")) as data:
                xs = [data[f"x{i}"] for i in range(len(data.files) - 1)]
                expected = data["y"]
            try:
                err = float(np.max(np.abs(np.asarray(run(xs)).reshape(expected.shape) - expected)))
                rows.append({"arch": name, "batch": batch, "max_abs_err": err,
                             "seconds": time_calls(run, xs, **timing)})
            except Exception as exc:
                rows.append({"arch": name, "batch": batch,
                             "skipped": f"{type(exc).__name__}: {exc}"[:300]})
    return rows


def run_in_worker(peer, threads, workdir, archs, batches):
    """run_worker in a fresh process with every threading knob at `threads`."""
    cmd = [sys.executable, "-m", "tools.bench.models", "--worker", peer, "--workdir", workdir,
           "--threads", str(threads), "--batches", batches, "--archs",
           ",".join(a.name for a in archs)]
    try:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=thread_env(threads), capture_output=True,
                              text=True, timeout=WORKER_TIMEOUT)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode == 0 and lines:
            return json.loads(lines[-1])
        why = f"the worker failed ({proc.returncode}): {proc.stderr.strip()[-200:]}"
    except subprocess.TimeoutExpired:
        why = f"the worker timed out after {WORKER_TIMEOUT} s"
    return [{"arch": a.name, "skipped": why} for a in archs]


# ---- the report ---------------------------------------------------------------------------
def _cell(row):
    if row is None:
        return "–"
    if "skipped" in row:
        return "skipped"
    mark = "" if row["max_abs_err"] <= TOLERANCE else " (wrong)"
    return f"{row['seconds'] * 1e3:.3f} ms{mark}"


def markdown(results, archs, batches, threads):
    """results: {(peer, threads): rows}. One table per architecture (rows: batch x threads,
    columns: peers), then why each skipped cell was skipped."""
    peers = list(dict.fromkeys(p for p, _ in results))
    lines, reasons = [], {}
    for arch in archs:
        lines += [f"### {arch.name}: {arch.title}", "",
                  "| batch | threads | " + " | ".join(peers) + " |",
                  "| --- | --- |" + " --- |" * len(peers)]
        for batch in batches:
            for n in threads:
                cells = []
                for peer in peers:
                    rows = results.get((peer, n), [])
                    row = next((r for r in rows if r["arch"] == arch.name and
                                r.get("batch") in (batch, None)), None)
                    if row and "skipped" in row:   # one line of it, for the table's notes
                        reasons.setdefault(f"{peer} on {arch.name}",
                                           " ".join(row["skipped"].split())[:200])
                    cells.append(_cell(row))
                lines.append(f"| {batch} | {n} | " + " | ".join(cells) + " |")
        lines.append("")
    if reasons:
        lines += ["Skipped:", ""] + [f"- {who}: {why}" for who, why in reasons.items()] + [""]
    return "\n".join(lines)


def write_section(text, path=os.path.join(REPO_ROOT, "BENCHMARKS.md")):
    """Replace (or append) BENCHMARKS.md's whole-model section, up to the next '## '."""
    with open(path) as f:
        page = f.read()
    body = f"{SECTION}\n\nMade by `python -m tools.bench.models` ({STEPS} steps per sample; " \
           f"median time of one predict call).\n\n{text.rstrip()}\n\n"
    if SECTION in page:
        start = page.index(SECTION)
        end = page.find("\n## ", start + len(SECTION))
        page = page[:start] + body + (page[end + 1:] if end >= 0 else "")
    else:
        page = page.rstrip("\n") + "\n\n" + body
    with open(path, "w") as f:
        f.write(page)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated peers (default: all)")
    parser.add_argument("--archs", help="comma-separated architectures (default: all)")
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)))
    parser.add_argument("--threads", default=",".join(map(str, THREADS)))
    parser.add_argument("--write", action="store_true", help="write the tables into BENCHMARKS.md")
    parser.add_argument("--worker", help=argparse.SUPPRESS)   # internal: peer of a worker
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    archs = [ARCHITECTURES[a] for a in (args.archs.split(",") if args.archs else ARCHITECTURES)]
    batches = [int(b) for b in args.batches.split(",")]
    threads = [int(n) for n in args.threads.split(",")]
    if args.worker:
        rows = run_worker(args.worker, threads[0], args.workdir, [a.name for a in archs], batches)
        print(json.dumps(rows))
        return
    peers = args.only.split(",") if args.only else list(PEERS)
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        prepare(archs, workdir, batches)
        for peer in peers:
            for n in threads:
                results[peer, n] = run_in_worker(peer, n, workdir, archs, args.batches)
    text = markdown(results, archs, batches, threads)
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
