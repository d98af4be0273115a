"""Every SIMD path against the scalar one, thread-count independence, input layouts, NaN
containment and shape errors: the properties the C kernel promises (fg_gru.h, fg_common.h)."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import fastgru
from fastgru import _core
from conftest import TOL, make_mask, make_weights

SIMD_ISAS = [isa for isa in _core.isa_available() if isa != "scalar"]
# (units, input_dim, reset_after, activation, recurrent_activation, batch): odd sizes around the
# vector widths, both reset modes, and a row-wise activation.
PATH_CONFIGS = [
    (1, 1, True, "tanh", "sigmoid", 1),
    (7, 3, False, "tanh", "hard_sigmoid", 7),
    (17, 5, True, "relu", "sigmoid", 7),
    (33, 8, False, "softmax", "sigmoid", 3),
    (65, 16, True, "tanh", "sigmoid", 64),
    (257, 12, True, "gelu", "hard_silu", 2),
]


@pytest.fixture
def isa_cap():
    """Set the ISA cap for one test and always lift it afterwards."""
    yield _core.set_isa_cap
    _core.set_isa_cap(None)


def _run(units, input_dim, reset_after, activation, recurrent_activation, batch, *,
         seed=0, threads=None, timesteps=9, go_backwards=False):
    rng = np.random.default_rng(seed)
    weights = make_weights(units, input_dim, reset_after, True, rng)
    x = rng.normal(size=(batch, timesteps, input_dim)).astype(np.float32)
    mask = make_mask("random", batch, timesteps, rng)
    h0 = rng.uniform(-1, 1, (batch, units)).astype(np.float32)
    layer = fastgru.GRU(units, *weights, activation=activation,
                        recurrent_activation=recurrent_activation, reset_after=reset_after,
                        go_backwards=go_backwards, return_sequences=True, return_state=True,
                        threads=threads)
    return layer(x, initial_state=h0, mask=mask)


@pytest.mark.skipif(not SIMD_ISAS, reason="this CPU has no SIMD path besides scalar")
@pytest.mark.parametrize("isa", SIMD_ISAS)
@pytest.mark.parametrize("config", PATH_CONFIGS, ids=lambda c: f"u{c[0]}f{c[1]}-{c[3]}-b{c[5]}")
def test_simd_path_matches_scalar(isa, config, isa_cap, error_record):
    isa_cap("scalar")
    assert _core.isa_active() == "scalar"
    y_scalar, h_scalar = _run(*config)
    isa_cap(isa)
    assert _core.isa_active() == isa
    y, h = _run(*config)
    assert error_record.add("isa vs scalar", isa, y, y_scalar) <= TOL
    assert error_record.add("isa vs scalar", isa, h, h_scalar) <= TOL


def test_fastgru_isa_env_var_caps_the_path(tmp_path, isa_cap):
    script = ("import numpy as np, sys; sys.path.insert(0, 'tests');"
              "from fastgru import _core; from test_isa_threads import _run, PATH_CONFIGS;"
              "print(_core.isa_active());"
              f"np.save({str(tmp_path / 'y.npy')!r}, _run(*PATH_CONFIGS[4])[0])")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, FASTGRU_ISA="scalar")
    done = subprocess.run([sys.executable, "-c", script], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "scalar"
    isa_cap("scalar")
    y_scalar = _run(*PATH_CONFIGS[4])[0]
    assert np.array_equal(np.load(tmp_path / "y.npy"), y_scalar)


@pytest.mark.skipif(not _core.have_openmp(), reason="built without OpenMP")
@pytest.mark.parametrize("batch", [7, 64])
@pytest.mark.parametrize("reset_after", [True, False])
def test_one_and_two_threads_are_bitwise_equal(batch, reset_after):
    one = _run(65, 16, reset_after, "tanh", "sigmoid", batch, threads=1, timesteps=20)
    two = _run(65, 16, reset_after, "tanh", "sigmoid", batch, threads=2, timesteps=20)
    for a, b in zip(one, two):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("go_backwards", [False, True])  # the split's team needs no OpenMP
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("reset_after", [True, False])
def test_units_split_is_bitwise_equal_to_one_thread(batch, reset_after, go_backwards):
    """Batch below the thread count splits the units (200: the last block padded) between
    threads, with a mask and h0; every thread count gives the 1-thread bytes."""
    one = _run(200, 24, reset_after, "tanh", "sigmoid", batch, threads=1, timesteps=12,
               go_backwards=go_backwards)
    for threads in (2, 3, 4):
        many = _run(200, 24, reset_after, "tanh", "sigmoid", batch, threads=threads,
                    timesteps=12, go_backwards=go_backwards)
        for a, b in zip(one, many):
            assert a.tobytes() == b.tobytes(), f"{threads} threads"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_units_split_runs_in_a_forked_child():
    """The child has none of the parent's team workers; it must start its own, not wait on
    them forever (fg_team.c's fork handler)."""
    one = _run(200, 24, True, "tanh", "sigmoid", 1, threads=2)[0]
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            again = _run(200, 24, True, "tanh", "sigmoid", 1, threads=2)[0]
            os._exit(0 if again.tobytes() == one.tobytes() else 3)
        finally:
            os._exit(4)
    for _ in range(600):  # 60 s at most, then fail instead of hanging the suite
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung in the units split")
    assert os.waitstatus_to_exitcode(status) == 0


def _layer(time_major=False, return_sequences=True, units=6, input_dim=5):
    weights = make_weights(units, input_dim, True, True, np.random.default_rng(1))
    return fastgru.GRU(units, *weights, return_sequences=return_sequences,
                       time_major=time_major)


def test_input_layouts_give_identical_results():
    rng = np.random.default_rng(4)
    base = rng.normal(size=(4, 7, 5)).astype(np.float32)
    layer = _layer()
    expected = layer(base)
    wide = np.zeros((8, 7, 10), np.float32)
    wide[::2, :, ::2] = base                       # every other row and feature
    variants = {
        "float64": base.astype(np.float64),
        "fortran": np.asfortranarray(base),
        "strided slice": wide[::2, :, ::2],
        "list": base.tolist(),
        "negative strides": np.ascontiguousarray(base[::-1])[::-1],
    }
    for name, x in variants.items():
        assert np.array_equal(layer(x), expected), name
    time_major = _layer(time_major=True)(np.ascontiguousarray(base.transpose(1, 0, 2)))
    assert np.array_equal(time_major.transpose(1, 0, 2), expected)
    mask = rng.random((4, 7)) < 0.7
    masked = layer(base, mask=mask)
    for m in (mask.astype(np.int32), mask.astype(np.uint8), np.asfortranarray(mask), mask.tolist()):
        assert np.array_equal(layer(base, mask=m), masked)


def test_nan_in_one_sample_stays_in_that_sample():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(7, 10, 5)).astype(np.float32)
    x[3, 4, 2] = np.nan
    y = _layer()(x)
    assert np.isnan(y[3, 4:]).all()
    assert np.isfinite(y[3, :4]).all()
    assert np.isfinite(np.delete(y, 3, axis=0)).all()


@pytest.mark.parametrize("call, message", [
    (lambda l: l(np.zeros((2, 5))), r"expected shape \(batch, timesteps, input_dim\).*got \(2, 5\)"),
    (lambda l: l(np.zeros((2, 3, 4))), r"input_dim 5, got \(2, 3, 4\)"),
    (lambda l: l(np.zeros((2, 3, 5)), initial_state=np.zeros((2, 7))),
     r"initial_state: expected shape \(2, 6\), got \(2, 7\)"),
    (lambda l: l(np.zeros((2, 3, 5)), mask=np.ones((2, 4), bool)),
     r"mask: expected shape \(2, 3\), got \(2, 4\)"),
    (lambda l: l(np.zeros((2, 3, 5)), mask=np.ones((2, 3), object)), r"mask: expected bool or int"),
    (lambda l: l([[1, 2], [3]]), r"cannot be read as a float32 array"),
])
def test_bad_shapes_raise_fastgru_error_naming_expected_and_actual(call, message):
    with pytest.raises(fastgru.FastGRUError, match=message):
        call(_layer())


def test_time_major_shape_error_names_the_time_major_layout():
    with pytest.raises(fastgru.FastGRUError, match=r"\(timesteps, batch, input_dim\).*got \(3, 2, 4\)"):
        _layer(time_major=True)(np.zeros((3, 2, 4)))


def test_cancel_flag_stops_a_run_with_keyboard_interrupt():
    layer, x = _layer(), np.zeros((2, 3, 5), np.float32)
    _core.request_cancel(True)
    try:
        with pytest.raises(KeyboardInterrupt):
            layer(x)
    finally:
        _core.request_cancel(False)
    assert layer(x).shape == (2, 3, 6)
