"""vsguesttruth: tell VMware guests the physical truth about their storage."""

__version__ = "0.1.0"
