"""Strict check of an XGBoost UBJSON model before XGBoost's own parser sees it.

XGBoost's C++ loader trusts its input: an empty buffer aborts the interpreter and a few
changed bytes in a valid model segfault it (``scripts``-free probe: 3 of the first 10
mutations of a saved model). :func:`check_model` parses the UBJSON itself (bounded: every
length is checked against the bytes left, nesting is limited) and checks what the trees
need to be walked safely: array lengths, child indices that point forward inside the tree,
parents, split feature indices below the model's feature count, and the tree bookkeeping
(``num_trees``, ``tree_info``, ``iteration_indptr``). Anything else raises
:class:`UBJError` with a one-line reason.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

__all__ = ["UBJError", "check_model", "parse"]

MAX_DEPTH = 32
_SCALARS = {
    b"i": (">i1", 1),
    b"U": (">u1", 1),
    b"I": (">i2", 2),
    b"l": (">i4", 4),
    b"L": (">i8", 8),
    b"d": (">f4", 4),
    b"D": (">f8", 8),
}
ROOT_PARENT = 2147483647


class UBJError(ValueError):
    """The bytes are not a well-formed, self-consistent XGBoost UBJSON model."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise UBJError(f"truncated at byte {self.pos} (needs {n} more)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def marker(self) -> bytes:
        m = self.take(1)
        while m == b"N":  # no-op
            m = self.take(1)
        return m

    def number(self, m: bytes) -> int | float:
        dtype, size = _SCALARS[m]
        return np.frombuffer(self.take(size), dtype=dtype)[0].item()

    def length(self) -> int:
        m = self.marker()
        if m not in (b"i", b"U", b"I", b"l", b"L"):
            raise UBJError(f"bad length marker {m!r} at byte {self.pos - 1}")
        n = int(self.number(m))
        if n < 0 or n > len(self.data) - self.pos:
            raise UBJError(f"length {n} at byte {self.pos} exceeds the data")
        return n

    def string(self) -> str:
        raw = self.take(self.length())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UBJError(f"invalid UTF-8 string before byte {self.pos}") from None

    def value(self, m: bytes, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise UBJError(f"nested deeper than {MAX_DEPTH}")
        if m in _SCALARS:
            return self.number(m)
        if m == b"S" or m == b"H":
            return self.string()
        if m == b"C":
            return self.take(1).decode("latin-1")
        if m == b"T":
            return True
        if m == b"F":
            return False
        if m == b"Z":
            return None
        if m == b"[":
            return self.array(depth)
        if m == b"{":
            return self.obj(depth)
        raise UBJError(f"unknown marker {m!r} at byte {self.pos - 1}")

    def _container_header(self) -> tuple[bytes | None, int | None]:
        kind = count = None
        if self.data[self.pos : self.pos + 1] == b"$":
            self.pos += 1
            kind = self.take(1)
            if self.data[self.pos : self.pos + 1] != b"#":
                raise UBJError(f"typed container without a count at byte {self.pos}")
        if self.data[self.pos : self.pos + 1] == b"#":
            self.pos += 1
            count = self.length()
        return kind, count

    def array(self, depth: int) -> Any:
        kind, count = self._container_header()
        if kind is not None and kind in _SCALARS:
            dtype, size = _SCALARS[kind]
            if count * size > len(self.data) - self.pos:  # type: ignore[operator]
                raise UBJError(f"typed array of {count} items exceeds the data")
            buf = self.take(count * size)  # type: ignore[operator]
            return np.frombuffer(buf, dtype=dtype)
        out = []
        if count is not None:
            for _ in range(count):
                out.append(self.value(kind or self.marker(), depth + 1))
            return out
        while True:
            m = self.marker()
            if m == b"]":
                return out
            out.append(self.value(m, depth + 1))

    def obj(self, depth: int) -> dict[str, Any]:
        kind, count = self._container_header()
        out: dict[str, Any] = {}
        n = 0
        while count is None or n < count:
            if count is None:
                if self.data[self.pos : self.pos + 1] == b"}":
                    self.pos += 1
                    return out
                if self.data[self.pos : self.pos + 1] == b"N":
                    self.pos += 1
                    continue
            key = self.string()
            out[key] = self.value(kind or self.marker(), depth + 1)
            n += 1
        return out


def parse(data: bytes) -> Any:
    """Decode UBJSON bytes (typed arrays become numpy arrays); raise :class:`UBJError`."""
    if not data:
        raise UBJError("empty")
    reader = _Reader(bytes(data))
    try:
        value = reader.value(reader.marker(), 0)
    except (struct.error, IndexError, ValueError) as exc:
        if isinstance(exc, UBJError):
            raise
        raise UBJError(f"malformed at byte {reader.pos}: {exc}") from None
    if reader.pos != len(reader.data):
        raise UBJError(f"{len(reader.data) - reader.pos} trailing bytes")
    return value


def _get(node: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            raise UBJError(f"no {'.'.join(keys)}")
        node = node[key]
    return node


def _int(value: Any, what: str) -> int:
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise UBJError(f"{what} is not an integer: {value!r}") from None
    return out


def _ints(value: Any, n: int, what: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1 or len(arr) != n or arr.dtype.kind not in "iu":
        raise UBJError(f"{what} must be {n} integers")
    return arr.astype(np.int64)


def check_model(data: bytes) -> int:
    """Check a UBJSON XGBoost ``gbtree`` model; return its number of features.

    Raises
    ------
    UBJError
        One line saying what is wrong.
    """
    model = parse(data)
    if not isinstance(model, dict) or "learner" not in model:
        raise UBJError("not an XGBoost model (no learner)")
    version = model.get("version")
    if not isinstance(version, (np.ndarray, list)) or len(version) != 3:
        raise UBJError("no XGBoost version triple")
    lmp = _get(model, "learner", "learner_model_param")
    n_features = _int(_get(lmp, "num_feature"), "num_feature")
    if not 1 <= n_features <= 10_000_000:
        raise UBJError(f"num_feature {n_features} out of range")
    if _int(lmp.get("num_class", 0), "num_class") != 0:
        raise UBJError("not a binary model (num_class != 0)")
    if _int(lmp.get("num_target", 1), "num_target") != 1:
        raise UBJError("not a single-target model")
    booster = _get(model, "learner", "gradient_booster")
    if _get(booster, "name") != "gbtree":
        raise UBJError(f"unsupported booster {booster.get('name')!r} (gbtree only)")
    gbm = _get(booster, "model")
    trees = _get(gbm, "trees")
    n_trees = _int(_get(gbm, "gbtree_model_param", "num_trees"), "num_trees")
    if not isinstance(trees, list) or len(trees) != n_trees:
        raise UBJError("num_trees does not match the trees")
    _ints(_get(gbm, "tree_info"), n_trees, "tree_info")
    indptr = np.asarray(gbm.get("iteration_indptr", [0, n_trees]))
    if (
        indptr.ndim != 1
        or indptr.dtype.kind not in "iu"
        or len(indptr) < 1
        or indptr[0] != 0
        or indptr[-1] != n_trees
        or np.any(np.diff(indptr.astype(np.int64)) < 0)
    ):
        raise UBJError("iteration_indptr does not match the trees")
    for t, tree in enumerate(trees):
        _check_tree(tree, n_features, f"tree {t}")
    return n_features


def _check_tree(tree: Any, n_features: int, what: str) -> None:
    param = _get(tree, "tree_param")
    n = _int(_get(param, "num_nodes"), f"{what} num_nodes")
    if not 1 <= n <= 1 << 24:
        raise UBJError(f"{what}: num_nodes {n} out of range")
    if _int(param.get("size_leaf_vector", 1), "size_leaf_vector") > 1:
        raise UBJError(f"{what}: vector leaves are not supported")
    left = _ints(_get(tree, "left_children"), n, f"{what} left_children")
    right = _ints(_get(tree, "right_children"), n, f"{what} right_children")
    parents = _ints(_get(tree, "parents"), n, f"{what} parents")
    split = _ints(_get(tree, "split_indices"), n, f"{what} split_indices")
    _ints(_get(tree, "default_left"), n, f"{what} default_left")
    for key in ("split_conditions", "base_weights", "loss_changes", "sum_hessian"):
        arr = np.asarray(_get(tree, key))
        if arr.ndim != 1 or len(arr) != n or arr.dtype.kind != "f":
            raise UBJError(f"{what}: {key} must be {n} numbers")
    split_type = np.asarray(tree.get("split_type", np.zeros(n, np.uint8)))
    if len(split_type) != n or np.any(split_type != 0) or len(tree.get("categories", [])):
        raise UBJError(f"{what}: categorical splits are not supported")
    idx = np.arange(n)
    leaf = left == -1
    if np.any(leaf != (right == -1)):
        raise UBJError(f"{what}: a node has one child")
    inner = ~leaf
    if np.any(left[inner] <= idx[inner]) or np.any(right[inner] <= idx[inner]):
        raise UBJError(f"{what}: child indices must point forward")
    if np.any(left[inner] >= n) or np.any(right[inner] >= n):
        raise UBJError(f"{what}: child index out of range")
    if np.any((split[inner] < 0) | (split[inner] >= n_features)):
        raise UBJError(f"{what}: split feature index out of range")
    if parents[0] != ROOT_PARENT:
        raise UBJError(f"{what}: root has a parent")
    expected = np.full(n, -1, dtype=np.int64)
    expected[0] = ROOT_PARENT
    expected[left[inner]] = idx[inner]
    expected[right[inner]] = idx[inner]
    if np.any(parents != expected):
        raise UBJError(f"{what}: parents do not match the children")
