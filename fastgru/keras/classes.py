"""Which Keras class a config entry means: the standard ones by name, custom ones through the
user's ``custom_objects`` mapping. Nothing from the file is ever imported or executed."""
from __future__ import annotations

from ..errors import FastGRUError

# Nested classes that only appear inside other layers' configs.
CELL_CLASSES = frozenset({"GRUCell", "StackedRNNCells"})


class ClassResolver:
    def __init__(self, known, custom_objects, source):
        self.known = frozenset(known) | CELL_CLASSES | {"InputLayer"}
        self.source = source
        self.mapping = {}
        for key, target in (custom_objects or {}).items():
            if not isinstance(key, str):
                raise FastGRUError(f"custom_objects keys must be class names (str), got {key!r}")
            name = target if isinstance(target, str) else getattr(target, "__name__", None)
            if name not in self.known:
                raise FastGRUError(f"custom_objects[{key!r}] = {target!r}: fastgru can map a custom "
                                   f"class only to one of {', '.join(sorted(self.known))}")
            self.mapping[key] = name

    def __call__(self, layer, class_name, registered_name=None) -> str:
        if not isinstance(class_name, str) or not isinstance(registered_name, (str, type(None))):
            raise FastGRUError(f"{self.source}: layer {layer.name!r}: class_name / registered_name "
                               f"must be strings, found {class_name!r} / {registered_name!r}")
        for key in (registered_name, class_name):
            if key in self.mapping:
                return self.mapping[key]
        if class_name == "Lambda":
            raise FastGRUError(f"{self.source}: layer {layer.name!r} is a Lambda layer, which stores "
                               f"Python bytecode; fastgru never executes code from a file. Replace "
                               f"it with standard layers")
        if class_name in self.known and registered_name in (None, class_name, f"keras>{class_name}"):
            return class_name
        label = registered_name or class_name
        supported = ", ".join(sorted(self.known - {"InputLayer"}))
        raise FastGRUError(f"{self.source}: layer {layer.name!r} has class {label!r}, which fastgru "
                           f"does not support (it reads {supported}). A custom class that keeps "
                           f"the maths of one of these can be mapped, e.g. "
                           f"custom_objects={{{label!r}: fastgru.GRU}} or {{{label!r}: 'Dense'}}")
