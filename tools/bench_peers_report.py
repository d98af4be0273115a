"""Turn the workers' results into BENCHMARKS.md (tables of time, GFLOP/s, % of sgemm peak)."""
import datetime
import os
import platform
import statistics
import subprocess

import numpy as np


def _cpu_description():
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    return f"{model}, {os.cpu_count()} logical cores, {' '.join(isa) or 'no AVX2'}"


def _blas_name():
    try:
        return np.__config__.CONFIG["Build Dependencies"]["blas"]["name"]
    except (AttributeError, KeyError, TypeError):
        return "unknown BLAS"


def _git_revision(repo_root):
    """The fastgru commit measured, marked when the working tree differs from it."""
    def git(*args):
        return subprocess.run(["git", "-C", repo_root] + list(args), capture_output=True,
                              text=True).stdout.strip()
    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except OSError:
        return "unknown commit"
    return (commit or "unknown commit") + (" with uncommitted changes" if dirty else "")


def sgemm_by_threads(results):
    """Median over this run's worker processes of numpy's 2048^3 float32 matmul rate."""
    by_threads = {}
    for result in results:
        if "sgemm_gflops" in result:
            by_threads.setdefault(result["threads"], []).append(result["sgemm_gflops"])
    return {n: statistics.median(values) for n, values in by_threads.items()}


def best_rows(results, workload, threads):
    """{peer: its fastest verified row} for one workload and thread count."""
    best = {}
    for result in results:
        if result["threads"] != threads:
            continue
        rows = [r for r in result["rows"] if r["workload"] == workload.name and r["verified"]]
        if rows:
            best[result["peer"]] = min(rows, key=lambda r: r["seconds"])
    return best


def _time(workload, seconds):
    return f"{seconds * 1e6:.1f} µs" if workload.stream else f"{seconds * 1e3:.2f} ms"


def _gflops(workload, seconds):
    return workload.flops_per_call() / seconds / 1e9


def render_summary(results, workloads, threads):
    lines = ["| workload | threads | fastgru | best peer | fastgru speed ÷ best peer |",
             "| --- | ---: | ---: | --- | ---: |"]
    for workload in workloads:
        for n in threads:
            best = best_rows(results, workload, n)
            ours = best.pop("fastgru", None)
            peer = min(best, key=lambda p: best[p]["seconds"]) if best else None
            ours_text = _time(workload, ours["seconds"]) if ours else "—"
            peer_text = (f"{peer} ({best[peer]['variant']}): "
                         f"{_time(workload, best[peer]['seconds'])}" if peer else "—")
            ratio = (f"{best[peer]['seconds'] / ours['seconds']:.2f}×" if ours and peer else "—")
            lines.append(f"| {workload.name} | {n} | {ours_text} | {peer_text} | {ratio} |")
    return "\n".join(lines)


def _workload_section(results, workload, threads, peak):
    checked = (f"one timestep a call; the first {workload.steps} calls are checked"
               if workload.stream else f"T = {workload.steps} timesteps a call")
    lines = [f"### {workload.name}: {workload.description}", "",
             f"{workload.flops_per_call() / 1e6:.3f} MFLOP per call ({checked}).", "",
             "| peer | threads | way it ran | time per call | GFLOP/s | % of sgemm peak "
             "| max abs err |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    for n in threads:
        best = best_rows(results, workload, n)
        for peer, row in sorted(best.items(), key=lambda item: item[1]["seconds"]):
            gflops = _gflops(workload, row["seconds"])
            share = f"{100 * gflops / peak[n]:.1f} %" if n in peak else "—"
            lines.append(f"| {peer} | {n} | {row['variant']} | {_time(workload, row['seconds'])} "
                         f"| {gflops:.2f} | {share} | {row['max_abs_err']:.1e} |")
    return lines


def _all_variants(results, workloads):
    lines = ["| workload | peer | threads | way it ran | time per call | each round | max abs err "
             "| verified |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | --- |"]
    order = {w.name: i for i, w in enumerate(workloads)}
    rows = [(result, row) for result in results for row in result["rows"]]
    rows.sort(key=lambda item: (order[item[1]["workload"]], item[0]["peer"], item[0]["threads"],
                                item[1]["seconds"]))
    by_name = {w.name: w for w in workloads}
    for result, row in rows:
        workload = by_name[row["workload"]]
        verified = "yes" if row["verified"] else "NO: wrong output, not used"
        lines.append(f"| {workload.name} | {result['peer']} | {result['threads']} | "
                     f"{row['variant']} | {_time(workload, row['seconds'])} | "
                     + " / ".join(_time(workload, s) for s in row.get("round_seconds", ()))
                     + f" | {row['max_abs_err']:.1e} | {verified} |")
    return lines


def render(results, workloads, threads, command, driver_notes, quick, tolerance, repo_root,
           rounds, targets=(), extra_sections=()):
    """The whole page; `targets` (issue 7's table) and `extra_sections` are markdown lines
    from tools/bench_extras_report.py."""
    peak = sgemm_by_threads(results)
    versions = {}
    for result in results:
        versions.update(result["versions"])
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# fastgru against other CPU GRU engines", ""]
    if quick:
        lines += ["> **--quick run: fewer repetitions and a quarter of the timesteps, for "
                  "debugging the script; not figures to quote.**", ""]
    lines += [f"Generated {now} by `tools/bench_peers.py`. Reproduce with (the peers live in "
              "their own venv; fastgru is built in place, never pip-installed):", "",
              "    python -m venv /opt/benchenv",
              "    /opt/benchenv/bin/pip install -r tools/requirements-bench.txt",
              "    /opt/benchenv/bin/python setup.py build_ext --inplace",
              f"    {command}", "",
              f"- fastgru: {_git_revision(repo_root)}.",
              f"- Machine: {_cpu_description()}; Python {platform.python_version()}, numpy "
              f"{np.__version__} ({_blas_name()}).",
              "- Versions: " + (", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
                                or "none ran") + ".",
              "- sgemm peak (numpy float32 2048³ matmul, median over this run's worker "
              "processes): " + (", ".join(f"{n} thread(s) {peak[n]:.1f} GFLOP/s"
                                          for n in sorted(peak)) or "not measured") + ".",
              "",
              "How it measures:", "",
              "- One process per (engine, thread count), with the OMP / MKL / OpenBLAS / TF "
              "thread variables set before the engine starts and the engine's own setting: "
              "torch.set_num_threads, tf.config.threading, onnxruntime intra_op_num_threads, "
              "OpenVINO INFERENCE_NUM_THREADS (with INFERENCE_PRECISION_HINT=f32, checked after "
              "compiling: this CPU's default is bf16), fastgru threads=.",
              "- fp32 throughout. Every engine gets the same Keras-layout weights "
              "(reset_after=True, gates z, r, h) converted to its own layout, the same "
              "batch-major input, and returns every timestep's output (the ONNX models "
              "transpose to and from time-major inside the graph).",
              f"- An output counts only if it is within {tolerance:.0e} (max abs) of a float64 "
              "numpy re-derivation of Keras' GRU equations; Keras' own output is held to the "
              "same check, which ties the reference to Keras.",
              f"- Every (engine, thread count) process ran {rounds} time(s), the rounds in "
              "alternating order (the second walks the engines backwards); each figure is the "
              "fastest round's, and the last table lists every round's. The timed "
              "measurements of tools/bench_extras.py run once a round too.",
              "- Times are medians of the timed repetitions after warm-up. Streams (S1, S2) "
              "make one Python call per timestep with the state carried between calls, and are "
              "timed over whole runs of calls, divided by the count; each engine's input "
              "steps are converted to its own array type before timing.",
              "- An engine with several ways to run (Keras: predict, eager, tf.function, "
              "tf.function with XLA, GRUCell; torch: nn.GRU, nn.GRUCell; OpenVINO: state fed "
              "back or kept in the request; fastgru: stateful layer, model stream) is shown in "
              "its fastest verified way; all are listed at the end. Keras streams skip "
              "predict() and eager calls (~0.1 s and ~20 ms a step, 100× tf.function).",
              "- GFLOP/s counts the two matrix products only: 2·B·3·units·(in + units) per "
              "timestep. % of sgemm peak compares that with numpy's float32 matmul at the "
              "same thread count in the same run.",
              "- The issue 7 targets table and the sections after the per-workload tables (C "
              "streaming, Python call overhead, cold start, memory, small problems, bf16) come "
              "from tools/bench_extras.py: one fresh process per measurement, started after "
              "every peer worker has finished.", "",
              "## Summary", "", render_summary(results, workloads, threads), "",
              "Speed ratio > 1: fastgru is faster than the best peer.", ""]
    if targets:
        lines += ["## Issue 7 targets", ""] + list(targets) + [""]
    lines += ["## Per workload", ""]
    for workload in workloads:
        lines += _workload_section(results, workload, threads, peak) + [""]
    lines += list(extra_sections)
    lines += ["## Every way each engine ran", ""] + _all_variants(results, workloads) + [""]
    notes = driver_notes + [f"{r['peer']}, {r['threads']} thread(s): {note}"
                            for r in results for note in r["notes"]]
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(lines)
