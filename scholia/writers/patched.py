"""``patched(target, name, value)``: ``target.name`` is ``value`` within the block, as
``unittest.mock.patch.object`` makes it, without importing ``unittest.mock`` (and ``asyncio`` with
it: 0.027 s of every build's start). The writers patch WeasyPrint, pydyf and zipfile this way."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_ABSENT = object()


@contextmanager
def patched(target: object, name: str, value: object) -> Iterator[object]:
    own = vars(target).get(name, _ABSENT)  # the target's own attribute (a class's may be inherited)
    setattr(target, name, value)
    try:
        yield value
    finally:
        if own is _ABSENT:
            delattr(target, name)
        else:
            setattr(target, name, own)
