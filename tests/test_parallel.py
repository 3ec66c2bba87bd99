"""scholia.parallel: a forked job returns its value or raises its exception in the parent."""

from __future__ import annotations

import os
import time

import pytest

from scholia import parallel
from scholia.options import BuildError


def test_job_runs_in_another_process_and_returns_its_value():
    job = parallel.start(lambda: (os.getpid(), b"x" * 300_000))  # larger than a pipe's buffer
    pid, data = job.result()
    assert data == b"x" * 300_000
    if hasattr(os, "fork") and parallel.cores() > 1:
        assert pid != os.getpid()


def test_job_raises_the_childs_exception():
    def fail():
        raise BuildError("PDF: refused file:///etc/hostname")

    with pytest.raises(BuildError, match="refused"):
        parallel.start(fail).result()


def test_unpicklable_exception_still_reaches_the_parent():
    class Local(Exception):  # a local class cannot be pickled
        pass

    def fail():
        raise Local("boom")

    with pytest.raises(Exception, match="boom"):
        parallel.start(fail).result()


def test_clean_ups_run_in_a_jobs_child_before_it_leaves(tmp_path, monkeypatch):
    """A forked child leaves without the exit handlers: the clean-ups of ``at_end`` run there too,
    each told apart by the process it runs in (the child inherits its parent's)."""
    monkeypatch.setattr(parallel, "_AT_END", [])
    monkeypatch.setattr(parallel.atexit, "register", lambda fn: fn)  # not at this test process's exit
    parent = os.getpid()

    def clean_up():
        (tmp_path / f"{'parent' if os.getpid() == parent else 'child'}-{os.getpid()}").touch()

    parallel.at_end(clean_up)
    job = parallel.start(os.getpid)
    child = job.result()
    if job.forked or child != parent:
        assert (tmp_path / f"child-{child}").exists()
    assert not (tmp_path / f"parent-{parent}").exists()  # this process has not ended
    parallel._ending()
    assert (tmp_path / f"parent-{parent}").exists()


def test_cancel_stops_the_job():
    job = parallel.start(lambda: __import__("time").sleep(30))
    job.cancel()
    with pytest.raises(RuntimeError):
        job.result()


def test_job_runs_here_when_no_process_can_be_made(monkeypatch):
    def no_fork():
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(parallel, "cores", lambda: 2)
    monkeypatch.setattr(os, "fork", no_fork)
    job = parallel.start(os.getpid)
    assert not job.forked
    assert job.result() == os.getpid()


def test_the_childs_result_comes_back_after_it_has_exited():
    """The child writes its result to a file and exits without waiting for the parent to read it,
    so its memory is freed while the parent is still busy."""
    if not (hasattr(os, "fork") and parallel.cores() > 1 and os.path.isdir("/proc")):
        pytest.skip("needs a second core and /proc")
    job = parallel.start(lambda: b"y" * 1_000_000)
    assert job.forked
    for _ in range(500):  # the child is gone (a zombie, not yet reaped) well before we read
        with open(f"/proc/{job.pid}/stat") as fh:
            if fh.read().split(") ")[1].startswith("Z"):
                break
        __import__("time").sleep(0.01)
    else:
        pytest.fail("the child did not exit before its result was read")
    assert job.result() == b"y" * 1_000_000




def test_meeting_takes_the_childs_items_and_works_while_it_waits(monkeypatch):
    """The child makes items from the last one down; this process takes those it has made, waits
    for the one it is making (doing its own ``idle`` steps meanwhile), and does the others."""
    monkeypatch.setattr(parallel, "cores", lambda: 2)

    def child(meeting: parallel.Meeting) -> None:
        for k in meeting.mine([0, 1, 2, 3]):
            time.sleep(0.3)
            meeting.ship(k, f"item {k}".encode())

    meeting = parallel.Meeting.start(child)
    assert meeting is not None
    steps: list[int] = []

    def idle() -> bool:
        if len(steps) < 3:
            steps.append(len(steps))
            return True
        return False

    got = []
    for k in range(4):
        while k == 0 and 3 not in meeting.begun:  # let the child begin from its end
            meeting._read(wait=True)
        got.append(meeting.take(k, idle)[0])
    meeting.close()
    assert got[0] is None and got[-1] == b"item 3"  # item 0 done here, item 3 by the child
    assert steps == [0, 1, 2]  # each step once, while waiting for an item the child was making


def test_meeting_tells_when_the_child_has_ended(monkeypatch):
    """``over()``: the child's core is free once it has ended (the PDF writer then forks the EPUB's
    process), and not before."""
    monkeypatch.setattr(parallel, "cores", lambda: 2)

    def child(meeting: parallel.Meeting) -> None:
        for k in meeting.mine([0, 1]):
            time.sleep(0.3)
            meeting.ship(k, b"x")

    meeting = parallel.Meeting.start(child)
    assert meeting is not None
    assert not meeting.over()  # still making item 1
    assert meeting.take(0)[0] is None  # this process does item 0 (the child is on item 1, then stops)
    deadline = time.monotonic() + 10
    while not meeting.over() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert meeting.over()
    meeting.close()


def test_a_forked_processs_stages_count_from_the_builds_start(capfd):
    """Stages recorded by ``build.in_child`` (a forked reader or writer) come back as times, and
    their progress lines count from the build's start, like this process's."""
    from scholia.build import in_child
    from scholia.timing import recording, stage

    def work() -> str:
        with stage("read"):
            return "done"

    with recording(progress=True) as rec:
        rec.started -= 100  # the build began 100 s ago
        job = parallel.start(lambda: in_child(work))
        value, times, own = job.result()
    assert value == "done" and set(times) == {"read"} and own["read"] <= times["read"]
    assert "[ 100.0 s] read" in capfd.readouterr().err
