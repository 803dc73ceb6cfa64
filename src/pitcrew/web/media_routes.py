"""The session room's media: photo uploads and downloads, and video call signalling.

Uploads are the one kind of request larger than the usual body limit; :data:`UPLOAD_PATH`
and :func:`upload_limit` tell the app's body limit how much to let through here.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile, status

from pitcrew import call, media, presence
from pitcrew.config import Settings
from pitcrew.schemas import CallOut, MessageOut, PhotoCaption, SignalIn
from pitcrew.web.deps import DB, CurrentActor, Photos, SettingsDep
from pitcrew.web.errors import ON_SESSION, READ_ONE, _responses, file_of

router = APIRouter(prefix="/api", tags=["session"])

UPLOAD_PATH = re.compile(r"/api/sessions/[^/]+/photos")
# Room for the multipart framing and the caption around the photo itself.
UPLOAD_OVERHEAD = 64 * 1024

# A photo is never shown as anything but an image, even if a browser were asked to.
PHOTO_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, max-age=86400",
}


def upload_limit(settings: Settings) -> tuple[int, str]:
    """The body limit for photo uploads and what a refused one is told."""
    return (
        settings.max_upload_bytes + UPLOAD_OVERHEAD,
        media.too_large_message(settings.max_upload_bytes),
    )


@router.post(
    "/sessions/{session_id}/photos",
    status_code=status.HTTP_201_CREATED,
    responses={**ON_SESSION, **_responses(503)},
)
def upload_photo(
    session_id: uuid.UUID,
    photo: Annotated[UploadFile, File(description="A JPEG, PNG or WebP image.")],
    db: DB,
    actor: CurrentActor,
    settings: SettingsDep,
    photos: Photos,
    form: Annotated[PhotoCaption, Form()],
) -> MessageOut:
    """Post a photo into the chat; its metadata (location included) is removed first."""
    raw = photo.file.read(settings.max_upload_bytes + 1)
    return media.post_photo(
        db,
        actor,
        session_id,
        raw,
        photos=photos,
        max_bytes=settings.max_upload_bytes,
        caption=form.caption,
    )


def _send_photo(
    db: DB,
    actor: CurrentActor,
    photos: Photos,
    session_id: uuid.UUID,
    message_id: uuid.UUID,
    thumbnail: bool,
) -> Response:
    found = media.photo_file(db, actor, session_id, message_id, photos=photos, thumbnail=thumbnail)
    name = f"photo-{str(message_id)[:8]}{'-small' if thumbnail else ''}{found.suffix}"
    return Response(
        found.data,
        media_type=found.content_type,
        headers={**PHOTO_HEADERS, "Content-Disposition": f'inline; filename="{name}"'},
    )


def _photo_responses(*types: str) -> dict[int | str, dict[str, Any]]:
    return {**file_of(*types), **_responses(401, 404, 422)}


# A photo and its thumbnail are bytes, for the session's customer and mechanic only.
on_photo = APIRouter(
    prefix="/api/sessions/{session_id}/photos/{message_id}",
    tags=["session"],
    default_response_class=Response,
)


@on_photo.get("", responses=_photo_responses(*media.EXTENSION_TYPES.values()))
def get_photo(
    session_id: uuid.UUID, message_id: uuid.UUID, db: DB, actor: CurrentActor, photos: Photos
) -> Response:
    """The full photo, for the session's customer and mechanic (anyone else: 404)."""
    return _send_photo(db, actor, photos, session_id, message_id, thumbnail=False)


@on_photo.get("/thumb", responses=_photo_responses("image/jpeg"))
def get_thumbnail(
    session_id: uuid.UUID, message_id: uuid.UUID, db: DB, actor: CurrentActor, photos: Photos
) -> Response:
    """The photo's thumbnail (JPEG, at most 480 pixels a side), as the chat shows it."""
    return _send_photo(db, actor, photos, session_id, message_id, thumbnail=True)


@router.get(
    "/sessions/{session_id}/call",
    responses=READ_ONE,
    tags=["call"],
)
def call_setup(
    session_id: uuid.UUID, db: DB, actor: CurrentActor, settings: SettingsDep
) -> CallOut:
    """Your part in the session's call and the ICE (STUN/TURN) servers to place it with."""
    return call.setup(db, actor, session_id, settings)


@router.post(
    "/sessions/{session_id}/signal",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ON_SESSION,
    tags=["call"],
)
def send_signal(session_id: uuid.UUID, body: SignalIn, db: DB, actor: CurrentActor) -> Response:
    """Pass an offer, answer, ICE candidates or hang-up to the other party (live sessions only).

    It reaches them as a ``call.signal`` event on their stream (GET /api/events); a claim
    (this page takes the call) reaches the sender's own other pages instead.
    """
    call.signal(db, actor, session_id, body.kind, body.call_id, body.data, tab=body.tab, to=body.to)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/sessions/{session_id}/typing",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_responses(401, 403, 404, 409, 422, 429),
)
def typing(session_id: uuid.UUID, request: Request, db: DB, actor: CurrentActor) -> Response:
    """Tell the other party of a live session that you are typing (at most 3 times in 3 s).

    It reaches their open pages as a ``typing`` message on GET /api/events, and is never
    stored or replayed.
    """
    presence.typing(db, getattr(request.app.state, "events_bus", None), actor, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Each router carries its whole path, so a route's template (in logs and metrics) is the URL.
ROUTERS = (router, on_photo)
