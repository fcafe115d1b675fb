"""``DeepfakeDetector``: imbalance-aware XGBoost on the combined features, with safe save/load.

The estimator stores its parameters and validates them once in :meth:`fit`; the training
recipe is ``_training``, input handling ``_inputs``, model files ``_persist`` (all in
:mod:`deepfeat.detector`).
"""

from __future__ import annotations

import logging
import shutil
import warnings
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._schema import DEFAULT_GROUPS, ModelFileError, encode_labels
from ..features._combined import ImageFeatures
from ..video._predict import predict_video
from . import _inputs, _persist, _training, _verdict
from ._calibration import CALIBRATIONS, DEFAULT_CALIBRATION
from ._stacking import model_matrix

logger = logging.getLogger(__package__)  # "deepfeat.detector": the public name

__all__ = ["DeepfakeDetector", "ModelFileError", "encode_labels"]


def _unit(closed: str = "right") -> list:
    return [Interval(Real, 0, 1, closed=closed)]


class DeepfakeDetector(ClassifierMixin, BaseEstimator):
    """Real-vs-fake image classifier: combined features → imbalance-aware XGBoost.

    ``fit`` and the predict methods take image paths, a dataset DataFrame from
    :func:`deepfeat.load_dataset`, or an already extracted feature DataFrame (columns
    ``cnn_*``, ``fft_*``, ``meta_*``; then nothing is extracted). Labels: 0 real, 1 fake.

    Imbalance: by default ``scale_pos_weight = n_real / n_fake`` from the training labels, so
    both classes weigh the same in the loss (XGBoost's recommended ``sum(negative) /
    sum(positive)``). That maximises ranking quality (AUC) and balanced accuracy on skewed
    data like DFDC (83 % fake), but it shifts the raw probabilities away from the training
    prevalence, as XGBoost's documentation warns; the default ``calibration="sigmoid"``
    (fitted on a held-out grouped fold) maps them back to probabilities that mean what
    they say (``calibration=None`` keeps the raw ones).

    Training holds out one grouped, stratified fold (``validation_fraction``) for early
    stopping and calibration (no group is on both sides), then (``refit=True``) retrains on
    all the data with the number of trees early stopping chose; the calibration map learnt
    on the held-out fold is then applied to the refitted model.

    Parameters
    ----------
    feature_groups : sequence of {"cnn", "fft", "forensic", "meta"}, default=("cnn", "fft", "meta")
        Feature groups to use (for paths and datasets: to extract).
    groups : deprecated
        The old name of ``feature_groups`` (it read like the CV ``groups`` of :meth:`fit`);
        still accepted with a ``FutureWarning`` until the next release.
    features : ImageFeatures or None, default=None
        Extractor configuration; ``None`` builds ``ImageFeatures(groups=feature_groups)``.
    sidecar : list of str or None, default=None
        Dataset columns (e.g. DFDC ``original_width``) to use as ``meta_sidecar_*``
        features, an explicit opt-in: by default the model uses only what can be computed
        from the image file itself. The columns are recorded in the model card
        (``sidecar_columns``), and every input to predict must then provide them.
    allow_missing_sidecar : bool, default=False
        At prediction, an input without the model's sidecar columns (plain paths, or a
        table lacking them) raises :class:`~deepfeat.features._meta.MissingSidecarError`;
        ``True`` scores it with NaN for those features instead (the scores then differ
        from what the same image would get with its sidecar values).
    n_estimators : int, default=600
        Maximum number of trees (early stopping usually stops far earlier).
    learning_rate : float, default=0.05
    max_depth : int, default=4
    subsample : float, default=0.8
    colsample_bytree : float, default=0.5
    colsample_bynode : float, default=0.5
        Column subsampling: with ~1400 dense columns it both regularises and speeds up the
        histogram search (see ``docs/benchmarks.md``).
    max_bin : int, default=64
    min_child_weight : float, default=1.0
    reg_lambda : float, default=1.0
    scale_pos_weight : "auto" or float, default="auto"
        ``"auto"``: ``n_real / n_fake`` of the training labels.
    early_stopping_rounds : int or None, default=40
    validation_fraction : float, default=0.2
        Share of groups held out for early stopping and calibration.
    calibration : {"sigmoid", "isotonic", "smooth"} or None, default="sigmoid"
        Map from raw score to probability, fitted on the held-out grouped fold (see
        ``docs/calibration.md``): ``"sigmoid"`` (Platt scaling, keeps the ranking and every
        distinct score), ``"isotonic"`` (a step function: few distinct probabilities, ties
        that cost ranking quality), ``"smooth"`` (isotonic with its steps joined by straight
        lines), ``None`` (raw XGBoost probabilities, shifted by ``scale_pos_weight``). The
        default was chosen by out-of-sample Brier score on DFDC and k140 (grouped 5-fold
        CV): sigmoid 0.180 / 0.099, isotonic 0.182 / 0.103, smooth 0.180 / 0.100, none
        0.194 / 0.097. ``validation_metrics_`` reports calibration quality only
        out-of-sample (cross-fitted within the validation fold).
    linear_probe : bool, default=True
        Stack a linear probe: a standardised logistic regression (``C=probe_C``, balanced
        class weights) on the ``cnn_*`` block, whose grouped out-of-fold score becomes one
        XGBoost input, ``cnn_probe``, next to the frequency and metadata columns. On a few
        thousand images a regularised linear model uses 1000+ dense embedding columns better
        than trees do; the out-of-fold scores keep the trees from trusting an overfitted
        probe. At prediction the probe fitted on all training data is used.
    probe_C : float, default=0.02
        Inverse L2 strength of the probe (chosen by grouped CV in ``docs/benchmarks.md``).
    probe_keep_columns : bool, default=False
        Also give the raw ``cnn_*`` columns to XGBoost (default: only the probe score).
    refit : bool, default=True
        Retrain on all data after early stopping.
    threshold : float, default=0.5
        Decision threshold on the (calibrated) fake probability used by ``predict``.
    audit : bool, default=True
        Run :func:`deepfeat.leakage_report` on the training features and keep its warnings
        in ``leakage_warnings_``.
    n_jobs : int or None, default=None
        Threads for XGBoost. ``None``: one thread for tables under 1M cells (faster there),
        all cores above.
    random_state : int or None, default=0
    progress : bool, default=False
        tqdm progress bars: feature extraction (in ``fit`` and the predict methods) and the
        training stages. Every stage is logged at INFO level either way (and kept in
        ``training_summary_["stages"]``).
    pseudo_fakes : None, True, or sequence of {"blend", "upsample"}, default=None
        Add synthesized fakes made from the training reals (:mod:`deepfeat.synthesis`):
        ``"blend"`` self-blended face swaps, ``"upsample"`` generator up-sampling traces.
        Each keeps the group of its real, so no split separates them. Needs image input
        (paths or a dataset DataFrame); with it, ``fit`` works on reals only (all labels
        0). Synthesized files go under ``cache_dir`` (or a temporary folder), never next to
        the data.
    augment : None, bool, float or dict, default=None
        Training-time degradations of either class (blur, JPEG, down-scaling; Wang et al.
        2020): ``True`` = probability 0.5, a float = that probability, or
        ``{"probability": p, "kinds": ["blur", "jpeg", "downscale"]}``. Image input only.
    cache_dir : path-like or None, default=None
        Feature cache (rows keyed by file content and extractor settings) used by ``fit``
        on images, and where synthesized images are kept for reuse (``synthesis/``).
    domain_fpr : float or None, default=0.05
        The out-of-domain warning (:mod:`deepfeat.detector._domain`): ``fit`` learns what the
        training features look like and sets the warning's threshold so that this share of
        *held-out* training images (each scored by a model fitted without its group) is
        flagged; :meth:`domain_score` above 1 then means "unlike anything the detector was
        trained on: do not trust its verdict". With sources (``fit(..., source=)``) the
        threshold holds for every source. ``None``: no domain model.

    Attributes
    ----------
    model_ : xgboost.XGBClassifier
    features_ : ImageFeatures or None
        The fitted extractor (``None`` when trained on a feature table).
    columns_ : numpy.ndarray of str
        The feature columns the model uses, in order.
    feature_names_in_ : numpy.ndarray of str
        Same as ``columns_`` (absent for a numeric array without column names).
    n_features_in_ : int
    classes_ : numpy.ndarray, ``[0, 1]``
    scale_pos_weight_ : float
    best_iteration_ : int
    calibrator_ : callable or None
    model_columns_ : numpy.ndarray of str
        The columns XGBoost sees: ``columns_``, or with ``linear_probe`` the non-CNN columns
        plus ``cnn_probe``.
    probe_ : object or None
        The fitted linear probe (``linear_probe=True``).
    feature_importances_ : numpy.ndarray
        Normalised total gain per model column (aligned with ``model_columns_``).
    group_importances_ : pandas.Series
        Gain share per feature group.
    sidecar_columns_ : list of str
        The dataset columns used as ``meta_sidecar_*`` features (empty by default).
    leakage_warnings_ : list of str
    domain_ : DomainModel or None
        The out-of-domain model (``None`` with ``domain_fpr=None`` or an old model file).
    source_report_ : pandas.DataFrame or None
        The source audit of ``fit(..., source=)`` (:func:`deepfeat.metrics.source_report`
        on the training reals, with the validation fold's scores); ``None`` without sources.
    source_warnings_ : list of str
        Its flagged explanations (the model's score tells real images of two sources apart).
    synthesis_failures_ : pandas.DataFrame
        ``path, stage, reason`` of training reals that ``pseudo_fakes`` / ``augment`` could
        not use (empty without synthesis).
    validation_metrics_ : dict
        Metrics of the early-stopped model on the held-out grouped fold (empty without a
        hold-out). That fold also chose the number of trees, so they are slightly optimistic.
        With a calibration, the probabilities behind ``brier`` and ``ece`` are cross-fitted
        within the fold (never scored by the map fitted on them), or left out when the fold
        is too small; ``calibration_evaluation`` says which.
    training_summary_ : dict

    Examples
    --------
    >>> import tempfile
    >>> from deepfeat import DeepfakeDetector, load_dataset, make_demo_dataset
    >>> df = load_dataset(make_demo_dataset(tempfile.mkdtemp(), n_images=40))
    >>> det = DeepfakeDetector(feature_groups=("fft", "meta"), n_estimators=50).fit(df)
    >>> det.predict_proba(df.path[:2]).shape
    (2, 2)
    """

    _parameter_constraints: ClassVar[dict] = {
        "feature_groups": [str, list, tuple],
        "groups": [StrOptions({"deprecated"}), str, list, tuple],
        "features": [ImageFeatures, None],
        "sidecar": [str, list, tuple, None],
        "allow_missing_sidecar": ["boolean"],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_depth": [Interval(Integral, 0, None, closed="left")],
        "subsample": _unit(),
        "colsample_bytree": _unit(),
        "colsample_bynode": _unit(),
        "max_bin": [Interval(Integral, 2, None, closed="left")],
        "min_child_weight": [Interval(Real, 0, None, closed="left")],
        "reg_lambda": [Interval(Real, 0, None, closed="left")],
        "scale_pos_weight": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "early_stopping_rounds": [Interval(Integral, 1, None, closed="left"), None],
        "validation_fraction": [Interval(Real, 0, 0.5, closed="neither")],
        "calibration": [StrOptions(set(CALIBRATIONS)), None],
        "linear_probe": ["boolean"],
        "probe_C": [Interval(Real, 0, None, closed="neither")],
        "probe_keep_columns": ["boolean"],
        "refit": ["boolean"],
        "threshold": _unit("both"),
        "audit": ["boolean"],
        "n_jobs": [Integral, None],
        "random_state": [Interval(Integral, 0, None, closed="left"), None],
        "progress": ["boolean"],
        "pseudo_fakes": "no_validation",  # checked by deepfeat.synthesis.pseudo_fake_kinds
        "augment": "no_validation",  # checked by deepfeat.synthesis.augment_spec
        "cache_dir": [str, Path, None],
        "domain_fpr": [Interval(Real, 0, 0.5, closed="neither"), None],
    }

    def __init__(
        self,
        feature_groups: Any = DEFAULT_GROUPS,
        *,
        groups: Any = "deprecated",
        features: ImageFeatures | None = None,
        sidecar: Any = None,
        allow_missing_sidecar: bool = False,
        n_estimators: int = 600,
        learning_rate: float = 0.05,
        max_depth: int = 4,
        subsample: float = 0.8,
        colsample_bytree: float = 0.5,
        colsample_bynode: float = 0.5,
        max_bin: int = 64,
        min_child_weight: float = 1.0,
        reg_lambda: float = 1.0,
        scale_pos_weight: Any = "auto",
        early_stopping_rounds: int | None = 40,
        validation_fraction: float = 0.2,
        calibration: str | None = DEFAULT_CALIBRATION,
        linear_probe: bool = True,
        probe_C: float = 0.02,
        probe_keep_columns: bool = False,
        refit: bool = True,
        threshold: float = 0.5,
        audit: bool = True,
        n_jobs: int | None = None,
        random_state: int | None = 0,
        progress: bool = False,
        pseudo_fakes: Any = None,
        augment: Any = None,
        cache_dir: Any = None,
        domain_fpr: float | None = 0.05,
    ) -> None:
        self.feature_groups = feature_groups
        self.groups = groups
        self.features = features
        self.sidecar = sidecar
        self.allow_missing_sidecar = allow_missing_sidecar
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.colsample_bynode = colsample_bynode
        self.max_bin = max_bin
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.scale_pos_weight = scale_pos_weight
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.calibration = calibration
        self.linear_probe = linear_probe
        self.probe_C = probe_C
        self.probe_keep_columns = probe_keep_columns
        self.refit = refit
        self.threshold = threshold
        self.audit = audit
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.progress = progress
        self.pseudo_fakes = pseudo_fakes
        self.augment = augment
        self.cache_dir = cache_dir
        self.domain_fpr = domain_fpr

    def _validate_params(self) -> None:
        """Check every parameter (``_parameter_constraints``, then the cross-checks)."""
        from ..synthesis import augment_spec, pseudo_fake_kinds

        super()._validate_params()
        if self.groups != "deprecated":
            warnings.warn(
                "DeepfakeDetector(groups=...) is renamed feature_groups=...; the old name "
                "stops working in the next release",
                FutureWarning,
                stacklevel=3,
            )
        _inputs.feature_groups(self)
        pseudo_fake_kinds(self.pseudo_fakes)
        augment_spec(self.augment)

    #: ``path, stage, reason`` of the inputs that failed in this thread's last extraction
    #: (kept per thread: concurrent calls on one detector never see each other's).
    extraction_failures_ = _inputs.PerThreadFailures()

    # ------------------------------------------------------------------ fitting
    def fit(
        self, X: Any, y: Any = None, groups: Any = None, source: Any = None
    ) -> DeepfakeDetector:
        """Extract features (unless given) and train the classifier.

        Parameters
        ----------
        X : image paths, dataset DataFrame, or feature DataFrame
        y : array-like of {0, 1} or {"real", "fake"}, optional
            Taken from ``X["label"]`` for a dataset/feature DataFrame that has it. Names are
            matched case-insensitively (``"REAL"``, ``"Fake"``); any other label raises
            ``ValueError`` (see :func:`encode_labels`). ``classes_`` is always ``[0, 1]``, so
            column 1 of :meth:`predict_proba` is P(fake).
        groups : array-like, optional
            Group per sample (``X["group"]`` by default): the internal validation split
            never separates a group.
        source : array-like of str, optional
            Source per sample (``X["source"]`` by default): where the images come from
            (a dataset, a camera, a generator's collection). With two or more sources,
            training runs the source audit (``source_report_``) and the out-of-domain
            threshold holds for each source.

        Returns
        -------
        self
        """
        self._validate_params()
        y, groups = _inputs.labels_groups(X, y, groups)
        y = _inputs.binary_labels(y)
        source = _inputs.sources(X, source, len(y))
        synth = _inputs.synthesise(self, X, y, groups)
        X, y, groups = synth.X, synth.y, synth.groups
        try:
            if len(np.unique(y)) < 2:
                raise ValueError(
                    "training labels contain one class only; need real (0) and fake (1), "
                    "or pseudo_fakes= to synthesize fakes from the reals"
                )
            kind = _inputs.input_kind(X)
            stage = _training.Stages(self.progress, logger)
            table = _inputs.features(self, X, fit=True, y=y)
        finally:
            if synth.tmp is not None:
                shutil.rmtree(synth.tmp, ignore_errors=True)
        if len(table) != len(y):
            raise ValueError(f"X has {len(table)} samples but y has {len(y)}")
        g = np.arange(len(y)).astype(str) if groups is None else np.asarray(groups).astype(str)
        usable = _training.usable_rows(table, y, stage)
        origin = synth.origin
        if origin is not None:
            origin = origin[usable] if len(origin) == len(usable) else None
        if source is not None:
            source = _inputs.synthesised_sources(source, synth, len(y))[usable]
        self.columns_ = np.asarray(table.columns, dtype=object)
        self.sidecar_columns_ = _inputs.used_sidecar(self)
        if self.sidecar_columns_:
            logger.info("sidecar features (opted in): %s", self.sidecar_columns_)
        if kind != "matrix":  # validate_data sets these for numeric tables
            self.feature_names_in_ = self.columns_
            self.n_features_in_ = len(self.columns_)
        backend = _training.LocalBackend(
            table.to_numpy(dtype=np.float32)[usable], list(table.columns), y[usable]
        )
        self.training_summary_ = _training.train(
            self,
            backend,
            y[usable],
            g[usable],
            stage=stage,
            origin=origin,
            source=source,
            n_unusable=int((~usable).sum()),
        )
        counts = synth.origin_counts()
        if counts:
            self.training_summary_["origin"] = counts
        self.training_summary_["stages"] = stage.close()
        return self

    # ------------------------------------------------------------------ prediction
    predict_video = predict_video  # one row per video: deepfeat.video.predict_video

    def extract(self, X: Any) -> pd.DataFrame:
        """The feature table the detector would score for ``X`` (training columns, in order).

        Useful to extract once and then call several methods on the table; extraction
        failures are in ``extraction_failures_``.

        Returns
        -------
        pandas.DataFrame
        """
        check_is_fitted(self, "model_")
        return _inputs.features(self, X, fit=False)

    def decision_function(self, X: Any) -> np.ndarray:
        """The trees' log-odds of "fake" minus those at which the calibrated probability
        reaches ``threshold``: positive exactly where :meth:`predict` says fake, ordered as
        :meth:`predict_proba`; the ``margin`` of :meth:`explain`.

        Returns
        -------
        numpy.ndarray of shape (n_samples,)
        """
        M, _ = self._matrix(X)
        margin = self.model_.predict(M, output_margin=True) - _verdict.threshold_margin(self)
        return _verdict.with_sign_of(margin, self._proba_from_matrix(M), self.threshold)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities ``[P(real), P(fake)]`` per sample (calibrated when configured).

        Samples whose features failed entirely get NaN.

        Returns
        -------
        numpy.ndarray of shape (n_samples, 2)
        """
        M, empty = self._matrix(X)
        p = self._proba_from_matrix(M)
        p[empty] = np.nan
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """Labels (0 real, 1 fake) at ``threshold``; -1 where no features could be computed."""
        p = self.predict_proba(X)[:, 1]
        out = (p >= self.threshold).astype(int)
        out[np.isnan(p)] = -1
        return out

    def set_threshold_for_fpr(self, X: Any, y: Any, fpr: float = 0.05) -> DeepfakeDetector:
        """Set ``threshold`` so that at most ``fpr`` of the real images in (X, y) are flagged.

        Returns
        -------
        self
        """
        if not 0.0 <= fpr < 1.0:
            raise ValueError("fpr must be in [0, 1)")
        threshold = _verdict.threshold_for_fpr(self.predict_proba(X)[:, 1], y, fpr)
        self.set_params(threshold=threshold)
        return self

    def domain_score(self, X: Any) -> np.ndarray:
        """How unlike the training images each input is (higher: less alike).

        Scores above 1 are out of domain: further from the training features than all but
        ``domain_fpr`` of held-out training images (:mod:`deepfeat.detector._domain`). The
        detector's verdict on such an image is not to be trusted: it has never seen its
        like. NaN where no feature could be computed.

        Returns
        -------
        numpy.ndarray of shape (n_samples,)

        Raises
        ------
        ValueError
            The detector has no domain model (``domain_fpr=None``, or an old model file).
        """
        check_is_fitted(self, "model_")
        values = _inputs.features(self, X, fit=False).to_numpy(dtype=np.float32)
        return _verdict.domain_scores(self, values, np.isnan(values).all(axis=1))

    def in_domain(self, X: Any) -> np.ndarray:
        """Whether each input is like the training images (``domain_score <= 1``).

        ``False`` also where no feature could be computed.

        Returns
        -------
        numpy.ndarray of bool, shape (n_samples,)
        """
        return np.nan_to_num(self.domain_score(X), nan=np.inf) <= 1.0

    def explain(self, X: Any, top: int = 3) -> pd.DataFrame:
        """Per-image contributions (exact TreeSHAP, in log-odds) summed per feature group.

        Parameters
        ----------
        X : paths, dataset DataFrame or feature DataFrame
        top : int, default=3
            Number of most influential features listed per image.

        Returns
        -------
        pandas.DataFrame
            ``proba``, ``margin``, ``contrib_<group>`` for each group, ``contrib_bias``,
            ``top_features`` (a list of ``(feature, contribution)`` by absolute size),
            ``domain_score`` and ``in_domain`` (see :meth:`domain_score`; NaN / NA for a
            model without a domain model) and ``domain_reasons`` (for an out-of-domain
            row, the features furthest from training as ``(feature, robust z)``). The
            contributions of a row sum to its margin (= :meth:`decision_function`: the
            trees' log-odds measured from the decision threshold, so ``contrib_bias``
            includes the threshold). An input whose features all failed
            (see ``extraction_failures_``) gets NaN everywhere and no top features.
            ``df.attrs["contributions"]`` holds the
            full per-feature matrix and ``df.attrs["values"]`` the values the trees saw
            (``model_columns_``, including the ``cnn_probe`` score).
        """
        check_is_fitted(self, "model_")
        values = _inputs.features(self, X, fit=False).to_numpy(dtype=np.float32)
        return _verdict.explanation(self, values, top)

    def _proba_from_matrix(self, M: np.ndarray) -> np.ndarray:
        p = self.model_.predict_proba(M)[:, 1].astype(float)
        return self.calibrator_(p) if self.calibrator_ is not None else p

    # ------------------------------------------------------------------ prediction
    def _matrix(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """(model matrix, rows without any feature) for ``X``."""
        check_is_fitted(self, "model_")
        M = _inputs.features(self, X, fit=False).to_numpy(dtype=np.float32)
        return model_matrix(M, self.columns_, self.model_columns_, self.probe_), np.isnan(M).all(
            axis=1
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = False
        return tags

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Save to a directory (or a ``.zip``): ``model.ubj`` (XGBoost UBJSON) + ``card.json``.

        Nothing is pickled. The card records the feature names, groups, extractor settings,
        backbone sha256, threshold, calibration map, package versions and a training summary.
        A user ONNX backbone (``CNNEmbedder(model=...)``) is copied into a model folder as
        ``backbone.onnx`` (and its sha256 recorded), so that :meth:`load` finds it there; a
        ``.zip`` only records its path, which :meth:`load` uses only with
        ``trust_backbone=True``.

        Returns
        -------
        pathlib.Path
        """
        check_is_fitted(self, "model_")
        return _persist.save(self, path)

    @classmethod
    def load(cls, path: str | Path, *, trust_backbone: bool = False) -> DeepfakeDetector:
        """Load a detector written by :meth:`save`, without unpickling anything.

        Nothing in the folder or archive is trusted: the files' sizes are checked before
        they are read (``card.json`` at most 16 MiB, ``model.ubj`` 256 MiB, also inside a
        zip before decompressing), every card field is checked against a schema (types,
        ranges, sizes; :mod:`deepfeat.detector._card_schema`) before it is used, and the XGBoost
        file is parsed and checked (:mod:`deepfeat.detector._ubj`) before XGBoost's own loader sees
        it. The CNN backbone must be the bundled one or ``backbone.onnx`` inside the model
        folder, with the sha256 the card records.

        Parameters
        ----------
        path : str or path-like
            Model folder or ``.zip``.
        trust_backbone : bool, default=False
            Also accept a card whose CNN names an ONNX file elsewhere on disk (only for
            models you made yourself) or records no backbone sha256 (then unchecked).

        Raises
        ------
        ModelFileError
            One line for anything malformed or tampered with: unexpected or special files,
            sizes over the limits, a card that fails the schema, a model file whose sha256
            differs from the card's, a backbone hash that differs from the installed one.
        FileNotFoundError
            Nothing at ``path``.
        """
        return _persist.load(cls, path, trust_backbone=trust_backbone)
