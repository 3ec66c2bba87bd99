"""Run a function in a forked process, to use a second core for work that needs this process's
memory (a laid-out document) as it is now: ``job = start(task)``, then ``job.result()`` gives the
task's return value or raises its exception, and ``job.cancel()`` stops it. Without ``os.fork`` or
a second core, the task runs inside ``result()`` in this process."""

from __future__ import annotations

import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import Generic, TypeVar

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
        self.read = -1
        if hasattr(os, "fork") and cores() > 1:
            self._fork()

    def _fork(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: run, send the pickled outcome, leave without the parent's clean-up
            os.close(read)
            try:
                try:
                    payload = pickle.dumps((True, self.task()))
                except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
                    try:
                        payload = pickle.dumps((False, exc))
                    except Exception:  # noqa: BLE001
                        payload = pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
                with os.fdopen(write, "wb") as fh:
                    fh.write(payload)
            finally:
                os._exit(0)
        os.close(write)
        self.pid, self.read, self.task = pid, read, None

    def result(self) -> T:
        if self.task is not None:
            task, self.task = self.task, None
            return task()
        if not self.pid:
            raise RuntimeError("no result: the job was cancelled or has been read")
        with os.fdopen(self.read, "rb") as fh:
            data = fh.read()
        os.waitpid(self.pid, 0)
        self.pid = 0
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
            os.close(self.read)
            self.pid = 0


def start(task: Callable[[], T]) -> Job[T]:
    return Job(task)
