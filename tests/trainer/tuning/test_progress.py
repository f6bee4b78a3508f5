"""TuneProgress: the counts, the best val_bpc and the clock behind the tuning progress line,
driven through Ray Tune's callback hooks with stand-in trials and a fake clock."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

from trainer.tuning.progress import TuneProgress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _trial(trial_id: str, epoch: int | None = None) -> SimpleNamespace:
    return SimpleNamespace(trial_id=trial_id, last_result={"epoch": epoch} if epoch else {})


def _progress(total=4, max_epochs=3, budget=300.0):
    lines: list[tuple[str, bool]] = []
    clock = Clock()
    progress = TuneProgress(
        total, max_epochs, budget, lambda line, event: lines.append((line, event)), clock=clock
    )
    return progress, lines, clock


def test_events_count_finished_stopped_and_failed_trials_and_track_the_best():
    progress, lines, clock = _progress()
    progress.setup(total_num_samples=4)
    for trial_id in ("a", "b", "c"):
        progress.on_trial_start(0, [], _trial(trial_id))
    progress.on_trial_result(0, [], _trial("a"), {"val_bpc": 3.0, "epoch": 1})
    progress.on_trial_result(0, [], _trial("b"), {"val_bpc": 3.5, "epoch": 1})  # not a new best
    clock.now += 75
    progress.on_trial_complete(0, [], _trial("a", epoch=3))
    progress.on_trial_complete(0, [], _trial("b", epoch=1))
    progress.on_trial_error(0, [], _trial("c"))
    events = [line for line, event in lines if event]
    assert events[3].startswith("new best val_bpc 3.000: trial a, epoch 1")
    assert not any("3.500" in line for line in events)
    assert events[-3].startswith("trial a finished 3 epochs")
    assert events[-2].startswith("trial b stopped early after 1 epoch(s)")
    assert events[-1].startswith("trial c failed")
    assert progress.status() == (
        "trials 3/4 done (0 running, 1 stopped early, 1 failed) | best val_bpc 3.000"
        " | 1:15 elapsed, 3:45 of the budget left"
    )


def test_the_total_counts_every_grid_combination_tune_creates():
    progress, _, _ = _progress(total=1)  # --num-samples 1 over a space with a two-value grid
    progress.setup(num_samples=1, total_num_samples=2)
    assert progress.status().startswith("trials 0/2 done")


def test_status_refreshes_at_most_once_a_second_between_events():
    progress, lines, clock = _progress()
    progress.setup(total_num_samples=4)
    for _ in range(3):
        progress.on_step_end(0, [])
    clock.now += 1.2
    progress.on_step_end(0, [])
    refreshes = [line for line, event in lines if not event]
    assert len(refreshes) == 2 and refreshes[-1].endswith("0:01 elapsed, 4:59 of the budget left")


def test_a_resumed_run_goes_on_from_the_saved_counts_best_and_elapsed_time():
    progress, _, clock = _progress()
    progress.setup(total_num_samples=4)
    for trial_id in ("a", "b"):
        progress.on_trial_start(0, [], _trial(trial_id))
    progress.on_trial_result(0, [], _trial("a"), {"val_bpc": 2.5, "epoch": 3})
    progress.on_trial_complete(0, [], _trial("a", epoch=3))
    clock.now += 100
    saved = pickle.loads(
        pickle.dumps(progress.get_state())
    )  # as Tune writes it with the experiment

    # The driver died; the restored callback (Tune unpickles the original run's config) gets the
    # saved state, then setup() when the resumed run starts, much later.
    resumed, lines, clock = _progress()
    clock.now += 5000
    resumed.set_state(saved)
    resumed.setup(total_num_samples=4)
    resumed.on_trial_start(0, [], _trial("b"))
    resumed.on_trial_result(0, [], _trial("b"), {"val_bpc": 2.7, "epoch": 2})  # worse: no event
    clock.now += 20
    resumed.on_trial_complete(0, [], _trial("b", epoch=3))
    events = [line for line, event in lines if event]
    assert len(events) == 2
    assert events[-1] == (
        "trial b finished 3 epochs  [trials 2/4 done (0 running) | best val_bpc 2.500"
        " | 2:00 elapsed, 3:00 of the budget left]"
    )


def test_non_finite_results_never_become_the_best():
    progress, _, _ = _progress()
    progress.setup(total_num_samples=4)
    progress.on_trial_result(0, [], _trial("a"), {"val_bpc": float("nan"), "epoch": 1})
    progress.on_trial_result(0, [], _trial("a"), {"epoch": 1})
    assert "best val_bpc -" in progress.status()
