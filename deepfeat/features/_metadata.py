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
an existing list to extend it (new categories are ignored: the columns are fixed)::

    from deepfeat.features import _metadata
    _metadata.SOFTWARE_PATTERNS["generator"].append(r"my-diffusion-app")

:data:`ICC_PATTERNS`, :data:`PNG_GENERATOR_TEXT_KEYS` and :data:`GENERATION_PARAMETER_MARKERS`
work the same way. The full feature list with meanings is in ``docs/features_metadata.md``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np

from .._io import ImageLoadError, _open_bytes, _register_heif, source_name

logger = logging.getLogger(__name__)

__all__ = [
    "FEATURE_DESCRIPTIONS",
    "FEATURE_NAMES",
    "GENERATION_PARAMETER_MARKERS",
    "ICC_PATTERNS",
    "PNG_GENERATOR_TEXT_KEYS",
    "SOFTWARE_PATTERNS",
    "estimate_jpeg_quality",
    "metadata_vector",
    "read_metadata",
    "sidecar_feature_name",
]

# --------------------------------------------------------------------------------------
# limits
# --------------------------------------------------------------------------------------
#: Bytes from the start of a non-JPEG file searched for byte signatures (C2PA, XMP, …).
SCAN_HEAD_BYTES = 1 << 20
#: Bytes from the end of a non-JPEG file searched as well (PNG/WebP metadata written last).
SCAN_TAIL_BYTES = 256 << 10
#: At most this many bytes of a TIFF file are handed to exifread (a TIFF is its own EXIF).
MAX_TIFF_EXIF_BYTES = 8 << 20
#: exifread may issue at most this many reads on one EXIF block (a normal one needs a few
#: hundred); beyond it the block counts as corrupt. Bounds hostile IFD tables.
EXIF_READ_BUDGET = 50_000
#: Text values longer than this are truncated before pattern matching.
MAX_TEXT_CHARS = 64 << 10

# --------------------------------------------------------------------------------------
# extensible tables
# --------------------------------------------------------------------------------------
#: Software category -> case-insensitive regular expressions (``re.search``). A string can
#: match several categories; a software string matching none counts as ``unknown``.
#: In addition, a ``Software`` string that contains the file's EXIF ``Make`` or ``Model``
#: counts as ``camera`` (e.g. ``"COOLPIX P1V1.1"``).
SOFTWARE_PATTERNS: dict[str, list[str]] = {
    # camera / phone firmware: bare version numbers ("1.00", "14.4.2", "1.01+R"),
    # "Ver.1.00", "V06P-74", "Firmware …", "Digital Camera … Ver1.00", build ids, OS names
    "camera": [
        r"^\s*v(?:er(?:sion)?)?\.?\s*\d",
        r"^\s*\d+(?:\.\d+)+\s*[a-z+]{0,3}\s*$",
        r"^\s*\d+\.\d+\s*$",
        r"firmware",
        r"digital\s+camera",
        r"^\s*\w+_\d+_\d+_\w+\s*$",
        r"\bios\s*\d",
        r"\bandroid\b",
        r"\bhdr\+",
    ],
    # photo editors, raw converters and image-processing software (re-encoders)
    "editor": [
        r"photoshop",
        r"lightroom",
        r"fireworks",
        r"illustrator",
        r"imageready",
        r"\bgimp\b",
        r"snapseed",
        r"camera\s*raw",
        r"capture\s*one",
        r"affinity",
        r"pixelmator",
        r"paint\.net",
        r"paint\s*shop",
        r"painttool|paint\s*tool\s*sai",
        r"\bkrita\b",
        r"\bcorel\b",
        r"picasa",
        r"acdsee",
        r"darktable",
        r"rawtherapee",
        r"luminar",
        r"facetune",
        r"photoscape",
        r"irfanview",
        r"xnview",
        r"faststone",
        r"\bcanva\b",
        r"photo\s*gallery|microsoft\s*photos|windows\s*photo",
        r"instagram",
        r"\bvsco\b",
        r"meitu",
        r"picsart",
        r"\bdxo\b",
        r"\bon1\b",
        r"imagemagick",
        r"graphicsmagick",
        r"gd-jpeg",
        r"libvips",
        r"inkscape",
        r"pixlr",
        r"fotor",
        r"photodirector",
        r"adobe\s*express",
        r"photos\s+\d",
    ],
    # image generators and their front-ends, face-swap tools
    "generator": [
        r"stable[\s_-]*diffusion",
        r"\bsd[\s_-]?xl\b",
        r"automatic1111|\ba1111\b",
        r"comfy\s*ui",
        r"invoke\s*ai",
        r"fooocus",
        r"novel\s*ai",
        r"midjourney",
        r"dall[\s·_-]?e",
        r"\bopenai\b",
        r"chatgpt|gpt-4o",
        r"firefly",
        r"\bimagen\b",
        r"\bgemini\b",
        r"leonardo\.?ai",
        r"\bflux(?:\.1)?\b",
        r"\bdiffusers\b",
        r"dreamstudio",
        r"stability\s*ai",
        r"ideogram",
        r"\bkrea\b",
        r"runway\s*ml|\brunway\b",
        r"image\s*creator",
        r"nightcafe",
        r"dreamina",
        r"playground\s*ai",
        r"\bdeepai\b",
        r"stylegan",
        r"deepfacelab",
        r"faceswap|face\s*fusion|facefusion",
    ],
}

#: ICC profile kind -> case-insensitive regular expressions matched against the profile
#: description, manufacturer, model, copyright and header manufacturer/model.
ICC_PATTERNS: dict[str, list[str]] = {
    "srgb": [r"\bsrgb\b", r"iec\s*61966-2[.-]1"],
    "display_p3": [r"display\s*p3", r"\bp3\b"],
    "adobe_rgb": [r"adobe\s*rgb", r"compatible\s+with\s+adobe"],
    # device (camera / phone vendor) profiles
    "camera": [
        r"nikon",
        r"canon",
        r"sony",
        r"fujifilm",
        r"olympus",
        r"panasonic",
        r"pentax",
        r"leica",
        r"hasselblad",
        r"samsung",
        r"huawei",
        r"xiaomi",
        r"google\s*pixel",
    ],
    # profiles embedded by editors or displays (screenshots, exports)
    "editor": [
        r"gimp",
        r"photoshop",
        r"lightroom",
        r"prophoto",
        r"\bskia\b",
        r"krita",
        r"affinity",
        r"color\s*lcd",
        r"generic\s*rgb",
        r"\blcms\b|little\s*cms",
    ],
}

#: PNG text keys written by generator front-ends besides ``parameters``/``prompt``/
#: ``workflow`` (lower-case; compared case-insensitively).
PNG_GENERATOR_TEXT_KEYS: list[str] = [
    "invokeai_metadata",
    "invokeai_graph",
    "sd-metadata",
    "dream",
    "generation_data",
    "fooocus_scheme",
    "negative_prompt",
    "sd:prompt",
    "comfy",
]

#: Case-insensitive words of generation parameters ("Steps: 20, Sampler: Euler a, CFG
#: scale: 7, Seed: …" in A1111, JSON keys in NovelAI/ComfyUI). A text containing at least
#: :data:`GENERATION_PARAMETER_MIN_MARKERS` distinct ones sets ``meta_text_generation_params``.
GENERATION_PARAMETER_MARKERS: list[str] = [
    "steps",
    "sampler",
    "cfg",
    "seed",
    "negative prompt",
    "ksampler",
    "scheduler",
    "guidance_scale",
    "num_inference_steps",
    "denoise",
]
GENERATION_PARAMETER_MIN_MARKERS = 3


# --------------------------------------------------------------------------------------
# the fixed feature list
# --------------------------------------------------------------------------------------
FORMATS = ("jpeg", "png", "webp", "tiff", "bmp", "gif", "heif", "other")
_PIL_FORMATS = {
    "JPEG": "jpeg",
    "MPO": "jpeg",
    "PNG": "png",
    "WEBP": "webp",
    "TIFF": "tiff",
    "BMP": "bmp",
    "DIB": "bmp",
    "GIF": "gif",
    "HEIF": "heif",
    "AVIF": "heif",
}
_EXTENSIONS = {
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".jpe": "jpeg",
    ".jfif": "jpeg",
    ".png": "png",
    ".webp": "webp",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".bmp": "bmp",
    ".dib": "bmp",
    ".gif": "gif",
    ".heic": "heif",
    ".heif": "heif",
    ".hif": "heif",
    ".avif": "heif",
}

_FEATURES: tuple[tuple[str, str], ...] = (
    # ---- file / container
    ("meta_file_bytes", "File size in bytes."),
    ("meta_file_bytes_per_pixel", "File size divided by width × height (compression level)."),
    (
        "meta_file_ext_mismatch",
        "1 if the file extension names another format than the content (e.g. a PNG saved as "
        ".jpg); NaN for unknown extensions or inputs without a name.",
    ),
    *(
        (f"meta_file_format_{f}", f"1 if the container is {f.upper()}, else 0 (one-hot).")
        for f in FORMATS[:-1]
    ),
    ("meta_file_format_other", "1 if the container is another Pillow-readable format."),
    (
        "meta_file_warning_count",
        "Number of warnings Pillow raised while reading the headers (corrupt EXIF, "
        "truncated chunks …).",
    ),
    # ---- image
    ("meta_image_width", "Width in pixels (stored, before EXIF orientation)."),
    ("meta_image_height", "Height in pixels (stored, before EXIF orientation)."),
    ("meta_image_aspect_ratio", "Width / height."),
    ("meta_image_square", "1 if width == height."),
    ("meta_image_dims_mult_8", "1 if width and height are both multiples of 8."),
    (
        "meta_image_dims_mult_64",
        "1 if width and height are both multiples of 64 (typical generator sizes).",
    ),
    ("meta_image_channels", "Number of bands of the stored mode (1 L/P, 3 RGB, 4 RGBA/CMYK …)."),
    (
        "meta_image_bit_depth",
        "Bits per sample (1, 8, 10, 12, 16, 32); HEIF reports the coded depth.",
    ),
    ("meta_image_has_alpha", "1 if the image has an alpha channel or a transparency key."),
    ("meta_image_palette", "1 for palette (P/PA) images."),
    ("meta_image_grayscale", "1 for grey-level modes (1, L, LA, I, F, I;16)."),
    ("meta_image_cmyk", "1 for CMYK / YCCK images."),
    ("meta_image_animated", "1 for animated GIF/PNG/WebP."),
    ("meta_image_multi_frame", "1 if the file holds more than one image (animation, MPO, pages)."),
    # ---- JPEG
    (
        "meta_jpeg_quality",
        "IJG quality (1–100) whose scaled standard luminance table is closest to the file's "
        "luminance quantisation table (see the method below).",
    ),
    ("meta_jpeg_quality_chroma", "Same estimate from the chrominance table."),
    (
        "meta_jpeg_qtable_ijg_error",
        "Mean absolute difference between the luminance table and the IJG table at "
        "meta_jpeg_quality: 0 for libjpeg/Pillow/OpenCV encoders, > 0 for camera or "
        "Photoshop tables.",
    ),
    ("meta_jpeg_qtable_count", "Number of quantisation tables."),
    ("meta_jpeg_qtable_mean", "Mean of the luminance quantisation table (coarseness)."),
    (
        "meta_jpeg_subsampling",
        "Chroma subsampling: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0, 3 = other; NaN for "
        "grey-level or CMYK JPEGs.",
    ),
    ("meta_jpeg_components", "Number of colour components (1 grey, 3 YCbCr, 4 CMYK/YCCK)."),
    ("meta_jpeg_progressive", "1 for progressive JPEG."),
    ("meta_jpeg_jfif_present", "1 if a JFIF APP0 segment is present."),
    ("meta_jpeg_jfif_unit", "JFIF density unit (0 none, 1 dpi, 2 dpcm)."),
    ("meta_jpeg_jfif_density", "JFIF horizontal density."),
    ("meta_jpeg_app_segment_count", "Number of APPn and COM segments."),
    ("meta_jpeg_app_bytes", "Total payload bytes of the APPn and COM segments."),
    ("meta_jpeg_app1_exif_present", "1 if an APP1 Exif segment is present."),
    ("meta_jpeg_app1_xmp_present", "1 if an APP1 XMP segment is present."),
    ("meta_jpeg_app2_mpf_present", "1 if an APP2 MPF (multi-picture, phones) segment is present."),
    (
        "meta_jpeg_app13_photoshop_present",
        "1 if an APP13 Photoshop image-resource segment is present.",
    ),
    ("meta_jpeg_app14_adobe_present", "1 if an APP14 Adobe segment is present."),
    ("meta_jpeg_app11_jumbf_present", "1 if an APP11 JUMBF segment (C2PA container) is present."),
    ("meta_jpeg_comment_present", "1 if a COM (comment) segment is present."),
    # ---- EXIF
    (
        "meta_exif_present",
        "1 if the file carries an EXIF block (for TIFF: an EXIF sub-IFD).",
    ),
    ("meta_exif_bytes", "Size of the EXIF block in bytes (0 without EXIF; NaN for TIFF files)."),
    (
        "meta_exif_parse_error",
        "1 if the EXIF block exists but could not be parsed (the EXIF tag features are then "
        "NaN; everything else is still computed).",
    ),
    ("meta_exif_parse_warnings", "Number of warnings exifread logged for the block."),
    ("meta_exif_tag_count", "Number of EXIF tags read (all IFDs, MakerNote excluded)."),
    ("meta_exif_ifd_count", "Number of distinct IFDs with tags (IFD0, EXIF, GPS, IFD1 …)."),
    ("meta_exif_ifd0_tag_count", "Tags in IFD0 (main image)."),
    ("meta_exif_exif_ifd_tag_count", "Tags in the EXIF sub-IFD."),
    ("meta_exif_gps_tag_count", "Tags in the GPS sub-IFD."),
    ("meta_exif_interop_tag_count", "Tags in the Interoperability sub-IFD."),
    ("meta_exif_thumbnail_tag_count", "Tags in IFD1 (thumbnail)."),
    ("meta_exif_make_present", "1 if Make is present and not empty."),
    ("meta_exif_model_present", "1 if Model is present and not empty."),
    ("meta_exif_software_present", "1 if Software is present and not empty."),
    ("meta_exif_datetime_present", "1 if DateTime (last change) is present."),
    ("meta_exif_datetime_original_present", "1 if DateTimeOriginal (capture) is present."),
    ("meta_exif_datetime_digitized_present", "1 if DateTimeDigitized is present."),
    ("meta_exif_exposure_time_present", "1 if ExposureTime is present."),
    ("meta_exif_fnumber_present", "1 if FNumber is present."),
    ("meta_exif_iso_present", "1 if ISOSpeedRatings / ISOSpeed is present."),
    ("meta_exif_focal_length_present", "1 if FocalLength is present."),
    ("meta_exif_lens_model_present", "1 if LensModel is present."),
    (
        "meta_exif_gps_present",
        "1 if a GPS position (GPSLatitude and GPSLongitude) is present.",
    ),
    (
        "meta_exif_gps_ifd_present",
        "1 if a GPS sub-IFD exists (possibly holding only GPSVersionID).",
    ),
    ("meta_exif_makernote_present", "1 if a MakerNote tag is present (read with Pillow)."),
    (
        "meta_exif_usercomment_present",
        "1 if UserComment holds text beyond its charset header (read with Pillow).",
    ),
    ("meta_exif_thumbnail_present", "1 if IFD1 points to a thumbnail."),
    ("meta_exif_orientation", "EXIF Orientation 1–8; NaN if absent or invalid."),
    (
        "meta_exif_datetime_delta_s",
        "DateTime − DateTimeOriginal in seconds (edits move DateTime); NaN unless both parse.",
    ),
    (
        "meta_exif_datetime_consistent",
        "1 if DateTime and DateTimeOriginal agree within 1 s, 0 if not; NaN unless both parse.",
    ),
    (
        "meta_exif_dims_mismatch",
        "1 if EXIF PixelXDimension × PixelYDimension differs from the stored size "
        "(resized/cropped after capture), 0 if equal; NaN if absent.",
    ),
    # ---- software (all software strings of the file)
    ("meta_software_camera", "1 if a software string matches a camera/phone firmware pattern."),
    ("meta_software_editor", "1 if a software string names a photo editor or image library."),
    ("meta_software_generator", "1 if a software string names an image generator."),
    ("meta_software_unknown", "1 if a software string is present but matches no category."),
    # ---- ICC
    ("meta_icc_present", "1 if an ICC profile is embedded."),
    ("meta_icc_bytes", "Size of the ICC profile in bytes (0 without profile)."),
    ("meta_icc_srgb", "1 if the profile is an sRGB profile (NaN if unparseable)."),
    ("meta_icc_display_p3", "1 if the profile is Display P3 (phones, Apple devices)."),
    ("meta_icc_adobe_rgb", "1 if the profile is Adobe RGB (1998) or compatible."),
    ("meta_icc_camera", "1 if the profile names a camera/phone vendor."),
    (
        "meta_icc_editor",
        "1 if the profile comes from an editor or a display (GIMP built-in, Photoshop, "
        "ProPhoto, Skia, Color LCD, Generic RGB …).",
    ),
    # ---- XMP
    ("meta_xmp_present", "1 if an XMP packet is present."),
    ("meta_xmp_bytes", "Size of the XMP packet in bytes (0 without XMP)."),
    ("meta_xmp_creator_tool_present", "1 if xmp:CreatorTool is set."),
    ("meta_xmp_history_present", "1 if an xmpMM:History (edit history) is present."),
    ("meta_xmp_derived_from_present", "1 if xmpMM:DerivedFrom is present (derived document)."),
    # ---- IPTC and DigitalSourceType
    ("meta_iptc_present", "1 if IPTC-IIM data is present (Photoshop IRB 0x0404 or TIFF tag)."),
    (
        "meta_iptc_dst_present",
        "1 if an IPTC DigitalSourceType is declared (XMP, C2PA or any scanned metadata).",
    ),
    ("meta_iptc_dst_trained", "1 if DigitalSourceType is trainedAlgorithmicMedia (AI generated)."),
    (
        "meta_iptc_dst_composite_trained",
        "1 if DigitalSourceType is compositeWithTrainedAlgorithmicMedia (AI edited).",
    ),
    (
        "meta_iptc_dst_algorithmic",
        "1 if DigitalSourceType is algorithmicMedia, compositeSynthetic or "
        "algorithmicallyEnhanced.",
    ),
    (
        "meta_iptc_dst_capture",
        "1 if DigitalSourceType is digitalCapture, computationalCapture or compositeCapture.",
    ),
    # ---- PNG text chunks
    ("meta_png_text_count", "Number of PNG tEXt/zTXt/iTXt chunks (NaN for other formats)."),
    ("meta_png_text_parameters", "1 if a 'parameters' text chunk is present (AUTOMATIC1111)."),
    ("meta_png_text_prompt", "1 if a 'prompt' text chunk is present (ComfyUI)."),
    ("meta_png_text_workflow", "1 if a 'workflow' text chunk is present (ComfyUI)."),
    ("meta_png_text_software", "1 if a 'Software' text chunk is present."),
    ("meta_png_text_comment", "1 if a 'Comment' or 'Description' text chunk is present."),
    (
        "meta_png_text_generator_key",
        "1 if another generator key is present (invokeai_metadata, sd-metadata, dream, …).",
    ),
    # ---- text content
    (
        "meta_text_generation_params",
        "1 if a text field (EXIF UserComment, PNG text, JPEG comment, XMP) contains "
        "generation parameters (≥ 3 of steps, sampler, cfg, seed, negative prompt …).",
    ),
    # ---- C2PA
    (
        "meta_c2pa_present",
        "1 if a C2PA manifest is found (JUMBF 'c2pa' label, PNG caBX chunk, 'c2pa' bytes).",
    ),
    ("meta_c2pa_jumbf_present", "1 if a JUMBF box ('jumb') or APP11 JUMBF segment is found."),
    # ---- summaries
    (
        "meta_summary_camera_trace",
        "1 if Make, Model and a capture tag (DateTimeOriginal or ExposureTime) are present.",
    ),
    (
        "meta_summary_editor_trace",
        "1 if any editing trace: editor software, editor ICC, XMP history or Photoshop APP13.",
    ),
    (
        "meta_summary_generator_trace",
        "1 if any generator trace: generator software, generator PNG key, generation "
        "parameters, or DigitalSourceType (composite)trainedAlgorithmicMedia.",
    ),
    (
        "meta_summary_no_metadata",
        "1 if the file has no EXIF, XMP, ICC, IPTC, text chunks or comment (stripped).",
    ),
)

#: Names of the fixed file features, in output order (sidecar columns come after them).
FEATURE_NAMES: tuple[str, ...] = tuple(name for name, _ in _FEATURES)
#: Feature name -> one-line meaning (the table of ``docs/features_metadata.md``).
FEATURE_DESCRIPTIONS: dict[str, str] = dict(_FEATURES)
_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}

# features an in-memory array defines
_ARRAY_FEATURES = (
    "meta_image_width",
    "meta_image_height",
    "meta_image_aspect_ratio",
    "meta_image_square",
    "meta_image_dims_mult_8",
    "meta_image_dims_mult_64",
    "meta_image_channels",
    "meta_image_bit_depth",
    "meta_image_has_alpha",
    "meta_image_grayscale",
)

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


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------
def _flag(value: Any) -> float:
    return 1.0 if value else 0.0


@lru_cache(maxsize=64)
def _compiled(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


def _matches(text: str, patterns: Iterable[str]) -> bool:
    rx = _compiled(tuple(patterns))
    return bool(rx is not None and rx.search(text))


def _as_text(value: Any, limit: int = MAX_TEXT_CHARS) -> str:
    """Any metadata value as a str for pattern matching (bytes decoded leniently)."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value[:limit])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    else:
        text = str(value)[:limit]
    return text.replace("\x00", " ").strip()


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


def sidecar_feature_name(column: Any) -> str:
    """The feature name of a sidecar column: ``meta_sidecar_<sanitised lower-case name>``.

    >>> sidecar_feature_name("Original Width (px)")
    'meta_sidecar_original_width_px'
    """
    s = re.sub(r"[^a-z0-9]+", "_", str(column).lower()).strip("_")
    if not s:
        s = "column"
    return f"meta_sidecar_{s}"


def _sidecar_names(columns: Sequence[Any]) -> list[str]:
    names: list[str] = []
    for col in columns:
        base = name = sidecar_feature_name(col)
        k = 2
        while name in names or name in _INDEX:
            name = f"{base}_{k}"
            k += 1
        names.append(name)
    return names


def _to_float(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


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
    from PIL import Image, UnidentifiedImageError

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
        heif_hint = ""
        heif_like = magic[4:8] == b"ftyp" or name.lower().endswith(
            (".heic", ".heif", ".avif", ".hif")
        )
        if heif_like and not _register_heif():
            heif_hint = " (HEIC/HEIF needs the optional extra: pip install deepfeat[heif])"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                img = Image.open(fh)
            except UnidentifiedImageError as exc:
                raise ImageLoadError(name, f"not a recognised image format{heif_hint}") from exc
            except Image.DecompressionBombError as exc:
                raise ImageLoadError(name, f"decompression bomb: {exc}") from exc
            except Exception as exc:  # any header failure: not readable
                raise ImageLoadError(
                    name, f"unreadable header: {exc or type(exc).__name__}"
                ) from exc
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
        for key, name in zip(keys, _sidecar_names(keys)):
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
