"""EXIF features: exifread under a hard read budget, plus Pillow's sub-IFD for the tags
``details=False`` skips."""

from __future__ import annotations

import io
import logging
import math
import re
import threading
import warnings
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ._meta_tables import EXIF_READ_BUDGET, MAX_TIFF_EXIF_BYTES, _as_text, _flag

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------
# exifread plumbing: bounded reader and log counter
# --------------------------------------------------------------------------------------
class _ReadBudgetExceeded(Exception):
    """exifread needed more reads than :data:`EXIF_READ_BUDGET`."""


class _BudgetBytesIO(io.BytesIO):
    """An in-memory file that refuses to serve more than ``budget`` reads."""

    def __init__(self, data: bytes, budget: int) -> None:
        super().__init__(data)
        self._left = budget

    def read(self, size: int | None = -1) -> bytes:
        self._left -= 1
        if self._left < 0:
            raise _ReadBudgetExceeded(f"more than {EXIF_READ_BUDGET} reads")
        return super().read(size)


class _ExifreadLogCounter(logging.Filter):
    """Counts (and swallows) exifread's log records while :func:`read_metadata` runs.

    exifread reports corrupt fields through its ``exifread`` logger; outside our calls
    records pass through untouched.
    """

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        count = getattr(self.local, "count", None)
        if count is None:
            return True
        if record.levelno >= logging.WARNING:
            self.local.count = count + 1
        return False


_EXIFREAD_COUNTER: _ExifreadLogCounter | None = None


_COUNTER_LOCK = threading.Lock()


def _exifread_counter() -> _ExifreadLogCounter:
    global _EXIFREAD_COUNTER
    with _COUNTER_LOCK:
        if _EXIFREAD_COUNTER is None:
            counter = _ExifreadLogCounter()
            logging.getLogger("exifread").addFilter(counter)
            _EXIFREAD_COUNTER = counter
    return _EXIFREAD_COUNTER


def _exif_text(tags: Mapping[str, Any], key: str) -> str:
    tag = tags.get(key)
    if tag is None:
        return ""
    values = getattr(tag, "values", tag)
    if isinstance(values, (list, tuple)):
        if not values:
            return ""
        if all(isinstance(v, int) for v in values):
            return " ".join(str(v) for v in values)
        return " ".join(_as_text(v) for v in values)
    return _as_text(values)


def _exif_int(tags: Mapping[str, Any], key: str) -> float:
    tag = tags.get(key)
    if tag is None:
        return math.nan
    values = getattr(tag, "values", None)
    try:
        value = values[0] if isinstance(values, (list, tuple)) else values
        return float(int(value))
    except (TypeError, ValueError, IndexError):
        return math.nan


_EXIF_DATETIME = re.compile(r"\s*(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def _parse_exif_datetime(text: str) -> datetime | None:
    m = _EXIF_DATETIME.match(text)
    if m is None:
        return None
    try:
        return datetime(*(int(g) for g in m.groups()))
    except ValueError:  # 0000:00:00 00:00:00 and other placeholders
        return None


_EMPTY_EXIF = {
    "meta_exif_present": 0.0,
    "meta_exif_bytes": 0.0,
    "meta_exif_parse_error": 0.0,
    "meta_exif_parse_warnings": 0.0,
    "meta_exif_tag_count": 0.0,
    "meta_exif_ifd_count": 0.0,
    "meta_exif_ifd0_tag_count": 0.0,
    "meta_exif_exif_ifd_tag_count": 0.0,
    "meta_exif_gps_tag_count": 0.0,
    "meta_exif_interop_tag_count": 0.0,
    "meta_exif_thumbnail_tag_count": 0.0,
    "meta_exif_make_present": 0.0,
    "meta_exif_model_present": 0.0,
    "meta_exif_software_present": 0.0,
    "meta_exif_datetime_present": 0.0,
    "meta_exif_datetime_original_present": 0.0,
    "meta_exif_datetime_digitized_present": 0.0,
    "meta_exif_exposure_time_present": 0.0,
    "meta_exif_fnumber_present": 0.0,
    "meta_exif_iso_present": 0.0,
    "meta_exif_focal_length_present": 0.0,
    "meta_exif_lens_model_present": 0.0,
    "meta_exif_gps_present": 0.0,
    "meta_exif_gps_ifd_present": 0.0,
    "meta_exif_makernote_present": 0.0,
    "meta_exif_usercomment_present": 0.0,
    "meta_exif_thumbnail_present": 0.0,
}


def _exif_block(img: Any, fmt: str, fh: Any) -> bytes:
    """The TIFF-structured EXIF bytes of the file (``b""`` if none)."""
    if fmt == "tiff":
        fh.seek(0)
        return fh.read(MAX_TIFF_EXIF_BYTES)
    raw = img.info.get("exif")
    if not isinstance(raw, (bytes, bytearray)):
        return b""
    raw = bytes(raw)
    if raw.startswith(b"Exif\x00\x00"):
        raw = raw[6:]
    return raw


def _run_exifread(block: bytes) -> tuple[dict[str, Any], int]:
    """Tags of a TIFF-structured block and the number of warnings exifread logged."""
    import exifread

    counter = _exifread_counter()
    counter.local.count = 0
    try:
        tags = exifread.process_file(
            _BudgetBytesIO(block, EXIF_READ_BUDGET),
            details=False,
            extract_thumbnail=False,
            strict=False,
        )
        return dict(tags), counter.local.count
    finally:
        counter.local.count = None


def _exif_ifd_extras(block: bytes, exif_offset: int) -> dict[int, Any]:
    """MakerNote / UserComment of the EXIF sub-IFD, read with Pillow (exifread's
    ``details=False`` skips exactly these tags)."""
    from PIL import TiffImagePlugin

    ifd = TiffImagePlugin.ImageFileDirectory_v2(ifh=block[:8])
    fp = io.BytesIO(block)
    fp.seek(exif_offset)
    ifd.load(fp)
    out: dict[int, Any] = {}
    for tag in (0x927C, 0x9286):
        if tag in ifd:
            try:
                out[tag] = ifd[tag]
            except Exception:  # a corrupt value still means "present"
                out[tag] = b"?"
    return out


def _exif_features(
    block: bytes, fmt: str, width: int, height: int, texts: dict[str, list[str]]
) -> dict[str, float]:
    f = dict(_EMPTY_EXIF)
    if not block:
        return f
    f["meta_exif_bytes"] = float(len(block))
    f["meta_exif_present"] = 1.0
    try:
        if block[:4] not in (b"II*\x00", b"MM\x00*"):
            raise ValueError("EXIF block does not start with a TIFF header")
        tags, n_warn = _run_exifread(block)
    except Exception as exc:  # any exifread failure = corrupt block
        logger.debug("exifread failed: %s", exc)
        for key in f:
            if key not in ("meta_exif_present", "meta_exif_bytes"):
                f[key] = math.nan
        f["meta_exif_parse_error"] = 1.0
        if fmt == "tiff":  # unknown whether the TIFF has an EXIF sub-IFD
            f["meta_exif_present"] = f["meta_exif_bytes"] = math.nan
        return f
    f["meta_exif_parse_warnings"] = float(n_warn)
    tags = {k: v for k, v in tags.items() if k not in ("JPEGThumbnail", "TIFFThumbnail")}
    if fmt == "tiff":  # the whole file is the TIFF structure: no separate EXIF block
        f["meta_exif_present"] = _flag("Image ExifOffset" in tags)
        f["meta_exif_bytes"] = math.nan
    elif not tags:
        f["meta_exif_parse_error"] = 1.0
    groups: dict[str, int] = {}
    for key in tags:
        group = key.split(" ", 1)[0] if not key.startswith("IFD ") else " ".join(key.split()[:2])
        groups[group] = groups.get(group, 0) + 1
    f["meta_exif_tag_count"] = float(len(tags))
    f["meta_exif_ifd_count"] = float(len(groups))
    f["meta_exif_ifd0_tag_count"] = float(groups.get("Image", 0))
    f["meta_exif_exif_ifd_tag_count"] = float(groups.get("EXIF", 0))
    f["meta_exif_gps_tag_count"] = float(groups.get("GPS", 0))
    f["meta_exif_interop_tag_count"] = float(groups.get("Interoperability", 0))
    f["meta_exif_thumbnail_tag_count"] = float(groups.get("Thumbnail", 0))

    def present(*keys: str) -> float:
        return _flag(any(_exif_text(tags, k) for k in keys))

    make, model = _exif_text(tags, "Image Make"), _exif_text(tags, "Image Model")
    software = _exif_text(tags, "Image Software")
    f["meta_exif_make_present"] = _flag(make)
    f["meta_exif_model_present"] = _flag(model)
    f["meta_exif_software_present"] = _flag(software)
    f["meta_exif_datetime_present"] = present("Image DateTime")
    f["meta_exif_datetime_original_present"] = present("EXIF DateTimeOriginal")
    f["meta_exif_datetime_digitized_present"] = present("EXIF DateTimeDigitized")
    f["meta_exif_exposure_time_present"] = present("EXIF ExposureTime")
    f["meta_exif_fnumber_present"] = present("EXIF FNumber")
    f["meta_exif_iso_present"] = present("EXIF ISOSpeedRatings", "EXIF ISOSpeed")
    f["meta_exif_focal_length_present"] = present("EXIF FocalLength")
    f["meta_exif_lens_model_present"] = present("EXIF LensModel")
    f["meta_exif_gps_present"] = _flag("GPS GPSLatitude" in tags and "GPS GPSLongitude" in tags)
    f["meta_exif_gps_ifd_present"] = _flag(groups.get("GPS", 0) > 0 or "Image GPSInfo" in tags)
    f["meta_exif_thumbnail_present"] = _flag(
        "Thumbnail JPEGInterchangeFormat" in tags or "Thumbnail StripOffsets" in tags
    )
    orientation = _exif_int(tags, "Image Orientation")
    f["meta_exif_orientation"] = orientation if 1 <= orientation <= 8 else math.nan
    t_mod = _parse_exif_datetime(_exif_text(tags, "Image DateTime"))
    t_orig = _parse_exif_datetime(_exif_text(tags, "EXIF DateTimeOriginal"))
    if t_mod is not None and t_orig is not None:
        delta = (t_mod - t_orig).total_seconds()
        f["meta_exif_datetime_delta_s"] = delta
        f["meta_exif_datetime_consistent"] = _flag(abs(delta) <= 1.0)
    ex_w = _exif_int(tags, "EXIF ExifImageWidth")
    ex_h = _exif_int(tags, "EXIF ExifImageLength")
    if ex_w > 0 and ex_h > 0 and fmt != "tiff":
        f["meta_exif_dims_mismatch"] = _flag(sorted((ex_w, ex_h)) != sorted((width, height)))

    # tags exifread skips with details=False
    exif_offset = _exif_int(tags, "Image ExifOffset")
    if exif_offset > 0:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                extras = _exif_ifd_extras(block, int(exif_offset))
        except Exception as exc:  # leave the two flags NaN
            logger.debug("EXIF sub-IFD unreadable by Pillow: %s", exc)
            f["meta_exif_makernote_present"] = math.nan
            f["meta_exif_usercomment_present"] = math.nan
        else:
            f["meta_exif_makernote_present"] = _flag(0x927C in extras)
            comment = extras.get(0x9286)
            text = ""
            if comment is not None:
                raw = (
                    comment
                    if isinstance(comment, bytes)
                    else str(comment).encode("utf-8", "replace")
                )
                if raw[:8] in (
                    b"ASCII\x00\x00\x00",
                    b"UNICODE\x00",
                    b"JIS\x00\x00\x00\x00\x00",
                    b"\x00" * 8,
                ):
                    raw = raw[8:]
                text = _as_text(raw.replace(b"\x00", b""))
            f["meta_exif_usercomment_present"] = _flag(text)
            if text:
                texts["params"].append(text)
    texts["software"].extend(
        s for s in (software, _exif_text(tags, "Image ProcessingSoftware")) if s
    )
    texts["make_model"].extend(s for s in (make, model) if len(s) >= 3)
    if "Image IPTC/NAA" in tags:
        texts["iptc"].append("1")
    return f
