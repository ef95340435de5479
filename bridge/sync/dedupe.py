"""Rule (3) of identity: one citizen, one problem, two apps → one national complaint.

Citizens use several apps of one city, and LAPOR must receive one complaint
per problem and citizen. A false merge silently swallows a citizen's
complaint, so precision comes before recall: a merge needs every hard guard,
cheapest first, and only then texts that say the same thing.

1. both complaints are non-anonymous and carry a phone that normalizes to ``+62…``;
2. the same phone, compared through a keyed hash (:func:`phone_key`), never in clear;
3. compatible categories (:func:`compatible_categories`): equal, either one its app's
   catch-all (every app's "other" maps to LAPOR's ``TOPIK LAINNYA``), or both under one
   LAPOR topic — each app has its own taxonomy, and a citizen picks what theirs offers;
4. created within :data:`WINDOW` (72 hours) of each other;
5. no contradicting place (:func:`place_conflict`): when both texts name a
   street, an RT or RW, a gang, a house number, a school or an area and the
   names differ, they are about two places;
6. :func:`similarity` of the normalized texts at least :data:`THRESHOLD`.

A decision for a pair that fails a guard has score 0 and names the guard.

:func:`normalize_text` turns a citizen's words into a stable, comparable form
(case, punctuation, SMS abbreviations and slang, word order), keeping the
places it found as ``kind:value`` facts. The index keeps each record's text as
written and normalizes it only when a candidate is compared: most records never
meet one. :class:`DedupeIndex` blocks on (phone key, time) through one SQLite
index, then compares categories, so a check reads one citizen's few recent
records, however many records the store maps. Every decision carries its rule,
score and the fingerprints of its inputs — never a name, a phone number or a NIK.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Final

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from bridge.core.model import CATCH_ALL_TOPIC, Complaint
from bridge.core.phone import normalize_phone
from bridge.sync.storeport import IndexedRow, StateStore

__all__ = [
    "RETENTION",
    "RULE",
    "THRESHOLD",
    "WINDOW",
    "Check",
    "Decision",
    "DedupeIndex",
    "Entry",
    "Match",
    "Places",
    "canonical_category",
    "compatible_categories",
    "decide",
    "entry_of",
    "fingerprint",
    "normalize_text",
    "phone_key",
    "place_conflict",
    "places_of",
    "problems_of",
    "similarity",
    "word_forms",
]

#: the name decisions are stored under (rules 1, 2 and 4 live in the engine)
RULE: Final = "3-same-citizen"
#: the longest time between two reports of one problem by one citizen
WINDOW: Final = timedelta(hours=72)
#: the least :func:`similarity` for a merge, chosen on the labelled pairs (bench/dedupe_eval.py)
THRESHOLD: Final = 0.6
#: the version of :func:`normalize_text`; recorded with each decision, since the index keeps
#: normalized texts (re-index when it changes)
NORMALIZER: Final = "2"  # 2: thumb typing undone (drawn-out letters, digits, skeletons)
#: at most this many of one citizen's records in one window are compared
MAX_CANDIDATES: Final = 64
#: how long after it was filed a record keeps its text (and phone key) in the index: the
#: window, plus four days for a record that reaches the bridge late (an outage, a weekend);
#: a record reaching it later still is not compared with those filed before it
RETENTION: Final = timedelta(days=7)
#: the index is purged whenever its clock has moved this far since the last purge
PURGE_STEP: Final = timedelta(hours=1)

# --- vocabulary ---------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    """The words of a whitespace-separated list: the tables below read as prose."""
    return frozenset(text.split())


#: SMS shorthand and slang → the standard word(s); applied before anything else is compared
ABBREVIATIONS: Final[Mapping[str, str]] = {
    # places and roads
    "jl": "jalan", "jln": "jalan", "jaln": "jalan", "jlan": "jalan", "gg": "gang",
    "lr": "lorong", "perum": "perumahan", "komp": "kompleks", "komplek": "kompleks",
    "kel": "kelurahan", "kec": "kecamatan", "kab": "kabupaten", "kp": "kampung",
    "ds": "desa", "dsn": "dusun", "no": "nomor", "nmr": "nomor", "nomer": "nomor",
    "dpn": "depan", "dpan": "depan", "depn": "depan", "blkg": "belakang", "blk": "belakang",
    "blkng": "belakang", "blakang": "belakang", "dkt": "dekat", "dkat": "dekat",
    "deket": "dekat", "smpg": "samping", "spg": "samping", "sblh": "sebelah",
    "sbelah": "sebelah", "sbrg": "seberang", "sebrang": "seberang", "sbrang": "seberang",
    "ujg": "ujung", "spng": "simpang", "smpang": "simpang", "prapatan": "perempatan",
    "rmh": "rumah", "sklh": "sekolah", "skolah": "sekolah", "puskes": "puskesmas",
    "rs": "rumah sakit", "msjd": "masjid", "mesjid": "masjid", "psr": "pasar",
    "kntr": "kantor", "tmpt": "tempat", "tmp": "tempat", "lok": "lokasi",
    # function words
    "yg": "yang", "yng": "yang", "dgn": "dengan", "dg": "dengan", "dng": "dengan",
    "utk": "untuk", "untk": "untuk", "tuk": "untuk", "dr": "dari", "dri": "dari",
    "krn": "karena", "krna": "karena", "karna": "karena", "tp": "tetapi", "tpi": "tetapi",
    "tapi": "tetapi", "kl": "kalau", "klo": "kalau", "kalo": "kalau", "jg": "juga",
    "jga": "juga", "lg": "lagi", "lgi": "lagi", "aja": "saja", "aj": "saja", "sj": "saja",
    "ajah": "saja", "sm": "sama", "sampe": "sampai", "nyampe": "sampai", "smpai": "sampai",
    "spy": "supaya", "biar": "supaya", "sblm": "sebelum", "stlh": "setelah",
    "stelah": "setelah", "skrg": "sekarang", "skrng": "sekarang", "skarang": "sekarang",
    "kmrn": "kemarin", "kmaren": "kemarin", "kemaren": "kemarin", "pd": "pada",
    "dlm": "dalam", "ttg": "tentang", "spt": "seperti", "sprti": "seperti",
    "kyk": "seperti", "kayak": "seperti", "tsb": "tersebut", "bs": "bisa", "bsa": "bisa",
    "hrs": "harus", "msh": "masih", "masi": "masih", "bbrp": "beberapa", "krg": "kurang",
    "lbh": "lebih", "sll": "selalu", "slalu": "selalu", "emg": "memang", "emang": "memang",
    "gmn": "bagaimana", "gimana": "bagaimana", "knp": "kenapa", "bkn": "bukan",
    "gak": "tidak", "ga": "tidak", "gk": "tidak", "tdk": "tidak", "tdak": "tidak",
    "nggak": "tidak", "ngga": "tidak", "enggak": "tidak", "engga": "tidak", "kagak": "tidak",
    "ndak": "tidak", "nda": "tidak", "tak": "tidak", "blm": "belum", "blum": "belum",
    "belom": "belum", "lom": "belum", "sdh": "sudah", "udh": "sudah", "udah": "sudah",
    "dah": "sudah", "sdah": "sudah", "sudh": "sudah", "uda": "sudah", "bgt": "sangat",
    "banget": "sangat", "bngt": "sangat", "sgt": "sangat", "bnyk": "banyak", "byk": "banyak",
    "bnyak": "banyak", "byak": "banyak", "org": "orang", "orng": "orang", "tlg": "tolong",
    "tlong": "tolong", "mhn": "mohon", "pls": "tolong", "trims": "terima kasih",
    "makasih": "terima kasih", "mksh": "terima kasih", "tks": "terima kasih",
    "thx": "terima kasih", "sy": "saya", "sya": "saya", "aku": "saya", "gw": "saya",
    "gue": "saya", "gua": "saya", "kmi": "kami", "mrk": "mereka", "bpk": "bapak",
    "pak": "bapak", "bu": "ibu", "mimin": "admin", "min": "admin", "wrg": "warga",
    "jd": "jadi", "jdi": "jadi", "kluar": "keluar", "klr": "keluar", "msk": "masuk",
    "ampe": "sampai", "bener": "benar", "bnr": "benar", "sdg": "sedang", "lgsg": "langsung",
    # time
    "hr": "hari", "hri": "hari", "mgg": "minggu", "mg": "minggu", "bln": "bulan",
    "thn": "tahun", "th": "tahun", "jm": "jam", "mlm": "malam", "pgi": "pagi",
    # things complained about
    "ph": "pohon", "phn": "pohon", "kbl": "kabel", "lmp": "lampu", "smph": "sampah",
    "jukir": "juru parkir", "pju": "lampu penerangan jalan umum",
    "dbd": "demam berdarah", "kk": "kartu keluarga", "ektp": "ktp elektronik",
    "akte": "akta", "mbl": "mobil", "mtr": "motor", "kndraan": "kendaraan",
    "gede": "besar", "skt": "sakit", "ank": "anak", "anjal": "anak jalanan",
}  # fmt: skip

#: words for the same thing in a complaint, folded to one (a stemmer by table: explainable)
SYNONYMS: Final[Mapping[str, str]] = {
    "got": "saluran", "parit": "saluran", "selokan": "saluran", "drainase": "saluran",
    "gorong": "saluran", "bolong": "lubang", "lobang": "lubang", "berlubang": "lubang",
    "lubangnya": "lubang", "padam": "mati", "roboh": "tumbang", "rubuh": "tumbang",
    "ambruk": "tumbang", "numpuk": "tumpuk", "menumpuk": "tumpuk", "tumpukan": "tumpuk",
    "bertumpuk": "tumpuk", "antri": "antre", "antrean": "antre", "antrian": "antre",
    "ngantri": "antre", "mengantre": "antre", "ngamen": "amen", "mengamen": "amen",
    "pengamen": "amen", "genangan": "genang", "menggenang": "genang", "tergenang": "genang",
    "diangkut": "angkut", "mengangkut": "angkut", "pengangkutan": "angkut",
    "nutup": "tutup", "menutup": "tutup", "ditutup": "tutup", "tertutup": "tutup",
    "busuk": "bau", "menyengat": "bau", "kemacetan": "macet", "bocoran": "bocor",
    "kebocoran": "bocor", "pungli": "pungut", "pungutan": "pungut", "memungut": "pungut",
    "dipungut": "pungut", "condong": "miring", "menjuntai": "juntai", "galian": "gali",
    "digali": "gali", "menggali": "gali", "manula": "lansia", "jompo": "lansia",
    "gelandangan": "pengemis", "gepeng": "pengemis", "pengasapan": "fogging",
    "pangkas": "potong", "dipangkas": "potong", "dipotong": "potong",
    "ditambal": "tambal", "menambal": "tambal",
    "dibersihkan": "bersih", "membersihkan": "bersih", "pembersihan": "bersih",
    "diperbaiki": "perbaiki", "perbaikan": "perbaiki", "memperbaiki": "perbaiki",
}  # fmt: skip

#: words that carry no meaning of their own in a complaint (function words, courtesy, "I report")
STOPWORDS: Final = _words(
    """
    yang dan di ke dari untuk dengan pada dalam ini itu ada adalah akan sudah juga saja
    lagi sangat sekali bisa dapat harus masih karena agar supaya oleh atau tetapi namun
    jika kalau sehingga hingga sampai setiap tiap para kami saya kita mereka dia ia anda
    bapak ibu admin mohon tolong segera terima kasih dong deh sih nih tuh kok ya yah lah
    pun nah mas mbak kak bang gan om sama seperti tersebut beberapa lebih selalu sekarang
    kemarin memang bagaimana kenapa bukan tentang hal soal buat bikin jadi sedang
    langsung apa apakah kapan mana sini situ sana begitu gini gitu telah pernah sejak
    makin semakin banyak warga selamat pagi siang sore malam assalamualaikum kepada
    terhadap bagi secara akibat selama saat ketika waktu padahal walaupun meskipun apalagi
    bahkan hanya cuma paling agak cukup terlalu sering jarang hampir lalu kemudian tadi
    nanti dulu sering setiap sebuah seorang semua lapor laporan melaporkan keluhan
    mengeluh mengadu pengaduan ditindaklanjuti tindaklanjuti dibantu bantu perhatian
    perhatiannya trims tks mohon harap diharapkan berharap atas bawah
    """
)

#: two words that mean one thing, folded to one word before anything is compared
PHRASES: Final[Mapping[tuple[str, str], str]] = {
    ("air", "naik"): "banjir",
    ("lampu", "merah"): "lampumerah",  # a traffic light is a landmark, not a street light
    ("tidak", "menyala"): "mati",
    ("tidak", "nyala"): "mati",
    ("rumah", "sakit"): "rumahsakit",
    ("tidak", "diangkut"): "angkut",
    ("belum", "diangkut"): "angkut",
}

#: kinds of problem citizens report, by the (normalized) words that name them; two wordings
#: of one report name the same kinds, two different reports in one category mostly do not
PROBLEMS: Final[Mapping[str, str]] = {
    "banjir": "banjir genang meluap luap rob lutut saluran sumbat tersumbat mampet dinormalisasi",
    "sampah": "sampah tps tumpuk",
    "angkut": "angkut",
    "lampu": "lampu penerangan",
    "mati": "mati gelap berkedip",
    "lubang": "lubang amblas tambal aspal",
    "tumbang": "tumbang",
    "miring": "miring",
    "dahan": "dahan ranting patah",
    "potong": "potong",
    "pungutan": "pungut",
    "juru_parkir": "juru tarif narik",
    "parkir_liar": "bahu trotoar macet",
    "galian": "gali",
    "kabel_juntai": "juntai putus",
    "tiang": "tiang",
    "anak_jalanan": "jalanan amen",
    "lansia": "lansia terlantar sendirian terurus",
    "pengemis": "pengemis",
    "antrean": "antre menunggu",
    "dbd": "fogging demam berdarah nyamuk",
    "pelayanan": "ramah ketus kasar judes",
    "seragam": "seragam biaya",
    "atap": "atap bocor",
    "zonasi": "diterima zonasi ppdb",
    "ktp": "ktp rekam",
    "kartu_keluarga": "kartu keluarga",
    "akta": "akta kelahiran",
    "izin_usaha": "usaha mikro umkm",
    "bangunan": "bangunan imb pbg",
    "keramaian": "keramaian acara",
}
PROBLEM_OF: Final[Mapping[str, str]] = {
    word: kind for kind, names in PROBLEMS.items() for word in names.split()
}

#: a duration ("sudah 5 hari") changes between two reports of one problem: it is dropped
DURATION_UNITS: Final = frozenset({"hari", "minggu", "bulan", "tahun", "jam", "menit"})

#: words that start a street name
STREET_MARKERS: Final = frozenset({"jl", "jln", "jaln", "jlan", "jalan", "gang", "gg", "lorong"})
#: of these, the ones that only ever mean a street ("jalan" is also the noun "road")
_STRONG_STREET: Final = frozenset({"jl", "jln", "jaln", "jlan", "gg", "gang", "lorong"})
#: words that start the name of an area
PLACE_MARKERS: Final = _words(
    """
    di simpang sekitar kawasan kompleks komplek perumahan perum kelurahan kel kecamatan kec desa
    kampung dusun wilayah daerah lokasi area sepanjang arah menuju
    """
)
#: words of direction: the name that follows is a landmark, not where the problem is named
DIRECTIONS: Final = _words("depan dpn dekat dkt deket samping sebelah seberang belakang blkg ujung")
#: nouns of places: never a name themselves, a name may follow
GENERIC_PLACES: Final = _words(
    """
    sekolah puskesmas masjid mesjid musala mushola surau gereja pasar kantor lurah camat
    ruko rumah jembatan taman lapangan terminal pelabuhan bandara kampus toko warung gedung
    halte perempatan pertigaan bundaran trotoar bahu badan pos ronda tps
    lingkungan rt rw blok nomor no
    """
)
#: a kind of numbered place → the canonical kind; ``sd`` and ``smp`` are both schools
NUMBERED: Final[Mapping[str, str]] = {
    "rt": "rt", "rw": "rw", "gang": "gang", "gg": "gang", "lorong": "gang", "lr": "gang",
    "no": "no", "nomor": "no", "nmr": "no", "nomer": "no", "blok": "blok", "km": "km",
    "sd": "sekolah", "sdn": "sekolah", "smp": "sekolah", "smpn": "sekolah",
    "sma": "sekolah", "sman": "sekolah", "smk": "sekolah", "smkn": "sekolah",
    "mts": "sekolah", "mtsn": "sekolah", "tk": "sekolah",
}  # fmt: skip
#: titles inside street names ("Jl. Ir. Sutami", "Jl. Dr. Sutomo"): skipped
_TITLES: Final = frozenset({"ir", "dr", "drs", "prof", "kh", "hj", "h", "st"})
#: common words of complaints: in a text typed without capitals, a name ends at one of these
COMMON_WORDS: Final = _words(
    """
    mati hidup gelap terang rusak lubang besar kecil parah bahaya berbahaya macet banjir
    tumbang miring patah putus jatuh bau kotor penuh tutup buka numpuk tumpuk sumbat
    tersumbat mampet meluap naik turun tinggi rendah dalam lama baru mahal murah bocor
    sakit sendirian mau minta narik tarik ngamen amen angkut diangkut dibersihkan
    bersih perbaiki tambal potong semua hari jam air hujan lutut sampah lampu kabel pohon
    parkir liar jalanan anak orang motor mobil kendaraan pengendara petugas pelayanan
    antre antri ktp izin usaha uang seragam atap kelas galian gali tiang juntai saluran
    genang genangan terus trus nya kurang ramah terbuka dibiarkan terdekat umum
    penerangan membuat pejalan kaki khawatir berkedip dahan akar akarnya akta baunya
    menimpa roboh rawan kejahatan deras setinggi lumpur dinormalisasi mogok roda dua
    masuk keluar rumah penanganan ditangani menyengat mengundang lalat membuang
    sembarangan bak beberapa sepanjang padam takut lewat pengendara jatuh kelihatan
    tertutup separuh angsana terangkat angin kencang dipangkas tersangkut listrik
    tarif ketentuan trotoar optik menimpa mengamen larut seorang tinggal kondisi terurus
    bantuan dinas sosial terkena demam berdarah dilakukan fogging pasien pungutan
    memberatkan tua ruang murid belajar sambil kena tetesan diterima elektronik rekam
    mengurus kartu keluarga berbelit belit kelahiran salah tulis nama perbaikannya
    mikro ajukan kabar bangunan menutup informasi syarat keramaian acara tumpukan
    petugas kebersihan truk mohon lubangnya makin sejak aspal amblas kurang lebih meter
    kalau lubangnya dalam pju rt rw hp wa nomor telepon merah hijau kuning tambah kurangi
    """
)
_NOT_NAME: Final = (
    STOPWORDS
    | COMMON_WORDS
    | STREET_MARKERS
    | PLACE_MARKERS
    | DIRECTIONS
    | GENERIC_PLACES
    | DURATION_UNITS
    | frozenset(NUMBERED)
    | frozenset(ABBREVIATIONS)
    | frozenset(SYNONYMS)
    | frozenset(SYNONYMS.values())
)

#: every word the tables know: the words a typo is corrected to
VOCABULARY: Final = (
    _NOT_NAME
    | frozenset(PROBLEM_OF)
    | frozenset(w for value in ABBREVIATIONS.values() for w in value.split())
)
#: what a typo may be corrected to: not a stopword, lest a name ("Merdeka") become one ("mereka")
_VOCABULARY_LIST: Final = sorted(w for w in VOCABULARY - STOPWORDS if len(w) >= 5 and w.isalpha())

_PLACE_WORDS: Final = (
    STOPWORDS | STREET_MARKERS | PLACE_MARKERS | DIRECTIONS | GENERIC_PLACES | frozenset(NUMBERED)
)

# --- tokens -------------------------------------------------------------------

_RT_RW = re.compile(r"\brt\s*[./]?\s*rw\.?\s*(\d+)\s*[/.-]\s*(\d+)", re.IGNORECASE)
_DOTTED = re.compile(r"\b([^\W\d_]{1,4})\.(?=\s*[^\W_])")
_DOT_WORDS: Final = frozenset(
    {"jl", "jln", "gg", "no", "dr", "ir", "drs", "prof", "kh", "hj", "h", "st", "kel", "kec"}
    | {"rt", "rw", "dpn", "dkt", "blkg", "kp", "perum", "komp", "nmr", "tlp", "hp", "sd"}
)
_REDUPLICATED = re.compile(r"\b([^\W\d_]+)-\1\b", re.IGNORECASE)
_HYPHEN = re.compile(r"(?<=[^\W_])-(?=[^\W_])")
_ATTACHED = re.compile(
    r"\b(rt|rw|gg|gang|no|sdn?|smpn?|sman?|smkn?|mtsn?|km|blok)(\d+)\b", re.IGNORECASE
)
_TOKEN = re.compile(r"[^\W_]+|[^\w\s]")
_SENTENCE_END: Final = frozenset(".!?\n")


@dataclass(frozen=True, slots=True)
class _Token:
    raw: str
    low: str
    known: str  # ``low``, or the vocabulary word it is a typo of
    word: bool
    sentence_start: bool


def _tokens(text: str) -> list[_Token]:
    """Words and punctuation, with the dots of abbreviations and initials removed."""
    text = unicodedata.normalize("NFKC", text)
    letters = [ch for ch in text if ch.isalpha()]
    if letters and sum(ch.isupper() for ch in letters) > 0.6 * len(letters):
        text = text.lower()  # shouted: capitals say nothing about names
    text = _RT_RW.sub(r"RT \1 RW \2", text)
    text = _DOTTED.sub(_undot, text)
    text = _REDUPLICATED.sub(r"\1", text)  # "anak-anak" is "anak", "Oro-oro" is "Oro"
    text = _HYPHEN.sub(" ", text)
    text = _ATTACHED.sub(r"\1 \2", text)
    tokens: list[_Token] = []
    start = True
    for match in _TOKEN.finditer(text.replace("\n", " . ")):
        raw = match.group()
        word = raw[0].isalnum()
        low = raw.lower()
        # a capitalized word mid-sentence is a name as written: "Piring" is not "miring"
        name = not start and _titlecase(raw)
        tokens.append(_Token(raw, low, low if name or not word else _correct(low), word, start))
        start = (not word and raw in _SENTENCE_END) or (start and not word)
    return tokens


def _correct(word: str) -> str:
    """A word of five letters or more that is one typo away from a known word is that word.

    Known words are those of the tables here (slang, stopwords, places,
    problems), so "menjunai" is read as "menjuntai" and "ksmpung" as "kampung";
    names are not corrected (they are kept as written). Before that, what thumbs do
    to any word is undone (:func:`_thumbed`): letters drawn out (``robohhh``), digits
    for letters (``w4rga``), vowels left out (``mrng``, ``sndrn``).
    """
    if word in VOCABULARY or word in ABBREVIATIONS:
        return word
    word = _thumbed(word)
    if len(word) < 5 or word in VOCABULARY or not word.isalpha():
        return word  # numbers, house numbers, short words: nothing to look up, nothing kept
    return _nearest(word)


_DRAWN_OUT = re.compile(r"([a-z])\1{2,}")
_LEET_DIGIT = re.compile(r"(?<=[a-z])[0134](?=[a-z])")
_LEET: Final = {"0": "o", "1": "i", "3": "e", "4": "a"}
_VOWEL = re.compile(r"[aeiou]")


def _skeleton(word: str) -> str:
    """The first letter and the consonants after it: what is left when vowels are dropped."""
    return word[:1] + _VOWEL.sub("", word[1:])


def _skeletons() -> dict[str, str]:
    """Skeleton → the one known word of four letters or more that has it (ambiguous
    skeletons are left out: "skt" is "sakit" only while no other known word is "s?k?t")."""
    found: dict[str, set[str]] = {}
    for known in VOCABULARY | frozenset(ABBREVIATIONS.values()):
        if len(known) >= 4 and known.isalpha():
            found.setdefault(_skeleton(known), set()).add(known)
    return {skeleton: next(iter(words)) for skeleton, words in found.items() if len(words) == 1}


_SKELETONS: Final = _skeletons()


def _thumbed(word: str) -> str:
    """A word as the thumb meant it: runs of three letters or more squeezed (``bangettt``:
    to one letter, or to two where that is the known word), a digit between letters read
    as the letter (``w4rga``), and a word of three consonants or more with at most its
    last letter a vowel read by its skeleton (``mnjnti`` → ``menjuntai``)."""
    if _LEET_DIGIT.search(word) and not any(ch.isdigit() for ch in _LEET_DIGIT.sub("", word)):
        word = _LEET_DIGIT.sub(lambda m: _LEET[m[0]], word)
    if _DRAWN_OUT.search(word):
        two = _DRAWN_OUT.sub(r"\1\1", word)
        word = two if two in VOCABULARY else _DRAWN_OUT.sub(r"\1", word)
    if word in VOCABULARY or word in ABBREVIATIONS or not word.isalpha():
        return word
    inner = _VOWEL.findall(word[1:-1])
    if len(word) >= 3 and not inner and len(_skeleton(word)) >= 3:
        return _SKELETONS.get(_skeleton(word), word)
    return word


@lru_cache(maxsize=16384)  # a city's misspellings repeat; bounded, it stays small
def _nearest(word: str) -> str:
    found = process.extractOne(word, _VOCABULARY_LIST, scorer=OSA.distance, score_cutoff=1)
    return word if found is None else str(found[0])


def _undot(match: re.Match[str]) -> str:
    word = match.group(1)
    return word + " " if len(word) == 1 or word.lower() in _DOT_WORDS else match.group()


def _titlecase(raw: str) -> bool:
    return len(raw) > 1 and raw[0].isupper() and raw[1:].islower()


def _capital(raw: str) -> bool:
    return raw[0].isupper()


def _proper(token: _Token) -> bool:
    """Capitalized mid-sentence and no common word: a name ("Bunulrejo", not "Trims")."""
    return (
        token.word
        and not token.sentence_start
        and _titlecase(token.raw)
        and token.low not in _NOT_NAME
    )


def _cased(tokens: Sequence[_Token]) -> bool:
    """Whether the writer used capitals for names (a name capitalized mid-sentence)."""
    return any(_proper(t) for t in tokens)


# --- places -------------------------------------------------------------------


_Name = tuple[str, ...]


@dataclass(frozen=True)
class Places:
    """The places a text names.

    ``streets`` follow ``jl``/``jalan``/``gang``; ``landmarks`` follow a word
    of direction (``depan``, ``dekat``, ``samping``, …); ``areas`` are every
    other named place (after ``di``, ``kelurahan``, a kind of building, or
    capitalized mid-sentence); ``numbered`` are RT, RW, gang, house, block,
    kilometre and school numbers.
    """

    streets: tuple[_Name, ...] = ()
    areas: tuple[_Name, ...] = ()
    landmarks: tuple[_Name, ...] = ()
    numbered: frozenset[tuple[str, str]] = frozenset()

    def facts(self) -> list[str]:
        """As ``kind:value`` tokens, sorted: the form kept in the index."""
        out = {f"{prefix}:{'_'.join(name)}" for prefix, name in self._named()}
        out |= {f"{kind}:{value}" for kind, value in self.numbered}
        return sorted(out)

    def _named(self) -> Iterable[tuple[str, _Name]]:
        for prefix, names in (("jl", self.streets), ("at", self.areas), ("near", self.landmarks)):
            for name in names:
                yield prefix, name

    @classmethod
    def from_facts(cls, facts: Iterable[str]) -> Places:
        named: dict[str, set[_Name]] = {"jl": set(), "at": set(), "near": set()}
        numbered: set[tuple[str, str]] = set()
        for fact in facts:
            kind, _, value = fact.partition(":")
            if kind in named:
                named[kind].add(tuple(value.split("_")))
            else:
                numbered.add((kind, value))
        return cls(
            tuple(sorted(named["jl"])),
            tuple(sorted(named["at"])),
            tuple(sorted(named["near"])),
            frozenset(numbered),
        )


def _numbered(kind_word: str, value: _Token) -> tuple[str, str] | None:
    """``SD 005`` → ``("sekolah", "sd5")``; ``RT 03`` → ``("rt", "3")``; else ``None``."""
    kind = NUMBERED.get(kind_word)
    if kind is None or not value.word:
        return None
    if kind == "blok":
        return (kind, value.low) if len(value.low) <= 4 else None
    if not value.low.isdigit():
        return None
    number = str(int(value.low))
    if kind == "sekolah":
        return kind, (kind_word[:-1] if kind_word.endswith("n") else kind_word) + number
    return kind, number


def _name_run(
    tokens: Sequence[_Token], start: int, *, cased: bool, strong: bool
) -> tuple[_Name, int]:
    """The name that starts at ``start``, at most three words, and where it ends.

    A capitalized name runs over capitalized words, even common ones ("Kampung
    Baru", "Jl. Dompak Lama"). A lowercase name is taken only after ``jl`` or
    ``gang``, or in a text written without capitals, and ends at the first
    common word. Place words and stopwords are never names.
    """
    i = start
    while i < len(tokens) and tokens[i].word and tokens[i].known in _TITLES:
        i += 1
    run: list[str] = []
    follow_case = False
    while i < len(tokens) and len(run) < 3:
        token = tokens[i]
        if not token.word or any(ch.isdigit() for ch in token.low):
            break
        capital = _capital(token.raw) and not token.sentence_start
        if token.low in _PLACE_WORDS or (not capital and token.known in _NOT_NAME):
            break
        if len(token.low) == 1 and not (run and token.low in "ivx"):
            i += 1  # an initial, "D.I. Panjaitan"; but "Batu X" is not "Batu"
            continue
        if not run:
            if cased and not capital and not strong:
                break
            follow_case = capital
        elif follow_case and not capital:
            break
        run.append(token.low)
        i += 1
    if run and run[0] == "raya":  # "Jl. Raya Senggarang" is "Senggarang"; "jalan raya" no name
        run.pop(0)
    return tuple(run), i


def places_of(text: str) -> Places:
    """The places a text names, found after place words (``jl``, ``di``, ``depan``, …)."""
    return _places(_tokens(text))


def _places(tokens: Sequence[_Token]) -> Places:
    """One pass over the tokens: a place word says what kind of name may follow."""
    cased = _cased(tokens)
    found: dict[str, list[_Name]] = {"street": [], "area": [], "landmark": []}
    numbered: set[tuple[str, str]] = set()
    pending: str | None = None  # the kind of name that may follow
    anchor: str | None = None  # the kind of building a landmark is: "ruko", "masjid"
    strong = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.word:
            pending, i = None, i + 1
            continue
        low = token.known if token.known in _PLACE_WORDS else token.low
        fact = _numbered(low, tokens[i + 1]) if i + 1 < len(tokens) else None
        if fact is not None:
            numbered.add(fact)
            pending, strong, i = "area", False, i + 2
            continue
        if low in STREET_MARKERS:
            pending, strong, i = "street", low in _STRONG_STREET, i + 1
            continue
        if low in DIRECTIONS:
            pending, anchor, strong, i = "landmark", None, False, i + 1
            continue
        traffic_light = low == "lampu" and i + 1 < len(tokens) and tokens[i + 1].known == "merah"
        if low in PLACE_MARKERS or low in GENERIC_PLACES or traffic_light:
            # "dekat masjid Al-Ikhlas" stays a landmark; "puskesmas Batu IX" is an area
            if pending == "landmark" and low in GENERIC_PLACES | {"lampu"}:
                anchor = "lampumerah" if traffic_light else low
            pending = pending if pending == "landmark" else "area"
            strong, i = False, i + (2 if traffic_light else 1)
            continue
        if pending is not None or (cased and _proper(token)):
            # after a place word, or capitalized mid-sentence in a text that uses capitals
            run, end = _name_run(tokens, i, cased=cased, strong=strong)
            if run:
                if pending == "landmark" and anchor is not None:
                    run = (anchor, *run)  # "ruko ganet" and "ruko wiratno" are two places
                found[pending or "area"].append(run)
                pending, anchor, i = None, None, end
                continue
        pending, anchor, i = None, None, i + 1
    return Places(
        tuple(found["street"]),
        tuple(found["area"]),
        tuple(found["landmark"]),
        frozenset(numbered),
    )


def _same_word(a: str, b: str) -> bool:
    """Equal but for one typo (two from eight letters): ``ganet`` = ``gaent``, ``ijen`` = ``ijeen``.

    Four letters allow an extra letter only: ``baru`` and ``batu`` are two places.
    """
    if a == b:
        return True
    shortest = min(len(a), len(b))
    if shortest < 4 or (shortest == 4 and len(a) == len(b)):
        return False  # "baru" and "batu" are two places; "ijen" and "ijeen" one
    return OSA.distance(a, b) <= (2 if shortest >= 8 else 1)


def _close(a: str, b: str) -> bool:
    """One typo apart, for a word that another word of the same name already anchors."""
    return a == b or (min(len(a), len(b)) >= 3 and OSA.distance(a, b) <= 1)


def _same_name(a: _Name, b: _Name) -> bool:
    """Two names of one place: they share a run of two words, or all of a one-word name.

    ``ganet`` = ``ganet bikin``; ``tugu pahlawan narik`` = ``merah tugu pahlawan``;
    in a run of two, one word equal lets the other have a typo (``hang tuah`` =
    ``haang tuah``); but ``raja haji fisabilillah`` ≠ ``raja ali haji`` and
    ``kijang lama`` ≠ ``dompak lama``.
    """
    if len(a) == 1 or len(b) == 1:
        one, other = (a, b) if len(a) == 1 else (b, a)
        return any(_same_word(one[0], word) for word in other)
    for i in range(len(a) - 1):
        for j in range(len(b) - 1):
            x, y = a[i : i + 2], b[j : j + 2]
            if (x[0] == y[0] and _close(x[1], y[1])) or (x[1] == y[1] and _close(x[0], y[0])):
                return True
            if _same_word(x[0], y[0]) and _same_word(x[1], y[1]):
                return True
    return False


def _unmatched(a: Sequence[_Name], b: Sequence[_Name]) -> bool:
    """Whether some name of ``a`` is like no name of ``b``."""
    return any(not any(_same_name(x, y) for y in b) for x in a)


def _any_same(a: Sequence[_Name], b: Sequence[_Name]) -> bool:
    return any(_same_name(x, y) for x in a for y in b)


def _diverge(a: Sequence[_Name], b: Sequence[_Name]) -> bool:
    """The same landmark followed by different names: "dpn indomaret ganet" / "… wiratno"."""
    if _any_same(a, b):
        return False
    return any(
        len(x) > 1 and len(y) > 1 and _same_word(x[0], y[0]) and not _close(x[1], y[1])
        for x in a
        for y in b
    )


def place_conflict(a: Places, b: Places) -> str | None:
    """Why two texts are about different places, or ``None`` when nothing contradicts.

    In order: a numbered place of one kind (RT, RW, gang, house, school) with
    different numbers; two street names that differ; an area on each side
    that the other does not name ("di Sei Jang" / "di Batu IX"); one landmark
    followed by different names. Agreeing streets settle it, and landmarks
    alone never contradict: "depan Indomaret" and "dekat masjid" may describe
    one spot. A place named by one text only is no evidence, nor is a street
    against a kelurahan (one report may name either).
    """
    kinds = {kind for kind, _ in a.numbered} & {kind for kind, _ in b.numbered}
    for kind in sorted(kinds):
        if not {v for k, v in a.numbered if k == kind} & {v for k, v in b.numbered if k == kind}:
            return f"different {kind}"
    if a.streets and b.streets:
        return None if _any_same(a.streets, b.streets) else "different street"
    if _any_same(a.streets, b.areas + b.landmarks) or _any_same(b.streets, a.areas + a.landmarks):
        return None
    every_a = a.streets + a.areas + a.landmarks
    every_b = b.streets + b.areas + b.landmarks
    if _unmatched(a.areas, every_b) and _unmatched(b.areas, every_a):
        return "different place"
    if _diverge(a.landmarks, b.landmarks):
        return "different place"
    return None


# --- text ---------------------------------------------------------------------


def _expand(tokens: Sequence[_Token]) -> list[str]:
    """Word tokens with typos of known words corrected and abbreviations and slang expanded.

    ``smp`` before a number stays a school (``SMP 4``); elsewhere it is ``sampai``.
    """
    words: list[str] = []
    for i, token in enumerate(tokens):
        if not token.word:
            words.append(".")
            continue
        low = token.known
        following = tokens[i + 1].low if i + 1 < len(tokens) else ""
        if low in NUMBERED and following.isdigit():
            words.append(low)
            continue
        if low == "smp":
            low = "sampai"
        if len(low) > 5 and low.endswith("nya"):
            low = low[:-3]
        words.extend(ABBREVIATIONS.get(low, low).split())
    return words


def word_forms(text: str) -> list[str]:
    """The standard words the normalizer reads ``text`` as, stopwords kept: typos corrected,
    slang expanded, synonyms folded (what a lexicon entry is checked against)."""
    return [SYNONYMS.get(w, w) for w in _expand(_tokens(text)) if w != "."]


def _content(words: Sequence[str]) -> list[str]:
    """The words that carry meaning: phrases folded, no stopwords, durations or punctuation."""
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        following = words[i + 1] if i + 1 < len(words) else ""
        if word.isdigit():
            if following in DURATION_UNITS:  # "5 hari" changes from one report to the next
                i += 2
                continue
            out.append(str(int(word)))
            i += 1
            continue
        phrase = PHRASES.get((word, following))
        if phrase is not None:
            out.append(phrase)
            i += 2
            continue
        word = SYNONYMS.get(word, word)
        if word != "." and len(word) > 1 and word not in STOPWORDS:
            out.append(word)
        i += 1
    return out


def normalize_text(text: str) -> str:
    """A complaint text in comparable form: sorted distinct words, then place facts.

    Lower case, no punctuation, abbreviations and slang expanded (``jln`` →
    ``jalan``, ``gk`` → ``tidak``), synonyms folded, meaningless words and
    durations dropped, words sorted so that their order does not matter. The
    places found (:func:`places_of`) follow as ``kind:value`` tokens.
    """
    tokens = _tokens(text)
    words = sorted(set(_content(_expand(tokens))))
    return " ".join(words + _places(tokens).facts())


def _split(norm: str) -> tuple[list[str], Places]:
    words: list[str] = []
    facts: list[str] = []
    for token in norm.split():
        (facts if ":" in token else words).append(token)
    return words, Places.from_facts(facts)


def problems_of(words: Iterable[str]) -> frozenset[str]:
    """The kinds of problem (:data:`PROBLEMS`) that normalized words name."""
    return frozenset(PROBLEM_OF[w] for w in words if w in PROBLEM_OF)


def _wording(words_a: Sequence[str], words_b: Sequence[str]) -> float:
    """How alike the words are, 0–1: rapidfuzz on the sorted, normalized words."""
    a, b = " ".join(words_a), " ".join(words_b)
    return (fuzz.token_set_ratio(a, b) + fuzz.token_sort_ratio(a, b)) / 200.0


def _problem(words_a: Sequence[str], words_b: Sequence[str]) -> float | None:
    """How much the kinds of problem named agree (Dice), or ``None`` when a text names none."""
    a, b = problems_of(words_a), problems_of(words_b)
    if not a or not b:
        return None
    return 2 * len(a & b) / (len(a) + len(b))


def _score(words_a: Sequence[str], words_b: Sequence[str]) -> float:
    """See :func:`similarity`; on normalized words."""
    if not words_a or not words_b:
        return 0.0
    wording = _wording(words_a, words_b)
    problem = _problem(words_a, words_b)
    return wording if problem is None else (wording + problem) / 2


def similarity(a: str, b: str) -> float:
    """How much two complaint texts say the same thing, from 0 to 1.

    Both are normalized first (:func:`normalize_text`). Half of the score is
    the wording, with rapidfuzz: the mean of ``token_set_ratio`` (high when
    one text's words are all in the other: a short SMS against a long text)
    and ``token_sort_ratio`` (high only when both say much the same, so one or
    two shared words do not count as agreement); their character alignment
    absorbs typos. The other half is whether the texts name the same kind of
    problem (:data:`PROBLEMS`: "tumbang" and "roboh" agree, "tumbang" and
    "miring" do not), which is what two wordings of one report share and two
    reports of one citizen in one category do not. A text naming no known
    kind of problem is judged on its wording alone.
    """
    return _score(_split(normalize_text(a))[0], _split(normalize_text(b))[0])


def fingerprint(text: str) -> str:
    """A short digest of a text's normalized form, for the audit record (no text kept)."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()[:16]


def _digest(norm: str) -> str:
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()[:16]


# --- identity -------------------------------------------------------------------


def phone_key(e164: str, secret: bytes = b"") -> str:
    """A keyed hash of a phone number (HMAC-SHA256), so that the index holds no number.

    With the store's own secret the keys cannot be reversed by hashing every
    possible number without that secret as well.
    """
    return hmac.new(secret, e164.encode("ascii"), hashlib.sha256).hexdigest()


def canonical_category(path: str) -> str:
    """A LAPOR topic path in one spelling: upper case, single spaces, ``TOPIC/SUBTOPIC``."""
    parts = (" ".join(part.split()).upper() for part in path.split("/"))
    return "/".join(part for part in parts if part)


#: the LAPOR topic every app's catch-all maps to (Tanjak ``lainnya``, Ujar ``LLN``, Sambat
#: ``Lain-lain``, an Open311 city's unknown or "other" service): bridge.md, "Identity and
#: duplicates"
CATCH_ALL: Final = CATCH_ALL_TOPIC


def _topic(category: str) -> str:
    """The LAPOR topic of a canonical path: its first part (``DRAINASE (GORONG-GORONG/PARIT)``
    has a slash of its own, but never in the first part)."""
    return category.split("/", 1)[0]


def compatible_categories(a: str, b: str) -> bool:
    """Whether two canonical categories may hold one problem (bridge.md's rule).

    Equal; or either is a catch-all (under :data:`CATCH_ALL`: the citizen's app had no
    better box); or both fall under one LAPOR topic (``LINGKUNGAN HIDUP DAN KEHUTANAN``
    and its ``PENGELOLAAN SAMPAH``). The place guard and the texts decide the rest.
    """
    topic_a, topic_b = _topic(a), _topic(b)
    return a == b or CATCH_ALL in (topic_a, topic_b) or topic_a == topic_b


def _citizen_phone(complaint: Complaint) -> str | None:
    """The reporter's ``+62…`` number, unless anonymous or missing."""
    if complaint.anonymous or complaint.reporter is None or complaint.reporter.phone is None:
        return None
    number = normalize_phone(complaint.reporter.phone.get_secret_value())
    return number if number is not None and number.startswith("+62") else None


@dataclass(frozen=True)
class Entry:
    """What rule (3) knows of one complaint: keys and its text, no personal data.

    The text is normalized only when it is compared (:attr:`text_norm`): most
    records never meet a candidate, and normalizing is the costly part of a check.
    """

    source: str
    local_id: str
    phone_key: str | None  # None: anonymous or no usable phone, never merged
    category: str
    created_at: datetime
    content: str  # the citizen's text as written (normalized already when ``normalized``)
    national_id: int | None = None
    normalized: bool = False  # index rows written before migration m005 hold normalized text

    @property
    def ref(self) -> str:
        return f"{self.source}:{self.local_id}"

    @cached_property
    def text_norm(self) -> str:
        return self.content if self.normalized else normalize_text(self.content)


def entry_of(complaint: Complaint, secret: bytes = b"", national_id: int | None = None) -> Entry:
    """The entry of a complaint: its content is the citizen's text (apps differ on titles)."""
    phone = _citizen_phone(complaint)
    return Entry(
        source=complaint.source,
        local_id=complaint.local_id,
        phone_key=phone_key(phone, secret) if phone is not None else None,
        category=canonical_category(complaint.category),
        created_at=complaint.created_at.astimezone(UTC),
        content=complaint.content,
        national_id=national_id,
    )


# --- decisions ------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """Why two complaints are, or are not, one: stored as is in ``dedupe_decisions``."""

    rule: str
    score: float
    merge: bool
    reasons: tuple[str, ...]
    candidate: str  # SOURCE:LOCAL_ID of the record being decided
    existing: str  # SOURCE:LOCAL_ID it was compared with
    inputs: Mapping[str, str] = field(default_factory=dict)  # fingerprints only


def _inputs(candidate: Entry, existing: Entry) -> dict[str, str]:
    def phone(entry: Entry) -> str:
        return entry.phone_key[:16] if entry.phone_key else ""

    return {
        "normalizer": NORMALIZER,
        "candidate_text": _digest(candidate.text_norm),
        "existing_text": _digest(existing.text_norm),
        "candidate_phone": phone(candidate),
        "existing_phone": phone(existing),
        "candidate_category": _digest(candidate.category),
        "existing_category": _digest(existing.category),
    }


def _guards(candidate: Entry, existing: Entry) -> str | None:
    """The first hard guard that fails, cheapest first; ``None`` when all hold."""
    if candidate.phone_key is None or existing.phone_key is None:
        return "anonymous or no phone"
    if candidate.phone_key != existing.phone_key:
        return "different citizen"
    if not compatible_categories(candidate.category, existing.category):
        return "incompatible categories"
    if abs(candidate.created_at - existing.created_at) > WINDOW:
        return "more than 72 hours apart"
    if candidate.ref == existing.ref:
        return "the same record"
    return None


def _decide_entries(candidate: Entry, existing: Entry) -> Decision:
    """Rule (3) on two entries: the hard guards, the places, then the texts."""

    def decision(score: float, reasons: tuple[str, ...]) -> Decision:
        return Decision(
            rule=RULE,
            score=score,
            merge=score >= THRESHOLD,
            reasons=reasons,
            candidate=candidate.ref,
            existing=existing.ref,
            inputs=_inputs(candidate, existing),
        )

    failed = _guards(candidate, existing)
    if failed is not None:
        return decision(0.0, (failed,))
    words_a, places_a = _split(candidate.text_norm)
    words_b, places_b = _split(existing.text_norm)
    conflict = place_conflict(places_a, places_b)
    if conflict is not None:
        return decision(0.0, (conflict,))
    score = round(_score(words_a, words_b), 4)
    problem = _problem(words_a, words_b)
    if candidate.category != existing.category and problem is not None and problem < 1:
        # the apps' categories do not vouch for one problem: the texts must name the same
        # kinds ("a building blocks the drain" is not "the drain floods")
        return decision(0.0, ("compatible categories, different problems",))
    return decision(
        score,
        (
            "same citizen, compatible categories and 72 hours",
            f"wording {_wording(words_a, words_b):.2f}",
            "problem unnamed" if problem is None else f"problem {problem:.2f}",
            f"{'texts say the same' if score >= THRESHOLD else 'texts differ'} ({score:.2f})",
        ),
    )


def decide(
    candidate: Complaint | Entry, existing: Complaint | Entry, *, secret: bytes = b""
) -> Decision:
    """Whether ``candidate`` is the same citizen's same problem as ``existing`` (rule 3).

    Complaints are turned into entries with ``secret`` for their phone keys;
    entries from an index must have been made with that same secret.
    """
    a = candidate if isinstance(candidate, Entry) else entry_of(candidate, secret)
    b = existing if isinstance(existing, Entry) else entry_of(existing, secret)
    return _decide_entries(a, b)


# --- index ------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """The national complaint a new local record duplicates, and the decision that said so."""

    national_id: int
    source: str
    local_id: str
    decision: Decision

    @property
    def ref(self) -> str:
        """``SOURCE:LOCAL_ID`` of the indexed record matched (resolve the owner by national id)."""
        return f"{self.source}:{self.local_id}"


@dataclass(frozen=True)
class Check:
    """One duplicate check: every candidate's decision, and the best match if any."""

    match: Match | None
    decisions: tuple[Decision, ...]


def _iso(moment: datetime) -> str:
    """UTC ISO with microseconds: one fixed width, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class DedupeIndex:
    """Rule (3) over the store: the ``dedupe_index`` and ``dedupe_decisions`` tables.

    ``secret`` keys the phone hashes; by default the store's own, created with
    the tables (migration ``m003_dedupe``).

    A row (a citizen's text and phone key) is kept only while a new record may still
    be compared with it: :data:`RETENTION` after it was filed, on the index's own
    clock — the latest filing time it has indexed, never ahead of the wall clock. On
    live records that is now; while old records are backfilled it moves with them, so
    those filed within the window of each other are still compared. :meth:`add`
    purges when the clock has moved :data:`PURGE_STEP` since the last purge: one
    pass over a table that the purge itself keeps to a week of records.
    """

    def __init__(self, store: StateStore, *, secret: bytes | None = None) -> None:
        self.store = store
        self.secret = secret if secret is not None else self._stored_secret()
        # check() then add() of the same complaint: normalize its text once
        self._last: tuple[Complaint, Entry] | None = None
        self._clock: datetime | None = None  # read from dedupe_meta at the first add
        self._purged_at: datetime | None = None  # the clock at this instance's last purge

    def _stored_secret(self) -> bytes:
        value = self.store.dedupe_meta("phone_key_secret")
        if value is None:
            raise LookupError("the store has no dedupe secret: run its migrations first")
        return bytes.fromhex(value)

    def entry(self, complaint: Complaint, national_id: int | None = None) -> Entry:
        if self._last is not None and self._last[0] is complaint:
            return dataclasses.replace(self._last[1], national_id=national_id)
        entry = entry_of(complaint, self.secret, national_id)
        self._last = (complaint, entry)
        return entry

    def add(self, complaint: Complaint, national_id: int) -> bool:
        """Index a mapped record; ``False`` (nothing stored) when it can never be merged, or
        was filed longer than :data:`RETENTION` before the index's clock."""
        entry = self.entry(complaint, national_id)
        stale = entry.created_at < self._advance(entry.created_at) - RETENTION
        if entry.phone_key is None or stale:
            # anonymous now, its phone removed, or too old to be compared: never a candidate
            self.store.dedupe_forget(entry.source, entry.local_id)
            return False
        self.store.dedupe_put(
            IndexedRow(
                national_id=national_id,
                source=entry.source,
                local_id=entry.local_id,
                phone_key=entry.phone_key,
                category=entry.category,
                created_at=_iso(entry.created_at),
                content=entry.content,
            )
        )
        return True

    def _advance(self, filed: datetime) -> datetime:
        """The index's clock once a record filed at ``filed`` is seen; purges when due."""
        if self._clock is None:
            kept = self.store.dedupe_meta("clock")
            self._clock = datetime.fromisoformat(kept) if kept is not None else filed
        self._clock = min(datetime.now(UTC), max(self._clock, filed))
        if self._purged_at is None or self._clock - self._purged_at >= PURGE_STEP:
            self.purge(self._clock)
        return self._clock

    def purge(self, now: datetime | None = None) -> int:
        """Forget the rows filed more than :data:`RETENTION` before ``now`` (default: the
        wall clock); returns how many. The clock is kept for the next process."""
        moment = now if now is not None else datetime.now(UTC)
        purged = self.store.dedupe_purge(_iso(moment - RETENTION), _iso(moment))
        self._purged_at = moment
        return purged

    def candidates(self, entry: Entry) -> list[Entry]:
        """The same citizen's records in compatible categories within the window.

        One range of the block index on the phone key (its ``category`` column is skipped:
        categories are compatible, not equal), then :func:`compatible_categories`.
        """
        if entry.phone_key is None:
            return []
        rows = self.store.dedupe_block(
            entry.phone_key,
            _iso(entry.created_at - WINDOW),
            _iso(entry.created_at + WINDOW),
            MAX_CANDIDATES,
        )
        return [
            Entry(
                source=row.source,
                local_id=row.local_id,
                phone_key=row.phone_key,
                category=row.category,
                created_at=datetime.fromisoformat(row.created_at),
                content=row.content if row.content is not None else row.text_norm or "",
                national_id=row.national_id,
                normalized=row.content is None,
            )
            for row in rows
            if (row.source, row.local_id) != (entry.source, entry.local_id)
            and compatible_categories(entry.category, row.category)
        ]

    def check(self, complaint: Complaint) -> Check:
        """Decide against every candidate; the best merge (highest score) is the match."""
        entry = self.entry(complaint)
        decisions: list[Decision] = []
        best: Match | None = None
        for other in self.candidates(entry):
            decision = _decide_entries(entry, other)
            decisions.append(decision)
            better = best is None or decision.score > best.decision.score
            if decision.merge and other.national_id is not None and better:
                best = Match(other.national_id, other.source, other.local_id, decision)
        return Check(best, tuple(decisions))

    def find_duplicate(self, complaint: Complaint) -> Match | None:
        """The national complaint this record duplicates, or ``None``: read-only."""
        return self.check(complaint).match

    def record(self, decision: Decision) -> int:
        """Append a decision to ``dedupe_decisions``; its inputs are fingerprints only."""
        source, _, local_id = decision.candidate.partition(":")
        inputs = {**decision.inputs, "reasons": list(decision.reasons)}
        return self.store.add_dedupe_decision(
            _iso(datetime.now(UTC)),
            source,
            local_id,
            decision.existing,
            decision.rule,
            decision.score,
            decision.merge,
            json.dumps(inputs, sort_keys=True),
        )
