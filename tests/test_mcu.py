"""fastgru on a bare-metal Cortex-M (`make -C src_c mcu`, examples/mcu/): the library builds
for Cortex-M4, M7 and M55 with the hard-float ABI and without anything an OS would give (heap,
stdio, files, environment, threads, thread-local storage); the example firmware runs the
sensor model GRU(64) -> GRU(32) -> Dense under qemu-system-arm (MPS2 AN386, Cortex-M4) and
matches Keras' predict, whole and streamed one sample a call, with its pool and workspace sized
to exactly the bytes the C API reports and no heap; a model needing an op the
fg_config.h build left out is refused at load; and the C loader's mutation test runs on the
MCU build. Tools: tools/mcu_report.py (which also writes BENCHMARKS.md's MCU table)."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools"))

import mcu_report as mcu  # noqa: E402

MISSING = mcu.missing_tools()
needs_tools = pytest.mark.skipif(MISSING is not None, reason=f"MCU tools: {MISSING}")

# Library text budget for a GRU + Dense model on Cortex-M4 (issue 21), fg_config.h build.
LIBRARY_TEXT_BUDGET = 24 * 1024
TOLERANCE = 1e-5   # libm and operation-order differences against Keras on the jax backend

# Every static the library keeps in RAM, the only bytes it needs beyond what the C API reports
# (fg_model_memory_bytes, fg_state_bytes, fg_model_workspace_bytes): a new one must be named
# here, and in BENCHMARKS.md's MCU table.
LIBRARY_STATICS = {
    "last_error": "fg_last_error's message (fg_common.c)",
    "threads_reason": "why threads are off, for fastgru.threads_status (fg_common.c)",
    "threads_state": "", "default_threads": "", "max_bytes": "FASTGRU_MAX_BYTES cap",
    "cancel_flag": "", "cancel_everything": "cancellation (fg_common.c)",
    "isa_cap": "", "isa_for_cap": "", "flags.0": "ISA choice (fg_common.c, kernels/cpu.c)",
    "blocks_desc": "the GRU's alternating block order (fg_gru.c)",
    "pool_start": "", "pool_end": "", "pool_top": "", "newest": "",
    "pool_peak": "the pool's bump pointer (mcu/fg_mcu_pool.c)",
}

# What a bare-metal library must not ask the linker for.
FORBIDDEN = re.compile(r"^(malloc|calloc|realloc|free|aligned_alloc|posix_memalign|_sbrk|"
                       r"_malloc_r|\w*printf|puts|fopen|fread|fwrite|getenv|pthread_\w+|omp_\w+|"
                       r"GOMP_\w+|__aeabi_read_tp|__emutls_\w+)$")


def undefined_symbols(archive):
    """Symbols the archive's members need and none of them defines."""
    nm = subprocess.run([mcu.CROSS + "nm", "-A", str(archive)], capture_output=True, text=True,
                        check=True).stdout
    defined, needed = set(), set()
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[-2] == "U":
            needed.add(parts[-1])
        elif len(parts) >= 3:
            defined.add(parts[-1])
    return needed - defined


@needs_tools
@pytest.mark.parametrize("core,cpu_name", [("cortex-m4", "7E-M"), ("cortex-m7", "7E-M"),
                                           ("cortex-m55", "8.1-M.mainline")])
def test_library_builds_bare_metal_for_each_core(tmp_path, core, cpu_name):
    lib = mcu.build_library(core, tmp_path / core)
    undefined = undefined_symbols(lib)
    assert not {s for s in undefined if FORBIDDEN.match(s)}, undefined
    assert {"expf", "tanhf", "memcpy"} <= undefined   # libm / libc stay ordinary references
    attributes = subprocess.run([mcu.CROSS + "readelf", "-A", str(lib)], capture_output=True,
                                text=True, check=True).stdout
    assert f"Tag_CPU_arch: v{cpu_name}" in attributes
    assert "Tag_ABI_VFP_args: VFP registers" in attributes     # -mfloat-abi=hard
    assert "Tag_ABI_HardFP_use: SP only" in attributes          # single precision
    # the M55 build adds the Helium kernel (gru_mve.c); the others have none
    symbols = subprocess.run([mcu.CROSS + "nm", str(lib)], capture_output=True, text=True,
                             check=True).stdout
    helium = re.search(r"^[0-9a-f]+ R fg_kernels_mve$", symbols, re.M) is not None
    assert helium == (core == "cortex-m55")
    assert ("Tag_MVE_arch: MVE Integer and FP" in attributes) == (core == "cortex-m55")


@pytest.fixture(scope="module")
def sensor(tmp_path_factory):
    """The sensor model converted to a header, its firmware built with the generated
    fg_config.h and run under qemu, and Keras' own predictions for the same input."""
    work = tmp_path_factory.mktemp("mcu_sensor")
    model = mcu.sensor_model()
    run = mcu.measure(work, model, "sensor")
    x = run["x"][None]
    run["keras_run"] = model.predict(x, verbose=0)[0]
    run["keras_steps"] = [model.predict(x[:, :t], verbose=0)[0] for t in range(1, x.shape[1] + 1)]
    run["work"] = work
    return run


@needs_tools
def test_sensor_firmware_matches_keras_predict(sensor):
    got = sensor["printed"]["run"]
    worst = float(np.max(np.abs(got - sensor["keras_run"])))
    print(f"worst |firmware - keras| over the {mcu.STEPS}-step run: {worst:.3g}")
    assert got.shape == sensor["keras_run"].shape
    assert worst <= TOLERANCE


@needs_tools
def test_sensor_firmware_streams_one_sample_a_call(sensor):
    steps = sensor["printed"]["steps"]
    assert len(steps) == mcu.STEPS
    worst = max(float(np.max(np.abs(g - k))) for g, k in zip(steps, sensor["keras_steps"]))
    print(f"worst |streamed step t - keras predict on the first t samples|: {worst:.3g}")
    assert worst <= TOLERANCE


@needs_tools
def test_sensor_firmware_uses_no_heap_and_fits_the_budget(sensor):
    sizes = sensor["map"]
    symbols = subprocess.run([mcu.CROSS + "nm", str(sensor["elf"])], capture_output=True,
                             text=True, check=True).stdout.split()
    assert not [s for s in symbols if FORBIDDEN.match(s)]
    sections = subprocess.run([mcu.CROSS + "readelf", "-S", "-W", str(sensor["elf"])],
                              capture_output=True, text=True, check=True).stdout
    assert "heap" not in sections.lower()      # no heap section: a heap of size zero
    assert sizes[("fastgru", "text")] <= LIBRARY_TEXT_BUDGET
    assert sizes[("model", "text")] == sensor["image_bytes"]    # the image stays in flash


@needs_tools
def test_sensor_firmware_needs_no_ram_beyond_what_the_c_api_reports(sensor):
    """Built with its pool exactly fg_model_memory_bytes + fg_state_bytes and its workspace
    exactly fg_model_workspace_bytes (the figures the first, roomy build printed), the firmware
    runs and streams. Its RAM (data + bss) is then those reported bytes, the library's named
    statics, the firmware's own input / output arrays and newlib's statics, nothing else."""
    printed, roomy = sensor["printed"], sensor["roomy"]
    for name in ("model_bytes", "state_bytes", "workspace_run", "workspace_step"):
        assert printed[name] == roomy[name], name       # the same figures in either build
    # the pool holds the model, then its state, block for block as reported; planning the
    # workspace takes nothing from it (the peak is the end)
    assert printed["pool_model"] == printed["model_bytes"] > 0
    assert printed["pool_state"] == printed["state_bytes"] > 0
    assert printed["pool_peak"] == printed["pool_end"]
    assert 0 < printed["workspace_step"] < printed["workspace_run"]

    def ram(origin):
        return {name.split(".", 2)[-1]: size
                for name, size in mcu.ram_sections(sensor["map_path"], "sensor", origin).items()}

    statics = ram("fastgru")
    assert set(statics) == set(LIBRARY_STATICS)
    # the firmware's own RAM: the pool and the workspace, both sized from the API, and its
    # input and output arrays
    firmware = ram("firmware")
    assert set(firmware) == {"pool", "workspace", "sequence", "output"}
    assert firmware["pool"] == printed["model_bytes"] + printed["state_bytes"] == \
        printed["pool_peak"]
    assert firmware["workspace"] == max(printed["workspace_run"], printed["workspace_step"])
    newlib = sum(sum(ram(who).values()) for who in ("libm", "libc", "gcc"))
    # the ELF's data and bss (arm-none-eabi-size, less the 16 KB stack section it counts as
    # bss) hold all of that and the linker's alignment padding: the 64-byte aligned pool and
    # workspace, the 8-byte section ends
    _, data, bss = sensor["size"]
    ram_total = data + bss - mcu.STACK_BYTES
    parts = sum(firmware.values()) + sum(statics.values()) + newlib
    assert parts <= ram_total < parts + 2 * 64 + 2 * 8


@needs_tools
def test_model_needing_an_op_left_out_is_refused(sensor, tmp_path):
    """A library built for a GRU-only model (no dense) must refuse the sensor model at load,
    never run it wrong."""
    _, gru_config = mcu.convert_to_header(mcu.gru_only_model(), tmp_path, "gru_only")
    elf = mcu.build_firmware("sensor", tmp_path / "fw", sensor["work"] / "sensor.h",
                             sensor["work"] / "sensor_input.h", gru_config)
    status, text = mcu.run_qemu(elf)
    assert status == 3, text          # FG_ERR_FORMAT
    assert "\nerror load:" in text, text


# Helium against the scalar kernel: the bound every SIMD kernel meets against the scalar one on
# the host (tests/test_isa_threads.py); they differ by FMA and the vector exp / tanh
# (kernels/vmath_template.h) against newlib's expf / tanhf.
HELIUM_TOLERANCE = 1e-5


@needs_tools
@pytest.mark.parametrize("model", ["sensor", "helium"])
def test_helium_kernel_on_the_m55_matches_the_scalar_kernel(sensor, tmp_path_factory, model):
    """The sensor firmware built for the Cortex-M55 under qemu's MPS3 AN547: it runs the
    Helium kernel (and the scalar one with the cap), whole and streamed, within the host's
    SIMD-against-scalar bound of the scalar kernel and within 1e-5 of Keras. The sensor model
    has reset_after=True GRUs of whole 16-unit blocks; the other covers reset_after=False and
    units past a block."""
    reason = mcu.missing_helium()
    if reason:
        pytest.skip(reason)
    keras_model = mcu.sensor_model() if model == "sensor" else mcu.helium_model()
    check = mcu.helium_check(tmp_path_factory.mktemp("m55"), keras_model, model)
    runs = check["runs"]
    assert (runs["mve"]["printed"]["isa"], runs["scalar"]["printed"]["isa"]) == ("mve", "scalar")
    print(f"{model}: worst |helium - scalar| {check['vs_scalar']:.3g} "
          f"({check['vs_scalar_ulps']} ulp), |helium - keras| {check['vs_keras']:.3g}")
    assert 0 < check["vs_scalar"] <= HELIUM_TOLERANCE     # 0 would mean no Helium ran
    assert check["vs_keras"] <= TOLERANCE
    if model == "sensor":   # the scalar kernel gives the M4's very bits on the M55
        assert runs["scalar"]["printed"]["run"].tobytes() == sensor["printed"]["run"].tobytes()


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("mcu_fuzz")


@needs_tools
@pytest.mark.parametrize("model", ["causal", "stack"])
def test_loader_mutations_never_fault_on_the_mcu(fuzz_dir, model):
    """tests/test_format.py's mutation test on the bare-metal build: every hostile variant
    loads and runs, or is refused; a fault would end qemu with status 99 (startup.c)."""
    from fastgru import c_export
    from fastgru import format as fmt
    from test_model_exec import masked_stack
    from test_model_stream import causal_model

    spec = {"causal": causal_model, "stack": masked_stack}[model]()
    header = fuzz_dir / f"{model}.h"
    header.write_text(c_export.header_text(fmt.pack_model(spec), model))
    elf = mcu.build_firmware("loader_fuzz", fuzz_dir, header)
    status, text = mcu.run_qemu(elf)
    assert status == 0, text
    found = re.search(r"loaded (\d+) refused (\d+) ran (\d+)", text)
    loaded, refused, ran = map(int, found.groups())
    assert refused > 1000 and loaded > 0 and ran > 0


def test_generated_config_names_exactly_what_the_model_uses():
    """`--format c`'s fg_config.h against the spec itself: every op kind and activation the
    ops name, no other (read back from the image's op records by fastgru/c_export.py)."""
    from fastgru import c_export
    from fastgru import format as fmt
    from fastgru.spec import ACTIVATIONS
    from test_model_exec import masked_stack

    spec = masked_stack()
    text = c_export.config_text(fmt.pack_model(spec), "stack")
    ops = int(re.search(r"FG_CONFIG_OPS 0x([0-9a-f]+)u", text).group(1), 16)
    acts = int(re.search(r"FG_CONFIG_ACTIVATIONS 0x([0-9a-f]+)u", text).group(1), 16)
    want_ops = want_acts = 0
    for op in spec.ops:
        want_ops |= 1 << fmt.OP_IDS[op.kind]
        names = {"gru": [("activation", "tanh"), ("recurrent_activation", "sigmoid")],
                 "dense": [("activation", "linear")],
                 "activation": [("activation", None)]}.get(op.kind, [])
        for key, default in names:
            want_acts |= 1 << ACTIVATIONS[op.attrs.get(key, default)]
    assert (ops, acts) == (want_ops, want_acts)
    assert "#define FG_CONFIG_BF16 0" in text
    assert "#define FG_CONFIG_TIME_MAJOR 0" in text   # no time-major ops to build
