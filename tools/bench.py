"""Time fastgru.GRU against the numpy reference loop (tests/reference_gru.py) and Keras 3 (jax
backend, jit-compiled), at 1 and 2 threads, and check that all of them give the same outputs.

    python tools/bench.py [--reps 7] [--threads 1 2]

Each peer and thread count runs in its own subprocess (an engine's idle worker threads, such as
XLA's spinning Eigen pool, would otherwise steal the cores from the next peer), pinned to that many cores (sched_setaffinity) with
OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS and XLA's intra-op thread count set to
it, so every peer gets the same cores; fastgru gets threads=N. Times are medians of --reps
calls after one warm-up call (Keras: after jit compilation).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES = [  # (batch, timesteps, input_dim, units)
    (1, 512, 64, 256),
    (256, 100, 64, 256),
]
PEERS = ("fastgru", "numpy", "keras")


def _median_seconds(fn, reps):
    fn()                                    # warm-up (and jit compilation for Keras)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def _keras_runner(units, weights, x):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import jax
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError(f"needs KERAS_BACKEND=jax, got {keras.backend.backend()}")
    model = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.GRU(units)])
    model.layers[0].set_weights(weights)
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    run = jax.jit(lambda t, n, inp: model.stateless_call(t, n, inp)[0])
    x_dev = jax.device_put(x)
    return lambda: run(trainable, non_trainable, x_dev).block_until_ready()


def worker(peer, threads, reps, out_dir):
    """Run one peer on every shape with `threads` threads; save outputs, print timings."""
    import numpy as np

    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import fastgru
    from reference_gru import gru_reference

    results = {}
    for shape in SHAPES:
        batch, timesteps, input_dim, units = shape
        rng = np.random.default_rng(0)
        weights = [(rng.uniform(-1, 1, (input_dim, 3 * units)) / np.sqrt(input_dim)).astype(np.float32),
                   (rng.uniform(-1, 1, (units, 3 * units)) / np.sqrt(units)).astype(np.float32),
                   rng.uniform(-0.3, 0.3, (2, 3 * units)).astype(np.float32)]
        x = rng.normal(size=(batch, timesteps, input_dim)).astype(np.float32)
        if peer == "fastgru":
            layer = fastgru.GRU(units, *weights, threads=threads)
            run = lambda: layer(x)
        elif peer == "numpy":
            run = lambda: gru_reference(x, *weights)[0]
        else:
            try:
                run = _keras_runner(units, weights, x)
            except ImportError as exc:
                print(f"keras not timed: {exc}", file=sys.stderr)
                continue
        key = "x".join(map(str, shape))
        results[f"{key}/{peer}"] = _median_seconds(run, reps)
        np.save(os.path.join(out_dir, f"{key}-{peer}-t{threads}.npy"), np.asarray(run()))
    print(json.dumps(results))


def _pinned_env(threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), FASTGRU_NUM_THREADS=str(threads),
               KERAS_BACKEND="jax")
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                        + ("false" if threads == 1 else "true")
                        + f" intra_op_parallelism_threads={threads}").strip()
    return env


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--peer", choices=PEERS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.worker])
        worker(args.peer, args.worker, args.reps, args.out)
        return

    import numpy as np

    sys.path.insert(0, ROOT)
    import fastgru

    out_dir = tempfile.mkdtemp(prefix="fastgru-bench-")
    timings = {}
    for threads in args.threads:
        timings[threads] = {}
        for peer in PEERS:
            done = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker",
                                   str(threads), "--peer", peer, "--reps", str(args.reps),
                                   "--out", out_dir],
                                  env=_pinned_env(threads), capture_output=True, text=True,
                                  check=False)
            if done.returncode != 0:
                sys.exit(f"bench worker ({peer}, {threads} threads) failed:\n{done.stderr}")
            timings[threads].update(json.loads(done.stdout.strip().splitlines()[-1]))

    print(f"fastgru {fastgru.__version__}: median of {args.reps} after warm-up, ms")
    header = (f"{'B x T x F -> U':>18s} {'thr':>3s} {'fastgru':>9s} {'numpy':>9s} {'keras':>9s} "
              f"{'numpy/fg':>9s} {'keras/fg':>9s} {'max |diff| np':>13s} {'max |diff| keras':>16s}")
    print(header)
    print("-" * len(header))
    for shape in SHAPES:
        key = "x".join(map(str, shape))
        label = f"{shape[0]}x{shape[1]}x{shape[2]}->{shape[3]}"
        for threads in args.threads:
            t = timings[threads]
            ms = {p: t.get(f"{key}/{p}", float("nan")) * 1e3 for p in PEERS}
            outs = {p: os.path.join(out_dir, f"{key}-{p}-t{threads}.npy") for p in PEERS}
            fg = np.load(outs["fastgru"]).astype(np.float64)
            diff = {p: (float(np.max(np.abs(np.load(outs[p]) - fg)))
                        if os.path.exists(outs[p]) else float("nan")) for p in ("numpy", "keras")}
            print(f"{label:>18s} {threads:>3d} {ms['fastgru']:>9.2f} {ms['numpy']:>9.2f} "
                  f"{ms['keras']:>9.2f} {ms['numpy'] / ms['fastgru']:>8.1f}x "
                  f"{ms['keras'] / ms['fastgru']:>8.1f}x {diff['numpy']:>13.2e} {diff['keras']:>16.2e}")
            if max(d for d in diff.values() if d == d) > 1e-4:
                sys.exit(f"outputs disagree for {label} at {threads} threads: {diff}")


if __name__ == "__main__":
    main()
