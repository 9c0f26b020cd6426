#!/usr/bin/env python3
"""The stand-in vmware-rpctool of the lab's simulated guests (``vsguesttruth.labguest``) as a file tests
can run, and symlink as ``vmtoolsd``. Without a vCenter the tests give it ``VSGT_FAKE_GUESTINFO_DIR`` (one
file per key): that backend needs only the standard library, so whatever ``python3`` PATH finds will do."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout, for vsguesttruth

from vsguesttruth.labguest import rpctool_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(rpctool_main(sys.argv))
