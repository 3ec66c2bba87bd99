"""Stage timings (``--timings``) and progress lines on a terminal.

``stage("layout PDF")`` is a context manager any module can use; it records into the recorder of the
running build (a context variable), so no stage needs a timer passed to it.
"""

from __future__ import annotations

import contextvars
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Recorder:
    progress: bool = False  # print a line as each stage starts (for terminals)
    times: dict[str, float] = field(default_factory=dict)  # wall time inside each stage
    own: dict[str, float] = field(default_factory=dict)  # the same less the stages nested in it
    started: float = field(default_factory=time.perf_counter)
    open: list[list[float]] = field(default_factory=list)  # per open stage: time spent in nested stages

    def report(self) -> str:
        """Each stage's own time (nested stages are subtracted from the stage around them)."""
        total = time.perf_counter() - self.started
        width = max((len(k) for k in self.times), default=5)
        lines = [f"  {name:<{width}}  {self.own.get(name, secs):7.3f} s" for name, secs in self.times.items()]
        lines.append(f"  {'total':<{width}}  {total:7.3f} s")
        return "stage timings:\n" + "\n".join(lines)


_current: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar("scholia_timings", default=None)


@contextmanager
def recording(progress: bool = False, started: float | None = None) -> Iterator[Recorder]:
    """Record the stages run within the block; progress lines count from ``started`` (a forked
    process's lines count from its build's start: the clock is the same in both processes)."""
    recorder = Recorder(progress=progress) if started is None else Recorder(progress=progress, started=started)
    token = _current.set(recorder)
    try:
        yield recorder
    finally:
        _current.reset(token)


def current() -> Recorder | None:
    return _current.get()


def merge(times: dict[str, float], own: dict[str, float]) -> None:
    """Add stage times recorded elsewhere (a forked writer) to the running build's."""
    recorder = _current.get()
    if recorder is not None:
        for name, secs in times.items():
            recorder.times[name] = recorder.times.get(name, 0.0) + secs
            recorder.own[name] = recorder.own.get(name, 0.0) + own.get(name, secs)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time a stage of the running build (a no-op when nothing records)."""
    recorder = _current.get()
    if recorder is None:
        yield
        return
    if recorder.progress:
        print(f"[{time.perf_counter() - recorder.started:6.1f} s] {name}…", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    recorder.open.append([0.0])
    try:
        yield
    finally:
        spent = time.perf_counter() - t0
        nested = recorder.open.pop()[0]
        if recorder.open:
            recorder.open[-1][0] += spent
        recorder.times[name] = recorder.times.get(name, 0.0) + spent
        recorder.own[name] = recorder.own.get(name, 0.0) + spent - nested
