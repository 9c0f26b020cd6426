"""Stand-ins for what a guest has and the tests do not: a sysfs tree and VMware Tools' rpctool."""
