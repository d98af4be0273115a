"""fastgru's performance targets: wanted, measured, met or not, and how far a missed one is."""
from collections import namedtuple

from .peer_worker import best_rows, sgemm_by_threads

MIB = 1024 * 1024
# "The Python call itself must cost well under a microsecond": read as at most half of one.
CALL_OVERHEAD_LIMIT = 0.5e-6
# Memory bounded independently of T: 4x the timesteps may add at most this to the scratch.
SCRATCH_SLACK_FRACTION, SCRATCH_SLACK_BYTES = 0.10, 1 * MIB
# Small problems: N threads count as "not slower" within this noise margin, "paying" from
# this speed-up on.
NOT_SLOWER, PAYS = 1.05, 1.10
BF16_ERROR_LIMIT = 2e-2  # a sanity bound on bf16 results; the error itself is reported
# fastgru's speed over the fastest peer: (workload, threads, at least this ratio)
SPEED_TARGETS = (("T1", 1, 1.10), ("T1", 2, 1.10), ("T2", 1, 1.0), ("T2", 2, 1.0), ("L1", 1, 1.15),
                 ("L1", 2, 1.6), ("S1", 1, 5.0), ("S1", 2, 5.0), ("S2", 1, 2.2), ("S2", 2, 3.5))
SGEMM_SHARE = 0.90  # of numpy's sgemm rate, on T1 and T2

# One row of the targets table. met: True / False / None (not measured); gap: how far a missed
# target is, in words.
Target = namedtuple("Target", "label wanted measured met gap", defaults=(None,))


def us(seconds):
    return f"{seconds * 1e6:.2f} µs"


def ms(seconds):
    return f"{seconds * 1e3:.2f} ms"


def mib(nbytes):
    return f"{nbytes / MIB:.1f} MiB"


def _rows(extras, measure, threads=None, **match):
    """Rows of one measure (at one thread count), filtered on their fields."""
    return [row for result in extras if result["measure"] == measure
            and threads in (None, result["threads"])
            for row in result["rows"] if all(row.get(k) == v for k, v in match.items())]


def _one(extras, measure, threads=None, **match):
    rows = _rows(extras, measure, threads, **match)
    return rows[0] if rows else None


def find_workload(workloads, name):
    return next((w for w in workloads if w.name == name), None)


def _fastgru_and_best_peer(results, workload, threads):
    best = best_rows(results, workload, threads)
    ours = best.pop("fastgru", None)
    if not ours or not best:
        return None, None, None
    peer = min(best, key=lambda p: best[p]["seconds"])
    return ours, peer, best[peer]


def time_text(workload, seconds):
    return us(seconds) if workload.stream else ms(seconds)


def _speed_target(results, workloads, name, threads, factor):
    label = (f"{name} {'≥' if factor > 1 else 'at least as fast as'} "
             + (f"{factor:.2f}× " if factor > 1 else "") + f"the fastest peer, {threads} thread(s)")
    target = f"≥ {factor:.2f}×"
    workload = find_workload(workloads, name)
    ours, peer, theirs = _fastgru_and_best_peer(results, workload, threads) if workload else \
        (None, None, None)
    if not ours:
        return Target(label, target, "not measured", None)
    ratio = theirs["seconds"] / ours["seconds"]
    wanted = theirs["seconds"] / factor
    gap = (f"fastgru would need {time_text(workload, wanted)}, "
           f"{1 - wanted / ours['seconds']:.1%} less time")
    return Target(label, target, f"{ratio:.2f}× (fastgru {time_text(workload, ours['seconds'])}, "
                  f"{peer} {time_text(workload, theirs['seconds'])})", ratio >= factor, gap)


def _sgemm_target(results, workloads, name, threads, share):
    label, target = f"{name} ≥ {share:.0%} of sgemm GFLOP/s, {threads} thread(s)", f"≥ {share:.0%}"
    workload, peak = find_workload(workloads, name), sgemm_by_threads(results).get(threads)
    ours = best_rows(results, workload, threads).get("fastgru") if workload else None
    if not ours or not peak:
        return Target(label, target, "not measured", None)
    gflops = workload.flops_per_call() / ours["seconds"] / 1e9
    return Target(label, target, f"{gflops / peak:.1%} ({gflops:.1f} of {peak:.1f} GFLOP/s)",
                  gflops / peak >= share)


def _fp32_error_target(results, workloads, cell="gru"):
    label = "fastgru fp32 max abs error vs the reference, every workload" + (
        "" if cell == "gru" else f" ({cell.upper()})")
    target = "≤ 1e-5"
    names = {w.name for w in workloads if w.cell == cell}
    rows = [(row["max_abs_err"], row["workload"]) for result in results
            if result["peer"] == "fastgru" for row in result["rows"] if row["workload"] in names]
    if not rows:
        return Target(label, target, "not measured", None)
    error, workload = max(rows)
    return Target(label, target, f"{error:.1e} (largest: {workload})", error <= 1e-5)


def _c_stream_target(extras, name, threads, limit, precision="float32"):
    tag = " bf16" if precision != "float32" else ""
    label = f"C stream{tag} {name} (fastgru_stream_bench), {threads} thread(s)"
    row = _one(extras, "c_stream", threads, workload=name, precision=precision)
    if not row:
        return Target(label, f"≤ {us(limit)}", "not measured", None)
    gap = f"{us(row['seconds'] - limit)} over, {row['seconds'] / limit - 1:.1%} more time"
    return Target(label, f"≤ {us(limit)}", us(row["seconds"]), row["seconds"] <= limit, gap)


def call_overhead(extras, name, threads):
    """(Python bare-loop step, C step) of an fp32 stream, or None where either is missing."""
    py = _one(extras, "py_stream", threads, workload=name, precision="float32")
    c = _one(extras, "c_stream", threads, workload=name, precision="float32")
    return (py["seconds"], c["seconds"]) if py and c else None


def _overhead_target(extras, threads):
    label = f"Python call overhead: S1 stream.step(x, out=) − C step, {threads} thread(s)"
    target = f"well under 1 µs (≤ {us(CALL_OVERHEAD_LIMIT)})"
    pair = call_overhead(extras, "S1", threads)
    if not pair:
        return Target(label, target, "not measured", None)
    py, c = pair
    return Target(label, target, f"{us(py - c)} ({us(py)} − {us(c)})",
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
    target = f"T=800 ≤ T=200 + {SCRATCH_SLACK_FRACTION:.0%} + {mib(SCRATCH_SLACK_BYTES)}"
    by_steps = {row["steps"]: row for row in _rows(extras, "memory", threads)}
    if not all(steps in by_steps for steps in (200, 800)):
        return Target(label, target, "not measured", None)
    short, long = (scratch_bytes(by_steps[s]) for s in (200, 800))
    return Target(label, target, f"{mib(short)} → {mib(long)}",
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


def shape_text(row):
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
        pays.append(f"{name}: " + (shape_text(sweep[start]) if start is not None else "never"))
    return Target(label, target, f"worst {ratio:.2f}× ({shape_text(worst)}); {n} threads pay "
                  "from " + "; ".join(pays), ratio <= NOT_SLOWER)


def _bf16_t1_target(extras, threads):
    label = f"bf16 T1 faster than OpenVINO's default (bf16), {threads} thread(s)"
    ours = _one(extras, "bf16_fastgru", threads, workload="T1")
    theirs = _one(extras, "bf16_openvino", threads, workload="T1")
    target = f"faster; error ≤ {BF16_ERROR_LIMIT:.0e}"
    if not ours or not theirs:
        return Target(label, target, "not measured", None)
    return Target(label, target,
                  f"{theirs['seconds'] / ours['seconds']:.2f}× (fastgru {ms(ours['seconds'])}, "
                  f"err {ours['max_abs_err']:.1e}; OpenVINO {theirs['precision']} "
                  f"{ms(theirs['seconds'])}, err {theirs['max_abs_err']:.1e})",
                  ours["seconds"] < theirs["seconds"]
                  and ours["max_abs_err"] <= BF16_ERROR_LIMIT)


def _lstm_ratio_target(results, workloads, name, threads):
    """The LSTM's speed over its fastest peer against the GRU's on the same workload."""
    label = f"{name}-lstm ≥ the GRU's ratio over the fastest peer, {threads} thread(s)"
    target = "≥ the GRU's"
    measured = []
    for workload in (find_workload(workloads, name), find_workload(workloads, f"{name}-lstm")):
        ours, peer, theirs = (_fastgru_and_best_peer(results, workload, threads) if workload
                              else (None, None, None))
        if not ours:
            return Target(label, target, "not measured", None)
        measured.append((theirs["seconds"] / ours["seconds"], peer, workload, theirs["seconds"]))
    (gru, gru_peer, _, _), (lstm, peer, workload, theirs) = measured
    wanted = theirs / gru
    ours = theirs / lstm
    gap = (f"fastgru's LSTM would need {time_text(workload, wanted)}, "
           f"{1 - wanted / ours:.1%} less time")
    return Target(label, target, f"{lstm:.2f}× over {peer} (GRU {gru:.2f}× over {gru_peer})",
                  lstm >= gru, gap)


def lstm_target_rows(results, workloads):
    """The LSTM's targets: at least the GRU's ratios over the fastest peer on each workload,
    the sgemm share on T1 and T2, the error."""
    rows = [_lstm_ratio_target(results, workloads, name, n) for name, n, _ in SPEED_TARGETS]
    rows += [_sgemm_target(results, workloads, f"{name}-lstm", n, SGEMM_SHARE)
             for name in ("T1", "T2") for n in (1, 2)]
    return rows + [_fp32_error_target(results, workloads, "lstm")]


def target_rows(results, extras, workloads):
    """The targets table, one Target each."""
    rows = [_speed_target(results, workloads, name, n, factor)
            for name, n, factor in SPEED_TARGETS]
    rows += [_sgemm_target(results, workloads, name, n, SGEMM_SHARE)
             for name in ("T1", "T2") for n in (1, 2)]
    rows.append(_fp32_error_target(results, workloads))
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
    return render_target_rows(target_rows(results, extras, workloads), "Targets missed in this run")


def render_lstm_targets(results, workloads):
    return render_target_rows(lstm_target_rows(results, workloads),
                              "LSTM targets missed in this run")


def render_target_rows(rows, missed_title):
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
        lines += [""] + _missed_section((row for row in rows if row.met is False), missed_title)
    return lines


def _missed_section(rows, title):
    """Per missed target: its gap in this run. What limits it and what was tried is prose, kept
    by hand in BENCHMARKS.md after this generated part."""
    lines = [f"### {title}", "",
             "What limits each and what was tried: \"Analyses of the missed targets\", after the "
             "generated report.", ""]
    for row in rows:
        lines += [f"- **{row.label}**: wanted {row.wanted}, measured {row.measured}"
                  + (f"; {row.gap}" if row.gap else "") + "."]
    return lines + [""]
