"""The lab's Automation API sessions, its JSON-RPC protocol, and the vSphere Client's clone ticket
(lab/README.md, "The Automation API"). Through Broadcom's SDK (vmware-vcenter), plain HTTPS with the lab's
certificate, and pyVmomi for CloneSession; tests that end or restart sessions run their own lab.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlparse

import httpx
import pytest
from com.vmware.vapi.std.errors_client import Unauthenticated
from fakes.automation import guest, rest, rest_login, sdk, sdk_session, server, soap
from pyVim.connect import Disconnect
from pyVmomi import SoapStubAdapter, vim

from vsguesttruth.lab import Lab

pytestmark = pytest.mark.lab


def soap_without_session(info):
    url = urlparse(info.url)
    stub = SoapStubAdapter(host=url.hostname, port=url.port, sslContext=ssl.create_default_context(cafile=info.cert))
    return vim.ServiceInstance("ServiceInstance", stub)


@pytest.fixture
def own_lab(tmp_path):
    lab = Lab(tmp_path / "lab")
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


def test_sdk_session_create_get_delete(lab):
    client = sdk(lab)
    info = client.session_svc.get()
    assert info.user == lab.username
    assert info.created_time <= info.last_accessed_time
    session_id = client.get_session_id()
    client.session_svc.delete()
    with pytest.raises(Unauthenticated):
        sdk_session(lab, session_id).session_svc.get()
    with pytest.raises(Unauthenticated):
        sdk(lab, password="wrong")


def test_rest_session_with_basic_auth_and_header(lab):
    with rest(lab) as api:
        assert api.post("/session", auth=(lab.username, "wrong")).status_code == 401
        unauthenticated = api.get("/session")
        assert unauthenticated.status_code == 401
        assert unauthenticated.json()["error_type"] == "UNAUTHENTICATED"
        assert unauthenticated.json()["messages"][0]["id"] == "com.vmware.vapi.endpoint.method.authentication.required"
        session_id = rest_login(api, lab)
        assert isinstance(session_id, str) and session_id
        got = api.get("/session")
        assert got.status_code == 200
        assert got.json()["user"] == lab.username and {"created_time", "last_accessed_time"} <= set(got.json())
        # the same session serves the SDK's JSON-RPC (kept: the SDK's client deletes its session when collected)
        shared = sdk_session(lab, session_id)
        assert shared.session_svc.get().user == lab.username
        assert api.delete("/session").status_code == 204
        assert api.get("/session").status_code == 401


def test_json_rpc_protocol_errors_are_answered_as_vapi_does(lab):
    url = f"https://{server(lab)}/api"
    with httpx.Client(verify=ssl.create_default_context(cafile=lab.cert), trust_env=False) as http:
        parse = http.post(url, content=b"{not json").json()
        assert parse["error"]["code"] == -32700 and parse["id"] is None
        deep = http.post(url, content=b"[" * 200 + b"]" * 200).json()
        assert deep["error"]["code"] == -32700
        method = http.post(url, json={"jsonrpc": "2.0", "id": "7", "method": "nope", "params": {}}).json()
        assert method["error"]["code"] == -32601 and method["id"] == "7"
        unknown = http.post(url, json={"jsonrpc": "2.0", "id": "8", "method": "invoke", "params": {
            "serviceId": "com.vmware.nope", "operationId": "get", "input": {"STRUCTURE": {"operation-input": {}}},
            "ctx": {"appCtx": {}}}}).json()
        assert unknown["id"] == "8"
        assert "com.vmware.vapi.std.errors.operation_not_found" in unknown["result"]["error"]["ERROR"]
        no_session = http.post(url, json={"jsonrpc": "2.0", "id": "9", "method": "invoke", "params": {
            "serviceId": "com.vmware.cis.session", "operationId": "get",
            "input": {"STRUCTURE": {"operation-input": {}}}, "ctx": {"appCtx": {}}}}).json()
        error = no_session["result"]["error"]["ERROR"]["com.vmware.vapi.std.errors.unauthenticated"]
        assert error["error_type"] == {"OPTIONAL": "UNAUTHENTICATED"}


def test_clone_ticket_gives_a_soap_session_once(lab):
    with rest(lab) as api:
        rest_login(api, lab)
        si = soap_without_session(lab)
        about = si.content.about
        wrong = api.post("/ui/vcenter/session/clone-ticket", json={"vc_guid": "not-this-vcenter"})
        assert wrong.status_code == 404
        res = api.post("/ui/vcenter/session/clone-ticket", json={"vc_guid": about.instanceUuid})
        assert res.status_code == 200, res.text
        ticket = res.json()["session_clone_ticket"]
        # a ticket is no session cookie
        si._stub.cookie = f'vmware_soap_session="{ticket}"'
        with pytest.raises(vim.fault.NotAuthenticated):
            si.content.sessionManager.currentSession  # noqa: B018
        cloned = soap_without_session(lab)
        user_session = cloned.content.sessionManager.CloneSession(ticket)
        assert user_session.userName == lab.username
        assert cloned.content.sessionManager.currentSession.userName == lab.username
        with pytest.raises(vim.fault.InvalidLogin):
            soap_without_session(lab).content.sessionManager.CloneSession(ticket)  # single use
        # a ticket dies with the session that asked for it
        ticket = api.post("/ui/vcenter/session/clone-ticket", json={}).json()["session_clone_ticket"]
        assert api.delete("/session").status_code == 204
        with pytest.raises(vim.fault.InvalidLogin):
            soap_without_session(lab).content.sessionManager.CloneSession(ticket)
        cloned.content.sessionManager.Logout()


def test_acquire_clone_ticket_over_soap(lab, si):
    ticket = si.content.sessionManager.AcquireCloneTicket()
    listed = {s.key for s in si.content.sessionManager.sessionList}
    assert ticket not in listed
    cloned = soap_without_session(lab)
    assert cloned.content.sessionManager.CloneSession(ticket).userName == lab.username
    with pytest.raises(vim.fault.InvalidLogin):
        soap_without_session(lab).content.sessionManager.CloneSession(ticket)
    cloned.content.sessionManager.Logout()


def test_expire_sessions_ends_automation_api_sessions_too(own_lab):
    info = own_lab.info()
    client = sdk(info)
    with rest(info) as api:
        rest_login(api, info)
        assert own_lab.expire_sessions() >= 2
        assert api.get("/session").status_code == 401
    with pytest.raises(Unauthenticated):
        client.session_svc.get()
    assert sdk(info).session_svc.get().user == info.username  # logging in again works


def test_readonly_user_reads_but_changes_nothing(lab):
    from com.vmware.cis.tagging_client import Category, CategoryModel
    from com.vmware.vapi.std.errors_client import Unauthorized

    info = lab.info
    client = sdk(lab, info.readonly_username, info.readonly_password)
    assert client.session_svc.get().user == info.readonly_username
    client.tagging.Category.list()
    with pytest.raises(Unauthorized):
        client.tagging.Category.create(Category.CreateSpec(
            name="vsgt-readonly", description="", cardinality=CategoryModel.Cardinality.SINGLE, associable_types=set()))


def test_automation_api_state_survives_a_restart_but_sessions_do_not(own_lab):
    from com.vmware.cis.tagging_client import Category, CategoryModel, Tag
    from com.vmware.vapi.std_client import DynamicID
    from com.vmware.vcenter.vm_client import DataSets

    info = own_lab.info()
    si = soap(info)
    try:
        vm = {v.name: v for v in si.content.viewManager.CreateContainerView(
            si.content.rootFolder, [vim.VirtualMachine], True).view}["web01"]
    finally:
        Disconnect(si)
    client = sdk(info)
    category = client.tagging.Category.create(Category.CreateSpec(
        name="vsgt-kept", description="kept", cardinality=CategoryModel.Cardinality.MULTIPLE, associable_types=set()))
    tag = client.tagging.Tag.create(Tag.CreateSpec(name="kept", description="", category_id=category))
    gone = client.tagging.Tag.create(Tag.CreateSpec(name="gone", description="", category_id=category))
    obj = DynamicID(type="VirtualMachine", id=vm._moId)
    client.tagging.TagAssociation.attach(tag, obj)
    client.tagging.TagAssociation.attach(gone, obj)
    client.tagging.Tag.delete(gone)
    client.vcenter.vm.DataSets.create(vm._moId, DataSets.CreateSpec(
        name="vsgt.kept", description="", host=DataSets.Access.READ_WRITE, guest=DataSets.Access.READ_WRITE))
    entries = client.vcenter.vm.data_sets.Entries
    entries.set(vm._moId, "vsgt.kept", "state", "first")
    entries.set(vm._moId, "vsgt.kept", "state", "second")
    entries.set(vm._moId, "vsgt.kept", "removed", "x")
    entries.delete(vm._moId, "vsgt.kept", "removed")
    written = guest(info, "web01", 'datasets-set-entry {"dataset":"vsgt.kept","entries":[{"key":"request","value":"r1"}]}')
    assert written.json() == {"result": True}

    restarted = own_lab.restart()

    with pytest.raises(Unauthenticated):
        client.session_svc.get()
    after = sdk(restarted)
    assert after.tagging.Category.get(category).name == "vsgt-kept"
    assert after.tagging.Tag.list_tags_for_category(category) == [tag]
    assert [t.tag_ids for t in after.tagging.TagAssociation.list_attached_tags_on_objects([obj])] == [[tag]]
    assert after.vcenter.vm.data_sets.Entries.list(vm._moId, "vsgt.kept") == {"state", "request"}
    assert after.vcenter.vm.data_sets.Entries.get(vm._moId, "vsgt.kept", "state") == "second"
    assert after.vcenter.vm.data_sets.Entries.get(vm._moId, "vsgt.kept", "request") == "r1"
