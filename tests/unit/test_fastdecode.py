"""fastdecode builds exactly what pyVmomi's SoapResponseDeserializer builds, and invoke() talks like pyVmomi.

Recorded bodies (tests/unit/data/fastdecode/*.xml.gz) are real responses of the govmomi simulator and
of the SAN lab: RetrievePropertiesEx of hosts (HBAs, SCSI LUNs, multipath info and state), datastores
and VMs (devices, RDM and snapshot-chain backings, extraConfig), WaitForUpdatesEx enter/modify update
sets, a missingSet with a NotAuthenticated fault, and a SOAP fault. Every one is decoded both ways and
compared field by field. Synthetic bodies cover every scalar kind and the error paths; a tiny local
HTTP server stands in for vCenter to check invoke() end to end.
"""

from __future__ import annotations

import gc
import gzip
import http.server
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from xml.parsers.expat import ExpatError
from xml.sax.saxutils import escape

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyVmomi import SoapAdapter, SoapStubAdapter, vim, vmodl
from pyVmomi.SoapAdapter import SessionOrientedStub, SoapResponseDeserializer
from pyVmomi.VmomiSupport import DataObject, ManagedObject, long

from vsguesttruth.vcenter import fastdecode
from vsguesttruth.vcenter.fastdecode import decode, invoke

DATA = Path(__file__).parent / "data" / "fastdecode"
PC = vmodl.query.PropertyCollector
RETRIEVE = PC._GetMethodInfo("RetrievePropertiesEx").result
UPDATES = PC._GetMethodInfo("WaitForUpdatesEx").result
TASK = vim.VirtualMachine._GetMethodInfo("PowerOn").result
VERSIONS = ["vim.version.version11", "vim.version.v8_0_0_0", "vim.version.version9"]


def stub_for(version: str = "vim.version.version11", port: int = 1) -> Any:
    return SoapStubAdapter(host="127.0.0.1", port=-port, version=version)


def result_type(name: str) -> type:
    if "fault_notfound" in name:
        return TASK
    return UPDATES if "wait" in name else RETRIEVE


def recorded() -> list[Path]:
    return sorted(DATA.glob("*.xml.gz"))


# --------------------------------------------------------------------------------------------
# the comparison


def assert_same(fast: Any, ref: Any, path: str = "$") -> None:
    """Same classes all the way down, same values, arrays element-wise, morefs by id/type/stub."""
    assert type(fast) is type(ref), f"{path}: {type(fast).__name__} != {type(ref).__name__}"
    if isinstance(ref, ManagedObject):
        assert vars(fast) == vars(ref), f"{path}: {vars(fast)} != {vars(ref)}"
        assert fast._stub is ref._stub, path
        assert fast._moId is ref._moId, f"{path}: moId not interned"
    elif isinstance(ref, DataObject):
        assert list(vars(fast)) == list(vars(ref)), f"{path}: attributes {list(vars(fast))} != {list(vars(ref))}"
        for key, val in vars(ref).items():
            assert_same(vars(fast)[key], val, f"{path}.{key}")
        if isinstance(ref, BaseException):
            assert fast.args == ref.args, path
    elif isinstance(ref, list):
        assert len(fast) == len(ref), f"{path}: {len(fast)} items != {len(ref)}"
        for i, (a, b) in enumerate(zip(fast, ref)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(ref, datetime):
        assert (fast, fast.tzinfo and fast.utcoffset()) == (ref, ref.tzinfo and ref.utcoffset()), path
    elif isinstance(ref, type) or ref is None:
        assert fast is ref, path
    else:
        assert fast == ref, f"{path}: {fast!r} != {ref!r}"


def pyvmomi(data: bytes, rtype: type, stub: Any) -> Any:
    return SoapResponseDeserializer(stub).Deserialize(data, rtype)


def assert_decodes_like_pyvmomi(data: bytes, rtype: type, stub: Any, *, fast_path: bool = True) -> Any:
    """decode() == pyVmomi, or both raise the same error; ``fast_path``: no fallback was needed."""
    try:
        ref = pyvmomi(data, rtype, stub)
    except Exception as exc:  # noqa: BLE001
        with pytest.raises(type(exc)) as info:
            decode(data, rtype, stub)
        assert str(info.value) == str(exc)
        return exc
    assert_same(decode(data, rtype, stub), ref)
    if fast_path:
        assert_same(fastdecode._fast_decode(data, rtype, stub), ref)
    return ref


# --------------------------------------------------------------------------------------------
# recorded responses


def test_recorded_data_is_small_and_present() -> None:
    files = recorded()
    assert len(files) >= 10
    assert sum(f.stat().st_size for f in files) < 200_000


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", recorded(), ids=lambda p: p.name.split(".")[0])
def test_recorded_response_decodes_like_pyvmomi(path: Path, version: str) -> None:
    data = gzip.decompress(path.read_bytes())
    stub = stub_for(version)
    fault = "fault_notfound" in path.name
    result = assert_decodes_like_pyvmomi(data, result_type(path.name), stub, fast_path=not fault)
    if fault:
        assert isinstance(result, vmodl.fault.ManagedObjectNotFound)
        with pytest.raises(fastdecode._Fallback):
            fastdecode._fast_decode(data, TASK, stub)


def test_lab_storage_objects_are_the_real_pyvmomi_classes() -> None:
    stub = stub_for()
    hosts = decode(gzip.decompress((DATA / "lab_hosts.xml.gz").read_bytes()), RETRIEVE, stub)
    props = {(o.obj._moId, p.name): p.val for o in hosts.objects for p in o.propSet}
    hbas = [v for (_, name), v in props.items() if name == "config.storageDevice.hostBusAdapter"]
    assert any(isinstance(h, vim.host.FibreChannelHba) and h.portWorldWideName for hs in hbas for h in hs)
    infos = [v for (_, name), v in props.items() if name == "config.storageDevice.multipathInfo"]
    paths = [p for info in infos for lun in info.lun for p in lun.path]
    fc = [p for p in paths if isinstance(p.transport, vim.host.FibreChannelTargetTransport)]
    assert fc and all(p.transport.portWorldWideName for p in fc)
    assert all(isinstance(p.state, str) for p in paths)
    luns = [lun for (_, name), v in props.items() if name == "config.storageDevice.scsiLun" for lun in v]
    disk = next(lun for lun in luns if isinstance(lun, vim.host.ScsiDisk) and lun.canonicalName.startswith("naa."))
    assert type(disk.operationalState) is type(vim.host.ScsiDisk().operationalState)  # a typed str[] array
    assert disk.capacity.block > 0 and type(disk.capacity.block) is long
    parent = next(v for (_, name), v in props.items() if name == "parent")
    assert isinstance(parent, vim.ClusterComputeResource) and parent._stub is stub

    vms = decode(gzip.decompress((DATA / "lab_vms.xml.gz").read_bytes()), RETRIEVE, stub)
    devices = [d for o in vms.objects for p in o.propSet if p.name == "config.hardware.device" for d in p.val]
    backings = [d.backing for d in devices if isinstance(d, vim.vm.device.VirtualDisk)]
    flat = [b for b in backings if isinstance(b, vim.vm.device.VirtualDisk.FlatVer2BackingInfo)]
    rdm = [b for b in backings if isinstance(b, vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo)]
    assert flat and rdm and all(b.lunUuid for b in rdm)
    assert all(isinstance(b.datastore, vim.Datastore) for b in flat)
    chain = next(b for b in flat if b.parent is not None)  # a snapshot delta and its base
    assert isinstance(chain.parent, vim.vm.device.VirtualDisk.FlatVer2BackingInfo) and chain.parent.fileName
    # unset optional properties read as None, unset arrays as empty typed arrays, like DataObject.__init__
    ref = vim.vm.device.VirtualDisk.FlatVer2BackingInfo()
    base = chain.parent
    while base.parent is not None:
        base = base.parent
    assert list(vars(base)) == list(vars(ref))
    assert base.parent is None and base.changeId is None
    assert base.dynamicProperty == [] and type(base.dynamicProperty) is type(ref.dynamicProperty)


def test_missing_property_fault_is_unwrapped_like_pyvmomi() -> None:
    result = decode(gzip.decompress((DATA / "lab_fault_notauth.xml.gz").read_bytes()), RETRIEVE, stub_for())
    missing = result.objects[0].missingSet[0]
    assert isinstance(missing.fault, vim.fault.NotAuthenticated)
    assert missing.fault.privilegeId == "System.Read"


def test_decode_leaves_the_garbage_collector_as_it_was() -> None:
    data = gzip.decompress((DATA / "lab_wait_enter.xml.gz").read_bytes())
    assert gc.isenabled()
    decode(data, UPDATES, stub_for())
    assert gc.isenabled()
    gc.disable()
    try:
        decode(data, UPDATES, stub_for())
        assert not gc.isenabled()
    finally:
        gc.enable()


# --------------------------------------------------------------------------------------------
# synthetic bodies: every scalar kind, polymorphism, arrays, faults, errors

ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" '
    'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    '<soapenv:Body><{method}Response xmlns="urn:vim25">{body}</{method}Response></soapenv:Body>'
    "</soapenv:Envelope>"
)


def retrieve_body(*vals: str, obj: str = '<obj type="HostSystem">host-1</obj>', extra: str = "") -> bytes:
    props = "".join(f"<propSet><name>p{i}</name>{val}</propSet>" for i, val in enumerate(vals))
    body = f"<returnval><objects>{obj}{props}{extra}</objects></returnval>"
    return ENVELOPE.format(method="RetrievePropertiesEx", body=body).encode()


SCALARS = [
    '<val xsi:type="xsd:string">plain</val>',
    '<val xsi:type="xsd:string"></val>',
    '<val xsi:type="xsd:string"/>',
    '<val xsi:type="xsd:string">&lt;tag&gt; &amp; "quotes" \u00e9\u4e2d\U0001f600 \r\n tab\t</val>',
    '<val xsi:type="xsd:int">-42</val>',
    '<val xsi:type="xsd:int"> 7 </val>',
    '<val xsi:type="xsd:long">9223372036854775807</val>',
    '<val xsi:type="xsd:short">-3</val>',
    '<val xsi:type="xsd:byte">5</val>',
    '<val xsi:type="xsd:float">1.5</val>',
    '<val xsi:type="xsd:double">-2.5e10</val>',
    '<val xsi:type="xsd:boolean">true</val>',
    '<val xsi:type="xsd:boolean">false</val>',
    '<val xsi:type="xsd:boolean">1</val>',
    '<val xsi:type="xsd:boolean">0</val>',
    '<val xsi:type="xsd:boolean">True</val>',
    '<val xsi:type="xsd:dateTime">2024-02-29T23:59:59Z</val>',
    '<val xsi:type="xsd:dateTime">2024-02-29T23:59:59.123456+05:30</val>',
    '<val xsi:type="xsd:dateTime">2024-02-29T23:59:59</val>',
    '<val xsi:type="xsd:base64Binary">AAECA/8=</val>',
    '<val xsi:type="xsd:anyURI">https://example.com/x?a=1</val>',
    '<val xsi:type="ManagedObjectReference" type="Datastore">datastore-7</val>',
    '<val xsi:type="ManagedObjectReference" type="VirtualMachine" serverGuid="abc-123">vm-1</val>',
    '<val xsi:type="HostSystemPowerState">poweredOn</val>',
    '<val xsi:type="ArrayOfString"><string>a</string><string></string><string>c</string></val>',
    '<val xsi:type="ArrayOfString"></val>',
    '<val xsi:type="ArrayOfInt"><int>1</int><int>-2</int></val>',
    '<val xsi:type="ArrayOfLong"><long>1</long></val>',
    '<val xsi:type="ArrayOfBoolean"><boolean>true</boolean><boolean>0</boolean></val>',
    '<val xsi:type="ArrayOfManagedObjectReference"><ManagedObjectReference type="HostSystem">host-1'
    '</ManagedObjectReference><ManagedObjectReference type="Datastore">ds-2</ManagedObjectReference></val>',
    '<val xsi:type="ArrayOfHostSystemPowerState"><HostSystemPowerState>standBy</HostSystemPowerState></val>',
    '<val xsi:type="ArrayOfAnyType"><anyType xsi:type="xsd:int">1</anyType><anyType xsi:type="xsd:string">'
    'two</anyType><anyType xsi:type="ManagedObjectReference" type="Folder">group-d1</anyType>'
    '<anyType xsi:type="ArrayOfString"><string>nested</string></anyType></val>',
    '<val xsi:type="OptionValue"><key>guestinfo.a</key><value xsi:type="xsd:string">1</value></val>',
    '<val xsi:type="ArrayOfOptionValue"><OptionValue><key>k</key><value xsi:type="xsd:long">5</value>'
    '</OptionValue><OptionValue xsi:type="OptionValue"><key>k2</key><value xsi:type="xsd:boolean">false'
    "</value></OptionValue></val>",
    '<val xsi:type="HostMultipathStateInfoPath"><name>vmhba2:C0:T0:L1</name><pathState>active</pathState></val>',
    '<val xsi:type="HostFibreChannelTargetTransport"><portWorldWideName>123</portWorldWideName>'
    "<nodeWorldWideName>-9223372036854775808</nodeWorldWideName></val>",
    '<val xsi:type="VirtualDisk"><key>2000</key><deviceInfo><label>d</label><summary>s</summary></deviceInfo>'
    '<backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>[ds] a/b.vmdk</fileName>'
    '<datastore type="Datastore">ds-1</datastore><diskMode>persistent</diskMode><parent><fileName>[ds] p.vmdk'
    "</fileName><diskMode>persistent</diskMode></parent></backing><controllerKey>1000</controllerKey>"
    "<unitNumber>0</unitNumber><capacityInKB>1024</capacityInKB></val>",
    '<val xsi:type="HostScsiDisk"><deviceName>/vmfs/devices/disks/naa.1</deviceName><deviceType>disk</deviceType>'
    "<key>k</key><uuid>u</uuid><canonicalName>naa.1</canonicalName><lunType>disk</lunType>"
    "<operationalState>ok</operationalState><operationalState>degraded</operationalState>"
    "<capacity><blockSize>512</blockSize><block>100</block></capacity><devicePath>/p</devicePath>"
    "<ssd>true</ssd></val>",
    '<val xsi:type="ClusterAntiAffinityRuleSpec"><key>1</key><name>r</name><vm type="VirtualMachine">vm-1</vm>'
    '<vm type="VirtualMachine">vm-2</vm><vm xsi:type="ManagedObjectReference" type="VirtualMachine">vm-3</vm></val>',
    '<val xsi:type="ArrayOfLocalizedMethodFault"><LocalizedMethodFault><fault xsi:type="InvalidArgument">'
    "<invalidProperty>x</invalidProperty></fault><localizedMessage>m1</localizedMessage></LocalizedMethodFault>"
    '<LocalizedMethodFault><fault xsi:type="NotAuthenticated"><object type="Folder">f</object><privilegeId>p'
    "</privilegeId></fault></LocalizedMethodFault></val>",
    '<val xsi:type="TaskInfo"><key>task-1</key><task type="Task">task-1</task><name>ReconfigVM_Task</name>'
    "<descriptionId>d</descriptionId><entity type=\"VirtualMachine\">vm-1</entity><state>error</state>"
    '<cancelled>false</cancelled><cancelable>false</cancelable><error><fault xsi:type="InvalidDeviceSpec">'
    "<property>p</property><deviceIndex>0</deviceIndex></fault><localizedMessage>bad spec</localizedMessage>"
    "</error><reason xsi:type=\"TaskReasonUser\"><userName>root</userName></reason>"
    "<queueTime>2024-01-01T00:00:00Z</queueTime><eventChainId>7</eventChainId></val>",
    '<val xsi:type="LocalizedMethodFault"><fault xsi:type="NotAuthenticated"><object type="HostSystem">h'
    "</object><privilegeId>System.Read</privilegeId></fault><localizedMessage>nope</localizedMessage></val>",
    '<val xsi:type="xsd:string">x</val><val xsi:type="xsd:string">y</val>',
]


@pytest.mark.parametrize("version", VERSIONS[:2])
@pytest.mark.parametrize("val", SCALARS)
def test_every_value_kind_decodes_like_pyvmomi(val: str, version: str) -> None:
    assert_decodes_like_pyvmomi(retrieve_body(val), RETRIEVE, stub_for(version))


def test_all_kinds_in_one_document_and_caches_reused() -> None:
    stub = stub_for()
    data = retrieve_body(*SCALARS[:-1])
    for _ in range(3):  # the second and third pass run on cached plans
        assert_decodes_like_pyvmomi(data, RETRIEVE, stub)


def test_missing_set_and_other_objects() -> None:
    missing = (
        "<missingSet><path>config</path><fault><fault xsi:type=\"NoPermission\"><object type=\"HostSystem\">"
        "host-1</object><privilegeId>System.View</privilegeId></fault><localizedMessage>denied"
        "</localizedMessage></fault></missingSet>"
    )
    assert_decodes_like_pyvmomi(retrieve_body('<val xsi:type="xsd:int">1</val>', extra=missing), RETRIEVE, stub_for())


def test_other_prefixes_and_default_namespace() -> None:
    # vcsim declares its own xsi prefix on each value; an unprefixed moref type uses the default namespace
    val = (
        '<val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" '
        'XMLSchema-instance:type="ArrayOfHostHostBusAdapter"><HostHostBusAdapter XMLSchema-instance:type='
        '"HostFibreChannelHba"><key>k</key><device>vmhba2</device><bus>0</bus><status>online</status>'
        "<model>m</model><driver>d</driver><portWorldWideName>1</portWorldWideName><nodeWorldWideName>2"
        "</nodeWorldWideName><portType>fabric</portType><speed>8</speed></HostHostBusAdapter></val>"
    )
    assert_decodes_like_pyvmomi(retrieve_body(val), RETRIEVE, stub_for())


def test_result_kinds_other_than_data_objects() -> None:
    stub = stub_for()
    folder = ENVELOPE.format(method="CreateFolder", body='<returnval type="Folder">group-v3</returnval>').encode()
    info = vim.Folder._GetMethodInfo("CreateFolder")
    assert_decodes_like_pyvmomi(folder, info.result, stub)
    many = ENVELOPE.format(
        method="FindAllByUuid",
        body='<returnval type="VirtualMachine">vm-1</returnval><returnval type="VirtualMachine">vm-2</returnval>',
    ).encode()
    info = vim.SearchIndex._GetMethodInfo("FindAllByUuid")
    result = assert_decodes_like_pyvmomi(many, info.result, stub)
    assert [m._moId for m in result] == ["vm-1", "vm-2"]
    empty = ENVELOPE.format(method="FindAllByUuid", body="").encode()
    assert_decodes_like_pyvmomi(empty, info.result, stub)
    void = ENVELOPE.format(method="Logout", body="").encode()
    assert_decodes_like_pyvmomi(void, vim.SessionManager._GetMethodInfo("Logout").result, stub)
    assert_decodes_like_pyvmomi(ENVELOPE.format(method="RetrievePropertiesEx", body="").encode(), RETRIEVE, stub)


BAD_VALUES = [
    '<val xsi:type="xsd:int">abc</val>',  # ValueError
    '<val xsi:type="xsd:int"></val>',
    '<val xsi:type="xsd:boolean">yes</val>',  # TypeError
    '<val xsi:type="xsd:dateTime">yesterday</val>',
    '<val xsi:type="HostSystemPowerState">sideways</val>',  # unknown enum value
    '<val xsi:type="HostScsiDisk"><noSuchProperty>1</noSuchProperty></val>',
    '<val xsi:type="ManagedObjectReference">no-type-attribute</val>',
    '<val>no xsi:type on an anyType</val>',
    '<val xsi:type="HostScsiDisk"><capacity xsi:type="VirtualDisk"><key>1</key></capacity></val>',  # wrong class
    '<val xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>f</fileName><datastore type="HostSystem">host-1'
    "</datastore></val>",  # moref of the wrong managed type
    '<val xsi:type="MissingProperty"><path>p</path><fault xsi:type="NotAuthenticated"/></val>',  # no inner fault
    '<val xsi:type="xsd:string">a<b>inner</b>c</val>',  # elements inside scalars
    '<val xsi:type="ArrayOfString"><string><x/></string></val>',
    '<val xsi:type="ManagedObjectReference" type="HostSystem">host-1<x/></val>',
    '<val xsi:type="HostScsiDisk"><deviceName>a<b/></deviceName></val>',
]


@pytest.mark.parametrize("val", BAD_VALUES)
def test_bad_values_fail_exactly_like_pyvmomi(val: str) -> None:
    assert_decodes_like_pyvmomi(retrieve_body(val), RETRIEVE, stub_for(), fast_path=False)


def test_malformed_xml_raises_pyvmomis_expat_error() -> None:
    # SessionOrientedStub retries on ExpatError: the type matters
    with pytest.raises(ExpatError):
        decode(retrieve_body('<val xsi:type="xsd:string">x</wrong>'), RETRIEVE, stub_for())


@pytest.mark.parametrize("cut", [20, 60, 200])
def test_truncated_body_like_pyvmomi(cut: int) -> None:
    # pyVmomi never tells expat the document ended: a cut body yields what was complete
    data = retrieve_body('<val xsi:type="xsd:string">x</val>', '<val xsi:type="xsd:int">1</val>')[:-cut]
    assert_decodes_like_pyvmomi(data, RETRIEVE, stub_for(), fast_path=False)


def test_prefix_bound_twice_falls_back_to_pyvmomi() -> None:
    val = (
        '<val xmlns:q="http://www.w3.org/2001/XMLSchema" xsi:type="q:string">a</val></propSet><propSet><name>b</name>'
        '<val xmlns:q="urn:vim25" xsi:type="q:HostSystemPowerState">poweredOn</val>'
    )
    data = retrieve_body(val)
    with pytest.raises(fastdecode._Fallback):
        fastdecode._fast_decode(data, RETRIEVE, stub_for())
    assert_decodes_like_pyvmomi(data, RETRIEVE, stub_for(), fast_path=False)


def test_soap_fault_body_is_returned_as_the_fault_object() -> None:
    data = gzip.decompress((DATA / "lab_fault_notfound.xml.gz").read_bytes())
    fault = decode(data, TASK, stub_for())
    assert isinstance(fault, vmodl.fault.ManagedObjectNotFound)
    assert fault.msg.startswith("managed object not found")


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")))
def test_any_text_decodes_like_pyvmomi(text: str) -> None:
    # XML 1.0 cannot carry most control characters: pyVmomi and we must then fail alike (ExpatError)
    legal = all(
        c in "\t\n\r" or "\x20" <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c >= "\U00010000" for c in text
    )
    data = retrieve_body(
        f'<val xsi:type="xsd:string">{escape(text)}</val>',
        f'<val xsi:type="ArrayOfString"><string>{escape(text)}</string></val>',
    )
    assert_decodes_like_pyvmomi(data, RETRIEVE, stub_for(), fast_path=legal)


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.sampled_from(["int", "long", "short", "byte"]))
def test_any_integer_decodes_like_pyvmomi(number: int, xsd: str) -> None:
    val = f'<val xsi:type="xsd:{xsd}">{number}</val>'
    assert_decodes_like_pyvmomi(retrieve_body(val), RETRIEVE, stub_for())


@given(st.datetimes(timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-7, minutes=-30))])))
def test_any_datetime_decodes_like_pyvmomi(moment: datetime) -> None:
    val = f'<val xsi:type="xsd:dateTime">{moment.isoformat()}</val>'
    assert_decodes_like_pyvmomi(retrieve_body(val), RETRIEVE, stub_for())


# --------------------------------------------------------------------------------------------
# invoke(): a tiny local "vCenter" answering recorded bodies


class FakeVCenter:
    """Answers each POST with the next queued (status, body, headers); records requests."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, bytes, dict[str, str]]] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                fake.requests.append((dict(self.headers), body))
                status, reply, headers = fake.replies.pop(0)
                self.send_response(status)
                for key, val in headers.items():
                    self.send_header(key, val)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reply(self, status: int, body: bytes, *, gzipped: bool = False, **headers: str) -> None:
        hdrs = {"Content-Type": "text/xml; charset=utf-8", **{k.replace("_", "-"): v for k, v in headers.items()}}
        if gzipped:
            body = gzip.compress(body)
            hdrs["Content-Encoding"] = "gzip"
        self.replies.append((status, body, hdrs))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def vc() -> Any:
    server = FakeVCenter()
    yield server
    server.close()


def recorded_body(name: str) -> bytes:
    return gzip.decompress((DATA / f"{name}.xml.gz").read_bytes())


def call_both(vc: FakeVCenter, stub: Any, reply: Callable[[], None], pyvmomi_call: Callable[[], Any],
              fast_call: Callable[[], Any]) -> tuple[Any, Any]:
    """The same reply to pyVmomi's call and to ours; both results (or both exceptions)."""
    out = []
    for call in (pyvmomi_call, fast_call):
        reply()
        try:
            out.append(call())
        except Exception as exc:  # noqa: BLE001
            out.append(exc)
    return out[0], out[1]


def retrieve_spec(stub: Any) -> Any:
    return PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=vim.HostSystem("host-19", stub))],
        propSet=[PC.PropertySpec(type=vim.HostSystem, pathSet=["name"])],
    )


def test_invoke_sends_pyvmomis_request_and_decodes_its_answer(vc: FakeVCenter) -> None:
    stub = stub_for(port=vc.port)
    stub.cookie = 'vmware_soap_session="abc"'
    si = vim.ServiceInstance("ServiceInstance", stub)
    pc = vmodl.query.PropertyCollector("propertyCollector", stub)
    spec, options = retrieve_spec(stub), PC.RetrieveOptions(maxObjects=10)
    body = recorded_body("lab_hosts")
    ref, got = call_both(
        vc, stub, lambda: vc.reply(200, body, gzipped=True),
        lambda: pc.RetrievePropertiesEx([spec], options),
        lambda: invoke(si, pc, "RetrievePropertiesEx", [spec], options),
    )
    assert_same(got, ref)
    (ref_headers, ref_req), (headers, req) = vc.requests
    assert req == ref_req  # byte for byte what pyVmomi sends
    for key in ("Cookie", "SOAPAction", "Content-Type", "Accept-Encoding", "User-Agent"):
        assert headers[key] == ref_headers[key], key
    assert headers["Cookie"] == 'vmware_soap_session="abc"'
    # keyword arguments and the wsdl name work too; the connection was pooled and reused
    vc.reply(200, body)
    assert_same(invoke(stub, pc, "RetrievePropertiesEx", specSet=[spec], options=options), ref)
    assert len(stub.pool) == 1


def test_invoke_updates_the_session_cookie(vc: FakeVCenter) -> None:
    stub = stub_for(port=vc.port)
    pc = vmodl.query.PropertyCollector("propertyCollector", stub)
    cookie = 'vmware_soap_session="52b0"; Path=/; HttpOnly'
    vc.reply(200, recorded_body("lab_wait_enter"), Set_Cookie=cookie)
    result = invoke(None, pc, "WaitForUpdatesEx", "", PC.WaitOptions(maxWaitSeconds=0))
    assert isinstance(result, PC.UpdateSet)
    assert stub.cookie == cookie and stub.GetSessionId() == "52b0"


def test_invoke_raises_the_same_fault(vc: FakeVCenter) -> None:
    stub = stub_for(port=vc.port)
    vm = vim.VirtualMachine("vm-nope", stub)
    ref, got = call_both(
        vc, stub, lambda: vc.reply(500, recorded_body("lab_fault_notfound")),
        lambda: vm.PowerOnVM_Task(), lambda: invoke(stub, vm, "PowerOnVM_Task"),
    )
    assert isinstance(ref, vmodl.fault.ManagedObjectNotFound)
    assert_same(got, ref)


def test_invoke_http_errors_like_pyvmomi(vc: FakeVCenter) -> None:
    stub = stub_for(port=vc.port)
    pc = vmodl.query.PropertyCollector("propertyCollector", stub)
    ref, got = call_both(
        vc, stub, lambda: vc.reply(404, b"not here"),
        lambda: pc.RetrievePropertiesEx([retrieve_spec(stub)], PC.RetrieveOptions()),
        lambda: invoke(stub, pc, "RetrievePropertiesEx", [retrieve_spec(stub)], PC.RetrieveOptions()),
    )
    assert type(got) is type(ref) and str(got) == str(ref) == "404 Not Found"


def test_invoke_connection_refused_like_pyvmomi() -> None:
    server = FakeVCenter()
    port = server.port
    server.close()
    stub = stub_for(port=port)
    pc = vmodl.query.PropertyCollector("propertyCollector", stub)
    with pytest.raises(ConnectionRefusedError):
        invoke(stub, pc, "RetrievePropertiesEx", [retrieve_spec(stub)], PC.RetrieveOptions())


def test_invoke_checks_arguments_like_pyvmomi() -> None:
    stub = stub_for()
    pc = vmodl.query.PropertyCollector("propertyCollector", stub)
    with pytest.raises(TypeError):
        invoke(stub, pc, "RetrievePropertiesEx", "not a spec list", PC.RetrieveOptions())
    with pytest.raises(TypeError):
        invoke(stub, pc, "RetrievePropertiesEx", [], PC.RetrieveOptions(), "extra")
    with pytest.raises(TypeError):
        invoke(stub, pc, "RetrievePropertiesEx", bogus=1)
    with pytest.raises(AttributeError):
        invoke(stub, pc, "NoSuchMethod")


def test_invoke_through_a_session_oriented_stub_relogs_in(vc: FakeVCenter) -> None:
    soap = stub_for(port=vc.port)
    logins = []
    stub = SessionOrientedStub(soap, lambda s: logins.append(s), retryDelay=0)
    stub.SESSION_EXCEPTIONS = (vim.fault.NotAuthenticated,)
    pc = vmodl.query.PropertyCollector("propertyCollector", stub)
    fault = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
        'envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
        "<faultcode>ServerFaultCode</faultcode><faultstring>session gone</faultstring><detail>"
        '<NotAuthenticatedFault xmlns="urn:vim25" xsi:type="NotAuthenticated"><object type="PropertyCollector">'
        "propertyCollector</object><privilegeId>System.View</privilegeId></NotAuthenticatedFault></detail>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    ).encode()
    vc.reply(500, fault)
    vc.reply(200, recorded_body("lab_hosts"))
    result = invoke(stub, pc, "RetrievePropertiesEx", [retrieve_spec(stub)], PC.RetrieveOptions())
    assert len(logins) == 2  # first call, then again after NotAuthenticated
    assert all(o.obj._stub is stub for o in result.objects)  # morefs bound to the outer stub
    assert_same(result, pyvmomi(recorded_body("lab_hosts"), RETRIEVE, stub))


def test_other_stubs_are_called_through_pyvmomi() -> None:
    class Recorder(SoapAdapter.StubAdapterBase):
        def __init__(self) -> None:
            super().__init__(version="vim.version.version11")
            self.calls: list[Any] = []

        def InvokeMethod(self, mo: Any, info: Any, args: Any) -> Any:  # noqa: N802
            self.calls.append((mo, info.name, list(args)))
            return "answer"

    stub = Recorder()
    pc = vmodl.query.PropertyCollector("propertyCollector", stub)
    assert invoke(stub, pc, "CancelRetrievePropertiesEx", "tok") == "answer"
    assert stub.calls == [(pc, "CancelRetrievePropertiesEx", ["tok"])]


def test_a_stub_that_overrides_invoke_method_keeps_its_behaviour() -> None:
    class Custom(SoapStubAdapter):
        def InvokeMethod(self, mo: Any, info: Any, args: Any, outerStub: Any = None) -> Any:  # noqa: N802, N803
            return ("custom", info.name)

    stub = Custom(host="127.0.0.1", port=-1, version="vim.version.version11")
    pc = vmodl.query.PropertyCollector("propertyCollector", stub)
    assert invoke(vim.ServiceInstance("ServiceInstance", stub), pc, "CancelRetrievePropertiesEx", "t") == (
        "custom",
        "CancelRetrievePropertiesEx",
    )
