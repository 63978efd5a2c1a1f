"""Message templates: validate them on save, render them per client when sending.

Pure: no Flask, no database. A message's subject, text body and HTML body are
Jinja templates rendered in a sandbox (a user writes them, so they must not
reach Python internals) with `StrictUndefined` (a typo is an error on save,
never an empty hole in a sent email). Only the HTML part is autoescaped.

The context is `client` (email, full_name, comment) and `unsubscribe_url`.

A template also costs only what it may: it renders in a bounded sandbox
(sandbox.py), since every user's emails are rendered in the same workers.

The sender compiles a message once per run (`compile_message`) and renders
it for each client; `render_for_client` is the one-off form of the same.
"""

from __future__ import annotations

import traceback
from functools import lru_cache
from typing import Any, NamedTuple

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import escape

from mailer.delivery.sandbox import BoundedSandbox, refusal, render_bounded

__all__ = [
    "ClientContext",
    "CompiledMessage",
    "Rendered",
    "compile_message",
    "render_for_client",
    "render_message",
    "validate_message",
]

# The name Jinja gives the frames of a template compiled from a string.
_TEMPLATE_FILENAME = "<template>"


class ClientContext(NamedTuple):
    """What a template sees as `client`: the client's fields, nothing else."""

    email: str
    full_name: str = ""
    comment: str = ""

    def __str__(self) -> str:  # `client|string`, `'Dear ' ~ client`: as `{{ client }}`
        raise SecurityError("'client' alone is not a text")


class Rendered(NamedTuple):
    subject: str
    text: str
    html: str  # "" when the message has no HTML part


SAMPLE_CLIENT = ClientContext(
    email="client@example.com", full_name="Sample Client", comment="A comment"
)
SAMPLE_UNSUBSCRIBE_URL = "https://mailer.example/u/sample-token"


class _Undefined(StrictUndefined):
    """StrictUndefined whose messages name `client` as the user wrote it."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if isinstance(self._undefined_obj, ClientContext) and isinstance(self._undefined_name, str):
            return f"'client' has no attribute {self._undefined_name!r}"
        return super()._undefined_message


def _printed(value: Any) -> Any:
    """What a `{{ … }}` prints: a text or a number, not the client (`{{ client }}` would
    print its Python form to every client), a method (`client.email.upper` without its
    brackets prints its address in the worker's memory), a list or anything else."""
    if isinstance(value, ClientContext):
        raise SecurityError("'client' alone is not a text")
    if value is not None and not isinstance(value, str | int | float | Undefined):
        if callable(value):
            raise SecurityError("a method prints no text: call it, with its ()")
        raise SecurityError("only a text or a number can be printed")
    return value


_TEXT_ENV = BoundedSandbox(undefined=_Undefined, html=False, finalize=_printed)
_HTML_ENV = BoundedSandbox(undefined=_Undefined, html=True, finalize=_printed)


class _Part:
    """One compiled template; a part with no Jinja syntax is returned as it is.

    Most messages only put fields in text (`Dear {{ client.full_name }}`). Such
    a template is kept as its literal pieces and filled in by joining strings,
    exactly as the Jinja template would render it but several times faster;
    anything else (filters, tags, expressions) renders through Jinja.
    """

    __slots__ = ("_escape", "_pieces", "_refusal", "_slots", "_static", "_template")

    def __init__(self, source: str, *, html: bool) -> None:
        self._template = self._static = self._pieces = None
        self._slots: list[tuple[int, int]] = []
        self._escape = escape if html else str  # what Jinja's generated code calls
        env = _HTML_ENV if html else _TEXT_ENV
        # Saving refuses such a template; one saved before would fail each email alike.
        self._refusal = refusal(env, source)
        if self._refusal is not None:
            return
        if "{" not in source:
            self._static = source
            return
        spliced = _splice_plan(env, source)
        if spliced is None:
            self._template = env.from_string(source)
        else:  # Jinja's own compilation would cost a sending job more than its emails' fields
            self._pieces, self._slots = spliced

    def render(self, values: tuple[str, ...]) -> str:
        """`values`: the client's fields in ClientContext order, then the unsubscribe URL."""
        if self._refusal is not None:
            raise SecurityError(self._refusal)
        if self._static is not None:
            return self._static
        if self._pieces is not None:
            pieces = self._pieces.copy()
            for position, index in self._slots:
                pieces[position] = self._escape(values[index])
            return "".join(pieces)
        client = ClientContext(*values[:-1])
        return render_bounded(self._template, {"client": client, "unsubscribe_url": values[-1]})


# Where each name a spliced template may use is in `_Part.render`'s values.
_SLOTS = {
    **{("client", name): index for index, name in enumerate(ClientContext._fields)},
    ("unsubscribe_url",): len(ClientContext._fields),
}


def _splice_plan(env: SandboxedEnvironment, source: str) -> tuple[list, list] | None:
    """The template as literal pieces and field slots, or None when it is more than that."""
    pieces: list[str] = []
    slots: list[tuple[int, int]] = []
    for output in env.parse(source).body:
        if not isinstance(output, nodes.Output):
            return None
        for node in output.nodes:
            if isinstance(node, nodes.TemplateData):
                pieces.append(node.data)
                continue
            if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
                key = (node.node.name, node.attr)
            elif isinstance(node, nodes.Name):
                key = (node.name,)
            else:
                return None
            if key not in _SLOTS:
                return None
            slots.append((len(pieces), _SLOTS[key]))
            pieces.append("")
    return pieces, slots


class CompiledMessage:
    """A message compiled once; `render` fills it in for one client."""

    __slots__ = ("_html", "_subject", "_text", "has_html")

    def __init__(self, *, subject: str, body_text: str, body_html: str = "") -> None:
        self._subject = _Part(subject, html=False)
        self._text = _Part(body_text, html=False)
        self.has_html = bool(body_html and body_html.strip())
        self._html = _Part(body_html, html=True) if self.has_html else None

    def render(self, *, client: ClientContext, unsubscribe_url: str) -> Rendered:
        values = (*client, unsubscribe_url)
        return Rendered(
            subject=_one_line(self._subject.render(values)),
            text=self._text.render(values),
            html=self._html.render(values) if self._html is not None else "",
        )


@lru_cache(maxsize=32)
def compile_message(*, subject: str, body_text: str, body_html: str = "") -> CompiledMessage:
    """The compiled form of a message (cached: a run compiles its message once)."""
    return CompiledMessage(subject=subject, body_text=body_text, body_html=body_html)


def render_for_client(
    *,
    subject: str,
    body_text: str,
    body_html: str,
    client: Any,
    unsubscribe_url: str,
) -> Rendered:
    """Render a message for one client (any object with email, full_name, comment)."""
    compiled = compile_message(subject=subject, body_text=body_text, body_html=body_html or "")
    return compiled.render(client=to_context(client), unsubscribe_url=unsubscribe_url)


def render_message(message: Any, *, client: Any, unsubscribe_url: str) -> Rendered:
    """`message` (a Message row: subject, body_text, body_html) as `client` gets it."""
    return render_for_client(
        subject=message.subject,
        body_text=message.body_text,
        body_html=message.body_html or "",
        client=client,
        unsubscribe_url=unsubscribe_url,
    )


def to_context(client: Any) -> ClientContext:
    """A client row (or anything with its fields) as the template sees it."""
    if isinstance(client, ClientContext):
        return client
    return ClientContext(
        email=client.email,
        full_name=getattr(client, "full_name", "") or "",
        comment=getattr(client, "comment", "") or "",
    )


def validate_message(
    *, subject: str, body_text: str, body_html: str, client: ClientContext = SAMPLE_CLIENT
) -> dict[str, str]:
    """Errors by field name ("subject", "body_text", "body_html"); empty when valid.

    Each error names the line and the reason, e.g. "line 3: 'client' has no
    attribute 'phone'". The templates are rendered against a sample client so
    unknown names and attributes are caught on save, not when sending; a preview
    passes the client it shows, for whom a template may still fail (an empty name's
    first letter).
    """
    errors: dict[str, str] = {}
    fields = (("subject", subject, False), ("body_text", body_text, False))
    if body_html and body_html.strip():
        fields += (("body_html", body_html, True),)
    for name, source, html in fields:
        error = _template_error(source or "", html=html, client=client)
        if error:
            errors[name] = error
    return errors


def _template_error(source: str, *, html: bool, client: ClientContext) -> str | None:
    env = _HTML_ENV if html else _TEXT_ENV
    refused = refusal(env, source)
    if refused is not None:
        return refused
    try:
        template = env.from_string(source)
    except TemplateSyntaxError as error:
        return f"line {error.lineno}: {error.message}"
    except Exception as error:  # noqa: BLE001 - e.g. a constant Jinja cannot fold
        return f"{type(error).__name__}: {error}"
    context = {"client": client, "unsubscribe_url": SAMPLE_UNSUBSCRIBE_URL}
    try:
        render_bounded(template, context)
    except TemplateSyntaxError as error:  # e.g. a bad {% include %}
        return f"line {error.lineno}: {error.message}"
    except (UndefinedError, SecurityError) as error:
        return _with_line(error, str(error))
    except Exception as error:  # noqa: BLE001 - any failure of user code is a validation error
        return _with_line(error, f"{type(error).__name__}: {error}")
    return None


def _with_line(error: BaseException, reason: str) -> str:
    """Prefix the template line where `error` happened (Jinja rewrites tracebacks to it)."""
    frames = [
        f for f in traceback.extract_tb(error.__traceback__) if f.filename == _TEMPLATE_FILENAME
    ]
    if frames and frames[-1].lineno:
        return f"line {frames[-1].lineno}: {reason}"
    return reason


def _one_line(subject: str) -> str:
    """A header value: no line breaks (a template could otherwise inject headers)."""
    if "\n" in subject or "\r" in subject:
        return " ".join(subject.split())
    return subject.strip()
