"""Members' photos: any common image in, a small JPEG without metadata out.

An uploaded file is decoded and drawn anew, never stored as sent: what comes out carries
no EXIF (a phone's photo says where it was taken), no embedded profile or comment, and
cannot be anything but an image whatever the upload claimed to be. Its dimensions are read
before its pixels, so a small file that would decode to gigabytes (a decompression bomb)
is refused before it costs any memory.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from forum.errors import InvalidInput

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_SOURCE_PIXELS = 40_000_000  # a 40-megapixel camera's photo; beyond it, refused unread
SIDE = 400  # the longest side of a stored photo, in pixels
FORMATS = ("JPEG", "PNG", "GIF", "WEBP")


def prepare_photo(data: bytes) -> bytes:
    """``data`` re-encoded as a JPEG at most SIDE pixels a side, or InvalidInput saying why not."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput(f"the photo is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as image:
                if image.width * image.height > MAX_SOURCE_PIXELS:
                    raise Image.DecompressionBombError(f"{image.width}x{image.height}")
                image.load()
                upright = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidInput("the photo's dimensions are too large: use one of at most 40 megapixels") from None
    except UnidentifiedImageError:
        raise InvalidInput("the file is not a photo: use a JPEG, PNG, GIF or WebP image") from None
    except (OSError, ValueError, SyntaxError):
        raise InvalidInput("the photo could not be read: the file may be damaged") from None
    upright = upright.convert("RGB")
    upright.thumbnail((SIDE, SIDE))
    out = io.BytesIO()
    upright.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()
