"""The report's routes: its PDF, the car's history, the customer's saved cars, and the page of
an earlier report on the car a mechanic now holds.

Thin like every route: ``report`` and ``vehicles`` decide who may read what; this module
only renders. The PDF is the page's own report template printed by WeasyPrint, which is given
nothing to fetch: the photos go in as data URIs and any other address is refused.
"""

from __future__ import annotations

import base64
import uuid
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from PIL import ImageFile
from weasyprint import HTML
from weasyprint.urls import URLFetcher

from pitcrew import access, media, report, vehicles
from pitcrew.errors import DomainError
from pitcrew.photo_store import PhotoStore
from pitcrew.report import Document
from pitcrew.schemas import HistoryEntry, VehicleOut
from pitcrew.web import pages
from pitcrew.web.deps import DB, CurrentActor, Customer, Mechanic, Photos
from pitcrew.web.errors import COMMON, READ_ONE, _responses, file_of

# Importing WeasyPrint tells Pillow to load truncated images, for the whole process; a photo
# upload must still be refused when it is cut short (media.py), so that is undone here.
ImageFile.LOAD_TRUNCATED_IMAGES = False

router = APIRouter(prefix="/api")
page_router = APIRouter(include_in_schema=False, route_class=pages.PageRoute)


@lru_cache(maxsize=1)
def _print_css() -> str:
    return (pages.STATIC_DIR / "report-print.css").read_text(encoding="utf-8")


def _car(doc: Document) -> dict[str, Any]:
    info = doc.vehicle_info
    mileage = info.get("mileage")
    return {
        "vehicle": pages.vehicle_line(info),
        "vin": info.get("vin") or "",
        "mileage": mileage if isinstance(mileage, int) else None,
    }


def render_pdf(doc: Document, store: PhotoStore) -> bytes:
    """The report as a PDF: the same report body as the page, with the photos inside it (a
    photo whose file has gone missing is left out rather than failing the whole report)."""
    kept = [data for data in (store.get(key) for key in doc.photo_keys) if data is not None]
    photos = [
        "data:image/jpeg;base64," + base64.b64encode(media.report_image(data)).decode("ascii")
        for data in kept
    ]
    html = pages.templates.env.get_template("report_pdf.html").render(
        doc=doc, photo_srcs=photos, print_css=_print_css(), **_car(doc)
    )
    fetcher = URLFetcher(allowed_protocols={"data"})
    pdf: bytes = HTML(string=html, url_fetcher=fetcher).write_pdf()
    return pdf


@router.get(
    "/sessions/{session_id}/report.pdf",
    response_class=Response,
    responses={**file_of("application/pdf"), **_responses(401, 404, 422)},
    tags=["session"],
)
def report_pdf(session_id: uuid.UUID, db: DB, actor: CurrentActor, photos: Photos) -> Response:
    """The session's report as a PDF, for its customer and its mechanic (anyone else: 404)."""
    doc = report.document(db, actor, session_id)
    name = f"pitcrew-report-{str(session_id)[:8]}.pdf"
    return Response(
        render_pdf(doc, photos),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"', **pages.PAGE_HEADERS},
    )


@router.get(
    "/sessions/{session_id}/history",
    response_model=list[HistoryEntry],
    responses=READ_ONE,
    tags=["mechanic"],
)
def car_history(session_id: uuid.UUID, db: DB, mechanic: Mechanic) -> list[HistoryEntry]:
    """Earlier reports on this session's car, for the mechanic who holds the session now."""
    return report.history(db, mechanic, session_id)


@router.get("/vehicles", response_model=list[VehicleOut], responses=COMMON, tags=["customer"])
def my_vehicles(db: DB, customer: Customer) -> list[VehicleOut]:
    """My saved cars, the one I described most recently first."""
    return vehicles.mine(db, customer)


@page_router.get("/sessions/{session_id}/history/{earlier_id}", response_class=HTMLResponse)
def earlier_report_page(
    request: Request, session_id: str, earlier_id: str, db: DB, viewer: pages.MechanicPage
) -> Response:
    """An earlier report on the car of a session the mechanic holds, from its history."""
    try:
        sid = access.parse_id(session_id, "session_id")
        doc = report.earlier(db, viewer.actor, sid, access.parse_id(earlier_id, "report"))
    except DomainError as error:
        return pages._domain_error_page(request, viewer, error)
    context = {"viewer": viewer, "doc": doc, "session_id": sid, **_car(doc)}
    return pages._render(request, "report.html", context)
