"""The feature -> privilege table, and what preflight makes of what vCenter answered (plain data)."""

from __future__ import annotations

from dataclasses import replace

from vsguesttruth.config import Config, DeliveryConfig, RemediationConfig, ScopeConfig, WebConfig
from vsguesttruth.features import (FEATURES, ON, SYSTEM, enabled, privilege_findings, role_privileges,
                                   tools_finding, verdicts)


def names(features) -> list[str]:
    return [f.name for f in features]


def test_the_config_decides_which_features_and_privileges():
    assert names(enabled(Config())) == ["read", "publish", "advise", "lease"]  # remediation advises by default
    assert role_privileges(enabled(Config())) == [
        "Global.LogEvent", "Host.Config.Storage", "VirtualMachine.Config.AdvancedConfig",
        "VirtualMachine.Provisioning.ModifyCustSpecs", "VirtualMachine.Provisioning.ReadCustSpecs"]
    off = Config(remediation=RemediationConfig(mode="off"))
    assert names(enabled(off)) == ["read", "publish", "lease"]
    assert "Global.LogEvent" in role_privileges(enabled(off))  # each answered request is on record
    auto = Config(remediation=RemediationConfig(mode="auto"), web=WebConfig(cert_file="c.pem", key_file="k.pem"))
    assert names(enabled(auto)) == ["read", "publish", "advise", "remediate", "sessions", "plugin", "lease"]
    assert {"Resource.HotMigrate", "Extension.Register", "Datastore.AllocateSpace"} <= set(role_privileges(enabled(auto)))
    assert names(enabled(off, everything=True)) == names(FEATURES)
    assert not set(role_privileges(enabled(auto))) & set(SYSTEM)  # vCenter adds those itself


def test_data_sets_tags_and_sessions_have_their_rows():
    """The Automation API's features: data sets on [delivery], tags on [scope]/[remediation], the vSphere Client
    user's session with the plugin; the data set privileges are vCenter's ids (the SDK's documentation)."""
    datasets = Config(delivery=DeliveryConfig(channel="auto"))
    assert "datasets" in names(enabled(datasets)) and "datasets" not in names(enabled(Config()))
    assert [p for p in role_privileges(enabled(datasets)) if "DataSets" in p] == [
        "VirtualMachine.DataSets.DataSetCreate", "VirtualMachine.DataSets.DataSetEntryGet",
        "VirtualMachine.DataSets.DataSetEntryList", "VirtualMachine.DataSets.DataSetEntrySet",
        "VirtualMachine.DataSets.DataSetGet", "VirtualMachine.DataSets.DataSetList",
        "VirtualMachine.DataSets.DataSetUpdate"]
    assert all(n.on == "vm" for f in enabled(datasets) if f.name == "datasets" for n in f.needs)
    tagged = Config(scope=ScopeConfig(tags=(("vsgt", "on"),)))
    replicas = Config(remediation=RemediationConfig(replica_tag_category="vsgt-replica-of"))
    assert "tags" in names(enabled(tagged)) and "tags" in names(enabled(replicas)) and "tags" not in names(enabled(Config()))
    assert role_privileges([f for f in FEATURES if f.name in ("tags", "sessions")]) == []  # System.* only


def test_proactive_ha_mode_needs_the_health_provider_privileges_and_still_moves():
    pha = Config(remediation=RemediationConfig(mode="proactive-ha"))
    assert names(enabled(pha)) == ["read", "publish", "advise", "remediate", "proactive-ha", "lease"]
    needs = {(n.privilege, n.on) for f in enabled(pha) for n in f.needs}
    assert {("HealthUpdateProvider.Register", "vcenter"), ("HealthUpdateProvider.Update", "vcenter"),
            ("Host.Inventory.EditCluster", "cluster")} <= needs
    assert "HealthUpdateProvider.Unregister" not in role_privileges(enabled(pha))  # it never unregisters
    assert "Resource.ColdMigrate" in role_privileges(enabled(pha))  # replica failover stays its own


def test_every_row_is_well_formed():
    for feature in FEATURES:
        assert feature.needs and feature.summary and feature.why_enabled
        for need in feature.needs:
            assert need.on in ON and need.why and need.privilege.count(".") >= 1
        assert feature.as_dict(Config())["privileges"][0]["privilege"] == feature.needs[0].privilege


def test_findings_say_what_is_missing_where():
    features = enabled(Config(remediation=RemediationConfig(mode="auto")))
    missing = {("VirtualMachine.Config.AdvancedConfig", "vm"): [f"vm{i:02d}" for i in range(7)],
               ("Global.LogEvent", "vcenter"): ["vCenter"]}
    totals = {"vcenter": 1, "vm": 20, "host": 6, "datastore": 12, "pool": 0}
    found = privilege_findings(features, missing, totals)
    lines = [f.line() for f in found]
    assert ("fail  publish    VirtualMachine.Config.AdvancedConfig missing on 7 of 20 vms "
            "(vm00, vm01, vm02, vm03, vm04 and 2 more): ReconfigVM_Task of guestinfo.vsguesttruth.* (extraConfig)") in lines
    assert "ok    publish    Host.Config.Storage held on all 6 hosts" in lines
    assert any(line.startswith("fail  advise     Global.LogEvent missing on vCenter") for line in lines)
    assert any(f.level == "warn" and "no pool in scope" in f.message for f in found)
    closing = {f.feature: f.level for f in verdicts(features, found)}
    assert closing == {"read": "ok", "publish": "fail", "advise": "fail", "remediate": "ok", "lease": "ok"}


def test_tools_finding():
    assert tools_finding([("a", "poweredOn", "guestToolsRunning")]).level == "ok"
    warn = tools_finding([("a", "poweredOn", "guestToolsRunning"), ("b", "poweredOn", "guestToolsNotRunning"),
                          ("c", "poweredOff", "guestToolsNotRunning")])
    assert warn.level == "warn" and "1 of 3" in warn.message and "not running in b" in warn.message
    assert "1 powered off" in warn.message
    assert tools_finding([]).level == "warn"
    assert replace(warn, level="ok").as_dict()["level"] == "ok"
