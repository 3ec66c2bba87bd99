"""Shared helpers for the benchmark scripts: timing fresh processes, medians, peak memory."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
EPOCH = "1758240000"


def run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, float]:
    """Run a command in a fresh process: (wall seconds, peak resident memory of that process in MB)."""
    full = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, **(env or {})}
    script = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
              "r = subprocess.run(sys.argv[1:]); "
              "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
              "sys.exit(r.returncode)")
    out = subprocess.run([PYTHON, "-c", script, *cmd], env=full, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}\n{out.stderr[-2000:]}")
    secs, kb = out.stdout.strip().splitlines()[-1].split()
    return float(secs), int(kb) / 1024


def median(values: list[float]) -> float:
    return statistics.median(values)


def build_cmd(*args: str) -> list[str]:
    return [PYTHON, str(ROOT / "make_edition.py"), "build", "--no-cache", "-q", *args]


def own_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stamp(label: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {label}", file=sys.stderr, flush=True)


def alternate(runs: int, sides: list[tuple[str, Callable[[], float]]]) -> list[list[float]]:
    """Time each side once per round, in turn, so that all see the same machine (its speed drifts
    within minutes): one list of seconds per side."""
    times: list[list[float]] = [[] for _ in sides]
    for i in range(runs):
        for (label, measure), out in zip(sides, times, strict=True):
            stamp(f"run {i + 1}/{runs}: {label}")
            out.append(measure())
    return times
