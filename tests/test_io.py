"""load_image: every mode to RGB, orientation, and every kind of bad input → ImageLoadError."""

from __future__ import annotations

import io
import os
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


def _pil_reference(data: bytes) -> np.ndarray:
    """The Pillow-only decode that the OpenCV fast path must reproduce exactly."""
    from PIL import ImageOps

    img = Image.open(io.BytesIO(data))
    img.load()
    return np.asarray((ImageOps.exif_transpose(img) or img).convert("RGB"))


def _texture(w: int, h: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = _gradient(w, h).astype(np.int16)
    return np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)


JPEG_VARIANTS = {
    "444": {"subsampling": 0},
    "422": {"subsampling": 1},
    "420": {"subsampling": 2},
    "progressive": {"progressive": True},
    "optimized_q30": {"optimize": True, "quality": 30},
    "grey": {"grey": True},
    "orientation_1": {"orientation": 1},
}


@pytest.mark.parametrize("variant", sorted(JPEG_VARIANTS))
def test_fast_jpeg_path_matches_pillow_exactly(variant):
    from deepfeat._io import _decode_plain_jpeg

    opts = dict(JPEG_VARIANTS[variant])
    arr = _texture(97, 61)
    img = Image.fromarray(arr[:, :, 0] if opts.pop("grey", False) else arr)
    orientation = opts.pop("orientation", None)
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        opts["exif"] = exif
    data = _save(img, "JPEG", **{"quality": 85, **opts})
    fast = _decode_plain_jpeg(Image.open(io.BytesIO(data)), io.BytesIO(data))
    assert fast is not None, "plain JPEGs must take the fast path"
    np.testing.assert_array_equal(fast, _pil_reference(data))
    np.testing.assert_array_equal(load_image(data), _pil_reference(data))


@pytest.mark.parametrize("orientation", range(2, 9))
def test_rotated_cmyk_and_truncated_jpegs_use_pillow(orientation):
    from deepfeat._io import _decode_plain_jpeg

    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _save(Image.fromarray(_texture(40, 24)), "JPEG", exif=exif, quality=90)
    assert _decode_plain_jpeg(Image.open(io.BytesIO(data)), io.BytesIO(data)) is None
    np.testing.assert_array_equal(load_image(data), _pil_reference(data))
    cmyk = _save(Image.fromarray(_texture(40, 24)).convert("CMYK"), "JPEG")
    assert _decode_plain_jpeg(Image.open(io.BytesIO(cmyk)), io.BytesIO(cmyk)) is None
    np.testing.assert_array_equal(load_image(cmyk), _pil_reference(cmyk))


def test_truncated_scan_is_an_error_even_with_an_embedded_thumbnail():
    from deepfeat._io import _jpeg_complete

    thumb = _save(Image.fromarray(_texture(16, 16, seed=1)), "JPEG")  # has its own SOS/EOI
    main = _save(Image.fromarray(_texture(128, 96, seed=2)), "JPEG", quality=95)
    payload = b"Thumb\x00" + thumb
    app2 = b"\xff\xe2" + (len(payload) + 2).to_bytes(2, "big") + payload
    full = main[:2] + app2 + main[2:]
    assert _jpeg_complete(full) and _jpeg_complete(main)
    np.testing.assert_array_equal(load_image(full), _pil_reference(full))
    truncated = full[: len(app2) + len(main) * 2 // 3]
    assert not _jpeg_complete(truncated)
    with pytest.raises(ImageLoadError, match="truncated"):
        load_image(truncated)


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
    with pytest.raises(ImageLoadError, match="not a regular file"):
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


@pytest.mark.realdata
def test_fast_jpeg_path_is_pixel_identical_on_real_files(exif_dir, dfdc_dir, k140_dir):
    """Every shared camera JPEG and a sample of face crops decode exactly as Pillow does."""
    files = sorted(exif_dir.rglob("*.jp*g")) + sorted(exif_dir.rglob("*.JP*G"))
    for folder in (dfdc_dir, k140_dir):
        files += sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))[:60]
    compared = 0
    for p in files:
        data = p.read_bytes()
        try:
            ref = _pil_reference(data)
        except Exception:
            continue
        np.testing.assert_array_equal(load_image(p), ref, err_msg=str(p))
        compared += 1
    assert compared >= 100


@pytest.mark.timeout(30)
def test_special_files_are_refused_with_a_reason(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    (tmp_path / "dangling.png").symlink_to(tmp_path / "gone.png")
    cases = {
        fifo: "FIFO",
        "/dev/zero": "character device",
        tmp_path: "directory",
        tmp_path / "loop.png": "symbolic links",
        tmp_path / "dangling.png": "dangling symbolic link",
    }
    for source, words in cases.items():
        with pytest.raises(ImageLoadError, match=words) as info:
            load_image(source)
        assert info.value.transient  # not a function of the bytes: never cached


def test_caller_max_pixels_wins_over_pillow_global_limit(monkeypatch):
    """max_pixels=None used to be overridden by Pillow's own ~89.5 MP limit."""

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # stands in for Pillow's 89.5 MP
    warn_size = _save(Image.new("RGB", (40, 40), (9, 9, 9)), "PNG")  # Pillow: warning
    error_size = _save(Image.new("RGB", (100, 100), (9, 9, 9)), "PNG")  # Pillow: error
    for data in (warn_size, error_size):
        assert load_image(data, max_pixels=None).shape[2] == 3
        assert load_image(data, max_pixels=20_000).shape[2] == 3
    with pytest.raises(ImageLoadError, match="max_pixels=100"):
        load_image(error_size, max_pixels=100)
    assert Image.MAX_IMAGE_PIXELS == 1000  # Pillow's global is never changed
