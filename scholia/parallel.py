"""Run a function in a forked process, to use a second core for work that needs this process's
memory (a laid-out document) as it is now: ``job = start(task)``, then ``job.result()`` gives the
task's return value or raises its exception, and ``job.cancel()`` stops it. Without ``os.fork`` or
a second core, the task runs inside ``result()`` in this process."""

from __future__ import annotations

import os
import pickle
import signal
import sys
import tempfile
from collections.abc import Callable
from typing import IO, Generic, TypeVar

from .options import BuildError

T = TypeVar("T")


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
