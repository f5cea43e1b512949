"""corpusforge.stages: built-in readers, stages and sinks.

Importing this package imports none of them. A built-in stage's module is imported when a
config (or a worker unpickling a stage) first names it, through the tables below and
``corpusforge.pipeline.registry``: a process that never runs ``pii`` never pays Presidio's
import (seconds and ~55 MB), one that runs no stage of ``stages/quality`` never imports
datatrove or spaCy, and ``corpusforge audit`` or ``forget`` start without loading any model
library.
``tests/pipeline/test_registry_tables.py`` checks that these tables name every built-in.
"""

# stage name -> the module that registers it
STAGE_MODULES: dict[str, str] = {
    "c4_badwords": "corpusforge.stages.quality.c4",
    "c4_quality": "corpusforge.stages.quality.c4",
    "exact_dedup": "corpusforge.stages.dedup.stages",
    "fasttext_classifier": "corpusforge.stages.classify.fasttext_classifier",
    "fineweb_quality": "corpusforge.stages.quality.fineweb",
    "gopher_quality": "corpusforge.stages.quality.gopher",
    "gopher_repetition": "corpusforge.stages.quality.gopher",
    "langid": "corpusforge.stages.classify.langid",
    "length_filter": "corpusforge.stages.quality.basic",
    "minhash": "corpusforge.stages.dedup.minhash",
    "near_dedup": "corpusforge.stages.dedup.stages",
    "passthrough": "corpusforge.stages.quality.basic",
    "pii": "corpusforge.stages.pii.stage",
    "tokenize": "corpusforge.stages.tokenize.stage",
}

# readers are few and light: any reader lookup (or format detection) imports them all
READER_MODULES: tuple[str, ...] = ("corpusforge.stages.readers",)

SINK_MODULES: tuple[str, ...] = ("corpusforge.stages.sinks.tokens",)

# the families' report sections (light: they import only the API)
REPORT_SECTION_MODULES: tuple[str, ...] = (
    "corpusforge.stages.classify.report_section",
    "corpusforge.stages.dedup.report_section",
    "corpusforge.stages.pii.report_section",
    "corpusforge.stages.sinks.report_section",
    "corpusforge.stages.tokenize.report_section",
)
