"""Shared test builders: plain-data inventories and faults (``inventory``), the reconciler's stand-in vCenter
(``vcenter``), pyVmomi data objects as vCenter returns them (``vim``), truth documents for the guest agent
(``documents``), and a stand-in rpctool serving a folder (``rpctool.py``, run as a file)."""
