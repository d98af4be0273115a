"""``Model``: a whole Keras model loaded from a model image (fastgru/format.py) and run by the
C executor (src_c/model_*.c), or on a CUDA device (fastgru/gpu). numpy in, numpy out (device
arrays in, device arrays out on the device), Keras' structure: one array for one output, a
list for several."""
from __future__ import annotations

import json
import logging
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Union

import numpy as np

from . import output_structure
from .errors import FastGRUError
from .inputs import convert_input
from .metadata import parse_metadata
from .progress import Progress, check_verbose

log = logging.getLogger(__name__)


class TensorInfo(NamedTuple):
    """A model input or output: its name, shape with the batch axis first (None = any length),
    and dtype."""
    name: str
    shape: tuple
    dtype: np.dtype


def _shape_text(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def _missing_axis_hint(got: tuple, shape: tuple, has_time: bool) -> str:
    """For a sequence input given one axis short, what to write: x[None] for one sequence,
    x[:, None] for a batch of one-step sequences (both when the time axis is free)."""
    if not has_time or len(got) != len(shape) - 1 or len(got) < 2 or \
            any(d is not None and d != g for d, g in zip(shape[2:], got[1:])):
        return ""
    steps = shape[1]
    fits = []
    if steps is None or steps == got[0]:
        fits.append(f"x[None] if it is one sequence of {got[0]} steps")
    if steps is None or steps == 1:
        fits.append(f"x[:, None] if it is {got[0]} sequences of one step")
    return ": pass " + ", or ".join(fits) if fits else ""


class Layer:
    """A Keras layer of the loaded model: name, class name, output shapes, weights."""

    def __init__(self, model: "Model", info: dict):
        self._model = model
        self.name: str = info["name"]
        self.class_name: str = info["class_name"]
        self.output_shapes: list = info["output_shapes"]
        self._params: int = info["params"]
        self._refs: List[dict] = info["weights"]
        # what `fastgru inspect` shows: the key config fields and the weight shapes
        self.highlights: dict = dict(info.get("highlights") or {})
        self.weight_shapes: List[tuple] = [(r.get("name", "?"), tuple(r.get("shape", ())))
                                           for r in self._refs]

    def count_params(self) -> int:
        return self._params

    def get_weights(self) -> List[np.ndarray]:
        """The weights in Keras order and layout (GRU weights unpacked from the image)."""
        try:
            return [self._model._weight(ref) for ref in self._refs]
        except FastGRUError as e:
            raise FastGRUError(f"layer '{self.name}': {e}") from None
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise FastGRUError(f"layer '{self.name}': the image's weight references are "
                               f"malformed ({e!r})") from None

    def __repr__(self) -> str:
        return f"<fastgru Layer {self.name!r} ({self.class_name})>"


def _restore(image: bytes, threads: Optional[int], source: Optional[str],
             precision: str = "float32", device: str = "cpu") -> "Model":
    return Model(image, threads=threads, source=source, precision=precision, device=device)


class Model:
    """A loaded model. Immutable apart from the carried state of a stateful model, so one
    Model can serve many streams (``stream()``) on many threads."""

    def __init__(self, image: bytes, *, threads: Optional[int] = None,
                 source: Optional[str] = None, precision: str = "float32",
                 device: str = "cpu"):
        from . import _core
        from .arguments import threads as checked_threads
        from .precision import COMPUTE_PRECISIONS, compute_precision_id
        precision_id = compute_precision_id(precision)
        threads = checked_threads(threads)
        # One 64-byte aligned copy, which the C model then runs in place (no second copy).
        view = memoryview(image).cast("B")
        self._buffer = _core._aligned_bytes(len(view))
        self._buffer[:] = np.frombuffer(view, dtype=np.uint8)
        self._core = _core.ModelCore(self._buffer, precision_id)
        #: compute precision of the GRU products: "float32" (exact) or "bfloat16"
        self.precision: str = COMPUTE_PRECISIONS[precision_id]
        self._meta = parse_metadata(self._core.metadata())
        self._threads = threads or 0
        self._source = source
        self.name: str = self._meta.get("name", "model")
        self.source: str = source or self._meta.get("source") or ""
        self.stateful: bool = bool(self._meta.get("stateful"))
        self._state = None
        self._gru_cache: Dict[int, tuple] = {}
        from .image_reader import time_major_layer
        # a layer whose steps are the model's batch rows: the batch axis must stay whole
        self._time_major_layer = time_major_layer(self._buffer)
        try:
            self.layers: List[Layer] = [Layer(self, info) for info in self._meta["layers"]]
        except (KeyError, TypeError) as e:
            raise FastGRUError(f"model image: malformed layer list in the metadata ({e!r})") \
                from None
        self.inputs = [TensorInfo(n, (None,) + s, d) for n, d, s, _ in self._core.inputs]
        self.outputs = [TensorInfo(n, (None,) + s, d) for n, d, s, _ in self._core.outputs]
        # outputs nested as the Keras model returns them, None for one output or a flat list
        self._output_structure = output_structure.checked(self._meta.get("output_structure"),
                                                          len(self.outputs))
        self._input_axes = [axis for *_, axis in self._core.inputs]   # time axis or -1
        #: "cpu", or "cuda": the ops run on the device, which holds the carried states too
        self.device: str = device
        self._device = None
        if device != "cpu":
            if precision_id:
                raise FastGRUError(f"precision={precision!r} runs on the CPU only; "
                                   f"device={device!r} computes in float32")
            from .gpu.device import backend_for
            from .gpu.runner import DeviceRunner
            self._device = DeviceRunner(self._buffer, backend_for(device))

    # ---- pickling: by value, the image bytes ---------------------------------------------
    def __reduce__(self):
        return _restore, (self.image, self._threads or None, self._source, self.precision,
                          self.device)

    @property
    def image(self) -> bytes:
        """The model image (what ``fastgru convert`` writes to a .fgru file)."""
        return self._buffer.tobytes()

    @property
    def metadata(self) -> dict:
        return json.loads(json.dumps(self._meta))

    # ---- running -------------------------------------------------------------------------
    def _input_list(self, x) -> list:
        names = [t.name for t in self.inputs]
        if isinstance(x, dict):
            unknown = sorted(set(x) - set(names))
            missing = [n for n in names if n not in x]
            if unknown or missing:
                raise FastGRUError(f"model inputs by name: missing {missing}, unknown {unknown} "
                                   f"(the model's inputs are {names})")
            return [x[n] for n in names]
        if isinstance(x, (list, tuple)) and (len(names) > 1 or self._wraps_one_input(x)):
            if len(x) != len(names):
                raise FastGRUError(f"the model has {len(names)} inputs {names}, got {len(x)}")
            return list(x)
        if len(names) != 1:
            raise FastGRUError(f"the model has {len(names)} inputs {names}: pass a list or a "
                               f"dict")
        return [x]

    def _wraps_one_input(self, x) -> bool:
        """[x] for a one-input model, as Keras takes it (not a nested list holding one
        sequence's numbers, which has one axis more than the input)."""
        return len(x) == 1 and getattr(x[0], "ndim", None) == len(self.inputs[0].shape)

    def _converted(self, x) -> tuple:
        """(arrays, batch, times) with every shape checked; times holds the length of each
        time axis, taken from the first input that has it."""
        convert = self._device.convert if self._device else convert_input
        arrays = [convert(v, t.name, t.dtype) for v, t in zip(self._input_list(x), self.inputs)]
        batch, times = None, [None] * self._core.num_time_axes
        for arr, t, axis in zip(arrays, self.inputs, self._input_axes):
            if arr.ndim != len(t.shape):
                raise FastGRUError(f"model input '{t.name}': expected shape "
                                   f"{_shape_text(t.shape)}, got {arr.shape}"
                                   f"{_missing_axis_hint(arr.shape, t.shape, axis >= 0)}")
            batch = arr.shape[0] if batch is None else batch
            if axis >= 0 and times[axis] is None:
                times[axis] = arr.shape[1]
        times = tuple(1 if n is None else n for n in times)
        for arr, t, axis in zip(arrays, self.inputs, self._input_axes):
            want = (batch,) + tuple(times[axis] if d is None else d for d in t.shape[1:])
            if arr.shape != want:
                raise FastGRUError(f"model input '{t.name}': expected shape "
                                   f"{_shape_text(t.shape)} -> {want}, got {arr.shape}")
        return arrays, batch, times

    def _stateful_state(self, batch: int):
        from . import _core
        fixed = self._meta.get("stateful_batch") or (self._state.batch if self._state else None)
        if fixed is not None and batch != fixed:
            raise FastGRUError(f"stateful model: the batch size is fixed at {fixed}, got {batch}")
        if self._state is None:
            self._state = self._device.new_state(batch) if self._device else \
                _core.ModelState(self._core, batch)
        return self._state

    def predict(self, x, batch_size: Optional[int] = None, verbose: Union[int, str] = "auto"):
        """Run the model on a batch. x: one array for one input (or a one-item list, as
        Keras takes), a list (Keras order) or a dict by input name for several. Returns one
        array for one output, else a list. batch_size: run that many sequences at a time
        (None: all at once). verbose: 0 silent, 1 a progress bar on stderr, "auto" a bar on a
        terminal for runs over a few seconds (fastgru/progress.py)."""
        check_verbose(verbose)
        from .arguments import count
        batch_size = count(batch_size, "batch_size", allow_none=True)
        on_device = self._device is not None and any(
            self._device.is_device_array(v) for v in self._input_list(x))
        arrays, batch, times = self._converted(x)
        step = batch if not batch_size or batch_size >= batch else batch_size
        if step < batch and self._time_major_layer is not None:
            raise FastGRUError(self.whole_batch_reason(f"split into batch_size={batch_size}"))
        if self.stateful:
            step = self._stateful_state(step).batch
            if batch % step:
                raise FastGRUError(f"stateful model: batch {batch} is not a multiple of the "
                                   f"fixed batch size {step}")
        if step < batch:   # the chunks, then their concatenation: all of it counts
            self._core.check_output_cap(batch, times)
        starts = range(0, max(batch, 1), max(step, 1))
        log.debug("predict: %d sequences in %d call(s) of %d", batch, len(starts), step)
        progress = Progress(len(starts), verbose)
        chunks = []
        for start in starts:
            part = [a[start:start + step] for a in arrays] if step < batch else arrays
            state = self._state if self.stateful else None
            if self._device:
                chunks.append(self._device.run(part, state))
            else:
                chunks.append(self._core.run(part, part[0].shape[0] if part else batch, times,
                                             state, self._threads))
            progress.advance()
        concatenate = self._device.xp.concatenate if self._device else np.concatenate
        outputs = chunks[0] if len(chunks) == 1 else [concatenate(parts)
                                                      for parts in zip(*chunks)]
        if self._device:
            outputs = [self._device.output(o, on_device) for o in outputs]
        return output_structure.rebuild(self._output_structure, outputs)

    def whole_batch_reason(self, what: str) -> str:
        """Why this model's batch axis cannot be `what` (a time-major layer's steps are the
        model's batch rows)."""
        return (f"layer '{self._time_major_layer}' is time-major (time_major=True): the "
                f"model's batch axis is its time axis, so it cannot be {what}; run the whole "
                f"batch at once")

    def predict_on_batch(self, x):
        """Keras' predict_on_batch: the whole of x as one batch, no progress bar."""
        return self.predict(x, verbose=0)

    __call__ = predict

    def reset_states(self, states: Optional[Sequence[Any]] = None) -> None:
        """Zero the carried recurrent states of a stateful model (no-op otherwise), or set
        them: `states` holds one (batch, units) array per stateful GRU or SimpleRNN, and an
        [h, c] pair per stateful LSTM, in execution order."""
        if states is None:
            if self._state is not None:
                self._state.reset()
            return
        carried = self._meta.get("states", [])
        if not self.stateful or len(states) != len(carried):
            raise FastGRUError(f"reset_states: the model carries {len(carried)} GRU states "
                               f"({[c['layer'] for c in carried]}), got {len(states)}")
        # an LSTM's pair becomes the rows it carries: h then c (fg_state_set)
        convert = (lambda h: self._device.convert(h, "state", np.float32)) if self._device \
            else (lambda h: np.asarray(h, dtype=np.float32))
        arrays = [convert(np.concatenate([np.asarray(a, dtype=np.float32) for a in h], axis=-1))
                  if c.get("kind") == "lstm" and isinstance(h, (list, tuple)) and len(h) == 2
                  else convert(h) for h, c in zip(states, carried)]
        state = self._stateful_state(arrays[0].shape[0] if arrays[0].ndim == 2 else -1)
        for h, c in zip(arrays, carried):
            width = c["units"] * (2 if c.get("kind") == "lstm" else 1)
            if h.shape != (state.batch, width):
                what = "an [h, c] pair of shape" if width > c["units"] else "a state of shape"
                raise FastGRUError(f"reset_states: layer '{c['layer']}' expects {what} "
                                   f"{(state.batch, c['units'])}, got {h.shape}")
            if self._device:
                self._device.set_state(state, c["slot"], h)
            else:
                state.set(c["slot"], h)

    def stream(self, batch_size: int = 1):
        """A streaming state: ``step(x_t, out=None)`` feeds one timestep (batch_size, features)
        through the whole model; ``reset()`` zeroes it. Causal models only. The thread count
        (``threads``, else FASTGRU_NUM_THREADS or the CPUs this process may use) is fixed when
        the stream is made; ``out=`` arrays of the output's dtype and shape are written in
        place, allocating nothing."""
        from . import _core
        from .arguments import count
        if self._device:
            from .gpu.runner import DeviceStream
            return DeviceStream(self._device, self._core, count(batch_size, "batch_size"))
        return _core.ModelStream(self._core, count(batch_size, "batch_size"), self._threads,
                                 convert_input)

    # ---- introspection -------------------------------------------------------------------
    def _weight(self, ref: dict) -> np.ndarray:
        if "weight" in ref:
            data, _ = self._core.weight(ref["weight"])
            return np.frombuffer(data, dtype=np.float32).reshape(ref["shape"]).copy()
        wid = ref["gru"]
        if wid not in self._gru_cache:
            from . import _core
            data, _ = self._core.weight(wid)
            packed = _core._aligned_bytes(len(data))
            packed[:] = np.frombuffer(data, dtype=np.uint8)
            self._gru_cache[wid] = _core.gru_unpack(tuple(ref["config"]), packed)
        part = self._gru_cache[wid][("kernel", "recurrent_kernel", "bias").index(ref["part"])]
        return part.reshape(ref["shape"]).copy()

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn=print) -> None:
        """Print the layer table: name (class), output shape, parameter count."""
        rows = [(f"{l.name} ({l.class_name})",
                 ", ".join(_shape_text([None] + list(s)) if isinstance(s, (list, tuple)) else
                           str(s) for s in l.output_shapes), f"{l.count_params():,}")
                for l in self.layers]
        head = ("Layer (type)", "Output Shape", "Param #")
        widths = [max(len(r[k]) for r in rows + [head]) for k in range(3)]
        line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
        rule = "-" * len(line(tuple("-" * w for w in widths)))
        print_fn(f'Model: "{self.name}"  (from {self._meta.get("source_format") or "?"}, '
                 f'Keras {self._meta.get("keras_version")})')
        print_fn(rule)
        print_fn(line(head))
        print_fn(rule)
        for r in rows:
            print_fn(line(r))
        print_fn(rule)
        print_fn(f"Total params: {self.count_params():,}")

    def __repr__(self) -> str:
        return (f"<fastgru Model {self.name!r}: {len(self.layers)} layers, "
                f"inputs {[t.name for t in self.inputs]}, outputs "
                f"{[t.name for t in self.outputs]}>")
