"""Shared helpers for the benchmark scripts: timing fresh processes, medians, peak memory."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
EPOCH = "1758240000"


def _tree(pid: int) -> list[int]:
    """The process and all its descendants (Linux; just the process elsewhere)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            todo.extend(int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split())
        except OSError:
            pass
    return out


def _pss_kb(pids: list[int]) -> int:
    """Proportional set size of the processes together: shared pages (a fork's) counted once."""
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, float]:
    """Run a command in a fresh process: (wall seconds, peak memory in MB). The memory is the peak
    of the whole process tree's proportional set size (the build forks helpers that share most of
    its pages), sampled every quarter second by a thread while this one waits; for a process too
    short to be sampled, or where /proc is missing, its own peak RSS."""
    full = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, **(env or {})}
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=full, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        peak_kb = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak_kb
            while not done.wait(0.25):
                peak_kb = max(peak_kb, _pss_kb(_tree(proc.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        secs = time.perf_counter() - start
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read()[-2000:].decode(errors="replace")
            raise SystemExit(f"benchmark command failed: {' '.join(cmd)}\n{tail}")
    return secs, (peak_kb or usage.ru_maxrss) / 1024


def median(values: list[float]) -> float:
    return statistics.median(values)


def build_cmd(*args: str) -> list[str]:
    return [PYTHON, str(ROOT / "make_edition.py"), "build", "--no-cache", "-q", *args]


def stamp(label: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {label}", file=sys.stderr, flush=True)


def alternate(runs: int, sides: list[tuple[str, Callable[[], float]]]) -> list[list[float]]:
    """Time each side once per round, in turn, so that all see the same machine (its speed drifts
    within minutes), the order reversed every other round (no side always runs first): one list
    of seconds per side."""
    times: list[list[float]] = [[] for _ in sides]
    for i in range(runs):
        order = list(zip(sides, times, strict=True))
        for (label, measure), out in order if i % 2 == 0 else order[::-1]:
            stamp(f"run {i + 1}/{runs}: {label}")
            out.append(measure())
    return times


def paired_ratio(a: list[float], b: list[float]) -> float:
    """The median of the rounds' ratios a/b: each round's two times were taken minutes apart at
    most, so a drift in the machine's speed between rounds cancels out."""
    return median([x / y for x, y in zip(a, b, strict=True)])
