"""Starts a command with NOTIFY_SOCKET pointing at us and reports the milliseconds from
spawn to READY=1. Usage: notify_ready.py SOCKET_PATH -- CMD ARGS...; prints "<ms> <pid>"
and leaves the process running (the caller stops it)."""
import os
import socket
import subprocess
import sys
import time

path = sys.argv[1]
cmd = sys.argv[sys.argv.index("--") + 1:]
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(10)
env = dict(os.environ, NOTIFY_SOCKET=path)
t0 = time.monotonic()
p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(os.devnull, "w"))
while True:
    data = s.recv(4096).decode(errors="replace")
    if "READY=1" in data.split("\n"):
        break
print(f"{(time.monotonic() - t0) * 1000:.2f} {p.pid}", flush=True)
