#!/usr/bin/env bash
# pyxs (python3-pyxs) and raw-socket clients against pvic-hostsim's xenstored, once with
# small guest quotas and once with the initial watch event sent before the WATCH's OK.
source "$(dirname "$0")/../lib.sh"

"$PY" -c 'import pyxs' 2>/dev/null || skip "python3-pyxs not installed"
start_xen_hostsim "$TEST_TMPDIR/xs" 5,7 --quota-watches 3 --quota-transactions 2 --quota-nodes 40
"$PY" "$TOP/tests/interop/xen-pyxs.py" "$TEST_TMPDIR/xs" main || fail "pyxs checks (main)"
start_xen_hostsim "$TEST_TMPDIR/xs-ebo" 5,7 --event-before-ok
"$PY" "$TOP/tests/interop/xen-pyxs.py" "$TEST_TMPDIR/xs-ebo" event-before-ok || fail "pyxs checks (event-before-ok)"
