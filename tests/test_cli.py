"""The command line: help, demo, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deepfeat.cli import main


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage" in capsys.readouterr().out


def test_unknown_command_is_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


def test_demo_runs(tmp_path, capsys):
    assert main(["demo", "--n-images", "40", "--out", str(tmp_path), "--groups", "fft,meta"]) == 0
    out = capsys.readouterr().out
    assert "held-out metrics" in out and "roc_auc" in out and "ablation" in out
    assert (tmp_path / "model" / "card.json").is_file()
    assert main(["demo", "--n-images", "12"]) == 1


def test_console_script_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "deepfeat.cli", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout.startswith("deepfeat ")


# ------------------------------------------------------------------ extract / train / predict


def _bad_folder(tmp_path, demo_dir):
    """A labelled manifest whose rows include broken files."""
    import pandas as pd

    from deepfeat import load_dataset

    df = load_dataset(demo_dir).iloc[:24].copy()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "text.png").write_bytes(b"hello, not an image")
    (bad / "trunc.jpg").write_bytes(Path(df["path"].iloc[0]).read_bytes()[:300])
    extra = pd.DataFrame(
        {
            "path": [str(bad / n) for n in ("empty.jpg", "text.png", "trunc.jpg")],
            "label": [1, 0, 1],
            "group": ["b1", "b2", "b3"],
        }
    )
    table = pd.concat([df[["path", "label", "group"]], extra], ignore_index=True)
    manifest = tmp_path / "manifest.csv"
    table.to_csv(manifest, index=False)
    return manifest, table


def test_extract_accounts_for_every_input(tmp_path, demo_dir, capsys):
    import pandas as pd

    manifest, table = _bad_folder(tmp_path, demo_dir)
    out = tmp_path / "feats.parquet"
    code = main(["extract", str(manifest), "--out", str(out), "--groups", "fft,meta", "-q"])
    assert code == 0
    feats = pd.read_parquet(out)
    errors = pd.read_csv(tmp_path / "feats.errors.csv")
    assert set(feats["path"]) | set(errors["path"]) == set(table["path"])
    assert not set(feats["path"]) & set(errors["path"])
    assert len(errors) == 3 and set(errors["stage"]) == {"load"}
    assert {"label", "group"} <= set(feats.columns)
    assert any(c.startswith("meta_") for c in feats.columns)
    summary = capsys.readouterr().out
    assert "24 ok, 3 failed of 27" in summary and "img/s" in summary
    assert "24 extracted, 0 reused from cache, 3 failed" in summary  # a failure is not extracted
    # a second run: every row from the cache; the rate counts only computed inputs
    assert main(["extract", str(manifest), "--out", str(out), "--groups", "fft,meta", "-q"]) == 0
    summary = capsys.readouterr().out
    assert "0 extracted, 24 reused from cache, 3 failed" in summary
    assert "over the 0 inputs computed" in summary


def test_errors_file_is_named_after_the_output(tmp_path, demo_dir, capsys):
    """Two extracts into one folder keep their own error lists; none when nothing failed."""
    import pandas as pd

    manifest, _ = _bad_folder(tmp_path, demo_dir)
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert main(["extract", str(manifest), "--out", str(a), "--groups", "fft", "-q"]) == 0
    assert main(["extract", str(demo_dir), "--out", str(b), "--groups", "fft", "-q"]) == 0
    assert len(pd.read_csv(tmp_path / "a.errors.csv")) == 3
    assert not (tmp_path / "b.errors.csv").exists() and not (tmp_path / "errors.csv").exists()
    assert "no failures" in capsys.readouterr().out


def test_extract_gathers_chunks_into_row_groups(tmp_path, demo_dir, monkeypatch):
    # one row group per chunk made the writer's in-memory footer grow with the inputs
    import pandas as pd
    import pyarrow.parquet as pq

    import deepfeat.features._table as table

    manifest, _ = _bad_folder(tmp_path, demo_dir)  # 24 images, then 3 broken files
    monkeypatch.setattr(table, "ROW_GROUP_ROWS", 10)
    out = tmp_path / "feats.parquet"
    args = ["extract", str(manifest), "--out", str(out), "--groups", "fft,meta", "--no-cache"]
    assert main([*args, "--chunk-size", "3", "-q"]) == 0  # the last chunk: broken files only
    meta = pq.ParquetFile(out).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sum(sizes) == 24 and all(s >= 10 for s in sizes[:-1]) and len(sizes) <= 3
    names = [meta.schema.column(j).name for j in range(meta.num_columns)]
    stats = {nm: meta.row_group(0).column(j).is_stats_set for j, nm in enumerate(names)}
    assert stats["path"] and stats["label"] and not stats["fft_000"]
    whole = tmp_path / "whole.parquet"
    assert main([*args[:3], str(whole), *args[4:], "-q"]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(whole))
    assert len(pd.read_csv(tmp_path / "whole.errors.csv")) == 3


def test_extract_nothing_usable_exit_code(tmp_path):
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"junk")
    code = main(["extract", str(folder), "--out", str(tmp_path / "f.parquet"), "--groups", "fft"])
    assert code == 3


def test_user_errors_are_one_line_exit_1(tmp_path, capsys):
    assert main(["extract", str(tmp_path / "nope"), "--out", str(tmp_path / "x.parquet")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0]
    assert main(["predict", str(tmp_path), str(tmp_path)]) == 1


def test_train_predict_evaluate_ablation(tmp_path, capsys):
    import json

    import pandas as pd

    from deepfeat import load_dataset, make_demo_dataset

    demo_dir = make_demo_dataset(tmp_path / "demo", n_images=150, random_state=1)

    feats = tmp_path / "feats.parquet"
    assert main(["extract", str(demo_dir), "--out", str(feats), "--groups", "fft,meta", "-q"]) == 0
    model = tmp_path / "model"
    assert main(["train", str(feats), "--out", str(model), "--calibration", "isotonic"]) == 0
    out = capsys.readouterr().out
    assert "roc_auc" in out and "saved" in out

    df = load_dataset(demo_dir)
    one = df["path"].iloc[0]
    assert main(["predict", str(model), one]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["path"] == one and 0.0 <= row["probability_fake"] <= 1.0
    assert row["label"] in ("real", "fake") and row["top_reasons"]

    preds = tmp_path / "preds.csv"
    assert (
        main(
            [
                "predict",
                str(model),
                str(demo_dir / "real"),
                str(demo_dir / "fake"),
                "--out",
                str(preds),
            ]
        )
        == 0
    )
    table = pd.read_csv(preds)
    assert len(table) == len(df)
    assert {"path", "probability_fake", "label", "top_reasons", "contrib_fft"} <= set(table.columns)

    metrics = tmp_path / "m.json"
    assert main(["evaluate", str(model), str(demo_dir), "--out", str(metrics)]) == 0
    assert json.loads(metrics.read_text())["roc_auc"] > 0.9
    assert main(["ablation", str(feats), "--cv", "3"]) == 0
    out = capsys.readouterr().out
    assert "fft+meta" in out


@pytest.mark.slow
def test_killed_extraction_resumes_to_identical_output(tmp_path, demo_dir):
    """SIGKILL a real extraction subprocess mid-run; the restart equals an uninterrupted run."""
    import os
    import signal
    import time

    import pandas as pd

    args = ["--groups", "cnn,fft,meta", "--chunk-size", "6", "--batch-size", "6", "-q"]
    ref = tmp_path / "ref.parquet"
    assert main(["extract", str(demo_dir), "--out", str(ref), "--no-cache", *args]) == 0

    out = tmp_path / "run" / "feats.parquet"
    cache = tmp_path / "cache"
    cmd = [
        sys.executable,
        "-m",
        "deepfeat.cli",
        "extract",
        str(demo_dir),
        "--out",
        str(out),
        "--cache",
        str(cache),
        *args,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if len(list(cache.rglob("chunk-*.parquet"))) >= 2:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    done = len(list(cache.rglob("chunk-*.parquet")))
    n_chunks = -(-60 // 6)
    assert 0 < done < n_chunks, "the kill did not land mid-run"
    assert not out.exists()

    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"{done * 6} reused from cache" in result.stdout
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(ref))


@pytest.mark.parametrize("script", ["extract_features.py", "train.py"])
def test_scripts_are_thin_wrappers(script):
    path = Path(__file__).resolve().parents[1] / "scripts" / script
    result = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "example" in result.stdout
    assert len(path.read_text().splitlines()) < 20  # no logic lives in scripts/


@pytest.mark.slow
def test_report_command(tmp_path, demo_dir, capsys):
    model = tmp_path / "model"
    feats = tmp_path / "f.parquet"
    assert main(["extract", str(demo_dir), "--out", str(feats), "--groups", "fft,meta", "-q"]) == 0
    assert main(["train", str(feats), "--out", str(model)]) == 0
    out = tmp_path / "report"
    assert main(["report", str(demo_dir), "--model", str(model), "--out", str(out)]) == 0
    page = out / "report.html"
    assert page.is_file()
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) >= 10
    html = page.read_text()
    assert html.count("data:image/png;base64,") >= len(pngs)


def test_parsing_does_not_import_scikit_learn():
    """`deepfeat extract --jobs N` starts its workers before the heavy imports."""
    from conftest import heavy_modules_after

    code = (
        "from deepfeat.cli import build_parser\n"
        "build_parser().parse_args(['extract', 'x', '--out', 'y.parquet', '--groups', 'fft'])"
    )
    assert "sklearn" not in heavy_modules_after(code)


# ------------------------------------------------------------------ issue 18: surfaces


def _options(parser):
    """(command, option strings, help) of every argument of every subcommand."""
    import argparse

    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        for action in p._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            yield name, p, action


def test_every_option_has_help_text():
    """`deepfeat COMMAND --help` has a described line for every option and argument."""
    from deepfeat.cli import build_parser

    missing, absent = [], []
    for name, p, action in _options(build_parser()):
        label = "/".join(action.option_strings) or action.dest
        if not (action.help or "").strip():
            missing.append(f"{name} {label}")
        text = p.format_help()
        shown = action.option_strings or [action.metavar or action.dest]
        if not all(opt in text for opt in shown):
            absent.append(f"{name} {label}")
    assert not missing, f"options without help text: {missing}"
    assert not absent, f"options missing from --help: {absent}"


def test_train_prints_one_line_per_stage(tmp_path, trained, capsys):
    _, feats, _ = trained
    capsys.readouterr()
    assert main(["train", str(feats), "--out", str(tmp_path / "m"), "--groups", "meta", "-q"]) == 0
    out = capsys.readouterr().out
    for start in ("features: ", "early stopping: ", "calibration: ", "refit: ", "leakage audit: "):
        assert any(line.startswith(start) for line in out.splitlines()), (start, out)
    assert "brier/ece: " in out and "cross-fitted" in out  # never the calibrator's own fold


def test_leakage_audit_says_nothing_flagged(tmp_path, capsys):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 200
    y = (rng.random(n) < 0.5).astype(int)
    table = pd.DataFrame({"fft_000": y + rng.normal(0, 1.5, n), "meta_x": rng.normal(size=n)})
    table["label"], table["group"] = y, np.arange(n) // 2
    feats = tmp_path / "t.parquet"
    table.to_parquet(feats)
    assert main(["train", str(feats), "--out", str(tmp_path / "m"), "-q"]) == 0
    assert "leakage audit: nothing flagged" in capsys.readouterr().out.splitlines()


def test_predict_failed_rows_have_no_scores_or_contributions(tmp_path, trained, capsys):
    import pandas as pd

    demo, _, model = trained
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    good = sorted((demo / "real").iterdir())[0]
    out = tmp_path / "p.csv"
    assert main(["predict", str(model), str(good), str(bad), "--out", str(out)]) == 0
    table = pd.read_csv(out).set_index("path")
    contrib = [c for c in table.columns if c.startswith("contrib_")]
    assert contrib and table.loc[str(bad), contrib].isna().all()
    assert pd.isna(table.loc[str(bad), "probability_fake"]) and table.loc[str(bad), "error"]
    assert table.loc[str(good), contrib].notna().all()
    capsys.readouterr()
    assert main(["predict", str(model), str(bad)]) == 3
    row = json.loads(capsys.readouterr().out)  # valid JSON: no NaN
    assert row["probability_fake"] is None and row["error"]
    assert all(row[c] is None for c in row if c.startswith("contrib_"))


def test_predict_keeps_paths_as_given_and_reports_duplicates(
    tmp_path, trained, monkeypatch, capsys
):
    import pandas as pd

    demo, _, model = trained
    photos = tmp_path / "photos"
    photos.mkdir()
    target = sorted((demo / "fake").iterdir())[0]
    (photos / "x.png").symlink_to(target)
    (photos / "copy.png").symlink_to(target)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "p.csv"
    assert main(["predict", str(model), "photos/x.png", "photos", "--out", str(out)]) == 0
    paths = pd.read_csv(out)["path"].tolist()
    assert paths == ["photos/x.png", "photos/copy.png", "photos/x.png"]
    err = capsys.readouterr().err
    assert "2 input(s) are the same file as another input" in err


def test_predict_threshold_and_fpr(tmp_path, trained, capsys):
    import pandas as pd

    demo, _, model = trained
    out = tmp_path / "p.csv"
    assert (
        main(["predict", str(model), str(demo), "--out", str(out), "--threshold", "0", "-q"]) == 0
    )
    assert (pd.read_csv(out)["label"] == "fake").all()
    args = ["predict", str(model), str(demo), "--out", str(out), "-q"]
    assert main([*args, "--fpr", "0", "--reference", str(demo)]) == 0
    table = pd.read_csv(out)
    real = table["path"].str.contains("/real/")
    assert (table.loc[real, "label"] == "real").all()
    assert "of the" in capsys.readouterr().err
    assert main([*args, "--fpr", "0.05"]) == 1  # needs --reference


def test_report_reads_the_parquet_and_takes_unlabelled_input(tmp_path, trained, monkeypatch):
    import deepfeat.features._combined as combined

    demo, feats, model = trained

    def no_extraction(*a, **k):
        raise AssertionError("report re-extracted features it was given")

    monkeypatch.setattr(combined.ImageFeatures, "transform", no_extraction)
    out = tmp_path / "r"
    assert main(["report", str(feats), "--model", str(model), "--out", str(out), "-q"]) == 0
    assert (out / "samples.png").is_file() and (out / "metrics.json").is_file()
    monkeypatch.undo()
    plain = tmp_path / "r2"
    args = ["report", str(demo / "fake"), "--model", str(model), "--out", str(plain), "-q"]
    assert main([*args, "--training-data", "no"]) == 0
    html = (plain / "report.html").read_text()
    assert "needs labels" in html and not (plain / "roc.png").exists()
    assert (plain / "samples.png").is_file() and (plain / "shap_summary.png").is_file()


def test_report_training_hint_names_a_real_option():
    from deepfeat.cli import build_parser
    from deepfeat.report._page import _TRAINING_NOTES

    helps = {
        opt
        for name, _, a in _options(build_parser())
        if name == "report"
        for opt in a.option_strings
    }
    assert "--training-data" in _TRAINING_NOTES["maybe"] and "--training-data" in helps


def test_progress_on_a_terminal_only_and_quiet(monkeypatch, trained, tmp_path, capsys):
    """tqdm bars go to stderr on a terminal; --quiet or a pipe silences them."""
    import deepfeat.cli as cli

    demo, feats, model = trained
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    commands = {
        "train": ["train", str(feats), "--out", str(tmp_path / "m"), "--groups", "fft"],
        "ablation": ["ablation", str(feats), "--cv", "2", "--groups", "fft"],
        "predict": ["predict", str(model), str(demo / "real"), "--out", str(tmp_path / "p.csv")],
        "evaluate": ["evaluate", str(model), str(demo)],
        "report": ["report", str(feats), "--out", str(tmp_path / "r")],
    }
    for name, args in commands.items():
        capsys.readouterr()
        assert cli.main(args) == 0, name
        err = capsys.readouterr().err
        assert "it/s" in err or "/s]" in err or "fig" in err, (name, err[-300:])
        assert cli.main([*args, "-q"]) == 0
        assert "/s]" not in capsys.readouterr().err, name


def test_sidecar_is_opt_in_on_the_command_line(tmp_path, demo_dir, capsys):
    """--sidecar COL at extract/train; predicting without COL is an error unless allowed."""
    import numpy as np
    import pandas as pd

    from deepfeat import load_dataset

    df = load_dataset(demo_dir)
    df["width_px"] = np.random.default_rng(0).integers(100, 2000, len(df)).astype(float)
    manifest = tmp_path / "m.csv"
    df.to_csv(manifest, index=False)
    plain, side = tmp_path / "plain.parquet", tmp_path / "side.parquet"
    args = ["extract", str(manifest), "--groups", "fft,meta", "-q", "--out"]
    assert main([*args, str(plain)]) == 0
    assert not [c for c in pd.read_parquet(plain).columns if c.startswith("meta_sidecar_")]
    assert main([*args, str(side), "--sidecar", "width_px"]) == 0
    assert "meta_sidecar_width_px" in pd.read_parquet(side).columns
    model = tmp_path / "model"
    assert main(["train", str(manifest), "--out", str(model), "--groups", "fft,meta"]) == 0
    card = json.loads((model / "card.json").read_text())
    assert card["sidecar_columns"] == []
    train = ["train", str(side), "--out", str(model), "--sidecar", "width_px", "-q"]
    assert main(train) == 0
    assert json.loads((model / "card.json").read_text())["sidecar_columns"] == ["width_px"]
    capsys.readouterr()
    one = df["path"].iloc[0]
    assert main(["predict", str(model), one]) == 1
    assert "width_px" in capsys.readouterr().err
    assert main(["predict", str(model), one, "--allow-missing-sidecar"]) == 0
    assert main(["predict", str(model), str(manifest), "--out", str(tmp_path / "p.csv")]) == 0


def test_second_run_on_the_same_out_is_refused(tmp_path, demo_dir, capsys):
    """Two runs on one --out used to share `.out.tmp` and corrupt each other's file."""
    import pandas as pd

    from deepfeat._lock import OutputLock

    out = tmp_path / "feats.parquet"
    args = ["extract", str(demo_dir), "--out", str(out), "--groups", "fft", "-q"]
    with OutputLock(out):  # another run owns the output
        assert main(args) == 1
        err = capsys.readouterr().err
        assert "being written by another deepfeat run" in err and len(err.splitlines()) == 1
        assert not out.exists()
    assert main(args) == 0  # the owner is gone: runs normally
    assert len(pd.read_parquet(out)) == 60
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_train_refuses_duplicated_columns_in_one_line(tmp_path, capsys):
    """Used to crash with a 1170-line schema dump."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    cols = [pa.array(rng.normal(size=40)) for _ in range(3)] + [pa.array([0, 1] * 20)]
    table = pa.Table.from_arrays(cols, names=["fft_000", "fft_001", "fft_000", "label"])
    pq.write_table(table, tmp_path / "dup.parquet")
    code = main(["train", str(tmp_path / "dup.parquet"), "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 1 and "duplicated column names" in err and "fft_000" in err
    assert len(err.strip().splitlines()) == 1


def test_predict_warns_about_out_of_domain_inputs(tmp_path, trained, capsys):
    """A picture unlike the training images gets a verdict and a warning saying so."""
    import numpy as np
    from PIL import Image

    demo, _, model = trained
    odd = tmp_path / "noise.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(odd)
    capsys.readouterr()
    assert main(["predict", str(model), str(odd)]) == 0
    captured = capsys.readouterr()
    row = json.loads(captured.out)
    assert row["in_domain"] is False and row["domain_score"] > 1 and row["domain_reasons"]
    warning = [line for line in captured.err.splitlines() if line.startswith("WARNING:")]
    assert len(warning) == 1 and "out of domain" in warning[0] and str(odd) in warning[0]
    good = sorted((demo / "real").iterdir())[0]
    assert main(["predict", str(model), str(good)]) == 0
    captured = capsys.readouterr()
    row = json.loads(captured.out)
    assert isinstance(row["in_domain"], bool) and row["domain_score"] >= 0
    assert ("WARNING:" in captured.err) == (not row["in_domain"])


def test_train_on_several_inputs_audits_the_sources(tmp_path, capsys):
    """Fakes from one source, reals from both: the source audit says the score tells them apart."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    paths = []
    for name, fake_share, width in (("alpha", 0.1, 224.0), ("beta", 0.7, 256.0)):
        n = 300
        y = (rng.random(n) < fake_share).astype(int)
        table = pd.DataFrame({f"fft_{i:03d}": rng.normal(size=n) for i in range(6)})
        table["meta_container_width"] = width
        table["label"], table["group"] = y, np.arange(n)
        path = tmp_path / f"{name}.parquet"
        table.to_parquet(path)
        paths.append(str(path))
    capsys.readouterr()
    assert main(["train", *paths, "--out", str(tmp_path / "m"), "-q"]) == 0
    captured = capsys.readouterr()
    assert "sources: alpha 300, beta 300" in captured.err + captured.out
    assert any(line.startswith("source audit") for line in captured.out.splitlines())
    assert "SOURCE WARNING: The model's P(fake) tells real images of 'alpha'" in captured.err
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    assert card["source_warnings"] and card["training"]["sources"] == ["alpha", "beta"]
    assert main(["train", paths[0], paths[0], "--out", str(tmp_path / "m2"), "-q"]) == 1


def test_extract_and_train_with_the_opt_in_forensic_group(tmp_path, demo_dir):
    import pandas as pd

    feats = tmp_path / "f.parquet"
    args = ["extract", str(demo_dir), "--out", str(feats), "--groups", "fft,forensic", "-q"]
    assert main(args) == 0
    cols = pd.read_parquet(feats).columns
    assert any(c.startswith("forensic_npr2") for c in cols) and not any(
        c.startswith("meta_") for c in cols
    )
    model = tmp_path / "m"
    assert main(["train", str(feats), "--out", str(model), "--groups", "forensic", "-q"]) == 0
    card = json.loads((model / "card.json").read_text())
    assert {n.split("_", 1)[0] for n in card["feature_names"]} == {"forensic"}
