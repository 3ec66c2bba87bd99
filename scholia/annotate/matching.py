"""Find a quote again in a (possibly revised) text, the way the Hypothesis client re-anchors.

Candidates are the exact occurrences of the quote and, near the expected position, the best
approximate alignments (rapidfuzz, bit-parallel edit distance). Each is scored on the quote,
the text before and after it, and its distance from the expected position, with Hypothesis'
weights (quote 50, prefix 20, suffix 20, position 2). All offsets here are in the folded text
of a ``TextIndex`` (``index.text``); ``to_anchor`` maps a span back to a block's characters.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from rapidfuzz import fuzz
from rapidfuzz.distance import Indel, Levenshtein

from ..anchoring import Candidate, TextIndex
from ..model import Anchor

QUOTE_W, PREFIX_W, SUFFIX_W, POS_W = 50, 20, 20, 2
CONTEXT = 32  # characters of context kept on each side, as Hypothesis does


@dataclass(frozen=True)
class Match:
    start: int  # global folded offsets in the new index
    end: int
    exact: bool
    quote: float  # 1 - edit distance / quote length
    prefix: float
    suffix: float
    position: float
    score: float


def _sim(a: str, b: str) -> float:
    if not a and not b:
        return 1.0
    return 1.0 - Levenshtein.distance(a, b) / max(len(a), len(b))


def block_bounds(index: TextIndex, pos: int) -> tuple[int, int]:
    """Global (start, end) of the block that holds ``pos``."""
    i = bisect.bisect_right(index.starts, pos) - 1
    i = max(i, 0)
    return index.starts[i], index.starts[i] + len(index.blocks[i].text)


def to_anchor(index: TextIndex, start: int, end: int) -> Anchor:
    b, s = index.locate(start)
    return index.anchor(Candidate(b, s, s + end - start))


def folded_span(index: TextIndex, anchor: Anchor) -> tuple[int, int]:
    """The global folded (start, end) of an anchor (the inverse of ``to_anchor``)."""
    i = next(k for k, f in enumerate(index.blocks) if f.block.id == anchor.block_id)
    f = index.blocks[i]

    def inverse(src: int) -> int:  # smallest folded p with f.source(p) >= src
        lo, hi = 0, len(f.text)
        while lo < hi:
            mid = (lo + hi) // 2
            if f.source(mid) < src:
                lo = mid + 1
            else:
                hi = mid
        return lo

    s = inverse(anchor.start)
    e = inverse(anchor.end - 1) + 1 if anchor.end > anchor.start else s
    return index.starts[i] + s, index.starts[i] + min(e, len(f.text))


class PositionMap:
    """Old folded offsets → new folded offsets, from a word-level alignment of the two texts."""

    def __init__(self, old: str, new: str):
        self.old_starts, old_words = _tokens(old)
        self.new_starts, new_words = _tokens(new)
        self.new_len = len(new)
        self.target: list[int] = [0] * (len(old_words) + 1)
        self.same: list[bool] = [False] * (len(old_words) + 1)
        for op in Indel.opcodes(old_words, new_words):
            for k in range(op.src_start, op.src_end):
                if op.tag == "equal":
                    self.target[k] = self.new_starts[op.dest_start + k - op.src_start]
                    self.same[k] = True
                else:
                    self.target[k] = self.new_starts[op.dest_start] if op.dest_start < len(new_words) else len(new)
        self.target[-1] = len(new)

    def __call__(self, pos: int) -> int:
        k = bisect.bisect_right(self.old_starts, pos) - 1
        if k < 0:
            return 0
        within = pos - self.old_starts[k]
        base = self.target[k]
        return min(base + within if self.same[k] else base, self.new_len)


def _tokens(text: str) -> tuple[list[int], list[str]]:
    starts, words, pos = [], [], 0
    for w in text.split(" "):
        starts.append(pos)
        words.append(w)
        pos += len(w) + 1
    return starts, words


def _is_word(ch: str) -> bool:
    return ch.isalnum()


def _starts(t: str, lo: int, hi: int, first: str) -> list[int]:
    out = []
    for i in range(lo, hi + 1):
        if i >= len(t) or (t[i] == " " and first != " "):
            continue
        if i == 0 or t[i - 1] == " " or _is_word(t[i]) != _is_word(t[i - 1]) or not _is_word(t[i]):
            out.append(i)
    return out


def _ends(t: str, lo: int, hi: int, last: str) -> list[int]:
    out = []
    for e in range(lo, hi + 1):
        if e <= 0 or (t[e - 1] == " " and last != " "):
            continue
        if e >= len(t) or t[e] == " " or _is_word(t[e]) != _is_word(t[e - 1]) or not _is_word(t[e - 1]):
            out.append(e)
    return out


def refine(index: TextIndex, start: int, end: int, quote: str) -> tuple[int, int]:
    """Move a rough span's ends to the token boundaries that make it closest to ``quote``."""
    bs, be = block_bounds(index, start)
    t = index.text
    reach = max(8, len(quote) // 3)
    starts = _starts(t, max(bs, start - reach), min(be - 1, start + reach), quote[:1]) or [start]
    ends = _ends(t, max(bs + 1, end - reach), min(be, end + reach), quote[-1:]) or [end]
    best = (start, end)
    best_key = (Levenshtein.distance(t[start:end], quote), 0)
    for s in starts:
        for e in ends:
            if e <= s:
                continue
            key = (Levenshtein.distance(t[s:e], quote, score_cutoff=best_key[0]), abs(s - start) + abs(e - end))
            if key < best_key:
                best, best_key = (s, e), key
    return best


def score(index: TextIndex, start: int, end: int, quote: str, prefix: str, suffix: str, hint: int | None,
          exact: bool = False) -> Match:
    t = index.text
    q = 1.0 if exact else max(0.0, 1.0 - Levenshtein.distance(t[start:end], quote) / max(len(quote), 1))
    p = _sim(t[max(0, start - len(prefix)):start], prefix) if prefix else 1.0
    s = _sim(t[end:end + len(suffix)], suffix) if suffix else 1.0
    pos = 1.0 - abs(start - hint) / max(len(t), 1) if hint is not None else 1.0
    total = (QUOTE_W * q + PREFIX_W * p + SUFFIX_W * s + POS_W * pos) / (QUOTE_W + PREFIX_W + SUFFIX_W + POS_W)
    return Match(start, end, exact, q, p, s, pos, total)


def inside_one_block(index: TextIndex, start: int, end: int) -> bool:
    return end > start and index.locate(start)[0] == index.locate(end - 1)[0]


def exact_candidates(index: TextIndex, hits: list[tuple[int, int]], quote: str, prefix: str, suffix: str,
                     hint: int | None) -> list[Match]:
    """Every exact occurrence (within one block), best first."""
    found = [score(index, s, e, quote, prefix, suffix, hint, exact=True)
             for s, e in hits if inside_one_block(index, s, e)]
    return sorted(found, key=lambda m: (-m.score, m.start))


def approximate(index: TextIndex, quote: str, prefix: str, suffix: str, lo: int, hi: int,
                hint: int | None, extra: list[tuple[int, int]] = ()) -> Match | None:
    """The best approximate match of ``quote`` in the blocks overlapping ``[lo, hi)``."""
    t = index.text
    lo, hi = max(0, lo), min(len(t), hi)
    spans: list[tuple[int, int]] = []
    i = max(0, bisect.bisect_right(index.starts, lo) - 1)
    while i < len(index.blocks) and index.starts[i] < hi:
        bs = index.starts[i]
        be = bs + len(index.blocks[i].text)
        s0, e0 = max(lo, bs), min(hi, be)
        if e0 > s0:
            r = fuzz.partial_ratio_alignment(quote, t[s0:e0])
            if r is not None and r.dest_end > r.dest_start:
                spans.append((s0 + r.dest_start, s0 + r.dest_end))
        i += 1
    for s, e in extra:
        if e > s:
            bs, be = block_bounds(index, s)
            spans.append((s, min(e, be)))
    best: Match | None = None
    for s, e in spans:
        s, e = refine(index, s, e, quote)
        if not inside_one_block(index, s, e):
            continue
        m = score(index, s, e, quote, prefix, suffix, hint, exact=t[s:e] == quote)
        if best is None or m.score > best.score:
            best = m
    return best


def acceptable(m: Match) -> bool:
    """An approximate match good enough to move a note to: most of the quote, or the quote's
    surroundings intact on both sides with a recognisable remainder of the quote between them."""
    return m.quote >= 0.75 or (m.quote >= 0.5 and m.prefix >= 0.75 and m.suffix >= 0.75)
