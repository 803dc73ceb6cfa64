"""The tables, with the names of the system pitcrew replaces so its SQL and data carry over.

Statuses live here as enums because the schema's CHECK constraints are built from them;
the rules for moving between them live in ``flow``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ColumnElement,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    and_,
    column,
    false,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Role(StrEnum):
    CUSTOMER = "customer"
    MECHANIC = "mechanic"
    ADMIN = "admin"


class SessionType(StrEnum):
    CHAT = "chat"
    VIDEO = "video"


class SessionStatus(StrEnum):
    PENDING = "pending"
    WAITING = "waiting"
    LIVE = "live"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# A session in one of these is held by a mechanic: it names one, and its request is accepted.
HELD_STATUSES: frozenset[SessionStatus] = frozenset(
    {SessionStatus.WAITING, SessionStatus.LIVE, SessionStatus.COMPLETED}
)


class TokenPurpose(StrEnum):
    """What an account token proves: who may confirm an address or set a new password, or
    that a browser signed in to the account before."""

    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"
    DEVICE = "device"


class RequestStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both databases (SQLite keeps no zone, so we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use pitcrew.models.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
EventId = BigInteger().with_variant(Integer(), "sqlite")


E = TypeVar("E", bound=StrEnum)


def stored(enum: type[E], length: int = 16) -> Enum:
    """A column holding one of ``enum``'s values, read back as the member.

    Stored as a plain VARCHAR of ``length`` (no native enum type, no constraint of its own:
    the named CHECK constraints below say which values are allowed), so the schema is the
    one the replaced system had. An unknown value is refused before it reaches the database.
    """
    return Enum(
        enum,
        native_enum=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def _quoted(values: Iterable[StrEnum]) -> str:
    return ", ".join(repr(str(v)) for v in values)


def _in(column: str, values: Iterable[StrEnum]) -> str:
    return f"{column} IN ({_quoted(values)})"


def _enum_checks(**columns: type[StrEnum]) -> list[CheckConstraint]:
    """One CHECK per enum-typed column, named after the column, listing the enum's values."""
    return [CheckConstraint(_in(column, enum), name=column) for column, enum in columns.items()]


def _mechanic_rule(name: str, statuses: list[Any], *, named: bool) -> CheckConstraint:
    """A row in one of ``statuses`` must name its mechanic (``named``) or must not."""
    listed = _quoted(statuses)
    when = f"status <> {listed}" if len(statuses) == 1 else f"status NOT IN ({listed})"
    return CheckConstraint(f"{when} OR mechanic_id IS {'NOT ' if named else ''}NULL", name=name)


def _held() -> list[SessionStatus]:
    """The held statuses in the order the enum declares them (a stable constraint text)."""
    return [status for status in SessionStatus if status in HELD_STATUSES]


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        Index("uq_users_email_lower", func.lower(text("email")), unique=True),
        *_enum_checks(role=Role),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(stored(Role))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    on_duty: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    notify_by_email: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A short sound for new requests (while on duty) and new messages: off unless chosen.
    sound_alerts: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # False only between a sign-up with email on and the click on its link.
    email_verified: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Set by an admin: the account cannot sign in until reactivated (NULL: active).
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @classmethod
    def on_duty_mechanic(cls) -> ColumnElement[bool]:
        """Mechanics on duty: those every new request is offered to."""
        return and_(cls.role == Role.MECHANIC, cls.on_duty.is_(True))


class Vehicle(Base):
    """One of a customer's cars, kept so the next intake picks it instead of typing it again,
    and so a mechanic can see what was found on the same car before."""

    __tablename__ = "vehicles"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    make: Mapped[str] = mapped_column(String(60))
    model: Mapped[str] = mapped_column(String(60))
    vin: Mapped[str | None] = mapped_column(String(17))
    mileage: Mapped[int | None] = mapped_column(Integer)  # as last reported
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Intake(Base):
    __tablename__ = "intakes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    # The copy of the car as it was described (what older readers read), and the car itself.
    vehicle_info: Mapped[dict[str, Any]] = mapped_column(JSONType)
    vehicle_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("vehicles.id"), index=True)
    issue_description: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Session(Base):
    __tablename__ = "sessions"
    __table_args__ = (
        *_enum_checks(status=SessionStatus, type=SessionType),
        CheckConstraint("rating IS NULL OR (rating BETWEEN 1 AND 5)", name="rating"),
        _mechanic_rule("held_has_mechanic", _held(), named=True),
        _mechanic_rule("pending_unassigned", [SessionStatus.PENDING], named=False),
        # The target of session_requests' (parent_session_id, mechanic_id) foreign key.
        UniqueConstraint("id", "mechanic_id", name="uq_sessions_id_mechanic"),
        Index(
            "ix_sessions_mechanic_status_ended", "mechanic_id", "status", column("ended_at").desc()
        ),
        Index("ix_sessions_customer_created", "customer_user_id", column("created_at").desc()),
        # Completed's and History's search on PostgreSQL: words anywhere in the text, found
        # by their trigrams among the mechanic's own sessions (btree_gin holds the mechanic),
        # so a rare word costs the mechanic's rows it is in, not the whole history.
        Index(
            "ix_sessions_mechanic_id_search_text",
            "mechanic_id",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    customer_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    mechanic_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    type: Mapped[SessionType] = mapped_column(stored(SessionType))
    plan_code: Mapped[str] = mapped_column(String(64))
    status: Mapped[SessionStatus] = mapped_column(
        stored(SessionStatus), default=SessionStatus.PENDING
    )
    intake_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("intakes.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    summary: Mapped[str | None] = mapped_column(Text)
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    # From going live to completion, in whole seconds; written by ``complete``.
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    # What a mechanic's search reads (:func:`search_text`): written with the intake, the
    # summary added at completion.
    search_text: Mapped[str] = mapped_column(Text, server_default=text("''"))


def search_text(customer_name: str, vehicle: dict[str, Any], issue: str) -> str:
    """The words a session is found by: who asked, the car (year, make, model, VIN) and the
    issue; completing it adds the summary."""
    car = (str(vehicle[key]) for key in ("year", "make", "model", "vin") if vehicle.get(key))
    return " ".join((customer_name, *car, issue))


class SessionReport(Base):
    """What the mechanic leaves the driver when a session completes.

    Written in the transaction that completes the session; ``sessions.summary`` keeps a copy
    of the summary for everything that reads it there. ``steps`` holds each recommended step
    as ``{"text", "urgency", "cost_min", "cost_max"}``; ``photo_ids`` the chosen chat photos.
    """

    __tablename__ = "session_reports"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sessions.id"), primary_key=True)
    summary: Mapped[str] = mapped_column(Text)
    findings: Mapped[str] = mapped_column(Text, default="")
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    trouble_codes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    photo_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SessionRequest(Base):
    __tablename__ = "session_requests"
    __table_args__ = (
        *_enum_checks(status=RequestStatus, session_type=SessionType),
        _mechanic_rule("pending_unassigned", [RequestStatus.PENDING], named=False),
        _mechanic_rule("accepted_has_mechanic", [RequestStatus.ACCEPTED], named=True),
        # A request that names a mechanic must point at a session naming the same one,
        # checked at commit so accept can update both rows in one transaction.
        ForeignKeyConstraint(
            ["parent_session_id", "mechanic_id"],
            ["sessions.id", "sessions.mechanic_id"],
            name="fk_session_requests_same_mechanic",
            deferrable=True,
            initially="DEFERRED",
        ),
        Index(
            "ix_session_requests_pending",
            "created_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_session_requests_mechanic_status_accepted",
            "mechanic_id",
            "status",
            column("accepted_at").desc(),
        ),
        # The History tab's order (accepted and cancelled together), page by page.
        Index(
            "ix_session_requests_mechanic_accepted",
            "mechanic_id",
            column("accepted_at").desc(),
            column("id").desc(),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    customer_name: Mapped[str] = mapped_column(String(200))
    session_type: Mapped[SessionType] = mapped_column(stored(SessionType))
    plan_code: Mapped[str] = mapped_column(String(64))
    status: Mapped[RequestStatus] = mapped_column(
        stored(RequestStatus), default=RequestStatus.PENDING
    )
    mechanic_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    parent_session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sessions.id"), unique=True, nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @classmethod
    def offering(cls, session: Session, customer_name: str) -> SessionRequest:
        """The request that offers a new session to every on-duty mechanic.

        It copies what mechanics choose by (type, plan, who asks, since when), so Incoming is
        read from this table alone.
        """
        return cls(
            id=uuid.uuid4(),
            parent_session_id=session.id,
            customer_id=session.customer_user_id,
            customer_name=customer_name,
            session_type=session.type,
            plan_code=session.plan_code,
            status=RequestStatus.PENDING,
            created_at=session.created_at,
        )


PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")


class SessionMessage(Base):
    """A chat line; a photo is a message whose attachment is an image in the photo store.

    Paths are the store's keys (``pitcrew.photo_store``). The files are kept for good before
    the row commits, so a row never names a file that is missing.
    """

    __tablename__ = "session_messages"
    __table_args__ = (
        Index("ix_session_messages_session_created", "session_id", "created_at"),
        CheckConstraint(
            "attachment_type IS NULL OR attachment_type IN "
            f"({', '.join(repr(t) for t in PHOTO_TYPES)})",
            name="attachment_type",
        ),
        CheckConstraint(
            "attachment_path IS NULL OR (attachment_type IS NOT NULL"
            " AND thumbnail_path IS NOT NULL AND attachment_width > 0"
            " AND attachment_height > 0 AND attachment_bytes > 0)",
            name="attachment_complete",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sessions.id"))
    sender_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attachment_path: Mapped[str | None] = mapped_column(String(255))
    attachment_type: Mapped[str | None] = mapped_column(String(32))
    attachment_width: Mapped[int | None] = mapped_column(Integer)
    attachment_height: Mapped[int | None] = mapped_column(Integer)
    attachment_bytes: Mapped[int | None] = mapped_column(Integer)
    thumbnail_path: Mapped[str | None] = mapped_column(String(255))


class Notification(Base):
    """What the bell lists. A "new request" notification is *resolved* once nothing is left
    to do about it (the request was taken, expired or was cancelled): it stays in the list,
    shown as closed, and leaves the unread count."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_created", "user_id", column("created_at").desc()),
        # The notifications of one request, resolved together when it closes.
        Index("ix_notifications_request_id", "request_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SessionRead(Base):
    """How far one party of a session has read its chat: up to and including ``message_id``
    (sent at ``read_until``). It only ever moves forward; messages from the other party
    after it are that party's unread."""

    __tablename__ = "session_reads"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sessions.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("session_messages.id"))
    read_until: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    """Append-only log of every state change: the audit trail and what live pages replay."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_session_id", "session_id", "id"),
        # A mechanic's hand-backs, for their History tab.
        Index(
            "ix_events_released_by",
            "actor_id",
            "at",
            sqlite_where=text("kind = 'request.released'"),
            postgresql_where=text("kind = 'request.released'"),
        ),
        # The newest prune mark, read by every server at its start.
        Index(
            "ix_events_pruned",
            "id",
            sqlite_where=text("kind = 'events.pruned'"),
            postgresql_where=text("kind = 'events.pruned'"),
        ),
    )

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class EmailOutbox(Base):
    """An email waiting to be sent, written in the transaction of the change it tells of.

    The sender claims a row, sends it and marks it sent; ``next_attempt_at`` is when it may
    be tried (again), NULL once it has been given up on.
    """

    __tablename__ = "email_outbox"
    __table_args__ = (
        Index(
            "ix_email_outbox_due",
            "next_attempt_at",
            sqlite_where=text("sent_at IS NULL"),
            postgresql_where=text("sent_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class AuthToken(Base):
    """Sign-in tokens, stored hashed so a leaked table signs nobody in; deleting one signs out."""

    __tablename__ = "auth_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MediaFile(Base):
    """A photo or thumbnail kept in the database (``MEDIA_STORE=database``), so that every
    host sharing it serves every photo; the key is the one its message names."""

    __tablename__ = "media_files"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotencyKey(Base):
    """The first answer to an intake, replayed when a client retries with the same key."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginFailure(Base):
    """A sign-in attempt not (yet) known to have succeeded, kept for the throttle window.

    In the database rather than in memory so that every worker counts the same attempts.
    """

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_account_at", "account", "at"),
        Index("ix_login_failures_address_at", "address", "at"),
        Index("ix_login_failures_at", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    account: Mapped[str] = mapped_column(String(320))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccountToken(Base):
    """A one-time email link (confirm an address, set a new password) or a known browser.

    Like sign-in tokens, stored only as a hash: the table alone opens nothing.
    """

    __tablename__ = "account_tokens"
    __table_args__ = (
        *_enum_checks(purpose=TokenPurpose),
        Index("ix_account_tokens_user_id_purpose", "user_id", "purpose"),
        Index("ix_account_tokens_expires_at", "expires_at"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    purpose: Mapped[TokenPurpose] = mapped_column(stored(TokenPurpose))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


OVERVIEW_VIEW = "mechanic_session_overview"
# Its columns are listed once, in ``overview`` below. Its SQL is history, kept in the
# migration that created it (revision 0001); tests/test_migrations.py checks the two agree.

# The view as a typed table, for reads only; kept out of Base.metadata so that neither
# create_all nor autogenerate ever treats it as a table.
overview = Table(
    OVERVIEW_VIEW,
    MetaData(),
    Column("request_id", Uuid),
    Column("request_status", String),
    Column("mechanic_id", Uuid),
    Column("customer_id", Uuid),
    Column("customer_name", String),
    Column("session_type", String),
    Column("plan_code", String),
    Column("request_created_at", UTCDateTime),
    Column("accepted_at", UTCDateTime),
    Column("parent_session_id", Uuid),
    Column("session_id", Uuid),
    Column("session_status", String),
    Column("started_at", UTCDateTime),
    Column("ended_at", UTCDateTime),
    Column("rating", SmallInteger),
    Column("intake_id", Uuid),
    Column("vehicle_info", JSONType),
    Column("issue_description", Text),
)
