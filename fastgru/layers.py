"""fastgru.GRU and fastgru.Bidirectional: Keras' GRU layers built from numpy weights, run by the
C kernel. Semantics follow Keras (docs/KERAS_FORMATS.md §§10-13)."""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

import numpy as np

from . import _core
from .activations import activation_id, resolve_activation
from .errors import FastGRUError

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
    ``threads=None`` uses all cores (or FASTGRU_NUM_THREADS).
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
        self._config = (self.input_dim, units, int(self.reset_after), int(self.use_bias),
                        activation_id(self.activation), activation_id(self.recurrent_activation),
                        precision_id)
        self._packed = _core.gru_pack(self._config, kernel, recurrent_kernel, bias)
        self._state: Optional[np.ndarray] = None     # carried state of a stateful layer

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
        if mask is None:
            return None
        m = np.asarray(mask)
        expected = (timesteps, batch) if self.time_major else (batch, timesteps)
        if m.shape != expected:
            raise FastGRUError(f"GRU {self.name} mask: expected shape {expected}, got {m.shape}")
        if not (m.dtype == np.bool_ or np.issubdtype(m.dtype, np.integer)
                or np.issubdtype(m.dtype, np.floating)):
            raise FastGRUError(f"GRU {self.name} mask: expected bool or int values, got {m.dtype}")
        m = np.ascontiguousarray(m != 0, dtype=np.uint8)
        return m.T if self.time_major else m

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

    def _new_output(self, batch: int, timesteps: int) -> np.ndarray:
        if not self.return_sequences:
            return np.empty((batch, self.units), dtype=np.float32)
        if self.time_major:
            return np.empty((timesteps, batch, self.units), dtype=np.float32)
        return np.empty((batch, timesteps, self.units), dtype=np.float32)

    def _forward(self, xb: np.ndarray, mask: Optional[np.ndarray], h0: Optional[np.ndarray],
                 y: np.ndarray, h_final: np.ndarray, zero_output_for_mask: bool) -> None:
        """Run on batch-major views, writing y (batch-major view) and h_final."""
        _core.gru_forward(self._config, self._packed, xb, mask, h0, y, h_final,
                          go_backwards=self.go_backwards, return_sequences=self.return_sequences,
                          zero_output_for_mask=zero_output_for_mask,
                          nthreads=self.threads or 0)

    def _batch_major(self, y: np.ndarray) -> np.ndarray:
        return y.transpose(1, 0, 2) if (self.time_major and self.return_sequences) else y

    def __call__(self, x: ArrayLike, initial_state: Optional[ArrayLike] = None,
                 mask: Optional[ArrayLike] = None) -> Union[np.ndarray, List[np.ndarray]]:
        """Run the layer. x: (batch, timesteps, input_dim) (time-major: (timesteps, batch, ...));
        initial_state: (batch, units); mask: (batch, timesteps) bool/int, nonzero = keep.
        Returns the output, or [output, final_state] with return_state."""
        xb = self._batch_major_input(x)
        batch, timesteps = xb.shape[0], xb.shape[1]
        m = self._batch_major_mask(mask, batch, timesteps)
        h0 = self._initial_state(initial_state, batch)
        y = self._new_output(batch, timesteps)
        h_final = np.empty((batch, self.units), dtype=np.float32)
        self._forward(xb, m, h0, self._batch_major(y), h_final, self.zero_output_for_mask)
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
        for attr in ("return_sequences", "return_state", "stateful", "time_major", "input_dim"):
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

    def _run_half(self, layer: GRU, xb, mask, h0_arg, y_view, batch: int) -> np.ndarray:
        h0 = layer._initial_state(h0_arg, batch)
        h_final = np.empty((batch, layer.units), dtype=np.float32)
        layer._forward(xb, mask, h0, y_view, h_final, layer.return_sequences)
        if layer.stateful:
            layer._state = h_final.copy()
        return h_final

    def __call__(self, x: ArrayLike, initial_state: Optional[Sequence[ArrayLike]] = None,
                 mask: Optional[ArrayLike] = None) -> Union[np.ndarray, List[np.ndarray]]:
        """Run both layers and merge. initial_state: [h_fw, h_bw]; mask as for GRU.
        Returns the merged output ([y_fw, y_bw] for merge_mode None), followed by
        h_fw, h_bw with return_state."""
        fw, bw = self.forward_layer, self.backward_layer
        xb = fw._batch_major_input(x)
        batch, timesteps = xb.shape[0], xb.shape[1]
        m = fw._batch_major_mask(mask, batch, timesteps)
        h0_fw, h0_bw = self._split_states(initial_state, "initial_state")
        seq = self.return_sequences

        if self.merge_mode == "concat":
            lead = ((timesteps, batch) if self.time_major else (batch, timesteps)) if seq else (batch,)
            merged = np.empty(lead + (fw.units + bw.units,), dtype=np.float32)
            y_fw = merged[..., :fw.units]          # the forward half is written in place
        else:
            y_fw = fw._new_output(batch, timesteps)
        y_bw = bw._new_output(batch, timesteps)
        h_fw = self._run_half(fw, xb, m, h0_fw, fw._batch_major(y_fw), batch)
        h_bw = self._run_half(bw, xb, m, h0_bw, bw._batch_major(y_bw), batch)
        if seq:   # Keras flips the backward layer's sequence back to forward time order
            y_bw = np.flip(y_bw, axis=0 if self.time_major else 1)

        if self.merge_mode == "concat":
            merged[..., fw.units:] = y_bw
            outputs = [merged]
        elif self.merge_mode is None:
            outputs = [y_fw, np.ascontiguousarray(y_bw)]
        else:
            merged = y_fw
            if self.merge_mode == "sum":
                merged += y_bw
            elif self.merge_mode == "mul":
                merged *= y_bw
            else:
                merged += y_bw
                merged *= np.float32(0.5)
            outputs = [merged]
        if self.return_state:
            return outputs + [h_fw, h_bw]
        return outputs[0] if len(outputs) == 1 else outputs

    def __repr__(self) -> str:
        return (f"fastgru.Bidirectional({self.forward_layer!r}, {self.backward_layer!r}, "
                f"merge_mode={self.merge_mode!r})")
