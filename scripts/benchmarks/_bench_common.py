"""Shared helpers of the benchmarks, in one namespace (``import _bench_common as bc``).

Nothing here is part of the ``deepfeat`` package; it only orchestrates the public API
(``load_dataset``, ``ImageFeatures``, ``extract_table``, ``DeepfakeDetector``,
``grouped_splits``) for the benchmark. The helpers live by idea in ``_bench_base`` (paths,
machine, data sets, metrics, grouped CV, page writers), ``_bench_features`` (feature
variants, the cached ``FeatureStore``) and ``_bench_models`` (the models compared).
"""

from _bench_base import (  # noqa: F401
    CACHE_ROOT,
    CNN_THREADS,
    METRIC_LABELS,
    METRICS,
    QUICK_SIZES,
    REPO,
    RUNNER,
    SET_TITLES,
    SETS,
    SHARED_DATA,
    XGB_JOBS,
    CVResult,
    Model,
    Timer,
    _subsample_groups,
    command,
    cpu_model,
    cross_validate,
    data_available,
    fmt,
    fold_metrics,
    load_average,
    load_sets,
    logger,
    machine_info,
    peak_rss_mb,
    rank_average,
    run_header,
    splits_for,
    summarise,
    train_test,
    write_topic,
)
from _bench_features import (  # noqa: F401
    FFT_VARIANTS,
    LAYER_SETS,
    FeatureStore,
    _slug,
    cnn_extractor,
    cnn_kwargs,
    fft_extractor,
    meta_extractor,
    select_layers,
)
from _bench_models import (  # noqa: F401
    Detector,
    DurallLR,
    DurallSVM,
    LinearProbe,
    ProbeDetector,
    StackedProbe,
    WeightedXGB,
    _impute_scale,
    choose_C,
)
