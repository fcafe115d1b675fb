"""Container, JPEG, ICC, XMP/C2PA, PNG-text and software features of an opened image."""

from __future__ import annotations

import contextlib
import io
import logging
import math
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ._meta_tables import (
    _EXTENSIONS,
    FORMATS,
    GENERATION_PARAMETER_MARKERS,
    GENERATION_PARAMETER_MIN_MARKERS,
    ICC_PATTERNS,
    MAX_TEXT_CHARS,
    PNG_GENERATOR_TEXT_KEYS,
    SCAN_HEAD_BYTES,
    SCAN_TAIL_BYTES,
    SOFTWARE_PATTERNS,
    _as_text,
    _flag,
    _matches,
    _to_float,
)

logger = logging.getLogger(__name__)

__all__ = [
    "estimate_jpeg_quality",
]

# --------------------------------------------------------------------------------------
# JPEG quality estimation (IJG scaling)
# --------------------------------------------------------------------------------------
# Standard tables of ITU-T T.81 Annex K (natural row-major order), which libjpeg scales.
_STD_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.float64,
).ravel()


_STD_CHROMA = np.full((8, 8), 99.0)
_STD_CHROMA[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]
_STD_CHROMA = _STD_CHROMA.ravel()


@lru_cache(maxsize=2)
def _ijg_tables(which: str) -> np.ndarray:
    """The 100 tables libjpeg writes for quality 1..100 (row q-1), baseline-clamped."""
    base = _STD_LUMA if which == "luma" else _STD_CHROMA
    q = np.arange(1, 101, dtype=np.float64)
    scale = np.where(q < 50, np.floor(5000.0 / q), 200.0 - 2.0 * q)
    tables = np.floor((base[None, :] * scale[:, None] + 50.0) / 100.0)
    return np.clip(tables, 1, 255)


def estimate_jpeg_quality(table: Sequence[int], which: str = "luma") -> tuple[float, float]:
    """Invert IJG quality scaling for one quantisation table.

    libjpeg builds its tables from the standard ones (ITU-T T.81 Annex K) with
    ``scale = 5000 / Q`` for ``Q < 50`` and ``200 - 2 Q`` otherwise,
    ``entry = clamp((std * scale + 50) // 100, 1, 255)``. The estimate is the ``Q`` in
    1..100 whose table is closest (mean absolute difference) to ``table``; the residual
    is 0 for files written by libjpeg-based encoders (Pillow, OpenCV, most web services)
    and larger for camera or Photoshop tables, whose estimate is then approximate.

    Parameters
    ----------
    table : sequence of 64 ints
        Quantisation table in natural (row-major) order, as Pillow's ``.quantization``.
    which : {"luma", "chroma"}

    Returns
    -------
    (quality, mean_abs_error) : tuple of float
    """
    obs = np.asarray(table, dtype=np.float64).ravel()
    if obs.size != 64:
        return math.nan, math.nan
    err = np.abs(_ijg_tables(which) - obs).sum(axis=1)
    best = int(err.argmin())
    return float(best + 1), float(err[best]) / 64.0


# --------------------------------------------------------------------------------------
# feature sections (each returns a dict; a failing section leaves its features NaN)
# --------------------------------------------------------------------------------------
def _image_features(img: Any, fmt: str, size: float, ext: str | None) -> dict[str, float]:
    from PIL import Image

    f: dict[str, float] = {}
    width, height = img.size
    f["meta_file_bytes"] = size
    f["meta_file_bytes_per_pixel"] = size / (width * height) if width * height else math.nan
    ext_fmt = _EXTENSIONS.get(ext or "")
    f["meta_file_ext_mismatch"] = math.nan if ext_fmt is None else _flag(ext_fmt != fmt)
    for name in FORMATS:
        f[f"meta_file_format_{name}"] = _flag(name == fmt)
    f.update(_shape_features(width, height))
    mode = img.mode
    try:
        f["meta_image_channels"] = float(Image.getmodebands(mode))
    except (KeyError, ValueError):
        f["meta_image_channels"] = math.nan
    if mode == "1":
        depth = 1.0
    elif mode.startswith("I;16"):
        depth = 16.0
    elif mode in ("I", "F"):
        depth = 32.0
    else:
        depth = 8.0
    coded = img.info.get("bit_depth")  # pillow-heif
    if isinstance(coded, int) and coded > 0:
        depth = float(coded)
    elif fmt == "png":
        tile = getattr(img, "tile", None) or []
        rawmode = tile[0][3][0] if tile and len(tile[0]) > 3 and tile[0][3] else ""
        if isinstance(rawmode, str) and ";16" in rawmode:
            depth = 16.0
    f["meta_image_bit_depth"] = depth
    f["meta_image_has_alpha"] = _flag(
        mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    )
    f["meta_image_palette"] = _flag(mode in ("P", "PA"))
    f["meta_image_grayscale"] = _flag(
        mode in ("1", "L", "LA", "La", "I", "F") or mode.startswith("I;16")
    )
    f["meta_image_cmyk"] = _flag(mode == "CMYK")
    animated = bool(getattr(img, "is_animated", False))
    f["meta_image_animated"] = _flag(animated and fmt in ("gif", "png", "webp"))
    f["meta_image_multi_frame"] = _flag(animated)
    return f


def _shape_features(width: int, height: int) -> dict[str, float]:
    return {
        "meta_image_width": float(width),
        "meta_image_height": float(height),
        "meta_image_aspect_ratio": width / height if height else math.nan,
        "meta_image_square": _flag(width == height),
        "meta_image_dims_mult_8": _flag(width % 8 == 0 and height % 8 == 0),
        "meta_image_dims_mult_64": _flag(width % 64 == 0 and height % 64 == 0),
    }


def _jpeg_features(img: Any) -> dict[str, float]:
    from PIL import JpegImagePlugin

    f: dict[str, float] = {}
    qt: dict[int, list[int]] = dict(getattr(img, "quantization", None) or {})
    layer = list(getattr(img, "layer", None) or [])
    luma_id = layer[0][3] if layer else 0
    chroma_id = layer[1][3] if len(layer) > 1 else 1
    f["meta_jpeg_qtable_count"] = float(len(qt))
    if luma_id in qt:
        q, err = estimate_jpeg_quality(qt[luma_id], "luma")
        f["meta_jpeg_quality"] = q
        f["meta_jpeg_qtable_ijg_error"] = err
        f["meta_jpeg_qtable_mean"] = float(sum(qt[luma_id])) / max(len(qt[luma_id]), 1)
    if len(layer) >= 3 and chroma_id in qt:
        f["meta_jpeg_quality_chroma"] = estimate_jpeg_quality(qt[chroma_id], "chroma")[0]
    f["meta_jpeg_components"] = float(len(layer)) if layer else math.nan
    if len(layer) == 3:
        code = JpegImagePlugin.get_sampling(img)
        f["meta_jpeg_subsampling"] = float(code) if code in (0, 1, 2) else 3.0
    info = img.info
    f["meta_jpeg_progressive"] = _flag(info.get("progressive") or info.get("progression"))
    f["meta_jpeg_jfif_present"] = _flag("jfif" in info)
    if "jfif" in info:
        f["meta_jpeg_jfif_unit"] = _to_float(info.get("jfif_unit"))
        density = info.get("jfif_density")
        f["meta_jpeg_jfif_density"] = _to_float(density[0]) if density else math.nan
    applist = list(getattr(img, "applist", None) or [])
    f["meta_jpeg_app_segment_count"] = float(len(applist))
    f["meta_jpeg_app_bytes"] = float(sum(len(s) for _, s in applist))

    def has(marker: str, prefix: bytes) -> float:
        return _flag(any(m == marker and s.startswith(prefix) for m, s in applist))

    f["meta_jpeg_app1_exif_present"] = has("APP1", b"Exif\x00")
    f["meta_jpeg_app1_xmp_present"] = _flag(
        any(m == "APP1" and s.startswith(b"http://ns.adobe.com/") for m, s in applist)
    )
    f["meta_jpeg_app2_mpf_present"] = has("APP2", b"MPF\x00")
    f["meta_jpeg_app13_photoshop_present"] = has("APP13", b"Photoshop")
    f["meta_jpeg_app14_adobe_present"] = has("APP14", b"Adobe")
    f["meta_jpeg_app11_jumbf_present"] = has("APP11", b"JP")
    f["meta_jpeg_comment_present"] = _flag(any(m == "COM" for m, _ in applist))
    return f


def _icc_features(icc: Any) -> dict[str, float]:
    f: dict[str, float] = {"meta_icc_present": 0.0, "meta_icc_bytes": 0.0}
    kinds = ("srgb", "display_p3", "adobe_rgb", "camera", "editor")
    if not isinstance(icc, (bytes, bytearray)) or not icc:
        f.update({f"meta_icc_{k}": 0.0 for k in kinds})
        return f
    f["meta_icc_present"] = 1.0
    f["meta_icc_bytes"] = float(len(icc))
    try:
        from PIL import ImageCms

        prof = ImageCms.ImageCmsProfile(io.BytesIO(bytes(icc))).profile
        text = " | ".join(
            _as_text(getattr(prof, attr, None) or "", 512)
            for attr in (
                "profile_description",
                "manufacturer",
                "model",
                "copyright",
                "header_manufacturer",
                "header_model",
            )
        )
    except Exception as exc:  # unparseable profile: kinds stay NaN
        logger.debug("ICC profile unparseable: %s", exc)
        return f
    for kind in kinds:
        f[f"meta_icc_{kind}"] = _flag(_matches(text, ICC_PATTERNS.get(kind, ())))
    return f


_XMP_TOOL = re.compile(
    rb"(?:xmp:CreatorTool|stEvt:softwareAgent|xmp:creatortool)\s*(?:=\s*[\"']([^\"'<]{0,256})|>\s*([^<]{0,256})<)"
)


def _xmp_features(xmp: bytes, texts: dict[str, list[str]]) -> dict[str, float]:
    f = {
        "meta_xmp_present": _flag(xmp),
        "meta_xmp_bytes": float(len(xmp)),
        "meta_xmp_creator_tool_present": 0.0,
        "meta_xmp_history_present": 0.0,
        "meta_xmp_derived_from_present": 0.0,
    }
    if not xmp:
        return f
    f["meta_xmp_creator_tool_present"] = _flag(b"CreatorTool" in xmp)
    f["meta_xmp_history_present"] = _flag(b"xmpMM:History" in xmp)
    f["meta_xmp_derived_from_present"] = _flag(b"xmpMM:DerivedFrom" in xmp)
    for m in _XMP_TOOL.finditer(xmp[: 4 * MAX_TEXT_CHARS]):
        value = _as_text(m.group(1) or m.group(2) or b"", 256)
        if value:
            texts["software"].append(value)
    texts["params"].append(_as_text(xmp))
    return f


def _find_xmp(scan: bytes) -> bytes:
    start = scan.find(b"<x:xmpmeta")
    if start < 0:
        start = scan.find(b"<rdf:RDF")
        if start < 0:
            return b""
    end = scan.find(b"</x:xmpmeta>", start)
    if end < 0:
        end = scan.find(b"</rdf:RDF>", start)
    return scan[start : end + 12] if end > 0 else scan[start : start + MAX_TEXT_CHARS]


def _dst_features(scan: bytes) -> dict[str, float]:
    def has(*tokens: bytes) -> bool:
        return any(scan.find(t) >= 0 for t in tokens)

    trained = has(b"trainedAlgorithmicMedia")
    composite = has(b"compositeWithTrainedAlgorithmicMedia")
    algorithmic = has(b"algorithmicMedia", b"compositeSynthetic", b"algorithmicallyEnhanced")
    capture = has(b"digitalCapture", b"computationalCapture", b"compositeCapture")
    declared = has(b"DigitalSourceType", b"digitalsourcetype", b"digitalSourceType")
    return {
        "meta_iptc_dst_present": _flag(declared or trained or composite or algorithmic or capture),
        "meta_iptc_dst_trained": _flag(trained),
        "meta_iptc_dst_composite_trained": _flag(composite),
        "meta_iptc_dst_algorithmic": _flag(algorithmic),
        "meta_iptc_dst_capture": _flag(capture),
    }


def _png_text_keys(img: Any, scan: bytes) -> dict[str, str]:
    """Text chunks: the ones Pillow read before the image data plus any chunk keyword
    found in the scanned bytes (chunks after IDAT are read lazily by Pillow)."""
    out: dict[str, str] = {
        k: v for k, v in img.info.items() if isinstance(k, str) and isinstance(v, str)
    }
    for ctype in (b"tEXt", b"zTXt", b"iTXt"):
        pos = scan.find(ctype)
        while pos >= 0:
            end = scan.find(b"\x00", pos + 4, pos + 84)
            if end > pos + 4:
                key = scan[pos + 4 : end]
                if all(32 <= c < 127 for c in key):
                    out.setdefault(key.decode("latin-1"), "")
            pos = scan.find(ctype, pos + 4)
    return out


def _png_features(text: dict[str, str], texts: dict[str, list[str]]) -> dict[str, float]:
    keys = {k.lower().strip() for k in text}
    gen_keys = {k.lower() for k in PNG_GENERATOR_TEXT_KEYS}
    for key, value in text.items():
        low = key.lower().strip()
        if low in ("software", "source", "generator", "creator tool", "creatortool"):
            texts["software"].append(_as_text(value, 256))
        if value:
            texts["params"].append(_as_text(value))
    return {
        "meta_png_text_count": float(len(text)),
        "meta_png_text_parameters": _flag("parameters" in keys),
        "meta_png_text_prompt": _flag("prompt" in keys),
        "meta_png_text_workflow": _flag("workflow" in keys),
        "meta_png_text_software": _flag("software" in keys),
        "meta_png_text_comment": _flag(bool(keys & {"comment", "description"})),
        "meta_png_text_generator_key": _flag(bool(keys & gen_keys)),
    }


def _software_features(texts: dict[str, list[str]]) -> dict[str, float]:
    found = {"camera": False, "editor": False, "generator": False, "unknown": False}
    make_model = [m.lower() for m in texts["make_model"]]
    for s in dict.fromkeys(t.strip() for t in texts["software"]):
        if not s:
            continue
        hit = False
        for cat in ("camera", "editor", "generator"):
            if _matches(s, SOFTWARE_PATTERNS.get(cat, ())):
                found[cat] = hit = True
        if not hit and any(m in s.lower() for m in make_model):
            found["camera"] = hit = True
        if not hit:
            found["unknown"] = True
    return {f"meta_software_{k}": _flag(v) for k, v in found.items()}


def _has_generation_params(texts: Iterable[str]) -> bool:
    markers = [m.lower() for m in GENERATION_PARAMETER_MARKERS]
    for text in texts:
        low = text[:MAX_TEXT_CHARS].lower()
        if sum(m in low for m in markers) >= GENERATION_PARAMETER_MIN_MARKERS:
            return True
    return False


def _scan_bytes(fh: Any, img: Any, fmt: str, size: int) -> bytes:
    """The bytes searched for signatures (bounded, see the module docstring)."""
    if fmt == "jpeg":
        return b"".join(s for _, s in (getattr(img, "applist", None) or []))
    head_len = SCAN_HEAD_BYTES
    if fmt == "png":
        with contextlib.suppress(OSError, ValueError):
            head_len = min(SCAN_HEAD_BYTES, max(int(fh.tell()), 64))
    fh.seek(0)
    head = fh.read(head_len)
    if size > head_len:
        fh.seek(max(head_len, size - SCAN_TAIL_BYTES))
        head += fh.read(SCAN_TAIL_BYTES)
    return head
