"""Latency under load: default threads against threads=1 with 0, 1 and 2 CPU-bound competitors.

Run from the repository root (Keras 3 on jax builds the three models; about a minute):

    KERAS_BACKEND=jax python tools/bench_load.py [--seconds 2]

Workloads: (a) two small stacked GRUs, batch 4 x 12 steps; (b) GRU(64, sequences) -> GRU(32)
-> Dense, batch 8 x 50; (c) one GRU 64 -> 256, batch 64 x 20. Each is timed per call for at
least --seconds with default threads and as long with threads=1, the two calls interleaved,
while 0, 1 and 2 competitor processes spin in pure Python. Prints a markdown table of medians
and 99th percentiles with the targets: with competitors, default median <= 1.25x and p99 <= 2x
the 1-thread figures; without, default median <= 1.05x the 1-thread median. The machine's load
average is printed with each condition, since another process's load shows as a competitor.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")

WORKLOADS = {
    "(a) GRU(32, seq) -> GRU(32), batch 4 x 12":
        ((12, 8), [("gru", 32, True), ("gru", 32, False)], 4),
    "(b) GRU(64, seq) -> GRU(32) -> Dense(1), batch 8 x 50":
        ((50, 3), [("gru", 64, True), ("gru", 32, False), ("dense", 1)], 8),
    "(c) GRU 64 -> 256, batch 64 x 20": ((20, 64), [("gru", 256, True)], 64),
}
COMPETITOR = "while True: pass"


def build_model(shape, layers, path):
    """Saves a Keras model with seeded random weights to path."""
    import keras
    keras.utils.set_random_seed(1)
    x = inputs = keras.Input(shape)
    for kind, units, *seq in layers:
        x = (keras.layers.GRU(units, return_sequences=seq[0]) if kind == "gru"
             else keras.layers.Dense(units))(x)
    keras.Model(inputs, x).save(path)


def time_interleaved(fast_default, fast_one, x, seconds):
    """Per-call seconds of both models, calls alternating, until each has run `seconds`."""
    default, one = [], []
    for model in (fast_default, fast_one):   # warm up: pools started, pages touched
        for _ in range(20):
            model.predict(x)
    pairs = [(fast_default, default), (fast_one, one)]
    while sum(default) < seconds or sum(one) < seconds:
        pairs.reverse()   # each goes first as often: no order effect
        for model, times in pairs:
            t0 = time.perf_counter()
            model.predict(x)
            times.append(time.perf_counter() - t0)
    return np.array(default), np.array(one)


def verdict(competitors, d_med, d_p99, o_med, o_p99):
    """(target text, met) for one row."""
    if competitors:
        return "median <= 1.25x, p99 <= 2x", d_med <= 1.25 * o_med and d_p99 <= 2 * o_p99
    return "median <= 1.05x", d_med <= 1.05 * o_med


def us(seconds):
    return f"{seconds * 1e6:.0f} us" if seconds < 1e-2 else f"{seconds * 1e3:.1f} ms"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per thread setting")
    parser.add_argument("--competitors", default="0,1,2", help="competitor counts to run")
    args = parser.parse_args()
    import fastgru
    from fastgru import _core
    print(f"fastgru default threads: {_core.default_threads()}, cores: {os.cpu_count()}, "
          f"loadavg: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    models = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (shape, layers, batch) in WORKLOADS.items():
            path = os.path.join(tmp, f"{len(models)}.keras")
            build_model(shape, layers, path)
            x = np.random.default_rng(0).standard_normal((batch,) + shape).astype(np.float32)
            models[name] = (fastgru.load(path), fastgru.load(path, threads=1), x)
    rows = []
    for competitors in [int(c) for c in args.competitors.split(",")]:
        procs = [subprocess.Popen([sys.executable, "-c", COMPETITOR]) for _ in range(competitors)]
        try:
            time.sleep(0.5)
            load = os.getloadavg()[0]
            for name, (fast_default, fast_one, x) in models.items():
                d, o = time_interleaved(fast_default, fast_one, x, args.seconds)
                figures = (np.median(d), np.percentile(d, 99), np.median(o), np.percentile(o, 99))
                target, met = verdict(competitors, *figures)
                rows.append((name, competitors, load, *figures, target, met))
                print(f"{name}, {competitors} competitors: done", file=sys.stderr)
        finally:
            for p in procs:
                p.kill()
                p.wait()
    print("| workload | competitors (loadavg) | default median / p99 | threads=1 median / p99 "
          "| ratio median / p99 | target | met |")
    print("|---|---|---|---|---|---|---|")
    for name, comp, load, d_med, d_p99, o_med, o_p99, target, met in rows:
        print(f"| {name} | {comp} ({load:.2f}) | {us(d_med)} / {us(d_p99)} | {us(o_med)} / "
              f"{us(o_p99)} | {d_med / o_med:.2f} / {d_p99 / o_p99:.2f} | {target} | "
              f"{'met' if met else 'NOT met'} |")


if __name__ == "__main__":
    main()
