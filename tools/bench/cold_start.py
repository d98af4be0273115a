"""Cold start: a fresh Python process that imports fastgru, loads a small .keras model and
predicts once. Prints the median over N fresh processes of each phase (python startup,
import numpy, import fastgru, load, first predict), of the whole process' wall time and of
its CPU time (user + system, its own children included: steadier on a busy machine).

    python -m tools.bench.cold_start [-n 10] [--model fastgru/data/demo.keras]

The target: the whole process in <= 0.15 s wall.

Compiled bytecode is kept (in a temporary PYTHONPYCACHEPREFIX, filled by one uncounted
warm-up run) as an installed fastgru has it, even where PYTHONDONTWRITEBYTECODE is set.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Runs in the fresh process; the phases are timed from inside it with perf_counter_ns.
CHILD = r"""
import time
t0 = time.perf_counter()
import numpy as np
t1 = time.perf_counter()
import fastgru
t2 = time.perf_counter()
m = fastgru.load(MODEL)
t3 = time.perf_counter()
shape = [(1,) + tuple(4 if d is None else d for d in t.shape[1:]) for t in m.inputs]
xs = [np.zeros(s, np.float32) for s in shape]
m.predict(xs if len(xs) > 1 else xs[0])
t4 = time.perf_counter()
import json, sys
sys.stdout.write(json.dumps([t1 - t0, t2 - t1, t3 - t2, t4 - t3]))
"""
PHASES = ("import numpy", "import fastgru", "load", "predict")


def bytecode_env():
    """os.environ for fresh processes that keep compiled bytecode, in a fresh temporary
    PYTHONPYCACHEPREFIX (even where PYTHONDONTWRITEBYTECODE is set), as an installed package
    has it; the first run fills the cache."""
    env = dict(os.environ, PYTHONPYCACHEPREFIX=tempfile.mkdtemp(prefix="fastgru-cold-start-"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def one_run(model, root, env):
    code = "MODEL = %r\n" % model + CHILD
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         check=True, env=env).stdout
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    phases = json.loads(out)
    return {"wall": wall, "cpu": cpu, "python startup": wall - sum(phases),
            **dict(zip(PHASES, phases))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10, help="fresh processes (default 10)")
    ap.add_argument("--model", default=os.path.join("fastgru", "data", "demo.keras"))
    ap.add_argument("--root", default=ROOT, help="the fastgru checkout to time (default: this one)")
    args = ap.parse_args(argv)
    env = bytecode_env()
    one_run(args.model, args.root, env)
    runs = [one_run(args.model, args.root, env) for _ in range(args.n)]
    print(f"cold start of {args.model}, median of {args.n} fresh processes:")
    for key in ("python startup",) + PHASES + ("wall", "cpu"):
        values = [r[key] * 1000 for r in runs]
        print(f"  {key:15s} {statistics.median(values):7.1f} ms  "
              f"(min {min(values):.1f}, max {max(values):.1f})")


if __name__ == "__main__":
    main()
