"""The GPU path, checked without a GPU (fastgru/gpu): ``load(..., device="cuda")`` with numpy
injected in CuPy's place runs every fixture model as Keras does (stateful calls, streams,
batch chunks, pickling); the CUDA kernels' bodies (src_c/gpu/fg_gru_step.cu, and a custom
cell's generated kernels), compiled for the CPU by tests/c/gpu_kernel_harness.c
(tests/gpu_harness.py), run the GRU steps and activations of the same models; the refusals
when CuPy or a device is missing. With CuPy and a CUDA device present, the same
models also run on the device."""
from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastgru
from fastgru.format import pack_model
from fastgru.gpu import activations, device, kernels
from fastgru.gpu.executor import unsupported_ops
from fastgru.image_reader import ImageOp, ImageProgram
from fastgru.model import Model
from fastgru.output_structure import flatten
from fastgru.registry import ACTIVATIONS, OPS
from fixture_manifest import (MANIFEST, TOL, arrays, is_stateful, load_data, max_error,
                              tolerance)
from gpu_harness import build_harness, harness_activate, harness_backend, numpy_backend
from model_cases import SpecBuilder
from test_conv import conv
from test_load_fixtures import ONE_PER_MODEL, _expected, _feed, _load, _run, stream_steps

HAVE_GPU = False
try:
    device.cuda_backend()
    HAVE_GPU = True
except fastgru.FastGRUError:
    pass


# ---- the kernels' bodies on the CPU ---------------------------------------------------------
@pytest.fixture(scope="session")
def harness(tmp_path_factory):
    return build_harness(tmp_path_factory.mktemp("gpu_harness") / "harness.so")


@pytest.fixture
def harness_on_cpu(harness, tmp_path):
    """Every kernel of the device path (a custom cell's generated ones too) run by the
    harness."""
    return harness_backend(harness, tmp_path)


# ---- the models -----------------------------------------------------------------------------
def _on(monkeypatch, backend):
    monkeypatch.setattr(device, "backend_for", lambda name: backend)


@pytest.mark.skipif(not MANIFEST, reason="no fixtures (tests/fixtures/manifest.json)")
@pytest.mark.parametrize("entry", ONE_PER_MODEL, ids=lambda e: e["id"])
def test_array_executor_reproduces_keras(entry, monkeypatch):
    _on(monkeypatch, numpy_backend())
    data = load_data(entry)
    model = _load(entry, device="cuda")
    assert model._device is not None
    assert max_error(_run(model, data), _expected(data)) <= tolerance(entry)


@pytest.mark.skipif(not MANIFEST, reason="no fixtures (tests/fixtures/manifest.json)")
@pytest.mark.parametrize("entry", ONE_PER_MODEL, ids=lambda e: e["id"])
def test_kernel_bodies_reproduce_keras(entry, monkeypatch, harness_on_cpu):
    _on(monkeypatch, harness_on_cpu)
    data = load_data(entry)
    assert max_error(_run(_load(entry, device="cuda"), data), _expected(data)) <= tolerance(entry)


@pytest.mark.skipif(not MANIFEST, reason="no fixtures (tests/fixtures/manifest.json)")
@pytest.mark.parametrize("entry", ONE_PER_MODEL, ids=lambda e: e["id"])
def test_device_stream_equals_cpu_stream(entry, monkeypatch):
    data = load_data(entry)
    if is_stateful(data):
        pytest.skip("stateful model: its state already carries between calls")
    cpu = _load(entry)
    xs = arrays(data, "x")
    try:
        cpu_stream = cpu.stream(batch_size=xs[0].shape[0])
    except fastgru.FastGRUError:
        pytest.skip("not streamable")
    _on(monkeypatch, numpy_backend())
    dev_stream = _load(entry, device="cuda").stream(batch_size=xs[0].shape[0])
    for dev_out, cpu_out in zip(stream_steps(dev_stream, xs), stream_steps(cpu_stream, xs)):
        for a, b in zip(dev_out, cpu_out):
            np.testing.assert_allclose(a, b, atol=TOL, rtol=0)


def test_every_op_kind_of_the_registry_runs_on_the_device():
    """A new op kind needs its device path (the runner refuses a model with one lacking it)."""
    ops = [ImageOp(k.name, f"layer_{k.name}", [], [], {}, {}) for k in OPS]
    assert unsupported_ops(ImageProgram({}, [], [], ops, 0)) == []


def test_kernel_activations_match_the_formulas(harness):
    """Every elementwise activation through the kernel body, against the array path's
    formula in float32, NaN and infinities included."""
    x = np.concatenate([np.linspace(-30, 30, 2001, dtype=np.float32),
                        np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30], np.float32)])
    activate = harness_activate(harness)
    for name, act_id in ACTIVATIONS.items():
        if act_id in activations.ROW_WISE:
            continue
        got = activate(np, act_id, x[None])[0]
        with np.errstate(invalid="ignore"):
            want = activations.apply(np, act_id, x)
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-7, err_msg=name)


def test_kernel_source_is_valid_c(tmp_path):
    """The source CuPy compiles, as gcc sees it without the CUDA entry points."""
    if shutil.which("cc") is None:
        pytest.skip("needs a C compiler (cc)")
    src = tmp_path / "kernels.c"
    src.write_text("#include <math.h>\n" + kernels.kernel_source().replace(
        "#define FG_ACT_FN __device__ static inline", ""))
    r = subprocess.run(["cc", "-fsyntax-only", "-Wall", "-Werror", str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for name in kernels.KERNEL_NAMES:
        assert f"__global__ void {name}(" in kernels.kernel_source()


# ---- the API --------------------------------------------------------------------------------
def _demo_path():
    return Path(fastgru.__file__).parent / "data" / "demo.keras"


@pytest.mark.skipif(not MANIFEST, reason="no fixtures (tests/fixtures/manifest.json)")
def test_device_model_chunks_pickles_and_resets(monkeypatch):
    entry = next(e for e in MANIFEST if e["model"] == "stateful")
    data = load_data(entry)
    _on(monkeypatch, numpy_backend())
    model = _load(entry, device="cuda")
    assert model.device == "cuda"
    clone = pickle.loads(pickle.dumps(model))
    assert clone.device == "cuda" and clone._device is not None
    cpu = _load(entry)
    x0, x1 = arrays(data, "x", "_call0"), arrays(data, "x", "_call1")
    for m in (model, cpu):
        m.predict(_feed(x0))
    states = [np.full((x0[0].shape[0], s["units"]), 0.25, np.float32)
              for s in model.metadata["states"]]
    for m in (model, cpu):
        m.reset_states(states)
    np.testing.assert_allclose(model.predict(_feed(x1)), cpu.predict(_feed(x1)), atol=TOL)


def test_device_state_slots_count_a_causal_conv_before_a_stateful_gru(monkeypatch):
    """reset_states numbers slots over the ops that carry state (fastgru.format.carries_state),
    as the CPU does: the conv1d has slot 0, the gru slot 1."""
    s = SpecBuilder("stateful")
    h = conv(s, "conv", s.input("x", (5, 4)), 6, 3, padding="causal")
    image = pack_model(s.spec([s.gru("gru", h, 4, stateful=True)], stateful_batch=2))
    _on(monkeypatch, numpy_backend())
    h0 = [np.random.default_rng(4).uniform(-1, 1, (2, 4)).astype(np.float32)]
    x = np.random.default_rng(5).normal(size=(2, 5, 4)).astype(np.float32)
    dev, cpu = Model(image, device="cuda"), Model(image)
    assert [s["slot"] for s in dev.metadata["states"]] == [1]
    for m in (dev, cpu):
        m.reset_states(h0)
    np.testing.assert_allclose(dev.predict(x), cpu.predict(x), atol=TOL, rtol=0)


def test_device_refusals(monkeypatch):
    with pytest.raises(fastgru.FastGRUError, match="expected 'cpu' or 'cuda'"):
        fastgru.load(_demo_path(), device="tpu")
    _on(monkeypatch, numpy_backend())
    with pytest.raises(fastgru.FastGRUError, match="runs on the CPU only"):
        fastgru.load(_demo_path(), device="cuda", precision="bfloat16")


@pytest.mark.skipif(HAVE_GPU, reason="CuPy and a CUDA device are present")
def test_cuda_without_cupy_or_device_says_what_is_missing():
    with pytest.raises(fastgru.FastGRUError, match="CuPy|CUDA device"):
        fastgru.load(_demo_path(), device="cuda")


def test_importing_fastgru_never_imports_cupy():
    code = ("import sys, fastgru; m = fastgru.load(sys.argv[1]); m.predict("
            "__import__('numpy').zeros((1, 3) + tuple(m.inputs[0].shape[2:]), 'float32')); "
            "assert 'cupy' not in sys.modules and 'fastgru.gpu.kernels' not in sys.modules")
    subprocess.run([sys.executable, "-c", code, str(_demo_path())], check=True)


@pytest.mark.skipif(not HAVE_GPU, reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("entry", ONE_PER_MODEL, ids=lambda e: e["id"])
def test_real_device_reproduces_keras(entry):
    import cupy
    data = load_data(entry)
    model = _load(entry, device="cuda")
    assert max_error(_run(model, data), _expected(data)) <= tolerance(entry)
    if not is_stateful(data):
        got = flatten(model.predict(_feed([cupy.asarray(x) for x in arrays(data, "x")])))
        assert all(isinstance(g, cupy.ndarray) for g in got)
