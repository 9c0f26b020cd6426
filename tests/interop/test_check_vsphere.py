"""check_vsphere (PyPI ``checkvsphere``) against the lab, healthy and under each fault.

Every command must finish with a verdict (no "Unhandled exception", no UNKNOWN), and the verdict must be
the one the tool gives a real vCenter in that state. Where vSphere documents the state, the test says so
directly (PDL: the LUN reports lostCommunication, its datastore is inaccessible; a dead path is dead);
where the tool only reflects what the lab reports (a host's overall status, config issues), the test
applies the tool's own rule to what the lab reports through pyVmomi, so the verdict follows the lab's
fidelity, whatever it reports for states the documentation leaves open.
"""

from __future__ import annotations

import pytest

from .conftest import CHECKS, HOST


def test_every_command_gives_a_verdict(observed):
    for name, check in observed.checks.items():
        assert "Unhandled exception" not in check.out and "Traceback" not in check.out, (name, check.out)
        assert check.status != "UNKNOWN", (name, check.out)
    assert set(observed.checks) == set(CHECKS)


def test_adapter_mode_calls_local_adapters_critical(observed):
    """The tool's rule: status ``unknown`` is CRITICAL, and real ESXi reports local adapters ``unknown``:
    on a healthy real host the adapter mode is CRITICAL for vmhba0. A pulled cable adds the FC HBA offline."""
    check = observed.checks["host-storage-adapter"]
    assert check.status == "CRITICAL", check.out
    assert "vmhba0 (unknown)" in check.out
    assert "vmhba3 (online)" in check.out
    expect = "vmhba2 (offline)" if observed.state == "cable_pull" else "vmhba2 (online)"
    assert expect in check.out


def test_path_mode(observed):
    check = observed.checks["host-storage-path"]
    dead = sorted(name for name, state in observed.path_states.items() if state == "dead")
    if observed.state == "healthy":
        assert check.status == "OK" and "All paths are OK" in check.out and not dead
        return
    # a dead path, a pulled cable (its paths), PDL and APD (every path of the LUN): dead paths, CRITICAL
    assert dead, observed.path_states
    assert check.status == "CRITICAL", check.out
    for name in dead:
        assert f"the path {name} is in state dead" in check.out
    if observed.state == "cable_pull":
        assert all(name.startswith("vmhba2:") for name in dead)


def test_lun_mode(observed, interop):
    """The tool: ``degraded`` WARNING, ``ok`` OK, anything else CRITICAL. PDL is documented (the device
    reports Lost Communication); for the other faults the verdict follows what the lab reports."""
    check = observed.checks["host-storage-lun"]
    states = [s[0] for s in observed.lun_states.values()]
    want = "CRITICAL" if any(s not in ("ok", "degraded") for s in states) else (
        "WARNING" if "degraded" in states else "OK")
    assert check.status == want, (check.out, observed.lun_states)
    if observed.state == "healthy":
        assert check.status == "OK"
    if observed.state == "pdl":
        assert check.status == "CRITICAL"
        assert f"({interop.gold_canonical()}) state: lostCommunication" in check.out


def test_datastores(observed):
    """PDL and APD of the gold LUN take ds-gold away from every host: vCenter reports it inaccessible, the
    tool says CRITICAL. A dead path or a pulled cable leaves other paths: every datastore stays usable."""
    check = observed.checks["datastores"]
    if observed.state in ("pdl", "apd"):
        assert check.status == "CRITICAL", check.out
        assert "_ds-gold is not accessible" in check.out
    else:
        assert check.status == "OK", check.out
        assert "not accessible" not in check.out
    # usage figures of real datastores: VM files take space
    assert "'datastore-" in check.out and " used'=0.0B" not in check.out


def test_host_runtime(observed):
    con = observed.checks["host-runtime-con"]
    assert con.status == "OK" and "connection state is 'connected'" in con.out
    status = observed.checks["host-runtime-status"]
    want = {"green": "OK", "yellow": "WARNING", "red": "CRITICAL"}[observed.overall_status]
    assert status.status == want, (status.out, observed.overall_status)
    assert f"overall status is {observed.overall_status.upper()}" in status.out
    issues = observed.checks["host-runtime-issues"]
    assert issues.status == ("CRITICAL" if observed.config_issues else "OK"), issues.out
    if observed.state == "healthy":
        assert status.status == "OK" and issues.status == "OK"


def test_host_service(observed):
    """Every service that does not run is CRITICAL to the tool: on a real ESXi host ESXi Shell and SSH are
    stopped, so the unfiltered check is CRITICAL; the services vCenter needs run."""
    check = observed.checks["host-service"]
    assert check.status == "CRITICAL", check.out
    for stopped in ("TSM-SSH", "TSM"):
        assert f"{stopped} not running" in check.out
    for running in ("vpxa", "ntpd", "vmsyslogd", "DCUI"):
        assert f"{running} running" in check.out


@pytest.mark.parametrize("allowed", ["^(vpxa|ntpd|vmsyslogd|DCUI|lbtd)$"])
def test_host_service_filtered_is_ok(interop, allowed):
    """What admins run: the services they expect to run, OK on a healthy host."""
    check = interop.run_check(["host-service", "--vihost", HOST, "--allowed", allowed, "--match-method", "search"])
    assert check.status == "OK", check.out
    assert "running: 5; not running: 0" in check.out


def test_unknown_host_is_reported_not_crashed(interop):
    check = interop.run_check(["host-storage", "--vihost", "esx-z99", "--mode", "adapter"])
    assert check.status == "UNKNOWN" and "not found" in check.out and "Unhandled exception" not in check.out
