"""``ForensicResiduals``: the scikit-learn transformer of the residual traces (``forensic_*``).

The numerical work is in :mod:`deepfeat.features._forensic_kernel` (:func:`residual_traces`),
which does not import scikit-learn.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Sequence

import numpy as np

from ._base import ImageTransformer
from ._forensic_kernel import DEFAULT_MAX_SIDE, FORENSIC_FEATURE_NAMES, residual_traces

__all__ = ["ForensicResiduals"]


class ForensicResiduals(ImageTransformer):
    """Up-sampling phase relations, periodic residual peaks and texture contrast per image.

    A stateless scikit-learn transformer around :func:`residual_traces`: paths, arrays or a
    dataset DataFrame (``path`` column) in, a ``float32`` matrix of the 20 named
    ``forensic_*`` columns out. Every value is a ratio of residual energies of the image
    itself (or a correlation), so the file's contrast and noise level do not enter.

    Inside :class:`~deepfeat.ImageFeatures` the group reads the image at its **native**
    resolution (after the optional face crop, before the ``canonical_size`` shrink, which
    would erase the traces), centre-cropped to ``max_side``.

    Parameters
    ----------
    max_side : int or None, default=512
        Centred crop of native pixels (never resized) of at most ``max_side`` px a side; it
        bounds the cost on photos (10–17 ms at 256 px, 33–47 ms at 512 px on one core,
        ``docs/benchmarks_forensic.md``).
        ``None`` reads the whole image.
    on_error : {"raise", "record"}, default="raise"
        ``"record"``: an unreadable input gives a NaN row and a row in ``failures_``.

    Attributes
    ----------
    n_features_out_ : int
        Number of output columns (set by :meth:`fit`).
    failures_ : pandas.DataFrame
        After :meth:`transform`: ``path, stage, reason`` of the inputs whose row is NaN.

    Notes
    -----
    The columns (see :mod:`deepfeat.features._forensic_kernel` for the definitions):
    ``forensic_npr2_h/v`` and ``forensic_npr4_h/v`` (up-sampling ×2 / ×4 grid, off the JPEG
    block boundary); ``forensic_jpeg_*`` (what the JPEG 8×8 grid also produces: the block
    boundary excess and the residual-spectrum peaks at periods 8 and 8/3, 4 and 2);
    ``forensic_peak_*`` (the strongest residual-spectrum peaks elsewhere, and the period of
    the strongest, px); ``forensic_tex_*`` (rich- vs poor-texture patch statistics). NaN
    where undefined: images under 16 px a side, flat images, too few 32-px patches.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> images = [rng.integers(0, 256, size=(64, 96, 3), dtype=np.uint8) for _ in range(2)]
    >>> forensic = ForensicResiduals()
    >>> X = forensic.fit_transform(images)
    >>> X.shape, X.dtype
    ((2, 20), dtype('float32'))
    >>> list(forensic.get_feature_names_out()[:2])
    ['forensic_npr2_h', 'forensic_npr2_v']
    """

    prefix = "forensic"
    #: Inside ``ImageFeatures``: read the image before the scale policy shrinks it.
    native_resolution = True

    def __init__(self, *, max_side: int | None = DEFAULT_MAX_SIDE, on_error: str = "raise"):
        self.max_side = max_side
        self.on_error = on_error

    def _validate_params(self) -> None:
        super()._validate_params()
        side = self.max_side
        if side is not None and (
            isinstance(side, bool) or not isinstance(side, numbers.Integral) or side < 16
        ):
            raise ValueError(f"max_side must be None or an integer >= 16, got {side!r}")

    def _feature_names(self) -> list[str]:
        self._validate_params()
        return [f"{self.prefix}_{name}" for name in FORENSIC_FEATURE_NAMES]

    def kernel(self) -> Callable[[np.ndarray], np.ndarray]:
        """The picklable per-image function behind :meth:`transform` (for worker processes)."""
        self._validate_params()
        side = None if self.max_side is None else int(self.max_side)
        return functools.partial(residual_traces, max_side=side)

    def _transform_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        row = self.kernel()
        return np.vstack([row(img) for img in images]).astype(np.float32, copy=False)
