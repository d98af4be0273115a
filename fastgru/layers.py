"""fastgru.GRU, fastgru.LSTM, fastgru.SimpleRNN and fastgru.Bidirectional: Keras' recurrent
layers built from numpy weights, run as a one-layer model image by the model executor
(src_c/model_exec.c), which does the merge modes and the time reversal. Semantics follow Keras
(docs/KERAS_FORMATS.md §§10-13). The three layers share everything but their cell: the
weights' gate count, their options, and the states they carry (an LSTM: h and c)."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core
from .activations import activation_id, resolve_activation
from .errors import FastGRUError
from .spec import CELL_GATES, CELLS, GruConfig, ModelSpec, OpSpec, TensorSpec

ArrayLike = Union[np.ndarray, Sequence]


def _float32_input(x: ArrayLike, what: str) -> np.ndarray:
    """`x` as a C-contiguous float32 array (copied only when it is not one already)."""
    try:
        return np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    except (TypeError, ValueError) as exc:
        raise FastGRUError(f"{what}: cannot be read as a float32 array ({exc})") from None


def _weight(arr: ArrayLike, name: str, shape: tuple, title: str = "GRU") -> np.ndarray:
    w = _float32_input(arr, name)
    if w.shape != shape:
        raise FastGRUError(f"{title} weight {name}: expected shape {shape}, got {w.shape}")
    return w


def _state_input(state: ArrayLike, what: str) -> np.ndarray:
    """A (batch, units) state; Keras also accepts it wrapped in a one-element list."""
    arr = _float32_input(state, what)
    return arr[0] if arr.ndim == 3 and arr.shape[0] == 1 else arr


class _Recurrent:
    """What GRU, LSTM and SimpleRNN share: weights packed once for the C kernel, options,
    carried states (``_n_states`` of them, each (batch, units)), and the run through a
    one-layer image. Subclasses set the class attributes and call ``_setup``."""
    _kind = "gru"            # the op kind (fastgru/registry.py) and cell (spec.CELLS)
    _title = "GRU"           # the class name, for messages
    _n_states = 1

    def _setup(self, units, kernel, recurrent_kernel, bias, bias_shape, *, activation,
               recurrent_activation, reset_after, go_backwards, return_sequences,
               return_state, stateful, time_major, zero_output_for_mask, threads, precision,
               name) -> None:
        """bias_shape(units): the bias' shape; recurrent_activation None for a SimpleRNN."""
        from .precision import COMPUTE_PRECISIONS, compute_precision_id

        title, gates = self._title, CELL_GATES[CELLS[self._kind]]
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise FastGRUError(f"{title} {name}: units must be a positive int, got {units!r}")
        if threads is not None and (isinstance(threads, bool)
                                    or not isinstance(threads, (int, np.integer)) or threads < 1):
            raise FastGRUError(f"{title} {name}: threads must be None or a positive int, got "
                               f"{threads!r}")
        units = int(units)
        kernel = _float32_input(kernel, "kernel")
        if kernel.ndim != 2:
            raise FastGRUError(f"{title} weight kernel: expected shape (input_dim, "
                               f"{gates * units}), got {kernel.shape}")
        kernel = _weight(kernel, "kernel", (kernel.shape[0], gates * units), title)
        recurrent_kernel = _weight(recurrent_kernel, "recurrent_kernel", (units, gates * units),
                                   title)
        if bias is not None:
            bias = _weight(bias, "bias", bias_shape(units), title)
        self.name = name
        self.units = units
        self.input_dim = int(kernel.shape[0])
        self.activation = resolve_activation(activation, field="activation")
        self.recurrent_activation = (None if recurrent_activation is None else
                                     resolve_activation(recurrent_activation,
                                                        field="recurrent_activation"))
        self.reset_after = bool(reset_after)
        self.use_bias = bias is not None
        self.go_backwards = bool(go_backwards)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.stateful = bool(stateful)
        self.time_major = bool(time_major)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.threads = threads
        precision_id = compute_precision_id(precision)
        self.precision = COMPUTE_PRECISIONS[precision_id]
        ract = 0 if self.recurrent_activation is None else activation_id(self.recurrent_activation)
        self._config = GruConfig(self.input_dim, units, int(self.reset_after), int(self.use_bias),
                                 activation_id(self.activation), ract, precision_id,
                                 CELLS[self._kind])
        self._packed = _core.gru_pack(self._config, kernel, recurrent_kernel, bias)
        self._state: Optional[List[np.ndarray]] = None   # carried states of a stateful layer
        self._images = _LayerImages(self.name, [self], None)

    # ---- weights and state ----------------------------------------------------------------
    def get_weights(self) -> List[np.ndarray]:
        """[kernel, recurrent_kernel, bias] (bias only with use_bias), Keras order and layout."""
        kernel, recurrent_kernel, bias = _core.gru_unpack(self._config, self._packed)
        return [kernel, recurrent_kernel] + ([bias] if self.use_bias else [])

    def _state_list(self, states, what: str, batch: Optional[int] = None) -> List[np.ndarray]:
        """`states` as the layer's list of (batch, units) float32 arrays: one array for a
        GRU / SimpleRNN (also wrapped in a one-element list), [h, c] for an LSTM. `batch`:
        the rows they must have (any number, the same for all, when None)."""
        if self._n_states == 1:
            arrays = [_state_input(states, what)]
        elif isinstance(states, (list, tuple)) and len(states) == self._n_states:
            arrays = [_float32_input(s, what) for s in states]
        else:
            raise FastGRUError(f"{self._title} {self.name} {what}: expected a list [h, c] of "
                               f"(batch, {self.units}) arrays")
        rows = arrays[0].shape[0] if batch is None and arrays[0].ndim else batch
        for a in arrays:
            if a.shape != (rows, self.units):
                raise FastGRUError(f"{self._title} {self.name} {what}: expected shape "
                                   f"({'batch' if batch is None else batch}, {self.units}), "
                                   f"got {a.shape}")
        return arrays

    def reset_states(self, states=None) -> None:
        """Stateful layers: forget the carried state (zeros at the next call), or set it
        (an LSTM: [h, c])."""
        self._state = None if states is None else [
            a.copy() for a in self._state_list(states, "states")]

    @property
    def states(self):
        """The carried state of a stateful layer (an LSTM: [h, c]); None before the first call
        or after reset."""
        if self._state is None or self._n_states > 1:
            return self._state
        return self._state[0]

    # ---- running ----------------------------------------------------------------------------
    def _batch_major_input(self, x: ArrayLike) -> np.ndarray:
        """x as a float32 (batch, timesteps, input_dim) array or view (time-major: a transpose)."""
        arr = _float32_input(x, f"{self._title} {self.name} input")
        layout = "(timesteps, batch, input_dim)" if self.time_major else "(batch, timesteps, input_dim)"
        if arr.ndim != 3 or arr.shape[2] != self.input_dim:
            raise FastGRUError(f"{self._title} {self.name} input: expected shape {layout} with "
                               f"input_dim {self.input_dim}, got {arr.shape}")
        return arr.transpose(1, 0, 2) if self.time_major else arr

    def _batch_major_mask(self, mask: Optional[ArrayLike], batch: int,
                          timesteps: int) -> Optional[np.ndarray]:
        """The mask as the image's int32 (batch, timesteps) input: nonzero = keep."""
        if mask is None:
            return None
        m = np.asarray(mask)
        expected = (timesteps, batch) if self.time_major else (batch, timesteps)
        if m.shape != expected:
            raise FastGRUError(f"{self._title} {self.name} mask: expected shape {expected}, got "
                               f"{m.shape}")
        if not (m.dtype == np.bool_ or np.issubdtype(m.dtype, np.integer)
                or np.issubdtype(m.dtype, np.floating)):
            raise FastGRUError(f"{self._title} {self.name} mask: expected bool or int values, got "
                               f"{m.dtype}")
        m = m != 0
        return np.ascontiguousarray(m.T if self.time_major else m, dtype=np.int32)

    def _initial_state(self, initial_state, batch: int) -> List[Optional[np.ndarray]]:
        """The states a call starts from: given, else a stateful layer's carried ones, else
        None each (zeros)."""
        if initial_state is None:
            if self.stateful and self._state is not None:
                if self._state[0].shape[0] != batch:
                    raise FastGRUError(f"{self._title} {self.name} is stateful with batch size "
                                       f"{self._state[0].shape[0]}, got an input of batch "
                                       f"{batch}; call reset_states() first")
                return list(self._state)
            return [None] * self._n_states
        return self._state_list(initial_state, "initial_state", batch)

    def _op(self, name: str, x: str, mask: Optional[str], states_in: list, y: str,
            states_out: list, zero_output_for_mask: bool) -> OpSpec:
        """This layer as the op of a one-layer image (a stateful layer's states are fed in as
        initial states and read back from the state outputs, so the image carries nothing)."""
        kernel, recurrent_kernel, bias = _core.gru_unpack(self._config, self._packed)
        weights = {"kernel": kernel, "recurrent_kernel": recurrent_kernel}
        if bias is not None:
            weights["bias"] = bias
        attrs = {"units": self.units, "activation": self.activation,
                 "reset_after": self.reset_after, "use_bias": self.use_bias,
                 "go_backwards": self.go_backwards, "return_sequences": self.return_sequences,
                 "zero_output_for_mask": zero_output_for_mask}
        if self.recurrent_activation is not None:
            attrs["recurrent_activation"] = self.recurrent_activation
        return OpSpec(self._kind, name, [x, mask, *states_in], [y, *states_out], attrs, weights)

    def __call__(self, x: ArrayLike, initial_state=None,
                 mask: Optional[ArrayLike] = None) -> Union[np.ndarray, List[np.ndarray]]:
        """Run the layer. x: (batch, timesteps, input_dim) (time-major: (timesteps, batch, ...));
        initial_state: (batch, units), an LSTM's [h, c]; mask: (batch, timesteps) bool/int,
        nonzero = keep. Returns the output, or with return_state [output, final state(s)]
        (an LSTM: [output, h, c], Keras' order)."""
        xb = self._batch_major_input(x)
        batch = xb.shape[0]
        m = self._batch_major_mask(mask, batch, xb.shape[1])
        y, *finals = self._images.run(xb, m, self._initial_state(initial_state, batch),
                                      self.threads)
        if self.stateful:
            self._state = [s.copy() for s in finals] if self.return_state else finals
        return [y, *finals] if self.return_state else y

    def _repr_options(self) -> str:
        return ""

    def __repr__(self) -> str:
        return (f"fastgru.{self._title}(units={self.units}, input_dim={self.input_dim}, "
                f"activation={self.activation!r}, {self._repr_options()}"
                f"use_bias={self.use_bias}, go_backwards={self.go_backwards}, "
                f"return_sequences={self.return_sequences}, return_state={self.return_state})")


class GRU(_Recurrent):
    """A Keras GRU layer (Keras weight layout, gate order z, r, h) running on the C kernel.

    kernel: (input_dim, 3*units); recurrent_kernel: (units, 3*units); bias: (3*units,) when
    reset_after is False, (2, 3*units) when True, None for a layer without bias.
    Activations are Keras names; ``"hard_sigmoid"`` is Keras 3's, ``"hard_sigmoid_keras2"``
    Keras 2's. ``time_major`` takes and returns (timesteps, batch, ...) arrays (and masks).
    ``threads=None`` uses the CPUs this process may use (or FASTGRU_NUM_THREADS).
    ``precision="bfloat16"`` runs the two matrix products in bf16 (README "Precision"); the
    weights are then held, and returned by ``get_weights()``, rounded to bf16.
    """

    def __init__(self, units: int, kernel: ArrayLike, recurrent_kernel: ArrayLike,
                 bias: Optional[ArrayLike] = None, *, activation: Optional[str] = "tanh",
                 recurrent_activation: Optional[str] = "sigmoid", reset_after: bool = True,
                 go_backwards: bool = False, return_sequences: bool = False,
                 return_state: bool = False, stateful: bool = False, time_major: bool = False,
                 zero_output_for_mask: bool = False, threads: Optional[int] = None,
                 precision: str = "float32", name: str = "gru") -> None:
        self._setup(units, kernel, recurrent_kernel, bias,
                    lambda u: (2, 3 * u) if reset_after else (3 * u,), activation=activation,
                    recurrent_activation=recurrent_activation, reset_after=reset_after,
                    go_backwards=go_backwards, return_sequences=return_sequences,
                    return_state=return_state, stateful=stateful, time_major=time_major,
                    zero_output_for_mask=zero_output_for_mask, threads=threads,
                    precision=precision, name=name)

    def _repr_options(self) -> str:
        return (f"recurrent_activation={self.recurrent_activation!r}, "
                f"reset_after={self.reset_after}, ")


class LSTM(_Recurrent):
    """A Keras LSTM layer (gate order i, f, c, o) on the recurrent engine's C kernels.

    kernel: (input_dim, 4*units); recurrent_kernel: (units, 4*units); bias: (4*units,) or None.
    It carries two states, h and c: ``initial_state=[h, c]``, ``return_state`` gives
    [output, h, c], a stateful layer's ``states`` is [h, c]. Other options as fastgru.GRU.
    """
    _kind, _title, _n_states = "lstm", "LSTM", 2

    def __init__(self, units: int, kernel: ArrayLike, recurrent_kernel: ArrayLike,
                 bias: Optional[ArrayLike] = None, *, activation: Optional[str] = "tanh",
                 recurrent_activation: Optional[str] = "sigmoid", go_backwards: bool = False,
                 return_sequences: bool = False, return_state: bool = False,
                 stateful: bool = False, time_major: bool = False,
                 zero_output_for_mask: bool = False, threads: Optional[int] = None,
                 precision: str = "float32", name: str = "lstm") -> None:
        self._setup(units, kernel, recurrent_kernel, bias, lambda u: (4 * u,),
                    activation=activation, recurrent_activation=recurrent_activation,
                    reset_after=False, go_backwards=go_backwards,
                    return_sequences=return_sequences, return_state=return_state,
                    stateful=stateful, time_major=time_major,
                    zero_output_for_mask=zero_output_for_mask, threads=threads,
                    precision=precision, name=name)

    def _repr_options(self) -> str:
        return f"recurrent_activation={self.recurrent_activation!r}, "


class SimpleRNN(_Recurrent):
    """A Keras SimpleRNN layer, h' = activation(x.kernel + bias + h.recurrent_kernel), on the
    recurrent engine's C kernels. kernel: (input_dim, units); recurrent_kernel: (units, units);
    bias: (units,) or None. Other options as fastgru.GRU."""
    _kind, _title = "simple_rnn", "SimpleRNN"

    def __init__(self, units: int, kernel: ArrayLike, recurrent_kernel: ArrayLike,
                 bias: Optional[ArrayLike] = None, *, activation: Optional[str] = "tanh",
                 go_backwards: bool = False, return_sequences: bool = False,
                 return_state: bool = False, stateful: bool = False, time_major: bool = False,
                 zero_output_for_mask: bool = False, threads: Optional[int] = None,
                 precision: str = "float32", name: str = "simple_rnn") -> None:
        self._setup(units, kernel, recurrent_kernel, bias, lambda u: (u,),
                    activation=activation, recurrent_activation=None, reset_after=False,
                    go_backwards=go_backwards, return_sequences=return_sequences,
                    return_state=return_state, stateful=stateful, time_major=time_major,
                    zero_output_for_mask=zero_output_for_mask, threads=threads,
                    precision=precision, name=name)


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional:
    """Keras' Bidirectional wrapper over two fastgru.GRU, LSTM or SimpleRNN layers of one
    class.

    As in Keras the two layers must have opposite ``go_backwards`` and the same
    ``return_sequences`` / ``return_state`` / ``stateful``; the backward layer's output
    sequence is reversed back before merging; both layers get the mask, and masked steps
    output zeros when ``return_sequences`` (Keras forces ``zero_output_for_mask``).
    merge_mode: "concat" | "sum" | "mul" | "ave" | None (outputs [y_fw, y_bw]).
    """

    def __init__(self, forward_layer: _Recurrent, backward_layer: _Recurrent,
                 merge_mode: Optional[str] = "concat") -> None:
        if (not isinstance(forward_layer, _Recurrent)
                or type(backward_layer) is not type(forward_layer)):
            raise FastGRUError("Bidirectional: forward_layer and backward_layer must be "
                               "fastgru.GRU, LSTM or SimpleRNN layers of the same class")
        if merge_mode not in _MERGE_MODES:
            raise FastGRUError(f"Bidirectional: merge_mode must be one of {_MERGE_MODES}, "
                               f"got {merge_mode!r}")
        fw, bw = forward_layer, backward_layer
        if fw.go_backwards == bw.go_backwards:
            raise FastGRUError("Bidirectional: forward and backward layers must have different "
                               f"go_backwards, got {fw.go_backwards} for both")
        for attr in ("return_sequences", "return_state", "stateful", "time_major", "input_dim",
                     "precision"):
            if getattr(fw, attr) != getattr(bw, attr):
                raise FastGRUError(f"Bidirectional: forward and backward layers must have the "
                                   f"same {attr}, got {getattr(fw, attr)} and {getattr(bw, attr)}")
        if merge_mode not in ("concat", None) and fw.units != bw.units:
            raise FastGRUError(f"Bidirectional: merge_mode {merge_mode!r} needs equal units, got "
                               f"{fw.units} and {bw.units}")
        self.forward_layer = fw
        self.backward_layer = bw
        self.merge_mode = merge_mode
        self.return_sequences = fw.return_sequences
        self.return_state = fw.return_state
        self.time_major = fw.time_major
        self._images = _LayerImages(f"{fw.name}+{bw.name}", [fw, bw], merge_mode)

    def get_weights(self) -> List[np.ndarray]:
        """Forward layer's weights then backward layer's, as Keras lists them."""
        return self.forward_layer.get_weights() + self.backward_layer.get_weights()

    def reset_states(self, states: Optional[Sequence[ArrayLike]] = None) -> None:
        """Stateful layers: clear both carried states, or set them from [h_fw, h_bw] (LSTMs:
        [h_fw, c_fw, h_bw, c_bw])."""
        fw_state, bw_state = self._split_states(states, "states")
        self.forward_layer.reset_states(fw_state)
        self.backward_layer.reset_states(bw_state)

    def _split_states(self, states, what: str):
        """The forward and the backward layer's states (one array each, an LSTM's [h, c])."""
        if states is None:
            return None, None
        n = self.forward_layer._n_states
        names = "[h_fw, h_bw]" if n == 1 else "[h_fw, c_fw, h_bw, c_bw]"
        if not isinstance(states, (list, tuple)) or len(states) != 2 * n:
            raise FastGRUError(f"Bidirectional {what}: expected a list {names}, got "
                               f"{type(states).__name__} of length "
                               f"{len(states) if isinstance(states, (list, tuple)) else 1}")
        if n == 1:
            return states[0], states[1]
        return list(states[:n]), list(states[n:])

    def __call__(self, x: ArrayLike, initial_state: Optional[Sequence[ArrayLike]] = None,
                 mask: Optional[ArrayLike] = None) -> Union[np.ndarray, List[np.ndarray]]:
        """Run both layers and merge. initial_state: [h_fw, h_bw] (LSTMs: [h_fw, c_fw, h_bw,
        c_bw]); mask as for GRU. Returns the merged output ([y_fw, y_bw] for merge_mode None),
        followed by the forward then the backward layer's final states with return_state."""
        fw, bw = self.forward_layer, self.backward_layer
        xb = fw._batch_major_input(x)
        batch = xb.shape[0]
        m = fw._batch_major_mask(mask, batch, xb.shape[1])
        s_fw, s_bw = self._split_states(initial_state, "initial_state")
        starts = fw._initial_state(s_fw, batch) + bw._initial_state(s_bw, batch)
        results = self._images.run(xb, m, starts, fw.threads)
        n = fw._n_states
        outputs, finals = results[:-2 * n], results[-2 * n:]
        for layer, states in ((fw, finals[:n]), (bw, finals[n:])):
            if layer.stateful:
                layer._state = [s.copy() for s in states]
        if self.return_state:
            return outputs + finals
        return outputs[0] if len(outputs) == 1 else outputs

    def __repr__(self) -> str:
        return (f"fastgru.Bidirectional({self.forward_layer!r}, {self.backward_layer!r}, "
                f"merge_mode={self.merge_mode!r})")


_MERGE_OPS = {"concat": "concatenate", "sum": "add", "mul": "multiply", "ave": "average"}


class _LayerImages:
    """Recurrent / Bidirectional layers as one-layer model images, one per combination of the
    optional inputs (mask, initial states) a call brings, each loaded on its first use.

    Image inputs: x (T, F), then the mask as int32 ids (T,) (nonzero = keep), then each
    layer's initial states (h0; an LSTM's h0, c0). Outputs: the (merged) output(s), then each
    layer's final states. A Bidirectional
    pair (forward, backward) gets Keras' semantics: both see the mask, masked steps output
    zeros when returning sequences, and the backward sequence is flipped back before the merge
    (`merge_mode`; None: both sequences are outputs)."""

    def __init__(self, name: str, grus: List[_Recurrent], merge_mode: Optional[str]) -> None:
        self.name = name
        self.grus = grus
        self.merge_mode = merge_mode
        # (has mask, has initial states) -> (loaded image, its number of time axes)
        self.cores: Dict[Tuple[bool, bool], Tuple["_core.ModelCore", int]] = {}

    def spec(self, has_mask: bool, has_h0: bool) -> ModelSpec:
        tensors: Dict[str, TensorSpec] = {}

        def tensor(name: str, dtype: str, shape: tuple) -> str:
            tensors[name] = TensorSpec(name, dtype, shape)
            return name

        grus, name, pair = self.grus, self.name, len(self.grus) == 2
        seq = grus[0].return_sequences
        x = tensor("x", "float32", (None, grus[0].input_dim))
        inputs, ops, mask = [x], [], None
        if has_mask:
            inputs.append(tensor("mask_ids", "int32", (None,)))
            mask = tensor("mask", "bool", (None,))
            ops.append(OpSpec("compute_mask", name, [inputs[-1]], [mask], {"value": 0.0}))
        ys, hs = [], []
        for i, g in enumerate(grus):
            state_names = [f"{s}_{i}" for s in ("h", "c")[:g._n_states]]
            starts = ([tensor(f"{s}0", "float32", (g.units,)) for s in state_names]
                      if has_h0 else [None] * g._n_states)
            inputs += starts if has_h0 else []
            y = tensor(f"y_{i}", "float32", (None, g.units) if seq else (g.units,))
            finals = [tensor(s, "float32", (g.units,)) for s in state_names]
            hs += finals
            # Keras forces zero_output_for_mask on a Bidirectional's sequences
            ops.append(g._op(name, x, mask, starts, y, finals,
                             seq if pair else g.zero_output_for_mask))
            ys.append(y)
        if pair and seq:   # Keras flips the backward sequence back to forward time order
            ops.append(OpSpec("reverse_time", name, [ys[1]],
                              [tensor("y_1/reversed", "float32", tensors[ys[1]].shape)]))
            ys[1] = ops[-1].outputs[0]
        if pair and self.merge_mode is not None:
            shape = tensors[ys[0]].shape
            if self.merge_mode == "concat":
                shape = shape[:-1] + (grus[0].units + grus[1].units,)
            merged = tensor("merged", "float32", shape)
            ops.append(OpSpec(_MERGE_OPS[self.merge_mode], name, ys, [merged], {"axis": -1}))
            ys = [merged]
        return ModelSpec(name, 3, "fastgru.layers", inputs, ys + hs, tensors, ops, [])

    def core(self, has_mask: bool, has_h0: bool) -> Tuple["_core.ModelCore", int]:
        key = (has_mask, has_h0)
        if key not in self.cores:
            from .format import pack_model   # format imports this package's C core too

            image = pack_model(self.spec(has_mask, has_h0))
            core = _core.ModelCore(image, self.grus[0]._config.precision)
            self.cores[key] = (core, core.num_time_axes)
        return self.cores[key]

    def run(self, xb: np.ndarray, mask: Optional[np.ndarray], h0s: list,
            threads: Optional[int]) -> List[np.ndarray]:
        """The image's outputs for batch-major x (a view is fine), the int32 mask or None,
        and each layer's initial states or None (zeros stand in for a missing one)."""
        has_h0 = any(h is not None for h in h0s)
        core, n_axes = self.core(mask is not None, has_h0)
        batch, timesteps = xb.shape[0], xb.shape[1]
        inputs = [np.ascontiguousarray(xb)]
        if mask is not None:
            inputs.append(mask)
        if has_h0:
            units = [g.units for g in self.grus for _ in range(g._n_states)]
            inputs += [np.zeros((batch, u), np.float32) if h is None
                       else np.ascontiguousarray(h) for u, h in zip(units, h0s)]
        outputs = core.run(inputs, batch, (timesteps,) * n_axes, None, threads or 0)
        if self.grus[0].time_major and self.grus[0].return_sequences:
            n_y = len(outputs) - sum(g._n_states for g in self.grus)
            outputs[:n_y] = [np.ascontiguousarray(y.transpose(1, 0, 2)) for y in outputs[:n_y]]
        return outputs
