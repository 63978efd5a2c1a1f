"""The fast email builder: its bytes parse to the same email the `email` package would build."""

from __future__ import annotations

import re
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime

import pytest

from mailer.delivery.mime import (
    MessageBuilder,
    message_id_key,
    message_id_signer,
)
from mailer.delivery.render import ClientContext, Rendered, compile_message

SENDER = "News Desk <news@example.com>"
URL = "https://mailer.example/u/MTIz.signature"
MAILTO = "news@example.com?subject=unsubscribe%20MTIz.signature"
LONG_LINE = "word " * 300  # 1,500 characters on one line: over SMTP's 998
KEY = message_id_key("test-secret")

CASES = {
    "ascii": Rendered("News for Ann", "Dear Ann,\n\nNews.\n", "<p>Dear <b>Ann</b></p>"),
    "cyrillic": Rendered(
        "Новости для Анны Сергеевны Ивановой — выпуск за неделю",
        "Здравствуйте, Анна!\n\nНовости недели.\n",
        "<p>Здравствуйте, <b>Анна</b>!</p>",
    ),
    "long lines": Rendered("S" * 990, f"start\n{LONG_LINE}\nend", f"<p>{LONG_LINE}</p>"),
    "dots and crlf": Rendered("Dots", ".leading dot\r\n..two\r\n.\r\nend", ""),
    "text only": Rendered("Plain", "Only text, no HTML part.", ""),
}


def _build(rendered: Rendered, *, to: str = "ann@example.com", sender: str = SENDER) -> bytes:
    builder = MessageBuilder(sender=sender, run_id=42, has_html=bool(rendered.html), key=KEY)
    return builder.build(to=to, client_id=7, rendered=rendered, unsubscribe_url=URL, mailto=MAILTO)


def _message_id(*, run_id: int, client_id: int, key: bytes = KEY) -> str:
    builder = MessageBuilder(sender=SENDER, run_id=run_id, has_html=True, key=key)
    data = builder.build(
        to="a@example.com",
        client_id=client_id,
        rendered=CASES["ascii"],
        unsubscribe_url=URL,
        mailto=MAILTO,
    )
    return message_from_bytes(data, policy=default_policy)["Message-ID"]


def _slow(rendered: Rendered, *, to: str = "ann@example.com") -> EmailMessage:
    """The same email built the usual way, with the `email` package."""
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = to
    message["Subject"] = rendered.subject
    message["List-Unsubscribe"] = f"<{URL}>, <mailto:{MAILTO}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text)
    if rendered.html:
        message.add_alternative(rendered.html, subtype="html")
    return message_from_bytes(message.as_bytes(), policy=default_policy)


def _parts(message) -> list[tuple[str, str]]:
    """(content type, text) of each part, line ends as Python reads them."""
    leaves = message.iter_parts() if message.is_multipart() else [message]
    return [
        (part.get_content_type(), _lines(part.get_content()))
        for part in leaves
        if part.get_content_maintype() == "text"
    ]


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").removesuffix("\n")


@pytest.mark.parametrize("case", CASES)
def test_parsed_email_equals_what_the_email_package_builds(case):
    rendered = CASES[case]
    fast = message_from_bytes(_build(rendered), policy=default_policy)
    slow = _slow(rendered)
    for header in ("From", "To", "Subject", "List-Unsubscribe-Post"):
        assert fast[header] == slow[header], header
    assert fast["List-Unsubscribe"].replace("\n ", " ") == slow["List-Unsubscribe"]
    assert fast.get_content_type() == slow.get_content_type()
    assert _parts(fast) == _parts(slow)
    assert fast.defects == []
    assert all(part.defects == [] for part in fast.walk())


@pytest.mark.parametrize("case", CASES)
def test_every_line_is_crlf_terminated_and_within_smtp_limits(case):
    data = _build(CASES[case])
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    lines = data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    header_block = data.split(b"\r\n\r\n", 1)[0]
    assert header_block.isascii()
    for word in re.findall(rb"=\?utf-8\?b\?[^?]*\?=", header_block):
        assert len(word) <= 75  # RFC 2047's limit for one encoded word


def test_headers_carry_identity_date_and_one_recipient():
    data = _build(CASES["ascii"], to="bob@example.com")
    message = message_from_bytes(data, policy=default_policy)
    assert message["To"] == "bob@example.com"
    assert "Cc" not in message
    assert "Bcc" not in message
    assert message["MIME-Version"] == "1.0"
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert message["Message-ID"] == f"<{message_id_signer(KEY, 42)(7)}.42@example.com>"
    assert re.fullmatch(r"<[0-9a-f]{32}\.42@example\.com>", message["Message-ID"])


def test_each_delivery_has_its_own_message_id_signed_for_its_run_and_client():
    ann_in_run_1 = _message_id(run_id=1, client_id=2)
    assert _message_id(run_id=1, client_id=3) != ann_in_run_1  # another client, same run
    assert _message_id(run_id=2, client_id=2) != ann_in_run_1  # the same client, next run
    assert _message_id(run_id=2, client_id=1) != ann_in_run_1
    ids = {
        _message_id(run_id=run_id, client_id=client_id)
        for run_id in (1, 2, 12, 123)
        for client_id in (1, 2, 3, 23, 31)
    }
    assert len(ids) == 20  # "1.23" and "12.3" too: the run and the client are kept apart


def test_the_same_delivery_built_again_keeps_its_message_id():
    """A retry after a 4xx is the same email: built again, it has the same Message-ID."""
    first = _message_id(run_id=5, client_id=9)
    assert _message_id(run_id=5, client_id=9) == first
    assert first == f"<{message_id_signer(KEY, 5)(9)}.5@example.com>"
    sign = message_id_signer(KEY, 5)
    assert [sign(9), sign(9)] == [message_id_signer(KEY, 5)(9)] * 2  # a signer is reusable


def test_the_message_id_changes_with_the_secret_key():
    other = message_id_key("another-secret")
    assert other != KEY
    assert message_id_key("test-secret") == KEY == message_id_key(b"test-secret")
    assert _message_id(run_id=5, client_id=9, key=other) != _message_id(run_id=5, client_id=9)
    assert message_id_signer(other, 5)(9) != message_id_signer(KEY, 5)(9)


def test_cyrillic_sender_name_is_encoded():
    data = _build(CASES["cyrillic"], sender="Рассылка магазина <news@example.com>")
    assert data.split(b"\r\n\r\n", 1)[0].isascii()
    message = message_from_bytes(data, policy=default_policy)
    assert message["From"] == "Рассылка магазина <news@example.com>"


def _headers_with(**owner) -> tuple[bytes, EmailMessage]:
    builder = MessageBuilder(sender=SENDER, run_id=42, has_html=False, key=KEY, **owner)
    data = builder.build(
        to="ann@example.com",
        client_id=7,
        rendered=CASES["ascii"],
        unsubscribe_url=URL,
        mailto=MAILTO,
    )
    return data.split(b"\r\n\r\n", 1)[0], message_from_bytes(data, policy=default_policy)


def test_the_owners_sender_name_replaces_the_configured_one_and_replies_go_where_they_say():
    _, plain = _headers_with()
    assert (plain["From"], plain["Reply-To"]) == (SENDER, None)
    _, theirs = _headers_with(sender_name="Anna's Bakery, Moscow", reply_to="anna@bakery.example")
    assert theirs["From"] == '"Anna\'s Bakery, Moscow" <news@example.com>'
    assert theirs["From"].addresses[0].display_name == "Anna's Bakery, Moscow"
    assert theirs["Reply-To"] == "anna@bakery.example"


def test_a_long_cyrillic_sender_name_is_folded_with_crlf_and_a_typed_line_break_goes_nowhere():
    name = "Пекарня Анны на Тверской — свежий хлеб, пироги и новости каждую неделю"
    header_block, message = _headers_with(sender_name=name + "\r\nBcc: all@example.com")
    assert header_block.isascii()
    assert b"\n" not in header_block.replace(b"\r\n", b"")
    assert message["Bcc"] is None
    assert message.defects == []
    # Decoded as RFC 2047 says, ignoring the space between encoded words (Python's own
    # address parser keeps it, and so would show a space inside a word or two).
    raw = re.search(rb"^From: (.*?)\r\n(?! )", header_block + b"\r\n", re.S | re.M).group(1)
    words = decode_header(raw.decode().replace("\r\n ", " "))
    assert str(make_header(words)) == f"{name} Bcc: all@example.com <news@example.com>"


def test_personalised_message_built_from_templates_parses_back_to_its_parts():
    compiled = compile_message(
        subject="Новости для {{ client.full_name }}",
        body_text="Dear {{ client.full_name }}\n{{ unsubscribe_url }}\n" + LONG_LINE,
        body_html="<p>{{ client.full_name }} &amp; {{ client.email }}</p>",
    )
    client = ClientContext("ann@example.com", "Анна <A&B>")
    rendered = compiled.render(client=client, unsubscribe_url=URL)
    message = message_from_bytes(_build(rendered), policy=default_policy)
    assert message["Subject"] == "Новости для Анна <A&B>"
    text = message.get_body(("plain",)).get_content()
    assert text.startswith(f"Dear Анна <A&B>\n{URL}\n")
    html = message.get_body(("html",)).get_content()
    assert html.strip() == "<p>Анна &lt;A&amp;B&gt; &amp; ann@example.com</p>"
