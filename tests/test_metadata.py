"""Metadata features: real EXIF samples, crafted files, the transformer and its sidecar join."""

from __future__ import annotations

import io
import logging
import math
import pickle
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, PngImagePlugin
from sklearn.base import clone

import deepfeat._io as deepfeat_io
from deepfeat import ImageLoadError, MetadataFeatures, read_metadata
from deepfeat.features import _meta_tables
from deepfeat.features._meta_parse import estimate_jpeg_quality
from deepfeat.features._meta_tables import FEATURE_NAMES

REPO = Path(__file__).resolve().parents[1]
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


# --------------------------------------------------------------------------------------
# helpers: crafted files
# --------------------------------------------------------------------------------------
def _image(size=(64, 48), mode="RGB") -> Image.Image:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    return img.convert(mode) if mode != "RGB" else img


def _jpeg_bytes(img: Image.Image | None = None, **save) -> bytes:
    buf = io.BytesIO()
    (img or _image()).save(buf, "JPEG", **save)
    return buf.getvalue()


def _png_bytes(img: Image.Image | None = None, **save) -> bytes:
    buf = io.BytesIO()
    (img or _image()).save(buf, "PNG", **save)
    return buf.getvalue()


def _camera_exif() -> Image.Exif:
    ex = Image.Exif()
    ex[0x010F] = "Canon"
    ex[0x0110] = "Canon EOS 5D Mark IV"
    ex[0x0131] = "Firmware Version 1.0.4"
    ex[0x0132] = "2023:05:01 10:00:00"
    ex[0x0112] = 6
    sub = ex.get_ifd(0x8769)
    sub[0x9003] = "2023:05:01 10:00:00"
    sub[0x829A] = 0.004
    sub[0x829D] = 2.8
    sub[0x8827] = 200
    sub[0x920A] = 50.0
    sub[0xA434] = "EF50mm f/1.8 STM"
    sub[0x927C] = b"\x00\x01" * 40
    gps = ex.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 22.0, 0.0)
    gps[3] = "E"
    gps[4] = (4.0, 53.0, 0.0)
    return ex


def _png_chunk(ctype: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + ctype
        + data
        + struct.pack(">I", zlib.crc32(ctype + data) & 0xFFFFFFFF)
    )


def _insert_before_iend(png: bytes, chunk: bytes) -> bytes:
    pos = png.rindex(b"IEND") - 4
    return png[:pos] + chunk + png[pos:]


XMP_TEMPLATE = (
    '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
    'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    'xmp:CreatorTool="{tool}" '
    'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/{dst}"/>'
    '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)

A1111_PARAMS = (
    "portrait photo of a woman, 85mm\nNegative prompt: blurry, lowres\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 512x512"
)


# --------------------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------------------
def test_feature_names_fixed_valid_and_documented():
    assert len(FEATURE_NAMES) >= 40
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    for name in FEATURE_NAMES:
        assert NAME_RE.match(name), name
        assert "__" not in name and name.startswith("meta_"), name
    doc = (REPO / "docs" / "features_metadata.md").read_text(encoding="utf-8")
    missing = [n for n in FEATURE_NAMES if f"`{n}`" not in doc]
    assert not missing, f"undocumented features: {missing}"


def test_same_keys_in_same_order_for_every_input(tmp_path):
    png = tmp_path / "a.png"
    png.write_bytes(_png_bytes())
    outs = [
        read_metadata(_jpeg_bytes()),
        read_metadata(png),
        read_metadata(np.zeros((10, 20, 3), np.uint8)),
    ]
    for out in outs:
        assert list(out) == list(FEATURE_NAMES)
        assert all(isinstance(v, float) for v in out.values())


# --------------------------------------------------------------------------------------
# crafted files
# --------------------------------------------------------------------------------------
def test_camera_exif_jpeg_and_its_stripped_copy():
    img = _image()
    cam = read_metadata(_jpeg_bytes(img, exif=_camera_exif(), quality=90))
    for key in (
        "meta_exif_present",
        "meta_exif_make_present",
        "meta_exif_model_present",
        "meta_exif_datetime_original_present",
        "meta_exif_exposure_time_present",
        "meta_exif_fnumber_present",
        "meta_exif_iso_present",
        "meta_exif_focal_length_present",
        "meta_exif_lens_model_present",
        "meta_exif_gps_present",
        "meta_exif_makernote_present",
        "meta_software_camera",
        "meta_summary_camera_trace",
        "meta_exif_datetime_consistent",
    ):
        assert cam[key] == 1.0, key
    assert cam["meta_exif_orientation"] == 6.0
    assert cam["meta_exif_datetime_delta_s"] == 0.0
    assert cam["meta_exif_gps_tag_count"] == 4.0
    assert cam["meta_exif_tag_count"] >= 15
    assert cam["meta_exif_parse_error"] == 0.0
    assert cam["meta_software_editor"] == cam["meta_software_generator"] == 0.0
    assert cam["meta_summary_no_metadata"] == 0.0

    stripped = read_metadata(_jpeg_bytes(img, quality=90))
    assert stripped["meta_exif_present"] == 0.0
    assert stripped["meta_exif_tag_count"] == 0.0
    assert stripped["meta_exif_make_present"] == 0.0
    assert math.isnan(stripped["meta_exif_orientation"])
    assert stripped["meta_summary_camera_trace"] == 0.0
    assert stripped["meta_summary_no_metadata"] == 1.0
    # container and JPEG features do not depend on the EXIF block
    assert stripped["meta_jpeg_quality"] == cam["meta_jpeg_quality"] == 90.0
    assert stripped["meta_image_width"] == cam["meta_image_width"] == 64.0


def test_edited_exif_dates_and_sizes():
    ex = _camera_exif()
    ex[0x0131] = "Adobe Photoshop 25.0 (Windows)"
    ex[0x0132] = "2023:05:02 10:00:00"  # saved a day after capture
    sub = ex.get_ifd(0x8769)
    sub[0xA002] = 6000  # the camera's size, not the stored one
    sub[0xA003] = 4000
    f = read_metadata(_jpeg_bytes(exif=ex))
    assert f["meta_software_editor"] == 1.0 and f["meta_software_camera"] == 0.0
    assert f["meta_exif_datetime_delta_s"] == 86400.0
    assert f["meta_exif_datetime_consistent"] == 0.0
    assert f["meta_exif_dims_mismatch"] == 1.0
    assert f["meta_summary_editor_trace"] == 1.0


@pytest.mark.parametrize("quality", [50, 75, 95])
def test_jpeg_quality_estimate_matches_pillow(quality):
    f = read_metadata(_jpeg_bytes(quality=quality))
    assert abs(f["meta_jpeg_quality"] - quality) <= 2
    assert abs(f["meta_jpeg_quality_chroma"] - quality) <= 2
    assert f["meta_jpeg_qtable_ijg_error"] == 0.0
    assert f["meta_jpeg_qtable_count"] == 2.0


def test_quality_estimate_of_a_non_ijg_table():
    q, err = estimate_jpeg_quality([3] * 64)
    assert 1 <= q <= 100 and err > 0
    assert math.isnan(estimate_jpeg_quality([1, 2, 3])[0])


@pytest.mark.parametrize(("subsampling", "code"), [(0, 0.0), (1, 1.0), (2, 2.0)])
def test_chroma_subsampling(subsampling, code):
    f = read_metadata(_jpeg_bytes(subsampling=subsampling))
    assert f["meta_jpeg_subsampling"] == code
    assert f["meta_jpeg_components"] == 3.0


def test_grayscale_and_progressive_jpeg():
    gray = read_metadata(_jpeg_bytes(_image(mode="L")))
    assert gray["meta_jpeg_components"] == 1.0
    assert math.isnan(gray["meta_jpeg_subsampling"])
    assert gray["meta_image_grayscale"] == 1.0 and gray["meta_image_channels"] == 1.0
    assert gray["meta_jpeg_progressive"] == 0.0
    prog = read_metadata(_jpeg_bytes(progressive=True))
    assert prog["meta_jpeg_progressive"] == 1.0


def test_jpeg_markers_comment_and_jfif():
    f = read_metadata(_jpeg_bytes(comment=b"CREATOR: gd-jpeg v1.0 (using IJG JPEG v80)"))
    assert f["meta_jpeg_comment_present"] == 1.0
    assert f["meta_jpeg_jfif_present"] == 1.0
    assert f["meta_software_editor"] == 1.0  # gd-jpeg re-encode
    assert f["meta_summary_no_metadata"] == 0.0


def test_png_parameters_chunk_flags_a_generator(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111_PARAMS)
    f = read_metadata(_png_bytes(pnginfo=info))
    assert f["meta_file_format_png"] == 1.0
    assert f["meta_png_text_parameters"] == 1.0
    assert f["meta_png_text_count"] == 1.0
    assert f["meta_text_generation_params"] == 1.0
    assert f["meta_summary_generator_trace"] == 1.0
    assert f["meta_summary_no_metadata"] == 0.0
    assert math.isnan(f["meta_jpeg_quality"])  # JPEG features undefined for a PNG

    comfy = PngImagePlugin.PngInfo()
    comfy.add_text("prompt", '{"3": {"class_type": "KSampler", "inputs": {"seed": 1}}}')
    comfy.add_text("workflow", "{}")
    comfy.add_text("Software", "NovelAI")
    g = read_metadata(_png_bytes(pnginfo=comfy))
    assert g["meta_png_text_prompt"] == g["meta_png_text_workflow"] == 1.0
    assert g["meta_png_text_software"] == 1.0
    assert g["meta_software_generator"] == 1.0
    assert g["meta_png_text_parameters"] == 0.0

    plain = read_metadata(_png_bytes())
    assert plain["meta_png_text_count"] == 0.0
    assert plain["meta_summary_generator_trace"] == 0.0
    assert plain["meta_summary_no_metadata"] == 1.0


def test_png_text_chunk_after_image_data_is_found():
    late = _insert_before_iend(
        _png_bytes(), _png_chunk(b"tEXt", b"parameters\x00" + A1111_PARAMS.encode())
    )
    f = read_metadata(late)
    assert f["meta_png_text_parameters"] == 1.0
    assert f["meta_summary_generator_trace"] == 1.0


@pytest.mark.parametrize("container", ["jpeg", "png"])
def test_xmp_digital_source_type(container):
    def make(dst: str, tool: str) -> bytes:
        xmp = XMP_TEMPLATE.format(dst=dst, tool=tool).encode()
        if container == "jpeg":
            return _jpeg_bytes(xmp=xmp)
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp.decode())
        return _png_bytes(pnginfo=info)

    ai = read_metadata(make("trainedAlgorithmicMedia", "Adobe Firefly"))
    assert ai["meta_xmp_present"] == 1.0 and ai["meta_xmp_creator_tool_present"] == 1.0
    assert ai["meta_iptc_dst_present"] == ai["meta_iptc_dst_trained"] == 1.0
    assert ai["meta_iptc_dst_composite_trained"] == 0.0
    assert ai["meta_software_generator"] == 1.0
    assert ai["meta_summary_generator_trace"] == 1.0

    edit = read_metadata(make("compositeWithTrainedAlgorithmicMedia", "Adobe Photoshop 25.0"))
    assert edit["meta_iptc_dst_composite_trained"] == 1.0
    assert edit["meta_iptc_dst_trained"] == 0.0
    assert edit["meta_software_editor"] == 1.0

    cam = read_metadata(make("digitalCapture", "Ver.1.00"))
    assert cam["meta_iptc_dst_capture"] == 1.0 and cam["meta_iptc_dst_trained"] == 0.0
    assert cam["meta_summary_generator_trace"] == 0.0


def test_c2pa_markers():
    jumbf = b"JP\x00\x01\x00\x00\x00\x01\x00\x00\x00\x20jumb\x00\x00\x00\x18jumdc2pa\x00"
    app11 = b"\xff\xeb" + struct.pack(">H", len(jumbf) + 2) + jumbf
    jpg = read_metadata(_jpeg_bytes(extra=app11))
    assert jpg["meta_jpeg_app11_jumbf_present"] == 1.0
    assert jpg["meta_c2pa_present"] == jpg["meta_c2pa_jumbf_present"] == 1.0

    png = _png_bytes()
    pos = png.index(b"IDAT") - 4
    cabx = _png_chunk(b"caBX", b"\x00\x00\x00\x20jumb\x00\x00\x00\x18jumdc2pa\x00")
    f = read_metadata(png[:pos] + cabx + png[pos:])
    assert f["meta_c2pa_present"] == f["meta_c2pa_jumbf_present"] == 1.0
    assert read_metadata(_jpeg_bytes())["meta_c2pa_present"] == 0.0


def test_a1111_usercomment_in_jpeg():
    ex = Image.Exif()
    ex.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + A1111_PARAMS.encode("utf-16-be")
    f = read_metadata(_jpeg_bytes(exif=ex))
    assert f["meta_exif_usercomment_present"] == 1.0
    assert f["meta_text_generation_params"] == 1.0
    assert f["meta_summary_generator_trace"] == 1.0


def test_truncated_exif_keeps_the_other_features():
    full = _jpeg_bytes(exif=_camera_exif().tobytes())
    exif = _camera_exif().tobytes()
    for cut in (10, 40, 120):
        f = read_metadata(_jpeg_bytes(exif=exif[:cut]))
        assert f["meta_exif_present"] == 1.0
        assert f["meta_jpeg_quality"] == 75.0  # container/JPEG features still there
        assert f["meta_image_width"] == 64.0
        # either partial tags or the corrupt flag, never an exception
        assert f["meta_exif_parse_error"] == 1.0 or f["meta_exif_tag_count"] < 17
    assert read_metadata(full)["meta_exif_parse_error"] == 0.0


def test_garbage_exif_block_is_flagged():
    f = read_metadata(_jpeg_bytes(exif=b"Exif\x00\x00this is not a TIFF header at all"))
    assert f["meta_exif_parse_error"] == 1.0
    assert math.isnan(f["meta_exif_make_present"])
    assert f["meta_jpeg_quality"] == 75.0


@pytest.mark.timeout(60)
def test_truncated_app1_segment_is_a_recorded_failure_or_features(tmp_path):
    # APP1 claims 8 KiB but the file ends after 100 bytes: no frame header at all
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe1\x20\x00Exif\x00\x00II*\x00" + b"\x00" * 90)
    with pytest.raises(ImageLoadError):
        read_metadata(broken)
    # APP1 length overshoots into a real image: whatever Pillow makes of it, no exception
    good = bytearray(_jpeg_bytes(exif=_camera_exif()))
    i = good.index(b"\xff\xe1")
    good[i + 2 : i + 4] = struct.pack(">H", 0xFFF0)
    overshoot = tmp_path / "overshoot.jpg"
    overshoot.write_bytes(bytes(good))
    tr = MetadataFeatures(sidecar=None, on_error="record")
    X = tr.fit_transform([str(broken), str(overshoot)])
    assert X.shape == (2, len(FEATURE_NAMES))
    assert np.isnan(X[0]).all()
    assert list(tr.failures_["stage"]) == ["meta"] * len(tr.failures_)
    assert str(broken) in set(tr.failures_["path"])
    assert len(tr.failures_) == 1 + int(np.isnan(X[1]).all())


@pytest.mark.timeout(60)
def test_huge_and_hostile_tag_counts():
    ex = Image.Exif()
    for k in range(2500):
        ex[0xC000 + k] = k
    f = read_metadata(_jpeg_bytes(exif=ex))
    assert f["meta_exif_tag_count"] >= 2500
    assert f["meta_exif_parse_error"] == 0.0
    # IFD0 claims 65535 entries in a 100-byte block: exifread's read budget stops it
    hostile = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + b"\x01" * 100
    g = read_metadata(_jpeg_bytes(exif=hostile))
    assert g["meta_exif_parse_error"] == 1.0
    assert g["meta_jpeg_quality"] == 75.0


def test_non_utf8_strings():
    ex = Image.Exif()
    ex[0x010F] = b"Caf\xe9\xff"
    ex[0x0131] = b"\xff\xfeEditor\xe9"
    ex[0x0110] = b"\x80\x81\x82 model"
    f = read_metadata(_jpeg_bytes(exif=ex, comment=b"\xff\xfe\x00bad comment \xe9"))
    assert f["meta_exif_make_present"] == f["meta_exif_software_present"] == 1.0
    assert f["meta_exif_parse_warnings"] >= 1
    assert f["meta_software_unknown"] == 1.0
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "\u00ff\u00fe weird \u00e9", zip=True)
    assert read_metadata(_png_bytes(pnginfo=info))["meta_png_text_software"] == 1.0


def test_other_containers_and_extension_mismatch(tmp_path):
    base = _image()
    (tmp_path / "a.webp").write_bytes(b"")
    base.save(tmp_path / "a.webp", "WEBP")
    base.save(tmp_path / "a.bmp", "BMP")
    base.convert("RGBA").save(tmp_path / "a.tiff", "TIFF")
    frames = [base.convert("P"), base.rotate(90).convert("P")]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    (tmp_path / "fake.jpg").write_bytes(_png_bytes())
    expected = {"a.webp": "webp", "a.bmp": "bmp", "a.tiff": "tiff", "a.gif": "gif"}
    for name, fmt in expected.items():
        f = read_metadata(tmp_path / name)
        assert f[f"meta_file_format_{fmt}"] == 1.0, name
        assert sum(f[f"meta_file_format_{x}"] for x in _meta_tables.FORMATS) == 1.0
        assert f["meta_file_ext_mismatch"] == 0.0
    assert read_metadata(tmp_path / "a.gif")["meta_image_animated"] == 1.0
    assert read_metadata(tmp_path / "a.gif")["meta_image_palette"] == 1.0
    assert read_metadata(tmp_path / "a.tiff")["meta_image_has_alpha"] == 1.0
    assert read_metadata(tmp_path / "fake.jpg")["meta_file_ext_mismatch"] == 1.0
    f = read_metadata(tmp_path / "a.bmp")
    assert f["meta_file_bytes"] == (tmp_path / "a.bmp").stat().st_size
    assert f["meta_image_animated"] == 0.0


def test_in_memory_array_defines_only_its_shape():
    f = read_metadata(np.zeros((48, 64, 4), np.uint8))
    assert f["meta_image_width"] == 64.0 and f["meta_image_height"] == 48.0
    assert f["meta_image_channels"] == 4.0 and f["meta_image_has_alpha"] == 1.0
    assert f["meta_image_dims_mult_8"] == 1.0 and f["meta_image_bit_depth"] == 8.0
    defined = {k for k, v in f.items() if not math.isnan(v)}
    assert defined == set(_meta_tables._ARRAY_FEATURES)


def test_not_an_image_raises_or_is_recorded(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("hello, not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageLoadError, match="not a recognised image"):
        read_metadata(text)
    with pytest.raises(ImageLoadError, match="empty"):
        read_metadata(empty)
    with pytest.raises(ImageLoadError, match="no such file"):
        read_metadata(tmp_path / "missing.jpg")
    good = tmp_path / "ok.jpg"
    good.write_bytes(_jpeg_bytes())
    tr = MetadataFeatures(sidecar=None, on_error="record")
    X = tr.fit_transform([str(text), str(good), str(empty)])
    assert np.isnan(X[0]).all() and np.isnan(X[2]).all()
    assert not np.isnan(X[1, : len(FEATURE_NAMES)]).all()
    assert list(tr.failures_["path"]) == [str(text), str(empty)]
    assert set(tr.failures_["stage"]) == {"meta"}
    with pytest.raises(ImageLoadError):
        MetadataFeatures(sidecar=None).fit_transform([str(good), str(text)])


def test_heif_hint_without_the_plugin(tmp_path, monkeypatch):
    monkeypatch.setattr(deepfeat_io, "_register_heif", lambda: False)
    fake = tmp_path / "photo.heic"
    fake.write_bytes(b"\x00\x00\x00\x18ftypzzzz" + b"\x00" * 40)
    with pytest.raises(ImageLoadError, match=r"deepfeat\[heif\]"):
        read_metadata(fake)


def test_software_table_is_extensible(monkeypatch):
    ex = Image.Exif()
    ex[0x0131] = "Acme FaceForge 2.0"
    data = _jpeg_bytes(exif=ex)
    assert read_metadata(data)["meta_software_unknown"] == 1.0
    monkeypatch.setitem(
        _meta_tables.SOFTWARE_PATTERNS,
        "generator",
        [*_meta_tables.SOFTWARE_PATTERNS["generator"], "faceforge"],
    )
    f = read_metadata(data)
    assert f["meta_software_generator"] == 1.0 and f["meta_software_unknown"] == 0.0


def test_read_metadata_sidecar_mapping():
    f = read_metadata(_jpeg_bytes(), sidecar={"original_width": 186, "Odd Name!": "x"})
    assert list(f)[: len(FEATURE_NAMES)] == list(FEATURE_NAMES)
    assert f["meta_sidecar_original_width"] == 186.0
    assert math.isnan(f["meta_sidecar_odd_name"])


def test_exifread_log_records_are_counted_not_printed(caplog):
    ex = Image.Exif()
    ex[0x010F] = b"Caf\xe9\xff"
    data = _jpeg_bytes(exif=ex)
    with caplog.at_level(logging.WARNING, logger="exifread"):
        f = read_metadata(data)
    assert f["meta_exif_parse_warnings"] >= 1
    assert not [r for r in caplog.records if r.name == "exifread"]


# --------------------------------------------------------------------------------------
# real files
# --------------------------------------------------------------------------------------
def _sample_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg", ".tif", ".tiff", ".heic", ".heif")
    )


@pytest.mark.realdata
@pytest.mark.timeout(120)
def test_every_exif_sample_gives_features_or_a_reason(exif_dir):
    files = _sample_files(exif_dir)
    assert len(files) >= 90
    assert any("invalid" in p.parts for p in files) and any("tests" in p.parts for p in files)
    tr = MetadataFeatures(sidecar=None, on_error="record")
    X = tr.fit_transform([str(p) for p in files])
    assert X.shape == (len(files), len(FEATURE_NAMES))
    failed = set(tr.failures_["path"])
    assert all(tr.failures_["reason"].str.len() > 0)
    for row, path in zip(X, files):
        assert (str(path) in failed) == bool(np.isnan(row).all()), path
    # pillow-heif is installed with the test extras: nothing should fail here
    assert not failed, tr.failures_.to_string()
    col = {n: i for i, n in enumerate(FEATURE_NAMES)}
    fmt = X[:, col["meta_file_format_jpeg"]] + X[:, col["meta_file_format_tiff"]]
    fmt += X[:, col["meta_file_format_heif"]]
    assert (fmt == 1).all()


@pytest.mark.realdata
def test_known_facts_of_exif_samples(exif_dir):
    def meta(rel: str) -> dict[str, float]:
        return read_metadata(exif_dir / rel)

    canon = meta("jpg/Canon_40D.jpg")
    assert canon["meta_exif_make_present"] == 1.0
    assert canon["meta_summary_camera_trace"] == 1.0  # camera EXIF …
    assert canon["meta_software_editor"] == 1.0  # … re-saved by GIMP 2.4.5
    assert canon["meta_exif_gps_present"] == 0.0  # a GPS IFD with only GPSVersionID
    assert canon["meta_exif_gps_ifd_present"] == 1.0
    assert canon["meta_icc_srgb"] == 1.0
    assert canon["meta_jpeg_qtable_ijg_error"] == 0.0  # libjpeg tables (GIMP)

    gps = meta("jpg/gps/DSCN0010.jpg")
    assert gps["meta_exif_gps_present"] == 1.0 and gps["meta_exif_make_present"] == 1.0
    assert gps["meta_exif_makernote_present"] == 1.0

    for k in (3, 6, 8):
        assert meta(f"jpg/orientation/landscape_{k}.jpg")["meta_exif_orientation"] == float(k)

    pse = meta("jpg/tests/30-type_error.jpg")  # Software: Adobe Photoshop Elements 7.0
    assert pse["meta_software_editor"] == 1.0 and pse["meta_exif_make_present"] == 0.0
    blue = meta("jpg/xmp/BlueSquare.jpg")  # Photoshop CS2, XMP, IPTC
    assert blue["meta_software_editor"] == blue["meta_xmp_present"] == 1.0
    assert blue["meta_jpeg_app13_photoshop_present"] == 1.0
    assert blue["meta_jpeg_qtable_ijg_error"] > 0  # Photoshop's own tables
    assert meta("jpg/exif-org/fujifilm-dx10.jpg")["meta_software_camera"] == 1.0

    iphone = meta("heic/IMG_5195.HEIC")
    assert iphone["meta_file_format_heif"] == 1.0
    assert iphone["meta_icc_display_p3"] == 1.0
    assert iphone["meta_software_camera"] == 1.0  # iOS version string
    assert iphone["meta_exif_gps_present"] == 1.0
    assert math.isnan(iphone["meta_jpeg_quality"])

    tiff = meta("tiff/Crémieux11.tiff")
    assert tiff["meta_file_format_tiff"] == 1.0 and tiff["meta_image_has_alpha"] == 1.0


# --------------------------------------------------------------------------------------
# transformer
# --------------------------------------------------------------------------------------
@pytest.fixture
def jpeg_files(tmp_path) -> list[str]:
    paths = []
    for k, q in enumerate((60, 80, 90, 70)):
        p = tmp_path / f"img{k}.jpg"
        extra = {"exif": _camera_exif()} if k % 2 else {}
        p.write_bytes(_jpeg_bytes(quality=q, **extra))
        paths.append(str(p))
    return paths


def _dataset(paths: list[str]) -> pd.DataFrame:
    n = len(paths)
    return pd.DataFrame(
        {
            "path": paths,
            "label": [0, 1] * (n // 2),
            "group": [f"g{k}" for k in range(n)],
            "original_width": np.arange(n) * 10.0 + 100,
            "original_height": np.arange(n) * 10 + 50,
            "videoname": [f"v{k}.mp4" for k in range(n)],
            "original": ["", "v0.mp4"] * (n // 2),
            "pair_group": [0, 0, 1, 1][:n],
        }
    )


def test_transformer_names_output_and_set_output(jpeg_files):
    tr = MetadataFeatures(sidecar=None)
    X = tr.fit_transform(jpeg_files)
    names = list(tr.get_feature_names_out())
    assert names == list(FEATURE_NAMES) and tr.n_features_out_ == len(names) >= 40
    assert X.dtype == np.float32 and X.shape == (len(jpeg_files), len(names))
    assert X[:, names.index("meta_jpeg_quality")].tolist() == [60, 80, 90, 70]
    df = MetadataFeatures(sidecar=None).set_output(transform="pandas").fit_transform(jpeg_files)
    assert isinstance(df, pd.DataFrame) and list(df.columns) == names


def test_sidecar_auto_join_and_leak_refusal(jpeg_files, caplog):
    data = _dataset(jpeg_files)
    data["is_fake"] = data["label"] * 1.0  # numeric copy of the label
    assert MetadataFeatures().fit(data, data["label"]).sidecar_columns_ == []  # opt-in only
    tr = MetadataFeatures(sidecar="auto")
    with caplog.at_level(logging.WARNING):
        out = tr.set_output(transform="pandas").fit(data, data["label"]).transform(data)
    assert tr.sidecar_columns_ == ["original_width", "original_height"]
    assert "is_fake" in caplog.text and "pair_group" not in tr.sidecar_columns_
    assert list(out.columns[-2:]) == ["meta_sidecar_original_width", "meta_sidecar_original_height"]
    np.testing.assert_array_equal(out["meta_sidecar_original_width"], data["original_width"])
    assert (out.index == data.index).all()
    # plain paths: an error, never a silent NaN; NaN only when allowed explicitly
    from deepfeat.features._meta import MissingSidecarError

    with pytest.raises(MissingSidecarError, match="original_width"):
        tr.transform(jpeg_files)
    with pytest.raises(MissingSidecarError):
        tr.transform(data.drop(columns="original_height"))
    plain = tr.set_params(allow_missing_sidecar=True).transform(jpeg_files)
    assert list(plain.columns) == list(out.columns)
    assert plain["meta_sidecar_original_width"].isna().all()

    for bad in (["original"], ["label"], ["videoname"], ["pair_group"], ["Group"]):
        with pytest.raises(ValueError, match="leak"):
            MetadataFeatures(sidecar=bad).fit(data)
    with pytest.raises(ValueError, match="equals the label"):
        MetadataFeatures(sidecar=["is_fake"]).fit(data, data["label"])
    with pytest.raises(ValueError, match="not in X"):
        MetadataFeatures(sidecar=["nope"]).fit(data)
    explicit = MetadataFeatures(sidecar=["original_height"]).fit(data)
    assert list(explicit.get_feature_names_out())[-1] == "meta_sidecar_original_height"
    assert explicit.transform(data)[:, -1].tolist() == data["original_height"].tolist()
    assert MetadataFeatures(sidecar=None).fit(data).sidecar_columns_ == []


def test_pickle_and_clone(jpeg_files):
    data = _dataset(jpeg_files)
    tr = MetadataFeatures(sidecar="auto", on_error="record").fit(data)
    X = tr.transform(data)
    again = pickle.loads(pickle.dumps(tr))
    np.testing.assert_array_equal(again.transform(data), X)
    fresh = clone(tr)
    assert fresh.get_params() == tr.get_params()
    assert not hasattr(fresh, "sidecar_columns_")
    np.testing.assert_array_equal(fresh.fit(data).transform(data), X)


@pytest.mark.realdata
def test_dfdc_faces_through_load_dataset(dfdc_dir):
    from deepfeat import load_dataset

    data = load_dataset(dfdc_dir).head(40)
    tr = MetadataFeatures(sidecar=["original_width"], on_error="record")
    out = tr.set_output(transform="pandas").fit(data, data["label"]).transform(data)
    assert tr.failures_.empty
    assert "meta_sidecar_original_width" in out.columns
    np.testing.assert_allclose(
        out["meta_sidecar_original_width"], data["original_width"].astype(float)
    )
    assert out["meta_file_format_jpeg"].eq(1).all()
    assert out["meta_jpeg_quality"].between(1, 100).all()
    assert out["meta_image_width"].eq(224).all()


def test_kernel_rows_match_transform_and_pickle(tmp_path):
    from deepfeat.features._meta_kernel import metadata_vector

    path = tmp_path / "a.jpg"
    Image.new("RGB", (40, 30), "gray").save(path, quality=80)
    data = pd.DataFrame({"path": [str(path)], "label": [0], "original_width": [123]})
    tr = MetadataFeatures(sidecar=["original_width"]).fit(data)
    kernel = pickle.loads(pickle.dumps(tr.kernel()))
    row = kernel(str(path))
    assert row.shape == (len(tr.get_feature_names_out()),) and np.isnan(row[-1])
    np.testing.assert_array_equal(row[:-1], metadata_vector(str(path)))
    full = tr.transform(data)
    np.testing.assert_array_equal(full[0, :-1], row[:-1].astype(np.float32))
    assert full[0, -1] == 123


def test_one_sidecar_join_with_one_row_rule(tmp_path):
    """A file that fails every group gets no sidecar value anywhere (it stays a failed row)."""
    import pandas as pd

    from deepfeat import ImageFeatures
    from deepfeat.features._cache import extract_table

    good = tmp_path / "good.jpg"
    good.write_bytes(_jpeg_bytes())
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    df = pd.DataFrame({"path": [str(good), str(bad)], "width_px": [120.0, 130.0]})
    meta = MetadataFeatures(sidecar=["width_px"], on_error="record").fit(df)
    ext = ImageFeatures(groups=("fft", "meta"), meta=meta).fit(df)
    col = "meta_sidecar_width_px"
    names = list(ext.get_feature_names_out())
    by_meta = meta.transform(df)[:, meta.get_feature_names_out().tolist().index(col)]
    by_ext, _ = ext.transform_with_failures(df)
    by_cache, _ = extract_table(df, ext, cache_dir=tmp_path / "cache")
    for values in (by_meta, by_ext[:, names.index(col)], by_cache[col].to_numpy()):
        assert values[0] == 120.0 and np.isnan(values[1])
    assert np.isnan(by_ext[1]).all() and by_cache.iloc[1].isna().all()
