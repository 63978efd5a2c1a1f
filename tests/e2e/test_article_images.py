"""An article's picture, whatever its shape, keeps the home page, the blog and the article
within reason: a portrait one (300 x 3,000 px) made a home page card 3,593 px tall."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests import factories

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _png(width: int, height: int) -> bytes:
    """A grey PNG of that size, built by hand (no imaging library here)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def portrait_article(live_app):
    folder = Path(live_app.config["ARTICLE_UPLOAD_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "portrait.png").write_bytes(_png(300, 3000))
    return factories.make_article("A tall picture", image="portrait.png")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_portrait_picture_is_cropped_on_the_cards_and_fits_the_screen_on_its_article(
    open_page, ui, portrait_article, viewport
):
    page = open_page(ui.lang, viewport=viewport)
    for path in ("/", "/blog/"):
        page.goto(path)
        picture = page.locator("img.article-thumb")
        expect(picture).to_be_visible()
        box = picture.bounding_box()
        assert box["height"] <= 200, f"{path}: the card's picture is {box['height']:.0f}px tall"
        assert box["width"] >= 150  # a strip of the card's width, not a sliver
    page.goto(f"/blog/{portrait_article.id}")
    picture = page.locator("img.article-image")
    expect(picture).to_be_visible()
    box = picture.bounding_box()
    assert box["height"] <= viewport["height"], f"the article's picture is {box['height']:.0f}px"
    assert abs(box["width"] / box["height"] - 0.1) < 0.01  # whole, not cropped or squeezed
