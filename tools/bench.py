"""Time fastgru.GRU against the numpy reference loop (tests/reference_gru.py) and Keras 3 (jax
backend, jit-compiled), at 1 and 2 threads, and check that all of them give the same outputs.

    python tools/bench.py [--reps 7] [--threads 1 2]
    python tools/bench.py --stream [--reps 7] [--threads 1 2]

--stream times issue 7's streaming workloads instead (S1: 16 -> 64, S2: 64 -> 256, batch 1):
``model.stream(1).step(x, out=buf)`` from Python over --calls calls per repetition, checked
against the numpy reference, and the same model's C step (examples/c/fastgru_stream_bench,
when `make -C src_c` has built it); the difference is what the Python call costs.

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
STREAM_SHAPES = [(16, 64), (64, 256)]   # (input_dim, units), batch 1
CHUNK = 50                              # stream steps per timed chunk
STREAM_BENCH = os.path.join(ROOT, "src_c", "build", "fastgru_stream_bench")


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


def _stream_model(input_dim, units):
    """A one-GRU model image with seeded weights, and those weights in Keras layout."""
    from fastgru.format import pack_model
    from model_cases import SpecBuilder

    s = SpecBuilder(f"s{input_dim}x{units}")
    y = s.gru("gru", s.input("x", (None, input_dim)), units)
    spec = s.spec([y])
    return pack_model(spec), [w for _, w in spec.layers[-1].weights]


def stream_worker(threads, reps, calls):
    """Time one Python stream step per shape with `threads` threads; print the timings."""
    import numpy as np

    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from fastgru.model import Model
    from reference_gru import gru_reference

    results = {}
    for input_dim, units in STREAM_SHAPES:
        image, weights = _stream_model(input_dim, units)
        xs = np.random.default_rng(0).normal(size=(1, 16, input_dim)).astype(np.float32)
        stream = Model(image, threads=threads).stream(1)
        out = np.empty((1, units), np.float32)
        for t in range(xs.shape[1]):
            stream.step(xs[:, t], out=out)
        diff = float(np.max(np.abs(out - gru_reference(xs, *weights)[0])))
        if diff > 1e-5:
            sys.exit(f"stream {input_dim}->{units}: differs from numpy by {diff:.2e}")
        x, step = np.ascontiguousarray(xs[:, 0]), stream.step
        for _ in range(calls // 4):
            step(x, out=out)
        # timed in chunks of CHUNK calls: the median chunk, like the C program's median step,
        # leaves out the chunks another process preempted; the loop mean keeps them
        loops, chunks, n = [], [], max(calls // CHUNK, 1)
        for _ in range(reps):
            for _ in range(n):
                start = time.perf_counter()
                for _ in range(CHUNK):
                    step(x, out=out)
                chunks.append((time.perf_counter() - start) / CHUNK)
            loops.append(sum(chunks[-n:]) / n)
        loops.sort()
        chunks.sort()
        results[f"{input_dim}->{units}"] = {"python": chunks[len(chunks) // 2],
                                            "loop": loops[len(loops) // 2],
                                            "c": _c_stream_seconds(image, threads, reps, calls),
                                            "diff": diff}
    print(json.dumps(results))


def _c_stream_seconds(image, threads, reps, calls):
    """Median of `reps` fastgru_stream_bench medians (s per step), NaN when it is not built."""
    if not os.path.exists(STREAM_BENCH):
        return float("nan")
    with tempfile.NamedTemporaryFile(suffix=".fgru") as f:
        f.write(image)
        f.flush()
        medians = []
        for _ in range(reps):
            done = subprocess.run([STREAM_BENCH, f.name, str(calls), str(threads)],
                                  capture_output=True, text=True, check=True)
            medians.append(float(done.stdout.split("median ")[1].split()[0]) * 1e-9)
    medians.sort()
    return medians[len(medians) // 2]


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
    parser.add_argument("--stream", action="store_true",
                        help="time the S1 / S2 streaming steps (Python and C) instead")
    parser.add_argument("--calls", type=int, default=2000,
                        help="stream steps per timed repetition (--stream)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--peer", choices=PEERS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.worker])
        if args.stream:
            stream_worker(args.worker, args.reps, args.calls)
        else:
            worker(args.peer, args.worker, args.reps, args.out)
        return
    if args.stream:
        stream_main(args)
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


def stream_main(args):
    sys.path.insert(0, ROOT)
    import fastgru

    print(f"fastgru {fastgru.__version__}: stream step, batch 1, {args.reps} x {args.calls} "
          f"calls, us per step. python: median {CHUNK}-call chunk; loop: median of the "
          f"{args.reps} loop means (counts preemption); C: median step; call = python - C")
    header = (f"{'F -> U':>10s} {'thr':>3s} {'python':>8s} {'loop':>8s} {'C':>8s} {'call':>8s} "
              f"{'max |diff|':>10s}")
    print(header)
    print("-" * len(header))
    for threads in args.threads:
        done = subprocess.run([sys.executable, os.path.abspath(__file__), "--stream", "--worker",
                               str(threads), "--reps", str(args.reps), "--calls", str(args.calls)],
                              env=_pinned_env(threads), capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            sys.exit(f"stream worker ({threads} threads) failed:\n{done.stderr}")
        for shape, r in json.loads(done.stdout.strip().splitlines()[-1]).items():
            py, loop, c = r["python"] * 1e6, r["loop"] * 1e6, r["c"] * 1e6
            print(f"{shape:>10s} {threads:>3d} {py:>8.2f} {loop:>8.2f} {c:>8.2f} {py - c:>8.2f} "
                  f"{r['diff']:>10.2e}")


if __name__ == "__main__":
    main()
