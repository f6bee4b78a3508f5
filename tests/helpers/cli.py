"""`run_cli`: the `charloom` command line in the test's own process, as a finished process."""

from __future__ import annotations

import subprocess


def run_cli(capsys, *args) -> subprocess.CompletedProcess:
    """``charloom ARGS`` through `charloom.cli.main` in this process, its output from ``capsys``:
    no interpreter and no TensorFlow import per call. Only for commands this process's
    TensorFlow can run (one replica: logical devices cannot be split once TensorFlow started)."""
    from charloom.cli import main

    code = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out, err)
