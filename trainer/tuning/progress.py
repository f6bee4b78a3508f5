"""Progress of a running experiment, for people: trials finished, running and stopped, the best
val_bpc so far, elapsed time and what is left of the budget.

`TuneProgress` is a Ray Tune callback that formats the state and hands it to a ``report``
function (``report(line, event)``): ``event`` lines are moments worth keeping (a trial started,
finished, stopped early, failed; a new best), the others only refresh a status line. The CLI
decides how to show them (in place on a terminal, one per event otherwise); this module prints
nothing. Its counts are saved with the experiment, so `charloom tune --resume` goes on from them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from ray import tune

from trainer.tuning.report import METRIC

Report = Callable[[str, bool], None]
REFRESH_SECONDS = 1.0


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class TuneProgress(tune.Callback):
    """Counts trial states from Tune's callbacks; `status()` is the one-line summary."""

    def __init__(
        self,
        num_samples: int,
        max_epochs: int,
        time_budget_s: float | None,
        report: Report,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._total = num_samples
        self._max_epochs = max_epochs
        self._budget = time_budget_s
        self._report = report
        self._clock = clock
        self._started = clock()
        self._elapsed_before = 0.0  # time of the run before a restore (Ray's budget counts it too)
        self._last_refresh = 0.0
        self._running: set[str] = set()
        self._finished: set[str] = set()
        self._stopped: set[str] = set()
        self._failed: set[str] = set()
        self._best = math.inf
        self._best_trial = ""

    def status(self) -> str:
        elapsed = self._elapsed()
        done = len(self._finished) + len(self._stopped) + len(self._failed)
        parts = [f"trials {done}/{self._total} done"]
        details = [f"{len(self._running)} running"]
        if self._stopped:
            details.append(f"{len(self._stopped)} stopped early")
        if self._failed:
            details.append(f"{len(self._failed)} failed")
        parts[0] += f" ({', '.join(details)})"
        parts.append(
            f"best {METRIC} {self._best:.3f}" if math.isfinite(self._best) else f"best {METRIC} -"
        )
        timing = f"{_clock(elapsed)} elapsed"
        if self._budget:
            timing += f", {_clock(self._budget - elapsed)} of the budget left"
        parts.append(timing)
        return " | ".join(parts)

    def _elapsed(self) -> float:
        return self._elapsed_before + self._clock() - self._started

    def setup(
        self,
        stop: Any = None,
        num_samples: int | None = None,
        total_num_samples: int | None = None,
        **info: Any,
    ) -> None:
        """Tune starts (or resumes) the run: the clock starts now, and the total counts every trial
        Tune will create (``num_samples`` times the grid's combinations)."""
        self._started = self._clock()
        self._last_refresh = 0.0
        if total_num_samples:
            self._total = int(total_num_samples)

    def get_state(self) -> dict:
        """What a resumed run (``charloom tune --resume``) needs to go on counting: Tune saves it
        with the experiment state and hands it to `set_state` on restore."""
        return {
            "finished": sorted(self._finished),
            "stopped": sorted(self._stopped),
            "failed": sorted(self._failed),
            "best": self._best,
            "best_trial": self._best_trial,
            "elapsed": self._elapsed(),
        }

    def set_state(self, state: dict) -> None:
        self._finished = set(state.get("finished", ()))
        self._stopped = set(state.get("stopped", ()))
        self._failed = set(state.get("failed", ()))
        self._best = float(state.get("best", math.inf))
        self._best_trial = str(state.get("best_trial", ""))
        self._elapsed_before = float(state.get("elapsed", 0.0))
        self._running = set()

    def _event(self, line: str) -> None:
        self._report(f"{line}  [{self.status()}]", True)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._running.add(trial.trial_id)
        self._event(f"trial {trial.trial_id} started")

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        value = result.get(METRIC)
        if value is not None and math.isfinite(value) and value < self._best:
            self._best, self._best_trial = float(value), trial.trial_id
            self._event(
                f"new best {METRIC} {value:.3f}: trial {trial.trial_id}, epoch {result.get('epoch')}"
            )
        else:
            self._refresh()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._running.discard(trial.trial_id)
        epochs = (trial.last_result or {}).get("epoch", 0) or 0
        if epochs < self._max_epochs:
            self._stopped.add(trial.trial_id)
            self._event(f"trial {trial.trial_id} stopped early after {epochs} epoch(s)")
        else:
            self._finished.add(trial.trial_id)
            self._event(
                f"trial {trial.trial_id} finished {epochs} epoch{'' if epochs == 1 else 's'}"
            )

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._running.discard(trial.trial_id)
        self._failed.add(trial.trial_id)
        self._event(f"trial {trial.trial_id} failed (its error is in the results table)")

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self._refresh()

    def _refresh(self) -> None:
        now = self._clock()
        if now - self._last_refresh >= REFRESH_SECONDS:
            self._last_refresh = now
            self._report(self.status(), False)
