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
    times: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def report(self) -> str:
        total = time.perf_counter() - self.started
        width = max((len(k) for k in self.times), default=5)
        lines = [f"  {name:<{width}}  {secs:7.3f} s" for name, secs in self.times.items()]
        lines.append(f"  {'total':<{width}}  {total:7.3f} s")
        return "stage timings:\n" + "\n".join(lines)


_current: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar("scholia_timings", default=None)


@contextmanager
def recording(progress: bool = False) -> Iterator[Recorder]:
    recorder = Recorder(progress=progress)
    token = _current.set(recorder)
    try:
        yield recorder
    finally:
        _current.reset(token)


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
    try:
        yield
    finally:
        recorder.times[name] = recorder.times.get(name, 0.0) + time.perf_counter() - t0
