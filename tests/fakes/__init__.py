"""Test-only helpers: truth documents to hand the guest agent (``documents``) and the stand-in rpctool as a
file (``rpctool.py``; its code and the fake sysfs live in ``vsguesttruth.labguest``)."""
