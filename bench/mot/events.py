"""Reading Batchline events JSONL (``batchline run --events``, a service's ``<events>/<id>.jsonl``),
shared by score.py and reference_trackers.py."""

import json


def iter_events(path, who, stream=None):
    """Each event of `path` as a dict, in file order; only those of `stream` (number or name) when
    given. A line that is not JSON ends the program with one line naming `who`, the file and the line."""
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                ev = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"{who}: error: {path}:{n}: not JSON ({e})")
            if stream is not None and str(ev.get("stream")) != str(stream):
                continue
            yield ev
