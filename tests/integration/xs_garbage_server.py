"""A misbehaving xenstored for pvicd's robustness test.

Each accepted connection gets the next misbehaviour in MODES; once they are used up the
server answers like a minimal xenstored (OK to writes, an id to TRANSACTION_START) and
records the paths written to <log>. Usage: xs_garbage_server.py SOCKET LOG
"""
import os
import socket
import struct
import sys

HDR = struct.Struct("<IIII")
MODES = ["huge-length", "unknown-type", "truncated-header", "unknown-req-id", "bad-event", "good"]


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_request(conn):
    hdr = recv_exact(conn, HDR.size)
    if hdr is None:
        return None
    typ, req, tx, ln = HDR.unpack(hdr)
    payload = recv_exact(conn, ln) if ln else b""
    if payload is None:
        return None
    return typ, req, tx, payload


def serve(conn, mode, log):
    req = read_request(conn)
    if req is None:
        return
    typ, req_id, tx, payload = req
    if mode == "huge-length":
        conn.sendall(HDR.pack(typ, req_id, tx, 5 * 1024 * 1024) + b"x" * 64)
    elif mode == "unknown-type":
        conn.sendall(HDR.pack(99, req_id, tx, 3) + b"OK\0")
    elif mode == "truncated-header":
        conn.sendall(HDR.pack(typ, req_id, tx, 3)[:7])
        conn.shutdown(socket.SHUT_WR)  # the client sees EOF after 7 header bytes
    elif mode == "unknown-req-id":
        conn.sendall(HDR.pack(typ, req_id + 1000, tx, 3) + b"OK\0")
    elif mode == "bad-event":
        conn.sendall(HDR.pack(15, 0, 0, 4) + b"abcd")
    else:
        while req is not None:
            typ, req_id, tx, payload = req
            if typ == 6:  # TRANSACTION_START
                body = b"7\0"
            elif typ == 2:  # READ
                typ, body = 16, b"ENOENT\0"
            else:
                body = b"OK\0"
                if typ == 11:
                    log.write(payload.split(b"\0", 1)[0].decode() + "\n")
                    log.flush()
            conn.sendall(HDR.pack(typ, req_id, tx, len(body)) + body)
            req = read_request(conn)
        return
    # Leave the connection open: the client must notice by itself and hang up.
    while conn.recv(4096):
        pass


def main():
    path, logpath = sys.argv[1], sys.argv[2]
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    print("ready", flush=True)
    with open(logpath, "a") as log:
        for i in range(len(MODES) + 20):
            conn, _ = srv.accept()
            mode = MODES[min(i, len(MODES) - 1)]
            log.write(f"connection {i} {mode}\n")
            log.flush()
            try:
                serve(conn, mode, log)
            except OSError:
                pass
            conn.close()


if __name__ == "__main__":
    main()
