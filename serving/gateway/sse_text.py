"""Print the text of an OpenAI completions stream read from stdin, as it arrives (what
`make demo` pipes `curl -N` into): ``python -m serving.gateway.sse_text``. An error event is
printed to stderr and the exit code is 1."""

from __future__ import annotations

import json
import sys


def main() -> int:
    for line in sys.stdin:
        if line.startswith("{"):  # not a stream: the request was refused with an error body
            line = "data: " + line
        if not line.startswith("data: {"):
            continue
        event = json.loads(line[len("data: ") :])
        if "error" in event:
            print(f"\nerror: {event['error']['message']}", file=sys.stderr)
            return 1
        for choice in event.get("choices", []):
            sys.stdout.write(choice["text"])
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
