"""vCenter's event history (lab/README.md, "Event history"): QueryEvents and EventHistoryCollectors hold
the newest events, history longer than a page, and what vsguesttruth reads back from it (the moves that
set cooldowns and the hourly budget after a restart) stays right with thousands of other events around.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from pyVim.connect import Disconnect
from pyVmomi import vim, vmodl

from fakes.reads import connect
from vsguesttruth.lab import Lab
from vsguesttruth.vcenter import events
from vsguesttruth.vcenter.connect import ConnectionSettings
from vsguesttruth.vcenter.connect import connect as vc_connect

pytestmark = pytest.mark.lab

NOISE = 1500  # unrelated events posted before and after ours: more than vCenter's 1000 per QueryEvents


def _vm(si, name):
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        return next(vm for vm in view.view if vm.name == name)
    finally:
        view.Destroy()


def _noise(si, vm, tag: str, count: int) -> None:
    """``count`` user events another tool logs (half on the VM, half on the root folder)."""
    em = si.content.eventManager
    root = si.content.rootFolder

    def one(i: int) -> None:
        em.LogUserEvent(entity=vm if i % 2 else root, msg=f"backup tool {tag} #{i}")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(count)))


@pytest.fixture(scope="module")
def history_lab(tmp_path_factory):
    """A lab of this module's own: the move recorded here would start a cooldown and count against the
    hourly budget of the session lab's remediation tests (that is what it is for)."""
    lab = Lab(tmp_path_factory.mktemp("history"))
    info = lab.up()
    try:
        yield info
    finally:
        lab.down()


@pytest.fixture(scope="module")
def si(history_lab):
    instance = connect(history_lab)
    try:
        yield instance
    finally:
        Disconnect(instance)


@pytest.fixture(scope="module")
def conn(history_lab):
    connection = vc_connect(ConnectionSettings(url=history_lab.url, username=history_lab.username,
                                               password=history_lab.password, ca_file=history_lab.cert))
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture(scope="module")
def history(si, conn):
    """NOISE events, one move of ours (logged as vsguesttruth does), NOISE more; the keys around ours."""
    vm = _vm(si, "web02")
    tag = uuid.uuid4().hex[:8]
    _noise(si, vm, tag, NOISE)
    message = f"moved {vm._moId} from esx-a02 to esx-a03: test {tag}"
    events.post(conn, vm._moId, message)
    ours = [e for e in si.content.eventManager.QueryEvents(vim.event.EventFilterSpec(maxCount=1))]
    _noise(si, vm, tag, NOISE)
    return {"vm": vm, "tag": tag, "message": events.PREFIX + message, "key": ours[0].key}


def _keys(page) -> list[int]:
    return [e.key for e in page]


def test_query_events_returns_the_newest_newest_first(si, history):
    em = si.content.eventManager
    page = em.QueryEvents(vim.event.EventFilterSpec(maxCount=50))
    keys = _keys(page)
    assert len(keys) == 50 and keys == sorted(keys, reverse=True)
    assert keys[0] == em.latestEvent.key
    # without maxCount: the newest 1000, still past our event (NOISE newer ones)
    default = _keys(em.QueryEvents(vim.event.EventFilterSpec()))
    assert len(default) == 1000 and history["key"] not in default and min(default) > history["key"]


def test_collector_latest_page_holds_the_newest(si, history):
    em = si.content.eventManager
    newest = _keys(em.QueryEvents(vim.event.EventFilterSpec(maxCount=100)))
    collector = em.CreateCollectorForEvents(vim.event.EventFilterSpec())
    try:
        # the API leaves the order within the page open: compare sets, then the order vCenter gives
        assert set(_keys(collector.latestPage)) == set(newest[:10])
        assert _keys(collector.latestPage) == newest[:10]
        collector.SetCollectorPageSize(100)
        assert set(_keys(collector.latestPage)) == set(newest)
        with pytest.raises(vmodl.fault.InvalidArgument):
            collector.SetCollectorPageSize(1001)
        # a new event enters the latest page at once
        si.content.eventManager.LogUserEvent(entity=history["vm"], msg=f"one more {history['tag']}")
        assert max(_keys(collector.latestPage)) == em.latestEvent.key
    finally:
        collector.DestroyCollector()


def test_collector_scrolls_the_whole_history_of_its_filter(si, history):
    em = si.content.eventManager
    spec = vim.event.EventFilterSpec(
        entity=vim.event.EventFilterSpec.ByEntity(entity=history["vm"], recursion="self"),
        eventTypeId=["GeneralUserEvent"])
    collector = em.CreateCollectorForEvents(spec)
    try:
        read = []
        while page := collector.ReadNextEvents(400):  # from the oldest (the default position)
            assert _keys(page) == sorted(_keys(page))
            read += page
        assert collector.ReadNextEvents(10) == []  # at the end
        keys = _keys(read)
        assert keys == sorted(keys) and len(keys) >= NOISE + 1
        assert history["key"] in keys
        mine = [e for e in read if history["tag"] in (e.fullFormattedMessage or "")]
        assert len(mine) >= NOISE + 1  # the VM's half of both bursts, and our move
        # back to the oldest: the same history again
        collector.RewindCollector()
        assert _keys(collector.ReadNextEvents(5)) == keys[:5]
        # before the latest page, going older: newest first, without the latest page
        collector.ResetCollector()
        latest = set(_keys(collector.latestPage))
        previous = _keys(collector.ReadPreviousEvents(20))
        assert previous == sorted(previous, reverse=True) and not latest & set(previous)
        assert previous[0] == max(k for k in keys if k not in latest)
        with pytest.raises(vmodl.fault.InvalidArgument):
            collector.ReadNextEvents(0)
    finally:
        collector.DestroyCollector()


def test_filters_by_type_time_and_user(si, history):
    em = si.content.eventManager
    ours = em.QueryEvents(vim.event.EventFilterSpec(eventTypeId=["GeneralUserEvent"], maxCount=5))
    assert ours and all(isinstance(e, vim.event.GeneralUserEvent) for e in ours)
    base = em.QueryEvents(vim.event.EventFilterSpec(eventTypeId=["Event"], maxCount=5))
    assert len(base) == 5  # a base type matches every event below it
    since = ours[-1].createdTime
    spec = vim.event.EventFilterSpec(time=vim.event.EventFilterSpec.ByTime(beginTime=since), maxCount=1000)
    assert all(e.createdTime >= since for e in em.QueryEvents(spec))
    user = si.content.sessionManager.currentSession.userName
    spec = vim.event.EventFilterSpec(userName=vim.event.EventFilterSpec.ByUsername(userList=["nobody"]), maxCount=10)
    assert em.QueryEvents(spec) == []
    spec = vim.event.EventFilterSpec(userName=vim.event.EventFilterSpec.ByUsername(userList=[user]), maxCount=10)
    assert len(em.QueryEvents(spec)) == 10


def test_recent_moves_finds_our_move_among_thousands(conn, history):
    """The state of record for cooldowns and the hourly budget: our move, with NOISE unrelated user
    events after it (more than one QueryEvents page) and NOISE before."""
    moves = events.recent_moves(conn, 3600)
    assert history["vm"]._moId in [vm for vm, _ in moves]
    found = [e for e in events.query(conn, history["vm"]._moId) if e.message == history["message"]]
    assert len(found) == 1 and found[0].key == history["key"]
    # the newest of ours, oldest first
    mine = events.query(conn, history["vm"]._moId, max_count=3)
    assert len(mine) <= 3 and [e.key for e in mine] == sorted(e.key for e in mine)


def test_the_pages_read_the_services_events_once_and_keep_the_reading(history_lab, conn, history, monkeypatch):
    """The plugin server's reading of the service's events: one QueryEvents shared by every page, read again in
    the background when it is old, and the same list while vCenter has nothing new (the pages keep what they
    make of a reading: the incidents' 'what the service did' and their timeline)."""
    from vsguesttruth.web import WatcherSource, source as web_source

    pages = WatcherSource(lambda: vc_connect(ConnectionSettings(
        url=history_lab.url, username=history_lab.username, password=history_lab.password, ca_file=history_lab.cert)))

    def read_again() -> list[dict]:
        """The reading after the next one in the background (the old one is answered meanwhile)."""
        before = pages.events("", 1000)
        lock = pages._reading_lock("")
        with lock:  # the background reading has been asked for and holds it until done
            pass
        return before

    try:
        first = pages.events("", 1000)
        assert history["message"] in [e["message"] for e in first]
        assert pages.events("", 1000) is first and pages.events("", 1) == first[-1:]
        monkeypatch.setattr(web_source, "EVENTS_CACHE_SECONDS", 0.0)  # every reading is old from now on
        assert read_again() is first  # answered at once, read again behind it ...
        assert pages.events("", 1000) is first  # ... and nothing new in vCenter: the same reading
        events.post(conn, history["vm"]._moId, f"advice: test {history['tag']}")
        read_again()
        newer = pages.events("", 1000)
        assert newer is not first and newer[-1]["message"] == f"{events.PREFIX}advice: test {history['tag']}"
    finally:
        pages.stop()
