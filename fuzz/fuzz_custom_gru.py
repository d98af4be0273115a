"""Fuzz fastgru.CustomGRU's expression parser and compiler, and run what compiles.

Every case must end in a compiled cell or a FastGRUError (never another exception, a crash or
a hang). A cell that compiles is also packed into a one-op model image, loaded by the C
loader (which re-checks its program) and run on a tiny input: its outputs may be anything,
NaN included, but the run must not fail. The input bytes are either the expression text
itself (so libFuzzer's mutations reach the tokenizer) or, for half the cases, choices among
the grammar's tokens or a random expression of the grammar (so deeper structures reach the
parser and the kernels).

    python fuzz/fuzz_custom_gru.py -atheris_runs=N [libFuzzer flags]   # coverage-guided
    python fuzz/fuzz_custom_gru.py --random N [--seed S]               # plain random cases
"""
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(1, os.path.join(ROOT, "tests"))

import numpy as np  # noqa: E402

from fastgru import CustomGRU  # noqa: E402
from fastgru.errors import FastGRUError  # noqa: E402
from fastgru.format import pack_model  # noqa: E402
from fastgru.model import Model  # noqa: E402
from model_cases import SpecBuilder  # noqa: E402

TOKENS = ("xz", "xr", "xh", "hz", "hr", "hh", "h_prev", "z", "r", "candidate", "(", ")", "+",
          "-", "*", "/", "**", ",", "=", "0", "2", "0.5", "-3", "1e38", "1e-45", "64", "65",
          "sigmoid(", "tanh(", "relu(", "leaky_relu(", "elu(", "clip(", "minimum(", "log(",
          "sqrt(", "exp(", "abs(", "square(", "softmax(", "hard_shrink(", "max_value",
          "threshold", "negative_slope", "alpha", " ", "\t", ".", "'", "\x00", "\u00e9")
GATES = ("z", "r", "candidate", "h")
X = np.random.default_rng(0).normal(size=(2, 3, 2)).astype(np.float32)


def run_cell(cell):
    """A one-op model of `cell` through the C loader and kernels."""
    s = SpecBuilder("fuzz", np.random.default_rng(1))
    x = s.input("x", (None, 2))
    y = s.gru("cell", x, 3, return_sequences=True, reset_after=cell.reset_after)
    s.ops[-1].kind = "custom_gru"
    s.ops[-1].attrs["cell"] = cell
    out = Model(pack_model(s.spec([y]))).predict(X)
    assert out.shape == (2, 3, 3)


def one_case(choices, text):
    """`text` for one gate (chosen by `choices`), compiled and run; True when it ran."""
    kwargs = {GATES[choices.ConsumeIntInRange(0, 3)]: text,
              "reset_after": bool(choices.ConsumeIntInRange(0, 1))}
    try:
        cell = CustomGRU(**kwargs)
    except FastGRUError:
        return False
    run_cell(cell)
    return True


def token_text(choices):
    return "".join(TOKENS[choices.ConsumeIntInRange(0, len(TOKENS) - 1)]
                   for _ in range(choices.ConsumeIntInRange(1, 40)))


NAMES = TOKENS[:7]
NUMBERS = ("0", "1", "0.5", "2", "3", "-1", "1e-3", "65", "1e30")
FUNCS = ("sigmoid", "tanh", "relu", "exp", "log", "sqrt", "abs", "square", "hard_sigmoid",
         "softsign", "elu", "selu", "gelu", "mish", "swish", "leaky_relu", "hard_shrink")


def grammar_text(choices, depth=0):
    """A random expression of the grammar (mostly valid, so it reaches the kernels)."""
    pick = choices.ConsumeIntInRange(0, 9 if depth < 6 else 1)
    if pick == 0:
        return NAMES[choices.ConsumeIntInRange(0, len(NAMES) - 1)]
    if pick == 1:
        return NUMBERS[choices.ConsumeIntInRange(0, len(NUMBERS) - 1)]
    if pick == 2:
        return "-" + grammar_text(choices, depth + 1)
    if pick in (3, 4, 5):
        op = ("+", "-", "*", "/")[choices.ConsumeIntInRange(0, 3)]
        return f"({grammar_text(choices, depth + 1)} {op} {grammar_text(choices, depth + 1)})"
    if pick == 6:
        return f"{grammar_text(choices, depth + 1)} ** {NUMBERS[choices.ConsumeIntInRange(0, 8)]}"
    if pick == 7:
        fn = ("minimum", "maximum")[choices.ConsumeIntInRange(0, 1)]
        return f"{fn}({grammar_text(choices, depth + 1)}, {grammar_text(choices, depth + 1)})"
    if pick == 8:
        hi = NUMBERS[choices.ConsumeIntInRange(0, 8)]
        return f"clip({grammar_text(choices, depth + 1)}, -1, {hi})"
    fn = FUNCS[choices.ConsumeIntInRange(0, len(FUNCS) - 1)]
    return f"{fn}({grammar_text(choices, depth + 1)})"


class RandomChoices:
    """The FuzzedDataProvider calls used above, answered by a seeded RNG."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def ConsumeIntInRange(self, lo, hi):
        return self.rng.randint(lo, hi)


def atheris_main():
    import atheris

    def test_one(data):
        fdp = atheris.FuzzedDataProvider(data)
        how = fdp.ConsumeIntInRange(0, 2)
        text = (token_text(fdp) if how == 0 else grammar_text(fdp) if how == 1 else
                fdp.ConsumeUnicodeNoSurrogates(5000))
        one_case(fdp, text)

    atheris.instrument_all()
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()


def random_main(n, seed):
    ran = 0
    for i in range(n):
        choices = RandomChoices(seed * 1_000_003 + i)
        text = grammar_text(choices) if i % 2 else token_text(choices)
        ran += one_case(choices, text)
    print(f"{n} random cases passed ({ran} compiled and ran)")


if __name__ == "__main__":
    if "--random" in sys.argv:
        args = sys.argv[1:]
        count = int(args[args.index("--random") + 1])
        seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 0
        random_main(count, seed)
    else:
        atheris_main()
