"""Write docs/benchmarks.md from bench/results/ (the scripts' tables) and bench/notes/ (the prose).

    .venv/bin/python -m bench.report          # after running the benchmarks

The tables are the scripts' own markdown output; each notes file says what its figures mean and
why a target was missed, so a rerun only needs this command to refresh the page.
"""

from __future__ import annotations

import json
import sys

from bench.lib.common import REPO

RESULTS = REPO / "bench" / "results"
NOTES = REPO / "bench" / "notes"
PAGE = REPO / "docs" / "benchmarks.md"

INTRO = """# Benchmarks

`bench/` holds scripts, not tests: each measures the systems side by side in one run, prints the
machine it ran on, and writes `bench/results/NAME.json` (every figure, every repeat) and
`NAME.md` (the table quoted here). `--quick` gives a short sanity run (written as
`NAME.quick.*`, not committed). After a run, `.venv/bin/python -m bench.report` rewrites this
page from the results and from the prose in `bench/notes/NAME.md`.

The figures below come from a shared 2-core machine (other jobs ran at the same time: the load
average is recorded before and after each run), so **ratios measured in one run matter more
than absolute times**. Each table names its date and machine.
"""

SECTIONS = (
    (
        "serving",
        "Serving",
        ".venv/bin/python -m bench.serving             # ~4 min; --checkpoint RUN for trained weights",
    ),
    (
        "gateway",
        "The generation gateway",
        ".venv/bin/python -m bench.gateway             # ~8 min; --steps-per-call N",
    ),
    (
        "sampling_options",
        "What log-probabilities and penalties cost",
        ".venv/bin/python -m bench.sampling_options    # ~3 min",
    ),
    ("warmup", "Model warmup", ".venv/bin/python -m bench.warmup              # ~3 min"),
    (
        "checkouts",
        "Before and after a change",
        ".venv/bin/python -m bench.checkouts --before OLD --after .   # ~10 min",
    ),
    ("pipeline", "Input pipeline", ".venv/bin/python -m bench.pipeline            # ~1 min"),
    ("presets", "The `tiny` preset", ".venv/bin/python -m bench.presets             # ~1 min"),
    ("training", "Training", ".venv/bin/python -m bench.training            # ~10 min"),
    ("tuning", "Tuning", ".venv/bin/python -m bench.tuning              # ~15 min"),
    ("training_knobs", "Training knobs", ".venv/bin/python -m bench.training_knobs      # ~15 min"),
    (
        "quality",
        "Quality under a time budget",
        ".venv/bin/python -m bench.quality             # ~45 min (2 x 1200 s budget)",
    ),
    (
        "demo",
        "The demo",
        ".venv/bin/python -m bench.demo                # ~8 min (make demo, twice)",
    ),
    (
        "chinese",
        "Chinese: characters or words",
        ".venv/bin/python -m bench.chinese             # ~25 min (2 x 600 s budget)",
    ),
)


def note(name: str) -> str:
    path = NOTES / f"{name}.md"
    return path.read_text(encoding="utf-8").rstrip() + "\n" if path.is_file() else ""


def page() -> str:
    parts = [INTRO]
    summary = []
    for name, title, command in SECTIONS:
        md = RESULTS / f"{name}.md"
        parts.append(f"## {title}\n\n```bash\n{command}\n```\n")
        if not md.is_file():
            parts.append("Not run yet.\n")
            continue
        parts.append(md.read_text(encoding="utf-8").rstrip() + "\n")
        if note(name):
            parts.append(note(name))
        data = json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
        for t in data.get("targets", []):
            summary.append(
                f"- {'met' if t['met'] else '**missed**'}: {t['target']}: "
                f"{t['measured']:.2f}{t['unit']} (target {'>=' if t.get('higher_is_better', True) else '<='} "
                f"{t['threshold']}{t['unit']})"
            )
        if "winner" in data:
            runs = data["runs"]
            summary.append(
                f"- {'met' if data['winner'] == 'tuned' else '**missed**'}: the tuned model beats the "
                f"tutorial config under the same {data['budget_s']:.0f} s budget: val_bpc "
                f"{runs['tuned']['held_out_bpc']:.3f} vs {runs['tutorial']['held_out_bpc']:.3f}"
            )
    if summary:
        parts.append("## Targets met and missed\n\n" + "\n".join(summary) + "\n")
    if note("summary"):
        parts.append(note("summary"))
    return "\n".join(parts)


def main() -> int:
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(page(), encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
