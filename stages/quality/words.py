"""Word splitting for the quality stages, identical to datatrove's ``split_into_words``.

datatrove's rules count words from its per-language word tokenizer (spaCy's blank pipeline for
most languages). Its ``word_tokenize`` runs the whole blank pipeline (with a sentencizer) and
builds a spaCy ``Token`` object per word; we run the same spaCy tokenizer over the batch with
``Tokenizer.pipe`` and slice the words out of the text by their offsets, which gives the same
list of words in well under half the time. Tokenizers that are not spaCy-based fall back to
datatrove's own ``word_tokenize``.

A small per-process cache lets consecutive quality stages (fused into one task by the engine)
reuse the words of a batch instead of tokenizing it again.

Faster still, for spaCy's rule-based tokenizers (:class:`ChunkWords`): spaCy tokenizes every
whitespace-separated chunk of a text on its own (``Tokenizer._tokenize_affixes``), so the words
of a document are the concatenation of the tokenizations of its chunks, up to spaCy's final
special-case phrase matcher, which runs over the whole token sequence. We tokenize each
*distinct* chunk once per process (a bounded memo). When can the matcher act differently on the
whole text than on each chunk alone? Only through a match that spans two chunks: matches inside
different chunks never overlap, so spaCy keeps or drops each of them exactly as it does for the
chunk alone. A match across chunks (possible only where one plain space separates them, as any
other whitespace is a token of its own) changes nothing itself (its text holds the space, so no
special case applies), but it keeps any match that starts or ends inside it from applying, and
that matters only for a match that would have changed a chunk (then the chunk's tokens alone
differ from its tokens before the matcher). So a text goes through spaCy whole exactly when a
special-case pattern occurs across two chunks, on the tokens spaCy has before its matcher runs,
over a chunk the matcher changed (:meth:`ChunkWords.crossing`). The previous rule (a pair of
pattern tokens across two chunks and, anywhere, a chunk showing a split special case) missed
such texts: "[ :(x" is "[", ":", "(", "x" whole, "[", ":(", "x" chunk by chunk.
"""

from __future__ import annotations

import contextlib
import functools
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Sequence

from datatrove.utils.word_tokenizers import SpaCyTokenizer, WordTokenizer, load_word_tokenizer

from corpusforge.stages.no_torch import import_spacy_without_torch
from corpusforge.stages.quality.affix_search import candidate_finditer, tail_suffix_search

# Enough for one engine batch of every stage in a fused chain; words of a 4 kB document are
# about 30 kB of Python strings, so this bounds the cache at some tens of MB.
CACHE_DOCS = 2048

_cache: OrderedDict[tuple[str, str], list[str]] = OrderedDict()


def tokenizer_for(language: str) -> WordTokenizer:
    """datatrove's word tokenizer for ``language`` (loaded once per process by datatrove)."""
    import_spacy_without_torch()
    return load_word_tokenizer(language)


def _spacy_words(tok: SpaCyTokenizer, texts: Sequence[str]) -> list[list[str]]:
    from spacy.attrs import IDX, LENGTH

    nlp_tokenizer = tok.tokenizer.tokenizer  # the blank pipeline's own Tokenizer
    out: list[list[str]] = []
    # New lexemes are dropped when the zone closes, as datatrove's own calls drop them: kept,
    # every new word of a long run stayed in the vocabulary (~4,000 strings per 60 MB here).
    # Not around BREAKS_SPACY: a zone that saw it breaks the vocabulary for later calls.
    breaks = any(BREAKS_SPACY in t for t in texts)
    with contextlib.nullcontext() if breaks else tok.tokenizer.memory_zone():
        for text, doc in zip(texts, nlp_tokenizer.pipe(texts), strict=True):
            spans = doc.to_array([IDX, LENGTH]).tolist()
            # datatrove strips every token and drops the empty ones (whitespace tokens)
            words = [text[i : i + n].strip() for i, n in spans]
            out.append([w for w in words if w])
    return out


# spaCy's vocabulary fails on this string once a memory zone has seen it; datatrove retries a
# text holding it without the string, so such texts are never split chunk by chunk here
BREAKS_SPACY = "IS_ALPHA"

MEMO_CHUNKS = 1_000_000  # distinct chunks remembered per language (bounded memory)


class _Gate:
    """Turns a tokenizer's affix functions off while it loads its special cases (below)."""

    def __init__(self) -> None:
        self.on = False

    def wrap(self, fn: Callable | None, off: Callable) -> Callable | None:
        if fn is None:
            return None
        return lambda s: fn(s) if self.on else off(s)


def tokenizer_copies(tokenizer):  # -> tuple[Tokenizer, Tokenizer]
    """Two copies of a spaCy ``Tokenizer`` on a vocabulary without lexical attributes (new
    words then cost a fraction of the time; tokens are the same, as splitting never reads
    them) and with the faster equal affix searches of :mod:`.affix_search`: ``post`` tokenizes
    as the original does; ``pre`` gives the tokens the original has *before* its special-case
    phrase matcher runs.
    spaCy only adds a special case to that matcher when its affix functions split it;
    ``pre``'s are switched off while it loads its rules, so its matcher is empty, and on
    afterwards, so its affix loop is the original's."""
    from spacy.tokenizer import Tokenizer
    from spacy.vocab import Vocab

    t = tokenizer
    rules = t.rules or {}

    def copy(vocab, prefix, suffix, infix):
        return Tokenizer(
            vocab,
            rules=rules,
            prefix_search=prefix,
            suffix_search=suffix,
            infix_finditer=infix,
            token_match=t.token_match,
            url_match=t.url_match,
            faster_heuristics=t.faster_heuristics,
        )

    suffix = tail_suffix_search(t.suffix_search) or t.suffix_search
    infix = candidate_finditer(t.infix_finditer) or t.infix_finditer
    post = copy(Vocab(lex_attr_getters={}), t.prefix_search, suffix, infix)
    gate = _Gate()
    pre = copy(
        Vocab(lex_attr_getters={}),
        gate.wrap(t.prefix_search, lambda s: None),
        gate.wrap(suffix, lambda s: None),
        gate.wrap(infix, lambda s: iter(())),
    )
    gate.on = True
    return post, pre


def tokens_of(tokenizer, text: str) -> list[str]:
    """The token strings of ``text``, without keeping new lexemes in the vocabulary."""
    with tokenizer.vocab.memory_zone():
        return [x.text for x in tokenizer(text)]


class ChunkWords:
    """Words of texts from per-chunk spaCy tokenizations, memoized (see the module doc)."""

    def __init__(self, tok: SpaCyTokenizer) -> None:
        from spacy.symbols import ORTH
        from spacy.tokenizer import Tokenizer

        self.nlp = tok.tokenizer  # the blank pipeline: its memory zones free new lexemes
        self.tokenizer = self.nlp.tokenizer
        self.letters_single = tok.language == "en"  # letters-only chunks are one token
        self.specials = set(self.tokenizer.rules or {})
        self.post, self.pre = tokenizer_copies(self.tokenizer)
        # chunk -> (tokens, tokens before the matcher, must go to spaCy whole)
        self.memo: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]] = {}
        t = self.tokenizer
        plain = Tokenizer(
            t.vocab,
            rules={},
            prefix_search=t.prefix_search,
            suffix_search=t.suffix_search,
            infix_finditer=t.infix_finditer,
            token_match=t.token_match,
            url_match=t.url_match,
        )
        # the special cases spaCy's phrase matcher looks for (those its affix rules or a
        # space would split, as spaCy selects them), as token sequences of 2 or more
        self.patterns: dict[int, set[tuple[str, ...]]] = {}
        # first token -> the tokens of special cases whose pattern differs from their own
        # tokens: a match of one put those in place; a chunk showing none was not changed
        self.merged: dict[str, list[tuple[str, ...]]] = {}
        for key in self.specials:
            if t.find_prefix(key) or t.find_infix(key) or t.find_suffix(key) or " " in key:
                toks = tuple(x.text for x in plain(key))
                parts = tuple(d[ORTH] for d in t.rules[key])
                if len(toks) > 1:
                    self.patterns.setdefault(len(toks), set()).add(toks)
                if parts != toks:
                    self.merged.setdefault(parts[0], []).append(parts)
        self.pairs = {
            p[i : i + 2] for ps in self.patterns.values() for p in ps for i in range(len(p) - 1)
        }
        self.firsts = {a for a, _ in self.pairs}
        from spacy.pipeline import Sentencizer

        self.punct_chars = set(tok.tokenizer.get_pipe("sentencizer").punct_chars or [])
        self.punct_chars = self.punct_chars or set(Sentencizer.default_punct_chars)

    def shows_merge(self, toks: Sequence[str]) -> bool:
        """Whether the final tokens ``toks`` show the tokens of a special case the matcher
        puts in place of others (only then can the tokens before it differ)."""
        return any(
            tuple(toks[i : i + len(parts)]) == parts
            for i, tok in enumerate(toks)
            for parts in self.merged.get(tok, ())
        )

    def pre_tokens(self, chunk: str, toks: Sequence[str]) -> list[str]:
        """spaCy's tokens of ``chunk`` before its special-case matcher ran, given its final
        tokens ``toks``: the same unless they show a merge (then computed)."""
        return tokens_of(self.pre, chunk) if self.shows_merge(toks) else list(toks)

    def changed(self, chunk: str, toks: Sequence[str]) -> bool:
        """Whether spaCy's matcher changed the tokens of ``chunk`` alone."""
        return self.pre_tokens(chunk, toks) != list(toks)

    def _chunk(self, chunk: str) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
        """(final tokens, tokens before the matcher, whether spaCy must see the text
        whole) of ``chunk`` alone, memoized."""
        hit = self.memo.get(chunk)
        if hit is None:
            if BREAKS_SPACY in chunk:  # datatrove retries such texts without the string
                hit = ((chunk,), (chunk,), True)
            elif self.letters_single and chunk.isalpha() and chunk not in self.specials:
                hit = ((chunk,), (chunk,), False)
            else:
                toks = tuple(tokens_of(self.post, chunk))
                hit = (toks, tuple(self.pre_tokens(chunk, toks)), False)
            if len(self.memo) >= MEMO_CHUNKS:
                self.memo.clear()
            self.memo[chunk] = hit
        return hit

    def crossing(
        self, toks: Sequence[str], changed: Sequence[bool], seg: int, b: int, end: int
    ) -> bool:
        """Whether a special-case pattern matches ``toks[s:s + n]`` across position ``b``
        (seg <= s < b < s + n <= end: inside the run of single-space-joined chunks) over a
        token of a chunk the matcher changed alone (``changed``, per token): only then can
        that match, a no-op itself, keep a match inside the chunk from applying."""
        for n, pats in self.patterns.items():
            for s in range(max(seg, b - n + 1), min(b, end - n + 1)):
                if any(changed[s : s + n]) and tuple(toks[s : s + n]) in pats:
                    return True
        return False

    def _tokens(self, text: str) -> list[tuple[tuple[str, ...], int, int]] | None:
        """(tokens, start, end) of every chunk of ``text``; None when spaCy must see the
        text whole (see :meth:`crossing`, on the tokens before spaCy's matcher runs)."""
        out: list[tuple[tuple[str, ...], int, int]] = []
        pre: list[str] = []  # the text's tokens before the matcher
        changed: list[bool] = []  # per token of ``pre``: its chunk was changed by it
        seg = 0  # first token of the current run of single-space-joined chunks
        cands: list[tuple[int, int]] = []  # (run start, boundary) where a pair occurs
        ends: dict[int, int] = {}
        end = -2
        for m in _CHUNK.finditer(text):
            toks, before, whole = self._chunk(m.group())
            if whole:
                return None
            if m.start() == end + 1 and text[end] == " ":
                if pre[-1] in self.firsts and (pre[-1], before[0]) in self.pairs:
                    cands.append((seg, len(pre)))
            else:
                seg = len(pre)
            out.append((toks, m.start(), m.end()))
            pre.extend(before)
            changed.extend([before != toks] * len(before))
            ends[seg] = len(pre)
            end = m.end()
        if any(self.crossing(pre, changed, s, b, ends[s]) for s, b in cands):
            return None
        return out

    def words(self, text: str) -> list[str] | None:
        """The words of ``text`` (datatrove's), or None when spaCy must see it whole."""
        chunks = self._tokens(text)
        if chunks is None:
            return None
        return [w for toks, _, _ in chunks for w in toks]

    def sentence_count(self, text: str) -> int | None:
        """Sentences spaCy's sentencizer finds in ``text`` (datatrove's
        ``split_into_sentences`` count), from the memoized chunk tokens; None: ask spaCy."""
        chunks = self._tokens(text)
        if chunks is None:
            return None
        count, seen, end = 1, False, 0
        for toks, start, stop in chunks:
            if end and text[end:start] != " " and seen:
                count, seen = count + 1, False  # a whitespace token: not punctuation
            for tok in toks:
                in_chars = tok in self.punct_chars
                if seen and not in_chars and not _all_punct(tok):
                    count, seen = count + 1, False
                elif in_chars:
                    seen = True
            end = stop
        if end and end < len(text) and text[end:] != " " and seen:
            count += 1
        return count


_CHUNK = re.compile(r"\S+")  # \s is str.isspace, as in spaCy's whitespace split


@functools.lru_cache(maxsize=65536)
def _all_punct(token: str) -> bool:
    """spaCy's ``is_punct`` lexeme attribute."""
    return all(unicodedata.category(c).startswith("P") for c in token)


_chunk_words: dict[str, ChunkWords | None] = {}


def chunk_words_for(language: str) -> ChunkWords | None:
    """The memoized chunk tokenizer of ``language`` (None where it does not apply)."""
    if language not in _chunk_words:
        tok = tokenizer_for(language)
        ok = _can_use_spacy_fast_path(tok)
        if ok:
            from spacy.tokenizer import Tokenizer

            ok = type(tok.tokenizer.tokenizer) is Tokenizer  # rule-based, no segmenter
        _chunk_words[language] = ChunkWords(tok) if ok else None  # type: ignore[arg-type]
    return _chunk_words[language]


def _can_use_spacy_fast_path(tok: WordTokenizer) -> bool:
    # Japanese chunks long texts by bytes before tokenizing: keep datatrove's path for it
    return type(tok) is SpaCyTokenizer and tok.language != "ja"


def split_words(texts: Sequence[str], language: str = "en") -> list[list[str]]:
    """Words of each text, exactly as ``datatrove.utils.text.split_into_words`` gives them."""
    result: list[list[str] | None] = [None] * len(texts)
    todo: list[int] = []
    for i, text in enumerate(texts):
        hit = _cache.get((language, text))
        if hit is not None:
            result[i] = hit
        else:
            todo.append(i)
    if todo:
        tok = tokenizer_for(language)
        chunked = chunk_words_for(language)
        if chunked is not None:
            whole: list[int] = []
            for i in todo:
                w = chunked.words(texts[i])
                if w is None:
                    whole.append(i)
                else:
                    result[i] = w
                    _remember((language, texts[i]), w)
            todo = whole
        pending = [texts[i] for i in todo]
        words: list[list[str]] | None = None
        if not todo:
            return result  # type: ignore[return-value]
        if _can_use_spacy_fast_path(tok):
            try:
                words = _spacy_words(tok, pending)  # type: ignore[arg-type]
            except Exception:
                # datatrove works around texts that break spaCy (BREAKS_SPACY): use its path
                words = None
        if words is None:
            words = [tok.word_tokenize(t) for t in pending]
        for i, w in zip(todo, words, strict=True):
            result[i] = w
            _remember((language, texts[i]), w)
    return result  # type: ignore[return-value]


def _remember(key: tuple[str, str], words: list[str]) -> None:
    if CACHE_DOCS <= 0:
        return
    _cache[key] = words
    while len(_cache) > CACHE_DOCS:
        _cache.popitem(last=False)


def clear_cache() -> None:
    _cache.clear()
