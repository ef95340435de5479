"""The labelled pairs that measure rule (3), and the measurement itself.

``python -m bench.dedupe_eval`` generates the pairs from a seed, writes them to
``tests/data/dedupe_pairs.jsonl`` and prints precision, recall and F1 of
:func:`bridge.sync.dedupe.decide` on them, by kind of pair. ``--check`` only
verifies that the file in the repository is what the seed gives.

Why generated: a labelled set must be large (thousands of pairs) and cover the
ways real pairs differ, and a seed makes it reviewable and reproducible. The
texts come from :mod:`adapters.local.sample` (formal and SMS templates of real
Indonesian complaints) and from perturbations made here: typos, SMS shorthand,
word order, retyping. The label is what a careful clerk would decide:

* duplicates — one citizen (same phone), one problem (same topic and the same
  problem within it), one street, no contradicting numbered landmark, within
  72 hours, through two apps;
* not duplicates — a different problem of the same citizen (same category or
  not), the same problem from a different citizen, the same text about another
  street or another numbered spot (RT, house, school), an anonymous side, or
  more than 72 hours apart.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from pydantic import SecretStr

from adapters.local import sample
from bridge.core.model import Complaint, Reporter, Status
from bridge.core.phone import normalize_phone
from bridge.sync.dedupe import Decision, decide

SEED: Final = 20250605
PAIRS_PATH: Final = Path(__file__).resolve().parent.parent / "tests" / "data" / "dedupe_pairs.jsonl"
#: the phone-key secret used for evaluation (any one works: both sides share it)
SECRET: Final = b"dedupe-eval"

#: kind of pair → (is it a duplicate, how many pairs)
KINDS: Final[dict[str, tuple[bool, int]]] = {
    "paraphrase": (True, 220),
    "sms_style": (True, 220),
    "noisy_paraphrase": (True, 160),
    "typos": (True, 200),
    "abbreviations": (True, 180),
    "word_order": (True, 140),
    "retyped": (True, 140),
    "other_problem": (False, 260),
    "other_category": (False, 120),
    "other_citizen": (False, 180),
    "other_street": (False, 280),
    "other_spot": (False, 160),
    "anonymous": (False, 100),
    "over_72h": (False, 100),
}

#: the LAPOR category of each sample topic, as the city sandboxes map them
CATEGORIES: Final[dict[str, str]] = {
    "banjir": "PEKERJAAN UMUM DAN PENATAAN RUANG/DRAINASE (GORONG-GORONG/PARIT)",
    "sampah": "LINGKUNGAN HIDUP DAN KEHUTANAN/PENGELOLAAN SAMPAH",
    "lampu": "PERHUBUNGAN/LAMPU PENERANGAN JALAN UMUM",
    "jalan": "PEKERJAAN UMUM DAN PENATAAN RUANG/INFRASTRUKTUR JALAN/JALAN BERLUBANG",
    "pohon": "LINGKUNGAN HIDUP DAN KEHUTANAN",
    "parkir": "PERHUBUNGAN/PARKIR LIAR",
    "kabel": "PEKERJAAN UMUM DAN PENATAAN RUANG",
    "sosial": "SOSIAL DAN KESEJAHTERAAN",
    "kesehatan": "KESEHATAN",
    "pendidikan": "PENDIDIKAN DAN KEBUDAYAAN",
    "kependudukan": "KEPENDUDUKAN",
    "perizinan": "TOPIK LAINNYA",
}

#: within a topic, the distinct problems the sample texts describe (first match wins);
#: a topic not listed has one problem only
PROBLEMS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "pohon": (("dahan", r"dahan"), ("miring", r"miring"), ("tumbang", r"tumbang")),
    "parkir": (("juru", r"juru parkir|jukir"), ("liar", r"parkir")),
    "kabel": (("galian", r"galian"), ("juntai", r"menjuntai"), ("tiang", r"tiang")),
    "sosial": (("anak", r"anak"), ("lansia", r"lansia"), ("pengemis", r"pengemis")),
    "kesehatan": (("antre", r"antre|antri"), ("dbd", r"fogging|demam"), ("ramah", r"ramah")),
    "pendidikan": (("seragam", r"seragam"), ("atap", r"atap"), ("zonasi", r"diterima")),
    "kependudukan": (("ktp", r"ktp"), ("kk", r"kartu keluarga|\bkk\b"), ("akta", r"akta")),
    "perizinan": (
        ("usaha", r"izin usaha"),
        ("bangunan", r"bangunan"),
        ("keramaian", r"keramaian"),
    ),
}

#: the apps of each city: a citizen's two reports come through two of them
SOURCES: Final[dict[str, tuple[str, str]]] = {
    "tanjungpinang": ("tanjak", "ujar"),
    "malang": ("sambat", "kota-malang"),
}

#: numbered landmarks of the sample texts: the ground truth of "the same spot"
_SPOT = re.compile(r"\b(SD|SMP|gang|gg)\s+0*(\d+)", re.IGNORECASE)
_SPOT_KIND: Final = {"sd": "school", "smp": "school", "gang": "gang", "gg": "gang"}
_DAYS = re.compile(r"\b(\d+)(\s+)(hari|hr)\b")
_START: Final = datetime(2025, 1, 6, tzinfo=UTC)


# --- the pairs ------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One local record of a pair, as much of it as rule (3) reads."""

    source: str
    local_id: str
    text: str
    category: str
    phone: str  # E.164, synthetic
    anonymous: bool
    created_at: str  # RFC 3339, UTC


@dataclass(frozen=True)
class Pair:
    kind: str
    duplicate: bool
    a: Side
    b: Side


def to_line(pair: Pair) -> str:
    return json.dumps(asdict(pair), ensure_ascii=False, separators=(",", ":"))


def from_line(line: str) -> Pair:
    data = json.loads(line)
    return Pair(data["kind"], data["duplicate"], Side(**data["a"]), Side(**data["b"]))


def render(pairs: Iterable[Pair]) -> str:
    """The file's exact content: one JSON object a line."""
    return "".join(to_line(pair) + "\n" for pair in pairs)


def read_pairs(path: Path = PAIRS_PATH) -> list[Pair]:
    return [from_line(line) for line in path.read_text("utf-8").splitlines() if line]


def complaint_of(side: Side) -> Complaint:
    """The canonical complaint a side stands for (the fields rule (3) does not read are fixed)."""
    at = datetime.fromisoformat(side.created_at)
    return Complaint(
        source=side.source,
        local_id=side.local_id,
        title="Pengaduan warga",
        content=side.text,
        category=side.category,
        status=Status.SUBMITTED,
        local_status="baru",
        anonymous=side.anonymous,
        reporter=Reporter(phone=SecretStr(side.phone)),
        region="21.72",
        created_at=at,
        updated_at=at,
    )


# --- perturbations: how the same words come out differently ----------------------

_NEIGHBOURS: Final = {
    "a": "qwsz", "b": "vghn", "c": "xdfv", "d": "serfcx", "e": "wsdr", "f": "drtgvc",
    "g": "ftyhbv", "h": "gyujnb", "i": "ujko", "j": "huikmn", "k": "jiolm", "l": "kop",
    "m": "njk", "n": "bhjm", "o": "iklp", "p": "ol", "q": "wa", "r": "edft", "s": "awedxz",
    "t": "rfgy", "u": "yhji", "v": "cfgb", "w": "qase", "x": "zsdc", "y": "tghu", "z": "asx",
}  # fmt: skip
_WORD = re.compile(r"[A-Za-z]{4,}")


def _typo(rng: random.Random, word: str) -> str:
    """One slip of the thumb: a swap, a dropped, doubled or neighbouring letter."""
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice(("swap", "drop", "double", "near"))
    if op == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == "drop":
        return word[:i] + word[i + 1 :]
    if op == "double":
        return word[:i] + word[i] + word[i:]
    near = _NEIGHBOURS.get(word[i].lower(), word[i])
    return word[:i] + rng.choice(near) + word[i + 1 :]


def typos(rng: random.Random, text: str) -> str:
    """One to four typos, never two in one word."""
    spans = [m.span() for m in _WORD.finditer(text)]
    if not spans:
        return text
    count = min(len(spans), rng.randint(1, max(1, min(4, len(spans) // 6))))
    out = text
    for start, end in sorted(rng.sample(spans, count), reverse=True):
        out = out[:start] + _typo(rng, out[start:end]) + out[end:]
    return out


#: SMS shorthand as citizens type it (the reverse of what the normalizer undoes)
_SHORT: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("lampu penerangan jalan umum", ("pju", "PJU")),
    ("Jl.", ("jl", "jln", "jl.")),
    ("jalan", ("jln", "jl")),
    ("yang", ("yg",)),
    ("tidak", ("tdk", "gak", "gk", "ga")),
    ("sudah", ("sdh", "udh", "udah")),
    ("Sudah", ("udh", "sdh")),
    ("belum", ("blm", "belom")),
    ("depan", ("dpn",)),
    ("dekat", ("dkt", "deket")),
    ("belakang", ("blkg",)),
    ("Mohon", ("tlg", "mhn")),
    ("mohon", ("tlg", "mhn")),
    ("dengan", ("dgn",)),
    ("untuk", ("utk",)),
    ("karena", ("krn",)),
    ("sampai", ("smp", "sampe")),
    ("hari", ("hr",)),
    ("banyak", ("bnyk",)),
    ("Banyak", ("bnyk",)),
    ("sangat", ("bgt",)),
    ("juga", ("jg",)),
    ("kalau", ("klo", "kalo")),
    ("dari", ("dr",)),
    ("orang", ("org",)),
    ("rumah", ("rmh",)),
    ("gang", ("gg",)),
    ("pohon", ("ph",)),
    ("Pohon", ("ph",)),
    ("Setiap", ("tiap",)),
    ("tetapi", ("tp",)),
    ("saya", ("sy",)),
)


def _shorten(rng: random.Random, shorts: tuple[str, ...]) -> Callable[[re.Match[str]], str]:
    """A replacement that shortens most occurrences, as a hurried thumb does."""

    def replace(match: re.Match[str]) -> str:
        return rng.choice(shorts) if rng.random() < 0.85 else match[0]

    return replace


def abbreviate(rng: random.Random, text: str) -> str:
    """The text as an SMS: shorthand, often lower case, often without punctuation."""
    out = text
    for long, shorts in _SHORT:
        pattern = re.compile(rf"(?<![\w.]){re.escape(long)}(?!\w)")
        out = pattern.sub(_shorten(rng, shorts), out)
    if rng.random() < 0.7:
        out = out.lower()
    if rng.random() < 0.5:
        out = re.sub(r"[.,;:()]", "", out)
    return " ".join(out.split())


_ABBREVIATED = re.compile(r"(?:\b(?:Jl|Ir|Dr|Gg|No)|\b[A-Z])\.$")


def reorder(rng: random.Random, text: str) -> str:
    """The same sentences in another order, or the clauses of one sentence turned around."""
    sentences: list[str] = []
    for piece in re.split(r"(?<=[.!?])\s+", text.strip()):
        if sentences and _ABBREVIATED.search(sentences[-1]):  # "Jl." does not end a sentence
            sentences[-1] += " " + piece
        elif piece:
            sentences.append(piece)
    if len(sentences) > 1:
        rng.shuffle(sentences)
        if " ".join(sentences) != text.strip():
            return " ".join(sentences)
        return " ".join(reversed(sentences))
    body = text.strip().rstrip(".")
    clauses = [c for c in body.split(", ") if c]
    if len(clauses) > 1:
        turned = clauses[1:] + clauses[:1]
        joined = ", ".join(turned)
        return joined[0].upper() + joined[1:] + "."
    words = body.split()
    plain = [i for i in range(len(words) - 1) if words[i].islower() and words[i + 1].islower()]
    if plain:
        i = rng.choice(plain)
        words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words) + "."


_OPENINGS: Final = ("Selamat pagi, ", "Assalamualaikum. ", "Lapor, ", "Min, ", "Pak, ")
_CLOSINGS: Final = (
    " Terima kasih.",
    " Mohon segera ditindaklanjuti.",
    " tlg dibantu ya pak",
    " Mohon perhatiannya.",
    " Trims.",
)


def retype(rng: random.Random, text: str) -> str:
    """The same report typed again: a greeting, a closing, a day more, other capitals."""
    out = _DAYS.sub(lambda m: f"{int(m[1]) + rng.randint(1, 2)}{m[2]}{m[3]}", text)
    ops = rng.sample(("open", "close", "lower", "bare"), 2)
    if "open" in ops:
        out = rng.choice(_OPENINGS) + out[0].lower() + out[1:]
    if "close" in ops:
        out = out + rng.choice(_CLOSINGS)
    if "lower" in ops:
        out = out.lower()
    if "bare" in ops:
        out = out.rstrip(".!")
    return out


# --- generation -----------------------------------------------------------------


def problem(topic: str, text: str) -> str:
    """Which of its topic's problems a sample text describes."""
    for name, pattern in PROBLEMS.get(topic, ()):
        if re.search(pattern, text, re.IGNORECASE):
            return name
    if topic in PROBLEMS:
        raise ValueError(f"no known {topic} problem in {text!r}")
    return "main"


def _spots(text: str) -> dict[str, str]:
    return {_SPOT_KIND[m[1].lower()]: str(int(m[2])) for m in _SPOT.finditer(text)}


def same_spot(a: str, b: str) -> bool:
    """No numbered landmark of one kind that differs (ground truth of one spot)."""
    sa, sb = _spots(a), _spots(b)
    return all(sa[k] == sb[k] for k in sa.keys() & sb.keys())


def _street_sms(place: sample.Place) -> str:
    return place.street.removeprefix("Jl. ").lower()


def move(text: str, old: sample.Place, new: sample.Place) -> str:
    """The same text about another place: street (formal and SMS forms) and kelurahan."""
    out = text.replace(old.street, new.street)
    out = re.sub(rf"\b{re.escape(_street_sms(old))}\b", _street_sms(new), out)
    return out.replace(old.kelurahan, new.kelurahan)


@dataclass
class _Base:
    city: str
    place: sample.Place
    topic: str
    text: str
    phone: str

    @property
    def problem(self) -> str:
        return problem(self.topic, self.text)


@dataclass
class Generator:
    """Pairs of every kind from one seed; nothing here iterates over a set."""

    seed: int
    rng: random.Random = field(init=False)
    ids: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # people, times, records
    def phone(self) -> str:
        while True:
            number = normalize_phone(sample.phone_number(self.rng))
            if number is not None:
                return number

    def moment(self) -> datetime:
        return _START + timedelta(minutes=self.rng.randrange(365 * 24 * 60))

    def within(self, at: datetime) -> datetime:
        hours = 71.99 if self.rng.random() < 0.05 else self.rng.uniform(0, 72)
        return at + timedelta(hours=hours)

    def local_id(self, source: str) -> str:
        self.ids += 1
        n = 1000 + self.ids
        return {
            "tanjak": str(n),
            "ujar": f"UJR-{n:07d}",
            "sambat": f"SMB-2025-{n:06d}",
        }.get(source, f"req-{n}")

    def side(
        self,
        base: _Base,
        text: str,
        source: str,
        at: datetime,
        *,
        topic: str | None = None,
        phone: str | None = None,
        anonymous: bool = False,
    ) -> Side:
        return Side(
            source=source,
            local_id=self.local_id(source),
            text=text,
            category=CATEGORIES[topic or base.topic],
            phone=phone or base.phone,
            anonymous=anonymous,
            created_at=at.isoformat().replace("+00:00", "Z"),
        )

    def base(self, *, informal: bool | None = None, topics: Sequence[str] = sample.TOPICS) -> _Base:
        city = self.rng.choice(sample.CITIES)
        place = sample.place(self.rng, city)
        topic = self.rng.choice(topics)
        text = sample.complaint(self.rng, topic, place, informal=informal).text
        return _Base(city, place, topic, text, self.phone())

    def pair(
        self,
        kind: str,
        base: _Base,
        text_a: str,
        text_b: str,
        *,
        gap: timedelta | None = None,
        topic: str | None = None,
        phone: str | None = None,
        anonymous: tuple[bool, bool] = (False, False),
    ) -> Pair:
        """Two records of ``base``'s citizen through the city's two apps, ``gap`` apart.

        By default ``gap`` is drawn within 72 hours; ``topic`` and ``phone``
        change the second record's category and citizen.
        """
        first, second = SOURCES[base.city]
        if self.rng.random() < 0.5:
            first, second = second, first
        at = self.moment()
        at_b = at + gap if gap is not None else self.within(at)
        side_a = self.side(base, text_a, first, at, anonymous=anonymous[0])
        side_b = self.side(
            base, text_b, second, at_b, topic=topic, phone=phone, anonymous=anonymous[1]
        )
        if self.rng.random() < 0.5:  # either may be the one already indexed
            side_a, side_b = side_b, side_a
        return Pair(kind, KINDS[kind][0], side_a, side_b)

    def retell(self, base: _Base, *, informal: bool | None, other: bool = False) -> str | None:
        """The same problem at the same spot told again by sample.py (another template)."""
        for _ in range(60):
            text = sample.complaint(self.rng, base.topic, base.place, informal=informal).text
            if text == base.text or not same_spot(base.text, text):
                continue
            if (problem(base.topic, text) == base.problem) != other:
                return text
        return None

    def variant(self, base: _Base) -> str:
        """Any way of saying the same: a copy, typos, shorthand, retyped or retold."""
        way = self.rng.choice(("copy", "typos", "abbreviate", "retype", "retell"))
        if way == "typos":
            return typos(self.rng, base.text)
        if way == "abbreviate":
            return abbreviate(self.rng, base.text)
        if way == "retype":
            return retype(self.rng, base.text)
        if way == "retell":
            return self.retell(base, informal=None) or base.text
        return base.text

    # one function per kind; None when this base cannot make that kind
    def paraphrase(self) -> Pair | None:
        base = self.base(informal=False)
        text = self.retell(base, informal=False)
        return self.pair("paraphrase", base, base.text, text) if text else None

    def sms_style(self) -> Pair | None:
        base = self.base(informal=False)
        text = self.retell(base, informal=True)
        return self.pair("sms_style", base, base.text, text) if text else None

    def noisy_paraphrase(self) -> Pair | None:
        base = self.base()
        text = self.retell(base, informal=None)
        if text is None:
            return None
        if self.rng.random() < 0.7:
            text = typos(self.rng, text)
        if self.rng.random() < 0.6:
            text = abbreviate(self.rng, text)
        return self.pair("noisy_paraphrase", base, base.text, text)

    def typos(self) -> Pair | None:
        base = self.base()
        return self.pair("typos", base, base.text, typos(self.rng, base.text))

    def abbreviations(self) -> Pair | None:
        base = self.base(informal=False)
        short = abbreviate(self.rng, base.text)
        return self.pair("abbreviations", base, base.text, short) if short != base.text else None

    def word_order(self) -> Pair | None:
        base = self.base(informal=False)
        return self.pair("word_order", base, base.text, reorder(self.rng, base.text))

    def retyped(self) -> Pair | None:
        base = self.base()
        return self.pair("retyped", base, base.text, retype(self.rng, base.text))

    def other_problem(self) -> Pair | None:
        base = self.base(topics=tuple(PROBLEMS))
        text = self.retell(base, informal=None, other=True)
        return self.pair("other_problem", base, base.text, text) if text else None

    def other_category(self) -> Pair | None:
        base = self.base()
        topic = self.rng.choice(
            [t for t in sample.TOPICS if CATEGORIES[t] != CATEGORIES[base.topic]]
        )
        text = sample.complaint(self.rng, topic, base.place).text
        return self.pair("other_category", base, base.text, text, topic=topic)

    def other_citizen(self) -> Pair | None:
        base = self.base()
        return self.pair("other_citizen", base, base.text, self.variant(base), phone=self.phone())

    def other_street(self) -> Pair | None:
        base = self.base()
        there = sample.place(self.rng, base.city)
        if there.street == base.place.street:
            return None
        text = move(base.text, base.place, there)
        if text == base.text:
            return None
        if self.rng.random() < 0.3:
            text = typos(self.rng, text)
        return self.pair("other_street", base, base.text, text)

    def other_spot(self) -> Pair | None:
        base = self.base()
        found = _SPOT.search(base.text)
        if found is not None:
            number = int(found[2])
            other = self.rng.choice([n for n in range(1, 40) if n != number])
            width = len(found[2])
            text = base.text[: found.start(2)] + f"{other:0{width}d}" + base.text[found.end(2) :]
            return self.pair("other_spot", base, base.text, text)
        street = base.place.street if base.place.street in base.text else _street_sms(base.place)
        if street not in base.text:
            return None
        kind = self.rng.choice(("RT {:02d}/RW 03", "RT {} RW 2", "No. {}", "gang {}"))
        one, two = self.rng.sample(range(1, 30), 2)
        text_a = base.text.replace(street, f"{street} {kind.format(one)}", 1)
        text_b = base.text.replace(street, f"{street} {kind.format(two)}", 1)
        return self.pair("other_spot", base, text_a, text_b)

    def anonymous(self) -> Pair | None:
        base = self.base()
        which = self.rng.choice(((True, False), (False, True), (True, True)))
        return self.pair("anonymous", base, base.text, self.variant(base), anonymous=which)

    def over_72h(self) -> Pair | None:
        base = self.base()
        gap = timedelta(hours=72, minutes=self.rng.randint(1, 7 * 24 * 60))
        return self.pair("over_72h", base, base.text, self.variant(base), gap=gap)


def generate(seed: int = SEED) -> list[Pair]:
    """Every kind in :data:`KINDS`, in that order, the same for the same seed."""
    gen = Generator(seed)
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


# --- measurement ----------------------------------------------------------------


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, truth: bool, merged: bool) -> None:
        if truth and merged:
            self.tp += 1
        elif merged:
            self.fp += 1
        elif truth:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Evaluation:
    total: Tally = field(default_factory=Tally)
    by_kind: dict[str, Tally] = field(default_factory=dict)
    errors: list[tuple[Pair, Decision]] = field(default_factory=list)


def evaluate(pairs: Iterable[Pair]) -> Evaluation:
    """Run :func:`decide` on every pair (the second side checked against the first)."""
    result = Evaluation()
    for pair in pairs:
        decision = decide(complaint_of(pair.b), complaint_of(pair.a), secret=SECRET)
        result.total.add(pair.duplicate, decision.merge)
        result.by_kind.setdefault(pair.kind, Tally()).add(pair.duplicate, decision.merge)
        if decision.merge != pair.duplicate:
            result.errors.append((pair, decision))
    return result


def report(result: Evaluation) -> str:
    lines = [f"{'kind':<18} {'pairs':>5} {'merged':>6}  result"]
    for kind, (duplicate, _) in KINDS.items():
        tally = result.by_kind.get(kind)
        if tally is None:
            continue
        n = tally.tp + tally.fp + tally.fn + tally.tn
        merged = tally.tp + tally.fp
        what = (
            f"recall {tally.recall:.3f} ({tally.fn} missed)"
            if duplicate
            else f"{tally.fp} false merges"
        )
        lines.append(f"{kind:<18} {n:>5} {merged:>6}  {what}")
    t = result.total
    lines.append(
        f"overall: {t.tp + t.fp + t.fn + t.tn} pairs, precision {t.precision:.4f},"
        f" recall {t.recall:.4f}, F1 {t.f1:.4f} (TP {t.tp}, FP {t.fp}, FN {t.fn}, TN {t.tn})"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dedupe_eval", description=__doc__)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=PAIRS_PATH)
    parser.add_argument("--check", action="store_true", help="only compare the file to the seed")
    parser.add_argument("--errors", type=int, default=0, help="print this many misjudged pairs")
    parser.add_argument(
        "--holdout",
        type=int,
        default=0,
        metavar="N",
        help="also measure on N in-sample sets from other seeds (not written): THRESHOLD was"
        " chosen on this one",
    )
    args = parser.parse_args(argv)
    content = render(generate(args.seed))
    if args.check:
        same = args.out.exists() and args.out.read_text("utf-8") == content
        print(f"{args.out}: {'matches' if same else 'differs from'} seed {args.seed}")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(content, "utf-8")
    pairs = [from_line(line) for line in content.splitlines()]
    print(f"wrote {len(pairs)} pairs to {args.out} ({len(content.encode()) // 1024} KiB)")
    result = evaluate(pairs)
    print(f"in-sample: perturbed with the matcher's own table, seed {args.seed}")
    print(report(result))
    for pair, decision in result.errors[: args.errors]:
        print(f"\n[{pair.kind}] truth={pair.duplicate} score={decision.score} {decision.reasons}")
        print(f"  a: {pair.a.text}\n  b: {pair.b.text}")
    for seed in range(args.seed + 1, args.seed + 1 + args.holdout):
        print(f"in-sample, seed {seed}: " + report(evaluate(generate(seed))).splitlines()[-1])
    print_held_out(args.errors)
    return 0


def print_held_out(errors: int = 0) -> None:
    """The held-out set (:mod:`bench.dedupe_eval_heldout`): its figures, and how much of
    the lexicon's abbreviations the matcher's normalization covers."""
    from bench import dedupe_eval_heldout as held

    print(f"\nheld out: perturbed with {held.LEXICON}, seed {held.SEED}")
    result = evaluate(held.generate())
    lines = report(result).splitlines()
    for kind, (duplicate, _) in held.KINDS.items():
        tally = result.by_kind[kind]
        what = f"recall {tally.recall:.3f}" if duplicate else f"{tally.fp} false merges"
        print(f"{kind:<26} {tally.tp + tally.fp + tally.fn + tally.tn:>5}  {what}")
    print(lines[-1])
    entries = held.lexicon()
    abbreviations = held.coverage(e for e in entries if held.is_abbreviation(e))
    every = held.coverage(entries)
    print(
        f"lexicon coverage: {abbreviations.covered}/{abbreviations.entries} abbreviation entries"
        f" ({abbreviations.share:.1%}), {every.covered}/{every.entries} of all entries"
        f" ({every.share:.1%}) read as their standard form"
    )
    for pair, decision in result.errors[:errors]:
        print(f"\n[{pair.kind}] truth={pair.duplicate} score={decision.score} {decision.reasons}")
        print(f"  a: {pair.a.text}\n  b: {pair.b.text}")


if __name__ == "__main__":
    sys.exit(main())
