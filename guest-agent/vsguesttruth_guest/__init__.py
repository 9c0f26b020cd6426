"""vsguesttruth's in-guest agent (``vsguesttruth-guest``): runs inside Linux guests of vSphere, beside VMware
Tools. Standard library and click only, so a guest installs it without the server (no pyVmomi, no web stack).

``guestinfo`` is the contract with the service: the ``guestinfo.vsguesttruth.*`` key names, size limits, the
state document's wire encoding and the JSON Schemas in ``schema/`` (the service imports it from here, so both
sides read one copy). ``rpc`` talks guestinfo through VMware Tools, ``devices`` maps the document's disks to
``/dev`` devices from sysfs, ``agent`` holds the logic, ``cli`` the commands (usage and exit codes in its
docstring) and ``watching`` the watch command's loop; ``errors`` the exceptions and their exit codes.
"""

__version__ = "0.1.0"
