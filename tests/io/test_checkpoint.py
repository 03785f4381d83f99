"""Native checkpoints: bit-exact round trips, structure via ``like``, atomic writes, validation."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import struct
from typing import NamedTuple

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fborn
import fborn.numpy as fnp
from fborn.errors import FbornDtypeError, FbornShapeError, FileFormatError, PyTreeError
from fborn.io import checkpoint
from fborn.io.checkpoint import load, read_header, save

DTYPES = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
          np.uint64, np.float16, ml_dtypes.bfloat16, np.float32, np.float64]


@fborn.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Linear:
    weight: object
    bias: object
    name: str = dataclasses.field(default="lin", metadata={"static": True})


class AdamState(NamedTuple):
    count: object
    mu: object
    nu: object


def random_array(rng: np.random.Generator, dtype: object, shape: tuple[int, ...]) -> np.ndarray:
    """Arbitrary bit patterns (NaNs, infs, subnormals included) of ``dtype``."""
    dt = np.dtype(dtype)
    raw = rng.integers(0, 256, size=int(np.prod(shape)) * dt.itemsize, dtype=np.uint8)
    if dt == np.bool_:
        raw = raw & 1
    return raw.view(dt).reshape(shape)


def bits(x: object) -> bytes:
    arr = np.asarray(x)
    return arr.dtype.str.encode() + str(arr.shape).encode() + arr.tobytes()


shapes = st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple)


@given(st.lists(st.tuples(st.sampled_from(DTYPES), shapes), min_size=1, max_size=6),
       st.integers(0, 2**32 - 1))
def test_numpy_round_trip_is_bit_exact(tmp_path, specs, seed):
    rng = np.random.default_rng(seed)
    tree = {f"t{i}": random_array(rng, dt, shape) for i, (dt, shape) in enumerate(specs)}
    save(tmp_path / "a.fbc", tree)
    for kwargs in ({}, {"mmap": False}):
        out = load(tmp_path / "a.fbc", **kwargs)
        assert out.keys() == tree.keys()
        for k, x in tree.items():
            assert type(out[k]) is np.ndarray and not out[k].flags.writeable
            assert bits(out[k]) == bits(x)


def test_data_is_64_byte_aligned_and_file_layout(tmp_path):
    tree = {"a": np.arange(3, dtype=np.int8), "b": np.ones((2, 3), np.float32)}
    save(tmp_path / "a.fbc", tree, metadata={"epoch": 3})
    raw = (tmp_path / "a.fbc").read_bytes()
    magic, version, flags, header_len, data_len, sha = struct.unpack("<8sIIQQ32s", raw[:64])
    assert (magic, version, flags) == (b"\x89FBC\r\n\x1a\n", 1, 0)
    assert (64 + header_len) % 64 == 0 and len(raw) == 64 + header_len + data_len
    assert sha == hashlib.sha256(raw[64:]).digest()
    index = json.loads(raw[64:64 + header_len])
    assert index == {"metadata": {"epoch": 3}, "tensors": [
        {"name": "a", "path": [["key", "a"]], "kind": "numpy", "dtype": "I8", "shape": [3],
         "offset": 0, "nbytes": 3},
        {"name": "b", "path": [["key", "b"]], "kind": "numpy", "dtype": "F32", "shape": [2, 3],
         "offset": 64, "nbytes": 24}]}
    out = load(tmp_path / "a.fbc")
    for x in out.values():
        assert x.ctypes.data % 64 == 0
    header = read_header(tmp_path / "a.fbc")
    assert header.metadata == {"epoch": 3} and header.version == 1
    assert [(t.name, t.dtype, t.shape, t.offset) for t in header.tensors] == [
        ("a", np.dtype(np.int8), (3,), 0), ("b", np.dtype(np.float32), (2, 3), 64)]


def model_and_state() -> dict:
    key = fborn.random.key(0)
    lin = Linear(fborn.random.normal(key, (4, 3)), fnp.arange(3, dtype=fnp.float32))
    mu = Linear(fnp.zeros((4, 3)), fnp.zeros(3))
    opt = (None, AdamState(fnp.asarray(5, dtype=fnp.int32), mu, mu))
    return {"model": [lin, {"scale": fnp.ones((), fnp.bfloat16)}], "opt_state": opt,
            "step": 12, "lr": 1e-3, "done": False, "table": np.arange(6, dtype=np.uint16)}


def test_like_restores_modules_namedtuples_and_scalars(tmp_path):
    tree = model_and_state()
    save(tmp_path / "c.fbc", tree)
    like = fborn.tree_util.tree_map(
        lambda x: fnp.zeros_like(x) if isinstance(x, fborn.Array) else x, tree)
    out = load(tmp_path / "c.fbc", like=like)
    assert fborn.tree_util.tree_structure(out) == fborn.tree_util.tree_structure(tree)
    for a, b in zip(fborn.tree_util.tree_leaves(out), fborn.tree_util.tree_leaves(tree),
                    strict=True):
        assert type(a) is type(b) and bits(a) == bits(b)
    assert out["step"] == 12 and out["lr"] == 1e-3 and out["done"] is False
    assert isinstance(out["model"][0], Linear) and isinstance(out["opt_state"][1], AdamState)


def test_like_with_shape_dtype_structs(tmp_path):
    tree = {"w": fnp.ones((2, 3), fnp.float16)}
    save(tmp_path / "c.fbc", tree)
    out = load(tmp_path / "c.fbc", like={"w": fborn.ShapeDtypeStruct((2, 3), np.float16)})
    assert isinstance(out["w"], fborn.Array) and out["w"].dtype == np.float16
    assert bits(out["w"]) == bits(tree["w"])


def test_load_without_like_rebuilds_nested_dicts_and_lists(tmp_path):
    save(tmp_path / "c.fbc", model_and_state())
    out = load(tmp_path / "c.fbc")
    assert sorted(out) == ["done", "lr", "model", "opt_state", "step", "table"]
    assert out["step"] == 12 and type(out["step"]) is int
    assert out["lr"] == 1e-3 and out["done"] is False
    assert type(out["table"]) is np.ndarray
    lin = out["model"][0]
    assert sorted(lin) == ["bias", "weight"] and isinstance(lin["weight"], fborn.Array)
    assert out["model"][1]["scale"].dtype == ml_dtypes.bfloat16
    assert out["opt_state"][0] is None
    assert sorted(out["opt_state"][1]) == ["count", "mu", "nu"]
    assert int(out["opt_state"][1]["count"]) == 5


def test_loaded_fborn_arrays_are_memory_mapped_and_immutable(tmp_path):
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    save(tmp_path / "m.fbc", {"w": fnp.asarray(w)})
    out = load(tmp_path / "m.fbc")["w"]
    view = np.asarray(out)
    assert not view.flags.writeable and not view.flags.owndata
    np.testing.assert_array_equal(np.asarray(fnp.sum(out, axis=0)), w.sum(0))


def test_int64_under_x64_and_narrowing_without(tmp_path, x64):
    save(tmp_path / "i.fbc", {"i": fnp.asarray(np.array([2**40, -3], np.int64))})
    assert load(tmp_path / "i.fbc")["i"].dtype == np.int64
    fborn.config.update("enable_x64", False)
    assert load(tmp_path / "i.fbc")["i"].dtype == np.int32
    with pytest.raises(FbornDtypeError, match="int64"):
        load(tmp_path / "i.fbc", like={"i": fnp.zeros(2, fnp.int32)})


def test_like_mismatches(tmp_path):
    save(tmp_path / "c.fbc", {"w": np.zeros((2, 3), np.float32), "step": 3})
    with pytest.raises(FbornShapeError, match=r"'w' has shape \(2, 3\).*\(3, 2\)"):
        load(tmp_path / "c.fbc", like={"w": np.zeros((3, 2), np.float32), "step": 0})
    with pytest.raises(FbornDtypeError, match="'w' has dtype float32.*float16"):
        load(tmp_path / "c.fbc", like={"w": np.zeros((2, 3), np.float16), "step": 0})
    with pytest.raises(PyTreeError, match="missing 'b'.*unexpected 'step'"):
        load(tmp_path / "c.fbc", like={"w": np.zeros((2, 3), np.float32), "b": 0})
    with pytest.raises(FbornDtypeError, match="Python bool"):
        load(tmp_path / "c.fbc", like={"w": np.zeros((2, 3), np.float32), "step": True})
    with pytest.raises(TypeError, match="is a str"):
        load(tmp_path / "c.fbc", like={"w": np.zeros((2, 3), np.float32), "step": "x"})


def test_save_rejects_bad_trees(tmp_path):
    p = tmp_path / "x.fbc"
    with pytest.raises(ValueError, match="bare array"):
        save(p, np.zeros(3))
    with pytest.raises(ValueError, match="both named 'a.b'"):
        save(p, {"a.b": np.zeros(1), "a": {"b": np.zeros(1)}})
    with pytest.raises(ValueError, match="path character '/'"):
        save(p, {"a/b": np.zeros(1)})
    with pytest.raises(ValueError, match="control character"):
        save(p, {"a\nb": np.zeros(1)})
    with pytest.raises(TypeError, match="leaf 'a' is a str"):
        save(p, {"a": "text"})
    with pytest.raises(FbornDtypeError, match="complex128"):
        save(p, {"a": np.zeros(2, np.complex128)})
    with pytest.raises(ValueError, match="does not fit in int64"):
        save(p, {"a": 2**70})
    with pytest.raises(TypeError, match="dict keys must be str or int"):
        save(p, {(1, 2): np.zeros(1)})
    with pytest.raises(ValueError, match="metadata cannot be stored"):
        save(p, {"a": np.zeros(1)}, metadata={"x": float("nan")})
    with pytest.raises(TypeError, match="metadata must be a dict"):
        save(p, {"a": np.zeros(1)}, metadata=[1])
    assert list(tmp_path.iterdir()) == []


def test_corrupt_data_fails_the_sha256_unless_verify_is_off(tmp_path):
    p = tmp_path / "c.fbc"
    save(p, {"w": np.arange(16, dtype=np.float32)})
    raw = bytearray(p.read_bytes())
    raw[-1] ^= 0x40
    p.write_bytes(bytes(raw))
    with pytest.raises(FileFormatError, match="SHA-256 mismatch.*at byte 64"):
        load(p)
    assert load(p, verify=False)["w"][-1] != 15


def test_validation_messages(tmp_path):
    p = tmp_path / "c.fbc"
    save(p, {"w": np.arange(16, dtype=np.float32)})
    good = p.read_bytes()

    def expect(raw: bytes, pattern: str, **kwargs) -> None:
        p.write_bytes(raw)
        with pytest.raises(FileFormatError, match=pattern):
            load(p, **kwargs)

    expect(good[:40], "fewer than the 64-byte header.*at byte 0")
    expect(b"PK\x03\x04" + good[4:], "not an fborn checkpoint.*at byte 0")
    expect(good[:8] + struct.pack("<I", 2) + good[12:], "version 2 is not supported.*byte 8")
    expect(good[:-1], "truncated or has trailing bytes.*at byte 24")
    expect(good + b"\0", "truncated or has trailing bytes")
    expect(good, "over the limit of 64", max_header_bytes=64)
    expect(good, "1 tensors, over the limit of 0", max_tensors=0)
    expect(good[:16] + struct.pack("<Q", 2**62) + good[24:], "over the limit")


def rewrite_index(path: os.PathLike, edit) -> None:
    """Replace the JSON index of the checkpoint at ``path`` by ``edit(index)`` with a fresh hash,
    so the validators (not the SHA-256) must catch the problem."""
    raw = open(path, "rb").read()
    header_len = struct.unpack("<Q", raw[16:24])[0]
    index = json.loads(raw[64:64 + header_len])
    data = raw[64 + header_len:]
    text = json.dumps(edit(index)).encode()
    text += b" " * (-(64 + len(text)) % 64)
    body = text + data
    fixed = struct.pack("<8sIIQQ32s", raw[:8], 1, 0, len(text), len(data),
                        hashlib.sha256(body).digest())
    open(path, "wb").write(fixed + body)


def set_entry(**changes):
    def edit(index):
        index["tensors"][0].update(changes)
        return index
    return edit


@pytest.mark.parametrize(("edit", "pattern"), [
    (set_entry(name="../w", path=[["key", "../w"]]), "path character"),
    (set_entry(name="w\x00", path=[["key", "w\x00"]]), "control character"),
    (set_entry(name="v"), "does not match its key path"),
    (set_entry(dtype="C64"), "dtype 'C64' is not one of"),
    (set_entry(dtype="F64"), "nbytes 64 does not match float64"),
    (set_entry(shape=[2**40, 2**40]), "nbytes 64 does not match"),
    (set_entry(shape=[-16]), "non-integer or negative"),
    (set_entry(shape=[16.0]), "non-integer or negative"),
    (set_entry(offset=32), "multiple of 64"),
    (set_entry(offset=64), "past the end of the data"),
    (set_entry(nbytes=True), "nbytes True does not match"),
    (set_entry(kind="pickle"), "unknown kind"),
    (set_entry(kind="int"), "must be a 0-d int tensor"),
    (set_entry(path=[["idx", -1]]), "bad key path entry"),
    (set_entry(path=[]), "'path' is not a list"),
    (set_entry(extra=1), r"unknown key\(s\) \['extra'\]"),
    (lambda index: {**index, "tensors": index["tensors"] * 2}, "same name"),
    (lambda index: {**index, "tensors": index["tensors"] + [
        {**index["tensors"][0], "name": "v", "path": [["key", "v"]]}]}, "'v' and 'w' overlap"),
    (lambda index: {**index, "more": 1}, "unknown key"),
    (lambda index: {**index, "metadata": [1]}, "metadata is not a JSON object"),
    (lambda index: [index], "is a list, expected a JSON object"),
])
def test_index_validation(tmp_path, edit, pattern):
    p = tmp_path / "c.fbc"
    save(p, {"w": np.arange(16, dtype=np.float32)})
    rewrite_index(p, edit)
    with pytest.raises(FileFormatError, match=pattern):
        load(p)


def test_duplicate_json_keys_and_nan_are_refused(tmp_path):
    p = tmp_path / "c.fbc"
    save(p, {"w": np.arange(4, dtype=np.float32)})
    raw = p.read_bytes()
    header_len = struct.unpack("<Q", raw[16:24])[0]
    text = raw[64:64 + header_len]
    for bad, pattern in ((text.replace(b'"metadata":null', b'"metadata":null,"metadata":1'),
                          "repeats the key 'metadata'"),
                         (text.replace(b'"metadata":null', b'"metadata":NaN'), "NaN")):
        bad = bad.rstrip() + b" " * (-(64 + len(bad.rstrip())) % 64)
        body = bad + raw[64 + header_len:]
        fixed = struct.pack("<8sIIQQ32s", raw[:8], 1, 0, len(bad), len(raw) - 64 - header_len,
                            hashlib.sha256(body).digest())
        p.write_bytes(fixed + body)
        with pytest.raises(FileFormatError, match=pattern):
            load(p)


def test_failed_save_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    p = tmp_path / "c.fbc"
    save(p, {"w": np.zeros(3, np.float32)})
    before = p.read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "_write", crash)
    with pytest.raises(OSError, match="disk full"):
        save(p, {"w": np.ones(3, np.float32)})
    assert p.read_bytes() == before and os.listdir(tmp_path) == ["c.fbc"]


def test_replacing_a_mapped_file_keeps_loaded_arrays_valid(tmp_path):
    p = tmp_path / "c.fbc"
    save(p, {"w": np.full(4, 1.0, np.float32)})
    first = load(p)["w"]
    save(p, {"w": np.full(4, 2.0, np.float32)})
    np.testing.assert_array_equal(first, np.full(4, 1.0, np.float32))
    np.testing.assert_array_equal(load(p)["w"], np.full(4, 2.0, np.float32))


def test_loaded_checkpoint_runs_under_the_numba_compiler(tmp_path, monkeypatch):
    monkeypatch.setenv("FBORN_CACHE_DIR", str(tmp_path / "kernels"))
    fborn.config.update("jit_compiler", "numba")
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    save(tmp_path / "c.fbc", {"w": fnp.asarray(w), "b": fnp.ones(3)})
    params = load(tmp_path / "c.fbc", like={"w": fnp.zeros((2, 3)), "b": fnp.zeros(3)})
    out = fborn.jit(lambda p, x: x @ p["w"] + p["b"])(params, np.ones((1, 2), np.float32))
    np.testing.assert_array_equal(np.asarray(out), np.ones((1, 2), np.float32) @ w + 1)
