"""Writing systems for language ID: which script a text is in, which scripts a label uses.

fastText sometimes names a language whose script the text does not use (a Latin-script
sentence labelled Urdu, Chinese labelled Japanese). A script decides such cases: the
predicted label must be written in the text's dominant script, otherwise the next label of
the model's top-k that is wins. The dominant script comes from one table lookup per code
point (NumPy), not a Python loop over characters. A label only loses when its script holds
under ``MIN_SHARE`` (5%) of the letters: a page's Latin menu must not outvote its Cyrillic body.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# Unicode blocks -> script name (letters only; digits, punctuation and symbols count for none)
_BLOCKS: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x005A, "Latn"), (0x0061, 0x007A, "Latn"), (0x00C0, 0x024F, "Latn"),
    (0x1E00, 0x1EFF, "Latn"), (0x0370, 0x03FF, "Grek"), (0x1F00, 0x1FFF, "Grek"),
    (0x0400, 0x052F, "Cyrl"), (0x0530, 0x058F, "Armn"), (0x0590, 0x05FF, "Hebr"),
    (0x0600, 0x06FF, "Arab"), (0x0750, 0x077F, "Arab"), (0xFB50, 0xFDFF, "Arab"),
    (0xFE70, 0xFEFF, "Arab"), (0x0780, 0x07BF, "Thaa"), (0x0900, 0x097F, "Deva"),
    (0x0980, 0x09FF, "Beng"), (0x0A00, 0x0A7F, "Guru"), (0x0A80, 0x0AFF, "Gujr"),
    (0x0B00, 0x0B7F, "Orya"), (0x0B80, 0x0BFF, "Taml"), (0x0C00, 0x0C7F, "Telu"),
    (0x0C80, 0x0CFF, "Knda"), (0x0D00, 0x0D7F, "Mlym"), (0x0D80, 0x0DFF, "Sinh"),
    (0x0E00, 0x0E7F, "Thai"), (0x0E80, 0x0EFF, "Laoo"), (0x0F00, 0x0FFF, "Tibt"),
    (0x1000, 0x109F, "Mymr"), (0x10A0, 0x10FF, "Geor"), (0x1100, 0x11FF, "Hang"),
    (0x1200, 0x137F, "Ethi"), (0x1780, 0x17FF, "Khmr"), (0x3040, 0x30FF, "Kana"),
    (0x3130, 0x318F, "Hang"), (0x3400, 0x4DBF, "Hani"), (0x4E00, 0x9FFF, "Hani"),
    (0xAC00, 0xD7AF, "Hang"),
)  # fmt: skip
SCRIPTS: tuple[str, ...] = ("", *sorted({s for _, _, s in _BLOCKS}))

# lid.176 labels not written in Latin script (a label absent here is Latin-only).
_NON_LATIN: dict[str, tuple[str, ...]] = {
    **{k: ("Cyrl",) for k in "ru uk be bg mk kk ky mn tg tt ba cv ce os sah av lez kv mhr "
       "mrj myv krc bxr tyv xal rue".split()},
    **{k: ("Arab",) for k in "ar arz fa ur ps ckb sd ug azb mzn lrc pnb".split()},
    **{k: ("Deva",) for k in "hi mr ne sa mai bh new dty gom".split()},
    **{k: ("Beng",) for k in "bn as bpy".split()},
    "sr": ("Cyrl", "Latn"), "sh": ("Latn", "Cyrl"), "uz": ("Latn", "Cyrl"),
    "az": ("Latn", "Cyrl"), "ku": ("Latn", "Arab"), "pa": ("Guru",), "gu": ("Gujr",),
    "or": ("Orya",), "ta": ("Taml",), "te": ("Telu",), "kn": ("Knda",), "ml": ("Mlym",),
    "si": ("Sinh",), "th": ("Thai",), "lo": ("Laoo",), "km": ("Khmr",), "my": ("Mymr",),
    "bo": ("Tibt",), "ka": ("Geor",), "xmf": ("Geor",), "hy": ("Armn",), "el": ("Grek",),
    "he": ("Hebr",), "yi": ("Hebr",), "am": ("Ethi",), "dv": ("Thaa",), "ko": ("Hang",),
    "ja": ("Kana",), "zh": ("Hani",), "wuu": ("Hani",), "yue": ("Hani",),
}  # fmt: skip
# ISO 15924 codes in GlotLID-style labels that name script mixes
_ALIASES = {"Jpan": "Kana", "Hans": "Hani", "Hant": "Hani", "Kore": "Hang"}


@lru_cache(maxsize=1)
def _table() -> np.ndarray:
    table = np.zeros(0x10000, dtype=np.uint8)
    for lo, hi, name in _BLOCKS:
        table[lo : hi + 1] = SCRIPTS.index(name)
    return table


def script_counts(text: str) -> np.ndarray:
    """Letters per script (index: ``SCRIPTS``) over the whole text. Japanese counts as
    ``Kana`` as soon as kana make up a tenth of its CJK letters (Japanese mixes kana with
    Han characters; Chinese has no kana)."""
    cps = np.frombuffer(text.encode("utf-32-le", "replace"), dtype=np.uint32)
    counts = np.bincount(_table()[np.minimum(cps, 0xFFFF)], minlength=len(SCRIPTS))
    counts[0] = 0
    kana, hani = counts[SCRIPTS.index("Kana")], counts[SCRIPTS.index("Hani")]
    if kana and kana * 10 >= kana + hani:
        counts[SCRIPTS.index("Kana")] += hani
        counts[SCRIPTS.index("Hani")] = 0
    return counts


def dominant_script(text: str) -> str | None:
    """The script of most letters of the text; None if it has no letters."""
    counts = script_counts(text)
    best = int(counts.argmax())
    return SCRIPTS[best] if counts[best] else None


def script_share(label: str, counts: np.ndarray) -> float:
    """The share of the text's letters written in a script ``label`` uses (1.0: no letters)."""
    total = int(counts.sum())
    if not total:
        return 1.0
    return sum(int(counts[SCRIPTS.index(s)]) for s in label_scripts(label) if s in SCRIPTS) / total


def label_scripts(label: str) -> tuple[str, ...]:
    """The scripts a lid.176-style label (``sr``, or ``srp_Cyrl`` with a script) is written
    in."""
    code, _, script = label.partition("_")
    if script:
        return (_ALIASES.get(script, script),)
    return _NON_LATIN.get(code, ("Latn",))


def fits_script(label: str, script: str | None) -> bool:
    return script is None or script in label_scripts(label)


MIN_SHARE = 0.05  # a label whose script holds less of the letters is not the text's language
