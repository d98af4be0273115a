"""The metadata JSON of a model image (what ``fastgru.format.pack_model`` writes): its fields,
declared once as a schema, and ``parse_metadata``, which reads it with size, depth and
number-length limits and checks it against that schema.

The C loader checks the image's tables; the metadata is only read by Python (layer names,
shapes, weight references, the stored precision), so a damaged or hostile metadata blob in a
CRC-valid image must fail here with a FastGRUError naming the field, before any code uses it.
The fuzzer (fuzz/fuzz_readers.py) takes its dictionary from ``field_names()``.
Unknown fields are allowed (a newer 1.x writer may add some); known ones must match.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, Tuple

from .errors import FastGRUError

MAX_METADATA_BYTES = 64 << 20
MAX_INT = 2**31 - 1        # ids, sizes and counts all go to C as 32-bit ints
MAX_DIM = 2**31 - 1
GRU_CONFIG_FIELDS = (6, 8)  # fastgru.format.config_fields: a GRU's 6, another cell's 8


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Field:
    what = "a value"

    def check(self, value, where: str) -> None:
        if not self.accepts(value):
            raise FastGRUError(f"model image: {where} should be {self.what}, found "
                               f"{_short(value)}")
        self.check_parts(value, where)

    def accepts(self, value) -> bool:
        return True

    def check_parts(self, value, where: str) -> None:
        pass

    def names(self) -> Iterator[str]:
        return iter(())


class AnyJSON(_Field):
    """Any JSON value (already bounded in size and depth by the parser)."""


class Text(_Field):
    def __init__(self, *choices: str):
        self.choices = choices
        self.what = f"one of {list(choices)}" if choices else "a string"

    def accepts(self, value) -> bool:
        return isinstance(value, str) and (not self.choices or value in self.choices)

    def names(self):
        return iter(self.choices)


class Flag(_Field):
    what = "true or false"

    def accepts(self, value) -> bool:
        return isinstance(value, bool)


class Int(_Field):
    def __init__(self, low: int = 0, high: int = MAX_INT):
        self.low, self.high = low, high
        self.what = f"an integer in [{low}, {high}]"

    def accepts(self, value) -> bool:
        return (isinstance(value, int) and not isinstance(value, bool)
                and self.low <= value <= self.high)


class Number(_Field):
    what = "a number"

    def accepts(self, value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)


class Scalar(_Field):
    what = "a string, number, true/false or null"

    def accepts(self, value) -> bool:
        return value is None or isinstance(value, (str, int, float, bool))


class Nullable(_Field):
    def __init__(self, inner: _Field):
        self.inner = inner
        self.what = f"null or {inner.what}"

    def check(self, value, where):
        if value is not None:
            self.inner.check(value, where)

    def names(self):
        return self.inner.names()


class ListOf(_Field):
    """A list of `item`s; of `length` items when given (an int, or a tuple of the lengths
    allowed)."""

    def __init__(self, item: _Field, length=None):
        self.item = item
        self.lengths = (length,) if isinstance(length, int) else length
        self.what = (f"a list of {' or '.join(map(str, self.lengths))}"
                     if length is not None else "a list") + f" (items: {item.what})"

    def accepts(self, value) -> bool:
        return isinstance(value, list) and (self.lengths is None or len(value) in self.lengths)

    def check_parts(self, value, where):
        for i, item in enumerate(value):
            self.item.check(item, f"{where}[{i}]")

    def names(self):
        return self.item.names()


class MapOf(_Field):
    def __init__(self, value: _Field):
        self.value = value
        self.what = f"an object (values: {value.what})"

    def accepts(self, value) -> bool:
        return isinstance(value, dict)

    def check_parts(self, value, where):
        for key, item in value.items():
            self.value.check(item, f"{where}.{key}")


class Record(_Field):
    """A JSON object with known fields. `required` must be present; of `alternatives` (groups
    of fields), exactly one group must be present."""

    what = "an object"

    def __init__(self, fields: Dict[str, _Field], required: Tuple[str, ...] = (),
                 alternatives: Tuple[Tuple[str, ...], ...] = ()):
        self.fields, self.required, self.alternatives = fields, required, alternatives

    def accepts(self, value) -> bool:
        return isinstance(value, dict)

    def check_parts(self, value, where):
        for key in self.required:
            if key not in value:
                raise FastGRUError(f"model image: {where} has no field {key!r}")
        if self.alternatives:
            present = [group for group in self.alternatives if all(k in value for k in group)]
            if len(present) != 1:
                options = " or ".join("+".join(group) for group in self.alternatives)
                raise FastGRUError(f"model image: {where} should have exactly one "
                                   f"of the field sets {options}")
        for key, field in self.fields.items():
            if key in value:
                field.check(value[key], f"{where}.{key}")

    def names(self):
        for key, field in self.fields.items():
            yield key
            yield from field.names()


_SHAPE = ListOf(Nullable(Int(0, MAX_DIM)))
_TENSOR = Record({"name": Text(), "shape": _SHAPE, "dtype": Text("float32", "int32", "bool")},
                 required=("name", "shape", "dtype"))
# Where a Keras weight lies in the image: a plain weight record, or one part of a packed GRU
# weight with the GRU config that unpacks it.
_WEIGHT_REF = Record({"name": Text(), "shape": ListOf(Int(0, MAX_DIM)), "weight": Int(),
                      "gru": Int(), "part": Text("kernel", "recurrent_kernel", "bias"),
                      "config": ListOf(Int(), GRU_CONFIG_FIELDS)},
                     required=("shape",), alternatives=(("weight",), ("gru", "part", "config")))
_LAYER = Record({"name": Text(), "class_name": Text(),
                 "output_shapes": ListOf(Nullable(_SHAPE)), "params": Int(0, 2**62),
                 "weights": ListOf(_WEIGHT_REF), "highlights": MapOf(Scalar())},
                required=("name", "class_name", "output_shapes", "params", "weights"))
_STATE = Record({"layer": Text(), "slot": Int(), "units": Int(1, MAX_DIM),
                 "kind": Text("gru", "lstm", "simple_rnn", "custom_gru")},
                required=("layer", "slot", "units"))
_PRECISION = Record({"dtype": Text("float32", "float16", "bfloat16"),
                     "max_abs_error_vs_float32": Number(), "probe": Text()},
                    required=("dtype", "max_abs_error_vs_float32"))

SCHEMA = Record({
    "format": Text("fastgru-image"), "name": Text(), "source": Nullable(Text()),
    "source_format": Nullable(Text()), "keras_version": Nullable(Int(0, 99)),
    "inputs": ListOf(_TENSOR), "outputs": ListOf(_TENSOR), "layers": ListOf(_LAYER),
    "stateful": Flag(), "states": ListOf(_STATE), "stateful_batch": Nullable(Int(1, MAX_INT)),
    "extra": MapOf(AnyJSON()), "precision": _PRECISION,
    # a nest of lists / dicts of output indices: fastgru.output_structure checks it
    "output_structure": AnyJSON(),
}, required=("layers",))


def field_names() -> list:
    """Every field name and fixed string value the schema knows (the fuzzer's dictionary)."""
    return sorted(set(SCHEMA.names()))


def parse_metadata(blob: bytes) -> Dict[str, Any]:
    """The metadata object of an image, parsed with limits and checked against SCHEMA."""
    from .keras.config import parse_json

    if len(blob) > MAX_METADATA_BYTES:
        raise FastGRUError(f"model image metadata: {len(blob)} bytes, more than the limit "
                           f"{MAX_METADATA_BYTES}")
    meta = parse_json(bytes(blob), "model image metadata")
    SCHEMA.check(meta, "metadata")
    return meta
