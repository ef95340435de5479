"""Photos: real images only (checked by content), fitted under LAPOR's 2 MB limit.

Decoding is bounded in memory, not only in pixels: what decoding and fitting one photo
holds at once stays under :data:`DECODE_BUDGET`, judged from the header before any pixel
is decoded. A photo is decoded once. A JPEG is decoded at a reduced scale (libjpeg's DCT
scaling, Pillow's ``draft``) when it is bigger than anything that fits 2 MB needs; other
formats are decoded at full size, so they are refused above a pixel bound that depends on
how Pillow holds their pixels (:func:`decoding_bytes`). Measured: tests/test_photos.py.
"""

from __future__ import annotations

import io
import math
import warnings
from datetime import timedelta

from PIL import Image, JpegImagePlugin, UnidentifiedImageError

from bridge.core.ports import Photo

#: lapor.md: "at most 2 MB each"; read the strict way (2,000,000 bytes, not 2 MiB)
#: so that a server counting either way takes every photo sent
MAX_BYTES = 2_000_000
MAX_PHOTOS = 5
MAX_PIXELS = 60_000_000  # refuse decompression bombs before decoding
#: what a photo is brought down to before it is fitted: ~12 MP at JPEG quality 85 is
#: already several times 2 MB, so more pixels only cost memory
TARGET_PIXELS = 12_000_000
#: the most memory decoding and fitting one photo may hold at once. For a PNG over 2 MB
#: that is the decoded image, a full-size copy when its mode cannot be reduced as it is,
#: and the reduced RGB copy (4 bytes x TARGET_PIXELS = 48 MB): the largest accepted is
#: 38 MP in RGB (4 bytes a pixel), 30 MP with a palette (1 + 4), 19 MP in RGBA (4 + 4),
#: 60 MP (MAX_PIXELS) in grey; a PNG within 2 MB is only decoded (50 MP in RGB). A
#: progressive JPEG makes libjpeg hold every DCT coefficient of the full-size image
#: (2 bytes each: 3 bytes a pixel in 4:2:0, 6 in 4:4:4) at any scale: 60 MP in 4:2:0,
#: 28 MP in 4:4:4. A baseline JPEG holds only its scaled decode (at most 48 MB).
DECODE_BUDGET = 200_000_000

_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}
#: modes Pillow reduces as they are (allocating only the result); others are converted to
#: RGB first (a full-size copy; RGBA and LA would be premultiplied into one anyway)
_REDUCIBLE = frozenset({"L", "RGB", "RGBX", "CMYK", "I", "F"})
#: the reduced RGB copy that is fitted
_FITTED_BYTES = 4 * TARGET_PIXELS


#: a photo the city's server could not give (a 5xx, a timeout) is fetched again after
#: these waits, one after each failed try: 8 tries over 23 h 40 min, then given up
RETRY_WAITS = tuple(timedelta(minutes=m) for m in (10, 30, 60, 2 * 60, 4 * 60, 8 * 60, 8 * 60))
#: tries of a photo's fetch before it is given up (the one for its create included)
MAX_TRIES = len(RETRY_WAITS) + 1
#: a late photo LAPOR will not take yet (403: the complaint is not disposed to the agency,
#: as while it waits for the national admin) is tried again after this; no try is spent
HOLD_WAIT = timedelta(hours=1)
#: the follow-up that carries a late photo to LAPOR (lapor.md: 10-5000 characters); the
#: number makes each photo's words its own, so that a lost answer is settled by them
LATE_PHOTO_TEXT = (
    "Foto susulan dari aplikasi kota: foto ke-{n} laporan ini, yang belum dapat diambil"
    " dari server foto kota saat laporan dikirim."
)


def retry_wait(failed: int) -> timedelta | None:
    """How long after its ``failed``-th failed try a photo is fetched again; ``None``
    when it is given up."""
    return RETRY_WAITS[failed - 1] if 1 <= failed < MAX_TRIES else None


class PhotoError(Exception):
    """A photo that cannot be sent; noted in the audit log, never blocking the complaint."""


def prepare(data: bytes, name: str) -> Photo:
    """Check that ``data`` is a JPEG or PNG; re-encode as JPEG when over the limit."""
    try:
        with warnings.catch_warnings():
            # a header claiming a huge image is refused before any pixel is decoded
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _checked(data, name)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoError("image too large to decode") from None


def _checked(data: bytes, name: str) -> Photo:
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = image.format or ""
            if fmt not in _FORMATS:
                raise PhotoError(f"unsupported image format {fmt or 'unknown'}")
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise PhotoError(f"image too large to decode ({width}x{height})")
            if decoding_bytes(image, fitting=len(data) > MAX_BYTES) > DECODE_BUDGET:
                shape = f"{width}x{height} {image.mode}"
                raise PhotoError(f"image too large to decode in memory ({shape} {fmt})")
            if isinstance(image, JpegImagePlugin.JpegImageFile):
                _draft(image)
            image.load()  # the one decode: a truncated or corrupt file shows here
            if len(data) <= MAX_BYTES:
                ext = "jpg" if fmt == "JPEG" else "png"
                return Photo(f"{name}.{ext}", _FORMATS[fmt], data)
            fitted = _reduced(image)
            if fitted is not image:
                # the decoded original's memory goes before the fitting starts (leaving the
                # ``with`` closes only its file, and the name would hold the pixels)
                image.close()
        return Photo(f"{name}.jpg", "image/jpeg", _shrink(fitted))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PhotoError(f"not a readable image ({type(exc).__name__})") from None


def decoding_bytes(image: Image.Image, *, fitting: bool) -> int:
    """What decoding ``image`` (opened, not loaded) holds at its peak, and fitting it
    under 2 MB too when ``fitting``; bytes, from the header (Pillow keeps 1, 2 or 4 bytes
    a pixel by mode)."""
    mode = image.mode
    stored = 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4
    if isinstance(image, JpegImagePlugin.JpegImageFile):
        # decoded at the draft's scale (at most TARGET_PIXELS), then an RGB copy if its
        # mode is another; a progressive one holds its coefficients meanwhile
        scale = _draft_scale(image.width, image.height)
        decoded = math.ceil(image.width / scale) * math.ceil(image.height / scale)
        held = _coefficient_bytes(image) if image.info.get("progressive") else 0
        copied = 4 if fitting and mode != "RGB" else 0
        return held + decoded * (stored + copied)
    pixels = image.width * image.height
    if not fitting:
        return pixels * stored
    copied = 0 if mode in _REDUCIBLE else 4
    return pixels * (stored + copied) + _FITTED_BYTES


def _coefficient_bytes(image: JpegImagePlugin.JpegImageFile) -> int:
    """What libjpeg holds of a multi-scan JPEG: every 8x8 block of every component, at
    2 bytes a coefficient."""
    components = [(h, v) for _, h, v, _ in image.layer] or [(1, 1)]
    h_max = max(h for h, _ in components)
    v_max = max(v for _, v in components)
    width, height = image.size
    blocks = sum(
        math.ceil(width * h / h_max / 8) * math.ceil(height * v / v_max / 8) for h, v in components
    )
    return blocks * 64 * 2


def _draft(image: JpegImagePlugin.JpegImageFile) -> None:
    """Decode at 1/2, 1/4 or 1/8 scale when that still leaves enough pixels to fit 2 MB
    (between a quarter of TARGET_PIXELS and TARGET_PIXELS)."""
    width, height = image.size
    scale = _draft_scale(width, height)
    if scale > 1:
        image.draft(image.mode, (width // scale, height // scale))


def _draft_scale(width: int, height: int) -> int:
    """The JPEG decoding scale's divisor: 1, 2, 4 or 8."""
    scale = 1
    while scale < 8 and width * height / (scale * scale) > TARGET_PIXELS:
        scale *= 2
    return scale


def _reduced(image: Image.Image) -> Image.Image:
    """An RGB copy of at most TARGET_PIXELS (box-reduced: no full-size intermediate)."""
    if image.mode not in _REDUCIBLE:
        image = image.convert("RGB")
    factor = math.ceil(math.sqrt(image.width * image.height / TARGET_PIXELS))
    if factor > 1:
        image = image.reduce(factor)
    return image if image.mode == "RGB" else image.convert("RGB")


def _shrink(image: Image.Image) -> bytes:
    """JPEG at falling quality, then smaller sizes, until it fits."""
    for scale in (1.0, 0.75, 0.5, 0.35, 0.25):
        resized = image
        if scale < 1.0:
            size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
            resized = image.resize(size, Image.Resampling.LANCZOS)
        for quality in (85, 70, 55):
            out = io.BytesIO()
            resized.save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() <= MAX_BYTES:
                return out.getvalue()
    raise PhotoError("could not fit the image under 2 MB")
