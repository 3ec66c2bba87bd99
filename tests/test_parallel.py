"""scholia.parallel: a forked job returns its value or raises its exception in the parent."""

from __future__ import annotations

import os

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


def test_cancel_stops_the_job():
    job = parallel.start(lambda: __import__("time").sleep(30))
    job.cancel()
    with pytest.raises(RuntimeError):
        job.result()
