"""Replaces the values that differ between runs and machines (kernel release, build
number, timestamps, sequence numbers, latencies) with placeholders, so pvic-host's JSON
can be compared with a golden file. Reads JSON on stdin, prints canonical JSON."""
import json
import re
import sys

VOLATILE = {"release", "build", "updated", "sequence", "round_trip_us", "round_trip_ns",
            "guest_offset_ns", "heartbeat", "time", "hostname", "machine"}


def walk(v, key=None):
    if isinstance(v, dict):
        return {k: walk(x, k) for k, x in v.items()}
    if isinstance(v, list):
        return [walk(x) for x in v]
    if key in VOLATILE and v is not None:
        return f"<{key}>"
    if key == "version" and isinstance(v, str) and re.fullmatch(r"\d+\.\d+\.\d+", v):
        return "<version>"
    return v


print(json.dumps(walk(json.load(sys.stdin)), indent=2, sort_keys=True))
