"""Reading the lab through pyVmomi the way the lab tests do: an inventory object by name, one property
path fresh from the PropertyCollector, a new connection for a lab's LabInfo."""

from __future__ import annotations

import ssl
from urllib.parse import urlparse

from pyVim.connect import SmartConnect
from pyVmomi import vim, vmodl

PC = vmodl.query.PropertyCollector


def find(si, kind, name):
    """The object of this kind with this name (StopIteration when there is none)."""
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [kind], True)
    try:
        return next(o for o in view.view if o.name == name)
    finally:
        view.Destroy()


def fetch(si, obj, path):
    """One property path of one object, read now (None when unset)."""
    spec = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=obj)], propSet=[PC.PropertySpec(type=type(obj), pathSet=[path])])
    for o in si.content.propertyCollector.RetrievePropertiesEx([spec], PC.RetrieveOptions()).objects:
        for p in o.propSet:
            return p.val
    return None


def connect(info, user: str = "", password: str = ""):
    """A pyVmomi ServiceInstance on a lab (its LabInfo), TLS verified against the lab's certificate."""
    url = urlparse(info.url)
    return SmartConnect(host=url.hostname, port=url.port, user=user or info.username, pwd=password or info.password,
                        sslContext=ssl.create_default_context(cafile=info.cert))


__all__ = ["PC", "connect", "fetch", "find", "vim"]
