"""Realistic Indonesian sample data for the city apps' sandboxes.

Every function takes a ``random.Random`` so that a seed gives the same data
every time. Nothing here knows about any particular app: a sandbox picks a
topic, a place and a person, then maps them onto its own wire format
(categories, status names, phone layout).

Two cities are covered: Tanjungpinang (Tanjak, Ujar) and Malang (Sambat).
Calling :func:`complaint` twice with the same topic and place gives the same
problem told in other words, which is what a citizen who reports through two
apps writes.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import date, timedelta

from PIL import Image

__all__ = [
    "CITIES",
    "TOPICS",
    "Complaint",
    "Person",
    "Place",
    "agency",
    "complaint",
    "make_jpeg",
    "make_png",
    "nik",
    "person",
    "person_name",
    "phone_number",
    "place",
    "response_text",
    "typed_phone",
]

CITIES = ("tanjungpinang", "malang")

#: what citizens complain about; each sandbox maps these onto its categories
TOPICS = (
    "banjir",  # flooding, blocked drains
    "sampah",  # trash not collected
    "lampu",  # street lights (PJU)
    "jalan",  # potholes, broken roads
    "pohon",  # fallen or dangerous trees
    "parkir",  # illegal parking, parking attendants
    "kabel",  # cable and pole works, diggings
    "sosial",  # social problems: beggars, neglected elderly, street children
    "kesehatan",  # health services
    "pendidikan",  # schools
    "kependudukan",  # ID cards, family cards
    "perizinan",  # permits
)


# --- people -----------------------------------------------------------------

_MALE_NAMES = (
    "Budi", "Ahmad", "Agus", "Eko", "Wahyu", "Hendra", "Rudi", "Rizky", "Dimas", "Yusuf",
    "Raja", "Tengku", "Iwan", "Joko", "Bambang", "Fajar", "Arif", "Syahrul", "Hasan", "Andi",
)  # fmt: skip
_FEMALE_NAMES = (
    "Siti", "Dewi", "Rina", "Sri", "Nur", "Fitri", "Indah", "Putri", "Ayu", "Lestari",
    "Wulan", "Nurul", "Yanti", "Maya", "Rahma", "Dian", "Suryani", "Aisyah", "Novi", "Eka",
)  # fmt: skip
_FAMILY_NAMES = (
    "Santoso", "Hidayat", "Wijaya", "Saputra", "Kurniawan", "Nasution", "Siregar", "Harahap",
    "Simanjuntak", "Syahputra", "Pratama", "Setiawan", "Hasibuan", "Purba", "Ramadhan",
    "Rahmawati", "Susanti", "Lim", "Tan", "Wibowo", "Prasetyo", "Handayani", "Ismail",
)  # fmt: skip
#: many Indonesians have one name only
_SINGLE_NAMES = ("Suparman", "Sumarni", "Mulyono", "Sutrisno", "Juariah", "Paijo", "Samsiah")

#: mobile prefixes of the Indonesian operators, national form
_MOBILE_PREFIXES = (
    "0811", "0812", "0813", "0821", "0822", "0852", "0853", "0814", "0815", "0816",
    "0855", "0856", "0857", "0858", "0817", "0818", "0819", "0859", "0877", "0878",
    "0831", "0832", "0838", "0895", "0896", "0897", "0881", "0882",
)  # fmt: skip

#: the first six NIK digits: province, city, district
_NIK_REGIONS = {
    "tanjungpinang": ("217201", "217202", "217203", "217204"),
    "malang": ("357301", "357302", "357303", "357304", "357305"),
}


@dataclass(frozen=True)
class Person:
    """A citizen who files a complaint."""

    name: str
    phone: str  # as the citizen typed it
    nik: str  # 16 digits
    female: bool


def person_name(rng: random.Random, *, female: bool | None = None) -> str:
    """A full name: usually given name and family name, sometimes one name only."""
    if female is None:
        female = rng.random() < 0.5
    if rng.random() < 0.12:
        return rng.choice(_SINGLE_NAMES)
    given = rng.choice(_FEMALE_NAMES if female else _MALE_NAMES)
    return f"{given} {rng.choice(_FAMILY_NAMES)}"


def phone_number(rng: random.Random) -> str:
    """A mobile number in its plain national form, e.g. ``081234567890``."""
    length = rng.choice((7, 8, 8, 8))
    rest = "".join(rng.choice("0123456789") for _ in range(length))
    return rng.choice(_MOBILE_PREFIXES) + rest


def typed_phone(rng: random.Random, number: str | None = None) -> str:
    """A mobile number written the way citizens type it.

    ``0812…``, ``+62812…`` or ``62812…``, bare or grouped with spaces or
    dashes. ``number`` is the national form (``08…``); a random one when
    omitted.
    """
    national = number if number is not None else phone_number(rng)
    subscriber = national[1:]  # without the trunk 0: "812…"
    prefix = rng.choice(("0", "0", "0", "+62", "+62", "62"))
    digits = subscriber
    layout = rng.choice(("bare", "bare", "spaces", "dashes"))
    if layout == "bare":
        return prefix + digits
    groups = [digits[:3], digits[3:7], digits[7:]]
    separator = " " if layout == "spaces" else "-"
    grouped = separator.join(g for g in groups if g)
    if prefix == "0":
        return "0" + grouped
    # "+62 812-3456-7890" is as common as "+62812-3456-7890"
    gap = rng.choice(("", " "))
    return prefix + gap + grouped


def nik(
    rng: random.Random,
    city: str = "tanjungpinang",
    *,
    born: date | None = None,
    female: bool | None = None,
) -> str:
    """A 16-digit NIK: region, birth date (day + 40 for women), serial."""
    if female is None:
        female = rng.random() < 0.5
    if born is None:
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
    region = rng.choice(_NIK_REGIONS[city])
    day = born.day + 40 if female else born.day
    serial = rng.randint(1, 999)
    return f"{region}{day:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"


def person(rng: random.Random, city: str = "tanjungpinang") -> Person:
    """A citizen of ``city`` with a name, a typed phone number and a NIK."""
    female = rng.random() < 0.5
    return Person(
        name=person_name(rng, female=female),
        phone=typed_phone(rng),
        nik=nik(rng, city, female=female),
        female=female,
    )


# --- places -----------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """A point on a street of one of the cities."""

    city: str
    street: str  # "Jl. Ganet"
    kelurahan: str
    kecamatan: str
    lat: float
    lng: float

    @property
    def address(self) -> str:
        """The address as apps show it, e.g. ``Jl. Ganet, Batu IX``."""
        return f"{self.street}, {self.kelurahan}"


# street, kelurahan, kecamatan, approximate latitude and longitude
_STREETS: dict[str, tuple[tuple[str, str, str, float, float], ...]] = {
    "tanjungpinang": (
        ("Jl. Ganet", "Batu IX", "Tanjungpinang Timur", 0.9186, 104.4554),
        ("Jl. Sei Timun", "Air Raja", "Tanjungpinang Timur", 0.9170, 104.4860),
        ("Jl. D.I. Panjaitan", "Batu IX", "Tanjungpinang Timur", 0.9102, 104.4713),
        ("Jl. Kijang Lama", "Melayu Kota Piring", "Tanjungpinang Timur", 0.8993, 104.4921),
        ("Jl. Adi Sucipto", "Pinang Kencana", "Tanjungpinang Timur", 0.9244, 104.5097),
        ("Jl. Wiratno", "Tanjung Ayun Sakti", "Bukit Bestari", 0.9128, 104.4641),
        ("Jl. Basuki Rahmat", "Tanjungpinang Timur", "Bukit Bestari", 0.9149, 104.4511),
        ("Jl. Raja Haji Fisabilillah", "Sei Jang", "Bukit Bestari", 0.9064, 104.4632),
        ("Jl. Sultan Mahmud", "Tanjung Unggat", "Bukit Bestari", 0.9262, 104.4503),
        ("Jl. Lembah Purnama", "Sei Jang", "Bukit Bestari", 0.9071, 104.4565),
        ("Jl. Dompak Lama", "Dompak", "Bukit Bestari", 0.8915, 104.4502),
        ("Jl. Gatot Subroto", "Kampung Baru", "Tanjungpinang Barat", 0.9192, 104.4468),
        ("Jl. Pramuka", "Bukit Cermin", "Tanjungpinang Barat", 0.9125, 104.4451),
        ("Jl. Ir. Sutami", "Kemboja", "Tanjungpinang Barat", 0.9205, 104.4399),
        ("Jl. Bakar Batu", "Kampung Baru", "Tanjungpinang Barat", 0.9175, 104.4420),
        ("Jl. Merdeka", "Tanjungpinang Kota", "Tanjungpinang Kota", 0.9239, 104.4454),
        ("Jl. Hang Tuah", "Tanjungpinang Kota", "Tanjungpinang Kota", 0.9245, 104.4431),
        ("Jl. Engku Putri", "Tanjungpinang Kota", "Tanjungpinang Kota", 0.9224, 104.4425),
        ("Jl. Tugu Pahlawan", "Kampung Bugis", "Tanjungpinang Kota", 0.9498, 104.4512),
        ("Jl. Raya Senggarang", "Senggarang", "Tanjungpinang Kota", 0.9622, 104.4401),
    ),
    "malang": (
        ("Jl. Soekarno Hatta", "Mojolangu", "Lowokwaru", -7.9399, 112.6244),
        ("Jl. MT Haryono", "Dinoyo", "Lowokwaru", -7.9406, 112.6079),
        ("Jl. Veteran", "Ketawanggede", "Lowokwaru", -7.9560, 112.6150),
        ("Jl. Raya Tlogomas", "Tlogomas", "Lowokwaru", -7.9277, 112.5984),
        ("Jl. Kedawung", "Tulusrejo", "Lowokwaru", -7.9420, 112.6350),
        ("Jl. Ijen", "Oro-oro Dowo", "Klojen", -7.9725, 112.6213),
        ("Jl. Kawi", "Bareng", "Klojen", -7.9764, 112.6226),
        ("Jl. Basuki Rahmat", "Kauman", "Klojen", -7.9786, 112.6310),
        ("Jl. Galunggung", "Gading Kasri", "Klojen", -7.9650, 112.6157),
        ("Jl. Borobudur", "Purwodadi", "Blimbing", -7.9385, 112.6370),
        ("Jl. Ahmad Yani", "Polowijen", "Blimbing", -7.9310, 112.6458),
        ("Jl. Sulfat", "Bunulrejo", "Blimbing", -7.9580, 112.6480),
        ("Jl. Letjen Sutoyo", "Lowokwaru", "Lowokwaru", -7.9581, 112.6344),
        ("Jl. Danau Toba", "Sawojajar", "Kedungkandang", -7.9760, 112.6590),
        ("Jl. Mayjen Sungkono", "Buring", "Kedungkandang", -8.0230, 112.6520),
        ("Jl. Gatot Subroto", "Kotalama", "Kedungkandang", -7.9880, 112.6380),
        ("Jl. S. Supriadi", "Sukun", "Sukun", -7.9980, 112.6170),
        ("Jl. Kolonel Sugiono", "Mergosono", "Kedungkandang", -7.9950, 112.6330),
        ("Jl. Raya Bandulan", "Bandulan", "Sukun", -7.9860, 112.6000),
        ("Jl. Janti", "Bandungrejosari", "Sukun", -8.0050, 112.6270),
    ),
}


def place(rng: random.Random, city: str = "tanjungpinang") -> Place:
    """A point on a real street of ``city``, a little off the street's centre."""
    street, kelurahan, kecamatan, lat, lng = rng.choice(_STREETS[city])
    return Place(
        city=city,
        street=street,
        kelurahan=kelurahan,
        kecamatan=kecamatan,
        lat=round(lat + rng.uniform(-0.002, 0.002), 6),
        lng=round(lng + rng.uniform(-0.002, 0.002), 6),
    )


# --- complaint texts --------------------------------------------------------

_LANDMARKS = (
    "depan SD 005", "dekat Masjid Al-Ikhlas", "samping ruko", "depan Indomaret",
    "dekat pos ronda", "simpang lampu merah", "depan gang 3", "belakang pasar",
    "depan Puskesmas", "dekat SMP 4", "depan kantor lurah", "ujung jalan dekat jembatan",
)  # fmt: skip
# the same landmarks the way people shorten them in an SMS
_SHORT_LANDMARKS = (
    "dpn SD 005", "dkt masjid", "dpn ruko", "dpn indomaret", "dkt pos ronda",
    "simpang lampu merah", "dpn gg 3", "blkg pasar", "dpn puskesmas", "dkt smp 4",
)  # fmt: skip

# {street} the street, {street_sms} the street in lower case without "Jl.",
# {where} a landmark, {where_sms} a shortened landmark, {days} a number of days,
# {area} the kelurahan
_TITLES: dict[str, tuple[str, ...]] = {
    "banjir": ("Banjir di {street}", "Drainase tersumbat di {street}", "Genangan air {area}"),
    "sampah": ("Sampah menumpuk di {street}", "Sampah tidak diangkut", "TPS liar di {area}"),
    "lampu": ("Lampu jalan mati di {street}", "PJU padam", "Penerangan jalan rusak"),
    "jalan": ("Jalan berlubang di {street}", "Jalan rusak parah", "Aspal amblas di {street}"),
    "pohon": ("Pohon tumbang di {street}", "Pohon rawan tumbang", "Dahan patah menutup jalan"),
    "parkir": ("Parkir liar di {street}", "Juru parkir liar", "Parkir di bahu jalan"),
    "kabel": ("Galian kabel tidak ditutup", "Kabel menjuntai di {street}", "Tiang miring"),
    "sosial": ("Anak jalanan di {street}", "Lansia terlantar", "Pengemis di simpang"),
    "kesehatan": ("Antrean panjang di Puskesmas", "Pelayanan Puskesmas", "Fogging DBD"),
    "pendidikan": ("Pungutan di sekolah", "Atap sekolah bocor", "PPDB zonasi"),
    "kependudukan": ("KTP elektronik belum jadi", "Kartu keluarga", "Akta kelahiran"),
    "perizinan": ("Izin usaha lama", "Bangunan tanpa IMB", "Izin keramaian"),
}

_TEXTS: dict[str, tuple[str, ...]] = {
    "banjir": (
        "Setiap hujan deras air menggenang setinggi lutut di {street} {where}. "
        "Parit tersumbat sampah dan lumpur, mohon segera dinormalisasi.",
        "Genangan air setinggi lutut setelah hujan di {where}, {street}. "
        "Kendaraan roda dua banyak yang mogok.",
        "Drainase di {street} ({area}) meluap, air masuk ke rumah warga. "
        "Sudah {days} hari belum ada penanganan.",
    ),
    "sampah": (
        "Sudah {days} hari sampah tidak diangkut di {street} {where}. "
        "Baunya menyengat dan mengundang lalat.",
        "Tumpukan sampah di {where} {street} makin tinggi, warga membuang sampah "
        "sembarangan karena bak sampah penuh.",
        "Mohon petugas kebersihan mengangkut sampah di {street}, {area}. "
        "Sudah {days} hari tidak ada truk lewat.",
    ),
    "lampu": (
        "Lampu penerangan jalan umum di {street} {where} mati sudah {days} hari. "
        "Malam hari sangat gelap dan rawan kejahatan.",
        "Beberapa lampu PJU di sepanjang {street} padam, mohon diperbaiki.",
        "Lampu jalan {where} {street} berkedip lalu mati. Warga takut lewat malam.",
    ),
    "jalan": (
        "Jalan berlubang besar di {street} {where}, sudah banyak pengendara motor jatuh.",
        "Aspal di {street} ({area}) rusak dan berlubang sepanjang kurang lebih 50 meter. "
        "Kalau hujan lubang tertutup air dan tidak kelihatan.",
        "Mohon perbaikan jalan di {where} {street}, lubangnya makin dalam sejak {days} hari.",
    ),
    "pohon": (
        "Pohon besar tumbang menutup separuh badan jalan di {street} {where}.",
        "Pohon angsana di {street} miring dan akarnya terangkat, rawan tumbang kalau angin "
        "kencang. Mohon dipangkas.",
        "Dahan pohon patah dan tersangkut kabel listrik {where}, {street}.",
    ),
    "parkir": (
        "Banyak mobil parkir di bahu jalan {street} {where} sehingga macet setiap sore.",
        "Ada juru parkir liar di {where} {street} yang memungut tarif di atas ketentuan.",
        "Parkir liar di trotoar {street} membuat pejalan kaki turun ke jalan.",
    ),
    "kabel": (
        "Galian kabel di {street} {where} dibiarkan terbuka sudah {days} hari, "
        "berbahaya untuk pengendara.",
        "Kabel optik menjuntai rendah di {street}, hampir mengenai kepala pengendara motor.",
        "Tiang kabel miring di {where} {street}, khawatir roboh menimpa rumah warga.",
    ),
    "sosial": (
        "Ada anak-anak jalanan mengamen di simpang {street} sampai larut malam.",
        "Seorang lansia tinggal sendirian di {area} dalam kondisi sakit dan tidak terurus. "
        "Mohon bantuan dinas sosial.",
        "Pengemis dan gelandangan makin banyak {where} {street}.",
    ),
    "kesehatan": (
        "Antrean di Puskesmas {area} sangat panjang, pasien menunggu dari pagi sampai siang.",
        "Banyak warga {area} terkena demam berdarah, mohon dilakukan fogging di {street}.",
        "Petugas Puskesmas {where} kurang ramah kepada pasien BPJS.",
    ),
    "pendidikan": (
        "Ada pungutan uang seragam di sekolah {where} {street} yang memberatkan orang tua.",
        "Atap ruang kelas SD di {area} bocor, murid belajar sambil kena tetesan air.",
        "Anak saya tidak diterima di sekolah terdekat di {area} padahal rumah dekat.",
    ),
    "kependudukan": (
        "KTP elektronik saya sudah {days} hari belum jadi, padahal sudah rekam di kecamatan.",
        "Mengurus kartu keluarga di kantor lurah {area} berbelit-belit.",
        "Akta kelahiran anak saya salah tulis nama, mohon dibantu perbaikannya.",
    ),
    "perizinan": (
        "Izin usaha mikro yang saya ajukan sudah {days} hari belum ada kabar.",
        "Ada bangunan baru di {street} {where} yang menutup saluran air, apakah ada izinnya?",
        "Mohon informasi syarat izin keramaian untuk acara di {area}.",
    ),
}

# informal, abbreviated texts as they come by SMS or from a hurried thumb
_SMS_TEXTS: dict[str, tuple[str, ...]] = {
    "banjir": (
        "banjir lg di jl {street_sms} {where_sms}, parit sumbat tlg dibersihkan",
        "air naik smp lutut tiap hujan di {street_sms}, tlg pak",
    ),
    "sampah": (
        "sampah numpuk di {street_sms} {where_sms} udh {days} hr gk diangkut",
        "tlg angkut sampah jl {street_sms}, bau bgt",
    ),
    "lampu": (
        "lampu PJU mati di jl {street_sms} {where_sms} {days} hari",
        "pju jl {street_sms} mati semua, gelap bgt mlm",
    ),
    "jalan": (
        "jln {street_sms} {where_sms} bolong gede, udh ada yg jatuh",
        "tlg tambal lubang di jl {street_sms}",
    ),
    "pohon": (
        "ph tumbang di jl {street_sms} {where_sms} nutup jalan",
        "pohon miring mau roboh di {street_sms}, tlg dipangkas",
    ),
    "parkir": (
        "parkir liar di jl {street_sms} bikin macet tiap sore",
        "jukir liar {where_sms} {street_sms} narik 5rb",
    ),
    "kabel": (
        "galian kabel di jl {street_sms} gk ditutup {days} hr",
        "kabel putus menjuntai di {street_sms} {where_sms} bahaya",
    ),
    "sosial": (
        "ada anak jalanan ngamen smp malam di simpang {street_sms}",
        "tlg ada lansia sakit sendirian di {area}",
    ),
    "kesehatan": (
        "antri puskesmas {area} lama bgt dr pagi",
        "tlg fogging di {street_sms}, bnyk dbd",
    ),
    "pendidikan": ("sekolah di {area} minta uang seragam mahal", "atap kelas bocor di {area}"),
    "kependudukan": ("ktp blm jd udh {days} hr", "urus kk di kelurahan {area} lama"),
    "perizinan": ("izin usaha blm kluar udh {days} hr", "bangunan di {street_sms} nutup got"),
}

_RESPONSES: dict[str, tuple[str, ...]] = {
    "banjir": (
        "Laporan diterima, tim akan menormalisasi saluran minggu ini.",
        "Saluran sudah dibersihkan dari sedimen dan sampah.",
    ),
    "sampah": ("Sudah kami angkut hari ini.", "Jadwal angkut di wilayah tersebut kami tambah."),
    "lampu": ("Tim PJU akan mengganti lampu dalam 3 hari.", "Lampu sudah diganti dan menyala."),
    "jalan": (
        "Perbaikan dijadwalkan pada anggaran tahun ini.",
        "Lubang sudah ditambal sementara.",
    ),
    "pohon": ("Tim menuju lokasi.", "Pohon sudah dipotong dan dibersihkan dari badan jalan."),
    "parkir": ("Petugas akan melakukan penertiban.", "Sudah dilakukan penertiban parkir."),
    "kabel": (
        "Kami sudah menghubungi penyedia jaringan untuk menutup galian.",
        "Kabel sudah dirapikan.",
    ),
    "sosial": ("Tim TRC Dinas Sosial akan menjangkau.", "Yang bersangkutan sudah didampingi."),
    "kesehatan": ("Terima kasih, akan kami evaluasi.", "Fogging dijadwalkan hari Sabtu."),
    "pendidikan": ("Akan kami klarifikasi ke pihak sekolah.", "Sekolah sudah kami tegur."),
    "kependudukan": ("Silakan datang ke kantor Disdukcapil dengan membawa bukti rekam.",),
    "perizinan": ("Permohonan sedang diverifikasi.", "Izin sudah terbit, silakan diambil."),
}

_AGENCIES = {
    "banjir": "PUPR",
    "sampah": "DLH",
    "lampu": "PERKIM",
    "jalan": "PUPR",
    "pohon": "DLH",
    "parkir": "DISHUB",
    "kabel": "DISKOMINFO",
    "sosial": "DINSOS",
    "kesehatan": "DINKES",
    "pendidikan": "DISDIK",
    "kependudukan": "DISDUKCAPIL",
    "perizinan": "DPMPTSP",
}


@dataclass(frozen=True)
class Complaint:
    """What a citizen wrote: a short title (not every app has one) and a text."""

    topic: str
    title: str
    text: str
    informal: bool


def complaint(
    rng: random.Random,
    topic: str | None = None,
    where: Place | None = None,
    *,
    informal: bool | None = None,
) -> Complaint:
    """A complaint about ``topic`` at ``where``; random ones when omitted.

    ``informal`` gives the abbreviated SMS style; by default one in four
    complaints is informal.
    """
    if topic is None:
        topic = rng.choice(TOPICS)
    if where is None:
        where = place(rng)
    if informal is None:
        informal = rng.random() < 0.25
    street_sms = where.street.removeprefix("Jl. ").lower()
    values = {
        "street": where.street,
        "street_sms": street_sms,
        "area": where.kelurahan,
        "where": rng.choice(_LANDMARKS),
        "where_sms": rng.choice(_SHORT_LANDMARKS),
        "days": str(rng.randint(2, 14)),
    }
    templates = _SMS_TEXTS[topic] if informal else _TEXTS[topic]
    text = rng.choice(templates).format(**values)
    title = rng.choice(_TITLES[topic]).format(**values)
    return Complaint(topic=topic, title=title, text=text, informal=informal)


def response_text(rng: random.Random, topic: str) -> str:
    """What the responsible agency answers about ``topic``."""
    return rng.choice(_RESPONSES[topic])


def agency(topic: str) -> str:
    """The short code of the city agency (OPD) that handles ``topic``."""
    return _AGENCIES[topic]


# --- photos -----------------------------------------------------------------


def _noise_image(rng: random.Random, width: int, height: int) -> Image.Image:
    # random pixels do not compress: a big image stays big on the wire
    return Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))


def make_jpeg(rng: random.Random, width: int = 160, height: int = 120, quality: int = 90) -> bytes:
    """A JPEG of random pixels: about 0.9 bytes a pixel at quality 90 (1600x1600 > 2 MB)."""
    buffer = io.BytesIO()
    _noise_image(rng, width, height).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def make_png(rng: random.Random, width: int = 160, height: int = 120) -> bytes:
    """A PNG of random pixels; a little over 3 bytes a pixel."""
    buffer = io.BytesIO()
    _noise_image(rng, width, height).save(buffer, format="PNG")
    return buffer.getvalue()
