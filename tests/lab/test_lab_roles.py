"""AuthorizationManager's roles in the lab, as vCenter keeps them: AddAuthorizationRole returns the new
role's id, changing roles needs Authorization.ModifyRoles, unknown privileges and names in use are refused."""

from __future__ import annotations

import ssl

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim


def test_roles_are_added_updated_and_removed_as_in_vcenter(lab, si):
    auth = si.content.authorizationManager
    before = {r.roleId for r in auth.roleList}
    role_id = auth.AddAuthorizationRole(name="lab-roles-test", privIds=["Resource.HotMigrate"])
    try:
        assert role_id > max(before) and role_id not in before
        role = next(r for r in auth.roleList if r.name == "lab-roles-test")
        assert role.roleId == role_id and not role.system
        assert set(role.privilege) == {"Resource.HotMigrate", "System.Anonymous", "System.Read", "System.View"}
        with pytest.raises(vim.fault.AlreadyExists):
            auth.AddAuthorizationRole(name="lab-roles-test", privIds=[])
        with pytest.raises(vmodl_invalid_argument()):
            auth.AddAuthorizationRole(name="lab-roles-bad", privIds=["No.Such.Privilege"])
        auth.UpdateAuthorizationRole(roleId=role_id, newName="lab-roles-test", privIds=["Global.LogEvent"])
        role = next(r for r in auth.roleList if r.roleId == role_id)
        assert "Global.LogEvent" in role.privilege and "Resource.HotMigrate" not in role.privilege

        url = lab.url.split("//", 1)[1].split("/", 1)[0]
        ro = SmartConnect(host=url.rsplit(":", 1)[0], port=int(url.rsplit(":", 1)[1]), user=lab.info.readonly_username,
                          pwd=lab.info.readonly_password, sslContext=ssl.create_default_context(cafile=lab.cert))
        try:
            ro_auth = ro.content.authorizationManager
            for call in (lambda: ro_auth.AddAuthorizationRole(name="ro-role", privIds=[]),
                         lambda: ro_auth.UpdateAuthorizationRole(roleId=role_id, newName="x", privIds=[]),
                         lambda: ro_auth.RemoveAuthorizationRole(roleId=role_id, failIfUsed=False)):
                with pytest.raises(vim.fault.NoPermission) as denied:
                    call()
                assert denied.value.privilegeId == "Authorization.ModifyRoles"
        finally:
            Disconnect(ro)
    finally:
        auth.RemoveAuthorizationRole(roleId=role_id, failIfUsed=False)
    assert "lab-roles-test" not in {r.name for r in auth.roleList}


def vmodl_invalid_argument():
    from pyVmomi import vmodl

    return vmodl.fault.InvalidArgument
