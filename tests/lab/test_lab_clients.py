"""What third-party clients see of the lab, through pyVmomi and raw HTTP: vCenter's session cookie, the
SPBM endpoint, datastore urls without the lab's folder, browsing an inaccessible datastore
(lab/README.md: session_manager.go, pbm.go, inventory.go, host_datastore_browser.go)."""

from __future__ import annotations

import http.client
import re
import ssl
from urllib.parse import urlparse

import pytest
from pyVim.task import WaitForTask
from pyVmomi import pbm, vim
from pyVmomi.SoapAdapter import SoapStubAdapter

pytestmark = pytest.mark.lab

LOGIN = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
         'envelope/"><soapenv:Body><Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this>'
         '<userName>{user}</userName><password>{password}</password></Login></soapenv:Body></soapenv:Envelope>')
CURRENT_TIME = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/'
                'soap/envelope/"><soapenv:Body><CurrentTime xmlns="urn:vim25"><_this type="ServiceInstance">'
                'ServiceInstance</_this></CurrentTime></soapenv:Body></soapenv:Envelope>')


PBM_QUERY = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/'
             'soap/envelope/">{header}<soapenv:Body><PbmQueryProfile xmlns="urn:pbm"><_this type="PbmProfileProfileManager">'
             'ProfileManager</_this><resourceType><resourceType>STORAGE</resourceType></resourceType></PbmQueryProfile>'
             '</soapenv:Body></soapenv:Envelope>')


def _post(lab, body: str, cookie: str = "", path: str = "/sdk") -> http.client.HTTPResponse:
    url = urlparse(lab.url)
    conn = http.client.HTTPSConnection(url.hostname, url.port, context=lab.ssl_context(), timeout=30)
    headers = {"Content-Type": "text/xml", "SOAPAction": "urn:vim25/8.0.1.0"}
    if cookie:
        headers["Cookie"] = cookie
    conn.request("POST", path, body.encode(), headers)
    return conn.getresponse()


def test_session_cookie_is_quoted_like_vcenters(lab):
    res = _post(lab, LOGIN.format(user=lab.username, password=lab.password))
    assert res.status == 200, res.read()
    cookie = res.getheader("Set-Cookie")
    assert re.fullmatch(r'vmware_soap_session="[^";]+"; Path=/; HttpOnly; Secure', cookie), cookie
    # sent back as vCenter's clients send it (quoted), the session is known
    again = _post(lab, CURRENT_TIME, cookie=cookie.split(";")[0])
    assert again.status == 200 and b"returnval" in again.read()


def _pbm(lab, cookie: str | None):
    url = urlparse(lab.url)
    context = {"vcSessionCookie": cookie} if cookie else {}
    stub = SoapStubAdapter(host=url.hostname, port=url.port, path="/pbm/sdk", version="pbm.version.version2",
                           sslContext=lab.ssl_context(), requestContext=context)
    return pbm.ServiceInstance("ServiceInstance", stub)


def test_spbm_answers_for_the_vcenter_session(si, lab):
    session = si._stub.cookie.split('"')[1]  # what Ansible's SPBM helper does
    content = _pbm(lab, session).PbmRetrieveServiceContent()
    manager = content.profileManager
    ids = manager.PbmQueryProfile(resourceType=pbm.profile.ResourceType(resourceType="STORAGE"),
                                  profileCategory="REQUIREMENT")
    names = {p.name for p in manager.PbmRetrieveContent(profileIds=ids)}
    assert "VVol No Requirements Policy" in names and "vSAN Default Storage Policy" in names
    # without the session (or with an unknown one) only the service content is answered
    assert _pbm(lab, None).PbmRetrieveServiceContent().profileManager
    for cookie in ("", '"52d1c0de-0000-0000-0000-000000000000"'):
        header = f"<soapenv:Header><vcSessionCookie>{cookie}</vcSessionCookie></soapenv:Header>" if cookie else ""
        res = _post(lab, PBM_QUERY.format(header=header), path="/pbm/sdk")
        assert res.status == 500 and b"NotAuthenticated" in res.read()


def _datastores(si) -> list:
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.Datastore], True)
    try:
        return list(view.view)
    finally:
        view.Destroy()


def test_datastore_urls_are_vcenters(si):
    for ds in _datastores(si):
        volume = ds.info.vmfs.uuid if isinstance(ds.info, vim.host.VmfsDatastoreInfo) else ds.info.containerId
        assert ds.summary.url == ds.info.url == f"ds:///vmfs/volumes/{volume}/", ds.name
        for mount in ds.host:
            assert mount.mountInfo.path == f"/vmfs/volumes/{volume}"


def test_no_lab_folder_where_clients_look(si, lab):
    """The lab's temporary folder shows nowhere: datastore urls, host mounts, VM files."""
    leaks = re.compile(r"vsgt-lab|/dev/shm|/tmp/")
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem, vim.VirtualMachine], True)
    try:
        for obj in view.view:
            if isinstance(obj, vim.HostSystem):
                texts = [m.mountInfo.path for m in obj.config.fileSystemVolume.mountInfo]
            else:
                texts = [f.name for f in obj.layoutEx.file] + [obj.config.files.vmPathName]
            for text in texts:
                assert not leaks.search(text or ""), (obj.name, text)
    finally:
        view.Destroy()
    for ds in _datastores(si):
        assert not leaks.search(ds.summary.url) and not leaks.search(ds.info.url)


def _search(browser, path: str):
    spec = vim.host.DatastoreBrowser.SearchSpec(matchPattern=["*"])
    task = browser.SearchDatastore_Task(datastorePath=path, searchSpec=spec)
    WaitForTask(task, raiseOnError=False)
    return task.info


def test_browsing_an_inaccessible_datastore_fails(si, lab):
    gold = next(ds for ds in _datastores(si) if ds.name == "ds-gold")
    host = next(m.key for m in gold.host if m.key.name == "esx-a01")
    for browser in (gold.browser, host.datastoreBrowser):
        info = _search(browser, "[ds-gold] web01")
        assert info.state == "success", info.error
        assert "web01.vmx" in {f.path for f in info.result.file}
    for state in ("pdl", "apd"):
        lab.fault("lun", lun="gold01", state=state)
        for browser in (gold.browser, host.datastoreBrowser):
            info = _search(browser, "[ds-gold] web01")
            assert info.state == "error", state
            assert isinstance(info.error, vim.fault.InaccessibleDatastore) and info.error.name == "ds-gold"
        lab.restore()


def test_refresh_datastore_keeps_the_volume_size(si):
    gold = next(ds for ds in _datastores(si) if ds.name == "ds-gold")
    before = (gold.summary.capacity, gold.summary.freeSpace)
    gold.RefreshDatastore()
    assert (gold.summary.capacity, gold.summary.freeSpace) == before
    assert before[1] < before[0]  # the VMs' files take space
