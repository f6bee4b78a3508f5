import math
from types import SimpleNamespace

import pandas as pd

from trainer.tuning.report import plot_curves, render_table, summarize


def _result(trial, bpcs, config, error=None, done=True):
    frame = pd.DataFrame({"epoch": list(range(1, len(bpcs) + 1)), "val_bpc": bpcs})
    return SimpleNamespace(
        metrics_dataframe=frame,
        metrics={"trial_id": trial, "done": done},
        config=config,
        error=error,
        path=f"/exp/{trial}",
    )


def test_summaries_sorted_best_first_with_early_stops_and_errors():
    results = [
        _result("b", [3.0, 2.6], {"units": 64, "learning_rate": 0.01, "epochs": 4}),
        _result("a", [2.9, 2.4, 2.2, 2.1], {"units": 128, "learning_rate": 0.003, "epochs": 4}),
        SimpleNamespace(
            metrics_dataframe=None,
            metrics={},
            config={"units": 32, "epochs": 4},
            error=RuntimeError("worker died\ntraceback"),
            path="/exp/c",
        ),
    ]
    summaries = summarize(results, ["units", "learning_rate"], default_epochs=4)
    assert [s.trial_id for s in summaries] == ["a", "b", "c"]
    assert summaries[0].best_val_bpc == 2.1 and summaries[0].ended == "completed"
    assert summaries[1].ended == "stopped early" and summaries[1].epochs_run == 2
    assert summaries[2].error == "worker died" and math.isinf(summaries[2].best_val_bpc)
    table = render_table(summaries).splitlines()
    assert table[0].startswith(
        "| rank | trial | best val_bpc | epochs | ended | units | learning_rate"
    )
    assert table[2].startswith("| 1 | a | 2.1000 | 4/4 | completed | 128 | 0.003 |")
    assert table[3].startswith("| 2 | b | 2.6000 | 2/4 | stopped early | 64 | 0.01 |")
    assert "error: worker died" in table[4]


def test_a_time_budget_is_not_an_early_stop_and_unstarted_trials_say_so():
    """When the time budget ends the experiment, Ray stops the running trials without marking
    their last result done; trials still pending never report and have no sampled config."""
    results = [
        _result("a", [2.9, 2.4], {"units": 256, "epochs": 40}, done=False),
        _result("b", [3.0], {"units": 192, "epochs": 40}, done=True),
        SimpleNamespace(metrics_dataframe=None, metrics={}, config={}, error=None, path="/exp/c"),
    ]
    summaries = summarize(results, ["units"], default_epochs=40)
    assert [s.ended for s in summaries] == ["time budget", "stopped early", "not started"]
    table = render_table(summaries).splitlines()
    assert table[2].startswith("| 1 | a | 2.4000 | 2/40 | time budget | 256 |")
    assert table[4].startswith("| 3 | c | - | 0/40 | not started | - |")


def test_curves_png(tmp_path):
    summaries = summarize(
        [_result("a", [2.9, 2.5], {"epochs": 2}), _result("b", [3.1], {"epochs": 2})],
        [],
        default_epochs=2,
    )
    path = plot_curves(summaries, tmp_path / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 5000
