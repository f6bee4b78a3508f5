"""Several `saved_model_cli` command lines in one interpreter (one TensorFlow import): a script.

    python saved_model_cli_batch.py COMMANDS.json

COMMANDS.json is a list of argument lists, each as given to ``saved_model_cli`` (``["run",
"--dir", ...]``). Each goes through saved_model_cli's own main path: its absl flags are parsed
afresh from the command line, then its argument parser picks the command function (``show``,
``run``) and calls it. A line ``=== saved_model_cli N: ok`` or ``=== saved_model_cli N: failed:
<error>`` follows each command's output; the exit status is 1 when one failed.
"""

import json
import sys
import traceback

from tensorflow.python.tools import saved_model_cli


def run_command(arguments: list[str]) -> None:
    argv = ["saved_model_cli", *arguments]
    saved_model_cli.flags.FLAGS.unparse_flags()
    saved_model_cli.flags.FLAGS(argv)  # as absl's app.run does before calling main
    saved_model_cli.create_parser().parse_args(arguments).func()


def main(commands_path: str) -> int:
    with open(commands_path, encoding="utf-8") as stream:
        commands = json.load(stream)
    failed = 0
    for number, arguments in enumerate(commands):
        try:
            run_command(arguments)
            print(f"\n=== saved_model_cli {number}: ok", flush=True)
        except BaseException as exc:  # noqa: BLE001 - reported per command, like the CLI's exit
            traceback.print_exc()
            print(f"\n=== saved_model_cli {number}: failed: {exc!r}", flush=True)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
