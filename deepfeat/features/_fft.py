"""``FFTSpectrum``: the scikit-learn transformer of the frequency features (``fft_*``).

The numerical work is in :mod:`deepfeat.features._fft_kernel` (:func:`radial_spectrum`,
:func:`block_dct_features`, :func:`spectrum_vector`), which does not import scikit-learn.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from ._base import ImageTransformer
from ._fft_kernel import (
    DCT_FEATURE_NAMES,
    Channels,
    Mode,
    Residual,
    _check_params,
    block_dct_features,
    radial_spectrum,
    spectrum_vector,
)
from ._local_kernel import LOCAL_FEATURE_NAMES

__all__ = ["FFTSpectrum", "block_dct_features", "radial_spectrum"]


class FFTSpectrum(ImageTransformer):
    """Azimuthal Fourier spectrum (and optional block-DCT statistics) of every image.

    A stateless scikit-learn transformer around :func:`radial_spectrum` and
    :func:`block_dct_features`: paths, arrays or a dataset DataFrame (``path`` column) in,
    a ``float32`` matrix with named ``fft_*`` columns out.

    Parameters
    ----------
    n_bins : int, default=64
        Spectrum length per plane. 64 bins of 1/128 cycle/pixel are about 1.75 DFT rings
        of a 224-px face crop (2 of a 256-px one): every bin is populated for images
        over 128 px, each averages enough coefficients to be stable, and 64 columns stay
        small next to the CNN embedding.
    mode : {"power", "durall"}, default="power"
        See :func:`radial_spectrum`. ``"power"`` is the default because its bins mean the
        same frequency at every image size and it keeps the high-frequency detail that the
        resampling of ``"durall"`` smooths away; ``"durall"`` is there to compare with the
        published results.
    channels : {"gray", "rgb"}, default="gray"
        ``"gray"`` by default: JPEG stores chroma at half resolution, so the per-channel
        high bands mostly repeat the luminance one at three times the cost and width.
    residual : {None, "median", "gaussian"}, default=None
        High-pass residual before the FFT (see :func:`radial_spectrum`); off by default,
        the windowed power spectrum already resolves the high band.
    dct : bool, default=False
        Append the 130 :func:`block_dct_features`. Off by default: they describe the
        JPEG history of a file (quantisation tables, grid) at least as much as how it
        was generated, which is what separates sources rather than real from fake.
    max_side : int or None, default=256
        Central crop size (see :func:`radial_spectrum`); 256 keeps the usual 224/256-px
        face crops whole and bounds the cost on photos.
    local : bool, default=False
        Append 14 local-consistency statistics (``fft_local_hf_diff`` …): per tile of a
        4×4 grid, high/mid-band energy, noise, gradient and Lab colour, summarised as
        centre minus surround and spread over tiles. They keep the contrast between a
        pasted face and its surroundings that global pooling loses (face swaps,
        self-blended pseudo-fakes); see ``docs/benchmarks_generalisation.md``.
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
    Column names depend on the parameters only: ``fft_000 … fft_{n_bins-1}`` for the gray
    ``power`` spectrum; ``fft_r_000``/``fft_g_000``/``fft_b_000`` per channel with
    ``channels="rgb"``; ``res`` is inserted for residual spectra (``fft_res_000``,
    ``fft_res_r_000``) and ``dur`` for ``mode="durall"`` (``fft_dur_000``,
    ``fft_dur_res_g_000``), so that spectra of different kinds never share a name; then
    ``fft_dct_mag_00 … fft_dct_mag_63``, ``fft_dct_zero_00 … fft_dct_zero_63``,
    ``fft_dct_block_h``, ``fft_dct_block_v`` with ``dct=True``. In ``power`` mode, bins
    without any Fourier coefficient (images of at most ``2 n_bins`` px) are NaN.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> images = [rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8) for _ in range(2)]
    >>> fft = FFTSpectrum(n_bins=16)
    >>> X = fft.fit_transform(images)
    >>> X.shape, X.dtype
    ((2, 16), dtype('float32'))
    >>> list(fft.get_feature_names_out()[:2])
    ['fft_000', 'fft_001']
    >>> FFTSpectrum(n_bins=8, channels="rgb", dct=True).set_output(
    ...     transform="pandas").fit_transform(images).columns[[0, 8, 24, -1]].tolist()
    ['fft_r_000', 'fft_g_000', 'fft_dct_mag_00', 'fft_dct_block_v']
    """

    prefix = "fft"

    def __init__(
        self,
        *,
        n_bins: int = 64,
        mode: Mode = "power",
        channels: Channels = "gray",
        residual: Residual | None = None,
        dct: bool = False,
        max_side: int | None = 256,
        local: bool = False,
        on_error: str = "raise",
    ) -> None:
        self.n_bins = n_bins
        self.mode = mode
        self.channels = channels
        self.residual = residual
        self.dct = dct
        self.max_side = max_side
        self.local = local
        self.on_error = on_error

    def _validate_params(self) -> None:
        super()._validate_params()
        _check_params(self.n_bins, self.mode, self.channels, self.residual, self.max_side)
        if not isinstance(self.dct, (bool, np.bool_)):
            raise ValueError(f"dct must be True or False, got {self.dct!r}")
        if not isinstance(self.local, (bool, np.bool_)):
            raise ValueError(f"local must be True or False, got {self.local!r}")

    def _feature_names(self) -> list[str]:
        self._validate_params()
        stem = [self.prefix]
        if self.mode == "durall":
            stem.append("dur")
        if self.residual is not None:
            stem.append("res")
        width = max(3, len(str(int(self.n_bins) - 1)))
        channel_tags = [""] if self.channels == "gray" else ["r", "g", "b"]
        names = [
            "_".join([*stem, *([tag] if tag else []), f"{i:0{width}d}"])
            for tag in channel_tags
            for i in range(int(self.n_bins))
        ]
        if self.dct:
            names += [f"{self.prefix}_{name}" for name in DCT_FEATURE_NAMES]
        if self.local:
            names += [f"{self.prefix}_{name}" for name in LOCAL_FEATURE_NAMES]
        return names

    def kernel(self) -> Callable[[np.ndarray], np.ndarray]:
        """The picklable per-image function behind :meth:`transform` (for worker processes)."""
        self._validate_params()
        return functools.partial(
            spectrum_vector,
            n_bins=int(self.n_bins),
            mode=self.mode,
            channels=self.channels,
            residual=self.residual,
            dct=bool(self.dct),
            max_side=self.max_side,
            local=bool(self.local),
        )

    def _transform_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        row = self.kernel()
        return np.vstack([row(img) for img in images]).astype(np.float32, copy=False)
