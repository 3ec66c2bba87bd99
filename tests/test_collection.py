"""The build and the command line keep Python's cycle collector from rescanning the build's objects."""

from __future__ import annotations

import gc

import pytest

from scholia.options import BuildError


def test_a_build_runs_without_cycle_collection_and_restores_it(monkeypatch):
    """Full collections rescan the build's millions of long-lived objects (and make forked writers
    copy the memory they touch): the collector is paused for the build, and back on after it,
    whether the build succeeds or fails."""
    from scholia import build

    seen: list[bool] = []

    def produce(root, options):
        seen.append(gc.isenabled())
        raise BuildError("stop")

    monkeypatch.setattr(build, "_produce", produce)
    assert gc.isenabled()
    with pytest.raises(BuildError):
        build.produce(None, None)
    assert seen == [False]
    assert gc.isenabled()


def test_the_command_line_ends_without_a_last_collection(monkeypatch):
    """``run()`` exits with ``main()``'s status, with the collector off throughout and the build's
    leftovers frozen out of the interpreter's final collection."""
    from scholia import cli

    during: list[bool] = []

    def main() -> int:
        during.append(gc.isenabled())
        return 3

    monkeypatch.setattr(cli, "main", main)
    try:
        with pytest.raises(SystemExit) as stop:
            cli.run()
        assert stop.value.code == 3
        assert during == [False]  # not switched on after the build, to scan its leftovers at once
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.enable()
