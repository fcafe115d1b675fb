"""Dask scale-out: same features and failures as locally, comparable model, resilient to a
lost worker, CLI helpers.

One module-scoped ``LocalCluster`` (2 worker processes × 1 thread, no dashboard) is shared;
tests that need it skip when ``dask[distributed]`` is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfeat import (
    DeepfakeDetector,
    ImageFeatures,
    MetadataFeatures,
    load_dataset,
    make_demo_dataset,
)
from deepfeat.evaluation import grouped_splits
from deepfeat.features._cache import extract_table


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> pd.DataFrame:
    """80 demo images (half fake) + a corrupt and a truncated file + a numeric sidecar column.

    Also written as manifests ``all.csv`` and ``plain.csv`` (no sidecar) next to the images.
    """
    root = tmp_path_factory.mktemp("dask_demo")
    make_demo_dataset(root, n_images=80, fake_fraction=0.5, random_state=0)
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    real = sorted((root / "real").glob("*.jpg"))[0].read_bytes()
    (root / "truncated.jpg").write_bytes(real[:200])
    manifest = pd.read_csv(root / "manifest.csv")
    extra = pd.DataFrame(
        [
            {"path": "corrupt.jpg", "label": "fake", "group": "bad0"},
            {"path": "truncated.jpg", "label": "real", "group": "bad1"},
        ]
    )
    manifest = pd.concat([manifest, extra], ignore_index=True)
    # without the sidecar for the CLI test (sidecar columns are opt-in: --sidecar COL)
    manifest.to_csv(root / "plain.csv", index=False)
    manifest["width_px"] = np.arange(len(manifest), dtype=float) % 7 + 120.0
    manifest.to_csv(root / "all.csv", index=False)
    df = load_dataset(root / "all.csv")
    df.attrs["csv"] = str(root / "plain.csv")
    return df


def _subset_with_failures(data: pd.DataFrame, n: int) -> pd.DataFrame:
    bad = data["group"].str.startswith("bad")
    return pd.concat([data[~bad].iloc[:n], data[bad]], ignore_index=True)


def _fresh_worker_caches(client) -> None:
    from deepfeat.distributed import clear_worker_cache

    client.run(clear_worker_cache)


# ----------------------------------------------------------------------------- no cluster
def test_import_does_not_import_dask():
    code = (
        "import sys, deepfeat.distributed\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'xgboost')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_dask_gives_install_hint(monkeypatch):
    from deepfeat import distributed

    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'deepfeat\[dask\]'"):
        distributed.extract_features(["a.jpg"])


def test_cli_options_are_exclusive_and_validated():
    from deepfeat.cli._dask import add_dask_options, dask_requested

    p = argparse.ArgumentParser()
    add_dask_options(p)
    assert not dask_requested(p.parse_args([]))
    assert dask_requested(p.parse_args(["--scheduler", "tcp://10.0.0.1:8786"]))
    assert p.parse_args(["--dask-local", "3"]).dask_local == 3
    for bad in (["--scheduler", "x", "--dask-local", "2"], ["--dask-local", "0"]):
        with pytest.raises(SystemExit):
            p.parse_args(bad)


def test_docstring_examples_run():
    import doctest

    from deepfeat import distributed
    from deepfeat.distributed import _client, _extract, _train

    runs = [
        doctest.testmod(m, optionflags=doctest.ELLIPSIS)
        for m in (distributed, _client, _extract, _train)
    ]
    result = doctest.TestResults(sum(r.failed for r in runs), sum(r.attempted for r in runs))
    assert result.failed == 0 and result.attempted > 5


# ----------------------------------------------------------------------------- extraction
def test_features_and_failures_equal_local_bitwise(client, data):
    """All three groups, a corrupt and a truncated file, a sidecar column: same table."""
    from deepfeat.distributed import extract_features, warm_up, worker_cache_info

    df = _subset_with_failures(data, 10)  # 12 rows → 3 partitions of 4
    meta = MetadataFeatures(sidecar=["width_px"])  # sidecar columns are opt-in
    ext = ImageFeatures(batch_size=4, meta=meta).fit(df, df["label"])
    local, local_fails = extract_table(df, ext)
    assert len(local_fails) >= 2  # both bad files failed locally

    _fresh_worker_caches(client)
    assert len(warm_up(client, ext)) == 2  # both workers load the extractor and session now
    res = extract_features(df, client, extractor=ext, partition_size=4)
    assert res.features.npartitions == 3
    feats, fails = res.compute()

    expected = pd.concat([df, local], axis=1)
    assert list(feats.columns) == list(expected.columns)
    assert feats.dtypes.equals(expected.dtypes)
    assert res.features.dtypes.equals(expected.dtypes)  # the declared meta matches
    # bitwise: the same code computes every value (NaN compared as equal)
    pd.testing.assert_frame_equal(feats, expected, check_exact=True)
    assert "meta_sidecar_width_px" in feats.columns
    pd.testing.assert_frame_equal(fails, local_fails, check_exact=True)

    stats = client.run(worker_cache_info)
    # both tables computed together: every partition extracted exactly once
    assert sum(s["partitions"] for s in stats.values()) == 3
    for s in stats.values():
        # one extractor, hence one onnxruntime session, per worker process: warm_up built
        # it, and the partitions reused it
        assert s["extractors_built"] == 1
        assert s["cnn_sessions"] == 1


def test_paths_input_and_parquet_layout(client, data, tmp_path):
    from deepfeat.distributed import FAILURES_FILE, extract_features, read_features_parquet
    from deepfeat.features._spec import extractor_from_json

    df = _subset_with_failures(data, 10)
    ext = ImageFeatures(groups=("fft",)).fit()
    local, local_fails = extract_table(list(df["path"]), ext)

    res = extract_features(list(df["path"]), client, extractor=ext, partition_size=5)
    fails = res.to_parquet(tmp_path / "feats")
    files = sorted(p.name for p in (tmp_path / "feats").iterdir())
    assert files == [FAILURES_FILE, *[f"part.{i:06d}.parquet" for i in range(3)]]

    ok = ~local.isna().all(axis=1)
    expected = pd.concat([df[["path"]], local], axis=1).loc[ok].reset_index(drop=True)
    back = pd.read_parquet(tmp_path / "feats")
    pd.testing.assert_frame_equal(back, expected, check_exact=True)
    pd.testing.assert_frame_equal(fails, local_fails)
    written = pd.read_csv(tmp_path / "feats" / FAILURES_FILE, keep_default_na=False)
    pd.testing.assert_frame_equal(written, fails)

    ddf, ext_json = read_features_parquet(tmp_path / "feats")
    assert len(ddf.compute()) == len(expected)
    rebuilt = extractor_from_json(ext_json, tmp_path)
    assert list(rebuilt.get_feature_names_out()) == list(ext.get_feature_names_out())


def test_dask_dataframe_input_keeps_its_partitions(client, data):
    import dask.dataframe as dd

    from deepfeat.distributed import extract_features

    df = _subset_with_failures(data, 8)
    ext = ImageFeatures(groups=("fft", "meta")).fit(df, df["label"])
    local, local_fails = extract_table(df, ext)
    ddf = dd.from_pandas(df, npartitions=3)
    with pytest.raises(ValueError, match="fitted extractor"):
        extract_features(ddf, client, groups=("fft",))
    res = extract_features(ddf, client, extractor=ext)
    assert res.features.npartitions == 3
    feats, fails = res.compute()
    pd.testing.assert_frame_equal(feats[local.columns], local, check_exact=True)
    # input columns keep the dask frame's dtypes (dask stores strings as string[pyarrow])
    pd.testing.assert_frame_equal(feats[df.columns], df, check_dtype=False)
    pd.testing.assert_frame_equal(fails, local_fails, check_exact=True)


# ----------------------------------------------------------------------------- training
@pytest.mark.slow
def test_fit_dask_stacks_the_linear_probe_like_fit(client, data):
    """One training recipe: under Dask the CNN probe is stacked exactly as locally."""
    import dask.dataframe as dd
    from sklearn.metrics import roc_auc_score

    from deepfeat.distributed import extract_features, fit_dask

    ext = ImageFeatures().fit(data, data["label"])
    table, _ = extract_features(data, client, extractor=ext, partition_size=32).compute()
    y, g = table["label"].to_numpy(), table["group"].to_numpy()
    train, test = next(grouped_splits(y, g, n_splits=4, random_state=0))
    tr, te = table.iloc[train].reset_index(drop=True), table.iloc[test].reset_index(drop=True)

    local = DeepfakeDetector(features=ext).fit(tr)
    remote = fit_dask(
        client, dd.from_pandas(tr, npartitions=3), detector=DeepfakeDetector(features=ext)
    )

    assert local.probe_ is not None and remote.probe_ is not None
    assert list(remote.model_columns_) == list(local.model_columns_)
    assert remote.model_columns_[-1] == "cnn_probe"
    np.testing.assert_allclose(remote.probe_.coef, local.probe_.coef, rtol=1e-6, atol=1e-9)
    assert remote.best_iteration_ > 0 and remote.validation_metrics_
    ok = te[list(local.columns_)].notna().any(axis=1).to_numpy()
    auc_local = roc_auc_score(te["label"][ok], local.predict_proba(te[ok])[:, 1])
    auc_dask = roc_auc_score(te["label"][ok], remote.predict_proba(te[ok])[:, 1])
    assert abs(auc_local - auc_dask) <= 0.02, (auc_local, auc_dask)
    assert any("linear probe" in line for line in remote.training_summary_["stages"])


@pytest.mark.slow
def test_fit_dask_auc_matches_local_and_model_round_trips(client, data, tmp_path):
    import dask.dataframe as dd

    from deepfeat.distributed import extract_features, fit_dask

    ext = ImageFeatures(groups=("fft", "meta")).fit(data, data["label"])
    table, _ = extract_features(data, client, extractor=ext, partition_size=32).compute()
    y, g = table["label"].to_numpy(), table["group"].to_numpy()
    train, test = next(grouped_splits(y, g, n_splits=4, random_state=0))
    tr, te = table.iloc[train].reset_index(drop=True), table.iloc[test].reset_index(drop=True)

    params = {"feature_groups": ("fft", "meta"), "features": ext}
    local = DeepfakeDetector(**params).fit(tr)
    ddf = dd.from_pandas(tr, npartitions=3)
    remote = fit_dask(client, ddf, detector=DeepfakeDetector(**params))

    assert isinstance(remote.model_, type(local.model_))
    assert remote.scale_pos_weight_ == pytest.approx(local.scale_pos_weight_)
    for key in ("n_samples", "n_real", "n_fake", "n_unusable", "validation_samples"):
        assert remote.training_summary_[key] == local.training_summary_[key], key
    assert remote.training_summary_["validation_samples"] > 0  # early stopping on a fold
    assert remote.training_summary_["backend"] == "dask"

    from sklearn.metrics import roc_auc_score

    ok = te[list(local.columns_)].notna().any(axis=1).to_numpy()
    auc_local = roc_auc_score(te["label"][ok], local.predict_proba(te[ok])[:, 1])
    auc_dask = roc_auc_score(te["label"][ok], remote.predict_proba(te[ok])[:, 1])
    assert abs(auc_local - auc_dask) <= 0.02, (auc_local, auc_dask)

    remote.save(tmp_path / "dask_model")
    local.save(tmp_path / "local_model")
    loaded = DeepfakeDetector.load(tmp_path / "dask_model")
    np.testing.assert_array_equal(
        loaded.predict_proba(te[ok])[:, 1], remote.predict_proba(te[ok])[:, 1]
    )
    card_d = json.loads((tmp_path / "dask_model" / "card.json").read_text())
    card_l = json.loads((tmp_path / "local_model" / "card.json").read_text())
    assert set(card_d) == set(card_l)
    assert card_d["format_version"] == card_l["format_version"]
    assert card_d["extractor"] == card_l["extractor"]
    assert card_d["feature_names"] == card_l["feature_names"]


@pytest.mark.slow
def test_cli_helpers_extract_and_train_on_a_scheduler(client, data, tmp_path, capsys):
    from deepfeat import cli
    from deepfeat.cli._common import UserError
    from deepfeat.cli._dask import run_extract_dask, run_train_dask
    from deepfeat.cli._extract import cmd_extract
    from deepfeat.datasets import resolve_input

    csv = data.attrs["csv"]
    address = client.scheduler.address

    def args(*argv: str) -> argparse.Namespace:
        ns = cli.build_parser().parse_args(list(argv))
        ns.scheduler, ns.dask_local = address, None
        return ns

    common = ["--groups", "fft,meta", "--chunk-size", "32", "-q", "--no-cache"]
    # the local command (not cli.main: it would point the root logger at captured stderr)
    local_args = cli.build_parser().parse_args(
        ["extract", csv, "--out", str(tmp_path / "local.parquet"), *common]
    )
    assert cmd_extract(local_args) == 0
    single = args("extract", csv, "--out", str(tmp_path / "d" / "dask.parquet"), *common)
    assert run_extract_dask(single, resolve_input(csv)) == 0
    folder = args("extract", csv, "--out", str(tmp_path / "f" / "feats"), *common)
    assert run_extract_dask(folder, resolve_input(csv)) == 0
    from deepfeat._lock import OutputLock

    with OutputLock(tmp_path / "f" / "feats"), pytest.raises(UserError, match="another"):
        run_extract_dask(folder, resolve_input(csv))  # one run per --out on Dask too

    local = pd.read_parquet(tmp_path / "local.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "d" / "dask.parquet"), local)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "f" / "feats"), local)
    errors = pd.read_csv(tmp_path / "local.errors.csv")  # named after each output
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "d" / "dask.errors.csv"), errors)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "f" / "feats.errors.csv"), errors)
    assert len(errors) >= 2

    for source, out in ((tmp_path / "d" / "dask.parquet", "m1"), (csv, "m2")):
        ns = args("train", str(source), "--out", str(tmp_path / out), *common[:-1])
        assert run_train_dask(ns) == 0
        det = DeepfakeDetector.load(tmp_path / out)
        assert det.training_summary_["backend"] == "dask"
        proba = det.predict_proba(local)[:, 1]
        assert np.isfinite(proba).all()
    assert "saved" in capsys.readouterr().out


# ----------------------------------------------------------------------------- resilience
@pytest.mark.slow
def test_worker_killed_mid_extraction_loses_and_duplicates_nothing(client, data):
    """Kill a worker holding finished partitions while others still run: Dask recomputes.

    Runs last: the nanny restarts the killed worker, and the test waits for it.
    """
    from distributed import futures_of

    from deepfeat.distributed import extract_features

    df = _subset_with_failures(data, 46)  # 48 rows, 24 partitions (tasks) of 2 images
    ext = ImageFeatures(groups=("fft", "meta")).fit(df, df["label"])
    local, local_fails = extract_table(df, ext)

    res = extract_features(df, client, extractor=ext, partition_size=2).persist()
    futures = futures_of(res.features)
    deadline = time.monotonic() + 60
    while not any(f.done() for f in futures):
        assert time.monotonic() < deadline, "no partition finished within 60 s"
        time.sleep(0.005)
    done = [f for f in futures if f.done()]
    pending = sum(not f.done() for f in futures)
    victim = next(a for addrs in client.who_has(done).values() for a in addrs)
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)  # like the OOM killer: no clean-up, results in memory lost
    assert pending > 0, "everything finished before the kill; nothing was mid-extraction"

    feats, fails = res.compute()
    assert feats.index.tolist() == list(range(len(df)))  # every input exactly once, in order
    assert feats["path"].tolist() == df["path"].tolist()
    pd.testing.assert_frame_equal(feats, pd.concat([df, local], axis=1), check_exact=True)
    pd.testing.assert_frame_equal(fails, local_fails, check_exact=True)
    client.wait_for_workers(2, timeout=60)  # the nanny restarted the killed worker


def test_docs_and_bench_script_exist():
    repo = Path(__file__).resolve().parents[1]
    doc = (repo / "docs" / "distributed.md").read_text()
    for needle in ("--scheduler", "deepfeat[dask]", "_failures.csv", "part.000000.parquet"):
        assert needle in doc
    assert (repo / "scripts" / "benchmarks" / "bench_distributed.py").is_file()
