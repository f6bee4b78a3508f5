"""What a finished experiment leaves for people: a ranked table and a PNG of learning curves."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

METRIC = "val_bpc"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclasses.dataclass(frozen=True)
class TrialSummary:
    trial_id: str
    config: dict[str, Any]  # the searched keys only
    epochs_run: int
    max_epochs: int
    best_val_bpc: float
    curve: tuple[tuple[int, float], ...]  # (epoch, val_bpc) per report
    error: str | None
    path: str
    stopped_by_decision: bool = (
        False  # its last result was marked done (a scheduler, or its own early stopping)
    )

    @property
    def ended(self) -> str:
        """How the trial ended: ``completed``, ``stopped early`` (ASHA/PBT or the trial's own early
        stopping), ``time budget`` (still running when the experiment stopped), ``not started`` or
        ``error: ...``."""
        if self.error:
            return "error: " + self.error
        if not self.curve:
            return "not started"
        if self.epochs_run >= self.max_epochs:
            return "completed"
        return "stopped early" if self.stopped_by_decision else "time budget"


def summarize(
    results: Iterable[Any], searched_keys: Sequence[str], default_epochs: int
) -> list[TrialSummary]:
    """Turn Ray Tune ``Result`` objects into summaries sorted by best val_bpc (errored trials last)."""
    summaries = []
    for result in results:
        frame = result.metrics_dataframe
        curve: tuple[tuple[int, float], ...] = ()
        if frame is not None and METRIC in frame and "epoch" in frame:
            rows = frame[["epoch", METRIC]].dropna()
            curve = tuple((int(e), float(v)) for e, v in zip(rows["epoch"], rows[METRIC]))
        metrics = result.metrics or {}
        config = result.config or {}
        summaries.append(
            TrialSummary(
                trial_id=str(metrics.get("trial_id") or Path(result.path).name),
                config={k: config.get(k) for k in searched_keys},
                epochs_run=max((e for e, _ in curve), default=0),
                max_epochs=int(config.get("epochs", default_epochs)),
                best_val_bpc=min((v for _, v in curve), default=math.inf),
                curve=curve,
                error=_ANSI.sub("", str(result.error)).splitlines()[0] if result.error else None,
                path=str(result.path),
                # Ray marks the last result done when a scheduler stops the trial or the trainable
                # returns; a trial stopped because the experiment ended (time budget) keeps done False.
                stopped_by_decision=bool(metrics.get("done")),
            )
        )
    return sorted(summaries, key=lambda s: (s.error is not None, s.best_val_bpc))


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return "/".join(_format(v) for v in value)
    return str(value)


def render_table(summaries: Sequence[TrialSummary]) -> str:
    """Markdown: one row per trial, best first."""
    keys = list(summaries[0].config) if summaries else []
    header = ["rank", "trial", "best val_bpc", "epochs", "ended", *keys]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rank, s in enumerate(summaries, 1):
        bpc = f"{s.best_val_bpc:.4f}" if math.isfinite(s.best_val_bpc) else "-"
        row = [
            str(rank),
            s.trial_id,
            bpc,
            f"{s.epochs_run}/{s.max_epochs}",
            s.ended,
            *(_format(s.config[k]) if s.config[k] is not None else "-" for k in keys),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def plot_curves(summaries: Sequence[TrialSummary], path: Path) -> Path:
    """val_bpc against epoch for every trial; the best one drawn thick and labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    best = summaries[0].trial_id if summaries and math.isfinite(summaries[0].best_val_bpc) else None
    for s in reversed(summaries):
        if not s.curve:
            continue
        epochs, values = zip(*s.curve)
        is_best = s.trial_id == best
        ax.plot(
            epochs,
            values,
            marker="o",
            linewidth=3 if is_best else 1,
            alpha=1.0 if is_best else 0.55,
            color="tab:red" if is_best else None,
            zorder=3 if is_best else 2,
            label=f"{s.trial_id} (best, {s.best_val_bpc:.3f})" if is_best else s.trial_id,
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation bits per character")
    ax.set_title("charloom tune: learning curves")
    ax.grid(alpha=0.3)
    if any(s.curve for s in summaries):
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
