"""The held-out evaluation of rule (3): writing the matcher was not built from.

The in-sample pairs (:mod:`bench.dedupe_eval`) are perturbed with the shorthand
the matcher itself undoes, so they cannot show what it misses. These pairs are
perturbed with what it was never given:

* slang pairs of a public lexicon, indo-normalizer 1.2.0's ``slangs.csv`` (MIT,
  vendored with its licence in ``bench/data/``), of which only the entries
  whose slang the matcher's own table (``ABBREVIATIONS``) does not hold, and of
  those only the half that a fixed hash holds out (:func:`held_out`), are used;
* vowels dropped from content words as thumbs do (``rusak`` → ``rsk``),
  letters drawn out (``banget`` → ``bangettt``) and digits for letters
  (``4ir``), none of which a table can list;
* each app's own category for the problem (Ujar files trash under its
  catch-all ``LLN``, Tanjak fallen trees under ``lainnya``): the categories of
  a pair are what the two apps would send, not one shared topic.

Negatives are the near-misses real cities produce: the same street with
another RT/RW, the same citizen's other problem within the week (often in a
catch-all on one side), and two citizens reporting the same pothole — which
bridge.md counts as two complaints ("different citizens reporting the same
place are separate complaints"), so it is labelled not a duplicate.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Final

from adapters.local import sample
from adapters.local.sambat import normalize as sambat
from adapters.local.tanjak import normalize as tanjak
from adapters.local.ujar import normalize as ujar
from adapters.sandbox.sambat import _TOPIC_KATEGORI
from adapters.sandbox.tanjak import _KATEGORI_BY_TOPIC
from adapters.sandbox.ujar import _CATEGORY_BY_TOPIC
from bench.dedupe_eval import CATEGORIES, PROBLEMS, SOURCES, Generator, Pair, Side, same_spot
from bridge.sync.dedupe import ABBREVIATIONS, canonical_category, word_forms

SEED: Final = 20261205
LEXICON_PATH: Final = Path(__file__).resolve().parent / "data" / "indo-normalizer-1.2.0-slangs.csv"
#: what the README and the report name
LEXICON: Final = "indo-normalizer 1.2.0 corpus/slangs.csv (MIT)"

#: every app's catch-all, as a LAPOR path
OTHER: Final = "TOPIK LAINNYA"
#: kind of pair → (is it a duplicate, how many pairs)
KINDS: Final[dict[str, tuple[bool, int]]] = {
    "lexicon_slang": (True, 240),
    "thumb_typed": (True, 200),
    "retold_slang": (True, 200),
    "other_rt_rw": (False, 200),
    "same_week_other_problem": (False, 240),
    "catch_all_other_problem": (False, 200),
    "two_citizens_one_pothole": (False, 120),
}

#: a lexicon's standard form → the word a sample text uses for it (the lexicon's
#: "enggak" is the spoken standard of the written "tidak")
_WRITTEN: Final = {"enggak": "tidak", "kalo": "kalau", "gue": "saya", "aku": "saya"}


# --- the lexicon --------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    slang: str
    formal: str


@cache
def lexicon(path: Path = LEXICON_PATH) -> tuple[Entry, ...]:
    """Every entry of the vendored lexicon, in file order (one slang may have two readings)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return tuple(
        Entry(row["slang"].strip().lower(), row["formal"].strip().lower())
        for row in rows
        if row["slang"].strip() and row["formal"].strip()
    )


def held_out(entry: Entry) -> bool:
    """A fixed half of the lexicon, by the hash of its slang: never tuned on."""
    return hashlib.sha256(entry.slang.encode("utf-8")).digest()[0] % 2 == 1


def usable(entry: Entry) -> bool:
    """Held out, not in the matcher's table, one plain word for one plain word."""
    return (
        held_out(entry)
        and entry.slang not in ABBREVIATIONS
        and entry.slang.isalpha()
        and entry.formal.isalpha()
        and entry.slang != entry.formal
    )


def is_abbreviation(entry: Entry) -> bool:
    """An abbreviation entry: the slang is the standard word with letters left out
    (``dpt`` → ``dapat``, ``blm`` → ``belum``), not another word or an elongation."""
    slang, formal = entry.slang, entry.formal
    if not slang.isalpha() or " " in formal or len(slang) >= len(formal):
        return False
    letters = iter(formal)
    return slang[0] == formal[0] and all(ch in letters for ch in slang)


def covered(entry: Entry) -> bool:
    """Whether the matcher reads the slang as it reads the standard form."""
    formal = _WRITTEN.get(entry.formal, entry.formal)
    return word_forms(entry.slang) == word_forms(formal)


@dataclass(frozen=True)
class Coverage:
    entries: int
    covered: int

    @property
    def share(self) -> float:
        return self.covered / self.entries if self.entries else 0.0


def coverage(entries: Iterable[Entry]) -> Coverage:
    chosen = list(entries)
    return Coverage(len(chosen), sum(covered(e) for e in chosen))


@cache
def _slang_of() -> dict[str, tuple[str, ...]]:
    """Standard word (as a sample text writes it) → its held-out slang forms."""
    out: dict[str, list[str]] = {}
    for entry in lexicon():
        if usable(entry):
            out.setdefault(_WRITTEN.get(entry.formal, entry.formal), []).append(entry.slang)
    return {word: tuple(forms) for word, forms in out.items()}


# --- perturbations ------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z]+")
_VOWELS = re.compile(r"(?<=.)[aeiou](?=.)")
_LEET: Final = {"a": "4", "e": "3", "i": "1", "o": "0"}


def _sub_words(text: str, replace: Callable[[str], str]) -> str:
    return _WORD.sub(lambda m: replace(m[0]), text)


def _keep_case(old: str, new: str) -> str:
    return new.capitalize() if old[:1].isupper() else new


def slangify(rng: random.Random, text: str, share: float = 0.8) -> str:
    """Words the held-out lexicon has slang for, replaced by one of its forms."""
    forms = _slang_of()

    def replace(word: str) -> str:
        found = forms.get(word.lower())
        if found is None or rng.random() >= share:
            return word
        return _keep_case(word, rng.choice(found))

    return _sub_words(text, replace)


def _proper_name(word: str, start: bool) -> bool:
    return word[:1].isupper() and not start


def thumb(rng: random.Random, text: str, names: Iterable[str] = ()) -> str:
    """Typed with a thumb: inner vowels dropped from a few longer words, a letter drawn
    out, now and then a digit for a letter; lower case, little punctuation. Names (a
    capital mid-sentence, or the words of ``names``) and numbers are left alone:
    citizens shorten common words, and a place must stay the place."""
    kept = {w.lower() for name in names for w in _WORD.findall(name)}
    words = text.split()
    candidates = [
        i
        for i, w in enumerate(words)
        if w.isalpha()
        and len(w) >= 5
        and w.lower() not in kept
        and not _proper_name(w, i == 0 or words[i - 1][-1:] in ".!?")
    ]
    rng.shuffle(candidates)
    for i in candidates[: rng.randint(1, 3)]:
        words[i] = _VOWELS.sub("", words[i].lower())
    for i in candidates[3 : 3 + rng.randint(0, 2)]:
        word = words[i]
        words[i] = word + word[-1] * rng.randint(2, 4)
    if candidates[5:] and rng.random() < 0.3:
        i = candidates[5]
        words[i] = "".join(_LEET.get(ch, ch) if j == 1 else ch for j, ch in enumerate(words[i]))
    out = " ".join(words)
    if rng.random() < 0.6:
        out = re.sub(r"[.,;:]", "", out)
    return out.lower() if rng.random() < 0.6 else out


# --- categories as each app sends them ------------------------------------------------


def app_category(source: str, topic: str) -> str:
    """The LAPOR path an app's record of ``topic`` arrives with: through that app's own
    category (its catch-all when it has none for the topic)."""
    if source == "tanjak":
        path = tanjak.CATEGORIES[_KATEGORI_BY_TOPIC[topic]]
    elif source == "ujar":
        path = ujar.CATEGORIES[_CATEGORY_BY_TOPIC[topic]]
    elif source == "sambat":
        path = sambat.CATEGORIES[_TOPIC_KATEGORI[topic]]
    else:  # the Open311 city: a service per sample topic, else its "other"
        path = CATEGORIES.get(topic, OTHER)
    return canonical_category(path)


def _recategorize(pair: Pair, topic_a: str, topic_b: str) -> Pair:
    a = dataclasses.replace(pair.a, category=app_category(pair.a.source, topic_a))
    b = dataclasses.replace(pair.b, category=app_category(pair.b.source, topic_b))
    return dataclasses.replace(pair, a=a, b=b)


def _names(place: sample.Place) -> tuple[str, ...]:
    return (place.street, place.kelurahan)


# --- generation -----------------------------------------------------------------------


@dataclass
class HeldOut(Generator):
    """The held-out kinds, on the in-sample generator's people, places and times."""

    def _pair(self, kind: str, base: object, text_a: str, text_b: str, **kw: object) -> Pair:
        # the in-sample kinds label the pair; relabelled as this kind
        pair = self.pair("paraphrase", base, text_a, text_b, **kw)  # type: ignore[arg-type]
        return dataclasses.replace(pair, kind=kind, duplicate=KINDS[kind][0])

    def lexicon_slang(self) -> Pair | None:
        base = self.base()
        text = slangify(self.rng, self.variant(base))
        if text == base.text:
            return None
        return _recategorize(self._pair("lexicon_slang", base, base.text, text), *[base.topic] * 2)

    def thumb_typed(self) -> Pair | None:
        base = self.base()
        text = thumb(self.rng, slangify(self.rng, base.text, 0.5), _names(base.place))
        pair = self._pair("thumb_typed", base, base.text, text)
        return _recategorize(pair, base.topic, base.topic)

    def retold_slang(self) -> Pair | None:
        base = self.base()
        text = self.retell(base, informal=None)
        if text is None:
            return None
        text = slangify(self.rng, text)
        if self.rng.random() < 0.5:
            text = thumb(self.rng, text, _names(base.place))
        pair = self._pair("retold_slang", base, base.text, text)
        return _recategorize(pair, base.topic, base.topic)

    def other_rt_rw(self) -> Pair | None:
        base = self.base()
        street = base.place.street if base.place.street in base.text else None
        if street is None:
            return None
        rt_a, rt_b = self.rng.sample(range(1, 15), 2)
        rw = self.rng.randint(1, 9)
        same_rw = self.rng.random() < 0.5
        form = self.rng.choice(("RT {:02d}/RW {:02d}", "RT {} RW {}", "rt {:02d} rw {:02d}"))
        text_a = base.text.replace(street, f"{street} {form.format(rt_a, rw)}", 1)
        rw_b = rw if same_rw else self.rng.choice([n for n in range(1, 10) if n != rw])
        text_b = base.text.replace(street, f"{street} {form.format(rt_b, rw_b)}", 1)
        text_b = slangify(self.rng, text_b, 0.5)
        pair = self._pair("other_rt_rw", base, text_a, text_b)
        return _recategorize(pair, base.topic, base.topic)

    def _other_problem(self, kind: str, *, catch_all: bool) -> Pair | None:
        base = self.base()
        if catch_all:
            # a second problem that one of the city's apps files under its catch-all
            apps = SOURCES[base.city]
            topics = [t for t in sample.TOPICS if any(OTHER in app_category(a, t) for a in apps)]
        else:
            topics = list(sample.TOPICS)
        if not topics:
            return None
        topic = self.rng.choice(topics)
        if topic == base.topic:
            text = self.retell(base, informal=None, other=True)
            if text is None or base.topic not in PROBLEMS:
                return None
        else:
            text = sample.complaint(self.rng, topic, base.place).text
        text = slangify(self.rng, text, 0.5)
        gap = timedelta(hours=self.rng.uniform(1, 71))  # within the week, within the window
        pair = self._pair(kind, base, base.text, text, gap=gap)
        if pair.a.text == text:
            return _recategorize(pair, topic, base.topic)
        return _recategorize(pair, base.topic, topic)

    def same_week_other_problem(self) -> Pair | None:
        return self._other_problem("same_week_other_problem", catch_all=False)

    def catch_all_other_problem(self) -> Pair | None:
        pair = self._other_problem("catch_all_other_problem", catch_all=True)
        if pair is None or OTHER not in (pair.a.category, pair.b.category):
            return None  # the pair's apps came the other way round: no catch-all met
        return pair

    def two_citizens_one_pothole(self) -> Pair | None:
        base = self.base(topics=("jalan",))
        text = slangify(self.rng, self.variant(base), 0.5)
        if not same_spot(base.text, text):
            return None
        pair = self._pair("two_citizens_one_pothole", base, base.text, text, phone=self.phone())
        return _recategorize(pair, "jalan", "jalan")


def generate(seed: int = SEED) -> list[Pair]:
    """Every held-out kind in :data:`KINDS`, in that order, the same for the same seed."""
    gen = HeldOut(seed)
    pairs: list[Pair] = []
    for kind, (_, count) in KINDS.items():
        make: Callable[[], Pair | None] = getattr(gen, kind)
        made = 0
        while made < count:
            pair = make()
            if pair is not None:
                pairs.append(pair)
                made += 1
    return pairs


__all__ = [
    "KINDS",
    "LEXICON",
    "LEXICON_PATH",
    "SEED",
    "Coverage",
    "Entry",
    "Side",
    "app_category",
    "coverage",
    "covered",
    "generate",
    "held_out",
    "is_abbreviation",
    "lexicon",
    "slangify",
    "thumb",
    "usable",
]
