"""The batch scan decides exactly what the per-window path decided.

The stage finds windows per batch (RE2 flags, regex edges), sends each recognizer only the
windows its gate lets through, joined into one text per call, and skips Presidio's context
enhancer where it cannot change a score. ``reference_path`` is the path before that: every
window alone through a plain Presidio engine with all recognizers. On generated text
(multilingual, odd Unicode and digit scripts, digit-heavy tables, every entity type, empty,
null and huge documents), windows, spans (with scores), redacted texts, counts and rejects
must be identical.
"""

from __future__ import annotations

import dataclasses
import random

import pyarrow as pa
import pytest
from faker import Faker

from corpusforge.pipeline.api import rejected_mask
from corpusforge.schemas import Col
from corpusforge.stages.pii.entities import ENTITIES
from corpusforge.stages.pii.scan import batch_windows
from corpusforge.stages.pii.stage import PiiStage
from tests.stages.pii import reference_path as ref
from tests.stages.pii.pii_textgen import IBAN_LOCALES, PHONE_LOCALES, generate, value

KEYS = ("EMAIL", "PHONE", "IP", "CREDIT_CARD", "IBAN", "US_SSN")
TEXT_LOCALES = ("ru_RU", "ja_JP", "zh_CN", "ar_EG", "hi_IN", "el_GR", "he_IL", "ko_KR", "tr_TR")
DIGIT_ZEROS = (0x0660, 0x0966, 0x09E6, 0xFF10, 0x11F50, 0x1D7CE)  # Arabic-Indic ... Kawi, math
ODD = (
    "\u00a0",  # no-break space (whitespace to str.isspace)
    "\u2028",  # line separator
    "\u3000",  # ideographic space
    "\u200b",  # zero-width space (not whitespace)
    "\u200d",  # zero-width joiner
    "e\u0301",  # combining accent
    "\u202e",  # right-to-left override
    "\U0001f600",  # emoji
    "\U0001d518\U0001d52b",  # mathematical letters
    "\r\n",
    "\t",
    "\ufeff",
    "\u017f\u212a",  # long s, Kelvin sign: fold to s and k
)
URLS = ("https://www.example.com/a?b=1", "www.corp.io", "see foo.org/x", "shop.example.de")


def _digits(text: str, zero: int) -> str:
    return "".join(chr(zero + ord(c) - 48) if c.isascii() and c.isdigit() else c for c in text)


def _fakes() -> dict[str, Faker]:
    locales = sorted({*PHONE_LOCALES, *IBAN_LOCALES, *TEXT_LOCALES, "en_US"})
    fakes = {loc: Faker(loc) for loc in locales}
    for i, fake in enumerate(fakes.values()):
        fake.seed_instance(100 + i)
    return fakes


def _pii(fakes: dict[str, Faker], rng: random.Random) -> str:
    if rng.random() < 0.1:
        return rng.choice(URLS)
    return value(rng.choice(KEYS), fakes, rng)


def _multilingual(fakes: dict[str, Faker], rng: random.Random) -> str:
    words = fakes[rng.choice(TEXT_LOCALES)].text(max_nb_chars=rng.randint(40, 1500)).split(" ")
    for _ in range(rng.randint(0, 4)):
        piece = _pii(fakes, rng)
        if rng.random() < 0.3:  # the same value in another script's digits
            piece = _digits(piece, rng.choice(DIGIT_ZEROS))
        words.insert(rng.randint(0, len(words)), piece)
    for _ in range(rng.randint(0, 6)):
        words.insert(rng.randint(0, len(words)), rng.choice(ODD))
    sep = rng.choice((" ", "", "\n", " \u00a0"))
    return sep.join(words)


def _numbers(fakes: dict[str, Faker], rng: random.Random) -> str:
    """Digit-heavy text: tables, times, versions, IPv6-like runs, split phone numbers."""
    fake = fakes["en_US"]
    cells = [
        lambda: f"{rng.randint(0, 10 ** rng.randint(1, 12)):,}",
        lambda: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
        lambda: rng.choice(
            ("{y}-{m:02d}-{d:02d}", "{d:02d}.{m:02d}.{y}", "{m:02d}/{d:02d}/{y}")
        ).format(y=rng.randint(1900, 2030), m=rng.randint(1, 12), d=rng.randint(1, 28)),
        lambda: ".".join(str(rng.randint(0, 400)) for _ in range(rng.randint(2, 5))),
        lambda: ":".join(f"{rng.randint(0, 65535):x}" for _ in range(rng.randint(1, 8))),
        lambda: "::" + f"{rng.randint(0, 65535):x}",
        lambda: fake.numerify(rng.choice(("### ### ####", "#########", "####-####-####"))),
        lambda: _split_phone(rng),
        lambda: _pii(fakes, rng),
        lambda: fake.word() + str(rng.randint(10, 99)),
    ]
    rows = []
    for _ in range(rng.randint(1, 30)):
        row = [rng.choice(cells)() for _ in range(rng.randint(1, 6))]
        rows.append(rng.choice((" | ", " ", "\t", ", ", "")).join(row))
    return "\n".join(rows)


def _split_phone(rng: random.Random) -> str:
    """A phone number whose digit groups line breaks separate: no digit trigger matches in
    it, so only another type's trigger next to it makes a window around it."""
    if rng.random() < 0.5:
        return f"(+{rng.randint(1, 999)})\n(0)\n{rng.randint(100000, 999999)}"
    return f"({rng.randint(1000, 9999)})\n{rng.randint(100000, 999999)}"


def _edges(fakes: dict[str, Faker], rng: random.Random) -> list[str | None]:
    """Values alone, at the very start and end, glued to odd characters; nothing at all;
    split phone numbers next to an e-mail address, an IPv6 address or an IBAN."""
    out: list[str | None] = [None, "", " ", "@", "::", "0", "\n\n\n"]
    for _ in range(60):
        v = _pii(fakes, rng)
        out += [v, f"{rng.choice(ODD)}{v}", f"{v}{rng.choice(ODD)}", f"x{v}y", f"{v}\n{v}"]
    for other in ("mail ann@corp.io", "host fe80::1", "konto de44"):
        out += [f"{other} or {_split_phone(rng)}", f"{_split_phone(rng)} {other}"]
    return out


def _huge(fakes: dict[str, Faker], rng: random.Random) -> str:
    parts: list[str] = []
    while sum(map(len, parts)) < 150_000:
        parts.append(rng.choice((_multilingual, _numbers))(fakes, rng))
    return "".join(parts)  # no separators: windows run into each other and get chunked


def texts(seed: int = 7) -> list[str | None]:
    rng = random.Random(seed)
    fakes = _fakes()
    out: list[str | None] = [r.text for r in generate(300, seed=seed)]
    out += [_multilingual(fakes, rng) for _ in range(150)]
    out += [_numbers(fakes, rng) for _ in range(150)]
    out += _edges(fakes, rng)
    out += [_huge(fakes, rng), "word " * 60_000 + value("EMAIL", fakes, rng)]
    rng.shuffle(out)
    return out


CONFIGS = {
    "default": {},
    "every_type_small_chunks": {
        "entities": [*KEYS, "URL"],
        "policy": {"EMAIL": "mask", "PHONE": "keep", "IBAN": "drop"},
        "allow_domains": ["example.com"],
        "allow_values": ["8.8.8.8", "192.168.0.1"],
        "window_margin": 32,
        "chunk_chars": 1000,
        "chunk_overlap": 200,
    },
    "low_threshold": {"score_threshold": 0.05, "entities": ["PHONE", "US_SSN", "IP"]},
}
# characters per joined Presidio call: the default, and so few that many calls are made and
# some windows (chunks reach 4,000 characters) are sent alone
JOIN_CHARS = {"default": None, "every_type_small_chunks": None, "low_threshold": 3000}


@pytest.fixture(scope="module")
def corpus() -> list[str | None]:
    return texts()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_same_windows_spans_and_outputs_as_the_per_window_path(
    corpus: list[str | None], name: str
) -> None:
    stage = PiiStage(**CONFIGS[name])
    stage.ensure_setup()
    if JOIN_CHARS[name]:
        stage._scan = dataclasses.replace(stage._scan, join_chars=JOIN_CHARS[name])
    keys = [k for k in stage.params.entities if not ENTITIES[k].ner]
    engine = ref.plain_analyzer(keys)

    arrow = pa.array(corpus, pa.string())
    got_windows = {}
    for w in batch_windows(corpus, arrow, stage._triggers, stage._scan):
        got_windows.setdefault(w.row, []).append(w.piece)
    want_windows = {i: ref.pieces(t, stage) for i, t in enumerate(corpus) if t}
    assert got_windows == {i: p for i, p in want_windows.items() if p}
    assert sum(len(w) for w in got_windows.values()) > 500

    want = [ref.detect(stage, engine, t) for t in corpus]
    assert stage.detect(corpus, [None] * len(corpus)) == want
    assert sum(len(s) for s in want) > 500  # the comparison is about real findings

    out = stage(pa.table({Col.ID: [str(i) for i in range(len(corpus))], Col.TEXT: arrow}))
    assert out.column(Col.TEXT).to_pylist() == [
        ref.redacted(stage, t, s) for t, s in zip(corpus, want, strict=True)
    ]
    for key in stage.params.entities:
        counts = [sum(s.key == key for s in spans) for spans in want]
        assert out.column(ENTITIES[key].column).to_pylist() == counts, key
    drops = [any(stage.params.action(s.key) == "drop" for s in spans) for spans in want]
    assert rejected_mask(out).to_pylist() == drops
