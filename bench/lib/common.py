"""What every benchmark script shares: machine info, timing helpers, JSON + markdown results.

Figures from this shared 2-core machine are noisy, so every result records the machine and the
load average next to the numbers, and the scripts compare systems side by side in one run.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHARLOOM = str(Path(sys.executable).parent / "charloom")  # the installed command, as a user runs it
RESULTS_DIR = REPO / "bench" / "results"


def free_port() -> int:
    """A TCP port free on loopback now (for a server a benchmark starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # not installed: the field stays empty
        return None


def machine_info() -> dict[str, Any]:
    """CPU, memory, load and library versions: printed and stored with every result."""
    memory_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": memory_gib,
        "load_average": load_average(),
        "python": platform.python_version(),
        "tensorflow": _version("tensorflow"),
        "keras": _version("keras"),
        "ray": _version("ray"),
        "grpcio": _version("grpcio"),
        "numpy": _version("numpy"),
    }


def print_machine(info: dict[str, Any]) -> None:
    print(f"machine: {machine_line(info)}", flush=True)


def machine_line(info: dict[str, Any]) -> str:
    load = ", ".join(f"{x:.2f}" for x in info.get("load_average", []))
    return (
        f"{info['date']}, {info['cpu_count']} x {info['cpu_model']}, {info['memory_gib']} GiB, "
        f"load {load}; TF {info['tensorflow']}, Keras {info['keras']}, Ray {info['ray']}, "
        f"grpcio {info['grpcio']}, Python {info['python']}"
    )


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of a non-empty sequence."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, data: dict[str, Any], markdown: str, quick: bool = False) -> Path:
    """Write ``bench/results/NAME.json`` and ``NAME.md`` (``NAME.quick.*`` for --quick runs)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = f"{name}.quick" if quick else name
    data = {**data, "load_average_end": load_average()}
    (RESULTS_DIR / f"{stem}.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    (RESULTS_DIR / f"{stem}.md").write_text(markdown.rstrip() + "\n", encoding="utf-8")
    print(markdown)
    print(f"wrote {RESULTS_DIR / stem}.json and .md", flush=True)
    return RESULTS_DIR / f"{stem}.json"


def target_line(
    description: str, measured: float, target: float, higher_is_better: bool = True, unit: str = "x"
) -> dict[str, Any]:
    met = measured >= target if higher_is_better else measured <= target
    return {
        "target": description,
        "measured": round(measured, 3),
        "threshold": target,
        "unit": unit,
        "higher_is_better": higher_is_better,
        "met": bool(met),
    }


def targets_markdown(targets: Sequence[dict[str, Any]]) -> str:
    rows = [
        (
            t["target"],
            f"{t['measured']:.2f}{t['unit']}",
            f"{'>=' if t.get('higher_is_better', True) else '<='} {t['threshold']}{t['unit']}",
            "met" if t["met"] else "**missed**",
        )
        for t in targets
    ]
    return markdown_table(("target", "measured", "threshold", "result"), rows)


class BackgroundProcess:
    """A process a benchmark started (``self._process``, logging to ``self._log``): stopped with
    SIGTERM, then SIGKILL after 30 s; a context manager."""

    _process: subprocess.Popen
    _log: Any

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
