"""Run a function in a forked process, to use a second core for work that needs this process's
memory (a laid-out document) as it is now: ``job = start(task)``, then ``job.result()`` gives the
task's return value or raises its exception, and ``job.cancel()`` stops it. Without ``os.fork`` or
a second core, the task runs inside ``result()`` in this process. ``Meeting`` shares a list of
items with a forked child, each side working from one end."""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import select
import signal
import struct
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Generic, TypeVar

from .options import BuildError

T = TypeVar("T")
_AT_END: list[Callable[[], None]] = []


def at_end(clean_up: Callable[[], None]) -> None:
    """Call ``clean_up()`` when this process ends: at exit, and in a forked job's child, which leaves
    without the exit handlers, before it leaves (a child inherits the handlers of its parent: each
    must check which process it runs in)."""
    if not _AT_END:
        atexit.register(_ending)
    _AT_END.append(clean_up)


def _ending() -> None:
    for clean_up in _AT_END:
        with contextlib.suppress(Exception):  # a clean-up that fails never changes how a process ends
            clean_up()


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Job(Generic[T]):
    def __init__(self, task: Callable[[], T]) -> None:
        self.task: Callable[[], T] | None = task
        self.pid = 0
        self.file: IO[bytes] | None = None
        if can_fork():
            try:
                self._fork()
            except OSError:  # no process or temporary file to be had: run in this process instead
                self.file = None

    @property
    def forked(self) -> bool:
        """Whether the task runs in another process (else it runs inside ``result()``)."""
        return self.task is None and self.pid > 0

    def _fork(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        # The outcome goes through an unnamed file, not a pipe: the child writes it all and exits at
        # once, freeing its memory, instead of waiting for the parent to come and read.
        self.file = tempfile.TemporaryFile()
        pid = os.fork()
        if pid == 0:  # the child: run, write the pickled outcome, leave without the parent's clean-up
            try:
                try:
                    payload = pickle.dumps((True, self.task()))
                except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
                    try:
                        payload = pickle.dumps((False, exc))
                    except Exception:  # noqa: BLE001
                        payload = pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
                self.file.write(payload)
                self.file.flush()
            finally:
                _ending()
                os._exit(0)
        self.pid, self.task = pid, None

    def result(self) -> T:
        if self.task is not None:
            task, self.task = self.task, None
            return task()
        if not self.pid:
            raise RuntimeError("no result: the job was cancelled or has been read")
        os.waitpid(self.pid, 0)
        self.pid = 0
        with self.file as fh:
            fh.seek(0)
            data = fh.read()
        if not data:
            raise BuildError("a writer process ended without a result")
        ok, value = pickle.loads(data)  # noqa: S301 - our own child's bytes
        if not ok:
            raise value
        return value

    def cancel(self) -> None:
        self.task = None
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.file.close()
            self.pid = 0


def start(task: Callable[[], T]) -> Job[T]:
    return Job(task)


def can_fork() -> bool:
    return hasattr(os, "fork") and cores() > 1


def elsewhere(task: Callable[[], T]) -> Job[T] | None:
    """A job for a task that must not run in this process (it would change this process's
    state), or None when no other process can be had: the caller then does the work itself."""
    job = start(task)
    if job.forked:
        return job
    job.cancel()
    return None


class Meeting:
    """A list of numbered items (chapters to lay out, pages to paint) shared by this process and a
    forked child without knowing beforehand how fast each will be (items differ, and so does the
    machine's load). The child works from the last item down (``mine``: each announced before it is
    begun), and ships each result as soon as it is made (``ship``); it stops at the first item this
    process has reached (``reached``). This process goes from the first item up: at an item
    the child has made, it takes the result (``take``); at one the child is making, it waits for
    it; else it does the item itself, and says so (``passing``). So both work until they meet.
    Results go through an unnamed file, notices through pipes."""

    NOTICE = struct.Struct("<iqq?")  # item, where its result begins in the file, its length, a flag
    BEGUN, UNUSABLE = -1, -2  # a notice's length: the child begins the item; has no result for it

    def __init__(self) -> None:
        self.notices, self._notify = os.pipe()  # child → this process
        self._reached, self.reach = os.pipe()  # this process → child: the items it has reached
        self.file = tempfile.TemporaryFile()  # the child's results, one after another
        self.job: Job | None = None
        self.begun: set[int] = set()
        self.done: dict[int, tuple[int, int, bool]] = {}
        self.ended = False
        self.buffer = b""
        self.at = -1  # in the child: the furthest item this process has reached
        self.offset = 0  # in the child: where the next result goes

    @classmethod
    def start(cls, task: Callable[[Meeting], None]) -> Meeting | None:
        """``task(meeting)`` in a forked child; None if no child can be had."""
        meeting = cls()

        def child() -> None:
            meeting._in_child()
            task(meeting)

        meeting.job = elsewhere(child)
        for fd in (meeting._notify, meeting._reached):  # the child's ends
            os.close(fd)
        if meeting.job is None:
            meeting.close()
            return None
        return meeting

    # the child's side

    def _in_child(self) -> None:
        os.close(self.notices)
        os.close(self.reach)
        os.set_blocking(self._reached, False)

    def reached(self) -> int:
        """The furthest item this process has reached."""
        while True:
            try:
                data = os.read(self._reached, 4096)
            except BlockingIOError:
                return self.at
            if not data:
                return self.at
            self.at = max(self.at, *(k for (k,) in struct.iter_unpack("<i", data)))

    def mine(self, items: Sequence[int]) -> Iterator[int]:
        """The child's items: ``items`` (in ascending order) from the last one down, each announced
        to this process as begun, until one this process has reached."""
        for k in reversed(items):
            if self.reached() >= k:
                return
            os.write(self._notify, self.NOTICE.pack(k, 0, self.BEGUN, False))
            yield k

    def ship(self, k: int, data: bytes | None, flag: bool = False) -> None:
        if data is None:
            os.write(self._notify, self.NOTICE.pack(k, 0, self.UNUSABLE, False))
            return
        self.file.write(data)
        self.file.flush()
        os.write(self._notify, self.NOTICE.pack(k, self.offset, len(data), flag))
        self.offset += len(data)

    # this process's side

    def _read(self, wait: bool) -> None:
        if not wait and not select.select([self.notices], [], [], 0)[0]:
            return
        data = os.read(self.notices, 65536)
        if not data:  # the child has ended
            self.ended = True
        self.buffer += data
        size = self.NOTICE.size
        whole = len(self.buffer) - len(self.buffer) % size
        for k, offset, length, flag in self.NOTICE.iter_unpack(self.buffer[:whole]):
            if length == self.BEGUN:
                self.begun.add(k)
            else:
                self.done[k] = (offset, length, flag)
        self.buffer = self.buffer[whole:]

    def take(self, k: int, idle: Callable[[], bool] = lambda: False) -> tuple[bytes | None, bool]:
        """Item ``k``'s result from the child, waiting for it if the child is making it, and the
        flag it was shipped with; (None, False) if this process is to do the item. While it waits,
        it calls ``idle`` (a step of work this process needs later; False when there is none)."""
        self._read(wait=False)
        while k in self.begun and k not in self.done and not self.ended:
            self._read(wait=not idle())
        if k not in self.done:
            return self.passing(k)
        offset, length, flag = self.done[k]
        if length < 0:
            return self.passing(k)
        return os.pread(self.file.fileno(), length, offset), flag

    def over(self) -> bool:
        """Whether the child has ended (so its core is free), as far as its notices say now."""
        if not self.ended and self.notices >= 0:
            self._read(wait=False)
        return self.ended

    def passing(self, k: int) -> tuple[None, bool]:
        """Tell the child that this process does item ``k`` itself."""
        try:
            os.write(self.reach, struct.pack("<i", k))
        except OSError:  # the child has ended
            pass
        return None, False

    def close(self) -> None:
        if self.notices < 0:
            return
        if self.job is not None:
            self.job.cancel()
            self.job = None
        for fd in (self.notices, self.reach):
            try:
                os.close(fd)
            except OSError:
                pass
        self.notices = self.reach = -1
        self.file.close()
