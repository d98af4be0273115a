"""Model configs (Keras 2 and Keras 3 flavours) -> one normalised graph description.

Keras 3 writes inbound nodes as ``{"args": [...], "kwargs": {...}}`` with ``__keras_tensor__``
references and explicit mask op nodes; tf-keras writes lists of ``[layer, node, tensor, kwargs]``
and lets masks travel implicitly (docs/KERAS_FORMATS.md §8). Everything downstream only sees
``ModelGraph``. JSON is parsed with bounds on size and nesting, and nothing in it is executed.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import FastGRUError
from ..output_structure import indices_nest, is_plain

MAX_JSON_BYTES = 64 << 20
MAX_JSON_DEPTH = 100
MAX_JSON_NUMBER_CHARS = 100     # a longer number literal is hostile (and slow to convert)

MODEL_CLASSES = frozenset({"Sequential", "Functional", "Model"})

# Keras 3 ops that mask computations record as graph nodes (see graph.py).
KERAS3_MASK_OPS = frozenset({"NotEqual", "Any", "All", "LogicalAnd", "LogicalOr", "ExpandDims",
                             "OnesLike", "ZerosLike", "Concatenate", "ConvertToTensor"})


@dataclass(frozen=True)
class TensorRef:
    """Output ``index`` of the ``node``-th call of layer ``layer``."""
    layer: str
    node: int
    index: int


@dataclass
class Call:
    """One inbound node: how a layer was called."""
    inputs: list                    # TensorRef, Keras order (merge layers: several; RNN layers:
                                    # positional initial states follow the sequence)
    consts: list                    # non-tensor positional arguments (op nodes: NotEqual's value)
    mask: Optional[TensorRef] = None
    initial_state: list = field(default_factory=list)
    op_kwargs: dict = field(default_factory=dict)
    tensor_kwargs: dict = field(default_factory=dict)   # keyword tensor arguments: name -> TensorRef
    explicit_mask: bool = False     # Keras 3 functional node: `mask` names the mask it consumes


@dataclass
class KerasLayer:
    name: str
    class_name: str
    config: dict
    calls: list                     # Call per inbound node
    registered_name: Optional[str] = None
    is_op: bool = False             # a Keras 3 ops node (NotEqual, Any, ...), not a layer
    in_model_layers: bool = True    # counts for the .keras weight keys (section 2)
    local_name: str = ""            # the name inside its own (possibly nested) model
    nested: Optional["ModelGraph"] = None   # a whole model used as a layer (inlined by nested.py)

    def __post_init__(self):
        self.local_name = self.local_name or self.name


@dataclass
class ModelGraph:
    name: str
    class_name: str                 # "Functional" | "Sequential"
    layers: list                    # KerasLayer in config order
    inputs: list                    # TensorRef
    outputs: list                   # TensorRef
    saveables: list = field(default_factory=list)   # model.layers order: KerasLayer | KerasLayer
                                                    # with .nested (weights files nest those)
    output_structure: Any = None    # outputs nested in lists / dicts (fastgru.output_structure)


def parse_json(text, where: str) -> Any:
    """``json.loads`` with bounds: a hostile file must fail cleanly, not exhaust memory or stack."""
    if isinstance(text, bytes):
        if len(text) > MAX_JSON_BYTES:
            raise FastGRUError(f"{where}: JSON is {len(text)} bytes, more than the limit {MAX_JSON_BYTES}")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise FastGRUError(f"{where}: JSON is not valid UTF-8 ({e})") from None
    if len(text) > MAX_JSON_BYTES:
        raise FastGRUError(f"{where}: JSON is {len(text)} characters, more than the limit {MAX_JSON_BYTES}")
    try:
        value = json.loads(text, parse_int=_bounded(int, where), parse_float=_bounded(float, where))
    except RecursionError:
        raise FastGRUError(f"{where}: JSON nested deeper than the limit {MAX_JSON_DEPTH}") from None
    except FastGRUError:
        raise
    except ValueError as e:
        raise FastGRUError(f"{where}: not valid JSON ({e})") from None
    _check_depth(value, where)
    return value


def _bounded(convert, where):
    def parse(literal):
        if len(literal) > MAX_JSON_NUMBER_CHARS:
            raise FastGRUError(f"{where}: a number of {len(literal)} characters, more than the "
                               f"limit {MAX_JSON_NUMBER_CHARS}")
        return convert(literal)
    return parse


def _check_depth(value, where):
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise FastGRUError(f"{where}: JSON nested deeper than the limit {MAX_JSON_DEPTH}")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def load_config_argument(config) -> dict:
    """``config=`` as the user gave it (path, JSON string or dict) -> dict."""
    if isinstance(config, dict):
        return config
    if isinstance(config, (str, os.PathLike)):
        text = os.fspath(config)
        if text.lstrip().startswith("{"):
            return _expect_dict(parse_json(text, "config JSON string"), "config JSON string")
        if not os.path.isfile(text):
            from ..errors import FastGRUFileNotFoundError
            raise FastGRUFileNotFoundError(f"config file {text!r} does not exist")
        size = os.path.getsize(text)
        if size > MAX_JSON_BYTES:
            raise FastGRUError(f"config file {text!r}: {size} bytes, more than the limit {MAX_JSON_BYTES}")
        with open(text, "rb") as f:
            return _expect_dict(parse_json(f.read(), f"config file {text!r}"), f"config file {text!r}")
    raise FastGRUError(f"config= must be a path, a JSON string or a dict, got {type(config).__name__}")


def _expect_dict(value, where):
    if not isinstance(value, dict):
        raise FastGRUError(f"{where}: expected a JSON object (model.to_json() output), found {type(value).__name__}")
    return value


def config_keras_version(config: dict) -> int:
    """2 for a tf-keras ``to_json()``, 3 for Keras 3 (section 1)."""
    version = config.get("keras_version")
    if isinstance(version, str) and version[:1] == "2":
        return 2
    module = config.get("module")
    if isinstance(module, str) and module.startswith("tf_keras"):
        return 2
    return 3


def normalise(config: dict, where: str) -> ModelGraph:
    """A model config dict (either Keras) -> ModelGraph."""
    class_name = config.get("class_name")
    if class_name == "Sequential" and isinstance(config.get("config"), list):
        config = dict(config, config={"layers": config["config"]})   # Keras < 2.2.3 wrote a list
    cfg = _field(config, "config", dict, where)
    if class_name == "Sequential":
        return _sequential(cfg, where)
    if class_name in ("Functional", "Model"):
        return _functional(cfg, where)
    raise FastGRUError(f"{where}: model class {class_name!r} is not supported; fastgru reads "
                       f"Sequential and functional models (subclassed models have no graph config)")


def _field(d, key, kind, where):
    if not isinstance(d, dict) or key not in d:
        raise FastGRUError(f"{where}: missing field {key!r}")
    value = d[key]
    if not isinstance(value, kind):
        raise FastGRUError(f"{where}: field {key!r} should be {kind.__name__}, found {type(value).__name__}")
    return value


def _layer_entry(entry, where):
    if not isinstance(entry, dict):
        raise FastGRUError(f"{where}: a layer entry should be an object, found {type(entry).__name__}")
    class_name = _field(entry, "class_name", str, where)
    lcfg = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    name = entry.get("name", lcfg.get("name"))
    if not isinstance(name, str):
        raise FastGRUError(f"{where}: layer of class {class_name!r} has no name")
    is_op = _is_op_node(entry, class_name, lcfg)
    registered = entry.get("registered_name")
    if ">" in class_name:                   # legacy .h5 spells a registered class "package>Class"
        registered = registered or class_name
        class_name = class_name.rsplit(">", 1)[1]
    layer = KerasLayer(name=name, class_name=class_name, config=lcfg, calls=[],
                       registered_name=registered, is_op=is_op, in_model_layers=not is_op)
    if class_name in MODEL_CLASSES:
        layer.nested = normalise({"class_name": class_name, "config": entry.get("config")},
                                 f"{where}: nested model {name!r}")
    return layer


def _is_op_node(entry, class_name, lcfg) -> bool:
    """Keras 3 ops nodes (mask computations) are not layers. ``.keras`` configs say so with
    their module; legacy ``.h5`` configs carry no module, but only layers have ``trainable``."""
    module = entry.get("module")
    if isinstance(module, str):
        return module.startswith("keras.src.ops")
    return class_name in KERAS3_MASK_OPS and "trainable" not in lcfg


def _functional(cfg, where) -> ModelGraph:
    entries = _field(cfg, "layers", list, where)
    layers = []
    for entry in entries:
        layer = _layer_entry(entry, where)
        nodes = entry.get("inbound_nodes", [])
        if not isinstance(nodes, list):
            raise FastGRUError(f"{where}: layer {layer.name!r}: inbound_nodes should be a list")
        for node in nodes:
            if isinstance(node, dict):
                layer.calls.append(_keras3_call(node, layer, where))
            else:
                layer.calls.append(_keras2_call(node, layer, where))
        layers.append(layer)
    names = [layer.name for layer in layers]
    if len(set(names)) != len(names):
        raise FastGRUError(f"{where}: duplicate layer names in the config")
    inputs, _ = _endpoints(cfg.get("input_layers"), "input_layers", where)
    outputs, output_structure = _endpoints(cfg.get("output_layers"), "output_layers", where)
    return ModelGraph(name=str(cfg.get("name", "model")), class_name="Functional", layers=layers,
                      inputs=inputs, outputs=outputs, output_structure=output_structure,
                      saveables=[layer for layer in layers if layer.in_model_layers])


def _endpoints(value, key, where):
    """The flat tensor references of input_layers / output_layers (Keras' flatten order), and
    their structure when it is a nest (fastgru.output_structure), else None."""
    if not isinstance(value, (list, dict)) or not value:
        raise FastGRUError(f"{where}: {key} missing or empty")
    refs: list = []

    def take(v):
        refs.append(_ref(v, f"{where}: {key}"))
        return len(refs) - 1
    structure = indices_nest(value, _looks_like_ref, take, f"{where}: {key}")
    return refs, None if is_plain(structure) else structure


def _looks_like_ref(v):
    return isinstance(v, list) and bool(v) and isinstance(v[0], str)


def _ref(v, where) -> TensorRef:
    if (isinstance(v, list) and len(v) >= 3 and isinstance(v[0], str)
            and isinstance(v[1], int) and isinstance(v[2], int) and v[1] >= 0 and v[2] >= 0):
        return TensorRef(v[0], v[1], v[2])
    raise FastGRUError(f"{where}: expected a tensor reference [layer, node, index], found {str(v)[:80]}")


def _is_keras3_tensor(v):
    return isinstance(v, dict) and v.get("class_name") == "__keras_tensor__"


def _keras3_ref(v, where) -> TensorRef:
    history = v.get("config", {}).get("keras_history") if isinstance(v.get("config"), dict) else None
    return _ref(history, where)


def _keras3_call(node, layer, where) -> Call:
    where = f"{where}: layer {layer.name!r}"
    args = node.get("args", [])
    kwargs = node.get("kwargs", {}) or {}
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise FastGRUError(f"{where}: malformed inbound node")
    call = Call(inputs=[], consts=[], explicit_mask=True)
    for arg in args:
        if _is_keras3_tensor(arg):
            call.inputs.append(_keras3_ref(arg, where))
        elif isinstance(arg, list) and arg and all(_is_keras3_tensor(a) for a in arg):
            call.inputs.extend(_keras3_ref(a, where) for a in arg)
        else:
            call.consts.append(arg)
    mask = kwargs.get("mask")
    if _is_keras3_tensor(mask):
        call.mask = _keras3_ref(mask, where)
    elif mask is not None:
        raise FastGRUError(f"{where}: mask argument of an unsupported form ({str(mask)[:80]})")
    state = kwargs.get("initial_state")
    if state is not None:
        states = state if isinstance(state, list) else [state]
        if not all(_is_keras3_tensor(s) for s in states):
            raise FastGRUError(f"{where}: initial_state is not a tensor reference")
        call.initial_state = [_keras3_ref(s, where) for s in states]
    rest = {k: v for k, v in kwargs.items() if k not in ("mask", "initial_state", "training")}
    call.tensor_kwargs = {k: _keras3_ref(v, where) for k, v in rest.items() if _is_keras3_tensor(v)}
    call.op_kwargs = {k: v for k, v in rest.items() if k not in call.tensor_kwargs}
    return call


def _keras2_call(node, layer, where) -> Call:
    where = f"{where}: layer {layer.name!r}"
    if not isinstance(node, list) or not node:
        raise FastGRUError(f"{where}: malformed inbound node")
    call = Call(inputs=[_ref(entry, where) for entry in node], consts=[])
    # tf-keras writes a call's keyword arguments after the first tensor: tensors as
    # [layer, node, index] (MultiHeadAttention's value, key, attention_mask), flags as values
    kwargs = node[0][3] if isinstance(node[0], list) and len(node[0]) > 3 else {}
    if isinstance(kwargs, dict):
        for k, v in kwargs.items():
            if k in ("mask", "initial_state", "training"):
                continue
            if isinstance(v, list) and len(v) >= 3 and isinstance(v[0], str):
                call.tensor_kwargs[k] = _ref(v, where)
            else:
                call.op_kwargs[k] = v
    return call


def _sequential(cfg, where) -> ModelGraph:
    entries = _field(cfg, "layers", list, where)
    if not entries:
        raise FastGRUError(f"{where}: Sequential model has no layers")
    layers = [_layer_entry(e, where) for e in entries]
    name = str(cfg.get("name", "sequential"))
    if layers[0].class_name == "InputLayer":
        inp = layers[0]
        inp.in_model_layers = False        # Sequential.layers hides its InputLayer (section 2)
    else:
        first = layers[0].config
        shape = first.get("batch_shape") or first.get("batch_input_shape") or cfg.get("build_input_shape")
        if shape is None:
            raise FastGRUError(f"{where}: Sequential model declares no input shape (no InputLayer, "
                               f"no batch_input_shape on {layers[0].name!r})")
        inp = KerasLayer(name=f"{name}_input", class_name="InputLayer",
                         config={"batch_shape": shape, "dtype": first.get("dtype", "float32")},
                         calls=[], in_model_layers=False)
        layers.insert(0, inp)
    previous = TensorRef(inp.name, 0, 0)
    for layer in layers[1:]:
        layer.calls.append(Call(inputs=[previous], consts=[]))
        previous = TensorRef(layer.name, 0, 0)
    return ModelGraph(name=name, class_name="Sequential", layers=layers,
                      inputs=[TensorRef(inp.name, 0, 0)], outputs=[previous],
                      saveables=[layer for layer in layers if layer.in_model_layers])
