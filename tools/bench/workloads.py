"""The workloads: shapes, shared weights, the float64 numpy reference every output is checked
against (Keras' GRU equations, reset_after=True, gates z, r, h; Keras' LSTM, gates i, f, c, o:
docs/KERAS_FORMATS.md), and the timing and checking helpers that the peer workers and the
extras share. Each workload runs a GRU; its LSTM twin ("T1-lstm", --cells lstm) has the same
sizes."""
import dataclasses
import os
import statistics
import time
import traceback

import numpy as np


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    stream: bool        # True: one timestep per call from Python, state carried between calls
    batch: int
    steps: int          # timesteps per call for sequence workloads; checked steps for streams
    input_dim: int
    units: int
    kind: str
    cell: str = "gru"   # a key of CELL_GATES

    @property
    def base(self):
        """The GRU workload's name, which an LSTM twin shares the sizes of."""
        return self.name.split("-")[0]

    @property
    def description(self):
        steps = "1 step per call" if self.stream else f"T={self.steps}"
        cell = "" if self.cell == "gru" else f"{self.cell.upper()}, "
        return (f"{cell}{self.kind}, B={self.batch}, {steps}, in {self.input_dim} -> units "
                f"{self.units}")

    def flops_per_call(self):
        """x.W and h.U multiply-adds, 2 FLOPs each (the gate maths left out, as GEMM figures do)."""
        per_step = (2 * self.batch * CELL_GATES[self.cell] * self.units
                    * (self.input_dim + self.units))
        return per_step * (1 if self.stream else self.steps)


# Streams are checked over their first `steps` calls, then timed over many more.
WORKLOADS = {
    "S1": Workload("S1", True, 1, 32, 16, 64, "stream, state carried"),
    "S2": Workload("S2", True, 1, 32, 64, 256, "stream, state carried"),
    "L1": Workload("L1", False, 1, 512, 64, 256, "sequence latency"),
    "T1": Workload("T1", False, 256, 100, 64, 256, "batched"),
    "T2": Workload("T2", False, 64, 200, 256, 512, "large"),
}


# Gates a unit of each cell computes: its matrices are gates * units wide.
CELL_GATES = {"gru": 3, "lstm": 4}


def for_cell(workload, cell):
    """The workload with `cell`'s layer, the same sizes; named "<name>-<cell>" but for the GRU."""
    if cell not in CELL_GATES:
        raise SystemExit(f"unknown cell {cell!r}; expected some of {', '.join(CELL_GATES)}")
    return workload if cell == "gru" else dataclasses.replace(
        workload, name=f"{workload.name}-{cell}", cell=cell)


def named(names, quick):
    """Workloads by full name ("T1", "T1-lstm"); with --quick, a quarter of the timesteps (at
    least 8)."""
    chosen = []
    for name in names:
        base, _, cell = name.partition("-")
        if base not in WORKLOADS:
            raise SystemExit(f"unknown workload {base!r}; expected some of "
                             f"{', '.join(WORKLOADS)}")
        workload = for_cell(WORKLOADS[base], cell or "gru")
        chosen.append(dataclasses.replace(workload, steps=max(8, workload.steps // 4))
                      if quick and not workload.stream else workload)
    return chosen


def selected(names, quick, cells=("gru",)):
    """The named workloads (GRU names) for each cell, cell by cell."""
    return named([for_cell(WORKLOADS[n], cell).name if n in WORKLOADS else n
                  for cell in cells for n in names], quick)


def case_seed(workload):
    """A seed per name: a GRU workload's its place + 1, its LSTM twin's 10 on."""
    return list(WORKLOADS).index(workload.base) + 1 + 10 * list(CELL_GATES).index(workload.cell)


def make_case(workload, seed):
    """Random Keras-layout weights and an input for one workload, scaled like Keras' defaults.

    kernel: glorot-uniform, recurrent_kernel: orthogonal (Keras' initialisers), biases non-zero
    so that a conversion that drops or swaps a bias shows up in the error check (a GRU's
    (2, 3u): input and recurrent; an LSTM's (4u,)).
    """
    rng = np.random.default_rng(seed)
    n_in, units, gates = workload.input_dim, workload.units, CELL_GATES[workload.cell]
    limit = np.sqrt(6.0 / (n_in + gates * units))
    kernel = rng.uniform(-limit, limit, (n_in, gates * units))
    q, _ = np.linalg.qr(rng.standard_normal((gates * units, units)))
    recurrent_kernel = q.T
    bias = rng.uniform(-0.2, 0.2, (2, 3 * units) if workload.cell == "gru" else (gates * units,))
    x = rng.uniform(-1.0, 1.0, (workload.batch, workload.steps, n_in))
    as32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)
    return {"kernel": as32(kernel), "recurrent_kernel": as32(recurrent_kernel),
            "bias": as32(bias), "x": as32(x)}


def gru_from_projection(x_proj, h, recurrent_kernel, recurrent_bias):
    """One reset_after=True GRU step (Keras maths) given x_proj = x_t @ kernel + bias[0], in the
    dtype of its arguments: float64 for the reference, float32 for the numpy peer."""
    units = h.shape[-1]
    h_proj = h @ recurrent_kernel + recurrent_bias
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))
    z = sigmoid(x_proj[:, :units] + h_proj[:, :units])
    r = sigmoid(x_proj[:, units:2 * units] + h_proj[:, units:2 * units])
    candidate = np.tanh(x_proj[:, 2 * units:] + r * h_proj[:, 2 * units:])
    return z * h + (1.0 - z) * candidate


def gru_step(x_t, h, kernel, recurrent_kernel, bias):
    return gru_from_projection(x_t @ kernel + bias[0], h, recurrent_kernel, bias[1])


def lstm_from_projection(x_proj, h, c, recurrent_kernel):
    """One Keras LSTM step (gates i, f, c, o; tanh and sigmoid) given x_proj = x_t @ kernel +
    bias, in the dtype of its arguments; returns (h, c)."""
    units = h.shape[-1]
    gates = x_proj + h @ recurrent_kernel
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))
    i, f, o = (sigmoid(gates[:, k * units:(k + 1) * units]) for k in (0, 1, 3))
    c = f * c + i * np.tanh(gates[:, 2 * units:3 * units])
    return o * np.tanh(c), c


def reference_sequence(workload, case):
    """Float64 outputs of every timestep, (batch, steps, units), from a zero initial state."""
    kernel, recurrent_kernel, bias = (case[k].astype(np.float64)
                                      for k in ("kernel", "recurrent_kernel", "bias"))
    x = case["x"].astype(np.float64)
    h = np.zeros((x.shape[0], recurrent_kernel.shape[0]))
    c = np.zeros_like(h)
    out = np.empty((x.shape[0], x.shape[1], h.shape[1]))
    for t in range(x.shape[1]):
        if workload.cell == "lstm":
            h, c = lstm_from_projection(x[:, t] @ kernel + bias, h, c, recurrent_kernel)
        else:
            h = gru_step(x[:, t], h, kernel, recurrent_kernel, bias)
        out[:, t] = h
    return out


def median_seconds(fn, repeats, warmup):
    """Median wall time of fn() over `repeats` timed calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sgemm_peak_gflops(repeats, size=2048):
    """numpy float32 size^3 matmul rate in this process (same BLAS threads as the peers)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    seconds = median_seconds(lambda: np.matmul(a, b, out=out), repeats, warmup=2)
    return 2.0 * size ** 3 / seconds / 1e9


def timing_plan(quick):
    """Repetitions and calls: 7 and 1000 for real runs, a few for --quick debugging."""
    if quick:
        return {"repeats": 3, "warmup": 1, "stream_calls": 200, "sgemm_repeats": 3}
    return {"repeats": 7, "warmup": 2, "stream_calls": 1000, "sgemm_repeats": 7}


def case_path(workdir, workload):
    return os.path.join(workdir, f"{workload.name}.npz")


def load_case(workdir, workload):
    """(case arrays, float64 reference) as the driver saved them for this workload."""
    with np.load(case_path(workdir, workload)) as data:
        case = {k: data[k] for k in data.files}
    return case, case.pop("reference")


def as_float64(output):
    """A peer's output (numpy array, torch / TensorFlow tensor, OpenVINO view) as float64 numpy."""
    if hasattr(output, "numpy"):
        output = output.numpy()
    return np.array(output, dtype=np.float64)


def max_error(output, reference):
    return float(np.max(np.abs(as_float64(output).reshape(reference.shape) - reference)))


def time_sequence(fn, reference, plan):
    """Check, time, and check again: a peer whose later calls go wrong must not count."""
    first_error = max_error(fn(), reference)
    seconds = median_seconds(fn, plan["repeats"], plan["warmup"])
    return max(first_error, max_error(fn(), reference)), seconds


def describe(exc):
    """An exception in one line, with the file and line where it was raised."""
    where = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__}: {exc} ({os.path.basename(where.filename)}:{where.lineno})"
