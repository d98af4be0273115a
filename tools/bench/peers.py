"""One adapter per engine: converts the shared Keras-layout weights and offers timed variants.

Every peer class has the same shape:
  version()                     imports the engine (raises PeerUnavailable when it is missing)
                                and returns {package: version}
  set_threads(n)                called once, before the engine runs anything
  sequence_variants(wl, case)   {variant name: fn() -> output (batch, steps, units)}
  stream_variants(wl, case)     {variant name: open_stream()}, where open_stream() starts a fresh
                                zero state and returns (to_native, step): to_native converts one
                                numpy timestep (1, input_dim) to what step() takes, step(x_native)
                                returns this step's output (1, units) and carries the state.
Inputs are converted to each engine's native type outside the timed loop, so the timing shows
the engine's own per-call cost.
"""
import importlib
import os

import numpy as np

from .workloads import gru_from_projection, gru_step


class PeerUnavailable(Exception):
    """The engine is not installed or lacks the feature; the message says what is missing."""


def import_peer(module, hint=""):
    """The engine's module, or PeerUnavailable saying why it is not importable."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise PeerUnavailable(f"{module} not importable{hint}: {exc}")


def keras_to_torch_gate_order(matrix):
    """Keras gate blocks z, r, h along the last axis -> torch's r, z, n."""
    units = matrix.shape[-1] // 3
    return np.concatenate([matrix[..., units:2 * units], matrix[..., :units],
                           matrix[..., 2 * units:]], axis=-1)


class NumpyPeer:
    """A float32 numpy loop: one GEMM for the input projection, then one step at a time."""
    name = "numpy"

    def version(self):
        return {"numpy": np.__version__}

    def set_threads(self, n):
        pass  # BLAS threads come from OPENBLAS_NUM_THREADS / MKL_NUM_THREADS set by the driver

    @staticmethod
    def _parts(case):
        units = case["recurrent_kernel"].shape[0]
        return case["kernel"], case["recurrent_kernel"], case["bias"], units

    def sequence_variants(self, wl, case):
        kernel, recurrent_kernel, bias, units = self._parts(case)
        x = case["x"]

        def run():
            batch, steps, _ = x.shape
            x_proj = (x.reshape(batch * steps, -1) @ kernel + bias[0]).reshape(batch, steps, -1)
            h = np.zeros((batch, units), np.float32)
            out = np.empty((batch, steps, units), np.float32)
            for t in range(steps):
                h = gru_from_projection(x_proj[:, t], h, recurrent_kernel, bias[1])
                out[:, t] = h
            return out
        return {"loop": run}

    def stream_variants(self, wl, case):
        kernel, recurrent_kernel, bias, units = self._parts(case)

        def open_stream():
            state = [np.zeros((1, units), np.float32)]

            def step(x_t):
                state[0] = gru_step(x_t, state[0], kernel, recurrent_kernel, bias)
                return state[0]
            return (lambda x_t: x_t), step
        return {"step": open_stream}


class TorchPeer:
    """torch nn.GRU (batch_first) and, for streams, nn.GRUCell too, in inference mode."""
    name = "torch"

    def version(self):
        self.torch = import_peer("torch")
        return {"torch": self.torch.__version__}

    def set_threads(self, n):
        self.torch.set_num_threads(n)
        self.torch.set_num_interop_threads(1)

    def _load(self, module, case):
        torch = self.torch
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a))
        suffix = "_l0" if isinstance(module, torch.nn.GRU) else ""
        state = {f"weight_ih{suffix}": t(keras_to_torch_gate_order(case["kernel"]).T),
                 f"weight_hh{suffix}": t(keras_to_torch_gate_order(case["recurrent_kernel"]).T),
                 f"bias_ih{suffix}": t(keras_to_torch_gate_order(case["bias"][0])),
                 f"bias_hh{suffix}": t(keras_to_torch_gate_order(case["bias"][1]))}
        module.load_state_dict(state)
        return module.eval()

    def sequence_variants(self, wl, case):
        torch = self.torch
        gru = self._load(torch.nn.GRU(wl.input_dim, wl.units, batch_first=True), case)
        x = torch.from_numpy(case["x"])

        def run():
            with torch.inference_mode():
                return gru(x)[0]
        return {"nn.GRU": run}

    def stream_variants(self, wl, case):
        torch = self.torch
        gru = self._load(torch.nn.GRU(wl.input_dim, wl.units, batch_first=True), case)
        cell = self._load(torch.nn.GRUCell(wl.input_dim, wl.units), case)

        def open_gru():
            state = [torch.zeros(1, 1, wl.units)]

            def step(x_t):
                with torch.inference_mode():
                    _, state[0] = gru(x_t, state[0])
                return state[0]
            return lambda x_t: torch.from_numpy(x_t.reshape(1, 1, -1)), step

        def open_cell():
            state = [torch.zeros(1, wl.units)]

            def step(x_t):
                with torch.inference_mode():
                    state[0] = cell(x_t, state[0])
                return state[0]
            return torch.from_numpy, step
        return {"nn.GRU": open_gru, "nn.GRUCell": open_cell}


class KerasPeer:
    """Keras 3 on TensorFlow: predict, eager model(x), tf.function, tf.function+XLA, GRUCell."""
    name = "keras-tf"

    def version(self):
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        try:
            import tensorflow as tf
            import keras
        except ImportError as exc:
            raise PeerUnavailable(f"tensorflow / keras not importable: {exc}")
        if keras.backend.backend() != "tensorflow":
            raise PeerUnavailable(f"keras runs on {keras.backend.backend()}, not tensorflow")
        self.tf, self.keras = tf, keras
        return {"tensorflow": tf.__version__, "keras": keras.__version__}

    def set_threads(self, n):
        self.tf.config.threading.set_intra_op_parallelism_threads(n)
        self.tf.config.threading.set_inter_op_parallelism_threads(n)

    def _weights(self, case):
        return [case["kernel"], case["recurrent_kernel"], case["bias"]]

    def _callers(self, model, batch):
        """The ways Keras users run a model: {variant: (fn(inputs), convert numpy -> inputs)}."""
        tf = self.tf
        call = lambda inputs: model(inputs, training=False)
        as_numpy = lambda a: a
        return {
            "predict": (lambda inputs: model.predict(inputs, batch_size=batch, verbose=0),
                        as_numpy),
            "eager": (call, tf.constant),
            "tf.function": (tf.function(call), tf.constant),
            "tf.function+xla": (tf.function(call, jit_compile=True), tf.constant),
        }

    def sequence_variants(self, wl, case):
        keras = self.keras
        x_in = keras.Input((wl.steps, wl.input_dim), batch_size=wl.batch)
        y = keras.layers.GRU(wl.units, return_sequences=True, reset_after=True)(x_in)
        model = keras.Model(x_in, y)
        model.set_weights(self._weights(case))
        return {name: (lambda fn=fn, x=native(case["x"]): fn(x))
                for name, (fn, native) in self._callers(model, wl.batch).items()}

    def stream_variants(self, wl, case):
        """State carried by the caller: the model maps (x_t, h) -> h_new, fed back next call."""
        keras, tf = self.keras, self.tf
        x_in = keras.Input((1, wl.input_dim), batch_size=1)
        h_in = keras.Input((wl.units,), batch_size=1)
        h_out = keras.layers.GRU(wl.units, reset_after=True)(x_in, initial_state=[h_in])
        model = keras.Model([x_in, h_in], h_out)
        model.set_weights(self._weights(case))

        def opener(fn, native):
            def open_stream():
                state = [native(np.zeros((1, wl.units), np.float32))]

                def step(x_t):
                    state[0] = fn([x_t, state[0]])
                    return state[0]
                return (lambda x_t: native(x_t.reshape(1, 1, -1))), step
            return open_stream

        # predict() (~0.1 s a call: a new data pipeline each time) and eager calls (~20 ms)
        # were 100x slower than tf.function per step in --quick runs; their 1000-call runs
        # would take most of the benchmark's time, so streams use the compiled ways only.
        openers = {name: opener(fn, native)
                   for name, (fn, native) in self._callers(model, 1).items()
                   if name not in ("predict", "eager")}
        cell = keras.layers.GRUCell(wl.units, reset_after=True)
        cell.build((1, wl.input_dim))
        cell.set_weights(self._weights(case))
        cell_step = tf.function(lambda x_t, h: cell(x_t, h, training=False)[0])

        def open_cell():
            state = [tf.zeros((1, wl.units))]

            def step(x_t):
                state[0] = cell_step(x_t, state[0])
                return state[0]
            return tf.constant, step
        openers["GRUCell tf.function"] = open_cell
        return openers


def onnx_gru_model(wl, case, stream):
    """An ONNX GRU (gate order z, r, h; linear_before_reset=1 is Keras' reset_after=True).

    Sequences take and give batch-major arrays like every other peer, (B, T, in) -> (B, T, U),
    with Transposes around the time-major GRU op. Streams map (X (1, 1, in), initial_h
    (1, 1, U)) -> Y_h (1, 1, U) (and Y, which OpenVINO's stateful variant reads).
    """
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:
        raise PeerUnavailable(f"onnx (needed to build the model) not importable: {exc}")
    weights = [numpy_helper.from_array(np.ascontiguousarray(case["kernel"].T[None]), "W"),
               numpy_helper.from_array(np.ascontiguousarray(case["recurrent_kernel"].T[None]), "R"),
               numpy_helper.from_array(case["bias"].reshape(1, -1), "B")]
    gru_attrs = {"hidden_size": wl.units, "linear_before_reset": 1}
    f32 = TensorProto.FLOAT
    if stream:
        inputs = [helper.make_tensor_value_info("X", f32, [1, 1, wl.input_dim]),
                  helper.make_tensor_value_info("initial_h", f32, [1, 1, wl.units])]
        outputs = [helper.make_tensor_value_info("Y_h", f32, [1, 1, wl.units]),
                   helper.make_tensor_value_info("Y", f32, [1, 1, 1, wl.units])]
        nodes = [helper.make_node("GRU", ["X", "W", "R", "B", "", "initial_h"], ["Y", "Y_h"],
                                  **gru_attrs)]
    else:
        inputs = [helper.make_tensor_value_info("X", f32, [wl.batch, wl.steps, wl.input_dim])]
        outputs = [helper.make_tensor_value_info("out", f32, [wl.batch, wl.steps, wl.units])]
        weights.append(numpy_helper.from_array(np.array([1], np.int64), "dir_axis"))
        nodes = [helper.make_node("Transpose", ["X"], ["X_tm"], perm=[1, 0, 2]),
                 helper.make_node("GRU", ["X_tm", "W", "R", "B"], ["Y"], **gru_attrs),
                 helper.make_node("Squeeze", ["Y", "dir_axis"], ["Y_tm"]),
                 helper.make_node("Transpose", ["Y_tm"], ["out"], perm=[1, 0, 2])]
    graph = helper.make_graph(nodes, f"gru_{wl.name}", inputs, outputs, initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime / OpenVINO of the last years
    onnx.checker.check_model(model)
    return model.SerializeToString()


class OnnxRuntimePeer:
    """onnxruntime CPU provider running the ONNX GRU op."""
    name = "onnxruntime"

    def version(self):
        self.ort = import_peer("onnxruntime")
        return {"onnxruntime": self.ort.__version__}

    def set_threads(self, n):
        self.threads = n

    def _session(self, model_bytes):
        options = self.ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = self.ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return self.ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])

    def sequence_variants(self, wl, case):
        session = self._session(onnx_gru_model(wl, case, stream=False))
        feed = {"X": case["x"]}
        return {"run": lambda: session.run(["out"], feed)[0]}

    def stream_variants(self, wl, case):
        session = self._session(onnx_gru_model(wl, case, stream=True))

        def open_stream():
            state = [np.zeros((1, 1, wl.units), np.float32)]

            def step(x_t):
                state[0] = session.run(["Y_h"], {"X": x_t, "initial_h": state[0]})[0]
                return state[0]
            return (lambda x_t: x_t.reshape(1, 1, -1)), step
        return {"run": open_stream}


class OpenVinoPeer:
    """OpenVINO CPU plugin reading the ONNX GRU model, with f32 inference precision forced
    (precision=None leaves OpenVINO its own default: the bf16 peer of the extras)."""
    name = "openvino"
    notes = []  # replaced by the worker's list: variants left out, for the report

    def __init__(self, precision="f32"):
        self.precision = precision
        self.compiled_precision = None  # what the last compile_model chose, e.g. "bf16"

    def version(self):
        self.ov = import_peer("openvino")
        self.core = self.ov.Core()
        return {"openvino": self.ov.get_version()}

    def set_threads(self, n):
        self.threads = n

    def _compile(self, model):
        # This CPU runs bf16 by default; the benchmark is fp32, so force f32 and check it held.
        config = {"INFERENCE_NUM_THREADS": self.threads, "PERFORMANCE_HINT": "LATENCY",
                  "NUM_STREAMS": 1}
        if self.precision:
            config["INFERENCE_PRECISION_HINT"] = self.precision
        compiled = self.core.compile_model(model, "CPU", config)
        precision = compiled.get_property("INFERENCE_PRECISION_HINT")
        self.compiled_precision = precision.get_type_name()  # "f32", "bf16", ...
        if self.precision and self.compiled_precision != self.precision:
            raise RuntimeError(f"OpenVINO compiled with precision {precision}, not "
                               f"{self.precision}")
        return compiled

    def _read(self, model_bytes):
        return self.core.read_model(model_bytes, b"")

    def _request(self, compiled, buffers):
        """An infer request whose inputs are these numpy buffers themselves (no copy per call).

        The request does not keep the buffers alive: the caller's closures must hold them.
        """
        request = compiled.create_infer_request()
        for index, buffer in enumerate(buffers):
            request.set_input_tensor(index, self.ov.Tensor(buffer, shared_memory=True))
        return request

    def sequence_variants(self, wl, case):
        x = case["x"].copy()
        request = self._request(self._compile(self._read(onnx_gru_model(wl, case, stream=False))),
                                [x])

        def run(keep_alive=x):  # the request reads x's memory: keep x alive with it
            request.infer()
            return request.get_output_tensor(0).data
        return {"infer_request": run}

    def stream_variants(self, wl, case):
        model_bytes = onnx_gru_model(wl, case, stream=True)
        fed_back = self._compile(self._read(model_bytes))

        def open_fed_back():
            x_buf = np.zeros((1, 1, wl.input_dim), np.float32)
            h_buf = np.zeros((1, 1, wl.units), np.float32)
            request = self._request(fed_back, [x_buf, h_buf])
            h_out = request.get_tensor("Y_h")

            def step(x_t):
                x_buf[...] = x_t
                request.infer()
                h_buf[...] = h_out.data
                return h_buf
            return (lambda x_t: x_t.reshape(1, 1, -1)), step
        openers = {"infer_request": open_fed_back}
        try:
            openers["stateful"] = self._stateful_stream(wl, model_bytes)
        except Exception as exc:  # a private OpenVINO module: keep the fed-back variant anyway
            self.notes.append(f"{wl.name}: no stateful variant: {type(exc).__name__}: {exc}")
        return openers

    def _stateful_stream(self, wl, model_bytes):
        """OpenVINO's own streaming form: the state lives in the request (ReadValue/Assign)."""
        from openvino._offline_transformations import apply_make_stateful_transformation
        stateful_model = self._read(model_bytes)
        apply_make_stateful_transformation(stateful_model, {"initial_h": "Y_h"})
        stateful = self._compile(stateful_model)

        def open_stateful():
            x_buf = np.zeros((1, 1, wl.input_dim), np.float32)
            request = self._request(stateful, [x_buf])
            request.reset_state()
            y_out = request.get_tensor("Y")

            def step(x_t):
                x_buf[...] = x_t
                request.infer()
                return y_out.data
            return (lambda x_t: x_t.reshape(1, 1, -1)), step
        return open_stateful


class FastGruPeer:
    """fastgru from this repository, built in place (its public API: README.md)."""
    name = "fastgru"

    def __init__(self, workdir):
        self.workdir = workdir
        self.notes = []  # variants it had to leave out; the worker hands in the report's list

    def version(self):
        self.fastgru = import_peer(
            "fastgru", " (build it in place: python setup.py build_ext --inplace)")
        return {"fastgru": self.fastgru.__version__}

    def set_threads(self, n):
        self.threads = n

    def sequence_variants(self, wl, case):
        layer = self.fastgru.GRU(wl.units, case["kernel"], case["recurrent_kernel"], case["bias"],
                                 reset_after=True, return_sequences=True, threads=self.threads)
        x = case["x"]
        return {"GRU layer": lambda: layer(x)}

    def stream_variants(self, wl, case):
        """A stateful GRU layer fed (1, 1, in) per call, and model.stream(1).step(x, out=buf)."""
        layer = self.fastgru.GRU(wl.units, case["kernel"], case["recurrent_kernel"], case["bias"],
                                 reset_after=True, stateful=True, threads=self.threads)

        def open_layer():
            layer.reset_states()
            return (lambda x_t: x_t.reshape(1, 1, -1)), layer
        openers = {"stateful GRU layer": open_layer}
        try:
            openers["stream.step(out=)"] = self._model_stream(wl)
        except PeerUnavailable as exc:  # no .keras file: keep the layer
            self.notes.append(f"{wl.name}: no model.stream() variant: {type(exc).__name__}: {exc}")
        return openers

    def _model_stream(self, wl):
        """Streams run on loaded models: the driver saved this workload as a .keras file."""
        path = os.path.join(self.workdir, f"{wl.name}.keras")
        if not os.path.exists(path):
            raise PeerUnavailable(f"no {path}: Keras was not available to save the stream model")
        model = self.fastgru.load(path, threads=self.threads)

        def open_stream():
            stream = model.stream(batch_size=1)
            out = np.empty((1, wl.units), np.float32)

            def step(x_t):
                stream.step(x_t, out=out)
                return out
            return (lambda x_t: x_t), step
        return open_stream


PEER_NAMES = ["fastgru", "keras-tf", "torch", "onnxruntime", "openvino", "numpy"]


def make_peer(name, workdir):
    if name == FastGruPeer.name:
        return FastGruPeer(workdir)
    return {cls.name: cls for cls in (NumpyPeer, TorchPeer, KerasPeer, OnnxRuntimePeer,
                                      OpenVinoPeer)}[name]()
