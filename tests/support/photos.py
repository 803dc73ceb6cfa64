"""Photos as a phone takes them: large, detailed JPEGs, for tests that care about sizes."""

from __future__ import annotations

import io
import random
from typing import Any

from PIL import Image, ImageDraw

from tests.support.factories import Person


def phone_photo(seed: int, size: tuple[int, int] = (3000, 2250)) -> bytes:
    """A 7-megapixel JPEG with shapes, a gradient and sensor noise (so it compresses like a
    real photo rather than like a flat colour)."""
    pick = random.Random(seed)
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(0, height, 6):
        draw.rectangle((0, y, width, y + 6), fill=(40 + y // 20 % 200, 60 + y // 30 % 180, 90))
    for _ in range(80):
        x, y, r = pick.randrange(width), pick.randrange(height), pick.randrange(40, 400)
        colour = (pick.randrange(256), pick.randrange(256), pick.randrange(256))
        draw.ellipse((x, y, x + r, y + r), fill=colour)
    noise = Image.effect_noise(size, 48).convert("RGB")
    image = Image.blend(image, noise, 0.3)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def send_photo(person: Person, session_id: str, data: bytes) -> Any:
    """The photo into the session's chat as the page sends it; the new message's JSON."""
    answer = person.client.post(
        f"/api/sessions/{session_id}/photos", files={"photo": ("photo.jpg", data, "image/jpeg")}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()
