"""Generated text that stresses byte-level BPE: scripts, code, odd Unicode, whitespace runs."""

from __future__ import annotations

import random

_SCRIPTS = [
    "Grüße aus Köln, naïve café déjà vu",
    "日本語のテキストと漢字かな交じり文",
    "Ελληνικά κείμενα και ΚΕΦΑΛΑΙΑ",
    "русский текст, ЗАГЛАВНЫЕ буквы",
    "نص عربي مع أرقام ١٢٣",
    "हिन्दी पाठ और संख्याएँ ४५६",
    "한국어 텍스트 입니다",
    "emoji 🙂👍🏽👨‍👩‍👧 flags 🇫🇷",
    "I'LL say it's, we've, they're, I'm, she'd, 'S 'T",
    "x² + y³ = z⁴; ½ ⅓ ¼; Ⅻ ⑦",
]
_CODE = [
    'def f(x):\n    return {"k": [1, 2, 3], "v": x ** 2}  # comment\n',
    "for (int i = 0; i < n; ++i) { a[i] += b[i] >> 2; }\n",
    "SELECT id, COUNT(*) FROM t WHERE x <> 'y' GROUP BY id;\r\n",
    '<div class="a">&nbsp;&amp;</div>\t\t\n',
    "    if err != nil {\n\t\treturn nil, err\n\t}\n",
]
_SPACES = [" ", "\t", "\n", "\r\n", "\u3000", "\xa0", "\u2028", "\u200b", "\x0b", "\x1c"]


def random_codepoints(rng: random.Random, n: int) -> str:
    """Any code point (recently assigned ones included), surrogates excluded."""
    out = []
    while len(out) < n:
        cp = rng.choice([rng.randint(0, 0x7F), rng.randint(0x80, 0x2FFF), rng.randint(0, 0x10FFFF)])
        if not 0xD800 <= cp < 0xE000:
            out.append(chr(cp))
    return "".join(out)


def random_text(rng: random.Random, special: str | None = "<|endoftext|>") -> str:
    parts: list[str] = []
    for _ in range(rng.randint(1, 30)):
        k = rng.random()
        if k < 0.25:
            parts.append(rng.choice(_SCRIPTS))
        elif k < 0.4:
            parts.append(rng.choice(_CODE))
        elif k < 0.55:
            parts.append(random_codepoints(rng, rng.randint(1, 12)))
        elif k < 0.65:
            parts.append(rng.choice(_SPACES) * rng.randint(1, 70))
        elif k < 0.75:
            parts.append("".join(chr(rng.randint(0x20, 0x7E)) for _ in range(rng.randint(1, 25))))
        elif k < 0.8 and special:
            parts.append(special)
        elif k < 0.84:
            parts.append(rng.choice("ab9-") * rng.randint(130, 400))  # past the array length
        else:
            parts.append(" " + " ".join(rng.choice(_SCRIPTS).split()[:3]))
    return "".join(parts)


def corpus(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    texts = [random_text(rng) for _ in range(n)]
    return [*texts, "", " ", "   \n\n   ", "<|endoftext|>", "a"]
