"""The metadata feature list and the documented pattern tables (software, ICC, PNG text keys,
generation markers), plus the small matching helpers over them.

Extend a table by appending to it (new categories are ignored: the columns are fixed)::

    from deepfeat.features import _meta_tables
    _meta_tables.SOFTWARE_PATTERNS["generator"].append(r"my-diffusion-app")
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

__all__ = [
    "EXIF_READ_BUDGET",
    "FEATURE_DESCRIPTIONS",
    "FEATURE_NAMES",
    "FORMATS",
    "GENERATION_PARAMETER_MARKERS",
    "GENERATION_PARAMETER_MIN_MARKERS",
    "ICC_PATTERNS",
    "MAX_TEXT_CHARS",
    "MAX_TIFF_EXIF_BYTES",
    "PNG_GENERATOR_TEXT_KEYS",
    "SCAN_HEAD_BYTES",
    "SCAN_TAIL_BYTES",
    "SOFTWARE_PATTERNS",
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


def _to_float(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out
