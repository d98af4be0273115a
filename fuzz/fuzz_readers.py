"""Fuzz the Python readers: mutated .keras zips, config.json, HDF5 files -> fastgru.load, and
CRC-valid .fgru images with mutated metadata JSON -> fastgru.load and ``fastgru inspect``.

Every case must end in success or a FastGRUError (never another exception, a crash or a
hang). A mutation starts from a real fixture (tests/fixtures/keras2|keras3) and changes one
thing: a value anywhere in config.json / an HDF5 attribute's JSON (wrong types, huge or
negative sizes, deep nesting), an HDF5 dataset's shape or dtype, a group layout (deleted or
moved objects), or the raw bytes (truncation, flipped bytes). A model that loads is also run
on a tiny input. HDF5 goes through fastgru's own reader (fastgru/keras/h5lite.py), h5py only
for what it leaves (FASTGRU_HDF5_READER=h5py fuzzes the h5py child instead); the mutated HDF5
bytes are also given to h5lite directly, which must return a tree or raise Unsupported.
The .fgru cases start from the valid images in fuzz/corpus and change the metadata only
(header and CRC fixed, tests/image_edit.py), with the metadata schema's field names
(fastgru/metadata.py) as the dictionary: fields added, renamed or set to hostile values. The
atheris run also hands those names to libFuzzer as its -dict.

    python fuzz/fuzz_readers.py -atheris_runs=N [libFuzzer flags]   # coverage-guided, atheris
    python fuzz/fuzz_readers.py --random N [--seed S]               # plain random cases

The input bytes only steer the choices (which fixture, which mutation, which value), so the
mutations stay structure-aware while atheris explores them.
"""
import contextlib
import io
import json
import os
import random
import signal
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(1, os.path.join(ROOT, "tests"))
os.environ.setdefault("KERAS_BACKEND", "jax")
CASE_SECONDS = 20
# libhdf5 hangs on some damaged files (e.g. a vlen string whose global heap object is missing):
# the h5py child's own timeout must turn that into a FastGRUError before the case alarm fires
os.environ.setdefault("FASTGRU_HDF5_TIMEOUT", str(CASE_SECONDS // 2))

import h5py  # noqa: E402
import numpy as np  # noqa: E402

import fastgru  # noqa: E402
from fastgru import cli  # noqa: E402
from fastgru import format as image_format  # noqa: E402
from fastgru.errors import FastGRUError  # noqa: E402
from fastgru.keras import archive, h5lite, h5source  # noqa: E402
from fastgru.metadata import field_names  # noqa: E402
from fastgru.model import Model  # noqa: E402
from image_edit import with_metadata  # noqa: E402

FIXTURES = os.path.join(ROOT, "tests", "fixtures")
SEEDS = ("simple", "masking", "embedding_mask", "two_in_two_out", "bidi_state", "stateful",
         "stacked_cells", "norms")
HOSTILE = (None, True, -1, 0, 1, 3, 2 ** 31, 2 ** 63, -2 ** 63, 1e308, float("nan"), "", "x",
           "float16", [], {}, [None], [0, -1], [2 ** 40, 2 ** 40], {"class_name": "GRU"},
           {"class_name": "Lambda", "config": {}})
FIELD_NAMES = field_names()
# Values a metadata field might be confused with: other fields' names and kinds of value.
METADATA_VALUES = HOSTILE + tuple(FIELD_NAMES) + (
    {"weight": 0}, {"gru": 0, "part": "kernel", "config": [1, 1, 1, 1, 0, 0]},
    {"name": "x", "shape": [None, 1], "dtype": "float32"}, [[None, 4]], 10 ** 30, 1e30,
    -0.0, "\udc80", {"dtype": "float16", "max_abs_error_vs_float32": "x"})


def _valid_images():
    """The committed C-fuzzer seeds that load (the rest are crash regressions)."""
    images = []
    for name in sorted(os.listdir(os.path.join(ROOT, "fuzz", "corpus"))):
        with open(os.path.join(ROOT, "fuzz", "corpus", name), "rb") as f:
            data = f.read()
        try:
            image_format.read_metadata(data)
            Model(data)
        except FastGRUError:
            continue
        images.append(data)
    return images


SEED_IMAGES = _valid_images()


class RandomChoices:
    """The FuzzedDataProvider calls the mutators use, answered by a seeded RNG."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def ConsumeIntInRange(self, lo, hi):
        return self.rng.randint(lo, hi)


def pick(fdp, seq):
    return seq[fdp.ConsumeIntInRange(0, len(seq) - 1)]


DEEP = "\0deep"   # stands for arrays nested DEEP_LEVELS deep (too deep to build as objects)
DEEP_LEVELS = 5000


def dump_json(obj):
    return json.dumps(obj).replace(json.dumps(DEEP), "[" * DEEP_LEVELS + "]" * DEEP_LEVELS)


def mutate_json(fdp, obj):
    """Replace, delete or deeply nest one node of a JSON tree (in place where possible)."""
    slots = []

    def walk(node):
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            slots.append((node, key))
            if isinstance(value, (dict, list)):
                walk(value)

    if isinstance(obj, (dict, list)):
        walk(obj)
    if not slots:
        return pick(fdp, HOSTILE)
    parent, key = pick(fdp, slots)
    how = fdp.ConsumeIntInRange(0, 9)
    if how == 0 and isinstance(parent, dict):
        del parent[key]
    elif how == 1:
        parent[key] = DEEP
    else:
        parent[key] = pick(fdp, HOSTILE)
    return obj


def mutate_bytes(fdp, data):
    if not data:
        return data
    if fdp.ConsumeIntInRange(0, 1):
        return data[:fdp.ConsumeIntInRange(0, len(data) - 1)]
    out = bytearray(data)
    for _ in range(fdp.ConsumeIntInRange(1, 8)):
        out[fdp.ConsumeIntInRange(0, len(out) - 1)] = fdp.ConsumeIntInRange(0, 255)
    return bytes(out)


def mutate_hdf5(fdp, data):
    """One structural change to an HDF5 file (given and returned as bytes)."""
    how = fdp.ConsumeIntInRange(0, 4)
    if how == 4:
        return mutate_bytes(fdp, data)
    buf = io.BytesIO(data)
    with h5py.File(buf, "r+") as f:
        objects = []
        f.visititems(lambda name, obj: objects.append(name))
        if not objects:
            return data
        name = pick(fdp, objects)
        obj = f[name]
        if how == 0 and isinstance(obj, h5py.Dataset):
            shape = tuple(pick(fdp, (0, 1, 2, 3, 7)) for _ in range(fdp.ConsumeIntInRange(0, 3)))
            dtype = pick(fdp, ("float32", "float64", "float16", "int32", "bool", "S3"))
            del f[name]
            f.create_dataset(name, data=np.ones(shape, dtype=dtype))
        elif how == 1:
            del f[name]
        elif how == 2:
            dest = pick(fdp, objects) + "_moved"
            if dest not in f:
                f.move(name, dest)
        else:
            holder = pick(fdp, [f] + [f[o] for o in objects])
            keys = list(holder.attrs.keys())
            if keys:
                key = pick(fdp, keys)
                value = holder.attrs[key]
                if isinstance(value, bytes):
                    value = value.decode("utf-8", "replace")
                try:
                    parsed = json.loads(value) if isinstance(value, str) else None
                except ValueError:
                    parsed = None
                if parsed is not None:
                    holder.attrs[key] = dump_json(mutate_json(fdp, parsed))
                else:
                    holder.attrs[key] = pick(fdp, (np.int64(-1), "x", np.zeros((2, 2)),
                                                    np.array([b"a", b"b"]), 2 ** 40))
    return buf.getvalue()


def mutate_metadata(fdp, image):
    """One change to an image's metadata JSON, the rest of the image kept valid."""
    meta = image_format.read_metadata(image)
    how = fdp.ConsumeIntInRange(0, 4)
    if how == 4:
        text = mutate_bytes(fdp, dump_json(meta).encode())
        return with_metadata(image, text)
    objects = []

    def walk(node):
        if isinstance(node, dict):
            objects.append(node)
        for value in (node.values() if isinstance(node, dict) else
                      node if isinstance(node, list) else ()):
            walk(value)
    walk(meta)
    if how == 0:
        mutate_json(fdp, meta)
    else:
        node = pick(fdp, objects)
        field = pick(fdp, FIELD_NAMES)
        if how == 1:                 # a schema field set to a hostile or confusable value
            node[field] = pick(fdp, METADATA_VALUES + (DEEP,))
        elif how == 2 and node:      # a field renamed to another schema field
            node[field] = node.pop(pick(fdp, sorted(node)))
        elif how == 3:               # a schema field deleted
            node.pop(field, None)
    return with_metadata(image, dump_json(meta).encode())


def mutate_keras_zip(fdp, data):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = {n: z.read(n) for n in z.namelist()}
    how = fdp.ConsumeIntInRange(0, 4)
    if how == 4:
        return mutate_bytes(fdp, data)
    names = sorted(members)
    if how == 0 and "config.json" in members:
        members["config.json"] = dump_json(
            mutate_json(fdp, json.loads(members["config.json"]))).encode()
    elif how == 1:
        del members[pick(fdp, names)]
    elif how == 2 and "model.weights.h5" in members:
        members["model.weights.h5"] = mutate_hdf5(fdp, members["model.weights.h5"])
    else:
        name = pick(fdp, names)
        members[name] = mutate_bytes(fdp, members[name])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, body in members.items():
            z.writestr(name, body)
    return out.getvalue()


def make_case(fdp):
    """(file bytes, suffix, config or None) for one mutated fixture."""
    model = pick(fdp, SEEDS)
    kind = fdp.ConsumeIntInRange(0, 4)
    if kind == 4:
        return mutate_metadata(fdp, pick(fdp, SEED_IMAGES)), ".fgru", None
    if kind == 0:
        with open(os.path.join(FIXTURES, "keras3", model + ".keras"), "rb") as f:
            return mutate_keras_zip(fdp, f.read()), ".keras", None
    if kind == 1:
        with open(os.path.join(FIXTURES, pick(fdp, ("keras2", "keras3")), model + ".h5"),
                  "rb") as f:
            return mutate_hdf5(fdp, f.read()), ".h5", None
    with open(os.path.join(FIXTURES, "keras2", model + ".json")) as f:
        config = json.load(f)
    with open(os.path.join(FIXTURES, "keras2", model + "_weights.h5"), "rb") as f:
        weights = f.read()
    if kind == 2:
        return weights, ".weights.h5", dump_json(mutate_json(fdp, config))
    return mutate_hdf5(fdp, weights), ".weights.h5", config


class CaseTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise CaseTimeout(f"one case ran over {CASE_SECONDS} s")


def read_hdf5_lite(path):
    """h5lite on the case's HDF5 bytes: a tree, Unsupported, or the object limits' error."""
    try:
        data = h5source.hdf5_bytes(path, archive.is_archive(path))
    except FastGRUError:
        return
    try:
        h5lite.read_tree(data, path)
    except (h5lite.Unsupported, FastGRUError):
        pass


def run_case(data, suffix, config, workdir):
    """Load (and run) one file: success or FastGRUError, else the exception propagates."""
    path = os.path.join(workdir, "case" + suffix)
    with open(path, "wb") as f:
        f.write(data)
    signal.alarm(CASE_SECONDS)
    try:
        read_hdf5_lite(path)
        model = fastgru.load(path, config=config)
        xs = [np.zeros((1,) + tuple(2 if d is None else d for d in t.shape[1:]), t.dtype)
              for t in model.inputs]
        model.predict(xs if len(xs) > 1 else xs[0])
        if suffix == ".fgru":
            for layer in model.layers:
                layer.get_weights()
    except FastGRUError:
        pass
    finally:
        signal.alarm(0)
    if suffix == ".fgru":
        inspect(path)


def inspect(path):
    """`fastgru inspect` on the case: it prints the model or one error line (status 2)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(["inspect", path])
    if status not in (0, 2) or (status == 2 and len(err.getvalue().splitlines()) != 1):
        raise AssertionError(f"fastgru inspect: status {status}, stderr {err.getvalue()!r}")


def main(argv):
    signal.signal(signal.SIGALRM, on_alarm)
    workdir = tempfile.mkdtemp(prefix="fastgru-fuzz-readers-")
    if "--random" in argv:
        n = int(argv[argv.index("--random") + 1])
        seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 0
        for i in range(n):
            case = make_case(RandomChoices(seed * 1_000_003 + i))
            try:
                run_case(*case, workdir)
            except BaseException:
                print(f"case {i} (seed {seed}) failed: {case[1]}", file=sys.stderr)
                raise
        print(f"{n} random cases passed")
        return
    import atheris

    def one(data):
        run_case(*make_case(atheris.FuzzedDataProvider(data)), workdir)

    atheris.instrument_all()   # coverage of fastgru's readers (and h5py's Python side)
    if not any(arg.startswith("-dict=") for arg in argv):
        dictionary = os.path.join(workdir, "metadata_fields.dict")
        with open(dictionary, "w") as f:
            f.writelines(f'"{name}"\n' for name in FIELD_NAMES)
        argv = argv + [f"-dict={dictionary}"]
    atheris.Setup(argv, one)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
