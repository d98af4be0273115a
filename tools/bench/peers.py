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
the engine's own per-call cost. A workload's cell (wl.cell) says which layer to run: "gru" or
"lstm" (two states, h and c, carried by streams; the output is h).
"""
import importlib
import os

import numpy as np

from .workloads import gru_from_projection, lstm_from_projection


class PeerUnavailable(Exception):
    """The engine is not installed or lacks the feature; the message says what is missing."""


def import_peer(module, hint=""):
    """The engine's module, or PeerUnavailable saying why it is not importable."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise PeerUnavailable(f"{module} not importable{hint}: {exc}")


def gate_blocks(matrix, order, gates):
    """The matrix's gate blocks (along the last axis, `gates` of them) in `order`."""
    units = matrix.shape[-1] // gates
    return np.concatenate([matrix[..., g * units:(g + 1) * units] for g in order], axis=-1)


def keras_to_torch_gate_order(matrix, cell="gru"):
    """Keras gate blocks -> torch's: a GRU's z, r, h -> r, z, n; an LSTM's i, f, c, o are
    torch's i, f, g, o already (g is the cell candidate)."""
    return matrix if cell == "lstm" else gate_blocks(matrix, (1, 0, 2), 3)


def keras_to_onnx_gate_order(matrix, cell):
    """Keras gate blocks -> ONNX's: a GRU's z, r, h are ONNX's; an LSTM's i, f, c, o -> i, o,
    f, c."""
    return gate_blocks(matrix, (0, 3, 1, 2), 4) if cell == "lstm" else matrix


def zero_states(wl, shape=(1,)):
    """A stream's fresh state: [h], an LSTM's [h, c], numpy float32 of shape + (units,)."""
    return [np.zeros(shape + (wl.units,), np.float32) for _ in range(2 if wl.cell == "lstm" else 1)]


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

    @staticmethod
    def _step(wl, case):
        """step(x_proj, states) -> new states, and the bias x_proj takes."""
        recurrent_kernel, bias = case["recurrent_kernel"], case["bias"]
        if wl.cell == "lstm":
            return (lambda x_proj, s: lstm_from_projection(x_proj, s[0], s[1], recurrent_kernel),
                    bias)
        return (lambda x_proj, s: [gru_from_projection(x_proj, s[0], recurrent_kernel, bias[1])],
                bias[0])

    def sequence_variants(self, wl, case):
        kernel, x = case["kernel"], case["x"]
        step, input_bias = self._step(wl, case)

        def run():
            batch, steps, _ = x.shape
            x_proj = (x.reshape(batch * steps, -1) @ kernel + input_bias).reshape(batch, steps, -1)
            states = zero_states(wl, (batch,))
            out = np.empty((batch, steps, wl.units), np.float32)
            for t in range(steps):
                states = step(x_proj[:, t], states)
                out[:, t] = states[0]
            return out
        return {"loop": run}

    def stream_variants(self, wl, case):
        kernel = case["kernel"]
        step_states, input_bias = self._step(wl, case)

        def open_stream():
            states = zero_states(wl)

            def step(x_t):
                states[:] = step_states(x_t @ kernel + input_bias, states)
                return states[0]
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

    def _modules(self, wl):
        """(nn.GRU / nn.LSTM, its Cell class, their name) for the workload's cell."""
        nn = self.torch.nn
        return (nn.LSTM, nn.LSTMCell, "LSTM") if wl.cell == "lstm" else (nn.GRU, nn.GRUCell, "GRU")

    def _load(self, module, wl, case):
        torch = self.torch
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a))
        order = lambda a: keras_to_torch_gate_order(a, wl.cell)
        # an LSTM's one Keras bias goes to bias_ih, torch's bias_hh stays zero
        bias_ih, bias_hh = ((case["bias"], np.zeros_like(case["bias"])) if wl.cell == "lstm"
                            else case["bias"])
        suffix = "" if "Cell" in type(module).__name__ else "_l0"
        state = {f"weight_ih{suffix}": t(order(case["kernel"]).T),
                 f"weight_hh{suffix}": t(order(case["recurrent_kernel"]).T),
                 f"bias_ih{suffix}": t(order(bias_ih)), f"bias_hh{suffix}": t(order(bias_hh))}
        module.load_state_dict(state)
        return module.eval()

    def sequence_variants(self, wl, case):
        torch = self.torch
        layer, _, name = self._modules(wl)
        rnn = self._load(layer(wl.input_dim, wl.units, batch_first=True), wl, case)
        x = torch.from_numpy(case["x"])

        def run():
            with torch.inference_mode():
                return rnn(x)[0]
        return {f"nn.{name}": run}

    def stream_variants(self, wl, case):
        torch = self.torch
        layer, cell_class, name = self._modules(wl)
        rnn = self._load(layer(wl.input_dim, wl.units, batch_first=True), wl, case)
        cell = self._load(cell_class(wl.input_dim, wl.units), wl, case)
        lstm = wl.cell == "lstm"

        def open_layer():
            state = [tuple(map(torch.from_numpy, zero_states(wl, (1, 1))))]

            def step(x_t):
                with torch.inference_mode():
                    _, hc = rnn(x_t, state[0] if lstm else state[0][0])
                state[0] = hc if lstm else (hc,)
                return state[0][0]
            return lambda x_t: torch.from_numpy(x_t.reshape(1, 1, -1)), step

        def open_cell():
            state = [tuple(map(torch.from_numpy, zero_states(wl)))]

            def step(x_t):
                with torch.inference_mode():
                    out = cell(x_t, state[0] if lstm else state[0][0])
                state[0] = out if lstm else (out,)
                return state[0][0]
            return torch.from_numpy, step
        return {f"nn.{name}": open_layer, f"nn.{name}Cell": open_cell}


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

    def _layer(self, wl, cell=False, **options):
        """The workload's Keras layer (or its cell), reset_after=True for a GRU."""
        layers = self.keras.layers
        if wl.cell == "lstm":
            return (layers.LSTMCell if cell else layers.LSTM)(wl.units, **options)
        return (layers.GRUCell if cell else layers.GRU)(wl.units, reset_after=True, **options)

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
        y = self._layer(wl, return_sequences=True)(x_in)
        model = keras.Model(x_in, y)
        model.set_weights(self._weights(case))
        return {name: (lambda fn=fn, x=native(case["x"]): fn(x))
                for name, (fn, native) in self._callers(model, wl.batch).items()}

    def stream_variants(self, wl, case):
        """State carried by the caller: the model maps (x_t, h) -> h_new (an LSTM's (x_t, h, c)
        -> [h_new, c_new]), fed back next call."""
        keras, tf = self.keras, self.tf
        x_in = keras.Input((1, wl.input_dim), batch_size=1)
        states_in = [keras.Input((wl.units,), batch_size=1) for _ in zero_states(wl)]
        lstm = wl.cell == "lstm"
        out = self._layer(wl, return_state=lstm)(x_in, initial_state=states_in)
        model = keras.Model([x_in] + states_in, out[1:] if lstm else out)
        model.set_weights(self._weights(case))

        def opener(fn, native):
            def open_stream():
                states = [native(s) for s in zero_states(wl)]

                def step(x_t):
                    new = fn([x_t] + states)
                    states[:] = new if lstm else [new]
                    return states[0]
                return (lambda x_t: native(x_t.reshape(1, 1, -1))), step
            return open_stream

        # predict() (~0.1 s a call: a new data pipeline each time) and eager calls (~20 ms)
        # were 100x slower than tf.function per step in --quick runs; their 1000-call runs
        # would take most of the benchmark's time, so streams use the compiled ways only.
        openers = {name: opener(fn, native)
                   for name, (fn, native) in self._callers(model, 1).items()
                   if name not in ("predict", "eager")}
        cell = self._layer(wl, cell=True)
        cell.build((1, wl.input_dim))
        cell.set_weights(self._weights(case))
        # a cell call gives (output, new states): an LSTM's states are [h, c]
        cell_step = tf.function(lambda x_t, states: cell(x_t, states, training=False)[1])

        def open_cell():
            states = [tf.zeros((1, wl.units)) for _ in zero_states(wl)]

            def step(x_t):
                new = cell_step(x_t, states if lstm else states[0])
                states[:] = new if lstm else [new]
                return states[0]
            return tf.constant, step
        openers[f"{type(cell).__name__} tf.function"] = open_cell
        return openers


def onnx_states(wl):
    """The ONNX op's (initial state input, final state output) names: h, and an LSTM's c."""
    return [("initial_h", "Y_h"), ("initial_c", "Y_c")][:len(zero_states(wl))]


def onnx_rnn_model(wl, case, stream):
    """An ONNX GRU (gate order z, r, h; linear_before_reset=1 is Keras' reset_after=True) or
    LSTM (gate order i, o, f, c; B holds the input bias, then zeros for the recurrent one).

    Sequences take and give batch-major arrays like every other peer, (B, T, in) -> (B, T, U),
    with Transposes around the time-major op. Streams map (X (1, 1, in), initial_h (1, 1, U)
    [, initial_c]) -> Y_h (1, 1, U) [, Y_c] (and Y, which OpenVINO's stateful variant reads).
    """
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:
        raise PeerUnavailable(f"onnx (needed to build the model) not importable: {exc}")
    order = lambda a: keras_to_onnx_gate_order(a, wl.cell)
    bias = (np.concatenate([case["bias"], np.zeros_like(case["bias"])]) if wl.cell == "lstm"
            else case["bias"])
    gates = 4 if wl.cell == "lstm" else 3
    weights = [numpy_helper.from_array(np.ascontiguousarray(order(case["kernel"]).T[None]), "W"),
               numpy_helper.from_array(
                   np.ascontiguousarray(order(case["recurrent_kernel"]).T[None]), "R"),
               numpy_helper.from_array(order(bias.reshape(2, gates * wl.units)).reshape(1, -1),
                                       "B")]
    op, attrs = (("LSTM", {"hidden_size": wl.units}) if wl.cell == "lstm" else
                 ("GRU", {"hidden_size": wl.units, "linear_before_reset": 1}))
    f32 = TensorProto.FLOAT
    if stream:
        states = onnx_states(wl)
        inputs = [helper.make_tensor_value_info("X", f32, [1, 1, wl.input_dim])] + [
            helper.make_tensor_value_info(name, f32, [1, 1, wl.units]) for name, _ in states]
        outputs = [helper.make_tensor_value_info(name, f32, [1, 1, wl.units])
                   for _, name in states]
        outputs.append(helper.make_tensor_value_info("Y", f32, [1, 1, 1, wl.units]))
        nodes = [helper.make_node(op, ["X", "W", "R", "B", ""] + [n for n, _ in states],
                                  ["Y"] + [n for _, n in states], **attrs)]
    else:
        inputs = [helper.make_tensor_value_info("X", f32, [wl.batch, wl.steps, wl.input_dim])]
        outputs = [helper.make_tensor_value_info("out", f32, [wl.batch, wl.steps, wl.units])]
        weights.append(numpy_helper.from_array(np.array([1], np.int64), "dir_axis"))
        nodes = [helper.make_node("Transpose", ["X"], ["X_tm"], perm=[1, 0, 2]),
                 helper.make_node(op, ["X_tm", "W", "R", "B"], ["Y"], **attrs),
                 helper.make_node("Squeeze", ["Y", "dir_axis"], ["Y_tm"]),
                 helper.make_node("Transpose", ["Y_tm"], ["out"], perm=[1, 0, 2])]
    graph = helper.make_graph(nodes, f"{wl.cell}_{wl.name}", inputs, outputs,
                              initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime / OpenVINO of the last years
    onnx.checker.check_model(model)
    return model.SerializeToString()


class OnnxRuntimePeer:
    """onnxruntime CPU provider running the ONNX GRU (LSTM) op."""
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
        session = self._session(onnx_rnn_model(wl, case, stream=False))
        feed = {"X": case["x"]}
        return {"run": lambda: session.run(["out"], feed)[0]}

    def stream_variants(self, wl, case):
        session = self._session(onnx_rnn_model(wl, case, stream=True))
        inputs, outputs = zip(*onnx_states(wl))

        def open_stream():
            states = zero_states(wl, (1, 1))

            def step(x_t):
                states[:] = session.run(list(outputs), {"X": x_t, **dict(zip(inputs, states))})
                return states[0]
            return (lambda x_t: x_t.reshape(1, 1, -1)), step
        return {"run": open_stream}


class OpenVinoPeer:
    """OpenVINO CPU plugin reading the ONNX GRU (LSTM) model, with f32 inference precision forced
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
        request = self._request(self._compile(self._read(onnx_rnn_model(wl, case, stream=False))),
                                [x])

        def run(keep_alive=x):  # the request reads x's memory: keep x alive with it
            request.infer()
            return request.get_output_tensor(0).data
        return {"infer_request": run}

    def stream_variants(self, wl, case):
        model_bytes = onnx_rnn_model(wl, case, stream=True)
        fed_back = self._compile(self._read(model_bytes))

        def open_fed_back():
            x_buf = np.zeros((1, 1, wl.input_dim), np.float32)
            state_bufs = zero_states(wl, (1, 1))
            request = self._request(fed_back, [x_buf] + state_bufs)
            state_outs = [request.get_tensor(name) for _, name in onnx_states(wl)]

            def step(x_t):
                x_buf[...] = x_t
                request.infer()
                for buf, out in zip(state_bufs, state_outs):
                    buf[...] = out.data
                return state_bufs[0]
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
        apply_make_stateful_transformation(stateful_model, dict(onnx_states(wl)))
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

    def _layer(self, wl, case, **options):
        """fastgru.GRU (reset_after=True) or fastgru.LSTM from the case's Keras weights."""
        fastgru, weights = self.fastgru, (case["kernel"], case["recurrent_kernel"], case["bias"])
        if wl.cell == "lstm":
            return fastgru.LSTM(wl.units, *weights, threads=self.threads, **options)
        return fastgru.GRU(wl.units, *weights, reset_after=True, threads=self.threads, **options)

    def sequence_variants(self, wl, case):
        layer = self._layer(wl, case, return_sequences=True)
        x = case["x"]
        return {f"{wl.cell.upper()} layer": lambda: layer(x)}

    def stream_variants(self, wl, case):
        """A stateful GRU (LSTM) layer fed (1, 1, in) per call, and
        model.stream(1).step(x, out=buf)."""
        layer = self._layer(wl, case, stateful=True)

        def open_layer():
            layer.reset_states()
            return (lambda x_t: x_t.reshape(1, 1, -1)), layer
        openers = {f"stateful {wl.cell.upper()} layer": open_layer}
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
