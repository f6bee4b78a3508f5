"""Write README.md's "Benchmarks" section (everything after its marker) from bench/results/.

    .venv/bin/python bench/readme_section.py          # after running the benchmarks

The tables are the scripts' own markdown output; the notes below say what each figure means and
why a target was missed, so a rerun only needs this command to refresh the README.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
README = REPO / "README.md"
MARKER = "<!-- section:benchmarks -->"

INTRO = """## Benchmarks

`bench/` holds scripts, not tests: each measures the systems side by side in one run, prints the
machine it ran on, and writes `bench/results/NAME.json` (every figure, every repeat) and
`NAME.md` (the table quoted here). `--quick` gives a short sanity run (written as
`NAME.quick.*`, not committed). After a run, `.venv/bin/python bench/readme_section.py` rewrites
this section from the results.

The figures below come from a shared 2-core machine (other jobs ran at the same time: the load
average is recorded before and after each run), so **ratios measured in one run matter more
than absolute times**. Each table names its date and machine.
"""

SECTIONS = (
    ("serving", "Serving", ".venv/bin/python bench/serving.py                 # ~10 min; --checkpoint RUN for trained weights"),
    ("pipeline", "Input pipeline", ".venv/bin/python bench/pipeline.py                # ~1 min"),
    ("training", "Training", ".venv/bin/python bench/training.py                # ~10 min"),
    ("tuning", "Tuning", ".venv/bin/python bench/tuning.py                  # ~15 min"),
    ("quality", "Quality under a time budget", ".venv/bin/python bench/quality.py                 # ~25 min (2 x 600 s budget)"),
)


def notes() -> dict[str, str]:
    path = REPO / "bench" / "notes.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def section() -> str:
    parts = [INTRO]
    comments = notes()
    summary = []
    for name, title, command in SECTIONS:
        md = RESULTS / f"{name}.md"
        parts.append(f"### {title}\n\n```bash\n{command}\n```\n")
        if not md.is_file():
            parts.append("Not run yet.\n")
            continue
        parts.append(md.read_text(encoding="utf-8").rstrip() + "\n")
        if comments.get(name):
            parts.append(comments[name].rstrip() + "\n")
        data = json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
        for t in data.get("targets", []):
            summary.append(f"- {'met' if t['met'] else '**missed**'}: {t['target']}: "
                           f"{t['measured']:.2f}{t['unit']} (target {'>=' if t.get('higher_is_better', True) else '<='} "
                           f"{t['threshold']}{t['unit']})")
        if "winner" in data:
            runs = data["runs"]
            summary.append(f"- {'met' if data['winner'] == 'tuned' else '**missed**'}: the tuned model beats the "
                           f"tutorial config under the same {data['budget_s']:.0f} s budget: val_bpc "
                           f"{runs['tuned']['held_out_bpc']:.3f} vs {runs['tutorial']['held_out_bpc']:.3f}")
    if summary:
        parts.append("### Targets met and missed\n\n" + "\n".join(summary) + "\n")
    if comments.get("summary"):
        parts.append(comments["summary"].rstrip() + "\n")
    return "\n".join(parts)


def main() -> int:
    text = README.read_text(encoding="utf-8")
    head, found, _ = text.partition(MARKER)
    if not found:
        print(f"README.md has no {MARKER} marker", file=sys.stderr)
        return 1
    README.write_text(head + MARKER + "\n" + section(), encoding="utf-8")
    print(f"rewrote the Benchmarks section of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
