"""Schema of a saved detector's ``card.json``: every field is checked before it is used.

A card comes from a file that may have been written by someone else, so nothing in it is
trusted: :func:`parse_card` refuses a card larger than :data:`CARD_MAX_BYTES` (before
parsing), nesting deeper than :data:`MAX_DEPTH`, and any field of the wrong type, outside
its range or larger than its size limit, with a :class:`CardError` naming the field in one
line. Keys this version does not know are checked only for size and depth (they are never
used); detector parameters that the installed ``DeepfakeDetector`` has but this schema does
not list are checked the same way, then by the estimator's own validation.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from ._calibration import CALIBRATIONS
from ._schema import GROUPS

__all__ = ["CARD_MAX_BYTES", "EXTRACTOR", "MAX_DEPTH", "CardError", "check_json", "parse_card"]

#: Largest ``card.json`` read (bytes); real cards are a few hundred KiB.
CARD_MAX_BYTES = 16 * 1024 * 1024
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


def _fail(where: str, expected: str, value: Any) -> None:
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
        _fail(where, "null", value)


def boolean(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        _fail(where, "true or false", value)


def integer(lo: int, hi: int) -> Check:
    def check(value: Any, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            _fail(where, f"an integer in [{lo}, {hi}]", value)

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
            _fail(where, f"a finite number in {left}{lo:g}, {hi:g}{right}", value)

    return check


FINITE = number(-math.inf, math.inf)


def string(max_len: int = 256, *, min_len: int = 0) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, str) or not min_len <= len(value) <= max_len:
            _fail(where, f"a string of {min_len}..{max_len} characters", value)

    return check


def hex64(value: Any, where: str) -> None:
    if not isinstance(value, str) or not _HEX64.match(value):
        _fail(where, "a sha256 (64 lowercase hex digits)", value)


def one_of(*choices: Any) -> Check:
    def check(value: Any, where: str) -> None:
        if not any(type(value) is type(c) and value == c for c in choices):
            _fail(where, f"one of {list(choices)}", value)

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
        _fail(where, expected, value)

    return check


def list_of(item: Check, *, max_len: int = MAX_ITEMS, min_len: int = 0, unique=False) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, list):
            _fail(where, "a list", value)
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
            _fail(where, "an object", value)
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
            _fail(where, "an object", value)
        for k, v in value.items():
            if keys is not None and k not in keys:
                raise CardError(f"{where} has unknown key {k!r} (expected {list(keys)})")
            value_check(v, f"{where}.{k}")

    return check


# ----------------------------------------------------------------------------- the card
_NAME = string(256, min_len=1)
_NAMES = list_of(_NAME, min_len=1, max_len=200_000, unique=True)
_GROUPS = list_of(one_of(*GROUPS), min_len=1, max_len=len(GROUPS), unique=True)
_NUMBERS = list_of(FINITE, min_len=1, max_len=MAX_ITEMS)

#: DeepfakeDetector parameters (parameters not listed here go through ``anything`` and the
#: estimator's own validation).
DETECTOR_PARAMS: dict[str, tuple[Check, bool]] = {
    "feature_groups": (_GROUPS, False),
    "groups": (_GROUPS, False),  # the old name of feature_groups
    "features": (null, False),
    "n_estimators": (integer(1, 100_000), False),
    "learning_rate": (number(0, 10, open_lo=True), False),
    "max_depth": (integer(0, 64), False),
    "subsample": (number(0, 1, open_lo=True), False),
    "colsample_bytree": (number(0, 1, open_lo=True), False),
    "colsample_bynode": (number(0, 1, open_lo=True), False),
    "max_bin": (integer(2, 1 << 16), False),
    "min_child_weight": (number(0, 1e12), False),
    "reg_lambda": (number(0, 1e12), False),
    "scale_pos_weight": (
        either(one_of("auto"), number(0, 1e12, open_lo=True), expected='"auto" or a number > 0'),
        False,
    ),
    "early_stopping_rounds": (optional(integer(1, 1_000_000)), False),
    "validation_fraction": (number(0, 0.5, open_lo=True, open_hi=True), False),
    "calibration": (optional(one_of(*CALIBRATIONS)), False),
    "cache_dir": (optional(string(4096)), False),
    "linear_probe": (boolean, False),
    "probe_C": (number(0, 1e12, open_lo=True), False),
    "probe_keep_columns": (boolean, False),
    "refit": (boolean, False),
    "threshold": (number(0, 1), False),
    "audit": (boolean, False),
    "n_jobs": (optional(integer(-1024, 1024)), False),
    "random_state": (optional(integer(0, 2**32 - 1)), False),
    "progress": (boolean, False),
    "domain_fpr": (optional(number(0, 0.5, open_lo=True, open_hi=True)), False),
}


def _probe(value: Any, where: str) -> None:
    obj(
        {
            "columns": (_NAMES, True),
            "impute": (_NUMBERS, True),
            "mean": (_NUMBERS, True),
            "scale": (_NUMBERS, True),
            "coef": (_NUMBERS, True),
            "intercept": (FINITE, True),
        },
        extra=None,
    )(value, where)
    n = len(value["columns"])
    for key in ("impute", "mean", "scale", "coef"):
        if len(value[key]) != n:
            raise CardError(f"{where}.{key} has {len(value[key])} values for {n} columns")
    if any(s == 0 for s in value["scale"]):
        raise CardError(f"{where}.scale must not contain 0")


def _calibration(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        _fail(where, "an object", value)
    kind = value.get("kind")
    if kind in ("isotonic", "smooth"):
        obj({"kind": (anything, True), "x": (_NUMBERS, True), "y": (_NUMBERS, True)}, extra=None)(
            value, where
        )
        x, y = value["x"], value["y"]
        if len(x) != len(y):
            raise CardError(f"{where}: {kind} x and y differ in length")
        if any(b < a for a, b in itertools.pairwise(x)):
            raise CardError(f"{where}.x must be non-decreasing")
        if any(not 0.0 <= v <= 1.0 for v in y):
            raise CardError(f"{where}.y must be probabilities in [0, 1]")
    elif kind == "sigmoid":
        obj({"kind": (anything, True), "a": (FINITE, True), "b": (FINITE, True)}, extra=None)(
            value, where
        )
    else:
        _fail(f"{where}.kind", " or ".join(f'"{c}"' for c in CALIBRATIONS), kind)


def _domain(value: Any, where: str) -> None:
    matrix = list_of(_NUMBERS, max_len=1024)
    positive = number(0, math.inf, open_lo=True)
    obj(
        {
            "method": (one_of("pca_t2_spe"), True),
            "n_components": (integer(1, 1024), True),
            "clip": (positive, True),
            "columns": (_NAMES, True),
            "center": (_NUMBERS, True),
            "scale": (list_of(positive, min_len=1), True),
            "missing": (list_of(number(0, 1), min_len=1), True),
            "mean": (_NUMBERS, True),
            "components": (either(matrix, list_of(anything, max_len=0), expected="a matrix"), True),
            "variances": (list_of(positive), True),
            "t2_norm": (positive, True),
            "spe_norm": (positive, True),
            "threshold": (positive, True),
            "fpr": (number(0, 1), False),
        },
        extra=None,
    )(value, where)
    d = len(value["columns"])
    for key in ("center", "scale", "missing", "mean"):
        if len(value[key]) != d:
            raise CardError(f"{where}.{key} has {len(value[key])} values for {d} columns")
    if len(value["components"]) != len(value["variances"]) or any(
        len(row) != d for row in value["components"]
    ):
        raise CardError(f"{where}.components do not match variances and columns")


_SOURCE_ROW = dict_of(
    either(string(1024), optional(FINITE), boolean, expected="a string, number or boolean")
)

#: Resource settings of the feature transformers: bounded, so that a card cannot ask for a
#: billion threads or a batch that holds every image at once (other settings are checked by
#: the transformer's own validation).
TRANSFORMER_PARAMS: dict[str, tuple[Check, bool]] = {
    "n_threads": (optional(integer(1, 1024)), False),
    "batch_size": (integer(1, 10_000), False),
    "max_side": (optional(integer(1, 1 << 16)), False),
    "model": (optional(string(4096, min_len=1)), False),
}

_TRANSFORMER = obj(
    {
        "class": (
            one_of("CNNEmbedder", "FFTSpectrum", "ForensicResiduals", "MetadataFeatures"),
            True,
        ),
        "params": (obj(TRANSFORMER_PARAMS), False),
        "state": (anything, False),
    },
    extra=None,
)

EXTRACTOR = obj(
    {
        "groups": (_GROUPS, False),
        "params": (
            obj(
                {
                    "batch_size": (integer(1, 10_000), False),
                    "max_pixels": (optional(integer(1, 10**12)), False),
                    "canonical_size": (optional(integer(16, 1 << 16)), False),
                },
            ),
            False,
        ),
        "transformers": (dict_of(_TRANSFORMER, keys=GROUPS), True),
        "backbone_sha256": (optional(hex64), False),
    },
)

CARD_FIELDS: dict[str, tuple[Check, bool]] = {
    "format": (string(64), True),
    "format_version": (integer(0, 1_000_000), True),
    "created": (optional(string(64)), False),
    "model_file": (one_of("model.ubj"), False),
    "model_sha256": (hex64, True),
    "feature_names": (_NAMES, True),
    "model_columns": (_NAMES, False),
    "linear_probe": (optional(_probe), False),
    "groups": (_GROUPS, False),
    "params": (obj(DETECTOR_PARAMS), False),
    "threshold": (number(0, 1), False),
    "calibration": (optional(_calibration), False),
    "scale_pos_weight": (number(0, 1e12, open_lo=True), False),
    "best_iteration": (integer(0, 10_000_000), False),
    "extractor": (optional(EXTRACTOR), False),
    "backbone_sha256": (optional(hex64), False),
    "training": (optional(dict_of(anything)), False),
    "sidecar_columns": (list_of(string(256)), False),
    "leakage_warnings": (list_of(string(100_000), max_len=1_000_000), False),
    "domain": (optional(_domain), False),
    "source_audit": (optional(list_of(_SOURCE_ROW, max_len=10_000)), False),
    "source_warnings": (list_of(string(100_000), max_len=10_000), False),
    "versions": (optional(dict_of(string(256))), False),
}


def parse_card(data: bytes, *, format_name: str, version: int) -> dict[str, Any]:
    """Parse and validate the bytes of a ``card.json``.

    Parameters
    ----------
    data : bytes
        The file's content (at most :data:`CARD_MAX_BYTES`; the caller checks the size
        before reading).
    format_name, version : str, int
        The expected ``format`` and ``format_version``.

    Returns
    -------
    dict
        The card, every known field checked.

    Raises
    ------
    CardError
        One line naming the first offending field.
    """
    if len(data) > CARD_MAX_BYTES:
        raise CardError(f"larger than {CARD_MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8")
        card = json.loads(text)
    except UnicodeDecodeError as exc:
        raise CardError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise CardError(f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
    except RecursionError:
        raise CardError("nested too deeply to parse") from None
    if not isinstance(card, dict) or card.get("format") != format_name:
        raise CardError("not a deepfeat detector card")
    if card.get("format_version") != version:
        raise CardError(f"unsupported card version {repr(card.get('format_version'))[:40]}")
    check_json(card, "card")
    obj(CARD_FIELDS)(card, "card")
    names = set(card["feature_names"])
    probe = card.get("linear_probe")
    if probe is not None and not set(probe["columns"]) <= names:
        raise CardError("card.linear_probe.columns are not all in feature_names")
    columns = card.get("model_columns", card["feature_names"])
    allowed = names | ({"cnn_probe"} if probe is not None else set())
    if not set(columns) <= allowed or (probe is not None and columns[-1] != "cnn_probe"):
        raise CardError("card.model_columns do not match feature_names and linear_probe")
    return card
