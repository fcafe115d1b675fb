"""Shared conventions of the house, at the bottom of the import graph.

Every module may import from here; this module imports nothing from ``deepfeat``.
It holds the feature groups, the failure-record columns, the provenance columns that
must never become features, the label vocabulary, the feature-name rule, and the checks of
untrusted JSON (:class:`CardError` and the combinators that model cards and extractor JSON
are checked with: size, depth, type and range of every field before it is used).

Examples
--------
>>> from deepfeat._schema import DEFAULT_GROUPS, GROUPS, feature_group, is_feature_name
>>> GROUPS
('cnn', 'fft', 'forensic', 'meta')
>>> DEFAULT_GROUPS
('cnn', 'fft', 'meta')
>>> feature_group("cnn_s4_mean_012")
'cnn'
>>> is_feature_name("fft_000"), is_feature_name("Bad__name")
(True, False)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CLASS_FOLDER_NAMES",
    "DEFAULT_GROUPS",
    "EXTRACTOR_KEY",
    "FAILURE_COLUMNS",
    "FEATURE_NAME",
    "GROUPS",
    "GROUP_LIST",
    "LABEL_NAMES",
    "LEAK_COLUMNS",
    "MAX_DEPTH",
    "CardError",
    "ModelFileError",
    "check_groups",
    "check_json",
    "encode_labels",
    "feature_group",
    "is_feature_column",
    "is_feature_name",
    "json_safe",
]

#: The feature groups, in the fixed column order of the output.
GROUPS: tuple[str, ...] = ("cnn", "fft", "forensic", "meta")

#: The groups computed and trained on unless asked otherwise (``forensic`` is opt-in: it did
#: not improve the leave-one-source-out numbers, ``docs/benchmarks_forensic.md``).
DEFAULT_GROUPS: tuple[str, ...] = ("cnn", "fft", "meta")

#: Columns of a failure record: one row per input that produced no features.
FAILURE_COLUMNS: list[str] = ["path", "stage", "reason"]

#: Parquet schema-metadata key under which a feature table records its extractor.
EXTRACTOR_KEY = b"deepfeat_extractor"

#: A feature column name: lowercase, group prefix first (no double underscore, checked apart).
FEATURE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

#: Columns that describe provenance and leak the label or the identity; never features.
LEAK_COLUMNS = frozenset(
    {
        "original",
        "label",
        "group",
        "path",
        "pair_group",
        "videoname",
        "generator_or_method",
        "generator",
        "source_repo",
        "source_path",
        "split",
    }
)

#: Case-insensitive class folder names. 0 = real, 1 = fake.
CLASS_FOLDER_NAMES: dict[str, int] = {
    **dict.fromkeys(
        [
            "real",
            "reals",
            "genuine",
            "authentic",
            "original",
            "originals",
            "pristine",
            "bonafide",
            "bona_fide",
            "live",
            "human",
            "0",
        ],
        0,
    ),
    **dict.fromkeys(
        [
            "fake",
            "fakes",
            "ai",
            "ai_generated",
            "generated",
            "synthetic",
            "manipulated",
            "deepfake",
            "deepfakes",
            "gan",
            "diffusion",
            "spoof",
            "swapped",
            "forged",
            "1",
        ],
        1,
    ),
}

#: Label -> display name (0 = real, 1 = fake everywhere).
LABEL_NAMES: dict[int, str] = {0: "real", 1: "fake"}


class ModelFileError(ValueError):
    """A saved model is malformed, tampered with, or does not match this installation."""


def feature_group(name: str) -> str:
    """The group of a feature column (``"cnn_0007"`` → ``"cnn"``)."""
    return name.split("_", 1)[0]


def check_groups(value: Any, name: str = "groups") -> tuple[str, ...]:
    """Feature groups as a tuple in the given order; ``ValueError`` unless a non-empty
    subset of :data:`GROUPS` (a single name is accepted for one group).

    >>> check_groups("fft"), check_groups(["meta", "cnn"])
    (('fft',), ('meta', 'cnn'))
    """
    groups = (value,) if isinstance(value, str) else tuple(value)
    if not groups or any(g not in GROUPS for g in groups):
        raise ValueError(f"{name} must be a non-empty subset of {GROUPS}, got {value!r}")
    return groups


def is_feature_name(name: str) -> bool:
    """Whether ``name`` follows the feature-name rule (lowercase, ``[a-z0-9_]``, no ``__``)."""
    return bool(FEATURE_NAME.match(name)) and "__" not in name


def is_feature_column(name: Any) -> bool:
    """Whether a table column is a feature of one of the :data:`GROUPS`."""
    return isinstance(name, str) and is_feature_name(name) and feature_group(name) in GROUPS


def encode_labels(y: Any) -> np.ndarray:
    """Labels as int 0 (real) / 1 (fake).

    Accepted: the numbers 0 and 1 (int, float or bool), the strings ``"0"`` and ``"1"``, and
    the names ``"real"`` and ``"fake"`` in any case (``"REAL"``, ``"Fake"``). Anything else
    raises ``ValueError``: a label is never guessed from its sort order.

    Examples
    --------
    >>> encode_labels(["REAL", "fake", " Fake "]).tolist()
    [0, 1, 1]
    >>> encode_labels([0, 1.0, True]).tolist()
    [0, 1, 1]
    """
    arr = np.asarray(y)
    if arr.dtype.kind in "biuf":
        values = arr.astype(float)
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            raise ValueError(
                f"labels must be 0 (real) and 1 (fake), or 'real'/'fake'; got "
                f"{sorted(set(arr[bad].tolist()))[:5]}"
            )
        return values.astype(int)
    names = {**{v: k for k, v in LABEL_NAMES.items()}, "0": 0, "1": 1}
    out = np.empty(arr.shape, dtype=int)
    unknown = set()
    for i, value in enumerate(arr.ravel()):
        key = str(value).strip().lower() if isinstance(value, (str, int, np.integer)) else None
        if isinstance(value, (bool, np.bool_)):
            key = str(int(value))
        if key not in names:
            unknown.add(repr(value))
            continue
        out.flat[i] = names[key]
    if unknown:
        raise ValueError(
            f"labels must be 0 (real) and 1 (fake), or 'real'/'fake' (any case); got "
            f"{sorted(unknown)[:5]}"
        )
    return out


def json_safe(value: Any, *, lenient: bool = False) -> Any:
    """``value`` as JSON data: numpy scalars to numbers, tuples to lists, paths to str.

    The one conversion of settings to JSON (model cards, feature-table metadata, cache
    keys). Strict by default: anything else raises ``TypeError``, so a setting is never
    silently replaced. ``lenient=True`` (for cache keys) expands estimators into their
    class and parameters, sorts dict keys and writes anything else as its ``repr``.

    >>> json_safe({"a": (np.float32(0.5), Path("x"))})
    {'a': [0.5, 'x']}
    >>> json_safe({"b": 1, "a": object}, lenient=True)
    {'a': "<class 'object'>", 'b': 1}
    """
    if lenient and hasattr(value, "get_params"):
        params = json_safe(value.get_params(deep=False), lenient=True)
        return {"class": type(value).__name__, **params}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [json_safe(v, lenient=lenient) for v in value]
    if isinstance(value, dict):
        items = sorted(value.items()) if lenient else value.items()
        return {str(k): json_safe(v, lenient=lenient) for k, v in items}
    if lenient:
        return repr(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


# ----------------------------------------------------------------------------- checked JSON
# Model cards and extractor JSON come from files someone else may have written: every field
# is checked by these combinators (size, depth, type, range) before it is used.
#: Deepest nesting accepted anywhere in a card (real cards nest 5 levels).
MAX_DEPTH = 12
#: Longest string accepted anywhere in a card.
MAX_STRING = 1 << 20
#: Most items of one list / keys of one object.
MAX_ITEMS = 1_000_000
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

Check = Callable[[Any, str], None]


class CardError(ValueError):
    """A card field is missing, of the wrong type, out of range or too large."""


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def reject(where: str, expected: str, value: Any) -> None:
    """Raise the one-line :class:`CardError` of a value that fails a check."""
    shown = repr(value) if isinstance(value, (bool, int, float)) or value is None else ""
    shown = shown or (repr(value[:40]) if isinstance(value, str) else _type_name(value))
    raise CardError(f"{where} must be {expected}, got {shown}")


def check_json(value: Any, where: str, max_depth: int = MAX_DEPTH) -> None:
    """Size and depth limits of an arbitrary JSON value (iterative: no recursion)."""
    stack = [(value, where, 0)]
    while stack:
        item, at, depth = stack.pop()
        if depth > max_depth:
            raise CardError(f"{at}: nested deeper than {max_depth} levels")
        if isinstance(item, str):
            if len(item) > MAX_STRING:
                raise CardError(f"{at}: string longer than {MAX_STRING} characters")
        elif isinstance(item, dict):
            if len(item) > MAX_ITEMS:
                raise CardError(f"{at}: more than {MAX_ITEMS} keys")
            stack.extend((v, f"{at}.{k}", depth + 1) for k, v in item.items())
        elif isinstance(item, list):
            if len(item) > MAX_ITEMS:
                raise CardError(f"{at}: more than {MAX_ITEMS} items")
            stack.extend((v, f"{at}[{i}]", depth + 1) for i, v in enumerate(item))
        elif item is not None and not isinstance(item, (bool, int, float)):
            raise CardError(f"{at}: not a JSON value ({_type_name(item)})")


# ----------------------------------------------------------------------------- checks
def anything(value: Any, where: str) -> None:
    check_json(value, where)


def null(value: Any, where: str) -> None:
    if value is not None:
        reject(where, "null", value)


def boolean(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        reject(where, "true or false", value)


def integer(lo: int, hi: int) -> Check:
    def check(value: Any, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            reject(where, f"an integer in [{lo}, {hi}]", value)

    return check


def number(lo: float, hi: float, *, open_lo: bool = False, open_hi: bool = False) -> Check:
    left, right = "(" if open_lo else "[", ")" if open_hi else "]"

    def check(value: Any, where: str) -> None:
        ok = (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and (lo < value if open_lo else lo <= value)
            and (value < hi if open_hi else value <= hi)
        )
        if not ok:
            reject(where, f"a finite number in {left}{lo:g}, {hi:g}{right}", value)

    return check


FINITE = number(-math.inf, math.inf)


def string(max_len: int = 256, *, min_len: int = 0) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, str) or not min_len <= len(value) <= max_len:
            reject(where, f"a string of {min_len}..{max_len} characters", value)

    return check


def hex64(value: Any, where: str) -> None:
    if not isinstance(value, str) or not _HEX64.match(value):
        reject(where, "a sha256 (64 lowercase hex digits)", value)


def one_of(*choices: Any) -> Check:
    def check(value: Any, where: str) -> None:
        if not any(type(value) is type(c) and value == c for c in choices):
            reject(where, f"one of {list(choices)}", value)

    return check


def optional(inner: Check) -> Check:
    def check(value: Any, where: str) -> None:
        if value is not None:
            inner(value, where)

    return check


def either(*checks: Check, expected: str) -> Check:
    def check(value: Any, where: str) -> None:
        for c in checks:
            try:
                c(value, where)
                return
            except CardError:
                continue
        reject(where, expected, value)

    return check


def list_of(item: Check, *, max_len: int = MAX_ITEMS, min_len: int = 0, unique=False) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, list):
            reject(where, "a list", value)
        if not min_len <= len(value) <= max_len:
            raise CardError(f"{where} must have {min_len}..{max_len} items, has {len(value)}")
        for i, v in enumerate(value):
            item(v, f"{where}[{i}]")
        if unique and len(set(value)) != len(value):
            raise CardError(f"{where} has duplicated items")

    return check


def obj(fields: dict[str, tuple[Check, bool]], *, extra: Check | None = anything) -> Check:
    """A JSON object with known fields ``{name: (check, required)}``; others go to ``extra``
    (``None``: refused)."""

    def check(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            reject(where, "an object", value)
        for name, (inner, required) in fields.items():
            if name in value:
                inner(value[name], f"{where}.{name}")
            elif required:
                raise CardError(f"{where}.{name} is missing")
        for name in value.keys() - fields.keys():
            if extra is None:
                raise CardError(f"{where} has unknown field {name!r}")
            extra(value[name], f"{where}.{name}")

    return check


def dict_of(value_check: Check, *, keys: Sequence[str] | None = None) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            reject(where, "an object", value)
        for k, v in value.items():
            if keys is not None and k not in keys:
                raise CardError(f"{where} has unknown key {k!r} (expected {list(keys)})")
            value_check(v, f"{where}.{k}")

    return check


#: The ``groups`` of a card or an extractor: known groups, no repeats.
GROUP_LIST = list_of(one_of(*GROUPS), min_len=1, max_len=len(GROUPS), unique=True)
