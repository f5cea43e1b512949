"""Word splitting for the quality stages, identical to datatrove's ``split_into_words``.

datatrove's rules count words from its per-language word tokenizer (spaCy's blank pipeline for
most languages). Its ``word_tokenize`` runs the whole blank pipeline (with a sentencizer) and
builds a spaCy ``Token`` object per word; we run the same spaCy tokenizer over the batch with
``Tokenizer.pipe`` and slice the words out of the text by their offsets, which gives the same
list of words in well under half the time. Tokenizers that are not spaCy-based fall back to
datatrove's own ``word_tokenize``.

A small per-process cache lets consecutive quality stages (fused into one task by the engine)
reuse the words of a batch instead of tokenizing it again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from datatrove.utils.word_tokenizers import SpaCyTokenizer, WordTokenizer, load_word_tokenizer

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
        pending = [texts[i] for i in todo]
        words: list[list[str]] | None = None
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
