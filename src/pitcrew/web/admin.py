"""The operator's console as JSON: ``/api/admin/...``, for admins only.

Thin like the rest of the API: each route calls one function of ``console`` (reads),
``oversight`` (sessions) or ``people`` (accounts) and shapes its answer.
"""

from __future__ import annotations

from fastapi import APIRouter

from pitcrew import console
from pitcrew.admin_schemas import Floor
from pitcrew.web.deps import DB, Admin, SettingsDep
from pitcrew.web.errors import _responses

router = APIRouter(prefix="/api/admin", tags=["admin"])

READ = _responses(401, 403, 422)


@router.get("/floor", response_model=Floor, responses=_responses(401, 403))
def floor(db: DB, admin: Admin, settings: SettingsDep) -> Floor:
    """Pending requests oldest first (with the time left before each expires), mechanics on
    duty with the sessions they hold, and the sessions waiting for their mechanic or live."""
    with db.read() as s:
        return console.floor(s, settings.request_ttl)
