"""Photos: real images only (checked by content), fitted under LAPOR's 2 MB limit."""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from bridge.ports import Photo

#: lapor.md: "at most 2 MB each"; read the strict way (2,000,000 bytes, not 2 MiB)
#: so that a server counting either way takes every photo sent
MAX_BYTES = 2_000_000
MAX_PHOTOS = 5
MAX_PIXELS = 60_000_000  # refuse decompression bombs before decoding

_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}


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
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise PhotoError(f"image too large to decode ({width}x{height})")
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # verify() does not decode: a truncated file only shows here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PhotoError(f"not a readable image ({type(exc).__name__})") from None
    if fmt not in _FORMATS:
        raise PhotoError(f"unsupported image format {fmt or 'unknown'}")
    if len(data) <= MAX_BYTES:
        ext = "jpg" if fmt == "JPEG" else "png"
        return Photo(f"{name}.{ext}", _FORMATS[fmt], data)
    return Photo(f"{name}.jpg", "image/jpeg", _shrink(data))


def _shrink(data: bytes) -> bytes:
    """JPEG at falling quality, then smaller sizes, until it fits."""
    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB")
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
