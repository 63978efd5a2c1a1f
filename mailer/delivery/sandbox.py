"""What a message template may do, and cost.

A user writes the template, and it is rendered for each of their clients in
workers every user shares: it must not loop, nor grow a text without bound.
`BoundedSandbox` is Jinja's sandbox with:
- no loops, macros, variables or blocks (`{% set %}` could double a text
  again and again), and no other templates: `refusal` names the line;
- no globals (`range`, `lipsum`);
- only filters whose text grows with their input's, each one's output at
  most TEXT_MAX, and only the methods that read or change the case of a
  text or read a dict (`_METHODS`): a list of those that pad, repeat or
  translate was one method short (`translate` built millions of characters
  unseen), and other types have their own (`(1).to_bytes(10**9)`);
- `*`, `**` and `%` only within bounds; only text and numbers repeat (a
  list of a list repeated a thousand times a thousand times costs little to
  build and a billion characters to print), and `%` formats numbers alone.
Each text an operation builds counts against the render's budget, so that
all of them together stay within RENDERED_MAX (`render_bounded` sets it): a
template of TEMPLATE_MAX characters could otherwise hold thousands of
operations of TEXT_MAX each. Anything else is linear in the template's
length, and `render_bounded` refuses a part longer than RENDERED_MAX as it
grows.
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import wraps
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, nodes, pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.sandbox import SandboxedEnvironment

TEMPLATE_MAX = 100_000  # characters of one part's template (subject, text or HTML)
TEXT_MAX = 20_000  # characters one operation may produce (an escaped 2,000-character comment)
RENDERED_MAX = 1_000_000  # characters of one rendered part
_BITS_MAX = 4096  # of a number one operation may produce


def N_(text: str) -> str:
    """Marks `text` for the catalogue; mailings.template_errors shows it translated."""
    return text


# The tags a message cannot use, and what the refusal calls them.
_REFUSED_TAGS = {
    nodes.For: N_("loops ({% for %})"),
    nodes.Macro: N_("macros"),
    nodes.CallBlock: N_("macros"),
    nodes.Assign: N_("variables ({% set %})"),
    nodes.AssignBlock: N_("variables ({% set %})"),
    nodes.With: N_("variables ({% with %})"),
    nodes.Block: N_("blocks"),
    nodes.Extends: N_("other templates"),
    nodes.Include: N_("other templates"),
    nodes.Import: N_("other templates"),
    nodes.FromImport: N_("other templates"),
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
# The methods a template may call: of a text, those whose result is no longer than the text
# (or a list of its pieces), and of a dict, its readers. Any other (`center`, `translate`,
# `format`, `encode`, int's `to_bytes`) could build what the template chooses, unbounded.
_METHODS = frozenset(
    [
        "capitalize",
        "casefold",
        "count",
        "endswith",
        "find",
        "get",
        "index",
        "isalnum",
        "isalpha",
        "isdecimal",
        "isdigit",
        "islower",
        "isnumeric",
        "isspace",
        "istitle",
        "isupper",
        "items",
        "keys",
        "lower",
        "lstrip",
        "partition",
        "removeprefix",
        "removesuffix",
        "rfind",
        "rindex",
        "rpartition",
        "rsplit",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "swapcase",
        "title",
        "upper",
        "values",
    ]
)
_NUMBERS = (int, float)


# What the operations of the render under way have built so far (None: no render).
_built: ContextVar[list[int] | None] = ContextVar("template_built", default=None)


def _builds(length: int) -> None:
    """Refuse a text of `length` one operation is about to build (or built), or one that
    takes the render's operations past RENDERED_MAX together."""
    if length > TEXT_MAX:
        raise SecurityError(f"the text would be longer than {TEXT_MAX} characters")
    built = _built.get()
    if built is not None:
        built[0] += length
        if built[0] > RENDERED_MAX:
            raise SecurityError(f"the email would be longer than {RENDERED_MAX} characters")


def _bounded(name: str):
    """Jinja's filter `name`, refusing an output longer than TEXT_MAX."""
    jinja_filter = FILTERS[name]

    @wraps(jinja_filter)  # and so what Jinja passes it (its environment, say)
    def bounded(*args, **kwargs):
        result = jinja_filter(*args, **kwargs)
        if isinstance(result, str):
            _builds(len(result))
        return result

    return bounded


@pass_eval_context
def _replace(eval_ctx, value, old, new, count=None):
    """Jinja's replace, refusing before it works what would exceed TEXT_MAX."""
    text, old, new = str(value), str(old), str(new)
    found = text.count(old) if count is None or count < 0 else min(text.count(old), count)
    _builds(len(text) + found * (len(new) - len(old)))
    return FILTERS["replace"](eval_ctx, value, old, new, count)


class BoundedSandbox(SandboxedEnvironment):
    """Jinja's sandbox, keeping a template's cost linear in its length (see the top).
    `undefined`: what a missing name becomes (render.py's names `client`); `finalize`:
    Jinja's, what each `{{ … }}` prints."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, *, undefined: type[Undefined], html: bool, finalize=None) -> None:
        super().__init__(
            undefined=undefined,
            autoescape=html,
            keep_trailing_newline=True,
            auto_reload=False,
            finalize=finalize,
        )
        self.globals.clear()
        self.filters = {name: _bounded(name) for name in _FILTERS}
        self.filters["replace"] = _replace

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if callable(value) and attr not in _METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and not isinstance(left, _NUMBERS):
            raise SecurityError("% cannot format text here; join texts with ~")
        if operator == "*":
            for repeated, times in ((left, right), (right, left)):
                if isinstance(times, int) and not isinstance(repeated, _NUMBERS):
                    if not isinstance(repeated, str):
                        raise SecurityError("only text can be repeated in a message")
                    _builds(len(repeated) * times)
        if isinstance(left, int) and isinstance(right, int):
            bits = max(abs(left), 2).bit_length()
            if operator == "**" and right * bits > _BITS_MAX:
                raise SecurityError(f"the number would be longer than {_BITS_MAX} bits")
            if operator == "*" and bits + abs(right).bit_length() > _BITS_MAX:
                raise SecurityError(f"the number would be longer than {_BITS_MAX} bits")
        return super().call_binop(context, operator, left, right)


def refusal(env: SandboxedEnvironment, source: str) -> str | None:
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


def render_bounded(template, context: dict) -> str:
    """The template rendered, piece by piece, refusing a part longer than RENDERED_MAX
    before it is joined, and operations that build more than that together."""
    pieces, length = [], 0
    budget = _built.set([0])
    try:
        for piece in template.generate(context):
            length += len(piece)
            if length > RENDERED_MAX:
                raise SecurityError(f"the email would be longer than {RENDERED_MAX} characters")
            pieces.append(piece)
    finally:
        _built.reset(budget)
    return "".join(pieces)
