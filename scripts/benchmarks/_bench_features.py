"""Feature variants of the benchmarks and their cached tables (``FeatureStore``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from _bench_base import CACHE_ROOT, CNN_THREADS, Timer, logger

# ----------------------------------------------------------------------------- features
LAYER_SETS: dict[str, tuple[str, ...]] = {
    "head": ("head",),
    "mid": ("stem", "s1", "s2", "s3", "s4", "s5", "s6"),
    "s3-s6": ("s3", "s4", "s5", "s6"),
    "s4-s7": ("s4", "s5", "s6", "s7"),
    "stats": ("stem", "s1", "s2", "s3", "s4", "s5", "s6", "s7"),
    "mid+head": ("stem", "s1", "s2", "s3", "s4", "s5", "s6", "head"),
    "all": ("stem", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "head"),
}

#: Spectrum variants (FFTSpectrum keyword arguments). Their column names never collide.
FFT_VARIANTS: dict[str, dict[str, Any]] = {
    "power/gray": {},
    "power/rgb": {"channels": "rgb"},
    "residual median": {"residual": "median"},
    "residual gaussian": {"residual": "gaussian"},
    "power/gray+dct": {"dct": True},
    "rgb+residual median": {"channels": "rgb", "residual": "median"},
    "durall (N=80)": {"mode": "durall", "n_bins": 80},
}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def cnn_kwargs(layer_set: str, resize: str, tta: bool = False) -> dict[str, Any]:
    """Explicit ``CNNEmbedder`` arguments of a layer set (never the library defaults)."""
    layers = LAYER_SETS[layer_set]
    kw: dict[str, Any] = {
        "layers": "head" if layers == ("head",) else list(layers),
        "resize": resize,
    }
    if tta:
        kw["tta"] = "flip"
    return kw


def cnn_extractor(resize: str, layers: Any = "all", tta: bool = False):
    from deepfeat import CNNEmbedder, ImageFeatures

    kw: dict[str, Any] = {"layers": layers, "resize": resize, "n_threads": CNN_THREADS}
    if tta:
        kw["tta"] = "flip"
    return ImageFeatures(groups=("cnn",), cnn=CNNEmbedder(**kw), n_jobs=1)


def fft_extractor(name: str):
    from deepfeat import FFTSpectrum, ImageFeatures

    return ImageFeatures(groups=("fft",), fft=FFTSpectrum(**FFT_VARIANTS[name]), n_jobs=1)


def meta_extractor():
    from deepfeat import ImageFeatures, MetadataFeatures

    # no sidecar columns: the two sets carry different ones (DFDC original_width/height,
    # k140 width/height/bytes), which would make their feature tables incomparable, and a
    # detector in use sees files only
    return ImageFeatures(groups=("meta",), meta=MetadataFeatures(sidecar=None), n_jobs=1)


def select_layers(table: pd.DataFrame, layer_set: str) -> pd.DataFrame:
    """Columns of one layer set from an ``layers="all"`` table, named as that set would be."""
    layers = LAYER_SETS[layer_set]
    if layers == ("head",):
        cols = [c for c in table.columns if c.startswith("cnn_head_")]
        out = table[cols].copy()
        out.columns = [c.replace("cnn_head_", "cnn_") for c in cols]
        return out
    cols = []
    for layer in layers:
        prefix = "cnn_head_" if layer == "head" else f"cnn_{layer}_"
        cols += [c for c in table.columns if c.startswith(prefix)]
    return table[cols]


@dataclass
class FeatureStore:
    """Feature tables per (data set, variant), extracted once through ``extract_table``.

    Each variant has its own cache folder ``CACHE_ROOT/features/<variant>``; a re-run reads
    the parquet chunks instead of decoding images again. ``timings`` records the seconds
    spent per (set, variant) in this run (mostly 0 when the cache is warm).
    """

    sets: dict[str, pd.DataFrame]
    cache_root: Path = CACHE_ROOT / "features"
    tables: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def _extract(self, key: tuple[str, str], frame: pd.DataFrame, extractor) -> pd.DataFrame:
        from deepfeat.features._cache import extract_table

        if key in self.tables:
            return self.tables[key]
        extractor.fit(frame)
        with Timer() as t:
            table, fails = extract_table(
                frame, extractor, cache_dir=self.cache_root / _slug(key[1])
            )
        logger.info(
            "features %s/%s: %d rows (%d extracted) in %.1f s",
            key[0],
            key[1],
            len(table),
            table.attrs.get("n_extracted", 0),
            t.seconds,
        )
        self.timings.setdefault(key[0], {})[key[1]] = round(t.seconds, 2)
        if len(fails):
            self.failures[f"{key[0]}/{key[1]}"] = len(fails)
        self.tables[key] = table
        return table

    def cnn_all(self, name: str, resize: str, tta: bool = False) -> pd.DataFrame:
        key = (name, f"cnn-all-{resize}" + ("-flip" if tta else ""))
        return self._extract(key, self.sets[name], cnn_extractor(resize, "all", tta))

    def cnn(self, name: str, layer_set: str, resize: str, tta: bool = False) -> pd.DataFrame:
        return select_layers(self.cnn_all(name, resize, tta), layer_set)

    def fft(self, name: str, variant: str = "power/gray") -> pd.DataFrame:
        return self._extract((name, f"fft-{variant}"), self.sets[name], fft_extractor(variant))

    def meta(self, name: str) -> pd.DataFrame:
        return self._extract((name, "meta"), self.sets[name], meta_extractor())

    def table(
        self,
        name: str,
        *,
        layer_set: str | None = "head",
        resize: str = "imagenet",
        fft: str | Sequence[str] | None = "power/gray",
        meta: bool = True,
        tta: bool = False,
    ) -> pd.DataFrame:
        """One feature table: any of a CNN layer set, spectrum variant(s) and metadata."""
        parts = []
        if layer_set is not None:
            parts.append(self.cnn(name, layer_set, resize, tta))
        for variant in [fft] if isinstance(fft, str) else list(fft or []):
            parts.append(self.fft(name, variant))
        if meta:
            parts.append(self.meta(name))
        out = pd.concat(parts, axis=1)
        return out.loc[:, ~out.columns.duplicated()]
