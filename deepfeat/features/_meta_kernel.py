"""File-metadata features: EXIF, container, JPEG encoding, provenance markers and sidecar data.

Camera photos carry rich, self-consistent EXIF (make, model, exposure, lens, maker notes, a
thumbnail) and the quantisation tables of the camera's encoder. Generated and edited images
carry other traces: no camera tags, an editor or generator ``Software`` string, PNG text
chunks written by Stable Diffusion front-ends, an IPTC ``DigitalSourceType`` of
``trainedAlgorithmicMedia``, a C2PA manifest, or the standard libjpeg tables of a re-encode.
:func:`read_metadata` turns one file into a fixed, ordered set of numeric features
(``meta_<source>_<field>``); :class:`~deepfeat.MetadataFeatures` (in
:mod:`deepfeat.features._meta`) is the stateless scikit-learn transformer (columns
``meta_*``) that can also join numeric sidecar columns of a dataset table
(``meta_sidecar_*``). This module imports neither scikit-learn nor pandas, so worker
processes that read metadata start fast.

Every feature is a float: 1/0 for flags, NaN where a feature is undefined (e.g. JPEG
features of a PNG, or any file feature of an in-memory array). No string ever becomes a
feature; text is only matched against the small, documented tables below.

Metadata is attacker-controlled input, so the reading is bounded and defensive:

* Pillow opens the file lazily (headers only, no pixel decode).
* EXIF is parsed by ``exifread`` with ``details=False`` from an in-memory copy of the EXIF
  block (at most 64 KiB per JPEG segment; for TIFF files the first
  :data:`MAX_TIFF_EXIF_BYTES`), through a reader with a hard budget of
  :data:`EXIF_READ_BUDGET` reads, so a hostile IFD chain cannot make it spin.
  ``details=False`` skips the MakerNote, UserComment and XPM tags (exifread's
  ``IGNORE_TAGS``), so their *presence* is read from the EXIF sub-IFD by Pillow's
  ``ImageFileDirectory_v2`` instead (a single table read, no maker-note decoding).
* Byte-signature scans (C2PA/JUMBF, XMP, DigitalSourceType, PNG text keys) look at the
  JPEG APPn/COM segments, the PNG chunks before the image data plus the file tail, or the
  first :data:`SCAN_HEAD_BYTES` and last :data:`SCAN_TAIL_BYTES` of other formats.
* Every part is computed separately: a broken EXIF block gives ``meta_exif_parse_error = 1``
  and NaN tag features, while the container, JPEG and provenance features are still filled.
  Only a file that is not an image at all (or is missing/empty/a decompression bomb) fails,
  with an :class:`~deepfeat.ImageLoadError`; the transformer records it with stage ``meta``.

Extending the tables
--------------------
:data:`SOFTWARE_PATTERNS` maps the categories ``camera``, ``editor`` and ``generator`` to
case-insensitive regular expressions matched against every software string of a file
(EXIF ``Software`` and ``ProcessingSoftware``, XMP ``CreatorTool`` and history
``softwareAgent``, PNG ``Software``/``Source`` text, the JPEG comment). Append patterns to
an existing list of :mod:`deepfeat.features._meta_tables` to extend it (new categories are
ignored: the columns are fixed)::

    from deepfeat.features import _meta_tables
    _meta_tables.SOFTWARE_PATTERNS["generator"].append(r"my-diffusion-app")

:data:`ICC_PATTERNS`, :data:`PNG_GENERATOR_TEXT_KEYS` and :data:`GENERATION_PARAMETER_MARKERS`
work the same way. The full feature list with meanings is in ``docs/features_metadata.md``.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._io import (
    DEFAULT_MAX_PIXELS,
    ImageLoadError,
    _open_bytes,
    _register_heif,
    open_header,
    source_name,
)
from ._meta_exif import _exif_block, _exif_features
from ._meta_parse import (
    _dst_features,
    _find_xmp,
    _has_generation_params,
    _icc_features,
    _image_features,
    _jpeg_features,
    _png_features,
    _png_text_keys,
    _scan_bytes,
    _shape_features,
    _software_features,
    _xmp_features,
)
from ._meta_tables import _INDEX, _PIL_FORMATS, FEATURE_NAMES, _as_text, _flag, _to_float

logger = logging.getLogger(__name__)

__all__ = [
    "metadata_vector",
    "read_metadata",
    "sidecar_feature_name",
]


def sidecar_feature_name(column: Any) -> str:
    """The feature name of a sidecar column: ``meta_sidecar_<sanitised lower-case name>``.

    >>> sidecar_feature_name("Original Width (px)")
    'meta_sidecar_original_width_px'
    """
    s = re.sub(r"[^a-z0-9]+", "_", str(column).lower()).strip("_")
    if not s:
        s = "column"
    return f"meta_sidecar_{s}"


def sidecar_names(columns: Sequence[Any]) -> list[str]:
    names: list[str] = []
    for col in columns:
        base = name = sidecar_feature_name(col)
        k = 2
        while name in names or name in _INDEX:
            name = f"{base}_{k}"
            k += 1
        names.append(name)
    return names


def _file_size(source: Any, fh: Any) -> int:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return len(source)
    try:
        return os.fstat(fh.fileno()).st_size
    except (OSError, AttributeError, io.UnsupportedOperation):
        pos = fh.tell()
        end = fh.seek(0, 2)
        fh.seek(pos)
        return int(end)


def _read_file(source: Any, out: dict[str, float]) -> None:

    name = source_name(source)
    fh = _open_bytes(source, name)
    close = fh is not source
    try:
        if not close:
            fh.seek(0)
        size = _file_size(source, fh)
        if size == 0:
            raise ImageLoadError(name, "empty file (0 bytes)")
        magic = fh.read(16)
        fh.seek(0)
        heif_like = magic[4:8] == b"ftyp" or name.lower().endswith(
            (".heic", ".heif", ".avif", ".hif")
        )
        if heif_like:
            _register_heif()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            img = open_header(fh, name, max_pixels=DEFAULT_MAX_PIXELS, heif=heif_like)
            try:
                _features_of_open_image(img, fh, name, size, out)
            finally:
                img.close()
            out["meta_file_warning_count"] = float(len(caught))
    finally:
        if close:
            fh.close()


def _features_of_open_image(img: Any, fh: Any, name: str, size: int, out: dict[str, float]) -> None:
    fmt = _PIL_FORMATS.get(str(img.format).upper(), "other")
    width, height = img.size
    if width <= 0 or height <= 0:
        raise ImageLoadError(name, f"invalid size {width}x{height}")
    ext = os.path.splitext(name)[1].lower() if name != "<bytes>" else None
    texts: dict[str, list[str]] = {"software": [], "params": [], "make_model": [], "iptc": []}

    def section(label: str, func, *args) -> dict[str, float] | None:
        try:
            part = func(*args)
        except ImageLoadError:
            raise
        except Exception as exc:  # a broken part leaves its features NaN
            logger.debug("%s: %s features failed: %s", name, label, exc)
            return None
        out.update(part)
        return part

    if section("image", _image_features, img, fmt, float(size), ext) is None:
        raise ImageLoadError(name, "unreadable image header")
    if fmt == "jpeg":
        section("jpeg", _jpeg_features, img)
        comment = img.info.get("comment")
        if comment:
            texts["software"].append(_as_text(comment, 256))
            texts["params"].append(_as_text(comment))
    try:
        block = _exif_block(img, fmt, fh)
    except Exception:
        block = None
    if block is not None:
        section("exif", _exif_features, block, fmt, width, height, texts)
    section("icc", _icc_features, img.info.get("icc_profile"))

    try:
        scan = _scan_bytes(fh, img, fmt, size)
    except Exception:  # scans are best effort
        scan = b""
    xmp = img.info.get("xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8", "replace")
    if not isinstance(xmp, (bytes, bytearray)) or not xmp:
        xmp = _find_xmp(scan)
    xmp = bytes(xmp)
    section("xmp", _xmp_features, xmp, texts)
    section("dst", _dst_features, scan + b"\n" + xmp if fmt != "jpeg" else scan)

    if fmt == "png":
        try:
            text = _png_text_keys(img, scan)
        except Exception:  # fall back to what Pillow read
            text = {}
        section("png", _png_features, text, texts)
        has_text = bool(text)
    else:
        has_text = False
    if fmt == "jpeg":
        photoshop = img.info.get("photoshop")
        iptc = isinstance(photoshop, dict) and 0x0404 in photoshop
    else:
        iptc = bool(texts["iptc"])
    out["meta_iptc_present"] = _flag(iptc)
    section("software", _software_features, texts)
    out["meta_text_generation_params"] = _flag(_has_generation_params(texts["params"]))

    applist = getattr(img, "applist", None) or []
    app11 = any(m == "APP11" for m, _ in applist)
    c2pa = scan.find(b"c2pa") >= 0 or (fmt == "png" and scan.find(b"caBX") >= 0)
    out["meta_c2pa_present"] = _flag(c2pa)
    out["meta_c2pa_jumbf_present"] = _flag(scan.find(b"jumb") >= 0 or app11)

    def val(key: str) -> float:
        v = out.get(key, math.nan)
        return 0.0 if v != v else v  # NaN counts as "no trace"

    out["meta_summary_camera_trace"] = _flag(
        val("meta_exif_make_present")
        and val("meta_exif_model_present")
        and (val("meta_exif_datetime_original_present") or val("meta_exif_exposure_time_present"))
    )
    out["meta_summary_editor_trace"] = _flag(
        val("meta_software_editor")
        or val("meta_icc_editor")
        or val("meta_xmp_history_present")
        or val("meta_jpeg_app13_photoshop_present")
    )
    out["meta_summary_generator_trace"] = _flag(
        val("meta_software_generator")
        or val("meta_png_text_parameters")
        or val("meta_png_text_prompt")
        or val("meta_png_text_workflow")
        or val("meta_png_text_generator_key")
        or val("meta_text_generation_params")
        or val("meta_iptc_dst_trained")
        or val("meta_iptc_dst_composite_trained")
    )
    out["meta_summary_no_metadata"] = _flag(
        not (
            val("meta_exif_present")
            or val("meta_xmp_present")
            or val("meta_icc_present")
            or iptc
            or has_text
            or val("meta_jpeg_comment_present")
            or c2pa
        )
    )


def _read_array(arr: np.ndarray, out: dict[str, float]) -> None:
    a = np.asarray(arr)
    if a.ndim not in (2, 3) or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"expected an H×W or H×W×C image array, got shape {a.shape}")
    height, width = int(a.shape[0]), int(a.shape[1])
    channels = 1 if a.ndim == 2 else int(a.shape[2])
    out.update(_shape_features(width, height))
    out["meta_image_channels"] = float(channels)
    out["meta_image_bit_depth"] = float(a.dtype.itemsize * 8)
    out["meta_image_has_alpha"] = _flag(channels in (2, 4))
    out["meta_image_grayscale"] = _flag(channels in (1, 2))


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------
def read_metadata(path: Any, *, sidecar: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Numeric metadata features of one image file.

    Parameters
    ----------
    path : str, os.PathLike, bytes, binary file object or numpy.ndarray
        The image. For an in-memory array only what the array defines is set
        (``meta_image_width``, ``_height``, ``_aspect_ratio``, ``_square``, ``_dims_mult_*``,
        ``_channels``, ``_bit_depth``, ``_has_alpha``, ``_grayscale``); every file-derived
        feature is NaN.
    sidecar : mapping of str to number, optional
        Extra numeric values (e.g. ``{"original_width": 186}``) appended as
        ``meta_sidecar_<sanitised key>``; non-numeric values become NaN.

    Returns
    -------
    dict of str to float
        The keys of :data:`FEATURE_NAMES` in that order (always all of them), then the
        sidecar keys. Flags are 0/1; NaN marks an undefined feature.

    Raises
    ------
    ImageLoadError
        If the input is missing, empty, not an image, or a decompression bomb. A broken
        EXIF block, ICC profile or XMP packet never raises: its features are NaN (or
        flagged, see ``meta_exif_parse_error``).

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO()
    >>> Image.new("RGB", (64, 48), "gray").save(buf, format="JPEG", quality=75)
    >>> feats = read_metadata(buf.getvalue())
    >>> feats["meta_file_format_jpeg"], feats["meta_jpeg_quality"], feats["meta_exif_present"]
    (1.0, 75.0, 0.0)
    """
    out: dict[str, float] = dict.fromkeys(FEATURE_NAMES, math.nan)
    if isinstance(path, np.ndarray):
        _read_array(path, out)
    else:
        _read_file(path, out)
    feats = {name: float(out[name]) for name in FEATURE_NAMES}
    if sidecar:
        keys = list(sidecar)
        for key, name in zip(keys, sidecar_names(keys)):
            feats[name] = _to_float(sidecar[key])
    return feats


def metadata_vector(item: Any, *, n_sidecar: int = 0) -> np.ndarray:
    """The :data:`FEATURE_NAMES` values of one file (or array) as a float64 vector.

    ``n_sidecar`` NaN slots are appended for the sidecar columns that
    :class:`~deepfeat.MetadataFeatures` fills from a dataset table.

    Examples
    --------
    >>> import numpy as np
    >>> v = metadata_vector(np.zeros((4, 6, 3), np.uint8), n_sidecar=2)
    >>> v.shape == (len(FEATURE_NAMES) + 2,), bool(np.isnan(v[-1]))
    (True, True)
    """
    feats = read_metadata(item)
    row = np.fromiter(feats.values(), dtype=np.float64, count=len(FEATURE_NAMES))
    return np.concatenate([row, np.full(n_sidecar, np.nan)]) if n_sidecar else row
