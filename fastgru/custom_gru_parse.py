"""The expression language of ``fastgru.CustomGRU``: a tokenizer and a precedence-climbing
parser that turn one declared equation into a tree of primitive operations.

User text is only ever tokenized here: nothing is handed to ``eval``, ``exec``, ``compile`` or
``ast``. Grammar (Python's precedence; ``**`` groups right to left and binds tighter than a
unary minus on its left, so ``-x**2`` is ``-(x**2)``)::

    expr  := term (("+" | "-") term)*
    term  := unary (("*" | "/") unary)*
    unary := ("-" | "+") unary | power
    power := atom ["**" unary]          the exponent must fold to a number
    atom  := number | name | name "(" args ")" | "(" expr ")"
    args  := arg ("," arg)*             arg := expr | keyword "=" expr

A tree node is a tuple: ``("const", value)``, ``("load", name)``, ``("neg", a)``,
``(op, a, b)`` for op in add sub mul div min max gt, ``("pow", a, exponent)``, ``(fn, a)`` for
fn in abs exp log sqrt, or ``("act", canonical activation name, a)``. Activations with
non-default Keras parameters are lowered to primitive nodes (Keras' own formulas).
"""
from __future__ import annotations

import math
import re
from typing import Dict, List, Optional, Sequence, Tuple

from .activations import resolve_activation
from .errors import FastGRUError

MAX_CHARS = 4096      # longest expression text
MAX_DEPTH = 32        # deepest nesting of parentheses, calls and operators
MAX_NODES = 512       # most tree nodes one expression may become

# Activations that act across the units of a row: not a per-unit expression.
ROWWISE = ("softmax", "log_softmax", "sparsemax")
_UNARY_FUNCTIONS = ("abs", "exp", "log", "sqrt")

Node = tuple

_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|"
                    r"(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<op>\*\*|[-+*/(),=]))")


class _Tokens:
    """The tokens of one expression as (kind, text, column) with column 1-based."""

    def __init__(self, label: str, text: str) -> None:
        self.label, self.text = label, text
        self.items: List[Tuple[str, str, int]] = []
        at = 0
        while True:
            m = _TOKEN.match(text, at)
            if m is None or m.end() == at:
                rest = text[at:]
                if rest.strip() == "":
                    break
                col = at + len(rest) - len(rest.lstrip()) + 1
                raise self.error(col, f"unexpected character {text[col - 1]!r}")
            kind = m.lastgroup
            self.items.append((kind, m.group(kind), m.start(kind) + 1))
            at = m.end()
        self.items.append(("end", "", len(text) + 1))
        self.pos = 0

    def error(self, col: int, what: str) -> FastGRUError:
        return FastGRUError(f"CustomGRU {self.label}={self.text!r}: column {col}: {what}")

    def peek(self) -> Tuple[str, str, int]:
        return self.items[self.pos]

    def take(self) -> Tuple[str, str, int]:
        tok = self.items[self.pos]
        self.pos += 1
        return tok

    def accept(self, text: str) -> bool:
        if self.peek()[0] == "op" and self.peek()[1] == text:
            self.pos += 1
            return True
        return False

    def expect(self, text: str) -> None:
        kind, got, col = self.peek()
        if not self.accept(text):
            raise self.error(col, f"expected {text!r}, found {got!r}" if kind != "end"
                             else f"expected {text!r} at the end")


_BINARY = {"+": (1, "add"), "-": (1, "sub"), "*": (2, "mul"), "/": (2, "div")}


class _Parser:
    def __init__(self, label: str, text: str, names: Sequence[str],
                 why_not: Dict[str, str]) -> None:
        if not isinstance(text, str):
            raise FastGRUError(f"CustomGRU {label} must be a str, got {type(text).__name__}")
        if len(text) > MAX_CHARS:
            raise FastGRUError(f"CustomGRU {label}: expression of {len(text)} characters "
                               f"(at most {MAX_CHARS})")
        self.tokens = _Tokens(label, text)
        self.names = tuple(names)
        self.why_not = why_not
        self.depth = 0
        self.nodes = 0

    def node(self, col: int, *parts) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.tokens.error(col, f"expression too large (more than {MAX_NODES} "
                                         f"operations)")
        return tuple(parts)

    def nest(self, col: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.tokens.error(col, f"nested more than {MAX_DEPTH} deep")

    def parse(self) -> Node:
        tree = self.binary(1)
        kind, got, col = self.tokens.peek()
        if kind != "end":
            raise self.tokens.error(col, f"unexpected {got!r}")
        return tree

    def binary(self, min_prec: int) -> Node:
        """Precedence climbing over the left-associative + - * /."""
        left = self.unary()
        while True:
            kind, text, col = self.tokens.peek()
            if kind != "op" or text not in _BINARY or _BINARY[text][0] < min_prec:
                return left
            self.tokens.take()
            prec, op = _BINARY[text]
            self.nest(col)
            right = self.binary(prec + 1)
            self.depth -= 1
            left = self.node(col, op, left, right)

    def unary(self) -> Node:
        kind, text, col = self.tokens.peek()
        if kind == "op" and text in "+-":
            self.tokens.take()
            self.nest(col)
            operand = self.unary()
            self.depth -= 1
            if text == "+":
                return operand
            if operand[0] == "const":
                return ("const", -operand[1])
            return self.node(col, "neg", operand)
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        kind, text, col = self.tokens.peek()
        if not self.tokens.accept("**"):
            return base
        self.nest(col)
        exponent = self.unary()   # right to left: x**-y, x**2**3
        self.depth -= 1
        if exponent[0] != "const":
            raise self.tokens.error(col, "the exponent of ** must be a number")
        if base[0] == "const":
            return ("const", _fold_pow(self.tokens, col, base[1], exponent[1]))
        return self.node(col, "pow", base, exponent[1])

    def atom(self) -> Node:
        kind, text, col = self.tokens.take()
        if kind == "num":
            value = float(text)
            if not math.isfinite(value):
                raise self.tokens.error(col, f"number {text} is not finite in float32")
            return ("const", value)
        if kind == "op" and text == "(":
            self.nest(col)
            inner = self.binary(1)
            self.depth -= 1
            self.tokens.expect(")")
            return inner
        if kind == "name":
            if self.tokens.accept("("):
                self.nest(col)
                call = self.call(text, col)
                self.depth -= 1
                return call
            if text in self.why_not and text not in self.names:
                raise self.tokens.error(col, self.why_not[text])
            if text not in self.names:
                raise self.tokens.error(col, f"unknown name {text!r}; this expression may use "
                                             f"{', '.join(self.names)}")
            return self.node(col, "load", text)
        if kind == "end":
            raise self.tokens.error(col, "expression ends too early")
        raise self.tokens.error(col, f"unexpected {text!r}")

    def call(self, fn: str, col: int) -> Node:
        args: List[Node] = []
        keywords: Dict[str, Node] = {}
        if not self.tokens.accept(")"):
            while True:
                kind, text, kcol = self.tokens.peek()
                if kind == "name" and self.tokens.items[self.tokens.pos + 1][1:2] == ("=",):
                    self.tokens.take()
                    self.tokens.take()
                    if text in keywords:
                        raise self.tokens.error(kcol, f"{fn}(): keyword {text!r} given twice")
                    keywords[text] = self.binary(1)
                elif keywords:
                    raise self.tokens.error(kcol, f"{fn}(): positional argument after a keyword")
                else:
                    args.append(self.binary(1))
                if self.tokens.accept(")"):
                    break
                self.tokens.expect(",")
        return _lower_call(self, fn, col, args, keywords)


def _fold_pow(tokens: _Tokens, col: int, base: float, exponent: float) -> float:
    try:
        value = math.pow(base, exponent)
    except (OverflowError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise tokens.error(col, f"{base!r} ** {exponent!r} is not a finite number")
    return value


# Keras 3's optional parameters (keras.activations), in positional order, with defaults.
_ACT_PARAMS = {
    "relu": (("negative_slope", 0.0), ("max_value", None), ("threshold", 0.0)),
    "leaky_relu": (("negative_slope", 0.2),),
    "elu": (("alpha", 1.0),),
    "celu": (("alpha", 1.0),),
    "hard_shrink": (("threshold", 0.5),),
    "soft_shrink": (("threshold", 0.5),),
    "squareplus": (("b", 4.0),),
    "gelu": (("approximate", 0.0),),
}
_FUNCTION_ARITY = {"minimum": 2, "maximum": 2, "clip": 3, "square": 1,
                   **{f: 1 for f in _UNARY_FUNCTIONS}}


def _number(p: _Parser, fn: str, col: int, what: str, node: Node) -> float:
    if node[0] != "const":
        raise p.tokens.error(col, f"{fn}(): {what} must be a number")
    return float(node[1])


def _bind(p: _Parser, fn: str, col: int, args: List[Node], keywords: Dict[str, Node],
          params: Sequence[Tuple[str, Optional[float]]]) -> Dict[str, Optional[float]]:
    """Keras' parameters of activation `fn` from the arguments after x."""
    if len(args) - 1 > len(params):
        raise p.tokens.error(col, f"{fn}() takes at most {len(params) + 1} arguments, got "
                                  f"{len(args)}")
    values = {name: default for name, default in params}
    for (name, _), node in zip(params, args[1:]):
        values[name] = _number(p, fn, col, name, node)
    for name, node in keywords.items():
        if name not in values:
            accepted = ", ".join(n for n, _ in params) or "none"
            raise p.tokens.error(col, f"{fn}(): unknown keyword {name!r} (accepted: {accepted})")
        if any(name == n for (n, _), _a in zip(params, args[1:])):
            raise p.tokens.error(col, f"{fn}(): {name!r} given twice")
        values[name] = _number(p, fn, col, name, node)
    return values


def _lower_call(p: _Parser, fn: str, col: int, args: List[Node],
                keywords: Dict[str, Node]) -> Node:
    if fn in _FUNCTION_ARITY:
        if keywords or len(args) != _FUNCTION_ARITY[fn]:
            raise p.tokens.error(col, f"{fn}() takes {_FUNCTION_ARITY[fn]} positional "
                                      f"argument(s)")
        if fn == "square":
            return p.node(col, "pow", args[0], 2.0)
        if fn == "minimum" or fn == "maximum":
            return p.node(col, fn[:3], args[0], args[1])
        if fn == "clip":   # Keras: minimum(maximum(x, lo), hi)
            lo = _number(p, fn, col, "the lower bound", args[1])
            hi = _number(p, fn, col, "the upper bound", args[2])
            return p.node(col, "min", p.node(col, "max", args[0], ("const", lo)), ("const", hi))
        return p.node(col, fn, args[0])
    try:
        name = resolve_activation(fn)
    except FastGRUError:
        raise p.tokens.error(col, f"unknown function {fn!r}; functions are the Keras "
                                  f"activations and {', '.join(sorted(_FUNCTION_ARITY))}") from None
    if name in ROWWISE:
        raise p.tokens.error(col, f"{fn}() acts across the units of a row, not on one value")
    if not args:
        raise p.tokens.error(col, f"{fn}() needs its argument x")
    values = _bind(p, fn, col, args, keywords, _ACT_PARAMS.get(name, ()))
    return _lower_activation(p, fn, col, name, args[0], values)


def _lower_activation(p: _Parser, fn: str, col: int, name: str, x: Node,
                      v: Dict[str, Optional[float]]) -> Node:
    """An activation with Keras' parameters `v`: the table's fixed function where they are
    the defaults, else Keras' formula in primitive nodes."""
    defaults = {k: d for k, d in _ACT_PARAMS.get(name, ())}
    if v == defaults:
        return p.node(col, "act", name, x)
    n = lambda *parts: p.node(col, *parts)  # noqa: E731
    c = lambda value: ("const", float(value))  # noqa: E731
    pos, neg = n("max", x, c(0)), n("min", x, c(0))
    if name == "leaky_relu":   # where(x >= 0, x, s*x)
        return n("add", pos, n("mul", c(v["negative_slope"]), neg))
    if name in ("elu", "celu"):   # where(x > 0, x, a*expm1(x)) / a*expm1(x/a)
        a = v["alpha"]
        if a == 0:
            raise p.tokens.error(col, f"{fn}(): alpha must not be 0")
        inner = neg if name == "elu" else n("div", neg, c(a))
        return n("add", pos, n("mul", c(a), n("sub", n("exp", inner), c(1))))
    if name == "hard_shrink":   # where(|x| > t, x, 0)
        return n("mul", x, n("gt", n("abs", x), c(v["threshold"])))
    if name == "soft_shrink":   # where(x > t, x - t, where(x < -t, x + t, 0)), t >= 0
        t = v["threshold"]
        if t < 0:
            raise p.tokens.error(col, f"{fn}(): threshold must be >= 0")
        return n("add", n("max", n("sub", x, c(t)), c(0)), n("min", n("add", x, c(t)), c(0)))
    if name == "squareplus":   # (x + sqrt(x**2 + b)) / 2
        return n("div", n("add", x, n("sqrt", n("add", n("pow", x, 2.0), c(v["b"])))), c(2))
    if name == "relu":
        return _lower_relu(p, col, x, v)
    raise p.tokens.error(col, f"{fn}(): parameters other than the defaults are not supported")


def _lower_relu(p: _Parser, col: int, x: Node, v: Dict[str, Optional[float]]) -> Node:
    """Keras 3's ReLU.static_call, step by step."""
    n = lambda *parts: p.node(col, *parts)  # noqa: E731
    c = lambda value: ("const", float(value))  # noqa: E731
    slope, max_value, threshold = v["negative_slope"], v["max_value"], v["threshold"]
    if slope != 0 and max_value is None and threshold == 0:
        return _lower_activation(p, "relu", col, "leaky_relu", x, {"negative_slope": slope})
    negative = None
    if slope != 0:
        shifted = n("neg", x) if threshold == 0 else n("add", n("neg", x), c(threshold))
        negative = n("max", shifted, c(0))
    clip_max = max_value is not None
    if threshold != 0:
        y = n("mul", x, n("gt", x, c(threshold)))
    elif max_value == 6:
        y, clip_max = n("act", "relu6", x), False
    else:
        y = n("max", x, c(0))
    if clip_max:
        y = n("min", n("max", y, c(0)), c(max_value))
    if negative is not None:
        y = n("sub", y, n("mul", c(slope), negative))
    return y


def parse_expression(label: str, text: str, names: Sequence[str],
                     why_not: Optional[Dict[str, str]] = None) -> Node:
    """The tree of expression `text` (the CustomGRU argument `label`), which may read `names`
    (`why_not`: the message for a name it may not read)."""
    return _Parser(label, text, names, why_not or {}).parse()
