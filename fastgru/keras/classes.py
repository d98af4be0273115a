"""Which Keras class a config entry means: the standard ones by name, custom ones through the
user's ``custom_objects`` mapping. Nothing from the file is ever imported or executed."""
from __future__ import annotations

from ..custom_gru import CustomGRU
from ..errors import FastGRUError
from .builtin_classes import KERAS_LAYER_CLASSES

# What a class mapped to a fastgru.CustomGRU reads as (no Python class can have this name).
CUSTOM_GRU_KIND = "fastgru.CustomGRU"

# Nested classes that only appear inside other layers' configs.
CELL_CLASSES = frozenset({"GRUCell", "LSTMCell", "SimpleRNNCell", "StackedRNNCells"})


class ClassResolver:
    def __init__(self, known, custom_objects, source):
        self.known = frozenset(known) | CELL_CLASSES | {"InputLayer"}
        self.source = source
        self.mapping = {}
        self.cells = {}       # key -> the CustomGRU a custom cell / GRU class is declared as
        for key, target in (custom_objects or {}).items():
            if not isinstance(key, str):
                raise FastGRUError(f"custom_objects keys must be class names (str), got {key!r}")
            name = target if isinstance(target, str) else getattr(target, "__name__", None)
            if isinstance(target, CustomGRU):
                name = CUSTOM_GRU_KIND
                self.cells[key] = target
            if name not in self.known:
                raise FastGRUError(f"custom_objects[{key!r}] = {target!r}: fastgru can map a custom "
                                   f"class only to one of {', '.join(sorted(self.known))}")
            if _is_builtin(key) and key.split(">")[-1] != name:
                # A built-in class keeps its own maths: read as another layer, it would run
                # silently wrong (a Softmax read as a linear Activation).
                raise FastGRUError(f"custom_objects[{key!r}]: {key!r} is a built-in Keras class, "
                                   f"which fastgru never remaps; only custom classes can be mapped")
            self.mapping[key] = name

    def __call__(self, layer, class_name, registered_name=None) -> str:
        kind, reason = self._resolve(layer, class_name, registered_name)
        if reason:
            raise FastGRUError(f"{self.source}: layer {layer.name!r} {reason}"
                               f"{self._hint([(class_name, registered_name)])}")
        return kind

    def check_all(self, layers) -> None:
        """Refuse the model naming every top-level layer whose class fastgru cannot read, not
        just the first."""
        refused, classes = [], []
        for layer in layers:
            if layer.is_op:
                continue
            _, reason = self._resolve(layer, layer.class_name, layer.registered_name)
            if reason:
                refused.append(f"layer {layer.name!r} {reason}")
                classes.append((layer.class_name, layer.registered_name))
        if len(refused) == 1:
            raise FastGRUError(f"{self.source}: {refused[0]}{self._hint(classes)}")
        if refused:
            raise FastGRUError(f"{self.source}: {len(refused)} layers cannot be read: "
                               f"{'; '.join(refused)}{self._hint(classes)}")

    def _resolve(self, layer, class_name, registered_name):
        """(the known class it reads as, None) or (None, why it cannot be read)."""
        if not isinstance(class_name, str) or not isinstance(registered_name, (str, type(None))):
            raise FastGRUError(f"{self.source}: layer {layer.name!r}: class_name / registered_name "
                               f"must be strings, found {class_name!r} / {registered_name!r}")
        for key in (registered_name, class_name):
            if key in self.mapping:
                return self.mapping[key], None
        if class_name == "Lambda":
            return None, ("is a Lambda layer, which stores Python bytecode; fastgru never "
                          "executes code from a file. Replace it with standard layers")
        builtin = registered_name in (None, class_name, f"keras>{class_name}")
        if class_name in self.known and builtin and class_name != CUSTOM_GRU_KIND:
            return class_name, None
        if builtin and _is_builtin(class_name):
            return None, f"is a Keras {class_name}, which fastgru does not support"
        return None, f"has the custom class {registered_name or class_name!r}"

    def custom_cell(self, class_name, registered_name=None) -> CustomGRU:
        """The CustomGRU a class resolved to CUSTOM_GRU_KIND is declared as."""
        return self.cells.get(registered_name) or self.cells[class_name]

    def _hint(self, classes) -> str:
        """What fastgru reads, and for custom classes only, how to map them."""
        supported = ", ".join(sorted(self.known - {"InputLayer"}))
        custom = [registered or name for name, registered in classes
                  if not (registered in (None, name, f"keras>{name}") and _is_builtin(name))
                  and name != "Lambda"]
        text = f" (fastgru reads {supported})"
        if custom:
            text += (f". A custom class that keeps the maths of one of these can be mapped, "
                     f"e.g. custom_objects={{{custom[0]!r}: fastgru.GRU}} or "
                     f"{{{custom[0]!r}: 'Dense'}}; a custom GRU cell or layer with other "
                     f"equations maps to a fastgru.CustomGRU that declares them")
        return text


def _is_builtin(name: str) -> bool:
    """Whether a class name (or registered name) is one of Keras' own layer classes."""
    if name.startswith("keras>"):
        return True
    return name in KERAS_LAYER_CLASSES
