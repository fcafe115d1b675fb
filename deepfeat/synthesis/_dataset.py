"""Pseudo-fake and degraded copies of a dataset, written as files into a cache folder.

The image functions (:func:`self_blend`, :func:`upsample_trace`, :func:`degrade`) work on
arrays; training extracts features from files (metadata reads the container), so the
synthesized images are encoded *the way their source was*: a JPEG with the source's own
quantization tables, chroma subsampling, EXIF and ICC profile, a PNG as PNG. A pseudo-fake
then differs from its real in its pixels only, not in its container, and the detector
cannot learn "re-encoded" or "no EXIF" as "fake".

Files go to ``out_dir/<settings digest>/`` (never next to the user's data), named by the
source's content hash, the kind and the seed, so the same settings and seed give the same
bytes and a rerun reuses them (and the feature cache, keyed by content, reuses their rows).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._io import ImageLoadError, load_image
from ..features._cache import file_digest
from ._blend import self_blend
from ._degrade import DEGRADATIONS, degrade
from ._upsample import upsample_trace

logger = logging.getLogger(__name__)

__all__ = [
    "PSEUDO_FAKE_KINDS",
    "augment_spec",
    "degrade_dataset",
    "expand_training_set",
    "make_pseudo_fakes",
    "pseudo_fake_kinds",
    "synthesis_digest",
]

#: Kinds of pseudo-fake: self-blended face swaps and generator up-sampling traces.
PSEUDO_FAKE_KINDS = ("blend", "upsample")
_ORIENTATION = 0x0112
#: Bumped whenever a synthesis algorithm changes, so cached files are never reused stale.
_FORMAT_VERSION = 2


def _kinds(kinds: Any, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    if isinstance(kinds, str):
        kinds = tuple(k.strip() for k in kinds.split(",") if k.strip())
    kinds = tuple(kinds)
    bad = [k for k in kinds if k not in allowed]
    if not kinds or bad or len(set(kinds)) != len(kinds):
        raise ValueError(f"{what} must be a non-empty subset of {allowed}, got {kinds!r}")
    return kinds


def synthesis_digest(**settings: Any) -> str:
    """A short hash of synthesis settings (names the output folder; part of cache keys)."""
    from .._version import __version__

    blob = json.dumps({"v": _FORMAT_VERSION, "deepfeat": __version__, **settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _seed(random_state: int, tag: str, sha: str, copy: int) -> np.random.Generator:
    words = [int(random_state) & 0xFFFFFFFF, copy, *(int(sha[i : i + 8], 16) for i in (0, 8))]
    words.append(int(hashlib.sha256(tag.encode()).hexdigest()[:8], 16))
    return np.random.default_rng(np.random.SeedSequence(words))


def _encode_like(pixels: np.ndarray, source: str) -> tuple[bytes, str]:
    """Encode ``pixels`` in the container and settings of the file ``source``."""
    from PIL import Image, JpegImagePlugin

    out = io.BytesIO()
    img = Image.fromarray(pixels, "RGB")
    with Image.open(source) as src:
        fmt = src.format
        icc = src.info.get("icc_profile")
        exif = src.getexif() if hasattr(src, "getexif") else None
        if exif is not None and _ORIENTATION in exif:
            exif[_ORIENTATION] = 1  # the pixels are already upright
        exif_bytes = exif.tobytes() if exif else b""
        if fmt == "JPEG" and getattr(src, "quantization", None):
            kwargs: dict[str, Any] = {"qtables": src.quantization}
            sampling = JpegImagePlugin.get_sampling(src)
            if sampling >= 0:
                kwargs["subsampling"] = sampling
            if getattr(src, "layers", 3) == 1 or src.mode == "L":
                img = img.convert("L")
            img.save(out, "JPEG", exif=exif_bytes, icc_profile=icc, **kwargs)
            return out.getvalue(), ".jpg"
    img.save(out, "PNG", icc_profile=icc, exif=exif_bytes or None)
    return out.getvalue(), ".png"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _face_locator(faces: str):
    """``(image) -> dict(box=..., landmarks=...)`` for the blend mask, and the mode used."""
    if faces not in ("auto", "detect", "center"):
        raise ValueError(f"faces must be 'auto', 'detect' or 'center', got {faces!r}")
    if faces == "center":
        return None, "center"
    try:
        from ..face._cropper import FaceCropper, mtcnn_model_dir

        mtcnn_model_dir()
    except ImportError:
        if faces == "detect":
            raise
        return None, "center"
    cropper = FaceCropper(min_face_size=20)

    def locate(image: np.ndarray) -> dict[str, Any]:
        found = cropper.detect(image)
        if not found:
            return {}
        face = max(found, key=lambda f: f.area)
        if face.landmarks is not None:
            return {"landmarks": face.landmarks}
        return {"box": (face.x0, face.y0, face.x1, face.y1)}

    return locate, "detect"


def _rows(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        if "path" not in data.columns:
            raise ValueError("a DataFrame input needs a 'path' column")
        df = data.reset_index(drop=True)
    else:
        paths = [data] if isinstance(data, (str, os.PathLike)) else list(data)
        df = pd.DataFrame({"path": [os.fspath(p) for p in paths]})
    if "group" not in df.columns:
        df = df.assign(group=df["path"].astype(str))
    return df


def _synthesise(
    df: pd.DataFrame,
    tags: Sequence[str],
    make: Any,
    out: Path,
    random_state: int,
    progress: bool,
    desc: str,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Run ``make(image, tag, rng)`` for every row and tag; write files; return records."""
    records: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    rows = list(df.itertuples(index=False))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(rows), unit="img", desc=desc)
    out.mkdir(parents=True, exist_ok=True)
    try:
        for row in rows:
            path = os.fspath(row.path)
            try:
                sha = file_digest(path)  # refuses FIFOs and devices before reading
            except OSError as exc:
                failures.append({"path": path, "stage": "synthesis", "reason": str(exc)})
                continue
            image = None
            for copy, tag in enumerate(tags):
                rng = _seed(random_state, tag, sha, copy)
                stem = f"{sha[:24]}_{tag}_{copy}"
                existing = [out / f"{stem}{ext}" for ext in (".jpg", ".png")]
                target = next((p for p in existing if p.is_file()), None)
                if target is None:
                    try:
                        if image is None:
                            image = load_image(path)
                        data, ext = _encode_like(make(image, tag, rng), path)
                    except (ImageLoadError, OSError, ValueError) as exc:
                        reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
                        failures.append({"path": path, "stage": "synthesis", "reason": reason})
                        break
                    target = out / f"{stem}{ext}"
                    _write_atomic(target, data)
                records.append({"row": row, "path": str(target), "tag": tag})
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return records, failures


def make_pseudo_fakes(
    reals: Any,
    out_dir: str | os.PathLike,
    *,
    kinds: Sequence[str] | str = PSEUDO_FAKE_KINDS,
    faces: str = "auto",
    random_state: int = 0,
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Make one pseudo-fake of every kind from every real image, written as files.

    Parameters
    ----------
    reals : paths or dataset DataFrame (``path``, optionally ``group``)
        Real images. Rows labelled fake (``label == 1``) are skipped.
    out_dir : path-like
        Cache folder; files go to ``out_dir/<settings digest>/`` and are reused by a rerun
        with the same settings and seed. Keep it away from your data.
    kinds : sequence of {"blend", "upsample"}, default=("blend", "upsample")
        ``"blend"``: :func:`self_blend` (face-swap traces); ``"upsample"``:
        :func:`upsample_trace` (generator decoder traces).
    faces : {"auto", "detect", "center"}, default="auto"
        Where the blend mask goes: MTCNN landmarks (``"detect"``, needs the ``face``
        extra), the image centre (``"center"``, right for face crops), or detection when
        installed (``"auto"``). The mode used is part of the settings digest.
    random_state : int, default=0
    progress : bool, default=False
        tqdm progress bar.

    Returns
    -------
    pseudo_fakes : pandas.DataFrame
        ``path, label (= 1), group (the real's), origin ("pseudo_blend" …), source_path``,
        plus the real's other columns except ``label``.
    failures : pandas.DataFrame
        ``path, stage, reason`` for reals that could not be used.

    Examples
    --------
    >>> import tempfile
    >>> from deepfeat import load_dataset, make_demo_dataset
    >>> df = load_dataset(make_demo_dataset(tempfile.mkdtemp(), n_images=10))
    >>> fakes, failed = make_pseudo_fakes(df, tempfile.mkdtemp(), faces="center")
    >>> sorted(set(fakes.origin)), bool((fakes.label == 1).all()), len(failed)
    (['pseudo_blend', 'pseudo_upsample'], True, 0)
    """
    kinds = _kinds(kinds, PSEUDO_FAKE_KINDS, "kinds")
    df = _rows(reals)
    if "label" in df.columns:
        df = df[df["label"].to_numpy() == 0].reset_index(drop=True)
    locate, face_mode = _face_locator(faces) if "blend" in kinds else (None, "none")
    digest = synthesis_digest(kinds=list(kinds), faces=face_mode, seed=int(random_state))
    out = Path(out_dir) / f"pseudo-{digest}"

    def make(image: np.ndarray, tag: str, rng: np.random.Generator) -> np.ndarray:
        if tag == "blend":
            where = locate(image) if locate is not None else {}
            return self_blend(image, random_state=rng, **where)
        return upsample_trace(image, random_state=rng)

    records, failures = _synthesise(df, kinds, make, out, int(random_state), progress, "synth")
    rows = []
    for rec in records:
        base = {k: v for k, v in rec["row"]._asdict().items() if k not in ("path", "label")}
        rows.append(
            {
                **base,
                "path": rec["path"],
                "label": 1,
                "origin": f"pseudo_{rec['tag']}",
                "source_path": os.fspath(rec["row"].path),
            }
        )
    cols = ["path", "label", "group", "origin", "source_path"]
    table = pd.DataFrame(rows)
    table = table if len(table) else pd.DataFrame(columns=cols)
    table = table[cols + [c for c in table.columns if c not in cols]]
    logger.info("%d pseudo-fakes (%s) from %d reals in %s", len(table), kinds, len(df), out)
    return table, pd.DataFrame(failures, columns=["path", "stage", "reason"])


def degrade_dataset(
    data: pd.DataFrame,
    out_dir: str | os.PathLike,
    *,
    probability: float = 0.5,
    kinds: Sequence[str] | str = DEGRADATIONS,
    random_state: int = 0,
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replace a random share of the images (either class) by a degraded copy.

    Each row is degraded with ``probability``; a degraded row gets one kind drawn from
    ``kinds`` (:func:`degrade`) and keeps its label, group and other columns; the
    ``degraded`` column names the kind (``""`` for untouched rows). Files are encoded like
    their source (see :func:`make_pseudo_fakes`).

    Parameters
    ----------
    data : dataset DataFrame (``path``, ``label``, optionally ``group``)
    out_dir : path-like
        Cache folder (``out_dir/<settings digest>/``).
    probability : float in [0, 1], default=0.5
    kinds : sequence of {"blur", "jpeg", "downscale"}, default: all three
    random_state : int, default=0
    progress : bool, default=False

    Returns
    -------
    dataset : pandas.DataFrame
        Same rows in the same order, degraded ones pointing at their new file.
    failures : pandas.DataFrame
        Rows that could not be degraded (they stay as they were).

    Examples
    --------
    >>> import tempfile
    >>> from deepfeat import load_dataset, make_demo_dataset
    >>> df = load_dataset(make_demo_dataset(tempfile.mkdtemp(), n_images=8))
    >>> out, _ = degrade_dataset(df, tempfile.mkdtemp(), probability=1.0, kinds="blur")
    >>> sorted(set(out.degraded)), bool((out.path != df.path).all())
    (['blur'], True)
    """
    kinds = _kinds(kinds, DEGRADATIONS, "kinds")
    if not 0.0 <= float(probability) <= 1.0:
        raise ValueError(f"probability must be in [0, 1], got {probability!r}")
    df = _rows(data).copy()
    df["degraded"] = ""
    chooser = np.random.default_rng(np.random.SeedSequence([int(random_state), 0xDE6]))
    pick = chooser.random(len(df)) < float(probability)
    kind_of = chooser.integers(0, len(kinds), size=len(df))
    digest = synthesis_digest(degrade=list(kinds), seed=int(random_state))
    out = Path(out_dir) / f"degrade-{digest}"
    chosen = df[pick].assign(_tag=[kinds[k] for k in kind_of[pick]])
    failures: list[dict[str, str]] = []
    for tag, part in chosen.groupby("_tag", sort=True):
        recs, fails = _synthesise(
            part.drop(columns="_tag"),
            [str(tag)],
            lambda image, tag, rng: degrade(image, kinds=tag, random_state=rng),
            out,
            int(random_state),
            progress,
            f"degrade {tag}",
        )
        index = part.index.to_numpy()
        done = {os.fspath(r["row"].path): r["path"] for r in recs}
        for i in index:
            src = os.fspath(df.at[i, "path"])
            if src in done:
                df.at[i, "path"] = done[src]
                df.at[i, "degraded"] = str(tag)
        failures.extend(fails)
    return df, pd.DataFrame(failures, columns=["path", "stage", "reason"])


def pseudo_fake_kinds(value: Any) -> tuple[str, ...]:
    """Normalise a ``pseudo_fakes`` setting: None/False/"" → (), True → all kinds.

    Examples
    --------
    >>> pseudo_fake_kinds("blend,upsample"), pseudo_fake_kinds(None), pseudo_fake_kinds(True)
    (('blend', 'upsample'), (), ('blend', 'upsample'))
    """
    if value is None or value is False or (isinstance(value, str) and value.strip() == ""):
        return ()
    if isinstance(value, (list, tuple)) and not value:
        return ()
    if value is True:
        return PSEUDO_FAKE_KINDS
    if isinstance(value, str) and value.strip() in ("none", "off"):
        return ()
    return _kinds(value, PSEUDO_FAKE_KINDS, "pseudo_fakes")


def augment_spec(value: Any) -> tuple[float, tuple[str, ...]]:
    """Normalise an ``augment`` setting to ``(probability, kinds)``.

    ``None``/``False``/0 → off; ``True`` → probability 0.5, every kind; a float → that
    probability, every kind; a dict ``{"probability": p, "kinds": [...]}``; a string
    ``"0.3"``, ``"blur,jpeg"`` or ``"0.3:blur,jpeg"`` (the CLI's form).

    Examples
    --------
    >>> augment_spec(True), augment_spec("0.2:blur")
    ((0.5, ('blur', 'jpeg', 'downscale')), (0.2, ('blur',)))
    """
    if value is None or value is False:
        return 0.0, ()
    if value is True:
        return 0.5, DEGRADATIONS
    if isinstance(value, dict):
        unknown = set(value) - {"probability", "kinds"}
        if unknown:
            raise ValueError(f"augment: unknown keys {sorted(unknown)}")
        p = value.get("probability", 0.5)
        kinds = _kinds(value.get("kinds", DEGRADATIONS), DEGRADATIONS, "augment kinds")
    elif isinstance(value, str):
        text = value.strip()
        if text in ("", "off", "none", "0"):
            return 0.0, ()
        if text == "on":
            return 0.5, DEGRADATIONS
        if ":" in text:
            prob, _, names = text.partition(":")
        elif text[0].isdigit() or text[0] == ".":
            prob, names = text, ""
        else:
            prob, names = "0.5", text
        try:
            p = float(prob)
        except ValueError:
            raise ValueError(f"augment: {prob!r} is not a probability") from None
        kinds = _kinds(names, DEGRADATIONS, "augment kinds") if names else DEGRADATIONS
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        p, kinds = float(value), DEGRADATIONS
    else:
        raise ValueError(f"augment must be None, a bool, a probability or a dict, got {value!r}")
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"augment probability must be in [0, 1], got {p!r}")
    return (p, kinds) if p > 0 else (0.0, ())


def expand_training_set(
    data: pd.DataFrame,
    out_dir: str | os.PathLike,
    *,
    pseudo_fakes: Any = None,
    augment: Any = None,
    faces: str = "auto",
    random_state: int = 0,
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A training dataset with pseudo-fakes of its reals added and degradations applied.

    Parameters
    ----------
    data : dataset DataFrame (``path``, ``label``, optionally ``group``)
    out_dir : path-like
        Where synthesized files go (a cache folder; never the user's data folder).
    pseudo_fakes : see :func:`pseudo_fake_kinds`
    augment : see :func:`augment_spec`
        Applied after the pseudo-fakes are made, to every row of either class.
    faces : {"auto", "detect", "center"}
    random_state : int, default=0
    progress : bool, default=False

    Returns
    -------
    dataset : pandas.DataFrame
        ``data``'s rows first (``origin == "original"``), then the pseudo-fakes
        (``origin == "pseudo_<kind>"``, the group of their real, ``source_path``); with
        ``augment`` a ``degraded`` column.
    failures : pandas.DataFrame
        ``path, stage, reason`` of what could not be synthesized.

    Examples
    --------
    >>> import tempfile
    >>> from deepfeat import load_dataset, make_demo_dataset
    >>> df = load_dataset(make_demo_dataset(tempfile.mkdtemp(), n_images=10))
    >>> out, _ = expand_training_set(df, tempfile.mkdtemp(), pseudo_fakes="upsample")
    >>> out.origin.value_counts().to_dict() == {"original": 10, "pseudo_upsample": 2}
    True
    """
    kinds = pseudo_fake_kinds(pseudo_fakes)
    p, degradations = augment_spec(augment)
    df = _rows(data).copy()
    if "label" not in df.columns:
        raise ValueError("expand_training_set needs a 'label' column")
    df["origin"] = "original"
    failures = [pd.DataFrame(columns=["path", "stage", "reason"])]
    if kinds:
        fakes, fails = make_pseudo_fakes(
            df,
            out_dir,
            kinds=kinds,
            faces=faces,
            random_state=random_state,
            progress=progress,
        )
        df = pd.concat([df, fakes], ignore_index=True)
        failures.append(fails)
    if p > 0:
        df, fails = degrade_dataset(
            df,
            out_dir,
            probability=p,
            kinds=degradations,
            random_state=random_state,
            progress=progress,
        )
        failures.append(fails)
    return df, pd.concat([f for f in failures if len(f)] or failures[:1], ignore_index=True)
