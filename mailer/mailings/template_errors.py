"""A message template's error, as `delivery.render.validate_message` gives it, in the
user's language.

The reasons come from Jinja and from our sandbox, in English (the worker logs
them so). The ones a user meets while writing a message are matched here and
said again in their language; any other stays as it is, after the translated
"line N:".
"""

from __future__ import annotations

import re

from flask_babel import gettext as _

_LINE_PREFIX = re.compile(r"line (?P<line>\d+): (?P<reason>.*)", re.DOTALL)
_OPEN_BLOCK = re.compile(r"The innermost block that needs to be closed is '(?P<block>\w+)'")


def _end_of_template(match: re.Match) -> str:
    block = _OPEN_BLOCK.search(match.string)
    if block:
        return _("the template ends before {%% end%(block)s %%}", block=block["block"])
    return _("the template ends before a {{ … }} or {% … %} is closed")


def _unknown_tag(match: re.Match) -> str:
    block = _OPEN_BLOCK.search(match.string)
    if block:
        return _(
            "unknown tag “%(tag)s”: {%% end%(block)s %%} is expected first",
            tag=match["tag"],
            block=block["block"],
        )
    return _("unknown tag “%(tag)s”", tag=match["tag"])


# Each reason's pattern, and what to say instead, given the match.
_REASONS = [
    (
        re.compile(r"'(?:str|Markup) object' has no attribute '(?P<attribute>[^']+)'"),
        lambda m: _("a text has no “%(attribute)s”", attribute=m["attribute"]),
    ),
    (
        re.compile(r"\w+ object has no element (?P<index>\S+)"),
        lambda m: _(
            "there is no item %(index)s (an empty name has no first word): "
            "ask with {%% if %%} first",
            index=m["index"],
        ),
    ),
    (
        re.compile(r"ZeroDivisionError"),
        lambda m: _("division by zero"),
    ),
    (
        re.compile(r"a method prints no text"),
        lambda m: _("a method prints no text: call it, with its (), as in client.email.lower()"),
    ),
    (
        re.compile(r"only a text or a number can be printed"),
        lambda m: _("only a text or a number can be printed (of a list, one item: [0])"),
    ),
    (
        re.compile(r"'(?P<name>[^']+)' has no attribute '(?P<attribute>[^']+)'"),
        lambda m: _(
            "“%(name)s” has no field “%(attribute)s”"
            " (use client.email, client.full_name or client.comment)",
            name=m["name"],
            attribute=m["attribute"],
        ),
    ),
    (
        re.compile(r"'(?P<name>[^']+)' is undefined"),
        lambda m: _(
            "“%(name)s” is unknown: a message can use client and unsubscribe_url", name=m["name"]
        ),
    ),
    (re.compile(r"unexpected end of template", re.IGNORECASE), _end_of_template),
    (re.compile(r"Encountered unknown tag '(?P<tag>[^']+)'"), _unknown_tag),
    (
        re.compile(r"No filter named '(?P<name>[^']+)'"),
        lambda m: _("unknown filter “%(name)s”", name=m["name"]),
    ),
    (
        re.compile(r"(?P<what>.+) are not available in messages"),
        lambda m: _("a message cannot use %(what)s", what=_(m["what"])),
    ),
    (
        re.compile(r"the (?P<what>text|email|template) (?:would be|is) longer than (?P<n>\d+)"),
        lambda m: _too_long(m["what"], int(m["n"])),
    ),
    (
        re.compile(r"access to attribute '(?P<attribute>[^']+)' of '[^']+' object is unsafe"),
        lambda m: _("“%(attribute)s” cannot be used in a message", attribute=m["attribute"]),
    ),
    (
        re.compile(r"'client' alone is not a text"),
        lambda m: _(
            "“client” alone prints no text: use client.email, client.full_name or client.comment"
        ),
    ),
    (
        re.compile(r"only text can be repeated"),
        lambda m: _("only text can be repeated in a message"),
    ),
    (
        re.compile(r"% cannot format text here"),
        lambda m: _("text cannot be formatted with %; join texts with ~"),
    ),
    (
        re.compile(r"(?:unexpected '|expected token ')"),
        lambda m: _("syntax error (%(detail)s)", detail=m.string),
    ),
]


def _too_long(what: str, limit: int) -> str:
    if what == "template":
        return _("the template is longer than %(limit)d characters", limit=limit)
    if what == "email":
        return _("the email would be longer than %(limit)d characters", limit=limit)
    return _("a text in it would be longer than %(limit)d characters", limit=limit)


def localised(error: str) -> str:
    """`error` ("line 3: <reason>" or "<reason>") in the user's language."""
    match = _LINE_PREFIX.match(error)
    reason = match["reason"] if match else error
    for pattern, say in _REASONS:
        found = pattern.search(reason)
        if found:
            reason = say(found)
            break
    if match is None:
        return reason
    return _("line %(line)s: %(reason)s", line=match["line"], reason=reason)
