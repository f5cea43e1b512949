"""A byte-level BPE split pattern compiled to tables for the device pre-tokenizer.

The patterns of GPT-2, cl100k, Llama-3 and Qwen2 are an alternation (leftmost-first) of short
sequences of single-character classes with quantifiers, plus a trailing one-character
lookahead (``\\s+(?!\\S)``). This module parses that subset and compiles it to:

- a code-point table ``classes[cp]`` -> a small class id (at most 63): code points that every
  class of the pattern treats alike share an id (one id per literal character, the rest by
  their ``\\p{L}``/``\\p{N}``/``\\s`` membership as the reference engine, Oniguruma, sees it);
- per alternative, a run of atoms ``(mask over class ids, min, max, mode)`` and an optional
  lookahead mask, which the device matcher (:mod:`gpu_pretok`) runs with backtracking.

Anything outside the subset (nested groups, ``$``, ``\\p{Lu}``, back-references) raises
:class:`UnsupportedTokenizer`; the CPU paths handle those tokenizers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from corpusforge.stages.tokenize.pretok import UnsupportedTokenizer
from corpusforge.stages.tokenize.unicode_classes import reference_classes

GREEDY, POSSESSIVE, LAZY = 0, 1, 2
LOOK_NONE, LOOK_NEG, LOOK_POS = 0, 1, 2
UNBOUNDED = 1 << 30
N_CODEPOINTS = 0x110000
_PROPS = {"L": r"\p{L}", "N": r"\p{N}", "s": r"\s"}
_ESCAPES = {"r": "\r", "n": "\n", "t": "\t", "f": "\f", "v": "\v", "0": "\0"}

# A class expression: ("lit", cp) | ("prop", "L"|"N"|"s") | ("not", e) | ("or", (e, ...))
Expr = tuple[Any, ...]


@dataclass
class Atom:
    expr: Expr
    lo: int = 1
    hi: int = 1
    mode: int = GREEDY


@dataclass
class Alternative:
    atoms: list[Atom]
    look: tuple[int, Expr | None] = (LOOK_NONE, None)


class _Parser:
    """Recursive descent over the supported subset of Oniguruma syntax."""

    def __init__(self, pattern: str) -> None:
        self.s, self.i = pattern, 0

    def fail(self, why: str) -> UnsupportedTokenizer:
        return UnsupportedTokenizer(f"split pattern not supported on the device ({why})")

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def take(self) -> str:
        ch = self.peek()
        self.i += 1
        return ch

    def alternatives(self, icase: bool) -> list[Alternative]:
        out = [*self.sequence(icase)]
        while self.peek() == "|":
            self.i += 1
            out.extend(self.sequence(icase))
        return out

    def sequence(self, icase: bool) -> list[Alternative]:
        atoms: list[Atom] = []
        look: tuple[int, Expr | None] = (LOOK_NONE, None)
        spliced: list[Alternative] | None = None
        while self.peek() not in ("", "|", ")"):
            if look[0] != LOOK_NONE or spliced is not None:
                raise self.fail("only a lookahead or a lone group may end an alternative")
            if self.s.startswith("(?!", self.i) or self.s.startswith("(?=", self.i):
                kind = LOOK_NEG if self.s[self.i + 2] == "!" else LOOK_POS
                self.i += 3
                look = (kind, self.single(icase))
                if self.take() != ")":
                    raise self.fail("lookahead of more than one character")
            elif self.s.startswith("(?", self.i) or self.peek() == "(":
                spliced = self.group(icase, lone=not atoms)
            else:
                atoms.append(self.quantified(self.single(icase)))
        if spliced is not None:
            return spliced
        return [Alternative(atoms, look)]

    def group(self, icase: bool, lone: bool) -> list[Alternative]:
        """``(?i:...)``/``(?:...)``/``(...)`` standing alone: its alternatives join the top."""
        self.i += 1
        if self.peek() == "?":
            self.i += 1
            flags = ""
            while self.peek() not in (":", ""):
                flags += self.take()
            if flags not in ("", "i") or self.take() != ":":
                raise self.fail(f"group flags {flags!r}")
            icase = icase or flags == "i"
        inner = self.alternatives(icase)
        if self.take() != ")" or not lone or self.peek() not in ("", "|", ")"):
            raise self.fail("a group inside a sequence or with a quantifier")
        return inner

    def quantified(self, expr: Expr) -> Atom:
        ch = self.peek()
        lo, hi = 1, 1
        if ch and ch in "?*+":
            self.i += 1
            lo, hi = {"?": (0, 1), "*": (0, UNBOUNDED), "+": (1, UNBOUNDED)}[ch]
        elif ch == "{":
            end = self.s.index("}", self.i)
            body = self.s[self.i + 1 : end]
            self.i = end + 1
            a, _, b = body.partition(",")
            lo = int(a)
            hi = lo if "," not in body else (int(b) if b else UNBOUNDED)
        else:
            return Atom(expr)
        mode = GREEDY
        if self.peek() == "+":
            self.i, mode = self.i + 1, POSSESSIVE
        elif self.peek() == "?":
            self.i, mode = self.i + 1, LAZY
        return Atom(expr, lo, hi, mode)

    def escape(self, in_class: bool) -> Expr:
        ch = self.take()
        if ch in "pP" and self.peek() == "{":
            end = self.s.index("}", self.i)
            name = self.s[self.i + 1 : end]
            self.i = end + 1
            if name not in ("L", "N"):
                raise self.fail(f"\\p{{{name}}}")
            e: Expr = ("prop", name)
            return ("not", e) if ch == "P" else e
        if ch in "sS":
            return ("prop", "s") if ch == "s" else ("not", ("prop", "s"))
        if ch in _ESCAPES:
            return ("lit", ord(_ESCAPES[ch]))
        if ch.isalnum():
            raise self.fail(f"escape \\{ch}")
        return ("lit", ord(ch))

    def single(self, icase: bool) -> Expr:
        ch = self.take()
        if ch == "\\":
            return _fold(self.escape(False), icase)
        if ch == "[":
            return _fold(self.bracket(), icase)
        if ch in ".^$()|*+?{" or not ch:
            raise self.fail(f"syntax {ch!r}")
        return _fold(("lit", ord(ch)), icase)

    def bracket(self) -> Expr:
        negate = self.peek() == "^"
        self.i += negate
        items: list[Expr] = []
        while self.peek() != "]":
            if not self.peek():
                raise self.fail("unterminated class")
            ch = self.take()
            item = self.escape(True) if ch == "\\" else ("lit", ord(ch))
            if self.peek() == "-" and self.s[self.i + 1 : self.i + 2] not in ("]", ""):
                raise self.fail("character ranges")
            items.append(item)
        self.i += 1
        e: Expr = ("or", tuple(items))
        return ("not", e) if negate else e


def _fold(e: Expr, icase: bool) -> Expr:
    """Case-insensitive literals: every code point Oniguruma folds together with them."""
    if not icase:
        return e
    if e[0] == "lit":
        variants = case_variants(e[1])
        return ("or", tuple(("lit", cp) for cp in variants)) if len(variants) > 1 else e
    if e[0] in ("not",):
        return ("not", _fold(e[1], icase))
    if e[0] == "or":
        return ("or", tuple(_fold(x, icase) for x in e[1]))
    return e


@cache
def _fold_groups() -> dict[str, tuple[int, ...]]:
    """Code points grouped by their simple case fold (one pass over all code points)."""
    groups: dict[str, list[int]] = {}
    for x in range(N_CODEPOINTS):
        if not 0xD800 <= x < 0xE000:
            c = chr(x)
            for key in {c.lower(), c.upper().lower(), c.casefold()}:
                groups.setdefault(key, []).append(x)
    return {k: tuple(v) for k, v in groups.items()}


@cache
def case_variants(cp: int) -> tuple[int, ...]:
    """Code points that ``(?i:chr(cp))`` matches in the reference engine (asked once).

    Python's case tables propose the candidates; Oniguruma, inside ``tokenizers``, decides.
    """
    from tokenizers import Regex, pre_tokenizers

    c = chr(cp)
    groups = _fold_groups()
    candidates = sorted(
        {cp}.union(*(groups.get(k, ()) for k in {c.lower(), c.upper().lower(), c.casefold()}))
    )
    esc = "\\" + c if not c.isalnum() else c
    removed = pre_tokenizers.Split(Regex(f"(?i:{esc})"), behavior="removed")
    return tuple(x for x in candidates if not removed.pre_tokenize_str(chr(x)))


def literals(e: Expr) -> set[int]:
    if e[0] == "lit":
        return {e[1]}
    if e[0] == "not":
        return literals(e[1])
    if e[0] == "or":
        return set().union(*(literals(x) for x in e[1])) if e[1] else set()
    return set()


def evaluate(e: Expr, cp: int | None, props: dict[str, bool]) -> bool:
    """Truth of ``e`` for a class whose members are ``cp`` (a literal class) or ``props``."""
    kind = e[0]
    if kind == "lit":
        return cp == e[1]
    if kind == "prop":
        return props[e[1]]
    if kind == "not":
        return not evaluate(e[1], cp, props)
    return any(evaluate(x, cp, props) for x in e[1])


@dataclass
class CompiledPattern:
    """Device tables of one split pattern (host NumPy arrays; the tokenizer uploads them)."""

    classes: np.ndarray  # uint8[0x110000]: code point -> class id
    alt_first: np.ndarray  # int32[n_alt]: first atom of each alternative
    alt_len: np.ndarray  # int32[n_alt]
    look_kind: np.ndarray  # int32[n_alt]: LOOK_NONE / LOOK_NEG / LOOK_POS
    look_mask: np.ndarray  # int64[n_alt]: class ids the lookahead character may be in
    atom_mask: np.ndarray  # int64[n_atoms]
    atom_lo: np.ndarray  # int32[n_atoms]
    atom_hi: np.ndarray  # int32[n_atoms]
    atom_mode: np.ndarray  # int32[n_atoms]
    letter_mask: np.ndarray  # int64[1]: class ids of \p{L} (chunk cut candidates)
    space_mask: np.ndarray  # int64[1]: class ids of \s


def _class_table(lits: list[int]) -> tuple[np.ndarray, list[tuple[int | None, dict[str, bool]]]]:
    ref = reference_classes()
    table = np.zeros(N_CODEPOINTS, dtype=np.uint8)
    member = {}
    for bit, (name, cls) in enumerate(_PROPS.items()):
        m = np.zeros(N_CODEPOINTS, dtype=bool)
        for a, b in ref[cls]:
            m[a : b + 1] = True
        member[name] = m
        table |= (m.astype(np.uint8) << bit).astype(np.uint8)
    reps: list[tuple[int | None, dict[str, bool]]] = [
        (None, {name: bool(code >> bit & 1) for bit, name in enumerate(_PROPS)})
        for code in range(8)
    ]
    if len(lits) > 55:
        raise UnsupportedTokenizer("split pattern with more than 55 literal characters")
    for k, cp in enumerate(lits):
        table[cp] = 8 + k
        reps.append((cp, {name: bool(member[name][cp]) for name in _PROPS}))
    return table, reps


def _mask(e: Expr, reps: list[tuple[int | None, dict[str, bool]]]) -> int:
    return sum(1 << k for k, (cp, props) in enumerate(reps) if evaluate(e, cp, props))


def compile_pattern(pattern: str) -> CompiledPattern:
    """Parse ``pattern`` (Oniguruma syntax, the supported subset) into device tables."""
    parser = _Parser(pattern)
    alts = parser.alternatives(icase=False)
    if parser.i != len(pattern):
        raise parser.fail("unbalanced parenthesis")
    if any(all(a.lo == 0 for a in alt.atoms) for alt in alts):
        raise UnsupportedTokenizer("a pre-tokenizer pattern that matches the empty string")
    exprs = [a.expr for alt in alts for a in alt.atoms] + [
        alt.look[1] for alt in alts if alt.look[1] is not None
    ]
    lits = sorted(set().union(*(literals(e) for e in exprs)))
    table, reps = _class_table(lits)
    atoms = [a for alt in alts for a in alt.atoms]
    lens = [len(alt.atoms) for alt in alts]
    return CompiledPattern(
        classes=table,
        alt_first=np.asarray(np.cumsum([0, *lens])[:-1], dtype=np.int32),
        alt_len=np.asarray(lens, dtype=np.int32),
        look_kind=np.asarray([alt.look[0] for alt in alts], dtype=np.int32),
        look_mask=np.asarray(
            [_mask(alt.look[1], reps) if alt.look[1] else 0 for alt in alts], dtype=np.int64
        ),
        atom_mask=np.asarray([_mask(a.expr, reps) for a in atoms], dtype=np.int64),
        atom_lo=np.asarray([a.lo for a in atoms], dtype=np.int32),
        atom_hi=np.asarray([a.hi for a in atoms], dtype=np.int32),
        atom_mode=np.asarray([a.mode for a in atoms], dtype=np.int32),
        letter_mask=np.asarray([_mask(("prop", "L"), reps)], dtype=np.int64),
        space_mask=np.asarray([_mask(("prop", "s"), reps)], dtype=np.int64),
    )
