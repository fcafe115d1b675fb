"""Dataset layouts (DFDC faces, folder per class, manifest CSV) and the synthetic demo set."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._schema import CLASS_NAMES, LEAK_COLUMNS

logger = logging.getLogger(__name__)

__all__ = [
    "IMAGE_EXTENSIONS",
    "LEAK_COLUMNS",
    "duplicate_paths",
    "list_images",
    "load_dataset",
    "make_demo_dataset",
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


_LABEL_WORDS = {**CLASS_NAMES, "false": 0, "true": 1}

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
    if any(name in CLASS_NAMES for name in subdirs):
        return "folders"
    raise ValueError(
        f"cannot detect the dataset layout of {str(root)!r}: expected metadata.csv + faces_*/ "
        "(DFDC), manifest.csv, or class folders such as real/ and fake/"
    )


def _finish(df: pd.DataFrame, source: Path, layout: str) -> pd.DataFrame:
    df = df.reset_index(drop=True)
    df["label"] = df["label"].astype(np.int64)
    df["group"] = df["group"].astype(str)
    df.attrs["layout"] = layout
    df.attrs["source"] = str(source)
    df.attrs["duplicates"] = report_duplicates(df["path"], source)
    counts = df["label"].value_counts().to_dict()
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
    rows, missing = [], []
    for rec in meta.to_dict("records"):
        stem = Path(str(rec["videoname"])).stem
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
        label = _label_value(rec["label"], f"{root / 'metadata.csv'} row {rec['videoname']}")
        original = rec.get("original")
        has_original = isinstance(original, str) and original.strip() != ""
        group = original if (label == 1 and has_original) else rec["videoname"]
        row = {"path": os.path.abspath(path), "label": label, "group": str(group)}
        for col in ("original_width", "original_height"):
            if col in rec:
                row[col] = rec[col]
        rows.append(row)
    _report_missing(missing, root / "metadata.csv")
    df = pd.DataFrame(rows, columns=["path", "label", "group", "original_width", "original_height"])
    df.attrs["missing"] = missing
    return _finish(df, root, "dfdc")


def _load_folders(root: Path, class_map: Mapping[str, int] | None) -> pd.DataFrame:
    mapping = {k.lower(): v for k, v in CLASS_NAMES.items()}
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
        ``original_height`` are kept as legitimate sidecar columns.
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


def _pink_noise(rng: np.random.Generator, size: int, alpha: float) -> np.ndarray:
    """A size×size×3 field with a 1/f^alpha power spectrum, scaled to 0..255."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    radius[0, 0] = 1.0 / size
    amplitude = radius ** (-alpha / 2.0)
    out = np.empty((size, size, 3), dtype=np.float64)
    base = rng.standard_normal((size, size // 2 + 1)) + 1j * rng.standard_normal(
        (size, size // 2 + 1)
    )
    for c in range(3):
        jitter = rng.standard_normal((size, size // 2 + 1)) + 1j * rng.standard_normal(
            (size, size // 2 + 1)
        )
        spec = (base + 0.35 * jitter) * amplitude
        field = np.fft.irfft2(spec, s=(size, size))
        field = (field - field.mean()) / (field.std() + 1e-12)
        out[:, :, c] = field
    return out


def _camera_image(rng: np.random.Generator, size: int) -> np.ndarray:
    """A photo-like image: 1/f content, a soft face-like ellipse, sensor noise."""
    field = _pink_noise(rng, size, alpha=rng.uniform(1.8, 2.4))
    tint = rng.uniform(90, 170, size=3)
    img = tint + 38.0 * field
    yy, xx = np.mgrid[0:size, 0:size] / size
    cy, cx = rng.uniform(0.4, 0.6, size=2)
    ry, rx = rng.uniform(0.25, 0.35), rng.uniform(0.18, 0.26)
    face = np.exp(-((((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) ** 2))
    skin = np.array([205.0, 160.0, 135.0]) + rng.uniform(-25, 25, size=3)
    img = img * (1 - 0.7 * face[:, :, None]) + skin * 0.7 * face[:, :, None]
    img += rng.normal(0.0, rng.uniform(2.0, 4.0), size=img.shape)  # shot/read noise
    return np.clip(img, 0, 255).astype(np.uint8)


def _generator_image(rng: np.random.Generator, real: np.ndarray) -> tuple[np.ndarray, str]:
    """Simulate an up-sampling generator: down-sample, then nearest or transposed-conv up."""
    import cv2

    size = real.shape[0]
    factor = int(rng.choice([2, 4]))
    small = cv2.resize(real, (size // factor, size // factor), interpolation=cv2.INTER_AREA)
    method = str(rng.choice(["nearest", "transposed_conv"]))
    if method == "nearest":
        up = np.repeat(np.repeat(small, factor, axis=0), factor, axis=1).astype(np.float64)
    else:
        # zero insertion followed by a fixed small kernel (a transposed convolution with a
        # kernel that is not a perfect interpolator leaves a checkerboard at the stride)
        up = np.zeros((size, size, 3), dtype=np.float64)
        up[::factor, ::factor] = small
        k1 = np.array([0.5, 1.0, 1.0, 0.5])[: factor + 1] if factor == 2 else np.ones(factor)
        kernel = np.outer(k1, k1)
        kernel = kernel / kernel.sum() * factor * factor
        up = cv2.filter2D(up, -1, kernel, borderType=cv2.BORDER_REFLECT)
    up = cv2.GaussianBlur(up, (3, 3), 0.6)
    up += rng.normal(0.0, 0.8, size=up.shape)
    return np.clip(up, 0, 255).astype(np.uint8), f"{method}_x{factor}"


def _camera_exif(rng: np.random.Generator, index: int):
    from PIL import Image

    exif = Image.Exif()
    make, model = [
        ("Canon", "Canon EOS 80D"),
        ("NIKON CORPORATION", "NIKON D750"),
        ("Apple", "iPhone 12"),
        ("SONY", "ILCE-7M3"),
    ][int(rng.integers(4))]
    exif[0x010F] = make  # Make
    exif[0x0110] = model  # Model
    stamp = f"2021:0{1 + index % 9}:{10 + index % 18:02d} 1{index % 10}:2{index % 10}:00"
    exif[0x0132] = stamp  # DateTime
    exif[0x0131] = "Firmware Version 1.0.2"  # Software
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = stamp  # DateTimeOriginal
    sub[0x829A] = (1, int(rng.choice([60, 125, 250, 500])))  # ExposureTime
    sub[0x829D] = (int(rng.choice([18, 28, 40, 56])), 10)  # FNumber
    sub[0x8827] = int(rng.choice([100, 200, 400, 800]))  # ISO
    sub[0x920A] = (int(rng.choice([24, 35, 50, 85])), 1)  # FocalLength
    return exif


def make_demo_dataset(
    root: str | os.PathLike,
    n_images: int = 200,
    *,
    fake_fraction: float = 0.8,
    image_size: int = 128,
    random_state: int | None = 0,
) -> Path:
    """Write a small labelled, synthetic real-vs-fake image set (no third-party images).

    *Real* images behave like camera photos: a 1/f^α power spectrum, a soft face-like blob,
    sensor-like noise, JPEG with camera-like EXIF (Make, Model, exposure …). *Fake* images
    are made from a real one by a simulated up-sampling generator (down-sampling by 2 or 4,
    then nearest-neighbour or transposed-convolution-style up-sampling and light smoothing,
    blended back with the source at a random strength), which leaves the high-frequency
    traces described by Durall et al. (2020). To keep every cue imperfect, a quarter of the
    real photos have no EXIF, one fake in ten carries camera-like EXIF, and both classes use
    JPEG qualities 75–95. Each fake keeps its source image's ``group``, like a DFDC face swap
    and its source video.

    This set demonstrates the pipeline end to end; it is **not** a benchmark, and numbers
    measured on it say nothing about real deepfakes.

    Parameters
    ----------
    root : str or path-like
        Output folder (created). ``real/``, ``fake/`` and ``manifest.csv`` are written.
    n_images : int, default=200
        Total number of images (at least 4).
    fake_fraction : float, default=0.8
        Share of fakes, about 80 % like DFDC.
    image_size : int, default=128
        Side of the square images (a multiple of 4).
    random_state : int or None, default=0
        Seed; the same seed writes byte-identical files.

    Returns
    -------
    pathlib.Path
        ``root``; read it with :func:`load_dataset`.

    Examples
    --------
    >>> import tempfile
    >>> root = make_demo_dataset(tempfile.mkdtemp(), n_images=10, random_state=0)
    >>> sorted(p.name for p in root.iterdir())
    ['fake', 'manifest.csv', 'real']
    """
    from PIL import Image

    if n_images < 4:
        raise ValueError("n_images must be at least 4")
    if not 0.0 < fake_fraction < 1.0:
        raise ValueError("fake_fraction must be strictly between 0 and 1")
    if image_size < 16 or image_size % 4:
        raise ValueError("image_size must be a multiple of 4, at least 16")
    root = Path(root)
    (root / "real").mkdir(parents=True, exist_ok=True)
    (root / "fake").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(random_state)
    n_fake = min(n_images - 2, max(2, round(n_images * fake_fraction)))
    n_real = n_images - n_fake
    rows = []
    reals = []
    for i in range(n_real):
        img = _camera_image(rng, image_size)
        reals.append(img)
        rel = f"real/real_{i:04d}.jpg"
        # a quarter of the real photos lost their EXIF on the way (messengers, social media)
        exif = _camera_exif(rng, i) if i % 4 != 3 else None
        Image.fromarray(img).save(
            root / rel,
            format="JPEG",
            quality=int(rng.integers(75, 96)),
            **({"exif": exif} if exif is not None else {}),
        )
        rows.append({"path": rel, "label": "real", "group": f"src{i:04d}", "generator": ""})
    for j in range(n_fake):
        src = j % n_real
        base = reals[src]
        # a face-swap-like variant of the source: same scene, re-rendered through the generator
        # and blended back, so the traces are present but not always strong
        shift = rng.integers(-image_size // 16, image_size // 16 + 1, size=2)
        moved = np.roll(base, tuple(int(s) for s in shift), axis=(0, 1))
        fake, method = _generator_image(rng, moved)
        alpha = rng.uniform(0.55, 1.0)
        fake = np.clip(alpha * fake + (1 - alpha) * moved, 0, 255).astype(np.uint8)
        rel = f"fake/fake_{j:04d}.jpg"
        # one fake in ten carries camera-like EXIF copied from a real photo
        extra = {"exif": _camera_exif(rng, j)} if j % 10 == 9 else {}
        Image.fromarray(fake).save(
            root / rel, format="JPEG", quality=int(rng.integers(75, 96)), **extra
        )
        rows.append({"path": rel, "label": "fake", "group": f"src{src:04d}", "generator": method})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root


def sanitize_name(name: str) -> str:
    """Lower-case ``name`` and keep ``[a-z0-9_]``, collapsing repeated underscores."""
    out = re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")
    return re.sub(r"_+", "_", out) or "x"
