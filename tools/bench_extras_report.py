"""BENCHMARKS.md's issue-7 targets table and the sections of tools/bench_extras.py's
measurements (C streaming, Python call overhead, cold start, memory, small problems, bf16)."""
from collections import namedtuple

from bench_peers_report import best_rows, sgemm_by_threads
from bench_target_gaps import GAPS

MIB = 1024 * 1024
# "The Python call itself must cost well under a microsecond": read as at most half of one.
CALL_OVERHEAD_LIMIT = 0.5e-6
# Memory bounded independently of T: 4x the timesteps may add at most this to the scratch.
SCRATCH_SLACK_FRACTION, SCRATCH_SLACK_BYTES = 0.10, 1 * MIB
# Small problems: N threads count as "not slower" within this noise margin, "paying" from
# this speed-up on.
NOT_SLOWER, PAYS = 1.05, 1.10
BF16_ERROR_LIMIT = 2e-2  # a sanity bound on bf16 results; the error itself is reported

# One row of the targets table. met: True / False / None (not measured); key: the target's
# entry in bench_target_gaps.GAPS; gap: how far a missed target is, in words.
Target = namedtuple("Target", "label wanted measured met key gap", defaults=(None, None))


def _us(seconds):
    return f"{seconds * 1e6:.2f} µs"


def _ms(seconds):
    return f"{seconds * 1e3:.2f} ms"


def _mib(nbytes):
    return f"{nbytes / MIB:.1f} MiB"


def _rows(extras, measure, threads=None, **match):
    """Rows of one measure (at one thread count), filtered on their fields."""
    return [row for result in extras if result["measure"] == measure
            and threads in (None, result["threads"])
            for row in result["rows"] if all(row.get(k) == v for k, v in match.items())]


def _one(extras, measure, threads=None, **match):
    rows = _rows(extras, measure, threads, **match)
    return rows[0] if rows else None


def _workload(workloads, name):
    return next((w for w in workloads if w.name == name), None)


def _fastgru_and_best_peer(results, workload, threads):
    best = best_rows(results, workload, threads)
    ours = best.pop("fastgru", None)
    if not ours or not best:
        return None, None, None
    peer = min(best, key=lambda p: best[p]["seconds"])
    return ours, peer, best[peer]


def _time(workload, seconds):
    return _us(seconds) if workload.stream else _ms(seconds)


def _speed_target(results, workloads, name, threads, factor):
    label = (f"{name} {'≥' if factor > 1 else 'at least as fast as'} "
             + (f"{factor:.2f}× " if factor > 1 else "") + f"the fastest peer, {threads} thread(s)")
    target = f"≥ {factor:.2f}×"
    workload = _workload(workloads, name)
    ours, peer, theirs = _fastgru_and_best_peer(results, workload, threads) if workload else \
        (None, None, None)
    key = ("speed", name, threads)
    if not ours:
        return Target(label, target, "not measured", None, key)
    ratio = theirs["seconds"] / ours["seconds"]
    wanted = theirs["seconds"] / factor
    gap = (f"fastgru would need {_time(workload, wanted)}, "
           f"{1 - wanted / ours['seconds']:.1%} less time")
    return Target(label, target, f"{ratio:.2f}× (fastgru {_time(workload, ours['seconds'])}, "
                  f"{peer} {_time(workload, theirs['seconds'])})", ratio >= factor, key, gap)


def _sgemm_target(results, workloads, name, threads, share):
    label, target = f"{name} ≥ {share:.0%} of sgemm GFLOP/s, {threads} thread(s)", f"≥ {share:.0%}"
    workload, peak = _workload(workloads, name), sgemm_by_threads(results).get(threads)
    ours = best_rows(results, workload, threads).get("fastgru") if workload else None
    if not ours or not peak:
        return Target(label, target, "not measured", None)
    gflops = workload.flops_per_call() / ours["seconds"] / 1e9
    return Target(label, target, f"{gflops / peak:.1%} ({gflops:.1f} of {peak:.1f} GFLOP/s)",
                  gflops / peak >= share)


def _fp32_error_target(results):
    label, target = "fastgru fp32 max abs error vs the reference, every workload", "≤ 1e-5"
    rows = [(row["max_abs_err"], row["workload"]) for result in results
            if result["peer"] == "fastgru" for row in result["rows"]]
    if not rows:
        return Target(label, target, "not measured", None)
    error, workload = max(rows)
    return Target(label, target, f"{error:.1e} (largest: {workload})", error <= 1e-5)


def _c_stream_target(extras, name, threads, limit, precision="float32"):
    tag = " bf16" if precision != "float32" else ""
    label = f"C stream{tag} {name} (fastgru_stream_bench), {threads} thread(s)"
    row = _one(extras, "c_stream", threads, workload=name, precision=precision)
    key = ("c_stream", name, threads, precision)
    if not row:
        return Target(label, f"≤ {_us(limit)}", "not measured", None, key)
    gap = f"{_us(row['seconds'] - limit)} over, {row['seconds'] / limit - 1:.1%} more time"
    return Target(label, f"≤ {_us(limit)}", _us(row["seconds"]), row["seconds"] <= limit, key,
                  gap)


def call_overhead(extras, name, threads):
    """(Python bare-loop step, C step) of an fp32 stream, or None where either is missing."""
    py = _one(extras, "py_stream", threads, workload=name, precision="float32")
    c = _one(extras, "c_stream", threads, workload=name, precision="float32")
    return (py["seconds"], c["seconds"]) if py and c else None


def _overhead_target(extras, threads):
    label = f"Python call overhead: S1 stream.step(x, out=) − C step, {threads} thread(s)"
    target = f"well under 1 µs (≤ {_us(CALL_OVERHEAD_LIMIT)})"
    pair = call_overhead(extras, "S1", threads)
    if not pair:
        return Target(label, target, "not measured", None)
    py, c = pair
    return Target(label, target, f"{_us(py - c)} ({_us(py)} − {_us(c)})",
                  py - c <= CALL_OVERHEAD_LIMIT)


def _cold_start_target(extras):
    label, target = "cold start: fresh python -c, import + load .keras + predict once", "≤ 0.15 s"
    row = _one(extras, "cold_start", what="import, load .keras, predict once")
    if not row:
        return Target(label, target, "not measured", None)
    return Target(label, target, f"{row['seconds']:.3f} s (median of {row['runs']})",
                  row["seconds"] <= 0.15)


def scratch_bytes(row):
    """Peak RSS above the process before the layer, less fastgru's packed copy of the weights
    (taken as big as Keras' own) and the output array: what the run itself needed."""
    return row["peak_rss"] - row["baseline_rss"] - row["weights"] - row["output"]


def _memory_target(extras, threads):
    label = f"memory: T2 scratch independent of T (T=200 vs T=800), {threads} thread(s)"
    target = f"T=800 ≤ T=200 + {SCRATCH_SLACK_FRACTION:.0%} + {_mib(SCRATCH_SLACK_BYTES)}"
    by_steps = {row["steps"]: row for row in _rows(extras, "memory", threads)}
    if not all(steps in by_steps for steps in (200, 800)):
        return Target(label, target, "not measured", None)
    short, long = (scratch_bytes(by_steps[s]) for s in (200, 800))
    return Target(label, target, f"{_mib(short)} → {_mib(long)}",
                  long <= short * (1 + SCRATCH_SLACK_FRACTION) + SCRATCH_SLACK_BYTES)


def threshold_summary(rows):
    """(first shape index from which N threads pay and keep paying, or None; worst N/1 time
    ratio over the shapes before it)."""
    ratios = [row["seconds_n"] / row["seconds_1"] for row in rows]
    start = len(ratios)
    while start > 0 and ratios[start - 1] <= 1 / PAYS:
        start -= 1
    before = ratios[:start]
    return (start if start < len(ratios) else None), (max(before) if before else None)


def _shape(row):
    return f"B={row['batch']}, T={row['steps']}, {row['input_dim']}→{row['units']}"


def _threshold_target(extras):
    result = next((r for r in extras if r["measure"] == "threshold"), None)
    n = result["threads"] if result else 2
    label = f"small problems: {n} threads never slower than 1 (tiny shapes)"
    target = f"≤ {NOT_SLOWER:.2f}× the 1-thread time"
    rows = result["rows"] if result else []
    if not rows:
        return Target(label, target, "not measured", None)
    worst = max(rows, key=lambda row: row["seconds_n"] / row["seconds_1"])
    ratio = worst["seconds_n"] / worst["seconds_1"]
    sweeps = {}
    for row in rows:
        sweeps.setdefault(row["sweep"], []).append(row)
    pays = []
    for name, sweep in sweeps.items():
        start = threshold_summary(sweep)[0]
        pays.append(f"{name}: " + (_shape(sweep[start]) if start is not None else "never"))
    return Target(label, target, f"worst {ratio:.2f}× ({_shape(worst)}); {n} threads pay "
                  "from " + "; ".join(pays), ratio <= NOT_SLOWER)


def _bf16_t1_target(extras, threads):
    label = f"bf16 T1 faster than OpenVINO's default (bf16), {threads} thread(s)"
    ours = _one(extras, "bf16_fastgru", threads, workload="T1")
    theirs = _one(extras, "bf16_openvino", threads, workload="T1")
    target = f"faster; error ≤ {BF16_ERROR_LIMIT:.0e}"
    if not ours or not theirs:
        return Target(label, target, "not measured", None)
    return Target(label, target,
                  f"{theirs['seconds'] / ours['seconds']:.2f}× (fastgru {_ms(ours['seconds'])}, "
                  f"err {ours['max_abs_err']:.1e}; OpenVINO {theirs['precision']} "
                  f"{_ms(theirs['seconds'])}, err {theirs['max_abs_err']:.1e})",
                  ours["seconds"] < theirs["seconds"]
                  and ours["max_abs_err"] <= BF16_ERROR_LIMIT)


def target_rows(results, extras, workloads):
    """Issue 7's targets table, one Target each."""
    rows = [_speed_target(results, workloads, name, n, factor) for name, n, factor in (
        ("T1", 1, 1.10), ("T1", 2, 1.10), ("T2", 1, 1.0), ("T2", 2, 1.0), ("L1", 1, 1.15),
        ("L1", 2, 1.6), ("S1", 1, 5.0), ("S1", 2, 5.0), ("S2", 1, 2.2), ("S2", 2, 3.5))]
    rows += [_sgemm_target(results, workloads, name, n, 0.90)
             for name in ("T1", "T2") for n in (1, 2)]
    rows.append(_fp32_error_target(results))
    rows += [_overhead_target(extras, n) for n in (1, 2)]
    rows += [_c_stream_target(extras, name, n, limit) for name, n, limit in (
        ("S1", 1, 0.60e-6), ("S1", 2, 0.35e-6), ("S2", 1, 11e-6), ("S2", 2, 5.0e-6))]
    rows.append(_cold_start_target(extras))
    rows += [_memory_target(extras, n) for n in (1, 2)]
    rows.append(_threshold_target(extras))
    rows += [_c_stream_target(extras, "S2", n, limit, precision="bfloat16")
             for n, limit in ((1, 5.0e-6), (2, 2.7e-6))]
    rows += [_bf16_t1_target(extras, n) for n in (1, 2)]
    return rows


def render_targets(results, extras, workloads):
    rows = target_rows(results, extras, workloads)
    met = sum(1 for row in rows if row.met)
    missed = sum(1 for row in rows if row.met is False)
    lines = ["| target | wanted | measured | met |", "| --- | --- | --- | --- |"]
    lines += [f"| {row.label} | {row.wanted} | {row.measured} | "
              f"{'yes' if row.met else 'not measured' if row.met is None else '**no**'} |"
              for row in rows]
    unmeasured = len(rows) - met - missed
    lines += ["", f"{met} met, {missed} missed, {unmeasured} not measured"
              + (" (the notes say why)." if unmeasured else ".")]
    if missed:
        lines += [""] + _missed_section(row for row in rows if row.met is False)
    return lines


def _missed_section(rows):
    """Per missed target: its gap in this run, then what limits it and what was tried
    (tools/bench_target_gaps.py, the record of the measurements behind them)."""
    lines = ["### Targets missed in this run: the gap, what limits it, what was tried", ""]
    for row in rows:
        entry = GAPS.get(row.key)
        lines += [f"**{row.label}** — wanted {row.wanted}, measured {row.measured}"
                  + (f"; {row.gap}" if row.gap else "") + ".", ""]
        if entry is None:
            lines += ["- No analysis is recorded for this target in tools/bench_target_gaps.py.",
                      ""]
            continue
        lines += [f"- Limit: {entry['limit']}", f"- Tried: {entry['tried']}", ""]
    return lines


# ---------------------------------------------------------------------------------------------
# Sections

def _c_stream_section(extras):
    rows = [(result["threads"], row) for result in extras if result["measure"] == "c_stream"
            for row in result["rows"]]
    lines = ["## C streaming (fastgru_stream_bench)", "",
             "`src_c/build/fastgru_stream_bench MODEL.fgru STEPS THREADS` (built by "
             "`make -C src_c`) on .fgru files converted from the S1 / S2 weights above: batch 1, "
             "one model step per call, no Python. Each run prints the median step of STEPS "
             "timed steps; the figure is the median over the runs (of the fastest round, "
             "with several rounds).", "",
             "| model | precision | threads | ISA | time per step | runs × steps |",
             "| --- | --- | ---: | --- | ---: | ---: |"]
    lines += [f"| {row['workload']} | {row['precision']} | {n} | {row['isa']} | "
              f"{_us(row['seconds'])} | {row['runs']} × {row['steps']} |"
              for n, row in sorted(rows, key=lambda item: (item[1]["workload"],
                                                          item[1]["precision"], item[0]))]
    return lines


def _overhead_section(results, extras, workloads):
    lines = ["## Python call overhead", "",
             "`step = model.stream(1).step; step(x, out=buf)` in a bare loop (the median of "
             "many 100-call runs) on the same .fgru file as the C bench (its first steps checked "
             "against the reference), less the C step: what the Python call itself costs. \"Peer table\" is the stream figure of "
             "the tables above, whose loop calls a small closure per step like every peer's.", "",
             "| model | threads | Python step | peer table | C step | Python − C |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in ("S1", "S2"):
        workload = _workload(workloads, name)
        for n in sorted({r["threads"] for r in extras if r["measure"] == "py_stream"}):
            pair = call_overhead(extras, name, n)
            if not pair:
                continue
            table = best_rows(results, workload, n).get("fastgru") if workload else None
            lines.append(f"| {name} | {n} | {_us(pair[0])} | "
                         f"{_us(table['seconds']) if table else '—'} | {_us(pair[1])} | "
                         f"{_us(pair[0] - pair[1])} |")
    return lines


def _cold_start_section(extras):
    result = next((r for r in extras if r["measure"] == "cold_start"), None)
    lines = ["## Cold start", "",
             "Wall time of fresh `python -c` processes (this interpreter), interleaved, median "
             "of each, with compiled bytecode kept as an installed package has it (a temporary "
             "PYTHONPYCACHEPREFIX filled by one uncounted run); the model is fastgru's demo "
             "(`fastgru/data/demo.keras`), predicted on "
             "(1, 8, features) zeros.", ""]
    if not result:
        return lines + ["Not measured."]
    lines += ["| process | median wall time |", "| --- | ---: |"]
    lines += [f"| {row['what']} | {row['seconds']:.3f} s |" for row in result["rows"]]
    tool = result.get("cold_start_tool")
    if tool:
        lines += ["", f"`tools/cold_start.py` (exit status {tool['returncode']}):", "",
                  "```", tool["output"].rstrip(), "```"]
    return lines


def _memory_section(extras):
    lines = ["## Memory (T2's shape: B=64, in 256 → 512)", "",
             "A fresh process per row: numpy weights and input made, RSS read (\"before\"), the "
             "peak reset (/proc/self/clear_refs), then `fastgru.GRU(..., return_sequences=True)"
             "` built and called once; peak = VmHWM. Issue 7's figure is peak RSS − (weights + "
             "input + output), which still holds the interpreter and libraries; \"scratch\" is "
             "peak − before − output − one more copy of the weights (fastgru's packed one).", "",
             "| threads | T | weights | input | output | RSS before | peak RSS "
             "| peak − (w + in + out) | scratch | call |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    rows = sorted(((r["threads"], row) for r in extras if r["measure"] == "memory"
                   for row in r["rows"]), key=lambda item: (item[0], item[1]["steps"]))
    for n, row in rows:
        literal = row["peak_rss"] - row["weights"] - row["input"] - row["output"]
        lines.append(f"| {n} | {row['steps']} | {_mib(row['weights'])} | {_mib(row['input'])} "
                     f"| {_mib(row['output'])} | {_mib(row['baseline_rss'])} | "
                     f"{_mib(row['peak_rss'])} | {_mib(literal)} | {_mib(scratch_bytes(row))} "
                     f"| {_ms(row['seconds'])} |")
    return lines


def _threshold_section(extras):
    result = next((r for r in extras if r["measure"] == "threshold"), None)
    n = result["threads"] if result else 2
    lines = ["## Small problems: 1 thread against several", "",
             f"`fastgru.GRU(..., threads=1)` and `threads={n}` on the same tiny shapes, timed "
             f"in alternating rounds in one process (the fastest round's time per call, Python "
             f"call included). {n} threads \"pay\" from a {PAYS:.2f}× speed-up on; below that "
             f"they should cost nothing (≤ {NOT_SLOWER:.2f}× the 1-thread time).", ""]
    if not result:
        return lines + ["Not measured."]
    sweeps = {}
    for row in result["rows"]:
        sweeps.setdefault(row["sweep"], []).append(row)
    for sweep, rows in sweeps.items():
        start, worst = threshold_summary(rows)
        pays = f"from {_shape(rows[start])} on" if start is not None else "nowhere in this sweep"
        below = f"; worst ratio below that {worst:.2f}×" if worst is not None else ""
        lines += [f"### {sweep}", "", f"{n} threads pay {pays}{below}.", "",
                  f"| shape | 1 thread | {n} threads | {n} ÷ 1 | same output |",
                  "| --- | ---: | ---: | ---: | --- |"]
        lines += [f"| {_shape(row)} | {_us(row['seconds_1'])} | {_us(row['seconds_n'])} | "
                  f"{row['seconds_n'] / row['seconds_1']:.2f}× | "
                  f"{'yes' if row['same_output'] else '**NO**'} |" for row in rows]
        lines.append("")
    return lines[:-1]


def _bf16_section(extras):
    lines = ["## bf16 (opt-in)", "",
             "fastgru loaded with `precision=\"bfloat16\"` (weights and products in bf16, fp32 "
             "accumulation and state), against OpenVINO compiled with no precision hint (its "
             "default: bf16 on CPUs with AVX512_BF16). Errors are max abs against the float64 "
             "reference of the fp32 Keras maths; the C bench checks nothing itself, it runs "
             "the .fgru file and precision that the Python stream row checks.", "",
             "| run | engine / way | precision | threads | time | max abs err |",
             "| --- | --- | --- | ---: | ---: | ---: |"]
    table = []
    for result in extras:
        for row in result["rows"]:
            if result["measure"] in ("bf16_fastgru", "bf16_openvino"):
                way, time = row["engine"], _ms(row["seconds"])
            elif row.get("precision") == "bfloat16":
                way = "C fastgru_stream_bench" if result["measure"] == "c_stream" \
                    else "Python stream.step(out=)"
                time = _us(row["seconds"])
            else:
                continue
            error = f"{row['max_abs_err']:.1e}" if "max_abs_err" in row else "—"
            table.append((row["workload"], result["threads"], way,
                          f"| {row['workload']} | {way} | {row['precision']} | "
                          f"{result['threads']} | {time} | {error} |"))
    if not table:
        return lines + ["", "No bf16 figures in this run (see the notes)."]
    return lines + [line for *_, line in sorted(table)]


def render_sections(results, extras, workloads):
    """The sections after the per-workload tables, each separated by a blank line."""
    lines = []
    for section in (_c_stream_section(extras), _overhead_section(results, extras, workloads),
                    _cold_start_section(extras), _memory_section(extras),
                    _threshold_section(extras), _bf16_section(extras)):
        lines += section + [""]
    return lines


def extra_notes(extras):
    return [f"extra {r['measure']}, {r['threads']} thread(s)"
            + (f", {r['arg']}" if r.get("arg") else "") + f": {note}"
            for r in extras for note in r["notes"]]
