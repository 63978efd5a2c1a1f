"""Message templates: rejected on save with the line and reason, rendered per client."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from jinja2.exceptions import SecurityError

from mailer.delivery.render import (
    ClientContext,
    compile_message,
    render_for_client,
    validate_message,
)
from mailer.delivery.sandbox import TEMPLATE_MAX


def _valid(**fields) -> dict[str, str]:
    message = {"subject": "Hello", "body_text": "Text", "body_html": ""}
    return validate_message(**{**message, **fields})


def test_message_using_client_fields_and_unsubscribe_url_is_valid():
    errors = _valid(
        subject="Hi {{ client.full_name }}",
        body_text="{{ client.email }} {{ client.comment }}\n{{ unsubscribe_url }}",
        body_html="<a href='{{ unsubscribe_url }}'>{{ client.full_name|upper }}</a>",
    )
    assert errors == {}


def test_unknown_client_attribute_names_line_and_attribute():
    errors = _valid(body_text="Dear {{ client.full_name }},\n\nCall {{ client.phone }}")
    assert errors == {"body_text": "line 3: 'client' has no attribute 'phone'"}


def test_unknown_name_is_reported_for_the_html_part():
    errors = _valid(body_html="<p>\n{{ coupon }}</p>")
    assert errors == {"body_html": "line 2: 'coupon' is undefined"}


def test_syntax_error_names_its_line():
    errors = _valid(subject="Hi {{ client.full_name")
    assert list(errors) == ["subject"]
    assert errors["subject"].startswith("line 1: ")


def test_unclosed_block_is_a_syntax_error():
    errors = _valid(body_text="one\n{% if client.full_name %}\nhi")
    assert errors["body_text"].startswith("line ")
    assert "endif" in errors["body_text"]


def test_error_at_render_time_is_reported_not_raised():
    errors = _valid(body_text="a\n{{ 1 / 0 }}")
    assert errors == {"body_text": "line 2: ZeroDivisionError: division by zero"}


def test_templates_cannot_reach_python_internals():
    errors = _valid(body_text="{{ client.__class__.__mro__ }}")
    assert "body_text" in errors
    rendered_errors = _valid(body_text="{{ ''.__class__ }}")
    assert "body_text" in rendered_errors


# A template is rendered for each client in workers every user shares: whatever could loop
# or grow a text without bound is refused on save, each with its reason.
UNBOUNDED = {
    "{% for i in range(3) %}\n{% for j in range(3) %}x{% endfor %}{% endfor %}": (
        "line 1: loops ({% for %}) are not available in messages"
    ),
    "Hi\n{% macro m() %}{{ m() }}{% endmacro %}": "line 2: macros are not available in messages",
    "{% set a = client.comment ~ client.comment %}{{ a }}": (
        "line 1: variables ({% set %}) are not available in messages"
    ),
    "{% block b %}{% endblock %}": "line 1: blocks are not available in messages",
    "{% include 'x' %}": "line 1: other templates are not available in messages",
    "{{ range(10)|length }}": "line 1: 'range' is undefined",
    "{{ lipsum(1000) }}": "line 1: 'lipsum' is undefined",
    "{{ 'ab' * 10001 }}": "line 1: the text would be longer than 20000 characters",
    "{{ client.comment * 11 }}": "line 1: the text would be longer than 20000 characters",
    "{{ 10 ** 5000 }}": "line 1: the number would be longer than 4096 bits",
    "{{ '%09999d' % 1 }}": "line 1: % cannot format text here; join texts with ~",
    # A list costs little to repeat, and as much as all its copies' text to print:
    "{{ [[client.comment] * 1000] * 1000 }}": "line 1: only text can be repeated in a message",
    "{{ client.comment.split() * 2 }}": "line 1: only text can be repeated in a message",
    # Bytes repeat and pad as text does:
    "{{ client.comment.encode() * 10 }}": (
        "line 1: access to attribute 'encode' of 'str' object is unsafe."
    ),
    "{{ 'x'|center(1000000000) }}": "line 1: No filter named 'center'.",
    # A method that builds what the template chooses, unprinted ("|length"), of any type:
    "{{ ('a' * 2000).translate({97: 'b' * 2000})|length }}": (
        "line 1: access to attribute 'translate' of 'str' object is unsafe."
    ),
    "{{ (1).to_bytes(10 ** 9, 'big')|length }}": (
        "line 1: access to attribute 'to_bytes' of 'int' object is unsafe."
    ),
    "{{ (client.comment * 5)|replace('', client.comment) }}": (
        "line 1: the text would be longer than 20000 characters"
    ),
    "x" * (TEMPLATE_MAX + 1): "the template is longer than 100000 characters",
    # Each operation within bounds, but as many as the template holds:
    "{{ 'x' * 20000 }}" * 51: "line 1: the email would be longer than 1000000 characters",
    # ... even when what they build is not printed:
    "{{ ('x' * 20000)|length }}" * 51: "line 1: the email would be longer than 1000000 characters",
}


@pytest.mark.parametrize("source", UNBOUNDED, ids=range(len(UNBOUNDED)))
def test_a_template_that_could_loop_or_grow_without_bound_is_refused_on_save(source):
    sample = "x" * 2000  # a comment as long as a client's may be
    errors = _valid(body_text=source.replace("client.comment", f"'{sample}'"))

    assert errors == {"body_text": UNBOUNDED[source]}


def test_the_client_alone_is_refused_on_save_not_printed_as_python():
    assert _valid(body_text="Hi {{ client }}") == {
        "body_text": "line 1: 'client' alone is not a text"
    }


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ client.email.upper }}", "a method prints no text: call it, with its ()"),
        ("{{ client.email.split() }}", "only a text or a number can be printed"),
        ("{{ self }}", "only a text or a number can be printed"),
        ("{{ client|string }}", "'client' alone is not a text"),
        ("Dear {{ 'x' ~ client }}", "'client' alone is not a text"),
    ],
)
def test_what_is_no_text_is_refused_on_save_not_printed_as_python(source, reason):
    """`client.email.upper` printed `<built-in method upper of str object at 0x7f3b…>`: an
    address in the worker's memory, in every client's email."""
    assert _valid(body_text=source) == {"body_text": f"line 1: {reason}"}


def test_a_str_method_that_pads_is_refused_on_save():
    errors = _valid(body_text="{{ client.full_name.center(1000000000) }}")
    assert "access to attribute 'center' of 'str' object is unsafe" in errors["body_text"]


def test_what_a_message_may_use_still_works():
    errors = _valid(
        subject="{{ client.full_name|replace('Sample', 'Dear')|upper }}{{ '!' * 3 }}",
        body_text="{% if client.comment %}{{ client.comment|truncate(5) }}{% else %}-{% endif %}"
        "{{ '=' * 40 }} {{ 2 ** 10 }} {{ client.full_name ~ ' <' ~ client.email ~ '>' }}"
        "{{ client.full_name.split()[0] }} {{ client.email.lower().endswith('.com') }}"
        "{{ client.full_name.title().strip() }} {{ none }}",
    )
    assert errors == {}


def test_a_branch_the_sample_client_skips_still_cannot_grow_without_bound():
    compiled = compile_message(
        subject="Hi",
        body_text="{% if client.email != 'client@example.com' %}{{ client.comment * 100 }}"
        "{% endif %}",
    )
    with pytest.raises(SecurityError, match="longer than 20000 characters"):
        compiled.render(
            client=ClientContext("ann@example.com", "Ann", "x" * 2000), unsubscribe_url="u"
        )


def test_a_message_saved_with_a_loop_before_loops_were_refused_fails_each_email_alike():
    compiled = compile_message(subject="Hi", body_text="{% for i in range(3) %}x{% endfor %}")
    with pytest.raises(SecurityError, match="loops"):
        compiled.render(client=ClientContext("ann@example.com"), unsubscribe_url="u")


def test_every_bad_field_is_reported_at_once():
    errors = validate_message(subject="{{ x }}", body_text="{{ y }}", body_html="{{ z }}")
    assert set(errors) == {"subject", "body_text", "body_html"}


def test_render_personalises_each_part():
    rendered = render_for_client(
        subject="Hi {{ client.full_name }}",
        body_text="Your address: {{ client.email }}\nLeave: {{ unsubscribe_url }}",
        body_html="<p>{{ client.full_name }}</p>",
        client=ClientContext(email="ann@example.com", full_name="Ann"),
        unsubscribe_url="https://m.example/u/abc",
    )
    assert rendered.subject == "Hi Ann"
    assert rendered.text == "Your address: ann@example.com\nLeave: https://m.example/u/abc"
    assert rendered.html == "<p>Ann</p>"


def test_html_part_is_escaped_and_text_part_is_not():
    rendered = render_for_client(
        subject="{{ client.full_name }}",
        body_text="{{ client.full_name }}",
        body_html="{{ client.full_name }} <a href='{{ unsubscribe_url }}'>x</a>",
        client=ClientContext(email="a@example.com", full_name="<b>Tom & Jerry</b>"),
        unsubscribe_url="https://m.example/u/a?x=1&y=2",
    )
    assert rendered.text == "<b>Tom & Jerry</b>"
    assert rendered.html.startswith("&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;")
    assert "x=1&amp;y=2" in rendered.html


def test_rendered_subject_cannot_inject_headers():
    rendered = render_for_client(
        subject="Hi {{ client.full_name }}",
        body_text="x",
        body_html="",
        client=ClientContext(email="a@example.com", full_name="Eve\r\nBcc: all@example.com"),
        unsubscribe_url="u",
    )
    assert rendered.subject == "Hi Eve Bcc: all@example.com"


def test_message_without_html_renders_no_html_part():
    rendered = render_for_client(
        subject="s",
        body_text="t",
        body_html="",
        client=ClientContext("a@example.com"),
        unsubscribe_url="u",
    )
    assert rendered.html == ""


def test_client_rows_render_through_their_fields():
    row = SimpleNamespace(email="row@example.com", full_name="Row", comment="vip", id=7)
    rendered = render_for_client(
        subject="{{ client.comment }}",
        body_text="{{ client.email }}",
        body_html="",
        client=row,
        unsubscribe_url="u",
    )
    assert rendered == ("vip", "row@example.com", "")


def test_compiled_message_renders_many_clients_independently():
    compiled = compile_message(subject="Hi {{ client.full_name }}", body_text="{{ client.email }}")
    first = compiled.render(client=ClientContext("a@example.com", "A"), unsubscribe_url="u1")
    second = compiled.render(client=ClientContext("b@example.com", "B"), unsubscribe_url="u2")
    assert (first.subject, first.text) == ("Hi A", "a@example.com")
    assert (second.subject, second.text) == ("Hi B", "b@example.com")


# Templates the sender fills in by joining strings, without running Jinja.
SPLICED = [
    "Hi {{ client.full_name }}",
    "{{client.email}}{{ client.comment }}{{unsubscribe_url}}",
    "Dear {{ client.full_name }},\r\n\r\nno trailing newline",
    "Keeps the last line break: {{ client.email }}\n",
    "Trims   {{- client.full_name -}}   around\n",
    "{# a comment #}Raw: {% raw %}{{ client.full_name }}{% endraw %} {{ client.email }}",
    "<a href='{{ unsubscribe_url }}'>{{ client.full_name }}</a> &amp; <b>static</b>",
    "Здравствуйте, {{ client.full_name }}! " * 50 + "\n",
]
# Anything more renders through Jinja, as before.
THROUGH_JINJA = [
    "{{ client.full_name|upper }}",
    "{% if client.comment %}{{ client.comment }}{% endif %}",
    "{{ client.full_name ~ '!' }}",
    "{{ client['email'] }}",
    "{{ (client.full_name or 'friend')|title }}",
]
CLIENTS = [
    ClientContext("ann@example.com", "Ann", "vip"),
    ClientContext("tom@example.com", "<b>Tom & Jerry</b>", "\"quoted\" 'single'"),
    ClientContext("иван@пример.рф", "Иван Петров", ""),
]
URL = "https://m.example/u/a?x=1&y=2"


@pytest.mark.parametrize("html", [False, True])
@pytest.mark.parametrize("source", SPLICED + THROUGH_JINJA)
def test_fast_rendering_equals_jinja(source, html):
    from mailer.delivery.render import _HTML_ENV, _TEXT_ENV, _Part

    part = _Part(source, html=html)
    assert (part._pieces is not None) is (source in SPLICED)
    template = (_HTML_ENV if html else _TEXT_ENV).from_string(source)
    for client in CLIENTS:
        expected = template.render(client=client, unsubscribe_url=URL)
        assert part.render((*client, URL)) == expected
