"""The whole-model benchmark's own logic (tools/bench/models.py): a worker times a model fastgru
runs and checks it against Keras' outputs, reports an engine or a layer it lacks instead of
failing, and the report lists why each cell was skipped. Timings are never asserted."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tools.bench import models  # noqa: E402

pytest.importorskip("keras")
FAST = {"min_seconds": 0.0, "min_calls": 1}


def test_worker_times_a_model_fastgru_runs(tmp_path):
    models.prepare([models.ARCHITECTURES["A3u"]], str(tmp_path), [1, 3])
    rows = models.run_worker("fastgru", 1, str(tmp_path), ["A3u"], [1, 3], **FAST)
    assert [r["batch"] for r in rows] == [1, 3]
    for row in rows:
        assert row["max_abs_err"] <= 1e-5 and row["seconds"] > 0


def test_what_cannot_run_is_reported_with_the_reason(tmp_path):
    archs = list(models.ARCHITECTURES.values())
    models.prepare(archs, str(tmp_path), [1])
    results = {}
    for peer in ("fastgru", "onnxruntime"):
        rows = models.run_worker(peer, 1, str(tmp_path), [a.name for a in archs], [1], **FAST)
        assert {r["arch"] for r in rows} == set(models.ARCHITECTURES)
        for row in rows:   # runs right, or says why not: the layer fastgru lacks, ...
            assert row.get("max_abs_err", 0) <= models.TOLERANCE
            if "skipped" in row:
                assert "does not support" in row["skipped"] if peer == "fastgru" else row["skipped"]
        results[peer, 1] = rows
    text = models.markdown(results, archs, [1], [1])
    for arch in archs:
        assert f"### {arch.name}: {arch.title}" in text
    skipped = [r for rows in results.values() for r in rows if "skipped" in r]
    assert ("Skipped:" in text) == bool(skipped)
    for row in skipped:
        assert row["skipped"][:80] in text


def test_write_section_replaces_only_its_section(tmp_path):
    page = tmp_path / "BENCHMARKS.md"
    page.write_text("# Bench\n\n## Summary\n\nkept\n\n## Whole models\n\nold\n\n## Later\n\nalso kept\n")
    models.write_section("new table\n", str(page))
    text = page.read_text()
    assert "old" not in text and "new table" in text
    assert "kept" in text and "also kept" in text and text.index("Whole") < text.index("Later")
    models.write_section("newer\n", str(page))
    assert page.read_text().count(models.SECTION) == 1
