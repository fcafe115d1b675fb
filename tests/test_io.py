"""load_image: every mode to RGB, orientation, and every kind of bad input → ImageLoadError."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from deepfeat import ImageLoadError, load_image


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _gradient(w: int = 20, h: int = 12) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.float64)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.float64)[:, None].repeat(w, 1)
    return np.stack([x, y, 255 - x], axis=2).astype(np.uint8)


MODES = {
    "RGB": lambda: Image.fromarray(_gradient()),
    "L": lambda: Image.fromarray(_gradient()[:, :, 0]),
    "LA": lambda: Image.merge("LA", [Image.fromarray(_gradient()[:, :, 0])] * 2),
    "P": lambda: Image.fromarray(_gradient()).convert("P"),
    "RGBA": lambda: Image.fromarray(np.dstack([_gradient(), np.full((12, 20), 128, np.uint8)])),
    "CMYK": lambda: Image.fromarray(_gradient()).convert("CMYK"),
    "I;16": lambda: Image.fromarray(_gradient()[:, :, 0].astype(np.uint16) * 257),
    "I": lambda: Image.fromarray(_gradient()[:, :, 0].astype(np.int32) * 100),
    "F": lambda: Image.fromarray(_gradient()[:, :, 0].astype(np.float32) / 255.0),
    "1": lambda: Image.fromarray(_gradient()[:, :, 0]).convert("1"),
}

FORMAT_FOR_MODE = {
    "RGB": "PNG",
    "L": "PNG",
    "LA": "PNG",
    "P": "PNG",
    "RGBA": "PNG",
    "CMYK": "TIFF",
    "I;16": "PNG",
    "I": "TIFF",
    "F": "TIFF",
    "1": "PNG",
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_mode_becomes_rgb_uint8(mode):
    img = MODES[mode]()
    assert img.mode == mode
    arr = load_image(_save(img, FORMAT_FOR_MODE[mode]))
    assert arr.dtype == np.uint8
    assert arr.shape == (12, 20, 3)
    assert arr.flags["C_CONTIGUOUS"]


def test_grayscale_modes_keep_their_values():
    gray = _gradient()[:, :, 0]
    np.testing.assert_array_equal(load_image(_save(Image.fromarray(gray), "PNG"))[:, :, 1], gray)
    sixteen = Image.fromarray(gray.astype(np.uint16) * 257)
    np.testing.assert_array_equal(load_image(_save(sixteen, "PNG"))[:, :, 0], gray)
    floats = Image.fromarray(gray.astype(np.float32) / 255.0)
    np.testing.assert_allclose(load_image(_save(floats, "TIFF"))[:, :, 2], gray, atol=1)


def test_palette_with_transparency_is_composited_on_grey():
    img = Image.new("P", (4, 4), 0)
    img.putpalette([255, 0, 0] + [0, 0, 255] * 255)
    img.info["transparency"] = 0
    arr = load_image(_save(img, "PNG", transparency=0))
    np.testing.assert_array_equal(arr[0, 0], [128, 128, 128])


def test_rgba_alpha_composited():
    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[0, 0, 3] = 255  # one opaque red pixel, the rest transparent
    arr = load_image(_save(Image.fromarray(rgba), "PNG"))
    np.testing.assert_array_equal(arr[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(arr[1, 1], [128, 128, 128])


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF"])
def test_formats(fmt):
    arr = load_image(_save(Image.fromarray(_gradient()), fmt))
    assert arr.shape == (12, 20, 3)


def test_exif_orientation_applied():
    img = Image.fromarray(_gradient(20, 12))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    arr = load_image(_save(img, "JPEG", exif=exif, quality=95))
    assert arr.shape == (20, 12, 3)


def test_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    arr = load_image(buf.getvalue())
    assert arr[0, 0, 0] > 200 and arr[0, 0, 1] < 50


def test_paths_bytes_and_file_objects(tmp_path):
    data = _save(Image.fromarray(_gradient()), "PNG")
    path = tmp_path / "x.png"
    path.write_bytes(data)
    a = load_image(path)
    b = load_image(str(path))
    c = load_image(data)
    d = load_image(io.BytesIO(data))
    with open(path, "rb") as fh:
        e = load_image(fh)
    for other in (b, c, d, e):
        np.testing.assert_array_equal(a, other)


def _bomb_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + kind
            + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _jpeg() -> bytes:
    return _save(Image.fromarray(_gradient(64, 64)), "JPEG", quality=90)


BAD_INPUTS = {
    "zero_bytes": (b"", "empty"),
    "truncated_jpeg": (_jpeg()[:200], ""),
    "truncated_png": (_save(Image.fromarray(_gradient(64, 64)), "PNG")[:80], ""),
    "text_as_image": (b"this is not an image at all\n" * 10, "not a recognised image"),
    "bomb": (_bomb_png(60000, 60000), "pixels"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_inputs_raise_image_load_error(tmp_path, name):
    data, words = BAD_INPUTS[name]
    path = tmp_path / f"{name}.jpg"
    path.write_bytes(data)
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    err = info.value
    assert isinstance(err, ValueError)
    assert str(path) in str(err)
    assert err.reason
    assert words in str(err)


def test_missing_and_directory_paths(tmp_path):
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageLoadError, match="not a file"):
        load_image(tmp_path)


def test_unreadable_path(tmp_path):
    import os

    path = tmp_path / "locked.png"
    path.write_bytes(_save(Image.fromarray(_gradient()), "PNG"))
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):  # root can read anything
            pytest.skip("running as root: permissions are not enforced")
        with pytest.raises(ImageLoadError, match="unreadable"):
            load_image(path)
    finally:
        path.chmod(0o644)


def test_max_pixels_parameter():
    data = _save(Image.fromarray(_gradient(100, 100)), "PNG")
    with pytest.raises(ImageLoadError, match="max_pixels"):
        load_image(data, max_pixels=100)
    assert load_image(data, max_pixels=None).shape == (100, 100, 3)


def test_error_is_picklable():
    import pickle

    err = pickle.loads(pickle.dumps(ImageLoadError("a.jpg", "broken")))
    assert err.source == "a.jpg" and err.reason == "broken"


def test_heic_without_or_with_plugin(exif_dir):
    path = exif_dir / "heic" / "IMG_5195.HEIC"
    try:
        import pillow_heif  # noqa: F401
    except ImportError:
        with pytest.raises(ImageLoadError, match="heif"):
            load_image(path)
    else:
        arr = load_image(path)
        assert arr.ndim == 3 and arr.shape[2] == 3 and min(arr.shape[:2]) > 1000


@pytest.mark.realdata
def test_every_shared_exif_sample_loads_or_fails_cleanly(exif_dir):
    files = [p for p in exif_dir.rglob("*") if p.is_file() and p.suffix.lower() != ".csv"]
    files = [p for p in files if p.name != "PROVENANCE.txt"]
    assert files
    ok = 0
    for p in files:
        try:
            arr = load_image(p)
        except ImageLoadError:
            continue
        assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
        ok += 1
    assert ok >= len(files) * 0.8
