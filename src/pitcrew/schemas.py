"""The shapes clients rely on (docs/ARCHITECTURE.md, "API"), validated once at the domain's edge."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from pitcrew.models import Role, SessionType

Text = Annotated[str, StringConstraints(strip_whitespace=True)]

# Text fields are trimmed before their length is checked; the ``pattern`` on each says the
# same to clients and the OpenAPI schema. A visible character is one no trimming removes
# (Python's also strips the separators \x1c-\x1f, which Unicode does not count as space).
# Characters that draw nothing (zero-width spaces and joiners, soft hyphens, direction marks,
# fillers) do not make a text visible either.
INVISIBLE = (
    r"\s\x1c-\x1f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f"
    r"\u202a-\u202e\u2060-\u206f\u3164\ufeff\uffa0"
)
VISIBLE = rf"[^{INVISIBLE}]"
# Embeddings, overrides and isolates turn the text that follows around ("U+202E" makes a
# name read backwards); nobody types one into a form, so no text may carry them.
DIRECTION_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
NOT_BLANK = VISIBLE
THREE_ONCE_TRIMMED = rf"{VISIBLE}[\s\S]+{VISIBLE}"


def _whole_number(value: Any) -> Any:
    """JSON has one number type, and its schema counts 4.0 as the integer 4; true and "4" are
    still not numbers (checked strictly after this)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _texts(value: Any) -> Iterator[str]:
    """Every string in a JSON body, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key)
            yield from _texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)


def refuse_unstorable(text: str) -> str:
    """The rule every text a person sends passes, in a JSON body or a form field alike."""
    if "\x00" in text:
        raise ValueError("Text cannot contain NUL (\\x00) characters.")
    if DIRECTION_CONTROLS.search(text):
        raise ValueError("Text cannot contain characters that change its direction.")
    return text


class Strict(BaseModel):
    """Unknown fields are an error, so a typo in a client never passes silently.

    No text may contain a NUL character: PostgreSQL cannot store one, and no person types one;
    it is refused (422) on every database alike rather than failing on one of them. Nor may
    it carry direction controls, which make a name or a message read as something else.
    Booleans and numbers are strict: ``"yes"`` is not true and ``"2016"`` is not a year.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _refuse_unstorable_text(cls, data: Any) -> Any:
        for text in _texts(data):
            refuse_unstorable(text)
        return data


class Vehicle(Strict):
    year: Annotated[int, Field(ge=1900, le=2100, strict=True), BeforeValidator(_whole_number)]
    make: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=60, pattern=NOT_BLANK),
    ]
    model: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=60, pattern=NOT_BLANK),
    ]
    vin: Annotated[
        str | None,
        StringConstraints(
            strip_whitespace=True, to_upper=True, pattern=r"^[A-HJ-NPR-Z0-9]{11,17}$"
        ),
    ] = None
    mileage: (
        Annotated[int, Field(ge=0, le=2_000_000, strict=True), BeforeValidator(_whole_number)]
        | None
    ) = None


class IntakeIn(Strict):
    vehicle: Vehicle
    issue_description: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=3, max_length=4000, pattern=THREE_ONCE_TRIMMED
        ),
    ]
    session_type: SessionType
    plan_code: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9_-]{1,64}$")
    ] = "standard"


class IntakeOut(BaseModel):
    session_id: uuid.UUID
    request_id: uuid.UUID
    session_status: str
    request_status: str


class ReleasedOut(BaseModel):
    session_id: uuid.UUID
    session_status: str


class AcceptIn(Strict):
    request_id: uuid.UUID


class AcceptOut(BaseModel):
    session_id: uuid.UUID
    request_id: uuid.UUID
    mechanic_id: uuid.UUID
    session_status: str
    request_status: str


class CompleteIn(Strict):
    summary: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=8000, pattern=NOT_BLANK),
    ]


class CancelIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] = ""


class RatingIn(Strict):
    rating: Annotated[int, Field(ge=1, le=5, strict=True), BeforeValidator(_whole_number)]
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""


class MessageIn(Strict):
    body: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=4000, pattern=NOT_BLANK),
    ]


class RegisterIn(Strict):
    email: EmailStr
    password: str = Field(min_length=8, max_length=256)
    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NOT_BLANK),
    ]


class LoginIn(Strict):
    email: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=320, pattern=NOT_BLANK),
    ]
    password: str = Field(min_length=1, max_length=256)


class EmailIn(Strict):
    """An address to send a link to (a password reset, a new confirmation link)."""

    email: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=320, pattern=NOT_BLANK),
    ]


LinkToken = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NOT_BLANK)]


class LinkIn(Strict):
    """The token of a link from an email."""

    token: LinkToken


class PasswordResetIn(Strict):
    token: LinkToken
    password: str = Field(min_length=8, max_length=256)


class CheckEmailOut(BaseModel):
    """Sent, or not: the answer is the same whether or not an account has the address."""

    message: str


class DutyIn(Strict):
    on_duty: StrictBool


class EmailNotificationsIn(Strict):
    enabled: StrictBool


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    role: Role
    on_duty: bool = False
    notify_by_email: bool = False


class LoginOut(BaseModel):
    token: str
    user: UserOut


class PhotoOut(BaseModel):
    """A photo in the chat; ``url`` is the full image, ``thumbnail_url`` the small one."""

    url: str
    thumbnail_url: str
    content_type: str
    width: int
    height: int
    bytes: int


class MessageOut(BaseModel):
    id: uuid.UUID
    session_id: uuid.UUID
    sender_id: uuid.UUID
    sender_name: str
    body: str  # for a photo, its caption (may be empty)
    created_at: datetime
    photo: PhotoOut | None = None


class SignalKind(StrEnum):
    """The WebRTC signalling messages a call is set up and ended with."""

    READY = "ready"  # my camera is on and I can take a call now
    OFFER = "offer"
    ANSWER = "answer"
    ICE = "ice"
    HANGUP = "hangup"


def _needs(kinds: list[str], field: str, kind: str) -> dict[str, Any]:
    return {
        "if": {"properties": {"kind": {"enum": kinds}}, "required": ["kind"]},
        "then": {
            "required": ["data"],
            "properties": {
                "data": {
                    "type": "object",
                    "required": [field],
                    "properties": {field: {"type": kind}},
                }
            },
        },
    }


class SignalIn(Strict):
    # What each kind needs in ``data`` (checked in ``call.signal``), told to clients too.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "allOf": [
                _needs(["offer", "answer"], "sdp", "string"),
                _needs(["ice"], "candidates", "array"),
            ]
        },
    )

    kind: SignalKind
    call_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
    data: dict[str, Any] = Field(default_factory=dict)


class CallOut(BaseModel):
    """What a party's browser needs to place a call in a session."""

    session_id: uuid.UUID
    session_type: str
    session_status: str
    role: Role  # the viewer's part in the session
    ice_servers: list[dict[str, Any]]
    max_signal_bytes: int


class SessionOut(BaseModel):
    id: uuid.UUID
    status: str
    type: str
    plan_code: str
    customer_user_id: uuid.UUID
    customer_name: str
    mechanic_id: uuid.UUID | None
    mechanic_name: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    summary: str | None
    rating: int | None
    rating_comment: str | None


class RequestOut(BaseModel):
    id: uuid.UUID
    status: str
    customer_name: str
    session_type: str
    plan_code: str
    mechanic_id: uuid.UUID | None
    created_at: datetime
    accepted_at: datetime | None
    closed_at: datetime | None


class IntakeView(BaseModel):
    id: uuid.UUID
    vehicle_info: dict[str, Any]
    issue_description: str
    created_at: datetime


class SessionDetail(BaseModel):
    session: SessionOut
    request: RequestOut
    intake: IntakeView | None


class NotificationOut(BaseModel):
    id: uuid.UUID
    kind: str
    title: str
    body: str
    session_id: uuid.UUID | None
    request_id: uuid.UUID | None
    created_at: datetime
    read_at: datetime | None


class TimelineEntry(BaseModel):
    id: int
    at: datetime
    kind: str
    actor_id: uuid.UUID | None
    actor_name: str | None
    text: str = ""  # what happened, as a sentence
    payload: dict[str, Any]


class PhotoCaption(BaseModel):
    """The form fields that come with a photo; checked before a byte of the photo is kept."""

    caption: Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=4000),
        AfterValidator(refuse_unstorable),
    ] = ""
