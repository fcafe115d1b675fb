"""The command line: help, demo, exit codes."""

from __future__ import annotations

import subprocess
import sys

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
    assert main(["demo", "--n-images", "12", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "real" in out and "fake" in out and "total" in out


def test_console_script_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "deepfeat.cli", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout.startswith("deepfeat ")
