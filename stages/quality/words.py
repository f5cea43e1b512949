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
of a document are the concatenation of the tokenizations of its chunks. We tokenize each
*distinct* chunk once per process (a bounded memo), and English chunks made only of letters
(``str.isalpha``: no prefix, suffix, infix or URL rule can match them) need no spaCy call
unless they are a special case. What can still differ from a whole-document call is spaCy's
final special-case phrase match, which runs over the token sequence and may span two chunks;
a document where two neighbouring chunks end and start with a pair of tokens that occurs in
one of those phrases goes through spaCy whole, as before.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence

from datatrove.utils.word_tokenizers import SpaCyTokenizer, WordTokenizer, load_word_tokenizer
from spacy.symbols import ORTH

# Enough for one engine batch of every stage in a fused chain; words of a 4 kB document are
# about 30 kB of Python strings, so this bounds the cache at some tens of MB.
CACHE_DOCS = 2048

_cache: OrderedDict[tuple[str, str], list[str]] = OrderedDict()


def tokenizer_for(language: str) -> WordTokenizer:
    """datatrove's word tokenizer for ``language`` (loaded once per process by datatrove)."""
    return load_word_tokenizer(language)


def _spacy_words(tok: SpaCyTokenizer, texts: Sequence[str]) -> list[list[str]]:
    from spacy.attrs import IDX, LENGTH

    nlp_tokenizer = tok.tokenizer.tokenizer  # the blank pipeline's own Tokenizer
    out: list[list[str]] = []
    for text, doc in zip(texts, nlp_tokenizer.pipe(texts), strict=True):
        spans = doc.to_array([IDX, LENGTH]).tolist()
        # datatrove strips every token and drops the empty ones (whitespace tokens)
        words = [text[i : i + n].strip() for i, n in spans]
        out.append([w for w in words if w])
    return out


MEMO_CHUNKS = 1_000_000  # distinct chunks remembered per language (bounded memory)


class ChunkWords:
    """Words of texts from per-chunk spaCy tokenizations, memoized (see the module doc)."""

    def __init__(self, tok: SpaCyTokenizer) -> None:
        from spacy.tokenizer import Tokenizer

        self.nlp = tok.tokenizer  # the blank pipeline: its memory zones free new lexemes
        self.tokenizer = self.nlp.tokenizer
        self.letters_single = tok.language == "en"  # letters-only chunks are one token
        self.specials = set(self.tokenizer.rules or {})
        self.memo: dict[str, tuple[tuple[str, ...], bool]] = {}  # chunk -> (tokens, split)
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
        # token pairs inside the special cases the phrase matcher looks for (spaCy adds a
        # special case to it when affix rules or a space would split it)
        self.pairs: set[tuple[str, str]] = set()
        # the splits those special cases make: a chunk showing one may owe it to the matcher
        self.splits: dict[str, list[tuple[str, ...]]] = {}
        for key in self.specials:
            if t.find_prefix(key) or t.find_infix(key) or t.find_suffix(key) or " " in key:
                toks = [x.text for x in plain(key)]
                self.pairs.update(itertools.pairwise(toks))
                parts = tuple(d[ORTH] for d in t.rules[key])
                if len(parts) > 1:
                    self.splits.setdefault(parts[0], []).append(parts)
        self.firsts = {a for a, _ in self.pairs}
        from spacy.pipeline import Sentencizer

        self.punct_chars = set(tok.tokenizer.get_pipe("sentencizer").punct_chars or [])
        self.punct_chars = self.punct_chars or set(Sentencizer.default_punct_chars)

    def _shows_split(self, toks: tuple[str, ...]) -> bool:
        for i, tok in enumerate(toks):
            for parts in self.splits.get(tok, ()):
                if toks[i : i + len(parts)] == parts:
                    return True
        return False

    def _chunk(self, chunk: str) -> tuple[tuple[str, ...], bool]:
        hit = self.memo.get(chunk)
        if hit is None:
            if self.letters_single and chunk.isalpha() and chunk not in self.specials:
                hit = ((chunk,), False)
            else:
                with self.nlp.memory_zone():  # spaCy's vocabulary must not grow per chunk
                    toks = tuple(x.text for x in self.tokenizer(chunk))
                hit = (toks, self._shows_split(toks))
            if len(self.memo) >= MEMO_CHUNKS:
                self.memo.clear()
            self.memo[chunk] = hit
        return hit

    def words(self, text: str) -> list[str] | None:
        """The words of ``text`` (datatrove's), or None when spaCy must see it whole."""
        if "IS_ALPHA" in text:  # datatrove retries such texts without the string
            return None
        out: list[str] = []
        last = ""
        crossing = split = False
        for chunk in text.split():  # str.split and spaCy agree on whitespace (isspace)
            toks, shows_split = self._chunk(chunk)
            if last in self.firsts and (last, toks[0]) in self.pairs:
                crossing = True
            split = split or shows_split
            out.extend(toks)
            last = toks[-1]
        # a phrase match across chunks is a no-op unless it hides one inside a chunk
        return None if crossing and split else out

    def sentence_count(self, text: str) -> int | None:
        """Sentences spaCy's sentencizer finds in ``text`` (datatrove's
        ``split_into_sentences`` count), from the memoized chunk tokens; None: ask spaCy."""
        if "IS_ALPHA" in text:
            return None
        count, seen, end, last = 1, False, 0, ""
        crossing = split = False
        for m in _CHUNK.finditer(text):
            if end and text[end : m.start()] != " " and seen:
                count, seen = count + 1, False  # a whitespace token: not punctuation
            toks, shows_split = self._chunk(m.group())
            if last in self.firsts and (last, toks[0]) in self.pairs:
                crossing = True
            split = split or shows_split
            for tok in toks:
                in_chars = tok in self.punct_chars
                if seen and not in_chars and not _all_punct(tok):
                    count, seen = count + 1, False
                elif in_chars:
                    seen = True
            last, end = toks[-1], m.end()
        if end and end < len(text) and text[end:] != " " and seen:
            count += 1
        return None if crossing and split else count


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
                # datatrove works around texts that break spaCy (e.g. "IS_ALPHA"): use its path
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
