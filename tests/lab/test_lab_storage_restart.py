"""What vCenter keeps across a restart of vpxd (lab/README.md, "Restart"), for storage faults: the events
the hosts posted, the hosts' open problems (configIssue), triggered alarms, the hosts' advanced options
and an APD that timed out; and the event history, longer than one page.
"""

from __future__ import annotations

import pytest
from pyVim.connect import Disconnect
from pyVmomi import vim

from fakes.reads import connect, find
from vsguesttruth.lab import Lab

pytestmark = pytest.mark.lab


def host(si, name):
    return find(si, vim.HostSystem, name)


def storage_view(si, name):
    h = host(si, name)
    return {
        "issues": sorted((i.key, i.eventTypeId) for i in h.configIssue),
        "alarms": sorted((s.alarm._moId, s.overallStatus, s.eventKey) for s in h.triggeredAlarmState),
        "status": h.overallStatus,
        "timeout": {o.key: o.value for o in h.configManager.advancedOption.setting}["Misc.APDTimeout"],
        "mounts": sorted((m.volume.name, m.mountInfo.inaccessibleReason or "") for m in h.config.fileSystemVolume.mountInfo),
    }


@pytest.fixture
def own_lab(tmp_path):
    lab = Lab(tmp_path / "lab")
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


def test_restart_keeps_events_issues_alarms_and_options(own_lab):
    si = connect(own_lab.info())
    try:
        a01 = host(si, "esx-a01")
        a01.configManager.advancedOption.UpdateOptions(changedValue=[vim.option.OptionValue(key="Misc.APDTimeout", value=45)])
        own_lab.fault("path", host="esx-a01", path="vmhba2:C0:T0:L1", state="dead")
        own_lab.fault("lun", lun="span02", state="apd_timeout")
        for i in range(1200):  # more history than one QueryEvents page
            si.content.eventManager.LogUserEvent(entity=si.content.rootFolder, msg=f"noise {i}")
        before = storage_view(si, "esx-a01")
        assert before["issues"] and before["alarms"] and before["timeout"] == 45
        collector = si.content.eventManager.CreateCollectorForEvents(vim.event.EventFilterSpec())
        history = []
        while page := collector.ReadNextEvents(1000):
            history += [(e.key, type(e).__name__, getattr(e, "eventTypeId", ""), e.fullFormattedMessage) for e in page]
        collector.DestroyCollector()
    finally:
        Disconnect(si)

    restarted = own_lab.restart()
    si = connect(restarted)
    try:
        assert storage_view(si, "esx-a01") == before
        collector = si.content.eventManager.CreateCollectorForEvents(vim.event.EventFilterSpec())
        again = []
        while page := collector.ReadNextEvents(1000):
            again += [(e.key, type(e).__name__, getattr(e, "eventTypeId", ""), e.fullFormattedMessage) for e in page]
        collector.DestroyCollector()
        assert again[:len(history)] == history
        # the hosts go on from the state they were in: the path back clears the problem
        own_lab.fault("path", host="esx-a01", path="vmhba2:C0:T0:L1", state="ok")
        assert "esx.problem.storage.redundancy.degraded" not in [i.eventTypeId for i in host(si, "esx-a01").configIssue]
    finally:
        Disconnect(si)
