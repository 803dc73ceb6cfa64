"""The shapes clients rely on (docs/ARCHITECTURE.md, "API"), validated once at the domain's edge."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from pitcrew.models import Role, SessionMessage, SessionRequest, SessionType

Text = Annotated[str, StringConstraints(strip_whitespace=True)]

# Text fields are trimmed before their length is checked; the ``pattern`` on each says the
# same to clients and the OpenAPI schema. A visible character is one no trimming removes
# (Python's also strips the separators \x1c-\x1f and the next-line character \x85, which a
# JSON Schema pattern's \s does not match).
# Characters that draw nothing (zero-width spaces and joiners, soft hyphens, direction marks,
# fillers) do not make a text visible either.
INVISIBLE = (
    r"\s\x1c-\x1f\x85\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f"
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


# --- the car ------------------------------------------------------------------------------

VIN_LENGTH = 17
# What each VIN character counts for in the North American check digit (49 CFR 565.15).
VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
NORTH_AMERICA = "12345"  # the first character of a VIN from the United States, Canada, Mexico
VIN_SHAPE = r"^\s*[A-HJ-NPR-Za-hj-npr-z0-9]{17}\s*$"


def vin_check_digit(vin: str) -> str:
    """The ninth character a North American VIN must carry, computed from the other 16."""
    total = sum(VIN_VALUES[c] * w for c, w in zip(vin, VIN_WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def check_vin(value: str | None) -> str | None:
    """A VIN as printed on the car, or a sentence saying which of its rules it breaks.

    Every VIN since 1981 has 17 letters and digits without I, O or Q (too like 1 and 0);
    a North American one (first character 1 to 5) also carries a check digit in position 9.
    Other regions need none, so theirs pass without it.
    """
    if value is None:
        return None
    vin = value.strip().upper()
    if not vin:
        raise ValueError("Leave the VIN out, or enter all 17 of its characters")
    forbidden = sorted({c for c in vin if c in "IOQ"})
    if forbidden:
        raise ValueError(
            f"A VIN never contains the letters I, O or Q (this one has {', '.join(forbidden)}):"
            " check whether they are the digits 1 and 0"
        )
    if not all(c in VIN_VALUES for c in vin):
        raise ValueError("A VIN has only letters and digits")
    if len(vin) != VIN_LENGTH:
        raise ValueError(f"A VIN has 17 characters; this one has {len(vin)}")
    if vin[0] in NORTH_AMERICA:
        expected = vin_check_digit(vin)
        if vin[8] != expected:
            raise ValueError(
                "This VIN's check digit (its 9th character) does not match the rest:"
                " one of its characters is probably mistyped"
            )
    return vin


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
    # The schema tells clients the VIN's shape; the check digit no pattern can say.
    vin: Annotated[
        str | None,
        AfterValidator(check_vin),
        WithJsonSchema({"anyOf": [{"type": "string", "pattern": VIN_SHAPE}, {"type": "null"}]}),
    ] = None
    mileage: (
        Annotated[int, Field(ge=0, le=2_000_000, strict=True), BeforeValidator(_whole_number)]
        | None
    ) = None


Mileage = Annotated[int, Field(ge=0, le=2_000_000, strict=True), BeforeValidator(_whole_number)]


class VehicleInfo(TypedDict):
    """The car as an intake keeps it: what the customer gave, as they gave it.

    Intakes made here always carry year, make and model (``Vehicle`` checks them), and
    ``vin`` and ``mileage`` only when given; a car adopted from the replaced system may lack
    any of them or keep a year or mileage as text, and is still shown rather than refused.
    """

    # The same car wherever it is shown, inside a row that forbids unknown fields or not.
    __pydantic_config__ = ConfigDict(extra="ignore")  # type: ignore[misc]

    year: NotRequired[int | str | None]
    make: NotRequired[str | None]
    model: NotRequired[str | None]
    vin: NotRequired[str | None]
    mileage: NotRequired[int | str | None]


def _one_car_schema(schema: dict[str, Any]) -> None:
    """Tell clients what the validator below checks: a new car, or a saved one (with today's
    mileage), and no field of the two sent as null."""
    for name in ("vehicle_id", "mileage", "vehicle"):
        field = schema["properties"][name]
        kept = [o for o in field.pop("anyOf", []) if o != {"type": "null"}]
        field.pop("default", None)
        if kept:
            field.update(kept[0])
    # Said with if/then/else rather than oneOf: client generators read a oneOf beside the
    # properties as a choice between two bodies that lose every other field.
    schema["if"] = {"required": ["vehicle"]}
    schema["then"] = {"not": {"anyOf": [{"required": ["vehicle_id"]}, {"required": ["mileage"]}]}}
    schema["else"] = {"required": ["vehicle_id"]}


class IntakeIn(Strict):
    """An intake about a new car (``vehicle``) or one of the customer's saved cars
    (``vehicle_id``, with the ``mileage`` it shows today when known)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_car_schema)

    # Either car field may be left out, not sent as null: the schema says one of them is needed.
    vehicle_id: uuid.UUID | None = None
    mileage: Mileage | None = None
    vehicle: Annotated[Vehicle | None, Field(validate_default=True)] = None
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

    @field_validator("vehicle")
    @classmethod
    def _one_car(cls, vehicle: Vehicle | None, info: ValidationInfo) -> Vehicle | None:
        """A new car or a saved one: without either the car is missing, as it always was."""
        saved = info.data.get("vehicle_id") is not None
        if vehicle is None and not saved:
            raise PydanticCustomError("missing", "Field required")
        if vehicle is not None and saved:
            raise ValueError("Choose one of your cars or describe a new one, not both")
        if vehicle is not None and info.data.get("mileage") is not None:
            raise ValueError("Give a new car's mileage with the car itself")
        return vehicle


class VehicleOut(BaseModel):
    """One of the customer's saved cars."""

    id: uuid.UUID
    year: int
    make: str
    model: str
    vin: str | None
    mileage: int | None


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


# --- the report ---------------------------------------------------------------------------


class Urgency(StrEnum):
    """How soon a recommended step should be done."""

    NOW = "now"
    SOON = "soon"
    CAN_WAIT = "can_wait"


# SAE J2012: the system (powertrain, chassis, body, network), then 0-3 and three hex digits.
TROUBLE_CODE = re.compile(r"^[PCBU][0-3][0-9A-F]{3}$")
TROUBLE_CODE_SHAPE = r"^\s*[PCBUpcbu][0-3][0-9A-Fa-f]{3}\s*$"


def check_trouble_code(value: str) -> str:
    code = value.strip().upper()
    if not TROUBLE_CODE.fullmatch(code):
        raise ValueError(
            f"{value.strip() or 'An empty code'} is not a trouble code: one is a letter P, C, B"
            " or U, a digit 0 to 3 and three more digits or letters A to F, like P0301"
        )
    return code


Cost = Annotated[int, Field(ge=0, le=1_000_000, strict=True), BeforeValidator(_whole_number)]


class Step(Strict):
    """One recommended piece of work, how soon, and what it may cost (whole currency units)."""

    text: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=NOT_BLANK),
    ]
    urgency: Urgency
    cost_min: Cost | None = None
    cost_max: Cost | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Step:
        """A range is the same range whichever end is given first."""
        low, high = self.cost_min, self.cost_max
        if low is not None and high is not None and high < low:
            self.cost_min, self.cost_max = high, low
        return self


class CompleteIn(Strict):
    """The report a session completes with; only the summary is required."""

    summary: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=8000, pattern=NOT_BLANK),
    ]
    findings: Annotated[str, StringConstraints(strip_whitespace=True, max_length=8000)] = ""
    steps: Annotated[list[Step], Field(max_length=20)] = Field(default_factory=list)
    trouble_codes: Annotated[
        list[
            Annotated[
                str,
                AfterValidator(check_trouble_code),
                WithJsonSchema({"type": "string", "pattern": TROUBLE_CODE_SHAPE}),
            ]
        ],
        Field(max_length=30),
    ] = Field(default_factory=list)
    photo_ids: Annotated[list[uuid.UUID], Field(max_length=10)] = Field(default_factory=list)


class ReportOut(BaseModel):
    """A session's report as its parties read it."""

    session_id: uuid.UUID
    summary: str
    findings: str
    steps: list[Step]
    trouble_codes: list[str]
    photos: list[PhotoOut]
    created_at: datetime


class HistoryEntry(BaseModel):
    """An earlier report on the same car, as the mechanic of a later session sees it."""

    session_id: uuid.UUID
    completed_at: datetime
    mechanic_name: str
    summary: str
    trouble_codes: list[str]
    url: str


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


class DashboardQuery(BaseModel):
    """A page of one dashboard tab and, in Completed and History, what to look for."""

    cursor: str | None = Field(None, description="The `next_cursor` of the previous page.")
    q: (
        Annotated[str, StringConstraints(max_length=200), AfterValidator(refuse_unstorable)] | None
    ) = Field(
        None,
        description="Words that must all appear in the customer's name, the car (year, make,"
        " model), its VIN, the issue or the summary; letter case does not matter.",
    )
    since: date | None = Field(
        None, description="The first day (UTC) to list, included: completed on, or accepted on."
    )
    until: date | None = Field(None, description="The last day (UTC) to list, included.")
    rating: int | None = Field(None, ge=1, le=5, description="Only sessions rated this many stars.")
    status: Literal["accepted", "cancelled", "released"] | None = Field(
        None, description="History only: accepted, cancelled after accept, or handed back."
    )

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        """A search form sends its empty fields too: an empty one asks for nothing."""
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value != ""}
        return data


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


def message_photo(message: SessionMessage) -> PhotoOut | None:
    """The photo a message carries, as clients see it (URLs, never disk paths)."""
    if message.attachment_path is None:
        return None
    url = f"/api/sessions/{message.session_id}/photos/{message.id}"
    return PhotoOut(
        url=url,
        thumbnail_url=f"{url}/thumb",
        content_type=message.attachment_type or "",
        width=message.attachment_width or 0,
        height=message.attachment_height or 0,
        bytes=message.attachment_bytes or 0,
    )


class MessageOut(BaseModel):
    id: uuid.UUID
    session_id: uuid.UUID
    sender_id: uuid.UUID
    sender_name: str
    body: str  # for a photo, its caption (may be empty)
    created_at: datetime
    photo: PhotoOut | None = None

    @classmethod
    def of(cls, message: SessionMessage, sender_name: str) -> MessageOut:
        """A chat line as both parties see it, with its photo's addresses."""
        return cls(
            id=message.id,
            session_id=message.session_id,
            sender_id=message.sender_id,
            sender_name=sender_name,
            body=message.body,
            created_at=message.created_at,
            photo=message_photo(message),
        )


class SignalKind(StrEnum):
    """The WebRTC signalling messages a call is set up and ended with."""

    READY = "ready"  # my camera is on and I can take a call now
    OFFER = "offer"
    ANSWER = "answer"
    ICE = "ice"
    HANGUP = "hangup"
    CLAIM = "claim"  # this tab takes the call: the party's other tabs let it go


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


TabId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


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
    tab: TabId | None = Field(default=None, description="The sending page's own random id.")
    to: TabId | None = Field(
        default=None, description="The other party's page it is meant for, once known."
    )


class IceServerOut(TypedDict):
    """A STUN or TURN server as the browser's RTCPeerConnection takes it."""

    urls: str | list[str]
    username: NotRequired[str]
    credential: NotRequired[str]


class CallOut(BaseModel):
    """What a party's browser needs to place a call in a session."""

    session_id: uuid.UUID
    session_type: str
    session_status: str
    role: Role  # the viewer's part in the session
    ice_servers: list[IceServerOut]
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
    unread: int = Field(
        default=0, description="Messages from the other party after my read marker."
    )
    duration_seconds: int | None = None  # from going live to completion


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


TheCar = Annotated[
    VehicleInfo | None,
    Field(description="The intake's car: year, make, model, and vin and mileage when given."),
]
ISSUE = "The customer's description of the problem, whole."


class IntakeView(BaseModel):
    id: uuid.UUID
    vehicle_info: VehicleInfo
    vehicle_id: uuid.UUID | None = None
    issue_description: str
    created_at: datetime


class ReadIn(Strict):
    message_id: uuid.UUID


class ReadOut(BaseModel):
    session_id: uuid.UUID
    message_id: uuid.UUID = Field(description="Where my read marker stands now.")
    unread: int = Field(description="Messages from the other party after it.")


class Conversation(BaseModel):
    session_id: uuid.UUID
    name: str = Field(description="The session as people name it: car and customer.")
    unread: int


class Offered(TypedDict):
    """What every reader of a request is first told of it: whose session, and what is asked
    for: what a mechanic chooses by, in the preview and on the console's floor."""

    session_id: uuid.UUID
    request_id: uuid.UUID
    customer_name: str
    session_type: SessionType
    plan_code: str


def offered(request: SessionRequest) -> Offered:
    return {
        "session_id": request.parent_session_id,
        "request_id": request.id,
        "customer_name": request.customer_name,
        "session_type": request.session_type,
        "plan_code": request.plan_code,
    }


class RequestPreview(BaseModel):
    """A pending request as every mechanic may read it before accepting: the car and the
    whole intake, and what the customer added while waiting; never contact details."""

    request_id: uuid.UUID
    request_status: str
    session_id: uuid.UUID
    customer_name: str
    session_type: str
    plan_code: str
    request_created_at: datetime
    vehicle: TheCar
    issue: Annotated[str, Field(description=ISSUE)]
    details: list[MessageOut] = Field(
        default_factory=list,
        description="Messages and photos the customer added while waiting, oldest first.",
    )


class SessionDetail(BaseModel):
    session: SessionOut
    request: RequestOut
    intake: IntakeView | None
    report: ReportOut | None = None


class NotificationOut(BaseModel):
    id: uuid.UUID
    kind: str
    title: str
    body: str
    session_id: uuid.UUID | None
    request_id: uuid.UUID | None
    created_at: datetime
    read_at: datetime | None
    resolved_at: datetime | None = Field(
        default=None,
        description="When the request it offered was taken, expired or was cancelled: "
        "shown as closed, not counted as unread.",
    )


class Bell(BaseModel):
    """The bell: what needs me, and the conversations where the other party wrote."""

    unread: int = Field(description="Notifications not read yet; closed offers not counted.")
    notifications: list[NotificationOut] = Field(description="The newest 50, newest first.")
    messages_unread: int = Field(description="Messages waiting in all my open sessions.")
    conversations: list[Conversation] = Field(
        description="The open sessions where the other party wrote since I last read."
    )


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


# --- the mechanic's dashboard ---------------------------------------------------------------


class Row(BaseModel):
    """What a row of every dashboard tab carries: the request, its customer and the car.

    No field more or less: each tab's row is exactly one of the shapes below, so a client
    tells them apart by their fields.
    """

    model_config = ConfigDict(extra="forbid")

    request_id: uuid.UUID
    request_status: str
    session_id: uuid.UUID
    customer_id: uuid.UUID
    customer_name: str
    session_type: str
    plan_code: str
    request_created_at: datetime
    vehicle: TheCar


class IncomingRow(Row):
    """A pending request, as every mechanic sees it before accepting."""

    issue: Annotated[str | None, Field(description=ISSUE)]


class HeldRow(Row):
    """A request the mechanic holds, with its session: Active and Completed."""

    accepted_at: datetime | None
    session_status: str
    started_at: datetime | None
    ended_at: datetime | None
    rating: int | None
    intake_id: uuid.UUID | None
    duration_seconds: int | None = Field(description="From going live to completion.")
    unread: int = Field(description="Messages from the customer after my read marker.")


class HistoryRow(HeldRow):
    """A History row: every request the mechanic accepted, and those they handed back
    (``request_status`` "released", ``accepted_at`` when they had taken it)."""

    released_at: datetime | None = Field(description="When the mechanic handed it back.")


Cursor = Annotated[
    str | None,
    Field(description="Pass as ``cursor`` for the next page; null on the last page."),
]


class RequestsPage(BaseModel):
    """Pending requests, longest-waiting first."""

    requests: list[IncomingRow]
    next_cursor: Cursor


class TabPage(BaseModel):
    """A page of one tab: Incoming's rows, Active's and Completed's, or History's."""

    rows: list[HistoryRow | HeldRow | IncomingRow]
    next_cursor: Cursor


class TabCursors(BaseModel):
    """Each tab's cursor for its second page (null when the first page is all there is)."""

    incoming: str | None
    active: str | None
    completed: str | None
    history: str | None


class Dashboard(BaseModel):
    """The first page of each of the four tabs."""

    incoming: list[IncomingRow]
    active: list[HeldRow]
    completed: list[HeldRow]
    history: list[HistoryRow]
    next: TabCursors


class DutyOut(BaseModel):
    on_duty: bool


class EmailNotificationsOut(BaseModel):
    enabled: bool = Field(description="An email for each new request while I am on duty.")
    available: bool = Field(description="Whether this server can send email at all.")


class SoundOut(BaseModel):
    enabled: bool = Field(description="A short sound for new requests and new messages.")


class Alive(BaseModel):
    """The server answers; ``version`` is pitcrew's."""

    status: Literal["ok"]
    version: str
