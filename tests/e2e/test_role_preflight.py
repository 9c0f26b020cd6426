"""`vsguesttruth role` and `vsguesttruth preflight` as an admin runs them, against the lab: the
administrator and the read-only user (vCenter's ReadOnly role)."""

from __future__ import annotations

import json

from test_cli import run


def admin(lab, **extra):
    return {"VSGT_URL": lab.url, "VSGT_USERNAME": lab.username, "VSGT_PASSWORD": lab.password,
            "VSGT_CA_FILE": lab.cert, **extra}


def readonly(lab, **extra):
    return admin(lab, VSGT_USERNAME=lab.info.readonly_username, VSGT_PASSWORD=lab.info.readonly_password, **extra)


def roles(si) -> dict:
    return {r.name: r for r in si.content.authorizationManager.roleList}


def test_role_prints_the_privileges_of_the_enabled_features(tmp_path):
    result = run("role", "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert [f["feature"] for f in shown["features"]] == ["read", "publish", "advise", "lease"]
    assert shown["privileges"] == ["Global.LogEvent", "Host.Config.Storage", "VirtualMachine.Config.AdvancedConfig",
                                   "VirtualMachine.Provisioning.ModifyCustSpecs",
                                   "VirtualMachine.Provisioning.ReadCustSpecs"]
    config = tmp_path / "config.toml"
    config.write_text('[remediation]\nmode = "auto"\n')
    text = run("role", env={"VSGT_CONFIG": str(config)}).stdout
    assert "remediate" in text and "Resource.HotMigrate" in text and "[remediation] mode auto" in text
    assert run("role", "--dry-run").returncode == 2


def test_role_create_is_idempotent_and_dry_run_changes_nothing(lab, si, tmp_path):
    name = "vsgt-e2e-role"
    dry = run("role", "--create", name, "--dry-run", "--json", env=admin(lab))
    assert dry.returncode == 0 and json.loads(dry.stdout)["role"]["action"] == "would create"
    assert name not in roles(si)
    made = run("role", "--create", name, env=admin(lab))
    assert made.returncode == 0, made.stderr
    role = roles(si)[name]
    assert f"role {name} (id {role.roleId}): created" in made.stdout
    assert set(role.privilege) >= {"Global.LogEvent", "Host.Config.Storage", "VirtualMachine.Config.AdvancedConfig"}
    again = run("role", "--create", name, "--json", env=admin(lab))
    assert json.loads(again.stdout)["role"] == {"role": name, "action": "unchanged", "role_id": role.roleId,
                                                "added": [], "removed": []}
    config = tmp_path / "config.toml"
    config.write_text('[remediation]\nmode = "off"\n[web]\npublic_url = "https://vsgt.example.com:8443"\n')
    updated = json.loads(run("role", "--create", name, "--json", env=admin(lab, VSGT_CONFIG=str(config))).stdout)
    assert updated["role"]["action"] == "updated" and updated["role"]["removed"] == []
    assert updated["role"]["added"] == ["Extension.Register", "Extension.Unregister", "Extension.Update"]
    assert "Extension.Register" in roles(si)[name].privilege
    system = run("role", "--create", "Admin", env=admin(lab))
    assert system.returncode == 3 and "system roles" in system.stderr and "Traceback" not in system.stderr
    si.content.authorizationManager.RemoveAuthorizationRole(roleId=role.roleId, failIfUsed=False)


def test_the_readonly_user_may_not_create_roles(lab, si):
    denied = run("role", "--create", "vsgt-ro-role", env=readonly(lab))
    assert denied.returncode == 3 and "Traceback" not in denied.stderr
    assert len(denied.stderr.strip().splitlines()) == 1 and "Authorization.ModifyRoles" in denied.stderr
    assert "vsgt-ro-role" not in roles(si)


def test_preflight_as_administrator_everything_can_work(lab):
    result = run("preflight", "--all", env=admin(lab))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert all(line.split()[0] in ("ok", "warn") for line in lines), result.stdout
    assert any("VirtualMachine.Config.AdvancedConfig held on all 22 vms" in line for line in lines)
    assert any("Resource.AssignVMToPool held on all 2 pools" in line for line in lines)
    assert any("VMware Tools running in 22 of 22 in-scope VMs" in line for line in lines)
    assert any("Host.Inventory.EditCluster held on all 2 clusters" in line for line in lines)
    assert any("HealthUpdateProvider.Update held on vCenter" in line for line in lines), result.stdout
    assert [line.split()[1] for line in lines if "can work" in line] == ["read", "publish", "advise", "remediate",
                                                                         "proactive-ha", "datasets", "tags",
                                                                         "sessions", "plugin", "lease"]
    assert any("VirtualMachine.DataSets.DataSetEntrySet held on all 22 vms" in line for line in lines), result.stdout
    assert any(line.startswith("ok    datasets   15 of 22 in-scope VMs get data sets") for line in lines), result.stdout


def test_preflight_as_the_readonly_user_names_what_is_missing(lab, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[remediation]\nmode = "off"\n[scope]\nvms = ["web*"]\n')
    result = run("preflight", "--json", env=readonly(lab, VSGT_CONFIG=str(config)))
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["features"] == {"read": True, "publish": False, "lease": False}
    messages = [f["message"] for f in report["findings"] if f["level"] == "fail"]
    assert any(m.startswith("VirtualMachine.Config.AdvancedConfig missing on 6 of 6 vms (web01, web02, web03, web11, web12 and 1 more)")
               for m in messages), messages
    assert any(m.startswith("Host.Config.Storage missing on") for m in messages)
    text = run("preflight", env=readonly(lab, VSGT_CONFIG=str(config)))
    assert text.returncode == 1 and "fail  publish    cannot work" in text.stdout
    assert "as readonly" in text.stdout.splitlines()[0]
