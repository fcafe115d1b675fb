"""Scale-out on Dask: the same feature extraction and XGBoost training on a cluster.

Nothing here changes *what* is computed, only *where*: every partition runs the local
extraction code (:func:`deepfeat.features._cache.extract_table` →
:meth:`deepfeat.ImageFeatures.transform`), so a Dask feature table equals the local one
bit for bit, and :func:`fit_dask` trains with the detector's own XGBoost parameters and
grouped validation split, then hands back an ordinary :class:`deepfeat.DeepfakeDetector`
(``model_`` is a local ``XGBClassifier``) that saves, loads and predicts without Dask.

Dask is optional (``pip install 'deepfeat[dask]'``) and imported lazily: importing this
module works without it; the functions raise an :class:`ImportError` naming the extra.

See ``docs/distributed.md`` for running on a real cluster and for the parquet layout.

Examples
--------
>>> import tempfile
>>> from deepfeat import DeepfakeDetector, load_dataset, make_demo_dataset
>>> from deepfeat.distributed import extract_features, fit_dask
>>> df = load_dataset(make_demo_dataset(tempfile.mkdtemp(), n_images=40))
>>> from distributed import Client, LocalCluster  # doctest: +SKIP
>>> cluster = LocalCluster(n_workers=2, threads_per_worker=1)  # doctest: +SKIP
>>> client = Client(cluster)  # doctest: +SKIP
>>> res = extract_features(df, client, groups=("fft", "meta"), partition_size=16)  # doctest: +SKIP
>>> table, failures = res.compute()  # doctest: +SKIP
>>> det = DeepfakeDetector(feature_groups=("fft", "meta"))
>>> det = fit_dask(client, res, detector=det)  # doctest: +SKIP
>>> det.save(tempfile.mkdtemp() + "/model")  # a normal model folder  # doctest: +SKIP
PosixPath('...')
>>> client.close(); cluster.close()  # doctest: +SKIP
"""

from ._client import dask_client
from ._extract import (
    DEFAULT_PARTITION_SIZE,
    FAILURES_FILE,
    DaskExtraction,
    extract_features,
    read_features_parquet,
)
from ._train import DEFAULT_AUDIT_ROWS, NothingUsableError, fit_dask
from ._workers import clear_worker_cache, warm_up, worker_cache_info

__all__ = [
    "DEFAULT_AUDIT_ROWS",
    "DEFAULT_PARTITION_SIZE",
    "FAILURES_FILE",
    "DaskExtraction",
    "NothingUsableError",
    "clear_worker_cache",
    "dask_client",
    "extract_features",
    "fit_dask",
    "read_features_parquet",
    "warm_up",
    "worker_cache_info",
]
