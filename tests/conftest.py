"""Shared test data: the GRU option grid, random weights / inputs / masks, and the per-family
max-error record printed at the end of the run (so the numbers are visible without -s)."""
from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import zlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pytest

# Every activation name Keras 3 accepts for a GRU (docs/KERAS_FORMATS.md §11), aliases included.
KERAS3_ACTIVATIONS = [
    "linear", "tanh", "sigmoid", "hard_sigmoid", "relu", "relu6", "elu", "selu", "softplus",
    "softsign", "exponential", "swish", "silu", "gelu", "leaky_relu", "mish", "softmax",
    "log_softmax", "sparsemax", "celu", "hard_shrink", "hard_tanh", "soft_shrink", "sparse_plus",
    "sparse_sigmoid", "squareplus", "tanh_shrink", "log_sigmoid", "hard_silu", "hard_swish",
]
TOL = 1e-5
MASK_KINDS = (None, "post", "pre", "full_row", "random")


@dataclass(frozen=True)
class Case:
    """One GRU configuration plus the shape of the data it runs on."""
    family: str
    units: int = 5
    input_dim: int = 4
    batch: int = 3
    timesteps: int = 6
    reset_after: bool = True
    use_bias: bool = True
    go_backwards: bool = False
    return_sequences: bool = False
    return_state: bool = False
    initial_state: bool = False
    mask: Optional[str] = None
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    weight_scale: float = 1.0

    def __str__(self):
        return (f"{self.family}-u{self.units}f{self.input_dim}b{self.batch}t{self.timesteps}"
                f"-ra{int(self.reset_after)}bias{int(self.use_bias)}gb{int(self.go_backwards)}"
                f"rs{int(self.return_sequences)}st{int(self.return_state)}"
                f"h0{int(self.initial_state)}-m{self.mask}-{self.activation}-"
                f"{self.recurrent_activation}-w{self.weight_scale}")


def _option_cases():
    """reset_after x use_bias x go_backwards x return_sequences in full, with the mask kinds,
    initial_state and return_state cycled through them."""
    cases = []
    for i, (ra, ub, gb, rs) in enumerate(itertools.product((True, False), repeat=4)):
        cases.append(Case("options", reset_after=ra, use_bias=ub, go_backwards=gb,
                          return_sequences=rs, return_state=bool(i % 2),
                          initial_state=bool((i // 2) % 2), mask=MASK_KINDS[i % len(MASK_KINDS)]))
    return cases


def _activation_cases():
    cases = []
    for i, name in enumerate(KERAS3_ACTIVATIONS):
        cases.append(Case("activation", activation=name, reset_after=bool(i % 2),
                          return_sequences=True, mask="post" if i % 3 == 0 else None))
        # Unbounded gate activations (exponential, selu, ...) make the state grow step by
        # step: keep those runs short and the weights small so every value stays finite.
        cases.append(Case("recurrent_activation", recurrent_activation=name,
                          reset_after=bool((i + 1) % 2), return_sequences=True,
                          go_backwards=bool(i % 2), timesteps=4, weight_scale=0.3))
    return cases


def _size_cases():
    cases = [Case("sizes", units=u, reset_after=bool(i % 2), return_sequences=True,
                  mask="random" if i % 2 else None, batch=7 if i % 2 else 1)
             for i, u in enumerate((1, 3, 33, 65, 257))]
    cases += [Case("sizes", input_dim=1, batch=7), Case("sizes", timesteps=1, batch=1,
                                                        return_sequences=True),
              Case("sizes", timesteps=1, batch=7, mask="full_row", initial_state=True,
                   return_state=True)]
    return cases


GRU_CASES = _option_cases() + _activation_cases() + _size_cases()


@dataclass(frozen=True)
class BiCase:
    merge_mode: Optional[str]
    return_sequences: bool
    return_state: bool
    initial_state: bool
    mask: Optional[str]
    reset_after: bool = True
    units: int = 5
    forward_go_backwards: bool = False      # Keras then gives the backward layer go_backwards=False

    def __str__(self):
        return (f"bi-{self.merge_mode}-rs{int(self.return_sequences)}st{int(self.return_state)}"
                f"h0{int(self.initial_state)}-m{self.mask}-ra{int(self.reset_after)}"
                f"-fgb{int(self.forward_go_backwards)}")


BI_CASES = [BiCase(mode, rs, bool(i % 2), bool((i // 2) % 2), MASK_KINDS[i % len(MASK_KINDS)],
                   reset_after=bool(i % 3))
            for i, (mode, rs) in enumerate(itertools.product(("concat", "sum", "mul", "ave", None),
                                                            (True, False)))]
BI_CASES += [BiCase("concat", True, True, False, "post", forward_go_backwards=True),
             BiCase("sum", False, False, True, "pre", forward_go_backwards=True)]


def make_mask(kind: Optional[str], batch: int, timesteps: int, rng) -> Optional[np.ndarray]:
    """Masks that exercise Keras' rules: post-padding, pre-padding, a fully masked row."""
    if kind is None:
        return None
    mask = np.ones((batch, timesteps), dtype=bool)
    lengths = rng.integers(0, timesteps + 1, size=batch)
    for b in range(batch):
        if kind == "post":
            mask[b, lengths[b]:] = False
        elif kind == "pre":
            mask[b, :timesteps - lengths[b]] = False
        elif kind == "random":
            mask[b] = rng.random(timesteps) < 0.6
    if kind in ("post", "pre", "full_row"):
        mask[0] = False                                   # always one fully masked row
    return mask


def make_weights(units: int, input_dim: int, reset_after: bool, use_bias: bool, rng,
                 scale: float = 1.0):
    """Keras-layout weights scaled so every activation stays well inside float32 range."""
    kernel = scale * rng.uniform(-1, 1, (input_dim, 3 * units)) / np.sqrt(input_dim)
    recurrent = scale * rng.uniform(-1, 1, (units, 3 * units)) / np.sqrt(units)
    bias = None
    if use_bias:
        bias = rng.uniform(-0.3, 0.3, (2, 3 * units) if reset_after else (3 * units,))
    cast = lambda a: None if a is None else a.astype(np.float32)
    return cast(kernel), cast(recurrent), cast(bias)


def rng_for(case) -> np.random.Generator:
    """A generator seeded from the case's name, so every run sees the same data."""
    return np.random.default_rng(zlib.crc32(str(case).encode()))


def case_weights(case, rng):
    return make_weights(case.units, case.input_dim, case.reset_after, case.use_bias, rng,
                        case.weight_scale)


def make_data(case, rng):
    """(x, mask, h0) for a Case."""
    x = rng.normal(0, 1, (case.batch, case.timesteps, case.input_dim)).astype(np.float32)
    mask = make_mask(case.mask, case.batch, case.timesteps, rng)
    h0 = (rng.uniform(-0.8, 0.8, (case.batch, case.units)).astype(np.float32)
          if case.initial_state else None)
    return x, mask, h0


class ErrorRecord:
    """Max error per (comparison, family), reported at the end of the session.

    The error is max|got - expected| / max(1, max|expected|): the absolute error for outputs
    of magnitude <= 1 (every bounded activation), and relative to the output's size where an
    unbounded activation (exponential, selu as recurrent activation, ...) makes it grow, since
    float32 cannot hold 1e-5 absolute on values much larger than 1.
    """

    def __init__(self):
        self.worst = defaultdict(float)

    def add(self, comparison: str, family: str, got, expected) -> float:
        got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
        assert got.shape == expected.shape, f"shape {got.shape} != expected {expected.shape}"
        err = 0.0
        if got.size:
            scale = max(1.0, float(np.max(np.abs(expected))))
            err = float(np.max(np.abs(got - expected))) / scale
        if not np.isfinite(err):
            err = float("inf")
        key = (comparison, family)
        self.worst[key] = max(self.worst[key], err)
        return err


_RECORD = ErrorRecord()


@pytest.fixture(scope="session")
def error_record():
    return _RECORD


def pytest_terminal_summary(terminalreporter):
    if not _RECORD.worst:
        return
    terminalreporter.section("fastgru max error per option family (abs, scaled by max(1, |ref|))")
    for (comparison, family), err in sorted(_RECORD.worst.items()):
        terminalreporter.write_line(f"{comparison:>18s}  {family:<22s} {err:.3e}")


# Keras aliases -> the canonical names tests/reference_gru.py knows.
CANONICAL = {"silu": "swish", "hard_swish": "hard_silu"}


def canonical(name: str) -> str:
    return CANONICAL.get(name, name)


def fastgru_gru(case, weights, **overrides):
    """A fastgru.GRU for a Case."""
    import fastgru
    kernel, recurrent, bias = weights
    options = dict(activation=case.activation, recurrent_activation=case.recurrent_activation,
                   reset_after=case.reset_after, go_backwards=case.go_backwards,
                   return_sequences=case.return_sequences, return_state=case.return_state)
    options.update(overrides)
    return fastgru.GRU(case.units, kernel, recurrent, bias, **options)


def reference_for(case, weights, x, mask, h0, **overrides):
    """(y, h_final) of tests/reference_gru.py for a Case."""
    from reference_gru import gru_reference
    options = dict(activation=canonical(case.activation),
                   recurrent_activation=canonical(case.recurrent_activation),
                   reset_after=case.reset_after, go_backwards=case.go_backwards,
                   return_sequences=case.return_sequences, mask=mask, initial_state=h0)
    options.update(overrides)
    return gru_reference(x, *weights, **options)


def bidirectional_data(case):
    """Forward and backward weights, input, mask and initial states ([h_fw, h_bw] or None)
    for a Bidirectional case."""
    rng = rng_for(case)
    batch, timesteps, input_dim = 4, 5, 3
    w_fw = make_weights(case.units, input_dim, case.reset_after, True, rng)
    w_bw = make_weights(case.units, input_dim, case.reset_after, True, rng)
    x = rng.normal(size=(batch, timesteps, input_dim)).astype(np.float32)
    mask = make_mask(case.mask, batch, timesteps, rng)
    h0 = ([rng.uniform(-1, 1, (batch, case.units)).astype(np.float32) for _ in range(2)]
          if case.initial_state else None)
    return w_fw, w_bw, x, mask, h0


def bidirectional_options(case) -> dict:
    """The GRU options both directions of a Bidirectional case share."""
    return dict(reset_after=case.reset_after, return_sequences=case.return_sequences,
                return_state=case.return_state)


@pytest.fixture(scope="session")
def c_program(tmp_path_factory):
    """name -> the path of tests/c/<name>.c built against the C library by tests/c/Makefile
    (with the flags of src_c/flags.mk); the library is built once a session."""
    if shutil.which("make") is None or shutil.which("cc") is None:
        pytest.skip("needs make and a C compiler (cc) to build the C test programs")
    out = tmp_path_factory.mktemp("c_programs")
    tests_c = os.path.join(os.path.dirname(os.path.abspath(__file__)), "c")

    def build(name):
        exe = out / name
        if not exe.exists():
            r = subprocess.run(["make", "-C", tests_c, f"OUT={out}", str(exe)],
                               capture_output=True, text=True)
            assert r.returncode == 0, r.stdout + r.stderr
        return exe
    return build


# Modules that build and run the C library in other configurations (sanitizers, libFuzzer,
# valgrind, aarch64 under qemu): `pytest -m "not slow"` leaves them out, with the tests marked
# slow where they stand.
SLOW_MODULES = {"test_c_library.py", "test_hardening_sanitize.py", "test_hardening_fuzz.py"}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
