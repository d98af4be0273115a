"""fastgru.GRU and fastgru.Bidirectional: Keras' GRU layers built from numpy weights, run as a
one-layer model image by the model executor (src_c/model_exec.c), which does the merge modes
and the time reversal. Semantics follow Keras (docs/KERAS_FORMATS.md §§10-13)."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core
from .activations import activation_id, resolve_activation
from .errors import FastGRUError
from .spec import GruConfig, ModelSpec, OpSpec, TensorSpec

ArrayLike = Union[np.ndarray, Sequence]


def _float32_input(x: ArrayLike, what: str) -> np.ndarray:
    """`x` as a C-contiguous float32 array (copied only when it is not one already)."""
    try:
        return np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    except (TypeError, ValueError) as exc:
        raise FastGRUError(f"{what}: cannot be read as a float32 array ({exc})") from None


def _weight(arr: ArrayLike, name: str, shape: tuple) -> np.ndarray:
    w = _float32_input(arr, name)
    if w.shape != shape:
        raise FastGRUError(f"GRU weight {name}: expected shape {shape}, got {w.shape}")
    return w


def _state_input(state: ArrayLike, what: str) -> np.ndarray:
    """A (batch, units) state; Keras also accepts it wrapped in a one-element list."""
    arr = _float32_input(state, what)
    return arr[0] if arr.ndim == 3 and arr.shape[0] == 1 else arr


class GRU:
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
        from .precision import COMPUTE_PRECISIONS, compute_precision_id

        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise FastGRUError(f"GRU {name}: units must be a positive int, got {units!r}")
        if threads is not None and (isinstance(threads, bool)
                                    or not isinstance(threads, (int, np.integer)) or threads < 1):
            raise FastGRUError(f"GRU {name}: threads must be None or a positive int, got {threads!r}")
        units = int(units)
        kernel = _float32_input(kernel, "kernel")
        if kernel.ndim != 2:
            raise FastGRUError(f"GRU weight kernel: expected shape (input_dim, {3 * units}), "
                               f"got {kernel.shape}")
        kernel = _weight(kernel, "kernel", (kernel.shape[0], 3 * units))
        recurrent_kernel = _weight(recurrent_kernel, "recurrent_kernel", (units, 3 * units))
        if bias is not None:
            bias = _weight(bias, "bias", (2, 3 * units) if reset_after else (3 * units,))
        self.name = name
        self.units = units
        self.input_dim = int(kernel.shape[0])
        self.activation = resolve_activation(activation, field="activation")
        self.recurrent_activation = resolve_activation(recurrent_activation,
                                                       field="recurrent_activation")
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
        self._config = GruConfig(self.input_dim, units, int(self.reset_after), int(self.use_bias),
                                 activation_id(self.activation),
                                 activation_id(self.recurrent_activation), precision_id)
        self._packed = _core.gru_pack(self._config, kernel, recurrent_kernel, bias)
        self._state: Optional[np.ndarray] = None     # carried state of a stateful layer
        self._images = _LayerImages(self.name, [self], None)

    # ---- weights and state ----------------------------------------------------------------
    def get_weights(self) -> List[np.ndarray]:
        """[kernel, recurrent_kernel, bias] (bias only with use_bias), Keras order and layout."""
        kernel, recurrent_kernel, bias = _core.gru_unpack(self._config, self._packed)
        return [kernel, recurrent_kernel] + ([bias] if self.use_bias else [])

    def reset_states(self, states: Optional[ArrayLike] = None) -> None:
        """Stateful layers: forget the carried state (zeros at the next call), or set it."""
        if states is None:
            self._state = None
            return
        state = _state_input(states, "states")
        if state.ndim != 2 or state.shape[1] != self.units:
            raise FastGRUError(f"GRU {self.name}: states must have shape (batch, {self.units}), "
                               f"got {state.shape}")
        self._state = state.copy()

    @property
    def states(self) -> Optional[np.ndarray]:
        """The carried state of a stateful layer (None before the first call or after reset)."""
        return self._state

    # ---- running ----------------------------------------------------------------------------
    def _batch_major_input(self, x: ArrayLike) -> np.ndarray:
        """x as a float32 (batch, timesteps, input_dim) array or view (time-major: a transpose)."""
        arr = _float32_input(x, f"GRU {self.name} input")
        layout = "(timesteps, batch, input_dim)" if self.time_major else "(batch, timesteps, input_dim)"
        if arr.ndim != 3 or arr.shape[2] != self.input_dim:
            raise FastGRUError(f"GRU {self.name} input: expected shape {layout} with input_dim "
                               f"{self.input_dim}, got {arr.shape}")
        return arr.transpose(1, 0, 2) if self.time_major else arr

    def _batch_major_mask(self, mask: Optional[ArrayLike], batch: int,
                          timesteps: int) -> Optional[np.ndarray]:
        """The mask as the image's int32 (batch, timesteps) input: nonzero = keep."""
        if mask is None:
            return None
        m = np.asarray(mask)
        expected = (timesteps, batch) if self.time_major else (batch, timesteps)
        if m.shape != expected:
            raise FastGRUError(f"GRU {self.name} mask: expected shape {expected}, got {m.shape}")
        if not (m.dtype == np.bool_ or np.issubdtype(m.dtype, np.integer)
                or np.issubdtype(m.dtype, np.floating)):
            raise FastGRUError(f"GRU {self.name} mask: expected bool or int values, got {m.dtype}")
        m = m != 0
        return np.ascontiguousarray(m.T if self.time_major else m, dtype=np.int32)

    def _initial_state(self, initial_state, batch: int) -> Optional[np.ndarray]:
        if initial_state is None:
            if self.stateful and self._state is not None:
                if self._state.shape[0] != batch:
                    raise FastGRUError(f"GRU {self.name} is stateful with batch size "
                                       f"{self._state.shape[0]}, got an input of batch {batch}; "
                                       f"call reset_states() first")
                return self._state
            return None
        h0 = _state_input(initial_state, "initial_state")
        if h0.shape != (batch, self.units):
            raise FastGRUError(f"GRU {self.name} initial_state: expected shape "
                               f"{(batch, self.units)}, got {h0.shape}")
        return h0

    def _op(self, name: str, x: str, mask: Optional[str], h0: Optional[str], y: str, h: str,
            zero_output_for_mask: bool) -> OpSpec:
        """This layer as the gru op of a one-layer image (a stateful layer's state is fed in
        as h0 and read back from h, so the image itself carries nothing)."""
        kernel, recurrent_kernel, bias = _core.gru_unpack(self._config, self._packed)
        weights = {"kernel": kernel, "recurrent_kernel": recurrent_kernel}
        if bias is not None:
            weights["bias"] = bias
        attrs = {"units": self.units, "activation": self.activation,
                 "recurrent_activation": self.recurrent_activation,
                 "reset_after": self.reset_after, "use_bias": self.use_bias,
                 "go_backwards": self.go_backwards, "return_sequences": self.return_sequences,
                 "zero_output_for_mask": zero_output_for_mask}
        return OpSpec("gru", name, [x, mask, h0], [y, h], attrs, weights)

    def __call__(self, x: ArrayLike, initial_state: Optional[ArrayLike] = None,
                 mask: Optional[ArrayLike] = None) -> Union[np.ndarray, List[np.ndarray]]:
        """Run the layer. x: (batch, timesteps, input_dim) (time-major: (timesteps, batch, ...));
        initial_state: (batch, units); mask: (batch, timesteps) bool/int, nonzero = keep.
        Returns the output, or [output, final_state] with return_state."""
        xb = self._batch_major_input(x)
        batch = xb.shape[0]
        m = self._batch_major_mask(mask, batch, xb.shape[1])
        h0 = self._initial_state(initial_state, batch)
        y, h_final = self._images.run(xb, m, [h0], self.threads)
        if self.stateful:
            self._state = h_final.copy() if self.return_state else h_final
        return [y, h_final] if self.return_state else y

    def __repr__(self) -> str:
        return (f"fastgru.GRU(units={self.units}, input_dim={self.input_dim}, "
                f"activation={self.activation!r}, recurrent_activation="
                f"{self.recurrent_activation!r}, reset_after={self.reset_after}, "
                f"use_bias={self.use_bias}, go_backwards={self.go_backwards}, "
                f"return_sequences={self.return_sequences}, return_state={self.return_state})")


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional:
    """Keras' Bidirectional wrapper over two fastgru.GRU layers.

    As in Keras the two layers must have opposite ``go_backwards`` and the same
    ``return_sequences`` / ``return_state`` / ``stateful``; the backward layer's output
    sequence is reversed back before merging; both layers get the mask, and masked steps
    output zeros when ``return_sequences`` (Keras forces ``zero_output_for_mask``).
    merge_mode: "concat" | "sum" | "mul" | "ave" | None (outputs [y_fw, y_bw]).
    """

    def __init__(self, forward_layer: GRU, backward_layer: GRU,
                 merge_mode: Optional[str] = "concat") -> None:
        if not isinstance(forward_layer, GRU) or not isinstance(backward_layer, GRU):
            raise FastGRUError("Bidirectional: forward_layer and backward_layer must be fastgru.GRU")
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
        """Stateful layers: clear both carried states, or set them from [h_fw, h_bw]."""
        fw_state, bw_state = self._split_states(states, "states")
        self.forward_layer.reset_states(fw_state)
        self.backward_layer.reset_states(bw_state)

    @staticmethod
    def _split_states(states, what: str):
        if states is None:
            return None, None
        if not isinstance(states, (list, tuple)) or len(states) != 2:
            raise FastGRUError(f"Bidirectional {what}: expected a list [h_fw, h_bw], got "
                               f"{type(states).__name__} of length "
                               f"{len(states) if isinstance(states, (list, tuple)) else 1}")
        return states[0], states[1]

    def __call__(self, x: ArrayLike, initial_state: Optional[Sequence[ArrayLike]] = None,
                 mask: Optional[ArrayLike] = None) -> Union[np.ndarray, List[np.ndarray]]:
        """Run both layers and merge. initial_state: [h_fw, h_bw]; mask as for GRU.
        Returns the merged output ([y_fw, y_bw] for merge_mode None), followed by
        h_fw, h_bw with return_state."""
        fw, bw = self.forward_layer, self.backward_layer
        xb = fw._batch_major_input(x)
        batch = xb.shape[0]
        m = fw._batch_major_mask(mask, batch, xb.shape[1])
        h0_fw, h0_bw = self._split_states(initial_state, "initial_state")
        h0s = [fw._initial_state(h0_fw, batch), bw._initial_state(h0_bw, batch)]
        *outputs, h_fw, h_bw = self._images.run(xb, m, h0s, fw.threads)
        for layer, h in ((fw, h_fw), (bw, h_bw)):
            if layer.stateful:
                layer._state = h.copy()
        if self.return_state:
            return outputs + [h_fw, h_bw]
        return outputs[0] if len(outputs) == 1 else outputs

    def __repr__(self) -> str:
        return (f"fastgru.Bidirectional({self.forward_layer!r}, {self.backward_layer!r}, "
                f"merge_mode={self.merge_mode!r})")


_MERGE_OPS = {"concat": "concatenate", "sum": "add", "mul": "multiply", "ave": "average"}


class _LayerImages:
    """GRU / Bidirectional layers as one-layer model images, one per combination of the
    optional inputs (mask, initial states) a call brings, each loaded on its first use.

    Image inputs: x (T, F), then the mask as int32 ids (T,) (nonzero = keep), then each
    GRU's h0. Outputs: the (merged) output(s), then each GRU's final state. A Bidirectional
    pair (forward, backward) gets Keras' semantics: both see the mask, masked steps output
    zeros when returning sequences, and the backward sequence is flipped back before the merge
    (`merge_mode`; None: both sequences are outputs)."""

    def __init__(self, name: str, grus: List[GRU], merge_mode: Optional[str]) -> None:
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
            h0 = tensor(f"h0_{i}", "float32", (g.units,)) if has_h0 else None
            inputs += [h0] if h0 else []
            y = tensor(f"y_{i}", "float32", (None, g.units) if seq else (g.units,))
            hs.append(tensor(f"h_{i}", "float32", (g.units,)))
            # Keras forces zero_output_for_mask on a Bidirectional's sequences
            ops.append(g._op(name, x, mask, h0, y, hs[-1],
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
        and one initial state or None per GRU (zeros stand in for a missing one)."""
        has_h0 = h0s[0] is not None or h0s[-1] is not None
        core, n_axes = self.core(mask is not None, has_h0)
        batch, timesteps = xb.shape[0], xb.shape[1]
        inputs = [np.ascontiguousarray(xb)]
        if mask is not None:
            inputs.append(mask)
        if has_h0:
            inputs += [np.zeros((batch, g.units), np.float32) if h is None
                       else np.ascontiguousarray(h) for g, h in zip(self.grus, h0s)]
        outputs = core.run(inputs, batch, (timesteps,) * n_axes, None, threads or 0)
        if self.grus[0].time_major and self.grus[0].return_sequences:
            n_y = len(outputs) - len(self.grus)
            outputs[:n_y] = [np.ascontiguousarray(y.transpose(1, 0, 2)) for y in outputs[:n_y]]
        return outputs
