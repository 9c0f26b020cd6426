"""Remediation end to end on the lab: faults -> plan -> vMotion / relocation tasks -> fresh truth, and events.

The lab's restore does not undo VM moves: every test moves its VMs back itself (after restoring the faults,
so the way back is open). app03 is never relocated (its chain spans two datastores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vsguesttruth.config import RemediationConfig
from vsguesttruth.remediation import Remediator, VcenterExecutor
from vsguesttruth.truth import TruthContext, Verdict
from vsguesttruth.vcenter import events, migrate, snapshot

CLI = str(Path(sys.executable).parent / "vsguesttruth")
CONFIG = """
[remediation]
stable_seconds = 0
retry_seconds = 1
attempts = 2
cooldown_minutes = 1
max_per_hour = 100  # the hourly budget counts the session lab's earlier moves (other tests'): not this file's subject
[replicas]
"ds-gold" = "ds-gold-replica"
"""


@pytest.fixture
def cli(lab, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
    env = {**base, "VSGT_LAB_HOME": str(lab.run_dir), "VSGT_CONFIG": str(config)}

    def run(*args, timeout=60):
        return subprocess.run([CLI, *args, "--lab"], env=env, capture_output=True, text=True, timeout=timeout)

    return run


def pull_cables(lab, host="esx-a01"):
    lab.fault("hba", host=host, hba="vmhba2", state="dead")
    lab.fault("hba", host=host, hba="vmhba3", state="dead")


def ours(conn, vm_moref):
    return [e.message for e in events.query(conn, vm_moref)]


def test_cable_pull_auto_moves_the_affected_vms_to_healthy_hosts(lab, conn, cli, placement):
    inv = placement
    pull_cables(lab)
    affected = [t for t in TruthContext(snapshot(conn)).vm_truths() if t.verdict is Verdict.CONNECTIVITY_LOST]
    assert {t.name for t in affected} == {"web01", "app01"}
    result = cli("remediate", "--once", "--mode", "auto", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["moved"] == 2 and report["failed"] == 0
    after = snapshot(conn)
    truths = {t.name: t for t in TruthContext(after).vm_truths()}
    for t in affected:
        now = truths[t.name]
        assert now.host in ("esx-a02", "esx-a03") and now.verdict is Verdict.HEALTHY, now.explanation
        messages = ours(conn, t.vm)
        assert any(m.startswith(f"vsguesttruth: moving {t.name} from esx-a01 to {now.host}") and
                   "connectivity_lost" in m for m in messages), messages
        assert any(m.startswith(f"vsguesttruth: moved {t.name} from esx-a01 to {now.host}") for m in messages)
    # the two moves were spread over the two healthy hosts
    assert {truths["web01"].host, truths["app01"].host} == {"esx-a02", "esx-a03"}
    # nobody else moved
    assert {m: v.host for m, v in after.vms.items() if v.name not in ("web01", "app01")} == \
        {m: v.host for m, v in inv.vms.items() if v.name not in ("web01", "app01")}
    # a second pass: nothing left to do, and the cooldown is read back from the events
    again = json.loads(cli("remediate", "--once", "--mode", "auto", "--json").stdout)
    assert again["moved"] == 0 and again["actions"] == []


def test_advise_posts_the_plan_and_moves_nothing(lab, conn, cli, placement):
    pull_cables(lab)
    plan_out = json.loads(cli("plan", "--json").stdout)
    assert {m["vm_name"] for m in plan_out["moves"]} == {"web01", "app01"}
    result = cli("remediate", "--once", "--mode", "advise")
    assert result.returncode == 0, result.stderr
    assert "2 not moved" in result.stdout
    after = snapshot(conn)
    assert {m: v.host for m, v in after.vms.items()} == {m: v.host for m, v in placement.vms.items()}
    for name in ("web01", "app01"):
        vm = after.vm_by_name(name)
        planned = next(m for m in plan_out["moves"] if m["vm_name"] == name)
        assert any(m.startswith(f"vsguesttruth: advice: vmotion {name} from esx-a01 to {planned['to_host_name']}")
                   for m in ours(conn, vm.moref))


def test_pdl_relocates_to_the_replica(lab, conn, cli, placement):
    inv = placement
    web02 = inv.vm_by_name("web02")
    gold = next(d for d in inv.datastores.values() if d.name == "ds-gold")
    replica = next(d for d in inv.datastores.values() if d.name == "ds-gold-replica")
    silver = next(d for d in inv.datastores.values() if d.name == "ds-silver")
    lab.fault("lun", lun="gold01", state="pdl")
    planned = json.loads(cli("plan", "--json", "--vm", "web02").stdout)["moves"]
    assert planned and planned[0]["action"] == "relocate_to_replica"
    result = cli("remediate", "--once", "--mode", "auto", "--vm", "web02", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["moved"] == 1
    after = snapshot(conn)
    vm = after.vms[web02.moref]
    by_label = {d.label: d.datastores for d in vm.disks}
    assert by_label["Hard disk 1"] == (replica.moref,)  # the gold disk went to the replica
    assert by_label["Hard disk 2"] == (silver.moref,)  # the silver disk stayed
    assert gold.moref not in {m for d in vm.disks for m in d.datastores}
    truth = TruthContext(after).vm_truth(web02.moref)
    assert truth.verdict is Verdict.HEALTHY, truth.explanation
    assert any("moved web02 from ds-gold to ds-gold-replica" in m for m in ours(conn, web02.moref))


def test_a_failing_task_is_reported_retried_within_limits_and_not_looped(lab, conn, placement):
    pull_cables(lab)
    stale = snapshot(conn)  # the plan is made on this; then the targets go away
    lab.fault("host", host="esx-a02", state="disconnected")
    lab.fault("host", host="esx-a03", state="disconnected")
    now = [0.0]
    config = RemediationConfig(mode="auto", stable_seconds=0, retry_seconds=5, attempts=2, breaker_failures=10,
                               cooldown_minutes=30)
    rem = Remediator(config, VcenterExecutor(conn, config), clock=lambda: now[0])
    tried = []
    for _ in range(20):  # 100 s of fake time, a pass every 5 s
        for action in rem.step(stale, TruthContext(stale).vm_truths()):
            if action.kind == "move":
                tried.append(action.decision.vm_name)
                assert rem.execute(action) is False
        now[0] += 5
    assert sorted(tried) == ["app01", "app01", "web01", "web01"]  # two attempts each, then nothing
    messages = ours(conn, stale.vm_by_name("web01").moref)
    failures = [m for m in messages if "failed" in m and "InvalidHostConnectionState" in m]
    assert len(failures) == 2 and "giving up" in failures[-1]
    assert {v.host for v in snapshot(conn).vms.values() if v.name in ("web01", "app01")} == \
        {stale.host_by_name("esx-a01").moref}


def test_forced_move_to_a_host_without_the_datastore_fails_with_one_line(lab, conn, cli, placement):
    result = cli("migrate", "web11", "--to-host", "esx-a01")
    assert result.returncode == 3 and "refusing to move web11" in result.stderr
    assert "ds-bronze not mounted" in result.stderr and "--force" in result.stderr
    forced = cli("migrate", "web11", "--to-host", "esx-a01", "--force", "--yes")
    assert forced.returncode == 3 and "Traceback" not in forced.stderr
    error = forced.stderr.strip().splitlines()
    assert len(error) == 1 and "DatastoreNotWritableOnHost" in error[0]
    web11 = snapshot(conn).vm_by_name("web11")
    assert web11.host == placement.vm_by_name("web11").host
    assert any("failed" in m for m in ours(conn, web11.moref))


def test_migrate_dry_run_changes_nothing_and_a_real_one_moves(lab, conn, cli, placement):
    web03 = placement.vm_by_name("web03")
    before = ours(conn, web03.moref)
    dry = cli("migrate", "web03", "--to-host", "esx-a01", "--dry-run")
    assert dry.returncode == 0 and "vmotion web03 from esx-a03 to esx-a01" in dry.stdout
    assert "dry run: nothing moved" in dry.stdout
    assert snapshot(conn).vms[web03.moref].host == web03.host and ours(conn, web03.moref) == before
    moved = cli("migrate", "web03", "--to-host", "esx-a01", "--yes")
    assert moved.returncode == 0, moved.stderr
    assert snapshot(conn).vm_by_name("web03").host == snapshot(conn).host_by_name("esx-a01").moref
    assert any(m.startswith("vsguesttruth: moved web03 from esx-a03 to esx-a01") for m in ours(conn, web03.moref))


def test_replica_pairs_from_a_datastore_custom_attribute(lab, conn, si, placement):
    manager = si.content.customFieldsManager
    from pyVmomi import vim

    field = next((f for f in manager.field or () if f.name == "vsgt.replica"), None)
    if field is None:
        field = manager.AddCustomFieldDef(name="vsgt.replica", moType=vim.Datastore)
    gold = next(d for d in placement.datastores.values() if d.name == "ds-gold")
    manager.SetField(entity=vim.Datastore(gold.moref, si._stub), key=field.key, value="ds-gold-replica")
    assert migrate.replica_pairs(conn, "vsgt.replica") == {"ds-gold": "ds-gold-replica"}
    assert migrate.replica_pairs(conn, "no-such-attribute") == {}
