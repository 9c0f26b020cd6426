"""The service's GC policy: objects alive now are frozen out of the cyclic collector's sight every so often, and
one full collection now and then frees the cycles that died frozen."""

from __future__ import annotations

import gc
import weakref

from vsguesttruth.gcpause import Settler


class Node:
    me: "Node"


def test_frozen_every_so_often_and_everything_collected_when_quiet():
    now = [0.0]
    settler = Settler(every=600, freeze_every=30, clock=lambda: now[0])
    gc.unfreeze()
    try:
        settler.settle()
        assert gc.get_freeze_count() == 0  # not yet: the last freeze was less than 30 s ago
        node = Node()
        node.me = node  # a cycle, alive at the freeze
        ref = weakref.ref(node)
        now[0] = 31
        settler.settle()
        assert gc.get_freeze_count() > 0
        del node
        gc.collect()
        assert ref() is not None  # frozen: the collector does not see it
        now[0] = 700
        settler.settle(quiet=False)  # due, but the watch is busy (and not three times late): a freeze only
        assert settler.full == 0 and ref() is not None
        now[0] = 701
        settler.settle(quiet=True)  # quiet for a second only: a storm's short lull
        assert settler.full == 0 and ref() is not None
        now[0] = 706
        settler.settle(quiet=True)  # quiet for five seconds
        assert settler.full == 1 and ref() is None
        now[0] = 706 + 1800
        settler.settle(quiet=False)  # three times late: collected even when busy
        assert settler.full == 2
    finally:
        gc.unfreeze()
