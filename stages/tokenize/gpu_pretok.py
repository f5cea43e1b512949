"""Pre-tokenization on the device: special tokens, then the split pattern, as kernels.

Input: one batch as a UTF-8 byte buffer and document offsets. Output: the byte offset of
every piece (pre-token) and, for special-token pieces, their id.

1. ``special_body`` (one thread per byte) marks the longest added token starting there; the
   few hits are resolved leftmost-longest, as HF's added-vocabulary matcher does.
2. The text between special tokens splits into *segments*; each is matched independently, as
   HF does. Segments are cut into *chunks* at candidate positions (a space between two
   letters, the character after a newline) at most one per ``chunk_bytes``: a piece almost
   always starts there, whatever came before.
3. ``chunk_body`` (one thread per chunk) runs the pattern (:mod:`gpu_pattern` tables,
   leftmost-first alternatives, backtracking over quantifier counts) from the chunk start and
   flags every piece start. The thread checks its guess: the chunk's last piece must end
   exactly at the next cut. A chunk whose guess fails is merged with the next one and rerun,
   so the result is exact whatever the candidates were; the candidates only set the speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np

from corpusforge.stages.tokenize.gpu_backend import get_backend
from corpusforge.stages.tokenize.gpu_pattern import CompiledPattern


def cp_at(text: Any, pos: int) -> tuple[int, int]:
    """(code point, byte length) of the UTF-8 character at ``pos``."""
    b0 = int(text[pos])
    if b0 < 0x80:
        return b0, 1
    if b0 < 0xE0:
        return ((b0 & 0x1F) << 6) | (int(text[pos + 1]) & 0x3F), 2
    if b0 < 0xF0:
        return ((b0 & 0x0F) << 12) | ((int(text[pos + 1]) & 0x3F) << 6) | (
            int(text[pos + 2]) & 0x3F
        ), 3
    cp = ((b0 & 0x07) << 18) | ((int(text[pos + 1]) & 0x3F) << 12)
    return cp | ((int(text[pos + 2]) & 0x3F) << 6) | (int(text[pos + 3]) & 0x3F), 4


def class_at(text: Any, pos: int, classes: Any) -> tuple[int, int]:
    """(class id, byte length) of the character at ``pos``."""
    cp, n = cp_at(text, pos)
    return int(classes[cp]), n


def prev_pos(text: Any, pos: int) -> int:
    """Byte offset of the character before ``pos``."""
    pos -= 1
    while (int(text[pos]) & 0xC0) == 0x80:
        pos -= 1
    return pos


def run_end(text: Any, pos: int, end: int, mask: int, limit: int, classes: Any) -> tuple[int, int]:
    """(count, end) of the longest run of at most ``limit`` characters in ``mask`` at ``pos``."""
    count = 0
    while count < limit and pos < end:
        cid, n = class_at(text, pos, classes)
        if (mask >> cid) & 1 == 0:
            break
        pos += n
        count += 1
    return count, pos


def look_ok(text: Any, pos: int, end: int, kind: int, mask: int, classes: Any) -> bool:
    if kind == 0:
        return True
    if pos >= end:
        return kind == 1  # (?!x) holds at the end of the segment, (?=x) does not
    cid, _ = class_at(text, pos, classes)
    inside = (mask >> cid) & 1 == 1
    return not inside if kind == 1 else inside


def match_alt(
    text: Any, p: int, end: int, a: int, prog: Any, atoms: Any, classes: Any, st: Any
) -> int:
    """End of alternative ``a`` matched at ``p`` (backtracking), or -1.

    ``prog`` rows: (first atom, atom count, lookahead kind, lookahead mask); ``atoms`` rows:
    (mask, min, max, mode). ``st`` is the thread's scratch: (count, end) per atom.
    """
    first, n_at = int(prog[a, 0]), int(prog[a, 1])
    j, pos, backtrack = 0, p, False
    while True:
        if backtrack:
            if j < 0:
                return -1
            k = first + j
            cnt, e = st[j, 0], st[j, 1]
            if atoms[k, 3] == 0 and cnt > atoms[k, 1]:  # greedy: give one character back
                e = prev_pos(text, e)
                st[j, 0], st[j, 1] = cnt - 1, e
            elif atoms[k, 3] == 2 and cnt < atoms[k, 2] and e < end:  # lazy: take one more
                c2, e2 = run_end(text, e, end, atoms[k, 0], 1, classes)
                if c2 == 0:
                    j -= 1
                    continue
                st[j, 0], st[j, 1], e = cnt + 1, e2, e2
            else:  # possessive, or no count left to try
                j -= 1
                continue
            pos, j, backtrack = e, j + 1, False
            continue
        if j == n_at:
            if look_ok(text, pos, end, int(prog[a, 2]), prog[a, 3], classes):
                return pos
            j, backtrack = j - 1, True
            continue
        k = first + j
        limit = atoms[k, 1] if atoms[k, 3] == 2 else atoms[k, 2]
        cnt, e = run_end(text, pos, end, atoms[k, 0], limit, classes)
        if cnt < atoms[k, 1]:
            j, backtrack = j - 1, True
            continue
        st[j, 0], st[j, 1] = cnt, e
        pos, j = e, j + 1


def match_any(text: Any, p: int, end: int, prog: Any, atoms: Any, classes: Any, st: Any) -> int:
    """End of the first alternative that matches at ``p`` (leftmost-first), or -1."""
    for a in range(prog.shape[0]):
        e = match_alt(text, p, end, a, prog, atoms, classes, st)
        if e >= 0:
            return e
    return -1


def chunk_body(
    tid: int,
    text: Any,
    starts: Any,
    ends: Any,
    seg_ends: Any,
    flags: Any,
    ok: Any,
    prog: Any,
    atoms: Any,
    classes: Any,
    scratch: Any,
) -> None:
    """Flag the piece starts of one chunk; ``ok[tid]`` = its end is a true piece start."""
    st = scratch[tid]
    p, stop, seg_end = int(starts[tid]), int(ends[tid]), int(seg_ends[tid])
    for q in range(p, stop):
        flags[q] = 0
    in_gap = False
    while p < stop:
        e = match_any(text, p, seg_end, prog, atoms, classes, st)
        if e < 0:  # no alternative matches here: the character joins a gap piece
            if not in_gap:
                flags[p] = 1
                in_gap = True
            _, n = cp_at(text, p)
            p += n
        else:
            flags[p] = 1
            in_gap = False
            p = e
    good = p == stop
    if good and in_gap and stop < seg_end:
        good = match_any(text, stop, seg_end, prog, atoms, classes, st) >= 0
    ok[tid] = 1 if good else 0


def cut_body(tid: int, text: Any, classes: Any, letters: int, spaces: int, cand: Any) -> None:
    """``cand[tid]`` = 1 where a piece very likely starts (a guess; checked later)."""
    cand[tid] = 0
    if tid == 0 or tid + 1 >= text.shape[0] or (int(text[tid]) & 0xC0) == 0x80:
        return
    b = int(text[tid])
    if int(text[tid - 1]) == 0x0A:
        cid, _ = class_at(text, tid, classes)
        if (spaces >> cid) & 1 == 0:
            cand[tid] = 1
        return
    if b != 0x20:
        return
    before, _ = class_at(text, prev_pos(text, tid), classes)
    after, _ = class_at(text, tid + 1, classes)
    if (letters >> before) & 1 == 1 and (letters >> after) & 1 == 1:
        cand[tid] = 1


def special_body(
    tid: int, text: Any, sp_bytes: Any, sp_off: Any, sp_len: Any, first: Any, hit: Any
) -> None:
    """``hit[tid]`` = 1 + index of the longest special token at byte ``tid`` (0: none).

    Special tokens are sorted longest first; ``first[b]`` says whether any starts with byte b.
    """
    hit[tid] = 0
    b = int(text[tid])
    if first[b] == 0:
        return
    n = text.shape[0]
    for t in range(sp_off.shape[0]):
        ln = int(sp_len[t])
        if tid + ln > n:
            continue
        o = int(sp_off[t])
        same = True
        for k in range(ln):
            if text[tid + k] != sp_bytes[o + k]:
                same = False
                break
        if same:
            hit[tid] = t + 1
            return


DEVICE_FNS = (cp_at, class_at, prev_pos, run_end, look_ok, match_alt, match_any)


@cache
def kernels(backend: str) -> SimpleNamespace:
    return get_backend(backend).build(DEVICE_FNS, (chunk_body, cut_body, special_body))


@dataclass
class SpecialTokens:
    """Added tokens as device arrays, longest first (HF matches leftmost, then longest)."""

    ids: np.ndarray  # int32, in the order of the arrays below
    lens: np.ndarray  # int64 byte lengths
    data: Any
    off: Any
    len_dev: Any
    first: Any

    @classmethod
    def build(cls, xp: Any, specials: dict[str, int]) -> SpecialTokens:
        items = sorted(specials.items(), key=lambda kv: -len(kv[0].encode()))
        raw = [k.encode() for k, _ in items]
        lens = np.asarray([len(r) for r in raw], dtype=np.int64)
        off = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
        first = np.zeros(256, dtype=np.uint8)
        for r in raw:
            first[r[0]] = 1
        data = np.frombuffer(b"".join(raw) or b"\0", dtype=np.uint8)
        return cls(
            ids=np.asarray([v for _, v in items], dtype=np.int32),
            lens=lens,
            data=xp.asarray(data),
            off=xp.asarray(off),
            len_dev=xp.asarray(lens),
            first=xp.asarray(first),
        )


@dataclass
class Pieces:
    starts: Any  # int64 byte offset of every piece, in text order
    special: Any  # int32: the piece's special-token id, or -1


class DevicePreTokenizer:
    """Byte buffer -> pieces, on one backend (see the module docstring)."""

    def __init__(
        self,
        backend: str,
        pattern: CompiledPattern | None,
        specials: dict[str, int],
        chunk_bytes: int = 128,
    ) -> None:
        self.backend = get_backend(backend)
        self.k = kernels(backend)
        xp = self.xp = self.backend.xp
        self.pattern = pattern
        self.chunk_bytes = chunk_bytes
        self.reruns = 0  # chunks whose guessed start was wrong (merged and rerun)
        self.specials = SpecialTokens.build(xp, specials) if specials else None
        if pattern is not None:
            self.classes = xp.asarray(pattern.classes)
            prog = np.stack(
                [
                    pattern.alt_first,
                    pattern.alt_len,
                    pattern.look_kind,
                    np.zeros_like(pattern.look_kind),
                ],
                axis=1,
            ).astype(np.int64)
            prog[:, 3] = pattern.look_mask
            self.prog = xp.asarray(prog)
            atoms = np.zeros((len(pattern.atom_mask), 4), dtype=np.int64)
            atoms[:, 0] = pattern.atom_mask
            atoms[:, 1], atoms[:, 2], atoms[:, 3] = (
                pattern.atom_lo,
                pattern.atom_hi,
                pattern.atom_mode,
            )
            self.atoms = xp.asarray(atoms)
            self.max_atoms = int(pattern.alt_len.max())
            self.letters = int(pattern.letter_mask[0])
            self.spaces = int(pattern.space_mask[0])

    def _special_hits(self, text: Any, doc_off: Any) -> tuple[np.ndarray, np.ndarray]:
        """(start, token index) of the accepted special tokens, host arrays in text order."""
        sp, xp = self.specials, self.xp
        n = int(text.shape[0])
        if sp is None or n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        hit = xp.empty(n, dtype=np.int32)
        self.k.special_body(n, text, sp.data, sp.off, sp.len_dev, sp.first, hit)
        pos = xp.flatnonzero(hit)
        pos_h = self.backend.to_host(pos).astype(np.int64)
        if not len(pos_h):
            return pos_h, pos_h
        tok = self.backend.to_host(hit[pos]).astype(np.int64) - 1
        doc_h = self.backend.to_host(doc_off)
        doc_end = doc_h[np.searchsorted(doc_h, pos_h, side="right")]
        inside = pos_h + sp.lens[tok] <= doc_end  # a token never spans two documents
        pos_h, tok = pos_h[inside], tok[inside]
        keep = np.ones(len(pos_h), dtype=bool)
        end = -1
        for i in range(len(pos_h)):  # few hits: leftmost, then non-overlapping
            if pos_h[i] < end:
                keep[i] = False
            else:
                end = pos_h[i] + sp.lens[tok[i]]
        return pos_h[keep], tok[keep]

    def _segments(self, doc_off: Any, sp_pos: np.ndarray, sp_end: np.ndarray) -> tuple[Any, Any]:
        """(starts, ends) of the non-empty stretches between documents' ends and specials."""
        xp = self.xp
        starts = xp.sort(xp.concatenate([doc_off[:-1], xp.asarray(sp_end)]))
        ends = xp.sort(xp.concatenate([doc_off[1:], xp.asarray(sp_pos)]))
        keep = ends > starts
        return starts[keep], ends[keep]

    def _chunks(self, text: Any, seg_s: Any, seg_e: Any) -> tuple[Any, Any, Any]:
        xp, n = self.xp, int(text.shape[0])
        cand = xp.empty(n, dtype=np.uint8)
        self.k.cut_body(n, text, self.classes, self.letters, self.spaces, cand)
        pos = xp.flatnonzero(cand)
        seg = xp.searchsorted(seg_s, pos, side="right") - 1
        inside = (
            (seg >= 0) & (pos > seg_s[xp.maximum(seg, 0)]) & (pos + 1 < seg_e[xp.maximum(seg, 0)])
        )
        pos = pos[inside]
        bucket = pos // self.chunk_bytes
        first = xp.ones(pos.shape[0], dtype=bool)
        first[1:] = bucket[1:] != bucket[:-1]
        cuts = xp.sort(xp.concatenate([seg_s, pos[first]]))
        seg = xp.searchsorted(seg_s, cuts, side="right") - 1
        nxt = xp.concatenate([cuts[1:], xp.asarray([n], dtype=cuts.dtype)])
        return cuts, xp.minimum(nxt, seg_e[seg]), seg_e[seg]

    def _split(self, text: Any, seg_s: Any, seg_e: Any, flags: Any) -> None:
        """Flag piece starts of all segments; merge and rerun chunks whose guess failed."""
        xp = self.xp
        starts, ends, seg_end = self._chunks(text, seg_s, seg_e)
        todo = xp.arange(starts.shape[0])
        while todo.shape[0]:
            s, e, se = starts[todo], ends[todo], seg_end[todo]
            ok = xp.empty(todo.shape[0], dtype=np.uint8)
            scratch = xp.empty((int(todo.shape[0]), self.max_atoms, 2), dtype=np.int64)
            self.k.chunk_body(
                int(todo.shape[0]),
                text,
                s,
                e,
                se,
                flags,
                ok,
                self.prog,
                self.atoms,
                self.classes,
                scratch,
            )
            bad = xp.flatnonzero(ok == 0)
            if not bad.shape[0]:
                return
            self.reruns += int(bad.shape[0])
            # Drop the failed cuts: each failed chunk absorbs the next; rerun only those.
            drop = xp.zeros(starts.shape[0], dtype=bool)
            drop[todo[bad] + 1] = True
            keep = ~drop
            new_index = xp.cumsum(keep) - 1
            # a run of dropped chunks extends the chunk before it to the run's last end
            owner = xp.flatnonzero(keep)
            run_last = xp.concatenate([owner[1:] - 1, xp.asarray([starts.shape[0] - 1])])
            merged_end = ends[run_last]
            starts, ends, seg_end = starts[keep], merged_end, seg_end[keep]
            todo = xp.unique(new_index[todo[bad]])

    def pieces(self, text: Any, doc_off: Any) -> Pieces:
        """Pieces of a batch: ``text`` uint8 device array, ``doc_off`` int64 (n_docs + 1)."""
        xp = self.xp
        n = int(text.shape[0])
        flags = xp.zeros(n, dtype=np.uint8)
        sp_pos, sp_tok = self._special_hits(text, doc_off)
        sp_end = sp_pos + (self.specials.lens[sp_tok] if len(sp_pos) else 0)
        seg_s, seg_e = self._segments(doc_off, sp_pos, sp_end)
        if self.pattern is None:
            flags[seg_s] = 1
        elif seg_s.shape[0]:
            self._split(text, seg_s, seg_e, flags)
        sp_pos_d = xp.asarray(sp_pos)
        flags[sp_pos_d] = 1
        starts = xp.flatnonzero(flags).astype(np.int64)
        special = xp.full(starts.shape[0], -1, dtype=np.int32)
        if len(sp_pos):
            where = xp.searchsorted(starts, sp_pos_d)
            special[where] = xp.asarray(self.specials.ids[sp_tok])
        return Pieces(starts=starts, special=special)
