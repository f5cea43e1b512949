"""Heuristic quality stages: each rule fires on a document made to trigger it, clean documents
pass, signals are on every row, and decisions equal datatrove's filters on the same documents."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest
from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from faker import Faker

from corpusforge.pipeline.registry import get_stage
from corpusforge.stages.quality.c4 import C4BadWords, C4Quality
from corpusforge.stages.quality.fineweb import FineWebQuality
from corpusforge.stages.quality.gopher import GopherQuality, GopherRepetition

STOP = {"the", "be", "to", "of", "and", "that", "have", "with"}


@pytest.fixture(scope="module")
def fake() -> Faker:
    f = Faker("en_US")
    f.seed_instance(11)
    return f


def clean_doc(fake: Faker, lines: int = 6) -> str:
    # Faker's words are random: one plain sentence makes sure that English stop words occur
    body = [" ".join(fake.sentences(4)) for _ in range(lines)]
    return "\n".join([*body, "The rest of the story is told with care and that is all we have."])


def words(fake: Faker, n: int, exclude: set[str] | None = None) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        w = fake.word()
        if not exclude or w not in exclude:
            out.append(w)
    return out


def table(texts: list[str], **extra: list) -> pa.Table:
    return pa.table({"id": [str(i) for i in range(len(texts))], "text": texts, **extra})


def reasons(out: pa.Table) -> list[str | None]:
    if "_reason" not in out.column_names:
        return [None] * out.num_rows
    return out["_reason"].to_pylist()


def datatrove_reasons(filt, texts: list[str]) -> list[str | None]:
    res = []
    for i, t in enumerate(texts):
        r = filt.filter(Document(text=t, id=str(i)))
        keep, reason = r if isinstance(r, tuple) else (r, None)
        res.append(None if keep else reason)
    return res


def check(stage, filt, cases: dict[str | None, str]) -> pa.Table:
    """Run ``cases`` (expected reason -> text) through our stage and datatrove's filter."""
    texts = list(cases.values())
    out = stage(table(texts))
    assert (reasons(out), datatrove_reasons(filt, texts)) == (list(cases), list(cases))
    return out


# --------------------------------------------------------------------------- Gopher quality


def test_gopher_quality_rules(fake: Faker) -> None:
    body = " ".join(words(fake, 120))
    prose = clean_doc(fake)
    line = " ".join(words(fake, 14))
    cases = {
        None: prose,
        "gopher_short_doc": "Just a few words here, nothing more.",
        "gopher_below_avg_threshold": " ".join(["a", "an", "to", "of", "is", "it"] * 15),
        "gopher_above_avg_threshold": " ".join(
            ["internationalization", "incomprehensibilities", "counterrevolutionaries"] * 25
        ),
        "gopher_too_many_hashes": body + " " + " ".join(f"#{w}" for w in words(fake, 20)),
        "gopher_too_many_ellipsis": body + " ... ..." * 10,
        "gopher_too_many_bullets": "\n".join(f"- {' '.join(words(fake, 8))}" for _ in range(12)),
        "gopher_too_many_end_ellipsis": "\n".join(f"{line} and more..." for _ in range(8)),
        "gopher_below_alpha_threshold": body + " " + " ".join(str(i) for i in range(1000, 1040)),
        "gopher_enough_stop_words": " ".join(words(fake, 80, exclude=STOP)) + ".",
    }
    out = check(GopherQuality(), GopherQualityFilter(), cases)
    # detail: numbers and labels only
    assert out["_detail"].to_pylist()[1] == "non_symbol_words=7<50"
    # every threshold is configurable: a long-document limit of 100 words
    texts = [prose]
    assert reasons(GopherQuality(max_doc_words=100)(table(texts))) == ["gopher_long_doc"]
    assert datatrove_reasons(GopherQualityFilter(max_doc_words=100), texts) == ["gopher_long_doc"]


def test_gopher_quality_signals_on_every_row(fake: Faker) -> None:
    out = GopherQuality()(table([clean_doc(fake), "too short", ""]))
    assert reasons(out) == [None, "gopher_short_doc", "gopher_short_doc"]
    for col in (
        "gopher_word_count",
        "gopher_non_symbol_words",
        "gopher_hash_ratio",
        "gopher_ellipsis_ratio",
        "gopher_bullet_lines_ratio",
        "gopher_end_ellipsis_lines_ratio",
        "gopher_alpha_words_ratio",
        "gopher_stop_words",
    ):
        assert out[col].null_count == 0, col
    assert out["gopher_mean_word_length"].to_pylist()[2] is None  # no words: no mean
    assert out["gopher_word_count"].to_pylist()[1] == 2


def test_gopher_quality_language_scope(fake: Faker) -> None:
    no_stop = " ".join(words(fake, 80, exclude=STOP)) + "."
    t = table([no_stop, no_stop, no_stop], language=["en", "de", None])
    out = GopherQuality()(t)  # stop-word rule for English only
    assert reasons(out) == ["gopher_enough_stop_words", None, None]
    out = GopherQuality(languages=None)(t)  # every row
    assert reasons(out) == ["gopher_enough_stop_words"] * 3
    out = GopherQuality()(table([no_stop]))  # no language column: all rows in scope
    assert reasons(out) == ["gopher_enough_stop_words"]


# --------------------------------------------------------------------------- Gopher repetition


def test_gopher_repetition_rules(fake: Faker) -> None:
    def para() -> str:
        return " ".join(fake.sentences(3))

    p_long = " ".join(fake.sentences(12))
    ten = ["".join(fake.random_letters(8)) for _ in range(200)]

    def salad(n: int) -> str:
        return " ".join(random.Random(n).choices(ten, k=n))

    phrase = " ".join(words(fake, 60))
    cases = {
        None: clean_doc(fake),
        "empty": "",
        "dup_para_frac": "\n\n".join([para(), para(), "same paragraph."] + ["same paragraph."] * 2),
        "dup_para_char_frac": "\n\n".join([p_long, para(), para(), p_long]),
        "dup_line_frac": "\n".join([para(), para(), "same line.", "same line.", "same line."]),
        "dup_line_char_frac": "\n".join([p_long, para(), para(), para(), p_long]),
        "top_2_gram": "\n".join(f"{para()} hello world hello world hello world" for _ in range(4)),
        "duplicated_5_n_grams": f"{salad(30)} {phrase} {salad(20)} {phrase} {salad(25)}",
    }
    out = check(GopherRepetition(), GopherRepetitionFilter(), cases)
    cols = [c for c in out.column_names if c.startswith("gopher_rep_")]
    assert len(cols) == 4 + 3 + 6
    for c in cols:  # null only on the empty document
        assert out[c].null_count == 1, c
        assert out[c][1].as_py() is None


def test_gopher_repetition_top_ngrams_configurable() -> None:
    # word n-gram "ab cd ef" repeated: with a 3-gram limit of 0.05 and others off, top_3 fires
    text = " ".join(f"w{i:03d} ab cd ef" for i in range(30))
    kw = dict(
        dup_line_frac=None,
        dup_para_frac=None,
        dup_line_char_frac=None,
        dup_para_char_frac=None,
        top_n_grams=[(3, 0.05)],
        dup_n_grams=[],
    )
    out = GopherRepetition(**kw)(table([text]))
    assert reasons(out) == ["top_3_gram"]
    assert out.column_names[-3:] == ["gopher_rep_top_3_gram_frac", "_reason", "_detail"]
    dt = GopherRepetitionFilter(**{**kw, "top_n_grams": ((3, 0.05),), "dup_n_grams": ()})
    assert datatrove_reasons(dt, [text]) == ["top_3_gram"]


# --------------------------------------------------------------------------- FineWeb


def test_fineweb_rules(fake: Faker) -> None:
    long_lines = [" ".join(fake.sentences(3)) for _ in range(8)]
    cases = {
        None: clean_doc(fake),
        "empty": " \n\n \n",
        "line_punct_ratio": "\n".join(" ".join(words(fake, 9)) for _ in range(10)),
        "short_line_ratio": "\n".join(f"{w.capitalize()} works." for w in words(fake, 12)),
        "char_dup_ratio": "\n".join(long_lines + long_lines[:1]),
        "list_ratio": "\n".join(
            f"{''.join(fake.random_letters(20))} {''.join(fake.random_letters(16))}."
            for _ in range(10)
        ),
    }
    out = check(FineWebQuality(), FineWebQualityFilter(), cases)
    for c in (
        "fineweb_line_punct_ratio",
        "fineweb_short_line_ratio",
        "fineweb_char_dup_ratio",
        "fineweb_list_ratio",
    ):
        assert out[c].null_count == 1  # the document without a non-blank line
    assert out["_detail"].to_pylist()[2].startswith("line_punct_ratio=0<0.12")


# --------------------------------------------------------------------------- C4


def test_c4_rules_and_line_removal(fake: Faker) -> None:
    good = [" ".join(fake.sentences(2)) for _ in range(6)]
    noisy = [
        good[0],
        "Enable JavaScript to see the comments on this page.",
        good[1],
        "Read our privacy policy before you continue.",
        "Menu",
        good[2],
        "No terminal punctuation on this line at all",
        "x" * 1200 + " is a long word.",
        good[3],
        "Short one.",
        good[4] + "[12]",  # citation mark removed (after the strip, as in C4)
    ]
    cases = {
        None: "\n".join(noisy),
        "lorem_ipsum": "\n".join([*good[:3], "Lorem ipsum dolor sit amet, consectetur.", good[3]]),
        "curly_bracket": "\n".join([*good[:3], "The function returns {value} to its caller."]),
        "too_few_sentences": "\n".join(good[:2]),
    }
    out = check(C4Quality(), C4QualityFilter(), cases)
    row = out.slice(0, 1).to_pylist()[0]
    assert row["c4_lines"] == 11
    assert row["c4_kept_lines"] == 5
    assert row["c4_removed_javascript_lines"] == 1
    assert row["c4_removed_policy_lines"] == 1
    assert row["c4_removed_no_punct_lines"] == 2  # "Menu" and the unpunctuated line
    assert row["c4_removed_long_word_lines"] == 1
    assert row["c4_removed_short_lines"] == 1
    assert row["c4_num_sentences"] >= 5
    # the kept document's text is datatrove's output text
    doc = Document(text=cases[None], id="0")
    assert C4QualityFilter().filter(doc) is True
    assert row["text"] == doc.text
    assert "[12]" not in row["text"] and "privacy" not in row["text"]
    # rejected documents keep their text; remove_lines=False keeps every text
    assert out["text"].to_pylist()[1] == cases["lorem_ipsum"]
    assert C4Quality(remove_lines=False)(table([cases[None]]))["text"][0].as_py() == cases[None]


def test_c4_language_scope(fake: Faker) -> None:
    good = [" ".join(fake.sentences(2)) for _ in range(5)]
    text = "\n".join([*good, "This page needs JavaScript to work properly."])
    out = C4Quality(languages=["en"])(table([text, text], language=["en", "de"]))
    assert out["c4_removed_javascript_lines"].to_pylist() == [1, 0]


def test_c4_badwords(tmp_path, fake: Faker) -> None:
    (tmp_path / "en").write_text("darn\nheck off\n", encoding="utf-8")
    (tmp_path / "ja").write_text("ばか\n", encoding="utf-8")
    texts = [
        clean_doc(fake, 2),
        "Well, darn it.",
        "They said HECK OFF to us.",
        "Darning socks.",
        "あのばかな話",
        "Ein darn Satz.",
    ]
    langs = ["en", "en", "en", "en", "ja", "fr"]
    out = C4BadWords(badwords_path=str(tmp_path))(table(texts, language=langs))
    rs = reasons(out)
    assert rs == [
        None,
        *["document_removed_with_badwords"] * 2,
        None,
        "document_removed_with_badwords",
        None,
    ]
    assert out["c4_badwords_found"].to_pylist() == [False, True, True, False, True, None]
    assert set(out["_detail"].to_pylist()) == {None}  # the matched word is never written
    # one file for every row (no language column: default_language)
    out = C4BadWords(badwords_path=str(tmp_path / "en"))(table(texts[:3]))
    assert reasons(out) == [
        None,
        "document_removed_with_badwords",
        "document_removed_with_badwords",
    ]


# --------------------------------------------------------------------------- equivalence


def perturbed_docs(fake: Faker, n: int) -> list[str]:
    """Varied documents: prose with injected bullets, duplicates, symbols, short lines."""
    rng = random.Random(5)
    docs = []
    for _ in range(n):
        lines = [" ".join(fake.sentences(rng.randint(1, 4))) for _ in range(rng.randint(1, 12))]
        for _ in range(rng.randint(0, 4)):
            kind = rng.choice(["dup", "bullet", "hash", "short", "nums", "ellipsis", "js", "blank"])
            i = rng.randrange(len(lines))
            if kind == "dup":
                lines.insert(i, lines[rng.randrange(len(lines))])
            elif kind == "bullet":
                lines.insert(i, "• " + fake.sentence())
            elif kind == "hash":
                lines[i] += " #" + fake.word()
            elif kind == "short":
                lines.insert(i, fake.word())
            elif kind == "nums":
                lines[i] += " " + " ".join(
                    str(rng.randint(0, 999)) for _ in range(rng.randint(1, 30))
                )
            elif kind == "ellipsis":
                lines[i] = lines[i].rstrip(".") + "..."
            elif kind == "js":
                lines.insert(i, "Please enable javascript in your browser.")
            else:
                lines.insert(i, "")
        docs.append(rng.choice(["\n", "\n\n"]).join(lines))
    return docs


@pytest.mark.parametrize(
    ("stage_cls", "filter_cls", "kwargs"),
    [
        (GopherQuality, GopherQualityFilter, {}),
        (GopherQuality, GopherQualityFilter, {"min_doc_words": 20, "min_stop_words": 1}),
        (GopherRepetition, GopherRepetitionFilter, {}),
        (GopherRepetition, GopherRepetitionFilter, {"dup_line_frac": 0.1, "dup_para_frac": None}),
        (C4Quality, C4QualityFilter, {}),
        (C4Quality, C4QualityFilter, {"min_num_sentences": 2, "filter_javascript": False}),
        (FineWebQuality, FineWebQualityFilter, {}),
        (
            FineWebQuality,
            FineWebQualityFilter,
            {"short_line_thr": 0.4, "char_duplicates_ratio": 0.1},
        ),
    ],
)
def test_same_decisions_as_datatrove(fake: Faker, stage_cls, filter_cls, kwargs) -> None:
    docs = perturbed_docs(fake, 150)
    out = stage_cls(**kwargs)(table(docs))
    ours = reasons(out)
    theirs = []
    texts = []
    filt = filter_cls(**kwargs)
    for i, t in enumerate(docs):
        doc = Document(text=t, id=str(i))
        r = filt.filter(doc)
        keep, reason = r if isinstance(r, tuple) else (r, None)
        theirs.append(None if keep else reason)
        texts.append(doc.text)
    assert ours == theirs
    assert out["text"].to_pylist() == texts  # C4 rewrites kept texts; the others do not
    # the perturbations make both outcomes common
    assert 0 < sum(r is None for r in ours) < len(ours)


def test_registered_names() -> None:
    for name, cls in [
        ("gopher_quality", GopherQuality),
        ("gopher_repetition", GopherRepetition),
        ("c4_quality", C4Quality),
        ("c4_badwords", C4BadWords),
        ("fineweb_quality", FineWebQuality),
    ]:
        assert get_stage(name) is cls
