"""Articles: Markdown rendering, image uploads, publishing and the views count."""

from __future__ import annotations

import secrets
from pathlib import Path

import markdown
import nh3
from flask import current_app
from flask_babel import gettext as _
from markdown.extensions.toc import slugify_unicode
from sqlalchemy import select, update
from werkzeug.datastructures import FileStorage

from mailer.extensions import db
from mailer.models import Article, User, utcnow

# What each accepted image format starts with; the upload's name and
# Content-Type are the sender's claims, its first bytes are not.
IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


class ImageError(ValueError):
    """The upload is not an accepted image (type or size); the message says which."""


def render_markdown(body: str) -> str:
    """Markdown to HTML that is safe to show: no scripts, handlers or javascript: links.

    Headings start at <h2> (`# Part` too): the page's one <h1> is the article's title.
    """
    html = markdown.markdown(
        body or "",
        extensions=["extra", "sane_lists", "toc"],
        extension_configs={"toc": {"baselevel": 2, "slugify": _heading_id}},
    )
    return nh3.clean(html, attributes=_ATTRIBUTES, attribute_filter=_only_heading_ids)


# A heading keeps its id, for the links of a [TOC], when it is one the toc extension gave:
# prefixed, so that no article can take an id the page's own elements have.
HEADING_ID_PREFIX = "part-"
_HEADINGS = {"h2", "h3", "h4", "h5", "h6"}
_ATTRIBUTES = {
    **nh3.ALLOWED_ATTRIBUTES,
    **{tag: nh3.ALLOWED_ATTRIBUTES.get(tag, set()) | {"id"} for tag in _HEADINGS},
}


def _heading_id(value: str, separator: str) -> str:
    return HEADING_ID_PREFIX + slugify_unicode(value, separator)


def _only_heading_ids(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "id" and not value.startswith(HEADING_ID_PREFIX):
        return None
    return value


def image_extension(head: bytes) -> str | None:
    """The file extension for an accepted image format, judged by its first bytes."""
    for signature, extension in IMAGE_SIGNATURES:
        if head.startswith(signature):
            return extension
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def read_image(upload: FileStorage) -> tuple[bytes, str]:
    """The upload's bytes and extension; ImageError when too large or not an image."""
    limit = current_app.config["ARTICLE_IMAGE_MAX_BYTES"]
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise ImageError(_("The image is larger than %(kb)s KB.", kb=limit // 1024))
    extension = image_extension(data[:16])
    if extension is None:
        raise ImageError(_("Only PNG, JPEG, GIF and WebP images can be uploaded."))
    return data, extension


def upload_dir() -> Path:
    return Path(current_app.config["ARTICLE_UPLOAD_DIR"])


def save_image(upload: FileStorage) -> str:
    """Store an uploaded image under a random name; returns the name kept on the article."""
    data, extension = read_image(upload)
    folder = upload_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{extension}"
    (folder / name).write_bytes(data)
    return name


def delete_image(name: str | None) -> None:
    if name:
        (upload_dir() / Path(name).name).unlink(missing_ok=True)


def set_published(article: Article, published: bool) -> None:
    """Publish or unpublish; the publication date is set the first time only."""
    article.is_published = published
    if published and article.published_at is None:
        article.published_at = utcnow()


def prepare_for_save(article: Article, *, author: User, is_new: bool) -> None:
    if is_new and article.author_id is None and article.author is None:
        article.author = author
    set_published(article, bool(article.is_published))


def count_view(article_id: int) -> int | None:
    """Add one view in the database itself (no read-modify-write); the new count.

    None when no published article has that id. The caller commits.
    """
    return db.session.execute(
        update(Article)
        .where(Article.id == article_id, Article.is_published.is_(True))
        # A view is no edit: updated_at stays what the last edit made it.
        .values(views=Article.views + 1, updated_at=Article.updated_at)
        .returning(Article.views)
    ).scalar_one_or_none()


def current_views(article_id: int) -> int:
    return db.session.scalar(select(Article.views).where(Article.id == article_id)) or 0
