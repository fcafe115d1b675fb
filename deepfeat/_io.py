"""Safe image decoding: every file becomes an H×W×3 uint8 RGB array or an ImageLoadError."""

from __future__ import annotations

import errno
import io
import logging
import os
import stat
import struct
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageLoadError",
    "ImageSource",
    "SpecialFileError",
    "as_rgb_uint8",
    "load_image",
    "open_regular",
    "source_name",
]

#: Default upper bound on ``width * height`` of a decoded image (about 12k × 8k).
DEFAULT_MAX_PIXELS = 100_000_000

#: Background used when compositing images with an alpha channel (mid-grey keeps the
#: spectrum free of the hard black/white edges that a pure colour would add).
ALPHA_BACKGROUND = (128, 128, 128)

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | IO[bytes]

_HEIF_REGISTERED: bool | None = None


class ImageLoadError(ValueError):
    """An image could not be decoded; the message names the source and the reason.

    Attributes
    ----------
    source : str
        The path (or ``"<bytes>"``) that failed.
    reason : str
        A short, human-readable reason.
    transient : bool
        The failure is not a function of the file's bytes (missing file, permission,
        special file, I/O error): it may go away, so it is never cached.
    """

    def __init__(self, source: str, reason: str, transient: bool = False) -> None:
        self.source = source
        self.reason = reason
        self.transient = transient
        super().__init__(f"cannot load image {source!r}: {reason}")

    def __reduce__(self):  # keep picklable across worker processes
        return (type(self), (self.source, self.reason, self.transient))


class SpecialFileError(OSError):
    """A path names something other than a regular file (FIFO, device, directory …)."""


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _refuse_special(mode: int, path: str) -> None:
    if not stat.S_ISREG(mode):
        kind = next((text for test, text in _KINDS if test(mode)), "not a regular file")
        raise SpecialFileError(errno.EINVAL, f"not a regular file ({kind})", path)


def open_regular(path: str | os.PathLike) -> IO[bytes]:
    """Open a regular file for binary reading; refuse anything else before reading it.

    The path is checked with ``stat`` first, then opened without blocking (a FIFO opened
    for reading would otherwise wait for a writer forever) and checked again on the open
    descriptor, so a file swapped in between is refused too.

    Raises
    ------
    SpecialFileError
        For a directory, FIFO, device or socket (``strerror`` names it).
    OSError
        ``FileNotFoundError`` (``strerror`` says so for a dangling symbolic link),
        ``ELOOP`` for a symbolic link loop, permission errors …
    """
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except FileNotFoundError:
        if os.path.lexists(name):
            raise FileNotFoundError(
                errno.ENOENT, "no such file (dangling symbolic link)", name
            ) from None
        raise
    _refuse_special(st.st_mode, name)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(name, flags | getattr(os, "O_BINARY", 0))
    try:
        _refuse_special(os.fstat(fd).st_mode, name)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def source_name(source: object) -> str:
    """Return a printable name for an image source (a path, or ``"<bytes>"``)."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    name = getattr(source, "name", None)
    if isinstance(name, str):
        return name
    return "<bytes>"


def _register_heif() -> bool:
    """Register the optional pillow-heif opener once; return whether HEIF is readable."""
    global _HEIF_REGISTERED
    if _HEIF_REGISTERED is None:
        try:
            from pillow_heif import register_heif_opener
        except ImportError:
            _HEIF_REGISTERED = False
        else:
            register_heif_opener()
            _HEIF_REGISTERED = True
    return _HEIF_REGISTERED


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to an RGB uint8 array."""
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8)
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16"):
            scaled = arr / 257.0
        else:
            finite = arr[np.isfinite(arr)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
            if mode == "F" and lo >= 0.0 and hi <= 1.0:
                scaled = arr * 255.0
            elif mode == "I" and lo >= 0 and hi <= 255:
                scaled = arr
            elif mode == "I" and lo >= 0 and hi <= 65535:
                scaled = arr / 257.0
            else:
                scaled = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        gray = np.clip(np.nan_to_num(scaled), 0, 255).round().astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "La", "RGBa", "PA") or (
        mode == "P" and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*ALPHA_BACKGROUND, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"), dtype=np.uint8)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _open_bytes(source: ImageSource, name: str) -> IO[bytes]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    if isinstance(source, (str, os.PathLike)):
        try:
            fh = open_regular(source)
        except FileNotFoundError as exc:
            reason = exc.strerror if "dangling" in str(exc.strerror) else "no such file"
            raise ImageLoadError(name, reason, transient=True) from exc
        except SpecialFileError as exc:
            raise ImageLoadError(name, exc.strerror, transient=True) from exc
        except OSError as exc:
            raise ImageLoadError(
                name, f"unreadable: {exc.strerror or exc}", transient=True
            ) from exc
        if os.fstat(fh.fileno()).st_size == 0:
            fh.close()
            raise ImageLoadError(name, "empty file (0 bytes)")
        return fh
    if hasattr(source, "read"):
        try:
            source.seek(0)  # type: ignore[union-attr]
        except (AttributeError, OSError, io.UnsupportedOperation):
            return io.BytesIO(source.read())  # type: ignore[union-attr]
        return source  # type: ignore[return-value]
    raise ImageLoadError(name, f"unsupported source type {type(source).__name__}")


_EXIF_ORIENTATION = 0x0112


def _open_image(fh: IO[bytes]) -> Image.Image:
    """``Image.open`` without Pillow's own pixel limit, which :func:`load_image` replaces.

    Pillow refuses (or warns about) images above its global ``Image.MAX_IMAGE_PIXELS``
    inside ``Image.open``; changing that global would change it for every thread. This
    tries the registered format plugins the way ``Image.open`` does, minus that check; the
    caller's ``max_pixels`` is applied to the header size afterwards, before decoding.
    """
    prefix = fh.read(16)
    for loader in (Image.preinit, Image.init):
        loader()
        for fmt in list(Image.ID):
            factory, accept = Image.OPEN[fmt]
            result = not accept or accept(prefix)
            if not result or isinstance(result, str):
                continue
            fh.seek(0)
            try:
                return factory(fh, "")
            except (SyntaxError, IndexError, TypeError, struct.error):
                continue
    raise UnidentifiedImageError("cannot identify image file")


HEIF_HINT = " (HEIC/HEIF needs the optional extra: pip install deepfeat[heif])"


def open_header(
    fh: IO[bytes], name: str, *, max_pixels: int | None, heif: bool | None = None
) -> Image.Image:
    """Open an image's header (no pixels decoded) and apply the decompression-bomb check.

    The one header reader of the package: :func:`load_image` and the metadata features
    both use it, so a file fails the same way in both (one-line :class:`ImageLoadError`:
    ``not a recognised image format``, ``unreadable header``, ``invalid size`` or
    ``decompression bomb`` when the header claims more than ``max_pixels``). ``heif``
    says whether the file looks like HEIC/HEIF (default: by its name), to add the hint
    about the optional plugin when it cannot be read.
    """
    try:
        img = _open_image(fh)
    except Image.DecompressionBombError as exc:  # raised by some plugins' own checks
        raise ImageLoadError(name, f"decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        looks_heif = name.lower().endswith((".heic", ".heif")) if heif is None else heif
        hint = HEIF_HINT if looks_heif and not _register_heif() else ""
        raise ImageLoadError(name, f"not a recognised image format{hint}") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageLoadError(name, f"unreadable header: {exc}") from exc
    width, height = img.size
    if width <= 0 or height <= 0:
        raise ImageLoadError(name, f"invalid size {width}x{height}")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageLoadError(
            name,
            f"decompression bomb: {width}x{height} = {width * height} pixels exceeds "
            f"max_pixels={max_pixels}",
        )
    return img


def _jpeg_complete(data: bytes) -> bool:
    """Whether a JPEG stream has an EOI marker after the start of its first scan.

    Walks the marker segments up to the first SOS (an EXIF thumbnail, with its own SOS and
    EOI, sits inside APP1 and is skipped). Inside entropy-coded data 0xFF is always
    followed by 0x00 or a restart marker, so an EOI after the SOS is the real end.
    """
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return False
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker == 0xDA:  # start of scan
            return data.rfind(b"\xff\xd9") > pos
        elif 0xD0 <= marker <= 0xD7 or marker == 0x01:  # stand-alone markers
            pos += 2
        else:
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return False


def _decode_plain_jpeg(img: Image.Image, fh: IO[bytes]) -> np.ndarray | None:
    """Decode a plain JPEG with OpenCV, or return None to use Pillow.

    For baseline/progressive RGB or grey JPEGs without an EXIF rotation, OpenCV's
    libjpeg-turbo decode gives the same pixels as Pillow's (tested) in about half the time.
    Everything else (CMYK, rotation, truncated streams, odd files) goes through Pillow,
    which owns the error messages.
    """
    if img.format != "JPEG" or img.mode not in ("RGB", "L"):
        return None
    try:
        if img.getexif().get(_EXIF_ORIENTATION, 1) != 1:
            return None
        fh.seek(0)
        data = fh.read()
    except Exception:  # unreadable EXIF or stream: let Pillow decide
        return None
    if not isinstance(data, bytes) or not _jpeg_complete(data):
        return None
    import cv2

    rgb = getattr(cv2, "IMREAD_COLOR_RGB", None)
    flags = cv2.IMREAD_IGNORE_ORIENTATION | (cv2.IMREAD_COLOR if rgb is None else rgb)
    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    if arr is None or arr.shape[:2] != (img.height, img.width):
        fh.seek(0)
        return None
    if rgb is None:
        arr = arr[:, :, ::-1]
    return np.ascontiguousarray(arr)


def load_image(source: ImageSource, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file into an ``H×W×3`` ``uint8`` RGB array.

    EXIF orientation is applied; every Pillow mode (``1``, ``L``, ``LA``, ``P`` with and
    without transparency, ``RGBA``, ``CMYK``, ``I;16``, ``I``, ``F`` …) is converted to RGB,
    with alpha composited on a fixed mid-grey background. Animated files give their first
    frame. HEIC/HEIF is read when the optional ``pillow-heif`` package is installed
    (``pip install deepfeat[heif]``).

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        The image to read.
    max_pixels : int or None, default=100_000_000
        Refuse images whose header claims more pixels than this (decompression bombs)
        before decoding them. ``None`` disables the check. This limit replaces Pillow's
        own ``Image.MAX_IMAGE_PIXELS`` (which is neither read nor changed).

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of shape ``(height, width, 3)``.

    Raises
    ------
    ImageLoadError
        For a missing, empty, truncated, corrupt, over-sized or non-image input. It is a
        subclass of :class:`ValueError` and names the source and the reason.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO()
    >>> Image.new("L", (8, 6), 200).save(buf, format="PNG")
    >>> load_image(buf.getvalue()).shape
    (6, 8, 3)
    """
    name = source_name(source)
    fh = _open_bytes(source, name)
    close = fh is not source
    try:
        if name.lower().endswith((".heic", ".heif", ".avif")) or not isinstance(
            source, (str, os.PathLike)
        ):
            _register_heif()
        img = open_header(fh, name, max_pixels=max_pixels)
        try:
            fast = _decode_plain_jpeg(img, fh)
            if fast is not None:
                return fast
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)
            img.load()
            img = ImageOps.exif_transpose(img) or img
            return np.ascontiguousarray(_to_rgb(img))
        except ImageLoadError:
            raise
        except Image.DecompressionBombError as exc:
            raise ImageLoadError(name, f"decompression bomb: {exc}") from exc
        except (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError) as exc:
            reason = str(exc) or type(exc).__name__
            if "truncated" in reason.lower() or isinstance(exc, EOFError):
                reason = f"truncated file: {reason}"
            raise ImageLoadError(name, reason) from exc
        except MemoryError as exc:
            raise ImageLoadError(name, "out of memory while decoding") from exc
    finally:
        if close:
            fh.close()


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Validate an in-memory image and return it as ``H×W×3`` uint8 RGB.

    Grayscale ``H×W`` and ``H×W×1`` arrays are repeated to three channels; ``H×W×4`` drops
    alpha; float arrays in ``[0, 1]`` are scaled to ``0..255``.
    """
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"expected an H×W, H×W×1, H×W×3 or H×W×4 image, got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.dtype != np.uint8:
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)):
                raise ValueError("image contains NaN or infinite values")
            scale = 255.0 if arr.max(initial=0.0) <= 1.0 else 1.0
            arr = np.clip(arr * scale, 0, 255).round()
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)
