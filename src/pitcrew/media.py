"""Photos in the chat: what a customer shows a mechanic (a dashboard light, a leak, a part).

An upload is trusted for nothing. It is decoded by Pillow to learn what it really is (the
name and the declared type are ignored), refused unless it is a whole JPEG, PNG or WebP
image, and stored re-encoded from its pixels, so the location and every other piece of
EXIF or text metadata a phone writes never reaches the disk or the other party.

Files are kept for good (``photo_store``: a folder or the database) before the message that
names them commits. A crash between the two leaves a file no message names, which is
harmless and found by the doctor; the reverse, a message naming a missing file, cannot happen.
"""

from __future__ import annotations

import io
import threading
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select

from pitcrew import access, chat
from pitcrew.auth import Actor
from pitcrew.chat import Attachment
from pitcrew.db import Database
from pitcrew.errors import Invalid, NotFound, TooLarge, Unavailable
from pitcrew.models import Session, SessionMessage, SessionRequest
from pitcrew.photo_store import PhotoStore
from pitcrew.schemas import MessageOut

# What Pillow calls each accepted format: (content type we store, file extension).
# MPO is the multi-picture JPEG many phones write; its first picture is an ordinary JPEG.
FORMATS: dict[str, tuple[str, str]] = {
    "JPEG": ("image/jpeg", ".jpg"),
    "MPO": ("image/jpeg", ".jpg"),
    "PNG": ("image/png", ".png"),
    "WEBP": ("image/webp", ".webp"),
}
OPENERS = ("JPEG", "PNG", "WEBP")  # the only decoders an upload ever reaches
EXTENSION_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
MAX_PIXELS = 50_000_000  # a 48-megapixel phone camera fits; decompression bombs do not
# What one decode may hold in memory. A large JPEG decodes at a reduced scale (a half, a
# quarter…, never below DRAFT_SIDE), so a phone's photo stays far below; a PNG or WebP is
# held whole, so one that would unpack past this is refused from its header, before any pixel.
MAX_DECODED_BYTES = 96 * 1024 * 1024
DRAFT_SIDE = 2048
THUMBNAIL_BOX = (480, 480)
JPEG_QUALITY = 88
ALLOWED_WORDS = "JPEG, PNG or WebP"

# Decoding is the one place an upload costs memory out of proportion to its size (a 200 KB
# PNG can unpack to hundreds of MB). It runs on two threads of its own, whatever the number
# of requests, and at most a few more wait; past that a photo is refused with "try again"
# rather than queued, so memory stays bounded by DECODE_THREADS times MAX_DECODED_BYTES (twice,
# with the re-encoded copy) however many arrive at once. A small fixed set of threads also
# keeps the allocator from spreading freed image memory over one arena per request thread.
DECODE_THREADS = 2
DECODE_WAITING = 6
RETRY_AFTER_SECONDS = 5
_decoder = ThreadPoolExecutor(max_workers=DECODE_THREADS, thread_name_prefix="pitcrew-photo")
_admitted = threading.BoundedSemaphore(DECODE_THREADS + DECODE_WAITING)


@dataclass(frozen=True)
class CleanPhoto:
    """A checked image, re-encoded without metadata, with its thumbnail (always JPEG)."""

    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    thumbnail: bytes


def _too_many_pixels(width: int, height: int) -> Invalid:
    return Invalid(
        f"That image is {width} by {height} pixels; photos can have at most "
        f"{MAX_PIXELS // 1_000_000} million.",
        code="photo_too_many_pixels",
    )


def _open(raw: bytes) -> Image.Image:
    """Read the header only, refuse what would unpack too large, and set a reduced decode."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(raw), formats=OPENERS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            # Pillow refuses the largest ones itself, before we can read their size.
            raise Invalid(
                f"That image has too many pixels; photos can have at most "
                f"{MAX_PIXELS // 1_000_000} million.",
                code="photo_too_many_pixels",
            ) from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise _too_many_pixels(width, height)
    if image.format == "JPEG" or image.format == "MPO":
        image.draft(image.mode, (DRAFT_SIDE, DRAFT_SIDE))
    decoded = image.size[0] * image.size[1] * len(image.getbands())
    if decoded > MAX_DECODED_BYTES:
        raise Invalid(
            f"That image is {width} by {height} pixels, more than pitcrew can open as "
            f"{image.format}; send it as a JPEG, or smaller.",
            code="photo_too_many_pixels",
        )
    return image


def _decode(raw: bytes) -> tuple[Image.Image, str]:
    """Open the bytes as one of the accepted formats and decode every pixel, or refuse."""
    try:
        probe = _open(raw)
        kind = probe.format or ""
        probe.verify()  # the file's own checksums and structure
        image = _open(raw)
        image.load()  # every pixel: a truncated file fails here
    except UnidentifiedImageError:
        raise Invalid(
            f"That file is not a {ALLOWED_WORDS} image.", code="photo_unsupported_type"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise Invalid(
            "That image is damaged or cut short; try sending it again.", code="photo_damaged"
        ) from None
    if kind not in FORMATS:
        raise Invalid(f"That file is not a {ALLOWED_WORDS} image.", code="photo_unsupported_type")
    return image, kind


def clean(raw: bytes) -> CleanPhoto:
    """Check an upload by its content and re-encode it from its pixels alone.

    Runs on the decoding threads; refuses at once (503, "try again") when they are busy.
    """
    if not raw:
        raise Invalid("The photo is empty.", code="photo_empty")
    if not _admitted.acquire(blocking=False):
        raise Unavailable(
            "Many photos are being sent right now; try again in a few seconds.",
            code="photo_busy",
            retry_after=RETRY_AFTER_SECONDS,
        )
    try:
        return _decoder.submit(_reencode, raw).result()
    finally:
        _admitted.release()


def _reencode(raw: bytes) -> CleanPhoto:
    image, kind = _decode(raw)
    content_type, extension = FORMATS[kind]
    # Turn the pixels the way the camera meant them, since the orientation tag goes too.
    ImageOps.exif_transpose(image, in_place=True)
    icc_profile = image.info.get("icc_profile")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    image.info = {}  # no EXIF, XMP, comments or text chunks are carried over
    out = io.BytesIO()
    extra = {"icc_profile": icc_profile} if icc_profile else {}
    if content_type == "image/jpeg":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, **extra)
    elif content_type == "image/png":
        if image.mode not in ("1", "L", "LA", "RGB", "RGBA", "I;16"):
            image = image.convert("RGBA")
        image.save(out, "PNG", **extra)
    else:
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        image.save(out, "WEBP", quality=JPEG_QUALITY, **extra)
    width, height = image.size
    return CleanPhoto(
        data=out.getvalue(),
        content_type=content_type,
        extension=extension,
        width=width,
        height=height,
        thumbnail=_thumbnail(image),
    )


def _thumbnail(image: Image.Image) -> bytes:
    """The chat's small JPEG.

    A box reduction by a whole factor comes first: it reads the big image once and makes no
    full-size copy, where a resize of a transparent image would first copy all of it.
    """
    factor = max(1, max(image.size) // (2 * max(THUMBNAIL_BOX)))
    small = image.reduce(factor) if factor > 1 else image.copy()
    small.thumbnail(THUMBNAIL_BOX)
    if small.mode in ("RGBA", "LA") or "A" in small.getbands():
        background = Image.new("RGB", small.size, (255, 255, 255))
        background.paste(small.convert("RGBA"), mask=small.convert("RGBA").getchannel("A"))
        small = background
    elif small.mode != "RGB":
        small = small.convert("RGB")
    out = io.BytesIO()
    small.save(out, "JPEG", quality=80, optimize=True)
    return out.getvalue()


# --- storage ----------------------------------------------------------------------------


def store(photos: PhotoStore, session_id: uuid.UUID, photo: CleanPhoto) -> Attachment:
    """Keep the photo and its thumbnail for good, before any message names them."""
    name = uuid.uuid4().hex
    path = f"{session_id}/{name}{photo.extension}"
    thumbnail_path = f"{session_id}/{name}.thumb.jpg"
    photos.put({thumbnail_path: photo.thumbnail, path: photo.data})
    return Attachment(
        path=path,
        content_type=photo.content_type,
        width=photo.width,
        height=photo.height,
        size=len(photo.data),
        thumbnail_path=thumbnail_path,
    )


def post_photo(
    db: Database,
    actor: Actor,
    session_id: uuid.UUID,
    raw: bytes,
    *,
    photos: PhotoStore,
    max_bytes: int,
    caption: str = "",
) -> MessageOut:
    """A photo into a live session's chat: who and when first, then the image, disk, row.

    The order means a refused upload (not a party, session not live, not an image, too
    large) stores nothing.
    """
    chat.check_may_post(db, actor, session_id)
    if len(raw) > max_bytes:
        raise TooLarge(too_large_message(max_bytes), code="photo_too_large")
    attachment = store(photos, session_id, clean(raw))
    try:
        return chat.post_photo(db, actor, session_id, attachment, caption)
    except BaseException:
        # Refused or failed inside the transaction (the session ended meanwhile, the database
        # went away): no row names the files, so none may stay on disk.
        photos.remove((attachment.path, attachment.thumbnail_path))
        raise


def too_large_message(max_bytes: int) -> str:
    megabytes = max_bytes / (1024 * 1024)
    shown = f"{megabytes:g}" if megabytes >= 1 else f"{megabytes:.2g}"
    return f"That photo is too large: photos can be at most {shown} MB."


# --- reading ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PhotoFile:
    data: bytes
    content_type: str
    suffix: str


def photo_file(
    db: Database,
    actor: Actor,
    session_id: uuid.UUID,
    message_id: uuid.UUID,
    *,
    photos: PhotoStore,
    thumbnail: bool = False,
) -> PhotoFile:
    """The file behind a photo, for the session's customer and mechanic only, and for any
    mechanic previewing its pending request (a photo the customer added while waiting).

    Anyone else is told it does not exist (not that it is forbidden), so a photo's address
    reveals nothing to someone who guessed or was handed it.
    """
    with db.read() as s:
        row = s.execute(
            select(
                SessionMessage.attachment_path,
                SessionMessage.attachment_type,
                SessionMessage.thumbnail_path,
                SessionMessage.sender_id,
                Session.customer_user_id,
                Session.mechanic_id,
                SessionRequest.status.label("request_status"),
            )
            .join(Session, Session.id == SessionMessage.session_id)
            .join(SessionRequest, SessionRequest.parent_session_id == Session.id)
            .where(SessionMessage.id == message_id, SessionMessage.session_id == session_id)
        ).first()
    if row is None or row.attachment_path is None or not access.may_see_photo(actor, row):
        raise NotFound("No such photo.", code="photo_not_found")
    key = row.thumbnail_path if thumbnail else row.attachment_path
    data = photos.get(key) if key else None
    if key is None or data is None:
        raise NotFound("This photo's file is missing.", code="photo_not_found")
    suffix = PurePosixPath(key).suffix
    content_type = EXTENSION_TYPES.get(suffix, "") if thumbnail else row.attachment_type
    return PhotoFile(
        data=data, content_type=content_type or "application/octet-stream", suffix=suffix
    )


# What a report's PDF embeds of each chosen photo: enough to see the part, small enough that
# five photos keep the document well under 2 MB.
REPORT_BOX = (1000, 1000)
REPORT_QUALITY = 70


def report_image(data: bytes) -> bytes:
    """A stored photo scaled down to :data:`REPORT_BOX`, as a JPEG for a printed report."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", REPORT_BOX)
        picture = image.convert("RGB")
    picture.thumbnail(REPORT_BOX)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=REPORT_QUALITY, optimize=True)
    return out.getvalue()
