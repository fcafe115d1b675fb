"""Dataset layouts (DFDC faces, folder per class, manifest CSV) and the synthetic demo set."""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._schema import CLASS_FOLDER_NAMES, LEAK_COLUMNS

logger = logging.getLogger(__name__)

__all__ = [
    "IMAGE_EXTENSIONS",
    "LEAK_COLUMNS",
    "duplicate_paths",
    "list_images",
    "load_dataset",
    "resolve_input",
]

#: File endings treated as images when a folder is scanned.
IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".png",
    ".webp",
    ".tif",
    ".tiff",
    ".bmp",
    ".gif",
    ".heic",
    ".heif",
)


_LABEL_WORDS = {**CLASS_FOLDER_NAMES, "false": 0, "true": 1}

LAYOUTS = ("auto", "dfdc", "folders", "manifest")


def _label_value(value: object, where: str, mapping: Mapping[str, int] | None = None) -> int:
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return int(value)
    if isinstance(value, (float, np.floating)) and value in (0.0, 1.0):
        return int(value)
    key = str(value).strip().lower()
    if mapping is not None and key in {str(k).lower() for k in mapping}:
        return int({str(k).lower(): v for k, v in mapping.items()}[key])
    if key in _LABEL_WORDS:
        return _LABEL_WORDS[key]
    raise ValueError(f"{where}: unknown label {value!r}; use 0/1, real/fake or pass class_map=")


def list_images(folder: str | os.PathLike) -> list[str]:
    """Sorted paths of every image file below ``folder`` (recursive).

    Paths start with ``folder`` as given (relative stays relative) and symbolic links are
    not resolved: outputs name a file the way the user does. Entries with an image ending
    that are not regular files (a FIFO, a device, a directory named ``x.jpg``, a dangling
    or looping symbolic link) are listed too, so that extraction refuses each one with a
    reason in the error table instead of dropping it silently. Symbolic links to
    directories are not followed (they can loop); they are logged.
    """
    root = Path(folder)
    paths, links = [], []
    for p in root.rglob("*"):
        if p.suffix.lower() not in IMAGE_EXTENSIONS:
            if p.is_symlink() and p.is_dir():
                links.append(str(p))
            continue
        paths.append(str(p))
    if links:
        logger.warning(
            "%s: %d symbolic links to folders were not followed (first: %s)",
            folder,
            len(links),
            ", ".join(sorted(links)[:3]),
        )
    return sorted(paths)


def duplicate_paths(paths: Any) -> dict[str, str]:
    """Inputs that are the same file as an earlier input (a symlink and its target, or the
    same file listed twice), mapped to that earlier input.

    Examples
    --------
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp(); a = os.path.join(d, "a.jpg"); b = os.path.join(d, "b.jpg")
    >>> open(a, "wb").close(); os.symlink(a, b)
    >>> duplicate_paths([a, b]) == {b: a}
    True
    """
    first: dict[str, str] = {}
    dups: dict[str, str] = {}
    for p in paths:
        if not isinstance(p, (str, os.PathLike)):
            continue
        key = os.path.realpath(p)
        if key in first:
            dups[str(p)] = first[key]
        else:
            first[key] = str(p)
    return dups


def report_duplicates(paths: Any, source: Any = "input") -> dict[str, str]:
    """:func:`duplicate_paths`, with a logged warning when there are any."""
    dups = duplicate_paths(paths)
    if dups:
        a, b = next(iter(dups.items()))
        logger.warning(
            "%s: %d input(s) are the same file as another input (symlink or repeat), e.g. "
            "%s = %s; each is scored as given",
            source,
            len(dups),
            a,
            b,
        )
    return dups


def _detect_layout(root: Path) -> str:
    if root.is_file() and root.suffix.lower() == ".csv":
        return "manifest"
    if (root / "metadata.csv").is_file() and any(
        d.is_dir() and d.name.startswith("faces") for d in root.iterdir()
    ):
        return "dfdc"
    if (root / "manifest.csv").is_file():
        return "manifest"
    subdirs = [d.name.lower() for d in root.iterdir() if d.is_dir()]
    if any(name in CLASS_FOLDER_NAMES for name in subdirs):
        return "folders"
    raise ValueError(
        f"cannot detect the dataset layout of {str(root)!r}: expected metadata.csv + faces_*/ "
        "(DFDC), manifest.csv, or class folders such as real/ and fake/"
    )


def _finish(df: pd.DataFrame, source: Path, layout: str) -> pd.DataFrame:
    df = df.reset_index(drop=True)
    if "label" in df.columns:  # a DFDC layout of unlabelled videos has none (prediction)
        df["label"] = df["label"].astype(np.int64)
    df["group"] = df["group"].astype(str)
    df.attrs["layout"] = layout
    df.attrs["source"] = str(source)
    df.attrs["duplicates"] = report_duplicates(df["path"], source)
    counts = df["label"].value_counts().to_dict() if "label" in df.columns else {}
    logger.info(
        "loaded %s dataset %s: %d images (%d real, %d fake), %d groups",
        layout,
        source,
        len(df),
        counts.get(0, 0),
        counts.get(1, 0),
        df["group"].nunique(),
    )
    return df


def _report_missing(missing: list[str], source: Path) -> None:
    if missing:
        logger.warning(
            "%s: %d rows have no image file and were left out (first: %s)",
            source,
            len(missing),
            ", ".join(missing[:5]),
        )


def _load_dfdc(root: Path) -> pd.DataFrame:
    meta = pd.read_csv(root / "metadata.csv", dtype={"videoname": str, "original": str})
    needed = {"videoname", "label"}
    if not needed <= set(meta.columns):
        raise ValueError(f"{root / 'metadata.csv'}: needs columns {sorted(needed)}")
    faces = sorted(d for d in root.iterdir() if d.is_dir() and d.name.startswith("faces"))
    labelled = meta["label"].notna().any()  # a layout cut from unlabelled videos has none
    per_frame = "frame" in meta.columns  # `deepfeat faces`: one crop per sampled frame
    rows, missing, unlabelled = [], [], []
    for rec in meta.to_dict("records"):
        stem = Path(str(rec["videoname"])).stem
        if per_frame:
            stem = f"{stem}_{int(rec['frame'])}"
        path = None
        for folder in faces:
            for ext in (".jpg", ".jpeg", ".png"):
                candidate = folder / f"{stem}{ext}"
                if candidate.is_file():
                    path = candidate
                    break
            if path is not None:
                break
        if path is None:
            missing.append(str(rec["videoname"]))
            continue
        if labelled and pd.isna(rec["label"]):
            unlabelled.append(str(path))
            continue
        label = (
            _label_value(rec["label"], f"{root / 'metadata.csv'} row {rec['videoname']}")
            if labelled
            else None
        )
        original = rec.get("original")
        has_original = isinstance(original, str) and original.strip() != ""
        group = original if (label == 1 and has_original) else rec["videoname"]
        row = {"path": os.path.abspath(path), "label": label, "group": str(group)}
        for col in ("original_width", "original_height", "frame", "face_score"):
            if col in rec:
                row[col] = rec[col]
        rows.append(row)
    _report_missing(missing, root / "metadata.csv")
    if unlabelled:
        logger.warning(
            "%s: %d rows have no label and were left out (first: %s)",
            root / "metadata.csv",
            len(unlabelled),
            ", ".join(unlabelled[:3]),
        )
    columns = ["path", "label", "group", "original_width", "original_height"]
    columns += ["frame", "face_score"] if per_frame else []
    df = pd.DataFrame(rows, columns=columns)
    if not labelled:
        df = df.drop(columns="label")
    df.attrs["missing"] = missing
    df.attrs["unlabelled"] = unlabelled
    return _finish(df, root, "dfdc")


def _load_folders(root: Path, class_map: Mapping[str, int] | None) -> pd.DataFrame:
    mapping = {k.lower(): v for k, v in CLASS_FOLDER_NAMES.items()}
    if class_map:
        mapping.update({str(k).lower(): int(v) for k, v in class_map.items()})
    rows, skipped = [], []
    for sub in sorted(d for d in root.iterdir() if d.is_dir()):
        label = mapping.get(sub.name.lower())
        if label is None:
            skipped.append(sub.name)
            continue
        for path in list_images(sub):
            rel = Path(path).relative_to(sub)
            group = f"{sub.name}/{rel.as_posix()}"
            rows.append({"path": os.path.abspath(path), "label": label, "group": group})
    if skipped:
        logger.warning("%s: ignored folders with no known class: %s", root, ", ".join(skipped))
    if not rows:
        raise ValueError(f"{root}: no images found in class folders")
    return _finish(pd.DataFrame(rows), root, "folders")


def _load_manifest(csv: Path, class_map: Mapping[str, int] | None) -> pd.DataFrame:
    table = pd.read_csv(csv)
    if not {"path", "label"} <= set(table.columns):
        raise ValueError(f"{csv}: a manifest needs the columns 'path' and 'label'")
    base = csv.parent
    paths, keep, missing = [], [], []
    for i, p in enumerate(table["path"].astype(str)):
        full = Path(p) if Path(p).is_absolute() else base / p
        if full.is_file():
            paths.append(os.path.abspath(full))
            keep.append(i)
        else:
            missing.append(p)
    _report_missing(missing, csv)
    table = table.iloc[keep].copy()
    table["path"] = paths
    table["label"] = [
        _label_value(v, f"{csv} row {i}", class_map) for i, v in zip(keep, table["label"])
    ]
    if "group" not in table.columns:
        table["group"] = table["pair_group"] if "pair_group" in table.columns else table["path"]
    table["group"] = table["group"].fillna(table["path"]).astype(str)
    first = ["path", "label", "group"]
    df = table[first + [c for c in table.columns if c not in first]]
    df.attrs["missing"] = missing
    return _finish(df, csv.parent, "manifest")


def load_dataset(
    source: str | os.PathLike,
    *,
    layout: str = "auto",
    class_map: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Load a labelled image dataset as a table of paths, labels, groups and sidecar columns.

    Three layouts are understood (``layout="auto"`` detects them in this order):

    ``"dfdc"``
        A folder with ``metadata.csv`` (``videoname,original_width,original_height,label,
        original``) and ``faces_224/`` holding ``<videoname stem>.jpg``. ``group`` is
        ``original`` for fakes and ``videoname`` for reals, so a fake and its source video
        always fall in the same split. ``original`` leaks the label (it is empty for every
        real row) and is **not** returned as a column; ``original_width`` and
        ``original_height`` are kept as legitimate sidecar columns. The layout that
        ``deepfeat faces`` cuts out of videos adds ``frame`` (crops named
        ``<videoname stem>_<frame>.jpg``, every frame of a video in its group) and
        ``face_score``; when no row has a label (videos without a DFDC ``metadata.json``),
        the table has no ``label`` column and serves prediction only, and rows without a
        label beside labelled ones are left out (logged, ``df.attrs["unlabelled"]``).
    ``"manifest"``
        A CSV (or a folder with ``manifest.csv``) with columns ``path,label[,group,...]``,
        paths relative to the CSV's folder, labels 0/1 or words (real/fake/ai …). Without a
        ``group`` column, ``pair_group`` is used if present, else every image is its own group.
        Extra columns are kept as sidecar metadata.
    ``"folders"``
        ``ROOT/<class>/...`` with class names recognised case-insensitively (``real``,
        ``fake``, ``ai``, ``generated``, ``synthetic``, ``manipulated`` …); ``class_map``
        adds or overrides names. Each image is its own group.

    Rows whose image file is missing are logged (count and first names) and listed in
    ``df.attrs["missing"]``.

    Parameters
    ----------
    source : str or path-like
        Dataset folder or manifest CSV.
    layout : {"auto", "dfdc", "folders", "manifest"}, default="auto"
    class_map : mapping of str to int, optional
        Extra class names (folders) or label words (manifest), mapped to 0 (real) or 1 (fake).

    Returns
    -------
    pandas.DataFrame
        Columns ``path`` (absolute, symbolic links not resolved), ``label`` (0 real, 1 fake),
        ``group`` (str), then sidecar columns. ``df.attrs["layout"]`` names the layout,
        ``df.attrs["duplicates"]`` maps rows that are the same file as an earlier row (a
        symlink and its target) to it (logged as a warning; see :func:`duplicate_paths`).

    Examples
    --------
    >>> import tempfile
    >>> from deepfeat import make_demo_dataset
    >>> root = make_demo_dataset(tempfile.mkdtemp(), n_images=10)
    >>> df = load_dataset(root)
    >>> list(df.columns[:3]), sorted(df["label"].unique().tolist())
    (['path', 'label', 'group'], [0, 1])
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    root = Path(source).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"dataset not found: {root}")
    if layout == "auto":
        layout = _detect_layout(root)
    if layout == "dfdc":
        return _load_dfdc(root)
    if layout == "folders":
        return _load_folders(root, class_map)
    csv = root if root.is_file() else root / "manifest.csv"
    return _load_manifest(csv, class_map)


# ----------------------------------------------------------------------------- demo data


def sanitize_name(name: str) -> str:
    """Lower-case ``name`` and keep ``[a-z0-9_]``, collapsing repeated underscores."""
    out = re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")
    return re.sub(r"_+", "_", out) or "x"


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def resolve_input(spec: str) -> pd.DataFrame:
    """An input spec (as the command line takes it) as a table with a ``path`` column.

    A dataset folder or manifest CSV (anything :func:`deepfeat.load_dataset` understands)
    gives ``path, label, group`` and sidecar columns; a plain folder, a glob pattern, a
    ``.txt`` list of paths or a single image gives unlabelled ``path`` rows. Paths keep the
    form the user gave (relative stays relative, symbolic links are not resolved);
    ``df.attrs["duplicates"]`` maps inputs that are the same file as an earlier one.
    """
    data = _resolve_input(spec)
    data.attrs["duplicates"] = duplicate_paths(data["path"])
    return data


def _resolve_input(spec: str) -> pd.DataFrame:
    if _is_glob(spec):
        paths = sorted(p for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        if not paths:
            raise FileNotFoundError(f"no files match {spec!r}")
        return pd.DataFrame({"path": paths})
    path = Path(spec).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"input not found: {spec}")
    if not (path.is_dir() or path.is_file()):  # a FIFO or device: never read as a list
        return pd.DataFrame({"path": [str(path.absolute())]})  # refused with a reason
    if path.is_file() and path.suffix.lower() == ".txt":
        lines = [ln.strip() for ln in path.read_text().splitlines()]
        paths = [
            str(path.parent / ln) if not Path(ln).is_absolute() else ln
            for ln in lines
            if ln and not ln.startswith("#")
        ]
        return pd.DataFrame({"path": paths})
    if path.is_file() and path.suffix.lower() != ".csv":
        return pd.DataFrame({"path": [str(path)]})
    try:
        return load_dataset(path)
    except ValueError as exc:
        if path.is_dir() and "cannot detect" in str(exc):
            paths = list_images(path)
            if not paths:
                kinds = ", ".join(IMAGE_EXTENSIONS[:4])
                raise FileNotFoundError(f"{spec}: no images ({kinds} …)") from exc
            return pd.DataFrame({"path": paths})
        raise
