"""A generated PII evaluation set: our own templates filled with Faker values.

Each record is a short text with the character spans of every PII value put in it, by type
(our entity keys). The same idea as presidio-research's data generator, written here from
scratch: templates in English, German and French, values from Faker's locales (phone
formats of seven countries, every card brand Faker knows including 12-digit Maestro, IBANs
of several countries, sometimes lower-case or grouped), and "distractor" texts full of
numbers that are not PII (driver licences, street addresses, order numbers, dates, prices,
non-Luhn card-like numbers): they hold no gold span, so every hit in them is a false positive.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from faker import Faker

PHONE_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "it_IT", "es_ES", "nl_NL")
CARD_TYPES = ("visa", "mastercard", "amex", "maestro", "discover", "jcb", "diners")
IBAN_LOCALES = ("de_DE", "fr_FR", "en_GB", "nl_NL", "es_ES", "it_IT")

TEMPLATES: dict[str, list[str]] = {
    "EMAIL": [
        "For questions write to {v} and we answer within two days.",
        "Schreiben Sie uns an {v}, wir melden uns.",
        "Contact: {v}",
        "Mon adresse est {v} si besoin.",
    ],
    "PHONE": [
        "Call us on {v} between 9 and 5.",
        "You can reach me at {v} or by mail.",
        "Telefon: {v}",
        "Appelez le {v} pour réserver.",
        "Her number is {v}, call after six.",
        "Fax {v}",
    ],
    "CREDIT_CARD": [
        "I paid with card {v} yesterday.",
        "Card number: {v}, expires 09/27.",
        "Meine Karte {v} wurde abgelehnt.",
        "Please charge {v} for the balance.",
    ],
    "IBAN": [
        "Please transfer the fee to {v} by Friday.",
        "IBAN: {v}",
        "Bitte überweisen Sie auf {v}.",
        "Virement sur le compte {v} reçu.",
    ],
    "US_SSN": [
        "My social security number is {v}.",
        "SSN {v} was on the form.",
        "The applicant listed {v} as SSN.",
    ],
    "IP": [
        "The request came from {v} at noon.",
        "Server address {v} stopped answering.",
        "Login from IP {v} blocked.",
    ],
}

DISTRACTORS = [
    "Driver's license: {licence}. Valid until 2029.",
    "DL number {licence_num} issued in Ohio.",
    "The office is at {street}, {city}.",
    "Ship to {street}, Suite {unit}, {city}.",
    "Order {order} shipped on {date}.",
    "Invoice no. {invoice} total {price} EUR.",
    "Reference {ref} dated {date} at {time}.",
    "The ISBN is {isbn}; page {page}.",
    "Account {account} has {price} USD left.",
    "Tracking number {tracking} arrives {date}.",
    "Version {version} was released in {year}.",
    "Population {pop} in {year}, up {pct}% since {year2}.",
    "Das Büro ist in der {de_street}, {de_city}.",
    "Rendez-vous au {fr_street} le {date}.",
]


@dataclass
class Record:
    text: str
    spans: list[tuple[str, int, int]] = field(default_factory=list)  # (key, start, end)


def _card(fake: Faker, rng: random.Random) -> str:
    num = fake.credit_card_number(card_type=rng.choice(CARD_TYPES))
    style = rng.random()
    if style < 0.5 or len(num) not in (12, 16):
        return num
    sep = rng.choice(" -")
    return sep.join(num[i : i + 4] for i in range(0, len(num), 4))


def _iban(fakes: dict[str, Faker], rng: random.Random) -> str:
    iban = fakes[rng.choice(IBAN_LOCALES)].iban()
    if rng.random() < 0.3:
        iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban.lower() if rng.random() < 0.2 else iban


def value(key: str, fakes: dict[str, Faker], rng: random.Random) -> str:
    fake = fakes["en_US"]
    if key == "EMAIL":
        return rng.choice((fake.email, fake.free_email, fakes["de_DE"].email))()
    if key == "PHONE":
        return fakes[rng.choice(PHONE_LOCALES)].phone_number()
    if key == "CREDIT_CARD":
        return _card(fake, rng)
    if key == "IBAN":
        return _iban(fakes, rng)
    if key == "US_SSN":
        return fake.ssn()
    if key == "IP":
        return fake.ipv4() if rng.random() < 0.7 else fake.ipv6()
    raise KeyError(key)


def _non_luhn_card(fake: Faker) -> str:
    num = fake.credit_card_number(card_type="visa16")
    last = (int(num[-1]) + 1) % 10
    return " ".join((num[:-1] + str(last))[i : i + 4] for i in range(0, 16, 4))


def distractor(fakes: dict[str, Faker], rng: random.Random) -> str:
    fake = fakes["en_US"]
    de, fr = fakes["de_DE"], fakes["fr_FR"]
    fields = {
        "licence": fake.bothify(rng.choice(("?###-####-####", "?########", "##-###-####"))),
        "licence_num": fake.numerify("###-###-###"),
        "street": fake.street_address(),
        "unit": fake.numerify("###"),
        "city": fake.city(),
        "order": fake.numerify(rng.choice(("#########", "##-#####-##", "#######"))),
        "invoice": fake.numerify("####/####"),
        "price": f"{rng.randint(1, 99999)}.{rng.randint(0, 99):02d}",
        "ref": fake.bothify("??-########").upper(),
        "date": fake.date(rng.choice(("%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y"))),
        "time": fake.time("%H:%M"),
        "isbn": fake.isbn13(),
        "page": str(rng.randint(1, 900)),
        "account": rng.choice((fake.numerify("########"), _non_luhn_card(fake))),
        "tracking": fake.bothify("1Z###?##########").upper(),
        "version": f"{rng.randint(1, 20)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}",
        "year": str(rng.randint(1950, 2026)),
        "year2": str(rng.randint(1900, 1949)),
        "pop": f"{rng.randint(1000, 9999999):,}",
        "pct": str(rng.randint(1, 99)),
        "de_street": de.street_address(),
        "de_city": f"{de.postcode()} {de.city()}",
        "fr_street": fr.street_address(),
    }
    return rng.choice(DISTRACTORS).format(**fields)


def generate(n: int = 1200, seed: int = 16) -> list[Record]:
    """``n`` records: about three quarters with one to three PII values, the rest
    distractors. Deterministic for a seed."""
    rng = random.Random(seed)
    # sorted: a set's order changes with the hash seed, and each locale gets seed + i
    fakes = {loc: Faker(loc) for loc in sorted({*PHONE_LOCALES, *IBAN_LOCALES, "en_US"})}
    for i, f in enumerate(fakes.values()):
        f.seed_instance(seed + i)
    out: list[Record] = []
    keys = sorted(TEMPLATES)
    for _ in range(n):
        if rng.random() < 0.25:
            out.append(Record(distractor(fakes, rng)))
            continue
        rec = Record("")
        for j in range(rng.choice((1, 1, 2, 3))):
            key = rng.choice(keys)
            before, _, after = rng.choice(TEMPLATES[key]).partition("{v}")
            v = value(key, fakes, rng)
            lead = rec.text + (" " if j else "") + before
            rec.spans.append((key, len(lead), len(lead) + len(v)))
            rec.text = lead + v + after
        out.append(rec)
    return out
