"""Quality stages and their word splitting give datatrove's answers on a large generated corpus.

The corpus is generated here: English-like prose, other scripts, contractions and special
cases of spaCy's English tokenizer (``He's``, ``10a.m.``, emoticons, also split by spaces so
that the special-case phrase matcher sees them across chunks), odd Unicode (combining marks,
ZWJ sequences, bidi controls, private use, unassigned code points), every whitespace
character, repeated lines and n-grams, empty and huge documents.
"""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest
from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.utils.text import split_into_words

from corpusforge.stages.quality import words as quality_words
from corpusforge.stages.quality.affix_search import tail_suffix_search
from corpusforge.stages.quality.c4 import C4Quality
from corpusforge.stages.quality.fineweb import FineWebQuality
from corpusforge.stages.quality.gopher import GopherQuality, GopherRepetition

WORDS = (
    "the of and to in is that it was for on are with as his they be at one have this from "
    "water under market river during people history system between government number"
).split()
SPECIAL = [
    "He's", "It\u2019s", "10a.m.", "3p.m.", ":)", ": )", ":-)", "(:", "( :", "' '", "''", "'s",
    "don't", "Mr.", "U.S.", "e.g.", "(*_*)", "<3", "> <", "→", "can't", "gonna",
    "'em", "o.O", "D.C.", "(╯°□°\uff09╯︵┻━┻", "^_^", "=)", "x'", "-_-",
]  # fmt: skip
SCRIPTS = [
    "Grüße aus Köln, naïve café déjà vu.",
    "日本語のテキストと漢字かな交じり文。",
    "Ελληνικά κείμενα και ΚΕΦΑΛΑΙΑ.",
    "русский текст, ЗАГЛАВНЫЕ буквы!",
    "نص عربي مع أرقام ١٢٣",
    "हिन्दी पाठ और संख्याएँ ४५६",
    "ਪੰਜਾਬੀ ਵਿੱਚ ਲਿਖਿਆ। தமிழ் எழுத்து.",
    "한국어 텍스트 입니다... ไทยภาษา",
    "emoji 🙂👍🏽 👨\u200d👩\u200d👧 flags 🇫🇷 e\u0301 a\u0308",
    "bidi \u202eevil\u202c zero\u200bwidth \ufeffbom \ue000\U000f0001 \U00032c42 \x00\x07",
    "https://example.com/a?b=1 mail@example.org 192.168.0.1 v1.2.3 $5 10km 3.5%",
    "word-with-hyphens and—dashes, (brackets) [x] {curly} “quotes” «guillemets» …",
    "• bullet line\n- dash line\n# heading ### ...",
]
SPACES = [" ", "  ", "\t", "\n", "\n\n", "\r\n", "\u3000", "\xa0", "\u2028", "\x0b", "\x1c", " \n "]


def _line(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 25)):
        k = rng.random()
        if k < 0.6:
            parts.append(rng.choice(WORDS))
        elif k < 0.64:
            parts.append(rng.choice(SPECIAL))
        elif k < 0.8:
            parts.append(rng.choice(SCRIPTS))
        else:
            parts.append(rng.choice(WORDS) + rng.choice(".,;:!?)'\"…"))
    return " ".join(parts) + rng.choice(["", ".", "!", "?", "...", ":"])


def _doc(rng: random.Random) -> str:
    lines = [_line(rng) for _ in range(rng.randint(1, 30))]
    if rng.random() < 0.3:  # repeated lines and paragraphs
        lines += rng.sample(lines, k=min(len(lines), rng.randint(1, 5)))
    out = []
    for line in lines:
        out.append(line)
        out.append(rng.choice(SPACES) if rng.random() < 0.3 else "\n")
    return "".join(out)


def generated_corpus(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    docs = [_doc(rng) for _ in range(n)]
    huge = " ".join(rng.choice(WORDS) for _ in range(60_000)) + ". " + _doc(rng) * 20
    return [*docs, "", " ", "\n\n\n", "...", "an IS_ALPHA text", huge]


CORPUS = generated_corpus(seed=14, n=400)


def test_word_splitting_matches_datatrove_document_for_document() -> None:
    quality_words.clear_cache()
    ours = quality_words.split_words(CORPUS, "en")
    assert ours == [split_into_words(t, "en") for t in CORPUS]
    # the memoized chunk path did most of the work (some documents go to spaCy whole)
    chunked = quality_words.chunk_words_for("en")
    assert chunked is not None and len(chunked.memo) > 100
    assert sum(chunked.words(t) is not None for t in CORPUS) > len(CORPUS) // 2


def test_documents_spacy_splits_whole_leave_no_lexemes_behind() -> None:
    """Documents the kernels cannot split go to spaCy whole: its vocabulary must not keep
    their new words (a long run's worker grew by every one), and the words stay datatrove's."""
    tok = quality_words.tokenizer_for("en")
    vocab = tok.tokenizer.vocab
    texts = [" ".join(f"zq{i}w{j}, (x{j})" for j in range(200)) for i in range(20)]
    lexemes, strings = len(list(vocab)), len(vocab.strings)  # len(vocab) counts dropped ones
    ours = quality_words._spacy_words(tok, texts)
    assert (len(list(vocab)), len(vocab.strings)) == (lexemes, strings)
    assert ours == [split_into_words(t, "en") for t in texts]


def test_chunk_path_refuses_cross_chunk_phrase_matches() -> None:
    chunked = quality_words.chunk_words_for("en")
    assert chunked is not None
    # ":" ")" across two chunks is a no-op match of ":)": nothing for it to block
    text = "He's here : ) and there"
    assert chunked.words(text) == split_into_words(text, "en")
    # "[" ":" across two chunks matches "[:" and keeps spaCy from merging ":" "(" in ":(x"
    text = "a [ :(x b"
    assert chunked.words(text) is None  # spaCy sees this document whole
    assert quality_words.split_words([text], "en") == [split_into_words(text, "en")]
    assert split_into_words(text, "en") != [w for c in text.split() for w in chunked._chunk(c)[0]]


# token-like pieces of spaCy's English special cases, glued into chunks at random: emoticons,
# abbreviations, contractions, so that special-case patterns meet across and inside chunks
PIECES = [
    ":", "-", ")", "(", "Mr", ".", "x", "it", "'s", "\u2019s", "o", "O", "8", "D", ";", "=",
    "]", "[", "a", "m", "10", "*", "_", "<", "3", "/", "e.g", "'", "\u2019", "Co", "p",
]  # fmt: skip


def adversarial_texts(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        chunks = ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 3))) for _ in range(6)]
        out.append(" ".join(chunks))
    return out


def test_chunk_words_and_sentences_exact_where_patterns_meet() -> None:
    """Texts built to put special-case patterns across chunk boundaries: the chunk path's
    words and sentence counts equal spaCy's on the whole text, or it declines."""
    from datatrove.utils.text import split_into_sentences

    chunked = quality_words.chunk_words_for("en")
    assert chunked is not None
    texts = adversarial_texts(seed=3, n=3000)
    declined = 0
    for text in texts:
        words = chunked.words(text)
        if words is None:
            declined += 1
            continue
        assert words == split_into_words(text, "en"), text
        assert chunked.sentence_count(text) == len(split_into_sentences(text, "en")), text
    # it declines where it must (blocked merges exist in this set), and only rarely
    assert 0 < declined < len(texts) // 20


@pytest.mark.parametrize(
    ("stage_cls", "filter_cls"),
    [
        (GopherRepetition, GopherRepetitionFilter),
        (GopherQuality, GopherQualityFilter),
        (C4Quality, C4QualityFilter),
        (FineWebQuality, FineWebQualityFilter),
    ],
)
def test_decisions_match_datatrove_on_generated_corpus(stage_cls, filter_cls) -> None:
    quality_words.clear_cache()
    table = pa.table({"id": [str(i) for i in range(len(CORPUS))], "text": CORPUS})
    out = stage_cls()(table)
    ours = out["_reason"].to_pylist() if "_reason" in out.column_names else [None] * len(CORPUS)
    filt = filter_cls()
    theirs, texts = [], []
    for i, text in enumerate(CORPUS):
        doc = Document(text=text, id=str(i))
        res = filt.filter(doc)
        keep, reason = res if isinstance(res, tuple) else (res, None)
        theirs.append(None if keep else reason)
        texts.append(doc.text)
    assert ours == theirs
    assert out["text"].to_pylist() == texts


# ---------------------------------------------------------------- compiled kernels (issue 14)

# chunk shapes at the edges of the kernels' plain-chunk grammar (stages/quality/wordkernel.py)
EDGE = [
    "U.S.A.", "ABC.", "McD.", "J.", "x-ray", "naïve-café", "(word)", "«word»,", "3645.72",
    "£5", "employer-", "ਪੇਪਰ-ਵੇਟ,", "word...", "word..", "word):", "):", ":-)", "(Mr.", "mr.",
    "AB-CD.", "end.)", "\"quoted\".", "„Štai,", "कर्मचारी।", "ΚΕΦΑΛΑΙΑ.", "ЗАГЛАВНЫЕ.", "ca.",
    "1990s", "10km", "a,b", "1-2", "v1.2", "#tag", "...", "…", "word…", "Zürich-Nord)",
    "e\u0301.", "\u0301start", "ǅ.", "ᾈ.", "ⅷ.", "Ⓐ", "ﬁne.", "İstanbul.", "ǈǈ.",
    # numbers, currencies, apostrophes, dashes, units, infixes (the grammar's newer shapes)
    "0.1", "$629.04", "€5,000.", "-974.829", "2-5", "2017-03-25", "3\u201327", "1:26am.", "84%",
    "92.8%,", "0x8783", "0x9fba", "84th", "10km", "5G", "GD2", "m2", "1990's", "90-luvun",
    "77-year-old", "HR-48350", "nowe-4", "tetanus-", "-ci", "company\u2019s", "Lamb's", "iba't",
    "boys'", "it's,", "We\u2019ll", "decisive--that", "a—b", "a---b", "und/oder", "twyfel,vrae",
    "мінез-құлықты", "“quoted”", "word...)", "aku..", 'funny."', "Z.B.", "Follower):",
    "(see):", "१९९०", "է\u0589", "a\u200cb", "USD$5", "US$5", "#tag", "&amp;", "*Sin", "_x_",
    "150km/h", "5m/s.", "10-km", "3kmh", "mp3s", "1x2y",
]  # fmt: skip


def _kernel_doc(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(1, 20)):
        parts = [rng.choice(EDGE) if rng.random() < 0.3 else rng.choice(WORDS) for _ in range(12)]
        lines.append(" ".join(parts) + rng.choice(["", ".", "...", "…", " -", ":"]))
    return rng.choice(["\n", "\n\n", "\r\n", "\u2028"]).join(lines)


def kernel_corpus(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    docs = [_kernel_doc(rng) if i % 2 else _doc(rng) for i in range(n)]
    return [*docs, "", "\n", "•", "- a\n- b", "# # #", ("same line here.\n" * 50)]


KERNEL_CORPUS = kernel_corpus(seed=15, n=600)


def test_kernel_words_match_datatrove() -> None:
    from corpusforge.stages.quality import batchwords

    corpus = KERNEL_CORPUS + CORPUS + adversarial_texts(seed=4, n=500)
    bw = batchwords.batch_words(pa.array(corpus), "en")
    assert bw is not None
    assert bw.ok.sum() > 0.5 * len(corpus)  # the kernels split most documents themselves
    for d in np.flatnonzero(bw.ok).tolist():
        spans = range(bw.doc_off[d], bw.doc_off[d + 1])
        ours = [bw.data[bw.ws[w] : bw.we[w]].tobytes().decode() for w in spans]
        assert ours == split_into_words(corpus[d], "en"), d


@pytest.mark.parametrize(
    ("stage_cls", "filter_cls"),
    [
        (GopherRepetition, GopherRepetitionFilter),
        (GopherQuality, GopherQualityFilter),
        (FineWebQuality, FineWebQualityFilter),
    ],
)
def test_kernel_decisions_match_datatrove(stage_cls, filter_cls) -> None:
    table = pa.table({"id": [str(i) for i in range(len(KERNEL_CORPUS))], "text": KERNEL_CORPUS})
    out = stage_cls()(table)
    ours = out["_reason"].to_pylist() if "_reason" in out.column_names else [None] * len(table)
    filt = filter_cls()
    theirs = []
    for i, text in enumerate(KERNEL_CORPUS):
        res = filt.filter(Document(text=text, id=str(i)))
        keep, reason = res if isinstance(res, tuple) else (res, None)
        theirs.append(None if keep else reason)
    assert ours == theirs


def test_chained_stages_share_words_without_changing_signals() -> None:
    """The word split of a batch is reused by the next stage on the same batch (same Arrow
    buffers); every signal and reason equals each stage's own run with nothing kept."""
    from corpusforge.stages.quality import batchwords

    texts = KERNEL_CORPUS[:200]
    table = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
    stages = [GopherRepetition(), GopherQuality(), FineWebQuality()]
    chained = table
    for stage in stages:
        chained = stage(chained)
    alone = table
    for stage in stages:
        batchwords._LAST.clear()
        alone = stage(alone)
    assert chained.equals(alone)
    other = pa.table({"id": ["0"], "text": [texts[1] + " more words"]})
    batchwords._LAST.clear()
    expect = GopherQuality()(other)
    GopherQuality()(table)  # a different batch in the cache
    assert GopherQuality()(other).equals(expect)


# ---------------------------------------------------------------- the compiled C4 rules

C4_LINES = [
    "A plain sentence that ends well. And a second one here!",
    "No terminal punctuation here",
    "Ends with an ellipsis...",
    "Two words.",
    'Quoted end of a sentence with four words"',
    "Cited claim with enough words [1]",  # cut to "... words " (no longer terminal)
    "Cited claim with enough words.[12]",
    "[edit] A heading that was edited, and more words.",
    "Needs [citation needed] a source for these words.",
    "Eastern digits in a mark [\u0663\u0664] still count as one.",
    "Not a mark [x] stays in the line with words.",
    "Enable JavaScript to see the comments on this page.",
    "JAVASCRIPT shouted in capitals on this line.",
    "Read the privacy policy before you continue.",
    "This site uses cookies to improve your visit.",
    "The COO\u212aIE POLICY (a KELVIN SIGN for the K) applies here.",
    "Terms\u00a0of use are not matched across a no-break space.",
    "\u0130psum lorem is not lorem ipsum, even lower-cased.",
    # other non-ASCII characters are barriers: keywords next to them count, across them not
    "\u00dcbersicht: javascript erforderlich f\u00fcr diese Seite.",
    "Java\u00e9script is not the word, but Cookie policy is.",
    "\u0130stanbul pages list their privacy policy too.",
    "Datenschutzerkl\u00e4rung (PRIVACY POLICY) \u2014 gilt.",
    "Lorem ipsum dolor sit amet, consectetur adipiscing.",
    "The function returns {value} to its caller.",
    "x" * 1100 + " is a very long word.",
    "   Leading and trailing spaces are stripped.   ",
    "Mr. Smith went to Washington. He came back?  Yes!\tReally.",
    # a whitespace token after a sentence mark starts a sentence even if only marks follow
    'A closing quote after a tab and words.\t"',
    "It stops here, with two spaces.  '",
    "Numbers like 3.5 and 2,000 and e.g. abbreviations confuse nobody. Right.",
    "",
    "\u3002\u3002 Ideographic marks\u3002 count too\uff01",
]
C4_BREAKS = ["\n", "\r\n", "\n\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028"]


def c4_corpus(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        lines = [rng.choice(C4_LINES) for _ in range(rng.randint(1, 14))]
        docs.append("".join(line + rng.choice(C4_BREAKS) for line in lines).rstrip("\n"))
    return [*docs, "", "\n", "\n\n\n", "   ", "Only one line without an end"]


C4_CORPUS = c4_corpus(seed=16, n=500)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"filter_no_terminal_punct": False},
        {"remove_citations": False, "min_words_per_line": -1, "max_word_length": -1},
        {"min_num_sentences": -1, "filter_javascript": False, "filter_policy": False},
        {"filter_lorem_ipsum": False, "filter_curly_bracket": False, "min_num_sentences": 3},
    ],
)
def test_c4_kernel_matches_datatrove_and_python_path(kwargs: dict) -> None:
    """The compiled C4 rules: reasons and rewritten texts equal datatrove's, every signal
    equals the per-document Python path's (which the kernel hands some documents to)."""
    from corpusforge.stages.quality.c4 import _SIGNALS, c4_scan

    corpus = C4_CORPUS + KERNEL_CORPUS[:100] + CORPUS[:100]
    stage = C4Quality(**kwargs)
    out = stage(pa.table({"id": [str(i) for i in range(len(corpus))], "text": corpus}))
    ours = out["_reason"].to_pylist() if "_reason" in out.column_names else [None] * len(corpus)
    filt = C4QualityFilter(**kwargs)
    for i, text in enumerate(corpus):
        doc = Document(text=text, id=str(i))
        res = filt.filter(doc)
        keep, reason = res if isinstance(res, tuple) else (res, None)
        assert ours[i] == (None if keep else reason), i
        assert out["text"][i].as_py() == doc.text, i
        row, _, _ = c4_scan(stage.params, text, True)
        assert [out[k][i].as_py() for k in _SIGNALS] == [row[k] for k in _SIGNALS], i


def test_c4_keyword_lowering_covers_unicode() -> None:
    """The kernel lower-cases ASCII letters, U+212A and U+0130 only: no other code point
    lower-cases to anything ASCII, so no other one can be part of a keyword."""
    import sys

    from datatrove.pipeline.filters.c4_filters import POLICY_SUBSTRINGS

    from corpusforge.stages.quality.c4kernel import KEYWORDS

    assert set(KEYWORDS) == {"lorem ipsum", "javascript", *POLICY_SUBSTRINGS}
    to_ascii = [
        cp for cp in range(0x80, sys.maxunicode + 1) if any(ord(c) < 0x80 for c in chr(cp).lower())
    ]
    assert to_ascii == [0x130, 0x212A]
    assert chr(0x130).lower() == "i\u0307" and chr(0x212A).lower() == "k"


def test_repetition_kernel_equal_strings_with_other_words() -> None:
    """ ""-joined n-grams are equal as strings: "x1 y z w v" and "x 1y z w v" are the same
    5-gram though their words differ. The kernel confirms such hash matches by characters
    (a repeat) and gives the Python path's signals; a document is not left to Python."""
    from corpusforge.stages.quality.common import SignalArrays
    from corpusforge.stages.quality.gopher import (
        GopherRepetitionParams,
        compiled_repetition_signals,
        gopher_repetition_signals,
    )

    rng = random.Random(17)
    docs = []
    for _ in range(40):
        filler = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40)))
        a, b = rng.sample(["x1 y", "x 1y", "ab cd", "abc d", "a bcd"], 2)
        tail = " z w v u t s r q"
        docs.append(f"{a}{tail} {filler} {b}{tail} {filler}. {a}{tail}")
    p = GopherRepetitionParams()
    names = GopherRepetition().signal_names()
    sig = SignalArrays(len(docs), dict.fromkeys(names, pa.float64()))
    empty = np.zeros(len(docs), np.bool_)
    left = compiled_repetition_signals(p, pa.chunked_array([pa.array(docs)]), sig, empty)
    assert left == []  # no document left to the Python path
    for d, doc in enumerate(docs):
        expect = gopher_repetition_signals(p, doc, split_into_words(doc, "en"))
        assert {k: sig.values[k][d].item() for k in names} == expect, doc
    assert (sig.values["gopher_rep_dup_5_gram_frac"] > 0).any()


def _repetitive_doc(rng: random.Random) -> str:
    """Few distinct words, so n-grams repeat and tie: the most frequent 3- and 4-grams are
    counted only where the (n-1)-gram repeats (stages/quality/repkernel.py)."""
    vocab = rng.sample(WORDS, rng.randint(1, 6))
    kind = rng.random()
    if kind < 0.3:  # every word distinct: no n-gram repeats, the first one wins
        words = rng.sample(WORDS, min(len(WORDS), rng.randint(1, 30)))
    elif kind < 0.6:  # a phrase repeated with noise between
        phrase = [rng.choice(vocab) for _ in range(rng.randint(2, 6))]
        words = []
        for _ in range(rng.randint(1, 8)):
            words += phrase + [rng.choice(WORDS) for _ in range(rng.randint(0, 3))]
    else:
        words = [rng.choice(vocab) for _ in range(rng.randint(1, 200))]
    lines = [" ".join(words[i : i + 9]) for i in range(0, len(words), 9)]
    if rng.random() < 0.2:  # the same line or paragraph again, to the last one
        lines = lines[:1] * rng.randint(2, 4)
    # paragraphs split the stripped text: newline runs and spaces at either end too
    ends = ["", "", "\n", "\n\n", " \n\n ", "\t\n", "\n\n\n"]
    text = rng.choice(["\n", "\n\n", "\n\n\n", " \n\n", "\n \n"]).join(lines)
    return rng.choice(ends) + text + rng.choice(ends)


@pytest.mark.parametrize(
    "top_n_grams",
    [((2, 0.2), (3, 0.18), (4, 0.16)), ((2, 0.2), (4, 0.16)), ((4, 0.16), (3, 0.18), (2, 0.2)),
     ((3, 0.18), (4, 0.16), (5, 0.1))],
)  # fmt: skip
def test_repetition_kernel_signals_equal_python_path(top_n_grams) -> None:
    """Every signal of the compiled repetition kernel equals the per-document Python path's
    (datatrove's definitions) on repetitive documents with many ties, consecutive and other
    n-gram sizes."""
    from corpusforge.stages.quality.common import SignalArrays
    from corpusforge.stages.quality.gopher import (
        GopherRepetitionParams,
        compiled_repetition_signals,
        gopher_repetition_signals,
    )

    rng = random.Random(23)
    docs = [_repetitive_doc(rng) for _ in range(300)] + KERNEL_CORPUS[:100]
    p = GopherRepetitionParams(top_n_grams=top_n_grams)
    names = GopherRepetition({"top_n_grams": top_n_grams}).signal_names()
    sig = SignalArrays(len(docs), dict.fromkeys(names, pa.float64()))
    empty = np.zeros(len(docs), np.bool_)
    left = compiled_repetition_signals(p, pa.chunked_array([pa.array(docs)]), sig, empty)
    checked = 0
    for d, doc in enumerate(docs):
        if d in left:
            continue
        expect = gopher_repetition_signals(p, doc, split_into_words(doc, "en"))
        got = {k: (sig.values[k][d].item() if sig.valid[k][d] else None) for k in names}
        assert got == expect, doc
        checked += 1
    assert checked > 350


def _resplit_doc(rng: random.Random) -> str:
    """The same strings cut into words at other places, among other words: ""-joined
    n-grams equal across different word boundaries, short (one-letter words, under the
    kernel's KEY_BYTES) and long ones side by side, multi-byte letters among them."""
    alphabet = rng.choice(["ab", "abc", "aé", "xy1"])
    bases = ["".join(rng.choice(alphabet) for _ in range(rng.randint(5, 60)))
             for _ in range(rng.randint(1, 3))]  # fmt: skip
    words: list[str] = []
    for _ in range(rng.randint(2, 8)):
        base = rng.choice(bases)
        cuts = sorted(rng.sample(range(1, len(base)), rng.randint(1, min(12, len(base) - 1))))
        words += [base[i:j] for i, j in zip([0, *cuts], [*cuts, len(base)], strict=True)]
        words += rng.choices([*WORDS, *alphabet], k=rng.randint(0, 4))
    return " ".join(words)


def test_repetition_kernel_joined_ngrams_across_word_boundaries() -> None:
    """The kernel's repeated ""-joined n-gram signals (it visits only the positions whose
    first joined bytes repeat) equal the Python path's where equal n-grams have different
    words, are shorter and longer than the bytes it keys positions by, and for n-gram sizes
    from 1 up."""
    from corpusforge.stages.quality.common import SignalArrays
    from corpusforge.stages.quality.gopher import (
        GopherRepetitionParams,
        compiled_repetition_signals,
        gopher_repetition_signals,
    )

    rng = random.Random(29)
    docs = [_resplit_doc(rng) for _ in range(400)]
    for dup_n_grams in (((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.1)),
                        ((1, 0.1), (3, 0.1), (12, 0.1))):  # fmt: skip
        p = GopherRepetitionParams(dup_n_grams=dup_n_grams)
        names = GopherRepetition({"dup_n_grams": dup_n_grams}).signal_names()
        sig = SignalArrays(len(docs), dict.fromkeys(names, pa.float64()))
        empty = np.zeros(len(docs), np.bool_)
        left = compiled_repetition_signals(p, pa.chunked_array([pa.array(docs)]), sig, empty)
        assert left == []
        for d, doc in enumerate(docs):
            expect = gopher_repetition_signals(p, doc, split_into_words(doc, "en"))
            assert {k: sig.values[k][d].item() for k in names} == expect, doc
        first = f"gopher_rep_dup_{dup_n_grams[0][0]}_gram_frac"
        assert (sig.values[first] > 0).mean() > 0.25


def test_tail_suffix_search_equals_spacy_suffix_search() -> None:
    """The windowed suffix search the chunk memo's tokenizer uses finds the match length
    spaCy's own search finds, on every substring of generated text (long dot runs, units
    after numbers, quotes, emoticons ...)."""
    chunked = quality_words.chunk_words_for("en")
    assert chunked is not None
    search = chunked.tokenizer.suffix_search
    fast = tail_suffix_search(search)
    assert fast is not None
    from corpusforge.stages.quality.affix_search import _last_chars

    ends = _last_chars(search.__self__)  # strings ending otherwise are answered at once
    assert ends is not None and "s" in ends and "x" not in ends
    from spacy.lang.char_classes import UNITS

    units = ["1" + u for u in UNITS.split("|")]  # up to five characters after a digit
    pieces = [*EDGE, *SPECIAL, *units, "......", "US$", "5C$", "°C.", "…", "''", '"', ")."]
    tails = generated_tails(18, pieces)
    for sub in tails:
        a, b = search(sub), fast(sub)
        assert (a and a.end() - a.start()) == (b and b.end() - b.start()), sub
    assert len(tails) > 10_000


def generated_tails(seed: int, pieces: list[str]) -> list[str]:
    """Every suffix of the test corpora's chunks and of 3,000 random joins of ``pieces``."""
    rng = random.Random(seed)
    strings = [c for t in CORPUS[:50] + KERNEL_CORPUS[:50] for c in t.split()]
    strings += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 4))) for _ in range(3000)]
    return [s[i:] for s in strings for i in range(len(s))]


def test_kernel_words_exact_when_the_memo_starts_over(monkeypatch) -> None:
    """A memo far too small for the batch starts over again and again while it learns (a
    chunk learnt in one round may be gone in the next): every document the kernel still
    splits has datatrove's words, the others are left to the Python path."""
    from corpusforge.stages.dedup.kernels import utf8_buffers
    from corpusforge.stages.quality import batchwords

    monkeypatch.setattr(batchwords, "MEMO_SLOTS", 256)
    chunked = quality_words.chunk_words_for("en")
    assert chunked is not None
    scanner = batchwords.Scanner(chunked)
    resets = batchwords.COUNTS["memo_resets"]
    ok_docs = 0
    for lo in range(0, len(KERNEL_CORPUS), 40):  # batches of 40 documents
        corpus = KERNEL_CORPUS[lo : lo + 40]
        data, offsets = utf8_buffers(pa.array(corpus))
        status, doc_off, ws, we = scanner.scan(data, offsets)
        for d in np.flatnonzero(status == 0).tolist():
            spans = range(doc_off[d], doc_off[d + 1])
            words = [data[ws[w] : we[w]].tobytes().decode() for w in spans]
            assert words == split_into_words(corpus[d], "en"), d
            ok_docs += 1
    assert batchwords.COUNTS["memo_resets"] > resets + 2
    assert ok_docs > len(KERNEL_CORPUS) // 2


def test_char_flags_from_the_machine_cache_equal_learnt_ones(tmp_path, monkeypatch) -> None:
    """The character table built once per machine holds, for every code point it covers,
    exactly the flags learnt when a character is met; a second table loads it instead of
    probing spaCy; a cache folder that cannot be written leaves every code point to be learnt.
    """
    from corpusforge.stages.quality import charclass
    from corpusforge.stages.quality.words import chunk_words_for

    chunked = chunk_words_for("en")
    assert chunked is not None
    rng = random.Random(5)
    sample = sorted({*rng.sample(charclass.assigned_code_points(), 1500), 45, 46, 0x2014})
    monkeypatch.setattr(charclass, "assigned_code_points", lambda: sample)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def table() -> charclass.CharTable:
        return charclass.CharTable(chunked.tokenizer, chunked.punct_chars)

    built = table()
    files = list((tmp_path / "corpusforge").glob("quality_char_flags_*.npy"))
    assert [f.name for f in files] == [f"quality_char_flags_{built.fingerprint()}.npy"]
    learnt = charclass.CharTable(chunked.tokenizer, chunked.punct_chars, cached=False)
    learnt.learn(sample)
    assert np.array_equal(built.table, learnt.table)
    assert built.table[sample].all() and not built.table[0xE000]  # private use: learnt later

    calls: list[int] = []
    monkeypatch.setattr(charclass.CharTable, "_flags", lambda self, cp: calls.append(cp) or 0)
    assert np.array_equal(table().table, learnt.table) and calls == []  # loaded, not probed

    other = charclass.CharTable(chunked.tokenizer, set(chunked.punct_chars) | {"~"}, cached=False)
    assert other.fingerprint() != built.fingerprint()

    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # corpusforge/ cannot be made here
    assert not table().table.any()


def test_kernel_words_learn_unlisted_characters_between_rounds() -> None:
    """Characters outside the machine's table (private use, unassigned) are learnt when a
    round meets them and their documents scanned again, with chunks spaCy must tokenize in
    the same documents (a third round): the words equal datatrove's and the kernels keep
    those documents."""
    from corpusforge.stages.quality import batchwords

    rng = random.Random(9)
    odd = ["\ue000", "\U000f0001", "\u0378", "x\ue001y", "(\ue002)", "\U0010fffd."]
    spacy_only = ["k44=9&e7=3c", "varchar(28)", "$~~@^", "Toast.makeText(ctx,"]
    docs = []
    for i in range(60):
        parts = [rng.choice(WORDS) for _ in range(30)]
        for _ in range(3):
            parts.insert(rng.randrange(len(parts)), rng.choice(odd))
        if i % 2:
            parts.insert(rng.randrange(len(parts)), f"{rng.choice(spacy_only)}{i}")
        docs.append(" ".join(parts) + ".")
    batchwords.scanner_for.cache_clear()
    batchwords._LAST.clear()
    try:
        bw = batchwords.batch_words(pa.array(docs), "en")
        assert bw is not None and bw.ok.all()
        for d, doc in enumerate(docs):
            spans = range(bw.doc_off[d], bw.doc_off[d + 1])
            ours = [bw.data[bw.ws[w] : bw.we[w]].tobytes().decode() for w in spans]
            assert ours == split_into_words(doc, "en"), doc
    finally:
        batchwords.scanner_for.cache_clear()
        batchwords._LAST.clear()


# chunks spaCy alone tokenizes (memo only), with the matcher's special cases and their parts
GAP_PIECES = [
    "k44=9&e7=3c", "varchar(28)", "$~~@^", "#<&%#*", "e^{-iHt}", "a_{k},", "x:", ":)", "):",
    ":-)", "(-:", ">.<", ":))", "Mr.", "'s", "It's", "\u2019cause", "8-)", "<3", "=]", ":", ")",
    "(", "-", "=", "8", "D", "x", ".", "_", "and/or", "w/o", "(:", ":(", "<space>", "Ph.D.",
    "Im.", "Thats.", "(:D.", "(=.", "Wed.", "_.", "_.)", "-:",  # changed by the matcher, and
]  # fmt: skip  # ... patterns across a space with them ("Im. _.", ": (:D.")


def test_kernel_words_fill_missing_chunks_in_place(monkeypatch) -> None:
    """Chunks a round finds missing from the memo are learnt and put in place among their
    documents' words instead of scanning those documents again: next to each other, at a
    document's ends, and where they and their neighbours could form a special-case pattern
    across the space. Every document the kernel keeps has datatrove's words, with room for
    all gaps of a round and with room for few (the others are scanned again)."""
    from corpusforge.stages.dedup.kernels import utf8_buffers
    from corpusforge.stages.quality import batchwords

    rng = random.Random(21)
    docs = []
    for _ in range(400):
        parts = [
            rng.choice(GAP_PIECES) if rng.random() < 0.6 else rng.choice(WORDS)
            for _ in range(rng.randint(1, 30))
        ]
        text = parts[0]
        for p in parts[1:]:
            text += rng.choice([" ", " ", " ", "  ", "\n"]) + p
        docs.append(text)
    chunked = quality_words.chunk_words_for("en")
    assert chunked is not None
    data, offsets = utf8_buffers(pa.array(docs))
    for max_gaps in (1 << 16, 60):
        monkeypatch.setattr(batchwords, "MAX_GAPS", max_gaps)
        counts = dict(batchwords.COUNTS)
        status, doc_off, ws, we = batchwords.Scanner(chunked).scan(data, offsets)
        for d in np.flatnonzero(status == 0).tolist():
            spans = range(doc_off[d], doc_off[d + 1])
            words = [data[ws[w] : we[w]].tobytes().decode() for w in spans]
            assert words == split_into_words(docs[d], "en"), docs[d]
        filled = batchwords.COUNTS["filled_docs"] - counts["filled_docs"]
        checked = batchwords.COUNTS["checked_docs"] - counts["checked_docs"]
        assert (status == 0).sum() > len(docs) // 2 and filled > 0
        if max_gaps > len(data):
            assert filled > len(docs) // 2 and checked > 10
            assert (status == 3).any()  # a pattern across a filled chunk: the Python path


def test_candidate_infix_search_equals_spacy_infix_search() -> None:
    """The infix search the chunk memo's tokenizer uses (tried only where a match can
    start) finds exactly the matches of spaCy's own ``finditer`` on every substring of
    generated text (dashes, dot runs, symbols, digits around operators, quotes), and reads
    no pattern it cannot: a possibly empty match, a category, a flag."""
    import re

    from corpusforge.stages.quality.affix_search import candidate_finditer, first_chars

    chunked = quality_words.chunk_words_for("en")
    assert chunked is not None
    finditer = chunked.tokenizer.infix_finditer
    fast = candidate_finditer(finditer)
    assert fast is not None
    pieces = [*EDGE, *SPECIAL, *GAP_PIECES, "a-b", "1+2", "x*y", "a.B", "a,b", "a:b", "a/b",
              "5^2", "--", "---", "\u2014", "\u2014\u2014", "~", "...", "\u2026", "\u00a9",
              "\u2600", "'A", "\u00b0", "a\u2013b", "1-", "<", "=", ">", "A"]  # fmt: skip
    tails = generated_tails(19, pieces)
    for sub in tails:
        assert [m.span() for m in finditer(sub)] == [m.span() for m in fast(sub)], sub
    assert len(tails) > 10_000
    for unread in ("a*|b", r"\d+", "[^a]", "(?i)x", "(?=x)|y"):
        assert first_chars(re.compile(unread)) is None, unread
    assert first_chars(re.compile(r"(?<=[0-9])(?:-|a+)b?|c?d")).pattern == "[\\-acd]"


def test_chunks_holding_is_alpha_do_not_break_later_batches() -> None:
    """spaCy's vocabulary fails on the string IS_ALPHA once a memory zone has seen it: the
    kernels' memo keeps such chunks whole instead of tokenizing them (a second batch with
    one used to raise inside spaCy). Every row gets a decision, batch after batch; those
    without the string get datatrove's. (datatrove's own words for a text holding it depend
    on what its tokenizer saw before: it retries without the string only when spaCy fails.)
    """
    from corpusforge.stages.quality import batchwords

    batches = [
        ["foo (IS_ALPHA) bar " * 3, "x IS_ALPHA y IS_ALPHA", "plain words here, again"],
        ["again (IS_ALPHA), z", "IS_ALPHA_x.", "more plain (words) (words) here"],
        ["[IS_ALPHA] the the the the", "the end. " * 5],
    ]
    batchwords.scanner_for.cache_clear()
    batchwords._LAST.clear()
    try:
        filt = GopherRepetitionFilter()
        for texts in batches:
            table = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
            out = GopherRepetition()(table)
            assert out.num_rows == len(texts)
            bw = batchwords.batch_words(table.column("text"), "en")
            assert bw is not None  # documents holding the string take the Python path
            assert [bool(x) for x in bw.ok] == ["IS_ALPHA" not in t for t in texts]
            ours = out["_reason"].to_pylist() if "_reason" in out.column_names else []
            for i, text in enumerate(texts):
                if "IS_ALPHA" in text:
                    continue
                res = filt.filter(Document(text=text, id=str(i)))
                keep, reason = res if isinstance(res, tuple) else (res, None)
                assert (ours[i] if ours else None) == (None if keep else reason), text
    finally:
        batchwords.scanner_for.cache_clear()
        batchwords._LAST.clear()


def test_eight_byte_loads_equal_byte_by_byte_reads() -> None:
    """The repetition kernel's hashes and byte comparisons read eight bytes at once through
    an unaligned 64-bit view (the last seven bytes of a buffer byte by byte): every span of
    a random buffer hashes and compares as with no view at all (the big-endian path)."""
    import numba as nb

    from corpusforge.stages.quality.repkernel import same_bytes, span_hash, words8

    @nb.njit
    def all_spans(data, data8, out):
        k = 0
        for s in range(len(data) + 1):
            for e in range(s, min(len(data), s + 20) + 1):
                out[k, 0] = span_hash(data, data8, s, e)
                out[k, 1] = same_bytes(data, data8, s, e, len(data) - (e - s), len(data))
                k += 1
        return k

    rng = np.random.default_rng(3)
    data = rng.integers(0, 3, 61).astype(np.uint8)  # few values: many equal spans
    fast, slow = np.zeros((2, 61 * 21 + 62, 2), np.int64)
    k = all_spans(data, words8(data), fast)
    assert all_spans(data, np.zeros(0, np.uint64), slow) == k
    assert np.array_equal(fast[:k], slow[:k]) and fast[:k, 1].sum() > 61
    assert len(words8(data)) == 61 - 7 and len(words8(data[:7])) == 0


def test_joined_words_equal_byte_by_byte_join() -> None:
    """The repetition kernel joins a document's words eight bytes per store (each store's
    spare bytes overwritten by the next word): the joined bytes and word starts equal a
    plain join, with the 64-bit view and without it (the big-endian path)."""
    from corpusforge.stages.quality.repkernel import _join, words8

    rng = random.Random(31)
    words = [bytes(rng.choices(b"ab\xc3\xa9", k=rng.randint(1, 20))) for _ in range(300)]
    text = b" ".join(words)
    data = np.frombuffer(text, np.uint8)
    lens = np.array([len(w) for w in words], np.int64)
    ws = np.concatenate([[0], np.cumsum(lens + 1)[:-1]])
    we = ws + lens
    expect = b"".join(words)
    for view in (True, False):
        J = np.zeros(len(text) + 8, np.uint8)
        cb = np.zeros(len(words) + 1, np.int64)
        J8 = words8(J) if view else np.zeros(0, np.uint64)
        _join(data, words8(data), ws, we, 0, len(words), J, J8, cb)
        assert J[: cb[-1]].tobytes() == expect
        assert cb.tolist() == [0, *np.cumsum([len(w) for w in words]).tolist()]
