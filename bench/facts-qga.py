#!/usr/bin/python3
"""Times qemu-guest-agent's guest-network-get-interfaces over its unix socket.

usage: facts-qga.py SOCKET PID [ROUNDS]
Prints: "ifaces=N addrs=N first_ms=X best_ms=X rss_kb=N hwm_kb=N" (rss of PID after the
queries)."""
import json
import socket
import sys
import time


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def main():
    path, pid = sys.argv[1], int(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    f = s.makefile("rwb", buffering=0)
    dec = json.JSONDecoder()
    buf = b""

    def call(cmd, args=None):
        nonlocal buf
        msg = {"execute": cmd}
        if args is not None:
            msg["arguments"] = args
        s.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            try:
                obj, end = dec.raw_decode(buf.decode().lstrip())
                buf = buf.decode().lstrip()[end:].encode()
                return obj
            except ValueError:
                chunk = s.recv(1 << 20)
                if not chunk:
                    raise SystemExit("qemu-ga closed the connection")
                buf += chunk

    # guest-sync flushes anything stale and proves the agent is up.
    call("guest-sync", {"id": 4242})
    times = []
    reply = None
    for _ in range(rounds):
        t = time.monotonic()
        reply = call("guest-network-get-interfaces")
        times.append((time.monotonic() - t) * 1e3)
    if "return" not in reply:
        raise SystemExit(f"qemu-ga error: {reply}")
    ifaces = reply["return"]
    addrs = sum(len(i.get("ip-addresses", [])) for i in ifaces)
    print(f"ifaces={len(ifaces)} addrs={addrs} first_ms={times[0]:.2f} best_ms={min(times):.2f} "
          f"rss_kb={status_kb(pid, 'VmRSS')} hwm_kb={status_kb(pid, 'VmHWM')}")
    f.close()


main()
