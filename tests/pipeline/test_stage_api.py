"""The Stage API without Ray: decorator, class stages, reject(), the engine's stage wrapper."""

from __future__ import annotations

import pyarrow as pa
import pytest
from engine_helpers import UpperStage, drop_rows, min_words

from corpusforge.pipeline import GlobalStage, Resources, Stage, get_stage, reject, stage
from corpusforge.pipeline.api.errors import ConfigError, StageContractError
from corpusforge.pipeline.engine.execute import apply_stage
from corpusforge.schemas import Col


def docs(texts: list[str | None]) -> pa.Table:
    return pa.table(
        {
            Col.ID: [f"d{i}" for i in range(len(texts))],
            Col.TEXT: pa.array(texts, pa.string()),
        }
    )


def test_decorated_function_is_a_registered_stage_with_validated_params() -> None:
    cls = get_stage("test_min_words")
    assert cls is min_words
    out = cls(min_words=2)(docs(["one", "one two", "one two three"]))
    assert out.column("word_count").to_pylist() == [1, 2, 3]
    assert out.column(Col.REASON).to_pylist() == ["too_few_words", None, None]
    assert out.column(Col.DETAIL).to_pylist() == ["1", None, None]
    with pytest.raises(Exception, match="min_word"):
        cls(min_word=2)  # a typo is an error, never silently ignored


def test_reject_keeps_the_first_reason() -> None:
    t = docs(["a", "b", "c"])
    t = reject(t, [True, False, False], "first", "1")
    t = reject(t, [True, True, False], "second")
    assert t.column(Col.REASON).to_pylist() == ["first", "second", None]
    assert t.column(Col.DETAIL).to_pylist() == ["1", None, None]


def test_as_array_shares_a_single_chunk_and_joins_several() -> None:
    from corpusforge.pipeline.api import as_array

    one = pa.array(["ab", None, "cde"]).slice(1)
    single = as_array(pa.chunked_array([one]))
    assert single.buffers()[2].address == one.buffers()[2].address  # no copy of the text
    assert single.to_pylist() == [None, "cde"]
    joined = as_array(pa.chunked_array([pa.array(["x"]), pa.array(["y", "z"])]))
    assert joined.to_pylist() == ["x", "y", "z"]
    assert as_array(pa.chunked_array([], pa.string())).to_pylist() == []
    assert as_array(one) is one


def test_reject_rejects_masks_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="2 entries for a batch of 3"):
        reject(docs(["a", "b", "c"]), [True, False], "x")


def test_stateful_stage_sets_up_once() -> None:
    s = UpperStage()
    assert s.stateful and not s._ready
    assert s(docs(["abc"])).column(Col.TEXT).to_pylist() == ["ABC"]
    table_before = s.table
    s(docs(["cab"]))
    assert s.table is table_before


def test_apply_stage_marks_fates_and_passes_decided_rows_by() -> None:
    t = docs(["a b c d", "a", "gone"])
    t = t.append_column(Col.FATE, pa.array([None, None, "quarantined"], pa.string()))
    t = t.append_column(Col.STAGE, pa.array([None, None, "read"], pa.string()))
    out, stats = apply_stage(min_words(min_words=2, instance_name="mw"), t)
    rows = {r[Col.ID]: r for r in out.to_pylist()}
    assert rows["d0"][Col.FATE] is None
    assert (rows["d1"][Col.FATE], rows["d1"][Col.STAGE]) == ("rejected", "mw")
    assert (rows["d2"][Col.FATE], rows["d2"][Col.STAGE]) == ("quarantined", "read")
    assert stats.docs_in == 2 and stats.docs_out == 1 and stats.rejects == {"too_few_words": 1}


def test_apply_stage_fails_a_stage_that_drops_rows() -> None:
    with pytest.raises(StageContractError, match="returned 2 rows for 4"):
        apply_stage(drop_rows(), docs(["a", "b", "c", "d"]))


def test_apply_stage_fails_a_stage_that_reorders_rows() -> None:
    @stage("test_reverse", register=False)
    def reverse(batch: pa.Table) -> pa.Table:
        return batch.take(list(range(batch.num_rows - 1, -1, -1)))

    with pytest.raises(StageContractError, match="order"):
        apply_stage(reverse(), docs(["a", "b"]))


def test_class_stage_declares_resources_and_global_stages_refuse_batches() -> None:
    class Heavy(Stage):
        name = "heavy_example"
        resources = Resources(num_cpus=2, batch_size=64)

        def process(self, batch: pa.Table) -> pa.Table:
            return batch

    assert Heavy.resources.merged({"batch_size": 8}).batch_size == 8

    class G(GlobalStage):
        name = "g_example"

    with pytest.raises(TypeError, match="global stage"):
        G()(docs(["a"]))


def test_unknown_stage_names_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match="unknown stage 'nope'") as info:
        get_stage("nope")
    assert "length_filter" in (info.value.hint or "")


def test_builtin_stages_accept_an_empty_batch() -> None:
    """The engine may call a stage with zero live rows; every stage must cope."""
    from corpusforge.pipeline.registry import all_stages

    empty = docs([])
    params = {"tokenize": {"tokenizer": "gpt2"}}
    for name, cls in all_stages().items():
        required = [f for f in cls.Params.model_fields.values() if f.is_required()]
        if cls.is_global or name.startswith("test_") or required:
            continue  # stages that need a user's file (model, word list) are tested alone
        out, _ = apply_stage(cls(params.get(name)), empty)
        assert out.num_rows == 0, name
