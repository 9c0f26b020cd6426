"""Fast decoding of vSphere SOAP responses into the very objects pyVmomi would build.

pyVmomi spends nearly all of a big PropertyCollector call in its client-side deserializer: two Python
expat callbacks per XML element, ``DataObject.__init__`` filling every default, a validating
``__setattr__`` per property. This module decodes the same bytes several times faster and returns the
*same* objects: real ``vim`` DataObject instances of the right (``xsi:type``) classes with every unset
property at pyVmomi's default (``None``, ``False``, ``""``, ``0``, an empty typed array), enum values
as pyVmomi's enum instances, typed arrays, ``ManagedObject`` references bound to the stub, and
ints/longs/bools/strings/datetimes/binary exactly as pyVmomi converts them. Code written against
pyVmomi (``isinstance(backing, vim.vm.device.VirtualDisk.FlatVer2BackingInfo)``, ``lun.canonicalName``)
works unchanged.

How: the C ``ElementTree`` parser builds the element tree (one pass in C, no Python callbacks), then one
small recursive walk turns it into objects. Everything pyVmomi decides per element (property info,
``xsi:type`` resolution, version widening, the defaults of a class, the type check ``__setattr__``
would make) is computed once per (class, element name, ``xsi:type``) and cached. Objects are made with
``cls.__new__`` and their ``__dict__`` installed in one step.

Safety net: a fault response (anything but HTTP 200) and anything the fast path does not recognise
or cannot decode is decoded again, from the same bytes, by pyVmomi's own ``SoapResponseDeserializer``,
so results and errors (values, exception types, messages) are pyVmomi's.

Public API::

    result = invoke(si, collector, "RetrievePropertiesEx", [spec], options)   # like collector.RetrievePropertiesEx(...)
    obj = decode(body_bytes, result_type, stub)                               # one response body
"""

from __future__ import annotations

import base64
import logging
import platform
import sys
import threading
import time
import zlib
from datetime import datetime
from http.client import HTTPException
from http.cookies import SimpleCookie
from typing import Any
from xml.etree.ElementTree import XMLPullParser

from pyVmomi import Iso8601, SoapAdapter, VmomiSupport
from pyVmomi.SoapAdapter import SessionOrientedStub, SoapResponseDeserializer, SoapStubAdapter
from pyVmomi.VmomiSupport import (
    F_OPTIONAL,
    XMLNS_XSI,
    CheckField,
    DataObject,
    Enum,
    GetCompatibleType,
    GetWsdlMethod,
    GuessWsdlMethod,
    ManagedMethod,
    ManagedObject,
    UnknownManagedMethod,
    binary,
)

from ..gcpause import paused as gc_paused

__all__ = ["decode", "invoke", "recording"]

log = logging.getLogger(__name__)

_SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
_FAULT_TAG = "{%s}Fault" % _SOAPENV
_XSI_TYPE = "{%s}type" % XMLNS_XSI
_LONG = VmomiSupport.long
_LMF = VmomiSupport.GetVmodlType("vmodl.LocalizedMethodFault")
# pyVmomi's own wsdl type lookup (with its ManagedObjectReference special cases); it ignores `self`.
_lookup_wsdl_type = SoapAdapter.SoapDeserializer.LookupWsdlType
_is_dynamic_type = getattr(
    SoapAdapter,
    "isDynamicType",  # pyVmomi >= 8.0.2; the same test was inline before
    lambda t: t is ManagedMethod or t is VmomiSupport.PropertyPath or t is type,
)
_intern = sys.intern

# Installs a whole instance __dict__ at once (both classes have a plain instance dict).
_set_do_dict = vars(DataObject)["__dict__"].__set__
_set_mo_dict = vars(ManagedObject)["__dict__"].__set__

# Value kinds: how an element becomes a value. Containers first, then leaves (>= _K_LEAF), which
# may not contain elements (pyVmomi raises TypeError "Invalid type for tag": we let it).
_K_DATA = 0  # DataObject (recursive)
_K_LIST = 1  # typed array (ArrayOfX wrapper element)
_K_LMF = 2  # a MethodFault sent as a LocalizedMethodFault: decode the wrapper, return its fault
_K_STR = 3  # str(text)
_K_LEAF = _K_STR
_K_CTOR = 4  # typ(text): int, long, short, byte, float, double, URI, PropertyPath, Link
_K_BOOL = 5
_K_ENUM = 6  # getattr(EnumType, text)
_K_MOR = 7  # ManagedObject reference, class from the `type` attribute
_K_BINARY = 8
_K_DATETIME = 9
_K_TYPE = 10  # vmodl.TypeName
_K_METHOD = 11  # vmodl.MethodName

# How a decoded value lands in its parent DataObject.
_M_APPEND = 0  # into the property's own (default) typed array
_M_SET = 1  # plain store; pyVmomi's __setattr__ check already passed for this value type
_M_FIRST = 2  # store after CheckField; promoted to _M_SET once a non-empty value passed
_M_VERIFY = 3  # store after a per-value-type check (value types vary: morefs, faults)


# The common spellings of xsd:boolean; value() handles the rest like pyVmomi.
_BOOLS = {"true": True, "false": False, "1": True, "0": False}


class _Fallback(Exception):
    """The fast path declines; pyVmomi decodes the bytes instead."""


def _kind_of(typ: type) -> int:
    """Which _K_* decodes an element whose (final) type is ``typ`` (pyVmomi's End/StartElement order)."""
    if typ is type:
        return _K_TYPE
    if typ is ManagedMethod:
        return _K_METHOD
    if typ is bool:
        return _K_BOOL
    if typ is binary:
        return _K_BINARY
    if typ is str:
        return _K_STR
    if typ is datetime:
        return _K_DATETIME
    if not isinstance(typ, type):
        raise _Fallback(f"not a type: {typ!r}")
    if issubclass(typ, ManagedObject):
        return _K_MOR
    if issubclass(typ, DataObject):
        return _K_DATA
    if issubclass(typ, list):
        return _K_LIST
    if issubclass(typ, Enum):
        return _K_ENUM
    return _K_CTOR


class _ClassInfo:
    """Everything the decoder needs to build instances of one DataObject class."""

    __slots__ = ("cls", "defaults", "arrays", "plans", "verified")

    def __init__(self, cls: type) -> None:
        self.cls = cls
        defaults: dict[str, Any] = {}
        arrays: list[tuple[str, type]] = []
        # Exactly DataObject.__init__'s defaults, in its order.
        for prop in cls._GetPropertyList():
            ptype = prop.type
            if issubclass(ptype, list):
                arrays.append((prop.name, ptype))
                value = None  # placeholder, keeps the key order; replaced per instance
            elif prop.flags & F_OPTIONAL:
                value = None
            elif ptype is bool:
                value = False
            elif issubclass(ptype, Enum):
                value = None
            elif issubclass(ptype, str):
                value = ""
            elif ptype is _LONG or issubclass(ptype, int) or issubclass(ptype, float):
                value = ptype(0)
            else:
                value = None
            defaults[prop.name] = value
        self.defaults = defaults
        self.arrays = tuple(arrays)
        #: element tag -> {xsi:type attribute or None -> plan}
        self.plans: dict[str, dict[str | None, tuple]] = {}
        #: (property name, value type) pairs whose __setattr__ type check passed
        self.verified: set[tuple[str, type]] = set()


class _Decoder:
    """Caches for one (API version, namespace-prefix map) and the walk that uses them."""

    def __init__(self, version: str | None, nsmap: dict[str, str]) -> None:
        self.version = version
        self.nsmap = nsmap
        self.default_ns = nsmap.get("", "")
        self.classes: dict[type, _ClassInfo] = {}
        #: declared item type -> {xsi:type or None -> (kind, aux)} for array items
        self.item_plans: dict[type, dict[str | None, tuple[int, Any]]] = {}
        self.mo_classes: dict[str, type] = {}

    # ---- type resolution (what pyVmomi's StartElementHandler does) ----------------------------

    def _split(self, qname: str) -> tuple[str, str]:
        prefix, sep, name = qname.partition(":")
        if not sep:
            return self.default_ns, qname
        return self.nsmap.get(prefix, ""), name

    def resolve(self, declared: type, xsi: str | None, exempt_fault: bool) -> tuple[int, type]:
        objtype = declared
        if xsi:
            if not _is_dynamic_type(objtype):
                ns, name = self._split(xsi)
                dyn = _lookup_wsdl_type(None, ns, name, allowManagedObjectReference=True)
                if not (issubclass(dyn, list) and issubclass(objtype, list)):
                    objtype = dyn
        elif issubclass(objtype, list):
            objtype = objtype.Item
        if self.version:
            objtype = GetCompatibleType(objtype, self.version)
        kind = _kind_of(objtype)
        if kind == _K_DATA and issubclass(objtype, Exception) and not exempt_fault:
            return _K_LMF, _LMF
        return kind, objtype

    def class_info(self, cls: type) -> _ClassInfo:
        info = self.classes.get(cls)
        if info is None:
            info = self.classes[cls] = _ClassInfo(cls)
        return info

    def aux(self, kind: int, typ: type) -> Any:
        """What the walk needs for a kind: the _ClassInfo of a DataObject class, else the type."""
        if kind == _K_DATA:
            return self.class_info(typ)
        if kind == _K_LMF:
            return self.class_info(_LMF)
        return typ

    def plan(self, ci: _ClassInfo, tag: str, xsi: str | None) -> tuple:
        """(attribute, kind, aux, mode, property info) for a child element of a ``ci.cls`` object."""
        name = tag.rpartition("}")[2]
        prop = ci.cls._GetPropertyInfo(name)
        exempt = name == "fault" and issubclass(ci.cls, _LMF)
        kind, typ = self.resolve(prop.type, xsi, exempt)
        if kind != _K_LIST and issubclass(prop.type, list):
            mode = _M_APPEND  # pyVmomi appends to the default array: no type check
        elif kind in (_K_MOR, _K_LMF, _K_TYPE, _K_METHOD):
            mode = _M_VERIFY  # the value's type is only known per value
        else:
            mode = _M_FIRST
        plan = (prop.name, kind, self.aux(kind, typ), mode, prop)
        ci.plans.setdefault(tag, {})[xsi] = plan
        return plan

    def item_plan(self, item: type, xsi: str | None) -> tuple[int, Any]:
        kind, typ = self.resolve(item, xsi, False)
        plan = self.item_plans.setdefault(item, {})[xsi] = (kind, self.aux(kind, typ))
        return plan

    def mo_class(self, attr: dict[str, str]) -> type:
        type_attr = attr["type"]
        cls = self.mo_classes.get(type_attr)
        if cls is None:
            ns, name = self._split(type_attr)
            cls = _lookup_wsdl_type(None, ns, name)
            if not (isinstance(cls, type) and issubclass(cls, ManagedObject)):
                raise _Fallback(f"moref type {type_attr!r} is not a managed object type")
            self.mo_classes[type_attr] = cls
        return cls

    # ---- the walk -------------------------------------------------------------------------
    # The hot loops inline the frequent kinds; value() does every kind.

    def data(self, elem: Any, ci: _ClassInfo, stub: Any) -> Any:
        d = ci.defaults.copy()
        for name, array_type in ci.arrays:
            d[name] = array_type()
        plans = ci.plans
        for child in elem:
            xsi = child.get(_XSI_TYPE)
            try:
                name, kind, aux, mode, prop = plans[child.tag][xsi]
            except KeyError:
                name, kind, aux, mode, prop = self.plan(ci, child.tag, xsi)
            if kind == _K_DATA:
                val = self.data(child, aux, stub)
            elif kind >= _K_LEAF and len(child):
                raise _Fallback(f"element inside the scalar {child.tag}")
            elif kind == _K_STR:
                val = child.text or ""
            elif kind == _K_CTOR:
                val = aux(child.text or "")
            elif kind == _K_BOOL:
                val = _BOOLS.get(child.text)
                if val is None:
                    val = self.value(child, kind, aux, stub)
            elif kind == _K_ENUM:
                val = getattr(aux, child.text or "")
            elif kind == _K_MOR:
                val = self.moref(child, stub)
            else:
                val = self.value(child, kind, aux, stub)
            if mode == _M_SET:
                d[name] = val
            elif mode == _M_APPEND:
                d[name].append(val)
            elif mode == _M_VERIFY:
                key = (name, type(val))
                if key not in ci.verified:
                    CheckField(prop, val)
                    if val is not None:
                        ci.verified.add(key)
                d[name] = val
            else:  # _M_FIRST
                CheckField(prop, val)
                d[name] = val
                if val is not None and (kind != _K_LIST or prop.type is object or prop.flags & F_OPTIONAL):
                    # Passed, and the check depends on the value's type only (an empty array
                    # can fail only a required, typed property): never again for this plan.
                    plans[child.tag][xsi] = (name, kind, aux, _M_SET, prop)
        obj = ci.cls.__new__(ci.cls)
        _set_do_dict(obj, d)
        return obj

    def array(self, elem: Any, list_type: type, stub: Any) -> Any:
        arr = list_type()
        item = list_type.Item
        plans = self.item_plans.get(item) or {}
        append = arr.append
        for child in elem:
            xsi = child.get(_XSI_TYPE)
            try:
                kind, aux = plans[xsi]
            except KeyError:
                kind, aux = self.item_plan(item, xsi)
                plans = self.item_plans[item]
            if kind == _K_DATA:
                append(self.data(child, aux, stub))
            elif kind >= _K_LEAF and len(child):
                raise _Fallback(f"element inside the scalar {child.tag}")
            elif kind == _K_STR:
                append(child.text or "")
            elif kind == _K_CTOR:
                append(aux(child.text or ""))
            elif kind == _K_MOR:
                append(self.moref(child, stub))
            elif kind == _K_ENUM:
                append(getattr(aux, child.text or ""))
            else:
                append(self.value(child, kind, aux, stub))
        return arr

    def moref(self, elem: Any, stub: Any) -> Any:
        attr = elem.attrib
        cls = self.mo_class(attr)
        guid = None
        if "serverGuid" in attr and (not stub or not stub.SupportServerGUIDs()):
            guid = attr["serverGuid"]
        mo = cls.__new__(cls)
        moid = elem.text or ""
        _set_mo_dict(mo, {"_moId": _intern(moid), "_stub": stub, "_serverGuid": guid})
        return mo

    def value(self, elem: Any, kind: int, typ: Any, stub: Any) -> Any:
        """Any kind, including the rare ones (pyVmomi's EndElementHandler conversions).

        ``typ`` is the plan's aux: a _ClassInfo for _K_DATA/_K_LMF, else the type.
        """
        if kind >= _K_LEAF and len(elem):
            raise _Fallback(f"element inside the scalar {elem.tag}")
        if kind == _K_STR:
            return elem.text or ""
        if kind == _K_DATA:
            return self.data(elem, typ, stub)
        if kind == _K_MOR:
            return self.moref(elem, stub)
        if kind == _K_LIST:
            return self.array(elem, typ, stub)
        data = elem.text or ""
        if kind == _K_ENUM:
            return getattr(typ, data)
        if kind == _K_CTOR:
            return typ(data)
        if kind == _K_BOOL:
            if data == "0" or data.lower() == "false":
                return False
            if data == "1" or data.lower() == "true":
                return True
            raise TypeError(data)
        if kind == _K_BINARY:
            return binary(base64.b64decode(data))
        if kind == _K_DATETIME:
            val = Iso8601.ParseISO8601(data)
            if not val:
                raise TypeError(data)
            return val
        if kind == _K_LMF:
            wrapper = self.data(elem, typ, stub)
            wrapper.fault.msg = wrapper.localizedMessage
            return wrapper.fault
        if kind == _K_TYPE:
            if not data:
                return None
            ns, name = self._split(data)
            return _lookup_wsdl_type(None, ns, name)
        if kind == _K_METHOD:
            ns, name = self._split(data)
            try:
                return GetWsdlMethod(ns, name)
            except KeyError:
                try:
                    return GuessWsdlMethod(name)
                except KeyError:
                    return UnknownManagedMethod(name)
        raise _Fallback(f"unknown kind {kind}")

    def result(self, response: Any, result_type: type, stub: Any) -> Any:
        """The children of the ``...Response`` element, as SoapDeserializer builds its result."""
        is_list = issubclass(result_type, list)
        result = result_type() if is_list else None
        children = list(response)
        if not is_list and len(children) > 1:
            raise _Fallback("several return values for a single-valued result")
        for child in children:
            kind, typ = self.resolve(result_type, child.get(_XSI_TYPE), False)
            val = self.value(child, kind, self.aux(kind, typ), stub)
            if is_list and not isinstance(val, list):
                result.append(val)
            else:
                result = val
        return result


_decoders: dict[tuple, _Decoder] = {}
_decoders_lock = threading.Lock()


def _decoder(version: str | None, nsmap: dict[str, str]) -> _Decoder:
    key = (version, tuple(sorted(nsmap.items())))
    dec = _decoders.get(key)
    if dec is None:
        with _decoders_lock:
            dec = _decoders.get(key)
            if dec is None:
                dec = _decoders[key] = _Decoder(version, nsmap)
    return dec


def _parse(data: bytes) -> tuple[Any, dict[str, str]]:
    """The element tree and the document's namespace prefixes (one URI per prefix, else fallback)."""
    close = getattr(XMLPullParser, "_close_and_return_root", None)  # what iterparse() uses
    parser = XMLPullParser(events=("start-ns",) if close else ("start-ns", "start"))
    parser.feed(data)
    if close:
        root = close(parser)
    else:  # pragma: no cover - a future Python without it: take the root from the first "start"
        parser.close()
        root = None
    nsmap: dict[str, str] = {}
    for event, item in parser.read_events():
        if event == "start":
            if root is None:
                root = item
            continue
        prefix, uri = item
        if nsmap.setdefault(prefix, uri) != uri:
            raise _Fallback(f"namespace prefix {prefix!r} bound to several URIs")
    if root is None:
        raise _Fallback("empty document")
    return root, nsmap


def _fast_decode(data: bytes, result_type: type, stub: Any) -> Any:
    root, nsmap = _parse(data)
    response = None
    for elem in root.iter():
        tag = elem.tag
        if tag == _FAULT_TAG:
            raise _Fallback("SOAP fault")
        if isinstance(tag, str) and tag.endswith("Response"):
            response = elem
            break
    if response is None:
        raise _Fallback("no ...Response element")
    dec = _decoder(getattr(stub, "version", None) if stub else None, nsmap)
    return dec.result(response, result_type, stub)


def decode(data: bytes, result_type: type, stub: Any) -> Any:
    """Decode one SOAP response body like ``SoapResponseDeserializer(stub).Deserialize(data, result_type)``.

    ``result_type`` is the method's ``info.result`` (e.g. ``vmodl.query.PropertyCollector.RetrieveResult``);
    ``stub`` is the stub adapter morefs are bound to and whose ``version`` decides type widening.
    A SOAP fault body is returned as the fault object (not raised), as pyVmomi's deserializer does.
    """
    # Millions of short-lived container objects would trigger the cyclic GC over and over (its full
    # collections scan the whole growing result); nothing here makes cycles, so pause it.
    with gc_paused():
        try:
            return _fast_decode(data, result_type, stub)
        except Exception as exc:  # noqa: BLE001 - anything odd: pyVmomi decides, identically
            log.debug("fastdecode: pyVmomi decodes this response (%s: %s)", type(exc).__name__, exc)
        return SoapResponseDeserializer(stub).Deserialize(data, result_type)


# --------------------------------------------------------------------------------------------
# invoke: pyVmomi's SoapStubAdapter.InvokeMethod with the fast decoder


def _method_info(mo: Any, method: str) -> Any:
    try:
        return mo._GetMethodInfo(method)
    except AttributeError:
        pass
    for info in type(mo)._GetMethodList():  # a wsdl name (RetrievePropertiesEx, Destroy_Task ...)
        if info.wsdlName == method:
            return info
    raise AttributeError(f"{type(mo).__name__} has no method {method!r}")


def _bind_args(info: Any, args: tuple, kwargs: dict[str, Any]) -> list[Any]:
    """ManagedObject._InvokeMethod's argument handling: positional + keyword, None-padded, checked."""
    params = info.params
    if len(args) > len(params):
        raise TypeError(f"{info.name}() takes at most {len(params)} arguments ({len(args)} given)")
    bound = list(args) + [None] * (len(params) - len(args))
    names = [p.name for p in params]
    for key, val in kwargs.items():
        try:
            idx = names.index(key)
        except ValueError:
            raise TypeError(f"{info.name}() got an unexpected keyword argument '{key}'") from None
        if idx < len(args):
            raise TypeError(f"{info.name}() got multiple values for keyword argument '{key}'")
        bound[idx] = val
    for param, arg in zip(params, bound):
        CheckField(param, arg)
    return bound


def _user_agent() -> str:
    return "pyvmomi {0} {1} Python/{2} ({3}; {4}; {5})".format(
        getattr(SoapAdapter, "version_info_str", ""),
        getattr(SoapAdapter, "kind", ""),
        getattr(SoapAdapter, "PYTHON_VERSION", platform.python_version()),
        getattr(SoapAdapter, "OS_NAME", platform.uname()[0]),
        getattr(SoapAdapter, "OS_VERSION", platform.uname()[2]),
        getattr(SoapAdapter, "OS_ARCH", platform.uname()[4]),
    )


_USER_AGENT = _user_agent()


def _inflate(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return zlib.decompressobj(zlib.MAX_WBITS + 16).decompress(body)
    if encoding == "deflate":
        try:
            return zlib.decompressobj(zlib.MAX_WBITS + 32).decompress(body)  # zlib or gzip header
        except zlib.error:
            return zlib.decompressobj(-zlib.MAX_WBITS).decompress(body)  # raw deflate
    return body


def _post(soap: Any, mo: Any, info: Any, args: list[Any]) -> tuple[int, bytes]:
    """Send one request like SoapStubAdapter.InvokeMethod; return ``(status, inflated body)``.

    Same headers, request modifiers, connection pool, cookie/session update and transport errors as
    pyVmomi. The body is read whole and the connection goes back to the pool before decoding.
    """
    headers = {
        "Cookie": soap.cookie,
        "SOAPAction": soap.versionId,
        "Content-Type": "text/xml; charset={0}".format(SoapAdapter.XML_ENCODING),
        "User-Agent": _USER_AGENT,
    }
    custom = getattr(soap, "_customHeaders", None)
    if custom:
        headers.update(custom)
    if getattr(soap, "_acceptCompressedResponses", True):
        headers["Accept-Encoding"] = "gzip, deflate"
    req = soap.SerializeRequest(mo, info, args)
    for modifier in getattr(soap, "requestModifierList", ()):
        req = modifier(req)
    conn = soap.GetConnection()
    try:
        conn.request("POST", soap.path, req, headers)
        resp = conn.getresponse()
    except (OSError, HTTPException):
        # The server is probably sick: drop every cached connection (as pyVmomi does).
        conn.close()
        soap.DropConnections()
        raise
    cookie = resp.getheader("Set-Cookie")
    if cookie is None:
        cookie = resp.getheader("set-cookie")
    status = resp.status
    if cookie:
        soap.cookie = cookie
        session_cookie = SimpleCookie(cookie).get(SoapAdapter.COOKIE_NAME)
        if session_cookie:
            # pyVmomi sets the base session id only (SoapStubAdapter.SetSessionId would rewrite the cookie).
            SoapAdapter.StubAdapterBase.SetSessionId(soap, session_cookie.value)
    if status not in (200, 500):
        conn.close()
        raise HTTPException("{0} {1}".format(resp.status, resp.reason))
    try:
        body = _inflate(resp.read(), (resp.getheader("Content-Encoding") or "identity").lower())
    except BaseException:
        conn.close()
        soap.DropConnections()
        raise
    soap.ReturnConnection(conn)
    return status, body


_taps = threading.local()


class recording:
    """``with recording() as replies:`` every successful reply this thread receives through :func:`invoke`
    is appended to ``replies`` as ``(wsdl method name, body bytes)`` (``vsguesttruth capture``)."""

    def __init__(self) -> None:
        self.replies: list[tuple[str, bytes]] = []

    def __enter__(self) -> list[tuple[str, bytes]]:
        _taps.replies = self.replies
        return self.replies

    def __exit__(self, *exc: object) -> None:
        _taps.replies = None


def _soap_invoke(soap: Any, mo: Any, info: Any, args: list[Any], outer: Any = None) -> Any:
    """SoapStubAdapter.InvokeMethod with :func:`decode`: ``(status, obj)`` when ``outer`` is given."""
    status, body = _post(soap, mo, info, args)
    _taps.answered = time.monotonic()
    tap = getattr(_taps, "replies", None)
    if tap is not None and status == 200:
        tap.append((info.wsdlName, body))
    stub = soap if outer is None else outer
    try:
        if status == 200:
            obj = decode(body, info.result, stub)
        else:
            obj = SoapResponseDeserializer(stub).Deserialize(body, info.result)
    except BaseException:
        # pyVmomi closes the connection and drops the pool when a response does not decode.
        soap.DropConnections()
        raise
    if outer is not None:
        return status, obj
    if status == 200:
        return obj
    if not isinstance(obj, Exception):
        raise Exception(
            "Raising a non-exception object:\n  Attributes: {}\n  Hierarchy: {}".format(
                getattr(obj, "__dict__", ""), type(obj).__mro__
            )
        )
    try:
        raise obj
    finally:
        del obj


def answered_at() -> float:
    """When this thread's latest call had vCenter's whole answer (``time.monotonic()``; 0: none yet): what a
    call took past that is decoding it."""
    return getattr(_taps, "answered", 0.0)


def _session_invoke(stub: Any, mo: Any, info: Any, args: list[Any]) -> Any:
    """SessionOrientedStub.InvokeMethod's login/retry loop around :func:`_soap_invoke`."""
    import time
    from xml.parsers.expat import ExpatError

    retries_left = stub.retryCount
    while True:
        try:
            if stub.state == stub.STATE_UNAUTHENTICATED:
                stub._CallLoginMethod()  # noqa: SLF001
            status, obj = _soap_invoke(stub.soapStub, mo, info, args, stub)
        except (OSError, HTTPException, ExpatError) as ex:
            if stub.retryDelay and retries_left:
                time.sleep(stub.retryDelay)
            retries_left -= 1
            if retries_left <= 0:
                raise ex
            continue
        if status == 200:
            return obj
        if isinstance(obj, stub.SESSION_EXCEPTIONS):
            if stub.retryDelay and retries_left:
                time.sleep(stub.retryDelay)
            retries_left -= 1
            if retries_left <= 0:
                raise obj
            stub._SetStateUnauthenticated()  # noqa: SLF001
        else:
            raise obj


def invoke(stub_or_si: Any, mo: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``mo.<method>(*args, **kwargs)`` with the response decoded by the fast decoder.

    ``stub_or_si`` is a stub adapter (``SoapStubAdapter`` or ``SessionOrientedStub``), or any managed
    object bound to one (the ServiceInstance); ``None`` means ``mo``'s own stub. ``method`` is the
    pyVmomi method name (``"RetrievePropertiesEx"``) or its wsdl name. The request is serialized and
    sent exactly as pyVmomi sends it (same connection pool, cookie, headers, gzip); the result is what
    pyVmomi would return; a vmodl fault raises the same pyVmomi exception object; socket and HTTP
    errors propagate like pyVmomi's. Other stub kinds are simply called through pyVmomi, and an
    ``mo`` that is no pyVmomi managed object is called as it is.
    """
    if not isinstance(mo, ManagedObject):  # not a pyVmomi object (a test double): a plain call
        return getattr(mo, method)(*args, **kwargs)
    stub = stub_or_si
    if stub is None:
        stub = mo._stub
    elif isinstance(stub, ManagedObject):
        stub = stub._stub
    info = _method_info(mo, method)
    bound = _bind_args(info, args, kwargs)
    # Only stubs whose InvokeMethod is pyVmomi's own: a subclass that overrides it keeps its behaviour.
    method_impl = getattr(type(stub), "InvokeMethod", None)
    if method_impl is SoapStubAdapter.InvokeMethod:
        return _soap_invoke(stub, mo, info, bound)
    if method_impl is SessionOrientedStub.InvokeMethod and _is_plain_soap(getattr(stub, "soapStub", None)):
        return _session_invoke(stub, mo, info, bound)
    return stub.InvokeMethod(mo, info, bound)


def _is_plain_soap(stub: Any) -> bool:
    return getattr(type(stub), "InvokeMethod", None) is SoapStubAdapter.InvokeMethod

