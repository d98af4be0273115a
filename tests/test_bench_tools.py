"""The benchmark package's own logic (tools/bench): how rounds of worker results merge into one
figure, how missed targets are reported, that a run rewrites only the generated part of
BENCHMARKS.md, and that every target BENCHMARKS.md reports missed has its analysis there. The
timings themselves are never asserted here."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import fastgru  # noqa: E402
import pytest  # noqa: E402
from tools.bench import extras, peer_worker, report, targets, workloads  # noqa: E402
from tools.bench.workloads import WORKLOADS  # noqa: E402


def worker_result(peer, threads, sgemm, rows, notes=()):
    return {"peer": peer, "threads": threads, "versions": {peer: "1"}, "notes": list(notes),
            "sgemm_gflops": sgemm,
            "rows": [{"workload": w, "variant": v, "seconds": s, "max_abs_err": 1e-7,
                      "verified": ok} for w, v, s, ok in rows]}


def test_a_row_keeps_its_fastest_verified_round_and_lists_every_round():
    first = [worker_result("torch", 2, 180.0, [("S1", "nn.GRU", 2e-5, True),
                                                ("S1", "nn.GRUCell", 3e-5, True),
                                                ("L1", "nn.GRU", 4e-3, False)],
                           notes=["L2: skipped"])]
    second = [worker_result("torch", 2, 200.0, [("S1", "nn.GRU", 1e-5, True),
                                                 ("S1", "nn.GRUCell", 1e-6, False),
                                                 ("L1", "nn.GRU", 5e-3, False)],
                            notes=["L2: skipped", "T2: failed"])]
    (merged,) = peer_worker.merge_rounds([first, second])
    rows = {(r["workload"], r["variant"]): r for r in merged["rows"]}
    assert rows["S1", "nn.GRU"]["seconds"] == 1e-5
    assert rows["S1", "nn.GRU"]["round_seconds"] == [2e-5, 1e-5]
    # a faster round with a wrong output never counts
    assert rows["S1", "nn.GRUCell"]["seconds"] == 3e-5
    assert rows["S1", "nn.GRUCell"]["verified"]
    # no round verified: the last round's row stays, still marked wrong
    assert rows["L1", "nn.GRU"]["seconds"] == 5e-3 and not rows["L1", "nn.GRU"]["verified"]
    assert merged["notes"] == ["L2: skipped", "T2: failed"]
    assert merged["sgemm_gflops"] == 190.0


def test_workers_of_different_peers_and_thread_counts_stay_apart():
    rounds = [[worker_result("numpy", 1, 100.0, [("S1", "step", 2e-5, True)]),
               worker_result("numpy", 2, 200.0, [("S1", "step", 3e-5, True)])],
              [worker_result("numpy", 2, 200.0, [("S1", "step", 2.5e-5, True)]),
               worker_result("numpy", 1, 100.0, [("S1", "step", 2.2e-5, True)])]]
    merged = {(r["peer"], r["threads"]): r for r in peer_worker.merge_rounds(rounds)}
    assert merged["numpy", 1]["rows"][0]["seconds"] == 2e-5
    assert merged["numpy", 2]["rows"][0]["seconds"] == 2.5e-5


def c_stream_extras(seconds):
    return [{"measure": "c_stream", "threads": 1, "arg": None, "notes": [], "rows": [
        {"workload": "S1", "precision": "float32", "seconds": seconds, "isa": "avx512",
         "runs": 7, "steps": 20000}]}]


def test_a_missed_target_gets_its_gap():
    lines = targets.render_targets([], c_stream_extras(0.69e-6), list(WORKLOADS.values()))
    row = "| C stream S1 (fastgru_stream_bench), 1 thread(s) | ≤ 0.60 µs | 0.69 µs | **no** |"
    assert row in lines
    section = "\n".join(lines).split("### Targets missed in this run")[1]
    assert ("**C stream S1 (fastgru_stream_bench), 1 thread(s)**: wanted ≤ 0.60 µs, measured "
            "0.69 µs; 0.09 µs over, 15.0% more time.") in section


def test_met_targets_get_no_gap_section():
    lines = targets.render_targets([], c_stream_extras(0.55e-6), list(WORKLOADS.values()))
    assert "| C stream S1 (fastgru_stream_bench), 1 thread(s) | ≤ 0.60 µs | 0.55 µs | yes |" \
        in lines
    assert not any("Targets missed" in line for line in lines)


def test_the_page_compares_fastgru_with_its_fastest_peer():
    results = [worker_result("fastgru", 1, 100.0, [("S1", "stream", 1e-6, True)]),
               worker_result("numpy", 1, 100.0, [("S1", "step", 4e-6, True)]),
               worker_result("torch", 1, 100.0, [("S1", "nn.GRU", 2e-6, False)])]
    page = report.render(results, c_stream_extras(0.5e-6), [WORKLOADS["S1"]], [1],
                         "python -m tools.bench --quick", [], quick=True, repo_root=ROOT,
                         rounds=1)
    assert "| S1 | 1 | 1.0 µs | numpy (step): 4.0 µs | 4.00× |" in page  # torch was wrong
    assert "| S1 | float32 | 1 | avx512 | 0.50 µs | 7 × 20000 |" in page
    assert "| S1 | torch | 1 | nn.GRU | 2.0 µs | " in page and "NO: wrong output" in page
    assert page.startswith(report.BEGIN) and page.rstrip().endswith(report.END)


def test_a_run_rewrites_only_the_generated_part(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(f"# Title\n\nkept before\n\n{report.BEGIN}\nold figures\n{report.END}\n\n"
                    "## Analyses\n\nkept after\n")
    report.write(str(path), f"{report.BEGIN}\nnew figures\n{report.END}\n")
    assert path.read_text() == (f"# Title\n\nkept before\n\n{report.BEGIN}\nnew figures\n"
                                f"{report.END}\n\n## Analyses\n\nkept after\n")
    fresh = tmp_path / "new.md"
    report.write(str(fresh), f"{report.BEGIN}\nfigures\n{report.END}\n")
    assert fresh.read_text().startswith("# ") and "figures" in fresh.read_text()


def test_every_target_benchmarks_md_misses_has_its_analysis():
    with open(os.path.join(ROOT, "BENCHMARKS.md"), encoding="utf-8") as f:
        generated, by_hand = f.read().split(report.END)
    missed = [line.split(" | ")[0].lstrip("| ") for line in generated.splitlines()
              if line.startswith("| ") and line.endswith("| **no** |")]
    headings = {line[4:].strip() for line in by_hand.splitlines() if line.startswith("### ")}
    assert set(missed) <= headings, set(missed) - headings


def extra_result(measure, threads, rows, arg=None, notes=()):
    return {"measure": measure, "threads": threads, "arg": arg, "rows": rows,
            "notes": list(notes)}


def test_extras_keep_each_time_at_its_fastest_round_and_the_largest_error():
    rounds = [extra_result("py_stream", 2, [
                  {"workload": "S1", "precision": "float32", "seconds": 9e-7, "max_abs_err": 1e-7},
                  {"workload": "S2", "precision": "float32", "seconds": 6e-6,
                   "max_abs_err": 2e-7}]),
              extra_result("threshold", 2, [
                  {"sweep": "a", "batch": 1, "seconds_1": 2e-6, "seconds_n": 3e-6}]),
              extra_result("py_stream", 2, [
                  {"workload": "S2", "precision": "float32", "seconds": 5e-6,
                   "max_abs_err": 1e-7},
                  {"workload": "S1", "precision": "float32", "seconds": 1e-6, "max_abs_err": 3e-7}],
                  notes=["S2 bf16: skipped"]),
              extra_result("threshold", 2, [
                  {"sweep": "a", "batch": 1, "seconds_1": 2.5e-6, "seconds_n": 2e-6}])]
    merged = {r["measure"]: r for r in extras.merge_rounds(rounds)}
    rows = {row["workload"]: row for row in merged["py_stream"]["rows"]}
    assert (rows["S1"]["seconds"], rows["S1"]["max_abs_err"]) == (9e-7, 3e-7)
    assert (rows["S2"]["seconds"], rows["S2"]["max_abs_err"]) == (5e-6, 2e-7)
    assert merged["py_stream"]["notes"] == ["S2 bf16: skipped"]
    # each configuration's own fastest time, 1 thread and N threads alike
    assert merged["threshold"]["rows"] == [{"sweep": "a", "batch": 1, "seconds_1": 2e-6,
                                            "seconds_n": 2e-6}]


def test_extras_of_other_thread_counts_or_arguments_stay_apart():
    rounds = [extra_result("memory", 1, [{"steps": 200, "peak_rss": 5}], arg=200),
              extra_result("memory", 1, [{"steps": 800, "peak_rss": 6}], arg=800),
              extra_result("c_stream", 1, [{"workload": "S1", "seconds": 7e-7}]),
              extra_result("c_stream", 2, [{"workload": "S1", "seconds": 6e-7}])]
    assert len(extras.merge_rounds(rounds)) == 4


def test_each_cell_runs_the_gru_workloads_sizes():
    gru, lstm = workloads.selected(["T1"], False, ["gru", "lstm"])
    assert (gru.name, lstm.name) == ("T1", "T1-lstm") and gru == WORKLOADS["T1"]
    assert (lstm.batch, lstm.steps, lstm.input_dim, lstm.units) == \
        (gru.batch, gru.steps, gru.input_dim, gru.units)
    assert lstm.flops_per_call() * 3 == gru.flops_per_call() * 4  # four gates to three
    assert workloads.named(["T1-lstm"], True)[0].steps == 25  # --quick: a quarter
    assert workloads.case_seed(lstm) != workloads.case_seed(gru)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_float64_reference_agrees_with_fastgru(cell):
    """The reference every peer is checked against, against fastgru's own layers (which the
    Keras fixture tests hold to real Keras): Keras' gate orders and bias layouts."""
    workload = workloads.named([f"S2-{cell}" if cell != "gru" else "S2"], False)[0]
    case = workloads.make_case(workload, workloads.case_seed(workload))
    reference = workloads.reference_sequence(workload, case)
    weights = case["kernel"], case["recurrent_kernel"], case["bias"]
    layer = (fastgru.LSTM(workload.units, *weights, return_sequences=True) if cell == "lstm"
             else fastgru.GRU(workload.units, *weights, reset_after=True, return_sequences=True))
    assert workloads.max_error(layer(case["x"]), reference) <= 1e-5


def lstm_ratio_results(lstm_seconds):
    """fastgru 1.2x the fastest peer on T1's GRU; on its LSTM, peer 2 ms over lstm_seconds."""
    return [worker_result("fastgru", 1, 100.0, [("T1", "GRU layer", 1e-3, True),
                                                ("T1-lstm", "LSTM layer", lstm_seconds, True)]),
            worker_result("torch", 1, 100.0, [("T1", "nn.GRU", 1.2e-3, True),
                                              ("T1-lstm", "nn.LSTM", 2e-3, True)])]


def test_the_lstm_must_keep_at_least_the_grus_ratio_over_its_peers():
    chosen = workloads.selected(["T1"], False, ["gru", "lstm"])
    lines = targets.render_lstm_targets(lstm_ratio_results(1.25e-3), chosen)
    assert ("| T1-lstm ≥ the GRU's ratio over the fastest peer, 1 thread(s) | ≥ the GRU's | "
            "1.60× over torch (GRU 1.20× over torch) | yes |") in lines
    lines = targets.render_lstm_targets(lstm_ratio_results(2e-3), chosen)
    section = "\n".join(lines).split("### LSTM targets missed in this run")[1]
    assert ("**T1-lstm ≥ the GRU's ratio over the fastest peer, 1 thread(s)**: wanted ≥ the "
            "GRU's, measured 1.00× over torch (GRU 1.20× over torch); fastgru's LSTM would need "
            "1.67 ms, 16.7% less time.") in section


def test_a_gru_only_run_reports_no_lstm_section():
    results = lstm_ratio_results(1.25e-3)
    gru_only = [{**r, "rows": [row for row in r["rows"] if row["workload"] == "T1"]}
                for r in results]
    page = report.render(gru_only, [], [WORKLOADS["T1"]], [1], "python -m tools.bench", [],
                         quick=True, repo_root=ROOT, rounds=1)
    assert "LSTM" not in page and "lstm" not in page
    both = workloads.selected(["T1"], False, ["gru", "lstm"])
    page = report.render(results, [], both, [1], "python -m tools.bench", [], quick=True,
                         repo_root=ROOT, rounds=1)
    assert "## LSTM targets" in page and "### T1-lstm: LSTM, batched, B=256" in page
    # the GRU's error target counts the GRU's workloads only
    assert "every workload | ≤ 1e-5 | 1.0e-07 (largest: T1) | yes |" in page
