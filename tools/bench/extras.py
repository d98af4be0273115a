"""The measurements beyond the peer tables, each in a fresh process of its own started after
every peer worker has finished (`python -m tools.bench --measure NAME --threads N`), writing
<workdir>/extra_<NAME>_<N>[_<ARG>].json. The timed ones run once a round, the rounds in
alternating order, and each time counts at its fastest round:

  c_stream      src_c/build/fastgru_stream_bench (`make -C src_c examples`) on .fgru models of
                S1 and S2 converted from the peers' weights; S2 in bf16 too
  py_stream     model.stream(1).step(x, out=buf) in a bare loop on the same .fgru files (the
                Python call overhead is this minus the C step); S2 in bf16 too
  cold_start    fresh `python -c` processes: python alone, + numpy, + fastgru, and import + load
                a small .keras model + predict once; plus cold_start.py's breakdown
  memory        T2's shape at T=200 and T=800: peak RSS against weights + input + output
  threshold     1 vs N threads over tiny shapes, timed alternately in one process
  bf16_fastgru  T1 with fastgru.load(..., precision="bfloat16")
  bf16_openvino T1 on OpenVINO with its default precision (bf16 on AVX512_BF16 CPUs)
"""
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np

from .cold_start import bytecode_env
from .peers import OpenVinoPeer, PeerUnavailable
from .processes import REPO_ROOT, run_job
from .workloads import (describe, load_case, max_error, median_seconds, selected as workloads,
                        time_sequence, timing_plan)

STREAM_BENCH = os.path.join(REPO_ROOT, "src_c", "build", "fastgru_stream_bench")
DEMO_MODEL = os.path.join(REPO_ROOT, "fastgru", "data", "demo.keras")
BF16 = "bfloat16"

# What each group of --extras needs the driver to prepare: cases, and for some fastgru models
# (.keras saved by Keras, then converted to .fgru), of these workloads.
EXTRAS = {"c_stream": ("S1", "S2"), "py_stream": ("S1", "S2"), "cold_start": (),
          "memory": ("T2",), "threshold": (), "bf16": ("S2", "T1")}
MODEL_WORKLOADS = {"c_stream": ("S1", "S2"), "py_stream": ("S1", "S2"), "bf16": ("S2", "T1")}
MEMORY_STEPS = (200, 800)
# Measures timed again in every round (the fastest round counts, as for the peers); memory and
# cold start (15 processes of its own, medians) run in the first round only.
TIMED_EVERY_ROUND = ("c_stream", "py_stream", "threshold", "bf16_fastgru", "bf16_openvino")
TIME_FIELDS = {"seconds", "seconds_1", "seconds_n"}
# Tiny shapes (batch, T, input_dim, units): one stream-like step at batch 1 over units, then
# batches of S1's layer over T=16.
THRESHOLD_SWEEPS = {
    "B=1, T=1, in = units/4": [(1, 1, max(4, u // 4), u) for u in (8, 16, 32, 64, 128, 256, 512)],
    "in 16 -> 64, T=16": [(b, 16, 16, 64) for b in (1, 2, 4, 8, 16, 32, 64, 128)],
}
# The stream models timed in C and from Python: (workload, precision).
STREAM_MODELS = (("S1", "float32"), ("S2", "float32"), ("S2", BF16))


def selected(spec):
    """--extras: "all", "none" or a comma-separated subset of EXTRAS."""
    names = {"all": list(EXTRAS), "": list(EXTRAS), "none": []}.get(spec, spec.split(","))
    for name in names:
        if name not in EXTRAS:
            sys.exit(f"unknown extra {name!r}; expected all, none or some of {', '.join(EXTRAS)}")
    return names


def needed_workloads(extras):
    return {name for extra in extras for name in EXTRAS[extra]}


def needed_models(extras):
    return {name for extra in extras for name in MODEL_WORKLOADS.get(extra, ())}


# ---------------------------------------------------------------------------------------------
# Driver side: one process per measurement, after the peers.

def jobs(extras, threads):
    """(measure, thread count, argument) of every process to start, in order."""
    most = max(threads)
    out = [(m, n, None) for m in ("c_stream", "py_stream") if m in extras for n in threads]
    if "memory" in extras:
        out += [("memory", n, steps) for n in threads for steps in MEMORY_STEPS]
    if "threshold" in extras and most > 1:
        out.append(("threshold", most, None))
    if "bf16" in extras:
        out += [(m, n, None) for n in threads for m in ("bf16_fastgru", "bf16_openvino")]
    if "cold_start" in extras:
        out.append(("cold_start", most, None))
    return out


def result_path(workdir, measure, threads, arg):
    return os.path.join(workdir, f"extra_{measure}_{threads}" + (f"_{arg}" if arg else "")
                        + ".json")


def run_all(extras, threads, workdir, quick, timeout, notes, rounds=1):
    """Start every measurement's process in turn, the timed ones once a round (rounds in
    alternating order, like the peers'); returns their results, merged (merge_rounds)."""
    if "c_stream" in extras:
        done = subprocess.run(["make", "-C", os.path.join(REPO_ROOT, "src_c"), "examples"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            notes.append("c_stream: `make -C src_c examples` failed: "
                         + (done.stderr.strip().splitlines() or ["no message"])[-1])
    results, order = [], jobs(extras, threads)
    for round_no in range(1, rounds + 1):
        todo = [job for job in order if round_no == 1 or job[0] in TIMED_EVERY_ROUND]
        for measure, n, arg in (todo if round_no % 2 else todo[::-1]):
            argv = (["--measure", measure, "--threads", str(n), "--workdir", workdir]
                    + (["--arg", str(arg)] if arg else []) + (["--quick"] if quick else []))
            results.append(run_job(argv, n, result_path(workdir, measure, n, arg), timeout,
                                   notes, f"extra {measure}, {n} thread(s)"
                                   + (f", {arg}" if arg else ""), round_no))
    return merge_rounds([result for result in results if result])


def merge_rounds(results):
    """One result per (measure, threads, arg). Rows that agree on every field but their times
    and errors are one row: each time field its fastest round's (a round that caught a busy
    neighbour measures the neighbour), the error its largest; notes are kept once."""
    merged = {}
    for result in results:
        into = merged.setdefault((result["measure"], result["threads"], result["arg"]),
                                 {**result, "rows": [], "notes": []})
        into["notes"] += [n for n in result["notes"] if n not in into["notes"]]
        for row in result["rows"]:
            same = next((r for r in into["rows"] if _identity(r) == _identity(row)), None)
            if same is None:
                into["rows"].append(dict(row))
                continue
            for field in TIME_FIELDS & row.keys():
                same[field] = min(same[field], row[field])
            if "max_abs_err" in row:
                same["max_abs_err"] = max(same["max_abs_err"], row["max_abs_err"])
    return list(merged.values())


def _identity(row):
    return {k: v for k, v in row.items() if k not in TIME_FIELDS and k != "max_abs_err"}


# ---------------------------------------------------------------------------------------------
# Worker side: each measure fills ctx.result["rows"] (and "notes").

class Context:
    def __init__(self, measure, threads, workdir, arg, quick):
        self.workdir, self.threads, self.quick = workdir, threads, quick
        self.arg = int(arg) if arg else None
        self.plan = timing_plan(quick)
        self.result = {"measure": measure, "threads": threads, "arg": self.arg, "rows": [],
                       "notes": []}

    def workload(self, name):
        return workloads([name], self.quick)[0]

    def row(self, **fields):
        self.result["rows"].append(fields)
        print("  " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in fields.items()), flush=True)

    def note(self, text):
        self.result["notes"].append(text)

    def stream_models(self):
        """(workload, precision, .fgru path) of each stream model the driver saved."""
        models = []
        for name, precision in STREAM_MODELS:
            path = os.path.join(self.workdir, f"{name}.fgru")
            if os.path.exists(path):
                models.append((name, precision, path))
            else:
                self.note(f"{name} {precision}: no {path} (the models were not saved)")
        return models


def c_step_seconds(model, threads, steps, runs, precision):
    """Median over `runs` processes of fastgru_stream_bench's median step time, and its ISA."""
    medians, isa = [], None
    argv = [STREAM_BENCH, model, str(steps), str(threads)] + (
        [precision] if precision != "float32" else [])
    for _ in range(runs):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        found = re.search(r"isa (\S+),.* median ([0-9.]+) ns/step", done.stdout)
        if done.returncode != 0 or not found:
            raise RuntimeError(f"{' '.join(argv)}: {(done.stderr or done.stdout).strip()}")
        isa = found.group(1)
        medians.append(float(found.group(2)) * 1e-9)
    return statistics.median(medians), isa


def measure_c_stream(ctx):
    if not os.path.exists(STREAM_BENCH):
        ctx.note(f"skipped: no {os.path.relpath(STREAM_BENCH, REPO_ROOT)} (make -C src_c)")
        return
    steps, runs = (2000, 3) if ctx.quick else (20000, 7)
    for name, precision, path in ctx.stream_models():
        seconds, isa = c_step_seconds(path, ctx.threads, steps, runs, precision)
        ctx.row(workload=name, precision=precision, seconds=seconds, isa=isa, steps=steps,
                runs=runs)


def stream_error_and_seconds(model, case, reference, plan):
    """Check a fresh stream's first steps against the reference, then time a bare loop of
    stream.step(x, out=buf) calls carrying the state on (seconds per call)."""
    stream = model.stream(batch_size=1)
    out = np.empty((1, reference.shape[-1]), np.float32)
    xs = [np.ascontiguousarray(case["x"][:, t]) for t in range(case["x"].shape[1])]
    got = []
    for x_t in xs:
        stream.step(x_t, out=out)
        got.append(out[0].copy())
    error = max_error(np.stack(got), reference[0])
    # Many short repetitions (100 calls), median: like the C bench's median step, a figure a
    # preemption on a shared machine does not move (it is compared with that C step).
    calls = [xs[i % len(xs)] for i in range(100)]
    step = stream.step

    def run_calls():
        for x_t in calls:
            step(x_t, out=out)
    return error, median_seconds(run_calls, 10 * plan["repeats"], plan["warmup"]) / len(calls)


def measure_py_stream(ctx):
    import fastgru
    for name, precision, path in ctx.stream_models():
        model = fastgru.load(path, threads=ctx.threads, precision=precision)
        case, reference = load_case(ctx.workdir, ctx.workload(name))
        error, seconds = stream_error_and_seconds(model, case, reference, ctx.plan)
        ctx.row(workload=name, precision=precision, seconds=seconds, max_abs_err=error)


def measure_cold_start(ctx):
    """Fresh processes, interleaved so that a noisy moment hits every kind alike."""
    load = (f"import fastgru, numpy as np; m = fastgru.load({DEMO_MODEL!r}); "
            "m.predict(np.zeros((1, 8) + tuple(m.inputs[0].shape[2:]), np.float32))")
    snippets = {"python -c pass": "pass", "+ import numpy": "import numpy",
                "+ import fastgru": "import fastgru", "import, load .keras, predict once": load}
    times = {label: [] for label in snippets}
    runs = 5 if ctx.quick else 15
    env = bytecode_env()
    for run in range(runs + 1):   # run 0 fills the bytecode cache and is not counted
        for label, code in snippets.items():
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT,
                                  capture_output=True, text=True, env=env)
            if run:
                times[label].append(time.perf_counter() - start)
            if done.returncode != 0:
                raise RuntimeError(f"python -c {code!r} failed: {done.stderr.strip()}")
    for label, values in times.items():
        ctx.row(what=label, seconds=statistics.median(values), runs=len(values))
    done = subprocess.run([sys.executable, "-m", "tools.bench.cold_start", "-n", str(runs)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    ctx.result["cold_start_tool"] = {"returncode": done.returncode,
                                     "output": (done.stdout + done.stderr)[-4000:]}


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure_memory(ctx):
    """Peak RSS while fastgru runs T2's layer on T = ctx.arg steps."""
    import fastgru
    workload = ctx.workload("T2")
    case, _ = load_case(ctx.workdir, workload)
    weights = [case[k] for k in ("kernel", "recurrent_kernel", "bias")]
    del case
    x = np.random.default_rng(ctx.arg).random((workload.batch, ctx.arg, workload.input_dim),
                                               dtype=np.float32)
    x *= 2
    x -= 1  # in place: no temporary as big as x inflates the peak
    baseline = status_kib("VmRSS") * 1024
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # peak RSS (VmHWM) := current RSS, so it measures from here on
    except OSError as exc:
        ctx.note(f"cannot reset the peak RSS ({exc}): the peak counts from process start")
    start = time.perf_counter()
    layer = fastgru.GRU(workload.units, *weights, reset_after=True, return_sequences=True,
                        threads=ctx.threads)
    y = layer(x)
    seconds = time.perf_counter() - start
    ctx.row(steps=ctx.arg, peak_rss=status_kib("VmHWM") * 1024, baseline_rss=baseline,
            weights=sum(w.nbytes for w in weights), input=x.nbytes, output=y.nbytes,
            seconds=seconds)


def per_call_seconds(fns, repeats, target_seconds):
    """Seconds per call of each fn: the fastest of `repeats` rounds, timed alternately (the
    order flips each round) in batches of calls long enough to time. The fastest, not the
    median: a 2-thread call whose second thread another process holds waits at the barrier
    for a whole time slice, which says nothing about fastgru's own cost."""
    for fn in fns:
        fn()
    start = time.perf_counter()
    fns[0]()
    calls = max(3, math.ceil(target_seconds / max(time.perf_counter() - start, 1e-7)))
    times = [[] for _ in fns]
    for rnd in range(repeats):
        order = range(len(fns)) if rnd % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            start = time.perf_counter()
            for _ in range(calls):
                fns[i]()
            times[i].append((time.perf_counter() - start) / calls)
    return [min(t) for t in times]


def measure_threshold(ctx):
    import fastgru
    rng = np.random.default_rng(0)
    repeats, target = (3, 1e-3) if ctx.quick else (15, 4e-3)
    for sweep, shapes in THRESHOLD_SWEEPS.items():
        for batch, steps, n_in, units in shapes:
            weights = [rng.uniform(-0.3, 0.3, shape).astype(np.float32)
                       for shape in ((n_in, 3 * units), (units, 3 * units), (2, 3 * units))]
            x = rng.uniform(-1, 1, (batch, steps, n_in)).astype(np.float32)
            layers = [fastgru.GRU(units, *weights, return_sequences=True, threads=n)
                      for n in (1, ctx.threads)]
            one, many = per_call_seconds([lambda g=layer: g(x) for layer in layers], repeats,
                                         target)
            ctx.row(sweep=sweep, batch=batch, steps=steps, input_dim=n_in, units=units,
                    seconds_1=one, seconds_n=many,
                    same_output=bool(np.array_equal(layers[0](x), layers[1](x))))


def measure_bf16_fastgru(ctx):
    import fastgru
    workload = ctx.workload("T1")
    case, reference = load_case(ctx.workdir, workload)
    model = fastgru.load(os.path.join(ctx.workdir, "T1.fgru"), threads=ctx.threads,
                         precision=BF16)
    x = case["x"]
    error, seconds = time_sequence(lambda: model.predict(x), reference, ctx.plan)
    ctx.row(workload="T1", engine="fastgru", precision=getattr(model, "precision", BF16),
            seconds=seconds, max_abs_err=error)


def measure_bf16_openvino(ctx):
    peer = OpenVinoPeer(precision=None)
    peer.notes = ctx.result["notes"]
    try:
        version = peer.version()
    except PeerUnavailable as exc:
        ctx.note(f"skipped: {exc}")
        return
    peer.set_threads(ctx.threads)
    workload = ctx.workload("T1")
    case, reference = load_case(ctx.workdir, workload)
    run = peer.sequence_variants(workload, case)["infer_request"]
    error, seconds = time_sequence(run, reference, ctx.plan)
    ctx.row(workload="T1", engine=f"openvino {version['openvino'].split('-')[0]}",
            precision=peer.compiled_precision, seconds=seconds, max_abs_err=error)


MEASURES = {"c_stream": measure_c_stream, "py_stream": measure_py_stream,
            "cold_start": measure_cold_start, "memory": measure_memory,
            "threshold": measure_threshold, "bf16_fastgru": measure_bf16_fastgru,
            "bf16_openvino": measure_bf16_openvino}


def run_measure(measure, threads, workdir, arg, quick):
    """One measurement's process: its result file, with what it measured and what broke."""
    ctx = Context(measure, threads, workdir, arg, quick)
    try:
        MEASURES[measure](ctx)
    except Exception as exc:  # keep what was measured, say what broke
        ctx.note(f"failed: {describe(exc)}")
    with open(result_path(workdir, measure, threads, ctx.arg), "w") as f:
        json.dump(ctx.result, f, indent=1)
