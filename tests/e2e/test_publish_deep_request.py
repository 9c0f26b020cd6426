"""A guest's 834-byte request nested 400 levels deep, then `publish --once` as cron runs it: exit 0, the
request refused with an answer, one log line, no traceback; the next request of that guest is answered."""

from __future__ import annotations

import json

from test_cli import run

from vsguesttruth.guestinfo import KEYS, REQUEST, RESPONSE
from vsguesttruth.reconcile import Write
from vsguesttruth.vcenter import Publisher, read_guestinfo, snapshot

DEEP = '{"id":"deep1","action":"refresh","reason":' + "[" * 396 + "]" * 396 + "}"
DEEP_RESPONSE = '{"id":' + "[" * 1000 + "]" * 1000 + "}"


def test_publish_once_answers_a_deep_request_and_exits_normally(lab, conn):
    vm = next(v for v in snapshot(conn).vms.values() if v.name == "db02")
    with Publisher(conn) as pub:
        pub.write([Write(vm.moref, vm.name, {REQUEST: DEEP, RESPONSE: DEEP_RESPONSE})])  # the guest's info-set
    try:
        result = run("publish", "--once", "--lab", "-v", env={"VSGT_LAB_HOME": str(lab.run_dir)})
        assert result.returncode == 0, result.stderr[-2000:]
        assert "Traceback" not in result.stderr and len(result.stderr) < 20_000
        refused = [line for line in result.stderr.splitlines() if "refused a request of db02" in line]
        assert len(refused) == 1 and "nested too deeply" in refused[0]
        answer = json.loads(read_guestinfo(conn, vm.moref)[RESPONSE])
        assert answer["status"] == "refused" and "nested too deeply" in answer["message"]
        with Publisher(conn) as pub:
            pub.write([Write(vm.moref, vm.name, {REQUEST: json.dumps({"id": "after1", "action": "refresh"})})])
        assert run("publish", "--once", "--lab", env={"VSGT_LAB_HOME": str(lab.run_dir)}).returncode == 0
        assert json.loads(read_guestinfo(conn, vm.moref)[RESPONSE])["id"] == "after1"
    finally:
        with Publisher(conn) as pub:
            pub.write([Write(vm.moref, vm.name, {k: "" for k in KEYS})])
