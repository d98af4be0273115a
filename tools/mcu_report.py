"""fastgru on a Cortex-M under qemu (examples/mcu/): build the bare-metal library and the
example firmware, run it, read what it prints, and measure what it links.

    python tools/mcu_report.py [--out DIR]    the size and RAM table for BENCHMARKS.md

Needs arm-none-eabi-gcc with newlib and qemu-system-arm (Debian: gcc-arm-none-eabi
libnewlib-arm-none-eabi qemu-system-arm), and Keras 3 for the models. tests/test_mcu.py
uses the same helpers.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MCU_DIR = ROOT / "examples" / "mcu"
CROSS = "arm-none-eabi-"
QEMU = "qemu-system-arm"
STEPS, FEATURES = 24, 6     # the sensor input: 24 samples of a 6-axis IMU
STACK_BYTES = 16 * 1024     # examples/mcu/sections.ld
# the qemu board each firmware core runs on (examples/mcu/Makefile's linker scripts)
BOARDS = {"cortex-m4": "mps2-an386", "cortex-m55": "mps3-an547"}


def missing_tools() -> Optional[str]:
    """Why the MCU build or run cannot happen here, or None when it can."""
    for tool in (CROSS + "gcc", CROSS + "size", "make", QEMU):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt: gcc-arm-none-eabi qemu-system-arm)"
    libc = subprocess.run([CROSS + "gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                           "-mfpu=fpv4-sp-d16", "-print-file-name=libc_nano.a"],
                          capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(libc):
        return "newlib for arm-none-eabi is not installed (apt: libnewlib-arm-none-eabi)"
    return None


def missing_helium() -> Optional[str]:
    """Why qemu cannot run the Cortex-M55 firmware with Helium here, or None when it can
    (the MPS3 AN547 board came in qemu 6.0, Helium (MVE) emulation in 6.1)."""
    version = subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout
    found = re.search(r"version (\d+)\.(\d+)", version)
    if not found or tuple(map(int, found.groups())) < (6, 1):
        return f"{QEMU} older than 6.1 emulates no Helium (MVE): {version.splitlines()[:1]}"
    boards = subprocess.run([QEMU, "-M", "help"], capture_output=True, text=True).stdout
    return None if BOARDS["cortex-m55"] in boards else f"{QEMU} has no {BOARDS['cortex-m55']}"


def _make(args: List[str], timeout: int = 600) -> None:
    run = subprocess.run(["make", "-j2", *args], capture_output=True, text=True,
                         timeout=timeout)
    if run.returncode != 0:
        raise RuntimeError(f"make {' '.join(args)} failed:\n{run.stdout[-3000:]}"
                           f"{run.stderr[-3000:]}")


def build_library(mcu: str, out_dir: Path, fg_config: Optional[Path] = None) -> Path:
    """`make -C src_c mcu` for one core; the path of libfastgru_mcu.a."""
    args = ["-C", str(ROOT / "src_c"), "mcu", f"CROSS={CROSS}", f"MCU={mcu}",
            f"MCU_BUILD={out_dir}"]
    _make(args + ([f"FG_CONFIG={fg_config}"] if fg_config else []))
    return out_dir / "libfastgru_mcu.a"


def build_firmware(target: str, out_dir: Path, model_h: Path, input_h: Optional[Path] = None,
                   fg_config: Optional[Path] = None, pool_bytes: int = 4096,
                   workspace_bytes: int = 32768, messages: bool = False,
                   mcu: str = "cortex-m4", isa_cap: str = "") -> Path:
    """examples/mcu's `sensor` or `loader_fuzz` firmware for a core of BOARDS; the path of its
    ELF (and, for the sensor, OUT/sensor.map beside it). `messages`: the library keeps its
    error messages; `isa_cap`: the sensor firmware caps the kernel ("scalar")."""
    args = ["-C", str(MCU_DIR), target, f"OUT={out_dir}", f"MODEL_H={model_h}",
            f"POOL_BYTES={pool_bytes}", f"WORKSPACE_BYTES={workspace_bytes}",
            f"MCU_MESSAGES={int(messages)}", f"MCU={mcu}", f"ISA_CAP={isa_cap}"]
    if input_h:
        args.append(f"INPUT_H={input_h}")
    if fg_config:
        args.append(f"FG_CONFIG={fg_config}")
    _make(args)
    return out_dir / f"{target}.elf"


def run_qemu(elf: Path, timeout: int = 300, mcu: str = "cortex-m4") -> Tuple[int, str]:
    """Run a firmware on its core's qemu board (BOARDS: MPS2 AN386 for the Cortex-M4, MPS3
    AN547 for the M55); its exit status and what it printed."""
    run = subprocess.run([QEMU, "-M", BOARDS[mcu], "-nographic", "-monitor", "none",
                          "-semihosting-config", "enable=on,target=native",
                          "-kernel", str(elf)], capture_output=True, text=True,
                         timeout=timeout)
    return run.returncode, run.stdout + run.stderr


def parse_sensor_output(text: str) -> dict:
    """sensor.c's lines: 'NAME VALUE' figures, 'isa NAME', 'run T bits...' and
    'step t bits...'."""
    out: dict = {"steps": []}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
        elif len(parts) == 2 and parts[0] == "isa":
            out["isa"] = parts[1]
        elif parts and parts[0] in ("run", "step"):
            values = np.array([int(b, 16) for b in parts[2:]], np.uint32).view(np.float32)
            if parts[0] == "run":
                out["run"] = values
            else:
                out["steps"].append(values)
    return out


def write_input_header(path: Path, x: np.ndarray) -> None:
    """The firmware's input sequence (steps, features), as exact float32 bit patterns."""
    steps, features = x.shape
    bits = np.ascontiguousarray(x, np.float32).reshape(-1).view(np.uint32)
    rows = [", ".join(f"0x{b:08x}u" for b in bits[i:i + 8]) for i in range(0, len(bits), 8)]
    path.write_text("/* the input sequence, float32 bits, written by tools/mcu_report.py */\n"
                    f"#define SAMPLE_STEPS {steps}\n#define SAMPLE_FEATURES {features}\n"
                    "static const unsigned int sample_bits[] = {\n    "
                    + ",\n    ".join(rows) + "\n};\n")


def sensor_model(seed: int = 7):
    """GRU(64) -> GRU(32) -> Dense(4) over a 6-feature sensor stream, seeded weights."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((None, FEATURES)),
                             keras.layers.GRU(64, return_sequences=True),
                             keras.layers.GRU(32), keras.layers.Dense(4)], name="sensor")


def helium_model(seed: int = 7):
    """GRU(40, reset_after=False) -> GRU(20) -> Dense(3): both GRU step kernels, and units
    that are no multiple of the kernels' 16-unit blocks (for the Helium check)."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((None, FEATURES)),
                             keras.layers.GRU(40, return_sequences=True, reset_after=False),
                             keras.layers.GRU(20), keras.layers.Dense(3)], name="helium")


def gru_only_model(seed: int = 7):
    """A lone GRU(64) (tanh / sigmoid): the smallest model the library can run."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((None, FEATURES)), keras.layers.GRU(64)],
                            name="gru_only")


def convert_to_header(keras_model, out_dir: Path, name: str,
                      dtype: str = "float32") -> Tuple[Path, Path]:
    """Save a Keras model and `fastgru convert --format c` it: (header, its fg_config.h)."""
    import fastgru

    out_dir.mkdir(parents=True, exist_ok=True)
    src = out_dir / f"{name}.keras"
    keras_model.save(src)
    header = out_dir / f"{name}.h"
    fastgru.convert(src, header, format="c", dtype=dtype)
    return header, out_dir / f"{name}_fg_config.h"


# map file lines: " .text.name  0xADDR  0xSIZE  origin" (the name may stand on its own line)
_MAP_ROW = re.compile(r"^ (\.\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")


def _origin(path: str) -> str:
    if "libfastgru_mcu.a" in path:
        return "fastgru"
    for lib, origin in (("libm.a", "libm"), ("libc_nano.a", "libc"), ("libc.a", "libc"),
                        ("libgcc.a", "gcc")):
        if lib in path:
            return origin
    return "firmware"


def map_sections(map_path: Path, model_symbol: str) -> List[Tuple[str, str, str, int]]:
    """The input sections the final link keeps, as (origin, kind, section, bytes): origin
    fastgru, libm, libc, gcc, firmware or model (the image array); kind text (code and
    constants in flash), data (initialised RAM, also in flash) or bss."""
    rows = []
    lines = map_path.read_text().split("\n")
    start = next(i for i, text in enumerate(lines)
                 if text.startswith("Linker script and memory map"))
    pending = None
    for line in lines[start:]:
        if re.match(r"^ \.\S+$", line):
            pending = line.strip()
            continue
        m = _MAP_ROW.match(line)
        if not m:
            pending = None
            continue
        section = m.group(1) or pending
        pending = None
        size, origin = int(m.group(3), 16), m.group(4)
        if section is None or size == 0 or origin.startswith("0x") or " " in origin:
            continue
        kind = ("text" if section.startswith((".text", ".rodata")) else
                "data" if section.startswith(".data") else
                "bss" if section.startswith((".bss", "COMMON")) else None)
        if kind is None:
            continue
        who = "model" if section.endswith(f".{model_symbol}_data") else _origin(origin)
        rows.append((who, kind, section, size))
    return rows


def map_sizes(map_path: Path, model_symbol: str) -> Dict[Tuple[str, str], int]:
    """map_sections' bytes summed by (origin, kind)."""
    sizes: Dict[Tuple[str, str], int] = {}
    for who, kind, _, size in map_sections(map_path, model_symbol):
        sizes[(who, kind)] = sizes.get((who, kind), 0) + size
    return sizes


def ram_sections(map_path: Path, model_symbol: str, origin: str) -> Dict[str, int]:
    """RAM (data and bss) sections one origin brings, by name ('.bss.last_error': 512)."""
    return {section: size for who, kind, section, size in map_sections(map_path, model_symbol)
            if who == origin and kind in ("data", "bss")}


def elf_size(elf: Path) -> Tuple[int, int, int]:
    """arm-none-eabi-size's text, data and bss of a firmware."""
    out = subprocess.run([CROSS + "size", str(elf)], capture_output=True, text=True,
                         check=True).stdout.splitlines()[1].split()
    return int(out[0]), int(out[1]), int(out[2])


def _build_and_run(out: Path, header: Path, input_h: Path, config: Optional[Path],
                   pool_bytes: int, workspace_bytes: int, messages: bool, mcu: str,
                   isa_cap: str) -> Tuple[Path, str]:
    elf = build_firmware("sensor", out, header, input_h, config, pool_bytes=pool_bytes,
                         workspace_bytes=workspace_bytes, messages=messages, mcu=mcu,
                         isa_cap=isa_cap)
    status, text = run_qemu(elf, mcu=mcu)
    if status != 0:
        raise RuntimeError(f"{elf} exited {status}:\n{text[-2000:]}")
    return elf, text


def measure(work: Path, keras_model, name: str, fg_config: bool = True,
            dtype: str = "float32", pool_bytes: int = 4096, messages: bool = False,
            mcu: str = "cortex-m4", isa_cap: str = "") -> dict:
    """Build and run one firmware: its sizes, the figures it prints, its outputs. It is built
    twice: first with a `pool_bytes` pool and a 32 KB workspace to read the bytes the C API
    reports, then with the pool and the workspace exactly those sizes (the firmware measured;
    "roomy": what the first run printed)."""
    header, config = convert_to_header(keras_model, work, name, dtype)
    x = np.random.default_rng(0).normal(size=(STEPS, FEATURES)).astype(np.float32)
    input_h = work / f"{name}_input.h"
    write_input_header(input_h, x)
    out = work / (f"fw_{name}_{dtype}_{'config' if fg_config else 'all'}_{int(messages)}_"
                  f"{mcu}{isa_cap}")
    config = config if fg_config else None
    _, text = _build_and_run(out, header, input_h, config, pool_bytes, 32768, messages, mcu,
                             isa_cap)
    roomy = parse_sensor_output(text)
    sized_pool = roomy["model_bytes"] + roomy["state_bytes"]
    sized_workspace = max(roomy["workspace_run"], roomy["workspace_step"])
    elf, text = _build_and_run(out, header, input_h, config, sized_pool, sized_workspace,
                               messages, mcu, isa_cap)
    return {"x": x, "elf": elf, "size": elf_size(elf), "map": map_sizes(out / "sensor.map", name),
            "name": name, "map_path": out / "sensor.map",
            "printed": parse_sensor_output(text), "roomy": roomy,
            "image_bytes": _image_bytes(header)}


def float_ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How many float32 values lie between a and b, elementwise."""
    def ordered(v):
        i = np.ascontiguousarray(v, np.float32).view(np.int32).astype(np.int64)
        return np.where(i < 0, -(2 ** 31) - i, i)
    return np.abs(ordered(a) - ordered(b))


def helium_check(work: Path, keras_model, name: str) -> dict:
    """The sensor firmware on the Cortex-M55 (qemu's MPS3 AN547) twice, with the Helium kernel
    and capped to the scalar one, and Keras' predict of the same input: the worst differences
    over the whole run and the streamed steps (Helium against scalar) and over the run
    (Helium against Keras)."""
    runs = {cap or "mve": measure(work, keras_model, name, mcu="cortex-m55", isa_cap=cap)
            for cap in ("", "scalar")}

    def outputs(r: dict) -> np.ndarray:
        return np.concatenate([r["printed"]["run"], *r["printed"]["steps"]])

    mve, scalar = outputs(runs["mve"]), outputs(runs["scalar"])
    keras_run = keras_model.predict(runs["mve"]["x"][None], verbose=0)[0]
    return {"runs": runs, "vs_scalar": float(np.max(np.abs(mve - scalar))),
            "vs_scalar_ulps": int(np.max(float_ulps(mve, scalar))),
            "vs_keras": float(np.max(np.abs(runs["mve"]["printed"]["run"] - keras_run)))}


def _image_bytes(header: Path) -> int:
    return int(re.search(r"\((\d+) bytes", header.read_text()).group(1))


def report(work: Path) -> str:
    gru = measure(work, gru_only_model(), "gru_only")
    sensor = measure(work, sensor_model(), "sensor")
    sensor_all = measure(work, sensor_model(), "sensor", fg_config=False)
    sensor_messages = measure(work, sensor_model(), "sensor", messages=True)
    sensor16 = measure(work, sensor_model(), "sensor", dtype="float16", pool_bytes=1 << 20)

    def kb(n: int) -> str:
        return f"{n / 1024:.1f} KB ({n} B)"

    def lib(r: dict, kind: str, who=("fastgru",)) -> int:
        return sum(r["map"].get((w, kind), 0) for w in who)

    libs = ("fastgru", "libm", "libc", "gcc")

    def reported(r: dict) -> int:
        p = r["printed"]
        return (p["model_bytes"] + p["state_bytes"]
                + max(p["workspace_run"], p["workspace_step"]))

    def ram(r: dict) -> int:
        return r["size"][1] + r["size"][2] - STACK_BYTES

    def io(r: dict) -> int:
        firmware = ram_sections(r["map_path"], r["name"], "firmware")
        return firmware[".bss.sequence"] + firmware[".bss.output"]

    def others(r: dict) -> int:
        return sum(r["map"].get((w, k), 0) for w in ("libm", "libc", "gcc")
                   for k in ("data", "bss"))

    rows = [
        "| | GRU(64) only | sensor: GRU(64)->GRU(32)->Dense(4) |",
        "|---|---|---|",
        f"| fastgru library text, fg_config.h build | {kb(lib(gru, 'text'))} | "
        f"{kb(lib(sensor, 'text'))} |",
        f"| the same with error messages (MCU_MESSAGES=1) | | "
        f"{kb(lib(sensor_messages, 'text'))} |",
        f"| the same with the libm, libc (nano), libgcc code it pulls in | "
        f"{kb(lib(gru, 'text', libs))} | "
        f"{kb(lib(sensor, 'text', libs))} |",
        f"| fastgru library text, every op and activation built | | "
        f"{kb(lib(sensor_all, 'text'))} (with libs {kb(lib(sensor_all, 'text', libs))}) |",
        f"| model image in flash, fp32 weights | {kb(gru['image_bytes'])} | "
        f"{kb(sensor['image_bytes'])} |",
        f"| model image in flash, fp16 weights | | {kb(sensor16['image_bytes'])} |",
        f"| model in RAM (`fg_model_memory_bytes`): its tables, fp32 image run in place | "
        f"{gru['printed']['model_bytes']} B | {sensor['printed']['model_bytes']} B |",
        f"| the same, fp16 image (float32 copy widened at load) | | "
        f"{kb(sensor16['printed']['model_bytes'])} |",
        f"| one stream state (`fg_state_bytes`, batch 1) | {gru['printed']['state_bytes']} B | "
        f"{sensor['printed']['state_bytes']} B |",
        f"| workspace (`fg_model_workspace_bytes`), whole {STEPS}-step run | "
        f"{gru['printed']['workspace_run']} B | {sensor['printed']['workspace_run']} B |",
        f"| workspace, one `fg_model_step` | {gru['printed']['workspace_step']} B | "
        f"{sensor['printed']['workspace_step']} B |",
        f"| **RAM the C API reports** (model + state + the larger workspace), fp32 | "
        f"{reported(gru)} B | {reported(sensor)} B |",
        f"| fastgru's own statics (data + bss) | {lib(gru, 'data') + lib(gru, 'bss')} B | "
        f"{lib(sensor, 'data') + lib(sensor, 'bss')} B |",
        f"| firmware data + bss (less the {STACK_BYTES // 1024} KB stack), pool and workspace "
        f"sized from the API | {ram(gru)} B | "
        f"{ram(sensor)} B |",
        f"| of which the firmware's input and output arrays / newlib's statics | "
        f"{io(gru)} B / {others(gru)} B | {io(sensor)} B / {others(sensor)} B |",
        f"| stack high-water mark (firmware + library) | {gru['printed']['stack_used']} B | "
        f"{sensor['printed']['stack_used']} B |",
        f"| firmware, arm-none-eabi-size text / data / bss | "
        f"{' / '.join(map(str, gru['size']))} | {' / '.join(map(str, sensor['size']))} |",
    ]
    statics = ", ".join(f"{name.split('.', 2)[-1]} {size} B"
                        for name, size in sorted(ram_sections(sensor["map_path"], sensor["name"],
                                                              "fastgru").items(),
                                                 key=lambda item: -item[1]))
    head = "\n".join(rows) + f"\n\nfastgru's statics (sensor, fg_config.h build): {statics}."
    reason = missing_helium()
    if reason:
        return head + f"\n\nHelium not run: {reason}"
    helium = {"sensor": helium_check(work, sensor_model(), "sensor"),
              "helium": helium_check(work, helium_model(), "helium")}
    m55 = [
        "| Cortex-M55 + Helium (qemu MPS3 AN547), fg_config.h build | sensor | "
        "GRU(40, reset_after=False)->GRU(20)->Dense(3) |",
        "|---|---|---|",
        "| kernel run / with the scalar cap | "
        + " | ".join(f"{h['runs']['mve']['printed']['isa']} / "
                     f"{h['runs']['scalar']['printed']['isa']}" for h in helium.values()) + " |",
        "| fastgru library text (the Helium kernel and the scalar one) | "
        + " | ".join(kb(lib(h["runs"]["mve"], "text")) for h in helium.values()) + " |",
        f"| worst abs difference Helium - scalar kernel, whole run + {STEPS} streamed steps | "
        + " | ".join(f"{h['vs_scalar']:.2g} ({h['vs_scalar_ulps']} ulp)"
                     for h in helium.values()) + " |",
        "| worst abs difference Helium - Keras predict, whole run | "
        + " | ".join(f"{h['vs_keras']:.2g}" for h in helium.values()) + " |",
    ]
    return head + "\n\n" + "\n".join(m55)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="/tmp/fastgru_mcu", help="work directory")
    args = parser.parse_args(argv)
    reason = missing_tools()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    print(report(Path(args.out).resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
