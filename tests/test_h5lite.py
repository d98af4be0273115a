"""fastgru's own HDF5 reader (fastgru/keras/h5lite.py) against h5py: the same plain tree for
every Keras file we have and for files made here to cover the subset's corners; files outside
the subset go to h5py (auto) or fail clearly (lite); damaged files never escape as anything
but ``Unsupported`` / ``FastGRUError``, and never hang."""
import contextlib
import io
import pathlib
import random
import signal
import struct
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastgru
from fastgru.keras import archive, h5lite, h5source, h5tree, h5walk, isolate

h5py = pytest.importorskip("h5py")

ROOT = pathlib.Path(__file__).resolve().parent.parent
KERAS_FILES = sorted(p for folder in (ROOT / "tests" / "fixtures", ROOT / "fastgru" / "data")
                     for p in folder.rglob("*") if p.name.endswith((".h5", ".keras")))


def _hdf5_bytes(path) -> bytes:
    path = str(path)
    return archive.read_weights(path) if archive.is_archive(path) else open(path, "rb").read()


def _h5py_tree(data: bytes) -> h5tree.Group:
    return h5walk.read_tree(io.BytesIO(data), "ref.h5")


def _pending_tree(path, monkeypatch, mode) -> h5tree.Group:
    monkeypatch.setenv("FASTGRU_HDF5_READER", mode)
    with h5source.PendingTree(str(path)) as pending:
        tree = pending.tree()
        _take_deferred(tree)    # h5py's data comes when taken: all of it, while h5py runs
        return tree


def _take_deferred(node):
    if isinstance(node, h5tree.Dataset) and isinstance(node._data, h5tree.Deferred):
        node[()]
    elif isinstance(node, h5tree.Group) and isinstance(node._children, dict):
        for child in node._children.values():
            _take_deferred(child)


def _same_value(lite, ref, where):
    assert type(lite) is type(ref), f"{where}: {type(lite)} != {type(ref)}"
    if isinstance(ref, (np.ndarray, np.generic)):
        assert (lite.dtype.str, lite.shape) == (ref.dtype.str, ref.shape), where
        if ref.dtype.kind == "O":
            assert [type(v) for v in lite.flat] == [type(v) for v in ref.flat], where
            assert lite.tolist() == ref.tolist(), where
        else:
            assert lite.tobytes() == ref.tobytes(), where      # bitwise, NaNs included
    else:
        assert lite == ref, where


def assert_same_tree(lite, ref):
    assert type(lite) is type(ref) and lite.name == ref.name, (lite.name, ref.name)
    if isinstance(ref, h5tree.Dataset):
        assert (lite.shape, lite.dtype.str) == (ref.shape, ref.dtype.str), ref.name
        assert (lite._data is None) == (ref._data is None), ref.name
        if ref._data is not None:
            _same_value(lite._data, ref._data, ref.name)
        return
    lite_attrs, ref_attrs = lite.attrs._values, ref.attrs._values
    assert list(lite_attrs) == list(ref_attrs), ref.name          # same keys, same order
    for key, value in ref_attrs.items():
        _same_value(lite_attrs[key], value, f"{ref.name} attribute {key!r}")
    assert list(lite._children) == list(ref._children), ref.name
    for key, child in ref._children.items():
        assert_same_tree(lite._children[key], child)


@pytest.mark.parametrize("path", KERAS_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_keras_file_reads_as_h5py_reads_it(path, monkeypatch):
    ref = _h5py_tree(_hdf5_bytes(path))
    assert_same_tree(_pending_tree(path, monkeypatch, "lite"), ref)   # lite: no fallback


def test_there_are_keras_files_to_compare():
    assert len(KERAS_FILES) >= 100
    assert {p.suffix for p in KERAS_FILES} == {".h5", ".keras"}


# ---- the subset's corners, written here with h5py ---------------------------------------
def _corners(f):
    f.attrs["vlen"] = "text é"                                  # vlen utf-8 scalar -> str
    f.attrs["fixed"] = np.bytes_(b"abc")                        # fixed-length -> bytes_
    f.attrs["fixed_array"] = np.array([b"a", b"bcd", b""], dtype="S4")
    f.attrs["vlen_array"] = np.array(["x", "yz", ""], dtype=h5py.string_dtype())
    f.attrs["ascii_vlen"] = np.array("plain", dtype=h5py.string_dtype("ascii"))
    f.attrs["int"] = np.int64(-7)
    f.attrs["be_array"] = np.arange(6, dtype=">f8").reshape(2, 3)
    f.attrs["empty_array"] = np.zeros((0,), np.int32)
    f.attrs["float16"] = np.float16(1.5)
    data = f.create_group("data")
    for dtype in ("<f4", ">f4", ">f8", "<f2", "i1", "u1", "<i2", ">u2", "<i4", ">i8", "<u8"):
        data[f"a_{dtype}"] = (np.arange(24) - 5).astype(dtype).reshape(2, 3, 4)
    data["scalar_be"] = np.array(3.25, ">f8")
    data["scalar_int"] = np.array(9, "<i4")
    data["empty"] = np.zeros((0, 4), np.float32)
    data["nan"] = np.array([np.nan, -0.0, np.inf], np.float32)
    data["strings"] = np.array([b"ab", b"c"], dtype="S2")               # not read: dtype only
    data["vlen_strings"] = np.array(["ab", "c"], dtype=h5py.string_dtype())
    f.create_group("empty_group")
    big = f.create_group("many")
    for i in range(300):                                        # several B-tree levels
        big.create_group(f"m{i:03d}").attrs["i"] = i
    crowded = f.create_group("crowded")
    for i in range(40):                                         # the header overflows
        crowded.attrs[f"attr_{i:02d}"] = np.full(30, i, np.float64)
    assert h5py.h5o.get_info(crowded.id).hdr.nchunks > 1, "expected a continuation block"
    nested = f.create_group("a/b/c/d")
    nested["w"] = np.ones((3, 3), np.float32)
    f.create_group("optimizer").create_dataset("skipped", data=np.zeros(3))


def _compact_dataset(f):
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    values = np.arange(12, dtype="<f4").reshape(3, 4)
    space = h5py.h5s.create_simple(values.shape)
    h5py.h5d.create(f.id, b"compact", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl).write(
        h5py.h5s.ALL, h5py.h5s.ALL, values)


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_subset_corners(tmp_path, monkeypatch, libver):
    path = tmp_path / "corners.h5"
    with h5py.File(path, "w", libver=libver) as f:
        if libver == "earliest":
            _corners(f)
        else:   # compact link storage and v2 headers: few links and attributes per object
            f.attrs["vlen"] = "text"
            f.attrs["numbers"] = np.arange(4, dtype=">i4")
            f.create_group("g")["w"] = np.arange(6, dtype="<f4").reshape(2, 3)
            f.create_group("empty")
            for i in range(6):      # compact attributes past the first header chunk
                f["g"].attrs[f"a{i}"] = np.arange(40 * i, dtype="<f8")
        _compact_dataset(f)
    if libver == "latest":
        assert b"OCHK" in path.read_bytes(), "expected a v2 continuation block"
    tree = _pending_tree(path, monkeypatch, "lite")
    assert_same_tree(tree, _h5py_tree(path.read_bytes()))
    assert tree["compact"][()].tolist() == np.arange(12).reshape(3, 4).tolist()


def test_many_members_need_a_multi_level_btree(tmp_path):
    path = tmp_path / "many.h5"
    with h5py.File(path, "w") as f:
        _corners(f)
    data = path.read_bytes()
    reader = h5lite._Reader(data, "many.h5")
    group = reader.header(reader.root_address)
    stab = dict(reader.links(group, "/"))["many"]
    (symbol_table,) = [body for kind, body in reader.header(stab) if kind == h5lite.SYMBOL_TABLE]
    btree = symbol_table.address()
    assert data[btree + 5] >= 1, "the B-tree of 300 members should have internal nodes"


def test_datasets_are_read_only_after_their_size_is_checked(tmp_path):
    path = tmp_path / "sizes.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("huge", shape=(2 ** 31, 2 ** 31), dtype="f4", chunks=(1, 1))
        f["small"] = np.arange(6, dtype=np.float32).reshape(2, 3)
    tree = h5lite.read_tree(path.read_bytes(), "sizes.h5")   # chunked, but never read
    assert_same_tree(tree, h5walk.read_tree(str(path), "sizes.h5"))
    with pytest.raises(OSError, match="was not read"):
        tree["huge"][()]

# ---- outside the subset -------------------------------------------------------------------
def _gzip(f):
    f.create_dataset("w", data=np.arange(100, dtype=np.float32), chunks=(10,), compression="gzip")


def _chunked(f):
    f.create_dataset("w", data=np.arange(100, dtype=np.float32), chunks=(10,))


def _dense(f):
    for i in range(20):
        f.create_group(f"g{i}")


def _soft_link(f):
    f.create_group("real")["w"] = np.zeros(2)
    f["alias"] = h5py.SoftLink("/real")


@pytest.mark.parametrize("make, libver, feature", [
    (_gzip, "earliest", "filters"),
    (_chunked, "earliest", "chunked"),
    (_dense, "latest", "densely"),
    (_soft_link, "earliest", "soft"),
])
def test_outside_the_subset_falls_back_or_fails_clearly(tmp_path, monkeypatch, make, libver,
                                                        feature):
    path = tmp_path / "outside.h5"
    with h5py.File(path, "w", libver=libver) as f:
        make(f)
    with pytest.raises(h5lite.Unsupported, match=feature):
        h5lite.read_tree(path.read_bytes(), "outside.h5")
    ref = h5walk.read_tree(str(path), str(path))
    assert_same_tree(_pending_tree(path, monkeypatch, "auto"), ref)
    monkeypatch.setenv("FASTGRU_HDF5_ISOLATION", "0")
    assert_same_tree(_pending_tree(path, monkeypatch, "auto"), ref)
    with pytest.raises(fastgru.FastGRUError, match=f"outside the HDF5 subset.*{feature}"):
        _pending_tree(path, monkeypatch, "lite")


def test_files_in_the_subset_start_no_h5py_child(monkeypatch):
    def no_child(*_):
        raise AssertionError("an h5py child was started")
    monkeypatch.setattr(isolate, "Child", no_child)
    monkeypatch.setenv("FASTGRU_HDF5_READER", "auto")
    model = fastgru.load(str(ROOT / "fastgru" / "data" / "demo.keras"))
    assert model.predict(np.zeros((1, 4, 3), np.float32)).shape[0] == 1


def test_threads_read_at_once():
    data = _hdf5_bytes(ROOT / "fastgru" / "data" / "demo.keras")
    ref = _h5py_tree(data)
    with ThreadPoolExecutor(8) as pool:
        for tree in pool.map(lambda _: h5lite.read_tree(data, "demo.keras"), range(24)):
            assert_same_tree(tree, ref)


def test_h5py_mode_and_bad_mode(monkeypatch):
    path = KERAS_FILES[0]
    assert_same_tree(_pending_tree(path, monkeypatch, "h5py"), _h5py_tree(_hdf5_bytes(path)))
    with pytest.raises(fastgru.FastGRUError, match="FASTGRU_HDF5_READER='fast'"):
        _pending_tree(path, monkeypatch, "fast")


def test_cycles_end_in_the_object_limit(tmp_path):
    path = tmp_path / "cycle.h5"
    with h5py.File(path, "w") as f:
        f.create_group("a")
        f["a/up"] = f["a"]        # a hard link to its own group
    with pytest.raises(fastgru.FastGRUError, match="nested deeper than"):
        h5lite.read_tree(path.read_bytes(), "cycle.h5")


@contextlib.contextmanager
def _time_limit(seconds):
    def stop(*_):
        raise TimeoutError(f"over {seconds} s: a hang?")
    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_hard_links_fanning_out_exhaust_the_budget_not_the_machine(tmp_path):
    path = tmp_path / "fan.h5"
    with h5py.File(path, "w") as f:   # 2**40 paths to the last group
        groups = [f.create_group(f"g{i}") for i in range(40)]
        for upper, lower in zip(groups, groups[1:]):
            upper["left"], upper["right"] = lower, lower
    with _time_limit(20), pytest.raises(h5lite.Unsupported, match="more data than the file"):
        h5lite.read_tree(path.read_bytes(), "fan.h5")


# ---- damaged and hostile files -------------------------------------------------------------
def _lite_outcome(data):
    try:
        h5lite.read_tree(data, "damaged.h5")
        return "tree"
    except h5lite.Unsupported:
        return "unsupported"
    except fastgru.FastGRUError as e:     # the object / depth limits, as with h5py
        assert "nested deeper" in str(e)
        return "limit"


def _mutations(data, seed, count):
    rng = random.Random(seed)
    for _ in range(count):
        damaged = bytearray(data)
        for _ in range(rng.choice((1, 1, 2, 4, 16))):
            at = rng.randrange(len(damaged))
            if rng.random() < 0.3:   # a plausible wide value: an offset, a length
                value = rng.choice((0, 1, 0xFF, 0xFFFF, 1 << 31, (1 << 64) - 1, len(data)))
                struct.pack_into("<Q", damaged, min(at, len(damaged) - 8), value)
            else:
                damaged[at] = rng.randrange(256)
        yield bytes(damaged)


DAMAGED_SOURCES = [ROOT / "fastgru" / "data" / "demo.keras",
                   ROOT / "tests" / "fixtures" / "keras2" / "bidi_modes.h5"]


@pytest.mark.parametrize("source", DAMAGED_SOURCES, ids=lambda p: p.name)
def test_truncations_and_mutations_never_escape_or_hang(source):
    data = _hdf5_bytes(source)
    outcomes = {}
    with _time_limit(120):
        cuts = sorted(set(range(0, 2048, 7)) | set(range(0, len(data), max(1, len(data) // 300))))
        for cut in cuts:
            outcome = _lite_outcome(data[:cut])
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        for damaged in _mutations(data, seed=len(data), count=2500):
            outcome = _lite_outcome(damaged)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert outcomes.get("unsupported", 0) > 100 and outcomes.get("tree", 0) > 100, outcomes


def test_damaged_files_load_or_fail_with_fastgru_error(tmp_path):
    source = DAMAGED_SOURCES[1]
    data = source.read_bytes()
    with _time_limit(240):
        for i, damaged in enumerate(_mutations(data, seed=5, count=60)):
            path = tmp_path / f"damaged{i}.h5"
            path.write_bytes(damaged)
            try:
                fastgru.load(str(path))
            except fastgru.FastGRUError:
                pass


@pytest.mark.parametrize("name", ["hdf5_group_segfault.keras", "hdf5_vlen_attr_segfault.h5"])
def test_files_that_crash_libhdf5_still_give_fastgru_error(name):
    with pytest.raises(fastgru.FastGRUError):
        fastgru.load(str(ROOT / "fuzz" / "known" / name))


def test_a_file_that_hangs_libhdf5_is_refused_at_once():
    # fuzz_readers.py --random 300 --seed 21, case 299: a vlen string attribute pointing at a
    # global heap object that does not exist; h5py (HDF5 2.0.0) had not returned after 100 s
    data = (ROOT / "fuzz" / "hangs" / "hdf5_vlen_heap_hang.h5").read_bytes()
    with _time_limit(5), pytest.raises(h5lite.Unsupported, match="heap object"):
        h5lite.read_tree(data, "hang.h5")
