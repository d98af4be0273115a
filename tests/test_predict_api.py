"""The Keras habits of Model.predict: verbose=0/1/"auto" (a progress bar on stderr),
predict([x]) on a one-input model, predict_on_batch, the "fastgru" logger, and the error for
a sequence input given one axis short."""
from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pytest

import fastgru
from fastgru import FastGRUError
from fastgru.progress import Progress

DEMO = Path(fastgru.__file__).parent / "data" / "demo.keras"


@pytest.fixture(scope="module")
def model():
    return fastgru.load(DEMO)


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).normal(size=(10, 12, 3)).astype(np.float32)


def test_keras_call_forms_give_the_same_bytes(model, x):
    want = model.predict(x)
    for got in (model.predict(x, verbose=0), model.predict(x, batch_size=3, verbose=0),
                model.predict([x]), model.predict((x,)), model.predict_on_batch(x),
                model.predict({"sensor_window": x}), model(x)):
        assert np.array_equal(got, want)


def test_a_nested_list_of_numbers_is_still_one_input(model, x):
    assert np.array_equal(model.predict(x[:1].tolist()), model.predict(x[:1]))


@pytest.mark.parametrize("verbose", [3, -1, True, "yes", None, 1.0])
def test_bad_verbose_is_refused(model, x, verbose):
    with pytest.raises(FastGRUError, match="verbose must be 0, 1, 2 or 'auto'"):
        model.predict(x, verbose=verbose)


def test_verbose_1_draws_a_bar_per_call_on_stderr(model, x, capsys):
    model.predict(x, batch_size=4, verbose=1)          # 3 calls: 4 + 4 + 2 sequences
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.split("\r")
    assert [line.split(" ")[0] for line in lines] == ["1/3", "2/3", "3/3"]
    assert lines[-1].startswith("3/3 [" + "=" * 30 + "]") and lines[-1].endswith("ms/batch\n")


def test_quiet_when_not_asked(model, x, capsys):
    model.predict(x, batch_size=4, verbose=0)
    model.predict(x, batch_size=4)                     # "auto": stderr is not a terminal here
    assert capsys.readouterr() == ("", "")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_auto_draws_on_a_terminal_only_after_a_few_seconds(monkeypatch):
    clock = iter([0.0, 0.5, 1.0, 3.0])                 # start, then after each call
    monkeypatch.setattr("fastgru.progress.time.perf_counter", lambda: next(clock))
    term = Terminal()
    bar = Progress(3, "auto", stream=term)
    bar.advance()
    bar.advance()
    assert term.getvalue() == ""                       # 1 s in: a short run stays silent
    bar.advance()
    assert term.getvalue().startswith("3/3 [") and term.getvalue().endswith("\n")


def test_a_2d_input_error_says_what_to_write(model, x):
    with pytest.raises(FastGRUError, match=r"sensor_window.*got \(12, 3\): pass x\[None\] if it "
                                           r"is one sequence of 12 steps, or x\[:, None\] if "
                                           r"it is 12 sequences of one step"):
        model.predict(x[0])


def test_messages_go_to_the_fastgru_logger(model, x, caplog):
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("fastgru").handlers)
    with caplog.at_level(logging.DEBUG, logger="fastgru"):
        model.predict(x, batch_size=4, verbose=0)
    assert [r.name for r in caplog.records] == ["fastgru.model"]
    assert "10 sequences in 3 call(s) of 4" in caplog.records[0].getMessage()
