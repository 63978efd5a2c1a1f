"""Message templates: validate them on save, render them per client when sending.

Pure: no Flask, no database. A message's subject, text body and HTML body are
Jinja templates rendered in a sandbox (a user writes them, so they must not
reach Python internals) with `StrictUndefined` (a typo is an error on save,
never an empty hole in a sent email). Only the HTML part is autoescaped.

The context is `client` (email, full_name, comment) and `unsubscribe_url`.

A template also costs what it may: it is rendered for each of its owner's
clients in workers every user shares, so it can neither loop nor grow text
without bound (`_BoundedSandbox`). No loops, macros, variables or blocks
(`{% set %}` could double a text again and again); no globals (`range`,
`lipsum`); only filters whose text grows with their input's, each one's
output at most TEXT_MAX; no str methods that pad or repeat; `*`, `**` and
`%` only within bounds. Anything else is linear in the template's length,
which is at most TEMPLATE_MAX, and a rendered part longer than RENDERED_MAX
is refused as it grows.

The sender compiles a message once per run (`compile_message`) and renders
it for each client; `render_for_client` is the one-off form of the same.
"""

from __future__ import annotations

import traceback
from functools import lru_cache, wraps
from typing import Any, NamedTuple

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, nodes, pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import escape

__all__ = [
    "ClientContext",
    "CompiledMessage",
    "Rendered",
    "compile_message",
    "render_for_client",
    "validate_message",
]

# The name Jinja gives the frames of a template compiled from a string.
_TEMPLATE_FILENAME = "<template>"


class ClientContext(NamedTuple):
    """What a template sees as `client`: the client's fields, nothing else."""

    email: str
    full_name: str = ""
    comment: str = ""


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


TEMPLATE_MAX = 100_000  # characters of one part's template (subject, text or HTML)
TEXT_MAX = 20_000  # characters one operation may produce (an escaped 2,000-character comment)
RENDERED_MAX = 1_000_000  # characters of one rendered part
_BITS_MAX = 4096  # of a number one operation may produce

# The tags a message cannot use, and what the refusal calls them.
_REFUSED_TAGS = {
    nodes.For: "loops ({% for %})",
    nodes.Macro: "macros",
    nodes.CallBlock: "macros",
    nodes.Assign: "variables ({% set %})",
    nodes.AssignBlock: "variables ({% set %})",
    nodes.With: "variables ({% with %})",
    nodes.Block: "blocks",
    nodes.Extends: "other templates",
    nodes.Include: "other templates",
    nodes.Import: "other templates",
    nodes.FromImport: "other templates",
}
# Filters whose output grows no faster than their input (replace is bounded below).
_FILTERS = [
    "abs",
    "capitalize",
    "count",
    "d",
    "default",
    "e",
    "escape",
    "first",
    "float",
    "int",
    "last",
    "length",
    "lower",
    "replace",
    "round",
    "safe",
    "string",
    "striptags",
    "title",
    "trim",
    "truncate",
    "upper",
    "wordcount",
]
# str methods that pad or repeat a text to a length the template chooses.
_GROWING_METHODS = frozenset(
    ["center", "expandtabs", "format", "format_map", "join", "ljust", "replace", "rjust", "zfill"]
)


def _too_long(length: int) -> None:
    if length > TEXT_MAX:
        raise SecurityError(f"the text would be longer than {TEXT_MAX} characters")


def _bounded(name: str):
    """Jinja's filter `name`, refusing an output longer than TEXT_MAX."""
    jinja_filter = FILTERS[name]

    @wraps(jinja_filter)  # and so what Jinja passes it (its environment, say)
    def bounded(*args, **kwargs):
        result = jinja_filter(*args, **kwargs)
        if isinstance(result, str):
            _too_long(len(result))
        return result

    return bounded


@pass_eval_context
def _replace(eval_ctx, value, old, new, count=None):
    """Jinja's replace, refusing before it works what would exceed TEXT_MAX."""
    text, old, new = str(value), str(old), str(new)
    found = text.count(old) if count is None or count < 0 else min(text.count(old), count)
    _too_long(len(text) + found * (len(new) - len(old)))
    return FILTERS["replace"](eval_ctx, value, old, new, count)


class _BoundedSandbox(SandboxedEnvironment):
    """Jinja's sandbox, keeping a template's cost linear in its length (see the top)."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, *, html: bool) -> None:
        super().__init__(
            undefined=_Undefined, autoescape=html, keep_trailing_newline=True, auto_reload=False
        )
        self.globals.clear()
        self.filters = {name: _bounded(name) for name in _FILTERS}
        self.filters["replace"] = _replace

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr in _GROWING_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise SecurityError("% cannot format text here; join texts with ~")
        if operator == "*":
            for text, times in ((left, right), (right, left)):
                if isinstance(text, (str, list, tuple)) and isinstance(times, int):
                    _too_long(len(text) * times)
        if isinstance(left, int) and isinstance(right, int):
            bits = max(abs(left), 2).bit_length()
            if operator == "**" and right * bits > _BITS_MAX:
                raise SecurityError(f"the number would be longer than {_BITS_MAX} bits")
            if operator == "*" and bits + abs(right).bit_length() > _BITS_MAX:
                raise SecurityError(f"the number would be longer than {_BITS_MAX} bits")
        return super().call_binop(context, operator, left, right)


def _refusal(env: SandboxedEnvironment, source: str) -> str | None:
    """Why a message cannot use this template ("line 2: loops ... are not available in
    messages"), or None. Syntax errors are left to Jinja's own compilation."""
    if len(source) > TEMPLATE_MAX:
        return f"the template is longer than {TEMPLATE_MAX} characters"
    try:
        tree = env.parse(source)
    except TemplateSyntaxError:
        return None
    for node in tree.find_all(tuple(_REFUSED_TAGS)):
        return f"line {node.lineno}: {_REFUSED_TAGS[type(node)]} are not available in messages"
    return None


def _render(template, context: dict) -> str:
    """The template rendered, piece by piece, refusing a part longer than RENDERED_MAX
    before it is joined: each operation is bounded, not how many a template holds."""
    pieces, length = [], 0
    for piece in template.generate(context):
        length += len(piece)
        if length > RENDERED_MAX:
            raise SecurityError(f"the email would be longer than {RENDERED_MAX} characters")
        pieces.append(piece)
    return "".join(pieces)


_TEXT_ENV = _BoundedSandbox(html=False)
_HTML_ENV = _BoundedSandbox(html=True)


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
        self._refusal = _refusal(env, source)
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
        return _render(self._template, {"client": client, "unsubscribe_url": values[-1]})


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


def to_context(client: Any) -> ClientContext:
    """A client row (or anything with its fields) as the template sees it."""
    if isinstance(client, ClientContext):
        return client
    return ClientContext(
        email=client.email,
        full_name=getattr(client, "full_name", "") or "",
        comment=getattr(client, "comment", "") or "",
    )


def validate_message(*, subject: str, body_text: str, body_html: str) -> dict[str, str]:
    """Errors by field name ("subject", "body_text", "body_html"); empty when valid.

    Each error names the line and the reason, e.g. "line 3: 'client' has no
    attribute 'phone'". The templates are rendered against a sample client so
    unknown names and attributes are caught on save, not when sending.
    """
    errors: dict[str, str] = {}
    fields = (("subject", subject, False), ("body_text", body_text, False))
    if body_html and body_html.strip():
        fields += (("body_html", body_html, True),)
    for name, source, html in fields:
        error = _template_error(source or "", html=html)
        if error:
            errors[name] = error
    return errors


def _template_error(source: str, *, html: bool) -> str | None:
    env = _HTML_ENV if html else _TEXT_ENV
    refusal = _refusal(env, source)
    if refusal is not None:
        return refusal
    try:
        template = env.from_string(source)
    except TemplateSyntaxError as error:
        return f"line {error.lineno}: {error.message}"
    except Exception as error:  # noqa: BLE001 - e.g. a constant Jinja cannot fold
        return f"{type(error).__name__}: {error}"
    context = {"client": SAMPLE_CLIENT, "unsubscribe_url": SAMPLE_UNSUBSCRIBE_URL}
    try:
        _render(template, context)
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
