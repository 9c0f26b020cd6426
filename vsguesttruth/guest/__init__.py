"""The in-guest agent (``vsguesttruth-guest``): runs inside Linux guests, imports no pyVmomi.

``rpc`` talks guestinfo through VMware Tools, ``devices`` maps the document's disks to ``/dev`` devices
from sysfs, ``agent`` holds the logic, ``cli`` the commands (usage and exit codes in its docstring).
"""
