"""custom_gru ops on the device executor (fastgru/gpu), checked without a GPU against the CPU
op (the C kernels) within 1e-6: once with the cell program evaluated as array operations
(numpy in CuPy's place) and once with the program's generated CUDA kernels compiled for the
CPU by the kernel harness (tests/gpu_harness.py). Cases: every custom_gru fixture, the
CustomGRU cells of test_custom_gru_exec.py with every bias form and the RNN options, edge
operations (integral and other powers, min / max, comparisons), stateful calls and streams.
With CuPy and a CUDA device present, the cells also run on the device."""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

import fastgru
from fastgru import CustomGRU
from fastgru.format import pack_model
from fastgru.gpu import device, kernels
from fastgru.gpu.custom_cell import cell_program
from fastgru.gpu.custom_kernel import KERNEL_NAMES
from fastgru.image_reader import read_program
from fastgru.model import Model
from fixture_manifest import load_data
from gpu_harness import build_harness, harness_backend, numpy_backend
from test_custom_gru_exec import CELLS, _hostile_programs, custom_spec, inputs
from test_gpu_executor import HAVE_GPU
from test_load_fixtures import LOADABLE, _load, _run, stream_steps

CPU_TOL = 1e-6
FIXTURES = [e for e in LOADABLE if e["model"].startswith("cgru_")]   # every file format
# the operations the fixture and test cells do not reach
EDGES = CustomGRU(
    z="sigmoid(xz + hz)", r="sigmoid(xr + hr)",
    candidate="tanh(xh + r * hh) + 0.01 * (tanh(xz) ** 7 - (abs(xz) + 1) ** -2 "
              "+ abs(xr) ** 0.5 + xz ** 0 + relu(xr - xz, threshold=0.1) - minimum(xh, -xz) "
              "+ maximum(tanh(xr) ** 3, 0.1) / 2)",
    h="z * h_prev + (1 - z) * candidate - 0.01 * tanh(xz) ** 65 "
      "+ 0.001 * (tanh(xr) / 64 + 1) ** 64",
    reset_after=False)


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    return build_harness(tmp_path_factory.mktemp("gpu_harness") / "harness.so")


@pytest.fixture(params=["array_ops", "generated_kernels"])
def backend(request, harness, tmp_path, monkeypatch):
    """The device path with a custom cell's program as array operations, or as its
    generated kernels run by the harness; load(..., device="cuda") gets it."""
    chosen = numpy_backend() if request.param == "array_ops" else \
        harness_backend(harness, tmp_path)
    monkeypatch.setattr(device, "backend_for", lambda name: chosen)
    return chosen


def _close_to_cpu(got, want):
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=CPU_TOL, rtol=0)


@pytest.mark.skipif(not FIXTURES, reason="no custom_gru fixtures (tests/fixtures/manifest.json)")
@pytest.mark.parametrize("entry", FIXTURES, ids=lambda e: e["id"])
def test_fixture_cells_match_the_cpu_op(entry, backend):
    data = load_data(entry)
    model = _load(entry, device="cuda")
    assert model._device is not None
    _close_to_cpu(_run(model, data), _run(_load(entry), data))


@pytest.mark.parametrize("name", sorted(CELLS) + ["edges"])
@pytest.mark.parametrize("bias", ["2d", "1d", None])
def test_declared_cells_match_the_cpu_op(name, bias, backend):
    spec = custom_spec(EDGES if name == "edges" else CELLS[name], bias=bias, mask=True)
    xs = inputs(spec)
    image = pack_model(spec)
    _close_to_cpu([Model(image, device="cuda").predict(xs)], [Model(image).predict(xs)])


@pytest.mark.parametrize("options", [dict(go_backwards=True), dict(state=True),
                                     dict(return_sequences=False, mask=True),
                                     dict(go_backwards=True, mask=True, state=True)])
@pytest.mark.parametrize("name", ["leaky_textbook", "everything"])
def test_rnn_options_match_the_cpu_op(name, options, backend):
    spec = custom_spec(CELLS[name], **options)
    xs = inputs(spec)
    image = pack_model(spec)
    _close_to_cpu([Model(image, device="cuda").predict(xs)], [Model(image).predict(xs)])


def test_stateful_calls_and_streams_carry_on_the_device(backend):
    spec = custom_spec(CELLS["poly_before"], stateful=True)
    image = pack_model(spec)
    xs, xs2 = inputs(spec, steps=8), inputs(spec, steps=8, seed=2)
    dev, cpu = Model(image, device="cuda"), Model(image)
    for x in (xs, xs2, xs):   # each call starts from the last one's state
        _close_to_cpu([dev.predict(x)], [cpu.predict(x)])
    state = [np.full((4, 20), 0.5, np.float32)]
    for m in (dev, cpu):
        m.reset_states(state)
    _close_to_cpu([dev.predict(xs2)], [cpu.predict(xs2)])
    stream_image = pack_model(custom_spec(CELLS["everything"], mask=True))
    streams = [Model(stream_image, device=d).stream(batch_size=4) for d in ("cuda", "cpu")]
    for dev_out, cpu_out in zip(*(stream_steps(s, xs) for s in streams)):
        _close_to_cpu(dev_out, cpu_out)


@pytest.mark.skipif(not FIXTURES, reason="no custom_gru fixtures (tests/fixtures/manifest.json)")
def test_a_bidirectional_cell_refuses_to_stream_on_the_device(backend):
    entry = next(e for e in FIXTURES if e["model"] == "cgru_bidirectional_masked")
    with pytest.raises(fastgru.FastGRUError, match="cannot be streamed.*backwards"):
        _load(entry, device="cuda").stream(batch_size=2)


@pytest.mark.parametrize("program, message", _hostile_programs()[::5])
def test_the_device_path_refuses_hostile_programs(program, message, backend):
    """The C loader checks the program before the device path reads it."""
    cell = CustomGRU()
    cell.program = np.asarray(program, dtype=np.float32)
    with pytest.raises(fastgru.FastGRUError, match=message):
        Model(pack_model(custom_spec(cell)), device="cuda")


# what NVRTC provides, for a host C++ compiler to read the CUDA source
_CUDA_STUBS = """#include <math.h>
#define __CUDACC__ 1
#define __global__
#define __device__
struct fg_dim3 { unsigned x; };
static fg_dim3 blockIdx, blockDim, threadIdx;
"""


@pytest.mark.parametrize("cell", [CELLS["everything"], CELLS["leaky_textbook"], EDGES],
                         ids=["reset_after0", "reset_after1", "edges"])
def test_generated_cuda_source_compiles_with_its_entry_points(cell, tmp_path):
    """The whole source CuPy compiles for a cell: as C without the CUDA entry points, and as
    the C++11 NVRTC reads (--std=c++11) with them, CUDA's keywords stubbed; each entry point of
    the cell's reset_after is there."""
    if shutil.which("cc") is None or shutil.which("c++") is None:
        pytest.skip("needs C and C++ compilers (cc, c++)")
    op = read_program(pack_model(custom_spec(cell))).ops[0]
    program = cell_program(op.weights["program"], op.iattrs["reset_after"])
    source = kernels.custom_kernel_source(program)
    as_c, as_cuda = tmp_path / "cell.c", tmp_path / "cell.cpp"
    as_c.write_text("#include <math.h>\n" + source.replace(
        "#define FG_ACT_FN __device__ static inline", ""))
    as_cuda.write_text(_CUDA_STUBS + source)
    for cmd in (["cc", str(as_c)], ["c++", "-std=c++11", "-pedantic", str(as_cuda)]):
        r = subprocess.run(cmd + ["-fsyntax-only", "-Wall", "-Werror"], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
    names = re.findall(r'extern "C" __global__ void (fg_custom_\w+)\(', source)
    assert tuple(names) == KERNEL_NAMES[cell.reset_after]


@pytest.mark.skipif(not HAVE_GPU, reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("options", [dict(mask=True), dict(go_backwards=True, state=True),
                                     dict(return_sequences=False, mask=True)])
@pytest.mark.parametrize("name", sorted(CELLS) + ["edges"])
def test_real_device_runs_the_generated_kernels(name, options):
    """On a GPU: the cells' kernels compiled by NVRTC, CuPy arrays in and out; within 1e-5 of
    the CPU op (the device's expf / tanhf are not the host's)."""
    import cupy
    spec = custom_spec(EDGES if name == "edges" else CELLS[name], **options)
    image, xs = pack_model(spec), inputs(spec)
    got = Model(image, device="cuda").predict([cupy.asarray(x) for x in xs])
    assert isinstance(got, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(got), Model(image).predict(xs), atol=1e-5, rtol=0)
