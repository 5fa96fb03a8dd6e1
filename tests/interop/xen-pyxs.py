"""pyxs (python3-pyxs) and raw-socket clients against pvic-hostsim's xenstored.

Usage: xen-pyxs.py DIR MODE, where DIR holds host.sock, guest-5.sock and guest-7.sock
and MODE is "main" (started with small quotas) or "event-before-ok" (started with
--event-before-ok and default quotas). Exits non-zero on the first failure.
"""
import errno
import signal
import socket
import struct
import sys
import time

import pyxs

DIR, MODE = sys.argv[1], sys.argv[2]
H5 = b"/local/domain/5"
signal.alarm(60)  # a lost reply or event must fail the test, not hang it


def client(name):
    c = pyxs.Client(unix_socket_path=f"{DIR}/{name}.sock")
    c.connect()
    return c


def expect_error(code, fn, *args):
    try:
        fn(*args)
    except pyxs.PyXSError as e:
        if e.args and e.args[0] == code:
            return
        raise AssertionError(f"{fn.__name__}{args}: expected {errno.errorcode[code]}, got {e!r}")
    raise AssertionError(f"{fn.__name__}{args}: expected {errno.errorcode[code]}, succeeded")


def eq(want, got, what):
    if want != got:
        raise AssertionError(f"{what}: expected {want!r}, got {got!r}")


def step(name):
    print(f"ok - {name}", flush=True)


# Raw protocol access, for what pyxs cannot express.
HDR = struct.Struct("=IIII")
READ, WATCH, TX_START, TX_END, WRITE, ERROR, EVENT = 2, 4, 6, 7, 11, 16, 15
DIRECTORY, DIRECTORY_PART, RESET_WATCHES = 1, 22, 21


class Raw:
    def __init__(self, name):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(f"{DIR}/{name}.sock")
        self.s.settimeout(10)
        self.buf = b""

    def send(self, typ, payload, req_id=0, tx_id=0):
        self.s.sendall(HDR.pack(typ, req_id, tx_id, len(payload)) + payload)

    def recv(self):
        while True:
            if len(self.buf) >= 16:
                typ, req, tx, ln = HDR.unpack(self.buf[:16])
                if len(self.buf) >= 16 + ln:
                    payload = self.buf[16:16 + ln]
                    self.buf = self.buf[16 + ln:]
                    return typ, req, tx, payload
            data = self.s.recv(65536)
            if not data:
                raise EOFError
            self.buf += data

    def call(self, typ, payload, req_id=0, tx_id=0):
        self.send(typ, payload, req_id, tx_id)
        return self.recv()

    def close(self):
        self.s.close()


def wait_event(it, what):
    ev = next(it)
    return (ev.path, ev.token)


# ---------------------------------------------------------------- basic operations
h = client("host")
eq(b"5", h.read(H5 + b"/domid"), "seeded domid")
h.write(H5 + b"/data/py", b"value")
eq(b"value", h.read(H5 + b"/data/py"), "read back")
h.write(H5 + b"/data/bin", b"a b:c=d!")
eq(b"a b:c=d!", h.read(H5 + b"/data/bin"), "value bytes kept verbatim")
h.mkdir(H5 + b"/data/dir")
h.mkdir(H5 + b"/data/dir")  # exists: still OK
eq([b"py", b"bin", b"dir"], h.list(H5 + b"/data"), "list in insertion order")
eq([], h.list(H5 + b"/data/dir"), "empty directory")
eq(b"", h.read(H5 + b"/data/dir"), "mkdir makes an empty value")
h.delete(H5 + b"/data/dir")
eq(False, h.exists(H5 + b"/data/dir"), "deleted")
expect_error(errno.ENOENT, h.read, H5 + b"/data/dir")
expect_error(errno.ENOENT, h.list, b"/no/such")
# pyxs checks paths itself; the server's own checks are seen through a raw client.
rv = Raw("host")
for bad_path in (b"/bad//path", b"/trailing/", b"/sp ace", b"", b"@introduceDomain", b"/a" * 1600):
    eq((ERROR, 1, 0, b"EINVAL\0"), rv.call(READ, bad_path + b"\0", req_id=1), f"READ {bad_path[:20]!r}")
eq((ERROR, 2, 0, b"EINVAL\0"), rv.call(13, b"/\0", req_id=2), "RM /")
eq((3, 3, 0, b"n0\0"), rv.call(3, b"@releaseDomain\0", req_id=3), "GET_PERMS on a special path")
rv.close()
eq([b"n5"], h.get_perms(H5 + b"/data"), "guest-owned data")
eq([b"n0", b"r5"], h.get_perms(H5), "home perms")
h.set_perms(H5 + b"/data/py", [b"n5", b"r7"])
eq([b"n5", b"r7"], h.get_perms(H5 + b"/data/py"), "set_perms")
rv = Raw("host")
for bad_perms in (b"x5\0", b"r\0", b"r5x\0", b"", b"n0"):
    eq((ERROR, 4, 0, b"EINVAL\0"), rv.call(14, H5 + b"/data/py\0" + bad_perms, req_id=4), f"SET_PERMS {bad_perms!r}")
rv.close()
eq(b"/local/domain/12", h.get_domain_path(12), "GET_DOMAIN_PATH")
eq(True, h.is_domain_introduced(5), "domain 5 introduced")
eq(False, h.is_domain_introduced(99), "domain 99 unknown")
step("pyxs read/write/mkdir/list/rm/perms")

# ---------------------------------------------------------------- watches
m = h.monitor()
m.watch(H5 + b"/data/w", b"tok")
it = m.wait()
eq((H5 + b"/data/w", b"tok"), wait_event(it, "initial"), "initial fire")
h2 = client("host")
h2.write(H5 + b"/data/w/a/b", b"1")
eq((H5 + b"/data/w/a/b", b"tok"), wait_event(it, "change"), "change event")
h2.set_perms(H5 + b"/data/w/a/b", [b"n5"])
eq((H5 + b"/data/w/a/b", b"tok"), wait_event(it, "perms"), "set_perms event")
# A watch exactly on a node removed with its ancestor names its own path.
m.watch(H5 + b"/data/w/a/b", b"deep")
eq((H5 + b"/data/w/a/b", b"deep"), wait_event(it, "initial deep"), "second initial fire")
# (pyxs subscribes before sending WATCH, so a failed duplicate would double its
# deliveries: check EEXIST on a raw connection.)
rv = Raw("host")
rv.send(WATCH, b"/x\0t\0", req_id=1)
first = rv.recv()
if MODE == "main":
    eq((WATCH, 1, 0, b"OK\0"), first, "raw watch")
else:
    eq((EVENT, 0, 0, b"/x\0t\0"), first, "initial event before OK")
    eq((WATCH, 1, 0, b"OK\0"), rv.recv(), "then OK")
if MODE == "main":
    eq((EVENT, 0, 0, b"/x\0t\0"), rv.recv(), "raw initial event after OK")
eq((ERROR, 2, 0, b"EEXIST\0"), rv.call(WATCH, b"/x\0t\0", req_id=2), "duplicate watch")
eq((ERROR, 3, 0, b"EINVAL\0"), rv.call(WATCH, b"/x\0t\0" + b"1\0", req_id=3), "no depth support")
rv.close()
h2.delete(H5 + b"/data/w/a")
got = {wait_event(it, "rm"), wait_event(it, "rm")}
eq({(H5 + b"/data/w/a/b", b"deep"), (H5 + b"/data/w/a", b"tok")}, got, "rm events")
m.unwatch(H5 + b"/data/w/a/b", b"deep")
expect_error(errno.ENOENT, m.unwatch, H5 + b"/data/w/a/b", b"deep")
step("pyxs watch")

# ---------------------------------------------------------------- transactions
h.transaction()
h.write(H5 + b"/data/t1", b"1")
h.write(H5 + b"/data/t2", b"2")
eq(b"1", h.read(H5 + b"/data/t1"), "own write visible inside the transaction")
eq(False, h2.exists(H5 + b"/data/t1"), "uncommitted write invisible to others")
eq(True, h.commit(), "commit")
eq(b"2", h2.read(H5 + b"/data/t2"), "committed write visible")
# The event of a transactional write comes at commit, not before. (The node exists
# beforehand: creating it would make the transaction depend on its parent, which the
# direct write below changes, and it would fail with EAGAIN like in C xenstored.)
h.write(H5 + b"/data/w/txn", b"0")
eq((H5 + b"/data/w/txn", b"tok"), wait_event(it, "pre"), "pre-write event")
h.transaction()
h.write(H5 + b"/data/w/txn", b"x")
h2.write(H5 + b"/data/w/direct", b"y")
eq((H5 + b"/data/w/direct", b"tok"), wait_event(it, "direct"), "no event before commit")
eq(True, h.commit(), "commit with watch")
eq((H5 + b"/data/w/txn", b"tok"), wait_event(it, "txn"), "event at commit")
# A real conflict: the transaction read X, another client changed X, commit fails.
h2.write(H5 + b"/data/x", b"0")
h.transaction()
eq(b"0", h.read(H5 + b"/data/x"), "read in tx")
h2.write(H5 + b"/data/x", b"other")
h.write(H5 + b"/data/y", b"from-tx")
# pyxs 0.4 turns the EAGAIN reply into commit() == False (it catches PyXSError EAGAIN).
eq(False, h.commit(), "conflicting commit must fail with EAGAIN")
eq(False, h2.exists(H5 + b"/data/y"), "failed commit applied nothing")
eq(b"other", h2.read(H5 + b"/data/x"), "other writer's value stays")
# Retried, it succeeds.
h.transaction()
eq(b"other", h.read(H5 + b"/data/x"), "reread")
h.write(H5 + b"/data/y", b"from-tx")
eq(True, h.commit(), "retry commits")
h.transaction()
h.write(H5 + b"/data/z", b"z")
h.rollback()
eq(False, h2.exists(H5 + b"/data/z"), "rollback")
step("pyxs transactions and EAGAIN")

# The same conflict seen as the raw EAGAIN error name.
r = Raw("host")
typ, _, _, tid = r.call(TX_START, b"\0", req_id=1)
eq(TX_START, typ, "raw tx start")
tid = int(tid.rstrip(b"\0"))
assert tid != 0
r.call(READ, H5 + b"/data/x\0", req_id=2, tx_id=tid)
h2.write(H5 + b"/data/x", b"again")
eq((ERROR, 3, tid, b"EAGAIN\0"), r.call(TX_END, b"T\0", req_id=3, tx_id=tid), "raw EAGAIN")
eq((ERROR, 4, 0, b"ENOENT\0"), r.call(TX_END, b"T\0", req_id=4), "END without transaction")
eq((ERROR, 5, 77, b"ENOENT\0"), r.call(READ, H5 + b"\0", req_id=5, tx_id=77), "unknown tx_id")
typ, _, _, tid = r.call(TX_START, b"\0", req_id=6)
tid = int(tid.rstrip(b"\0"))
eq((ERROR, 7, tid, b"EBUSY\0"), r.call(TX_START, b"\0", req_id=7, tx_id=tid), "nested start")
eq((ERROR, 8, tid, b"EINVAL\0"), r.call(TX_END, b"X\0", req_id=8, tx_id=tid), "bad END argument")
eq((TX_END, 9, tid, b"OK\0"), r.call(TX_END, b"F\0", req_id=9, tx_id=tid), "abort")
step("raw transaction errors")

# ---------------------------------------------------------------- framing
# Header and payload in separate pieces, even byte by byte, are reassembled.
msg = HDR.pack(READ, 0x1234, 0, len(H5 + b"/domid\0")) + H5 + b"/domid\0"
for b in msg:
    r.s.send(bytes([b]))
eq((READ, 0x1234, 0, b"5"), r.recv(), "byte-by-byte request")
# Pipelined requests are answered in order, req_id echoed.
two = H5 + b"/domid\0\0"
r.s.sendall(b"".join(HDR.pack(READ, i, 0, len(two)) + two for i in range(3)))
for i in range(3):
    eq((ERROR, i, 0, b"EINVAL\0"), r.recv(), "one string only")
r.s.sendall(b"".join(HDR.pack(READ, 100 + i, 0, 16) + H5 + b"\0" for i in range(3)))
for i in range(3):
    eq((READ, 100 + i, 0, b""), r.recv(), "pipelined")
for t in (15, 16, 20, 27, 99, 0xffff):
    eq((ERROR, t, 0, b"ENOSYS\0"), r.call(t, b"", req_id=t), f"type {t}")
eq((WRITE, 1, 0, b"OK\0"), r.call(WRITE, H5 + b"/data/nonul\0abc", req_id=1), "write")
eq((READ, 2, 0, b"abc"), r.call(READ, H5 + b"/data/nonul\0", req_id=2), "value has no NUL")
eq((ERROR, 3, 0, b"EINVAL\0"), r.call(WRITE, H5 + b"/data/nonul", req_id=3), "write without NUL")
eq((23, 4, 0, b"0\0"), r.call(23, b"", req_id=4), "GET_FEATURE")
eq((RESET_WATCHES, 5, 0, b"OK\0"), r.call(RESET_WATCHES, b"\0", req_id=5), "RESET_WATCHES")

# A client announcing more than 4096 bytes is dropped; nobody else notices.
bad = Raw("host")
bad.send(READ, b"", req_id=1)
bad.s.sendall(HDR.pack(WRITE, 2, 0, 4097))
try:
    while True:
        bad.recv()
    # (the READ's error reply arrives first, then EOF)
except (EOFError, ConnectionResetError):
    pass
eq(b"5", h2.read(H5 + b"/domid"), "others unaffected by a broken client")
eq((READ, 6, 0, b"5"), r.call(READ, H5 + b"/domid\0", req_id=6), "raw client unaffected")
step("framing, unknown types, broken client")

# A client that never reads its replies is dropped once its queue is full.
h.write(H5 + b"/data/big", b"v" * 4000)
slow = Raw("host")
req = HDR.pack(READ, 0, 0, len(H5 + b"/data/big\0")) + H5 + b"/data/big\0"
try:
    for _ in range(600):
        slow.s.sendall(req * 4)
except (BrokenPipeError, ConnectionResetError, socket.timeout):
    pass
time.sleep(0.2)
received = 0
try:
    while True:
        d = slow.s.recv(1 << 20)
        if not d:
            break
        received += len(d)
except (ConnectionResetError, socket.timeout):
    pass
if received >= 2400 * 4016:
    raise AssertionError("a non-reading client got every reply; it should have been dropped")
eq(b"5", h2.read(H5 + b"/domid"), "server fine after dropping a slow client")
step("non-reading client dropped")

# ---------------------------------------------------------------- big directories
names = [b"child-%04d-padding-xxxxxxxx" % i for i in range(200)]
h.transaction()
for n in names:
    h.write(b"/tool/many/" + n, b"")
eq(True, h.commit(), "bulk commit")
expect_error(errno.E2BIG, h.list, b"/tool/many")
got, off, gen = [], 0, None
while True:
    typ, _, _, p = r.call(DIRECTORY_PART, b"/tool/many\0" + str(off).encode() + b"\0", req_id=off)
    eq(DIRECTORY_PART, typ, "DIRECTORY_PART reply")
    g, rest = p.split(b"\0", 1)
    gen = gen or g
    eq(gen, g, "generation stable")
    if rest == b"\0":
        break
    parts = rest.split(b"\0")
    if rest.endswith(b"\0\0"):
        got += parts[:-2]
        break
    got += parts[:-1]
    off += len(rest)
eq(names, got, "DIRECTORY_PART reassembles the list")
step("DIRECTORY E2BIG and DIRECTORY_PART")

# ---------------------------------------------------------------- guests
g5 = client("guest-5")
g7 = client("guest-7")
eq(b"5", g5.read(b"domid"), "guest relative read")
g5.write(b"data/os_name", b"Debian")
eq(b"Debian", h.read(H5 + b"/data/os_name"), "guest relative write")
eq([b"n5"], h.get_perms(H5 + b"/data/os_name"), "guest owns what it writes")
expect_error(errno.EACCES, g5.write, b"name", b"x")
expect_error(errno.EACCES, g5.read, b"/local/domain/7/domid")
expect_error(errno.EACCES, g5.read, b"/local/domain/7/nonexistent")
expect_error(errno.ENOENT, g5.read, b"data/nonexistent")
expect_error(errno.EACCES, g5.write, b"/local/domain/7/data/x", b"1")
expect_error(errno.EACCES, g5.list, b"/local/domain")
expect_error(errno.EACCES, g5.delete, b"/local/domain/5")
expect_error(errno.EPERM, g5.set_perms, b"data/os_name", [b"n7"])
g5.set_perms(b"data/os_name", [b"n5", b"r7"])
eq(b"Debian", g7.read(H5 + b"/data/os_name"), "granted read")
expect_error(errno.EACCES, g7.set_perms, H5 + b"/data/os_name", [b"n5", b"b7"])
expect_error(errno.EACCES, g5.is_domain_introduced, 5)
expect_error(errno.EACCES, g5.introduce_domain, 9, 1, 1)
eq(b"/local/domain/5", g5.get_domain_path(5), "guest GET_DOMAIN_PATH")
eq(b"/local/domain/5", g5.get_domain_path(5), "guest GET_DOMAIN_PATH")
rg = Raw("guest-5")
eq((ERROR, 1, 0, b"EACCES\0"), rg.call(23, b"5\0", req_id=1), "GET_FEATURE domid form is privileged")
eq((ERROR, 2, 0, b"EACCES\0"), rg.call(9, b"5\0", req_id=2), "RELEASE from a guest")
eq((ERROR, 3, 0, b"EACCES\0"), rg.call(0, b"print\0", req_id=3), "CONTROL from a guest")
step("guest permissions")

gm = g5.monitor()
gm.watch(b"control", b"sd")
git = gm.wait()
eq((b"control", b"sd"), wait_event(git, "initial"), "relative initial event")
h.write(H5 + b"/control/shutdown", b"poweroff")
eq((b"control/shutdown", b"sd"), wait_event(git, "relative"), "relative event path")
step("guest relative watch")

if MODE == "main":
    # Started with --quota-watches 3 --quota-transactions 2 --quota-nodes 40.
    gm.watch(b"data", b"w2")
    next(git)
    gm.watch(b"attr", b"w3")
    next(git)
    expect_error(errno.ENOSPC, gm.watch, b"error", b"w4")
    rg.call(TX_START, b"\0", req_id=10)
    rg.call(TX_START, b"\0", req_id=11)
    eq((ERROR, 12, 0, b"ENOSPC\0"), rg.call(TX_START, b"\0", req_id=12), "transaction quota")
    # The host is not bound by guest quotas.
    for i in range(5):
        m.watch(H5 + b"/data", b"host%d" % i)
    # Domain 7 owns its ~16 seeded nodes; the quota counts those too.
    wrote = 0
    try:
        for i in range(100):
            g7.write(b"data/q/%d" % i, b"")
            wrote += 1
    except pyxs.PyXSError as e:
        eq(errno.ENOSPC, e.args[0], "node quota error")
    else:
        raise AssertionError("node quota never hit")
    if not 10 < wrote < 40:
        raise AssertionError(f"node quota hit after {wrote} nodes")
    step("guest quotas")
else:
    # Default transaction quota: 10 per domain.
    for i in range(10):
        typ, _, _, _ = rg.call(TX_START, b"\0", req_id=10 + i)
        eq(TX_START, typ, f"transaction {i + 1} of 10")
    eq((ERROR, 20, 0, b"ENOSPC\0"), rg.call(TX_START, b"\0", req_id=20), "11th transaction")
    # With --event-before-ok the initial event precedes the OK on the wire.
    eq((EVENT, 0, 0, b"data\0raw\0"), rg.call(WATCH, b"data\0raw\0", req_id=21), "event first")
    eq((WATCH, 21, 0, b"OK\0"), rg.recv(), "then OK")
    step("event before OK, default transaction quota")

for c in (h, h2, g5, g7):
    c.close()
print("all pyxs checks passed")
