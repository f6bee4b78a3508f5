"""Chinese quality benchmark: a character model against a word model (jieba) on zh-fortunes, under
the same CPU-time budget; bits per character of held-out text for both, and a sample of each.

    .venv/bin/python -m bench.chinese                  # 2 x 600 s, about 25 minutes in all
    .venv/bin/python -m bench.chinese --budget-s 300   # a shorter budget
    .venv/bin/python -m bench.chinese --quick          # 2 x 90 s

Both go through `charloom tune` as a one-trial constant search space with the same
`--time-budget-s` (wall clock on the machine's 2 cores, which both use fully) and the same
architecture (LSTM 256, embedding 128, Adam); only the tokenizer differs, and the word model's
sequences are shorter in tokens so both see about 100 characters per sequence. Each model is then
scored on its whole validation split (the corpus' last ~10%), in bits per character of the text
(trainer/bits_per_character.py), so the two compare on one scale. Writes
bench/results/chinese.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml

from bench.lib.common import (
    machine_info,
    machine_line,
    markdown_table,
    print_machine,
    write_results,
)
from bench.lib.held_out import held_out_bpc, sample_text
from bench.lib.tune_run import run_tune

CORPUS = "zh-fortunes"
SAMPLE_PROMPT = "人生"
SAMPLE_TOKENS = 100
COMMON = {
    "cell": "lstm",
    "num_layers": 1,
    "units": 256,
    "embedding_dim": 128,
    "batch_size": 64,
    "learning_rate": 0.005,
    "optimizer": "adam",
    "epochs": 1000,
    "steps_per_epoch": 40,
    "validation_steps": 8,
    "early_stopping_patience": None,
    "reduce_lr_patience": None,
}
MODELS = {
    "char": {"tokenizer": "char", "seq_len": 100},
    "word": {"tokenizer": "word", "min_count": 2, "max_vocab": 10000, "seq_len": 72},
}


def run(name: str, budget_s: float, storage: Path) -> dict:
    space = storage / f"{name}-space.yaml"
    space.write_text(yaml.safe_dump({**COMMON, **MODELS[name]}), encoding="utf-8")
    result = run_tune(
        CORPUS,
        space,
        budget_s,
        storage,
        name,
        [
            "--num-samples",
            "1",
            "--scheduler",
            "fifo",
            "--max-concurrent",
            "1",
            "--cpus-per-trial",
            "2",
        ],
        timeout_s=budget_s * 3 + 900,
    )
    metadata = result.pop("metadata")
    del result["trials_table"]
    return {
        **result,
        "vocabulary": len(metadata["vocabulary"]),
        "epochs": metadata["metrics"].get("epoch"),
        "tune_val_bpc": metadata["metrics"].get("val_bpc"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--budget-s", type=float, default=600.0, help="time budget of each of the two runs"
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--keep", type=Path, help="keep the experiments and models here instead of a temp dir"
    )
    args = parser.parse_args()
    budget = 90.0 if args.quick else args.budget_s
    info = machine_info()
    print_machine(info)
    runs = {}
    with tempfile.TemporaryDirectory(prefix="charloom-bench-chinese-") as tmp:
        storage = (args.keep or Path(tmp)).resolve()
        storage.mkdir(parents=True, exist_ok=True)
        for name in MODELS:
            runs[name] = run(name, budget, storage)
            runs[name]["held_out_bpc"], runs[name]["held_out_characters"] = held_out_bpc(
                runs[name]["checkpoint"], CORPUS
            )
            runs[name]["sample"] = sample_text(
                runs[name]["saved_model"], SAMPLE_PROMPT, SAMPLE_TOKENS, temperature=0.8
            )
            print(
                f"{name}: vocabulary {runs[name]['vocabulary']}, {runs[name]['epochs']} epochs of 40 steps, "
                f"held-out bpc {runs[name]['held_out_bpc']:.3f}\n{runs[name]['sample']}\n",
                flush=True,
            )
    rows = [
        (
            name,
            f"{run_['vocabulary']:,}",
            str(run_["config"]["seq_len"]),
            str(run_["epochs"]),
            f"{run_['held_out_bpc']:.3f}",
            f"{run_['held_out_characters']:,}",
            f"{run_['wall_seconds']:.0f}",
        )
        for name, run_ in runs.items()
    ]
    best = min(runs, key=lambda n: runs[n]["held_out_bpc"])
    markdown = "\n".join(
        [
            f"Machine: {machine_line(info)}",
            "",
            f"Corpus `{CORPUS}` (962,099 characters, 5,965 distinct). Budget: {budget:.0f} s of wall-clock time on "
            "both cores for each model (`charloom tune --time-budget-s`, one trial), one after the other. Both: "
            "LSTM 256, embedding 128, Adam 0.005, batch 64, epochs of 40 steps; the word model keeps words seen "
            "twice or more, at most 10,000, plus every character.",
            "",
            markdown_table(
                (
                    "tokenizer",
                    "vocabulary",
                    "seq_len (tokens)",
                    "epochs done",
                    "held-out bits per character",
                    "held-out characters",
                    "wall s",
                ),
                rows,
            ),
            "",
            f"Lower is better: **{best}**. Bits per character = total nats of the held-out targets / the "
            "characters they spell / ln 2, for both tokenizers.",
            "",
            f"Samples ({SAMPLE_TOKENS} tokens after `{SAMPLE_PROMPT}`, seed 0, temperature 0.8):",
            "",
            *[
                line
                for name in runs
                for line in (f"{name}:", "", "```", runs[name]["sample"], "```", "")
            ],
        ]
    )
    results = {
        "machine": info,
        "quick": args.quick,
        "budget_s": budget,
        "runs": runs,
        "best": best,
        "bits_per_character": {n: r["held_out_bpc"] for n, r in runs.items()},
    }
    write_results("chinese", results, markdown, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
