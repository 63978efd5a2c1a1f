"""What the journeys share: the interface's words in a language, checks on every page, the outbox.

`Interface` is one journey's view of the app in one language: `t()` gives a
string as that language shows it (so the same journey runs in English and
Russian), and `look(page)` checks each page the journey reaches: every
visible form control is labelled, and, in Russian, no English string of the
app's catalogue is on screen. The catalogue is extracted from the sources at
test time (as `make messages` does, plus the email templates), so it is never
stale.
"""

from __future__ import annotations

import email
import re
from email import policy
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask
from flask_babel import force_locale, gettext
from playwright.sync_api import Page, expect

from mailer.i18n import ngettext
from tests.catalogue import extracted_ids

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mailer"
TRANSLATIONS = PACKAGE / "translations"

# Words that read the same in both languages: proper names, formats, the language's own name.
# Milliseconds an import's report may take to show: its job runs (a worker, or the live
# app's job thread), then the import's page, checking every 2 s, reloads.
REPORT_WAIT = 15_000
SAME_IN_EVERY_LANGUAGE = {"Mailer", "HTML", "CSV", "Markdown", "English", "UTF-8"}
# What the visible text holds besides the interface: people's data, addresses, zone names.
_USER_DATA = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # email addresses
    r"|https?://\S+"  # links
    r"|\b[A-Z][A-Za-z_]+/[A-Za-z_/+-]+"  # IANA zone names: Europe/Moscow
    r"|\{\{.*?\}\}"  # placeholders shown as code: {{ client.email }}
)
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\{.*?\}\}")
_LETTERS = re.compile(r"[^\W\d_]")


# -- the catalogue ---------------------------------------------------------------------


@cache
def kept_as_is(lang: str) -> frozenset[str]:
    """The ids the translator deliberately left unchanged (msgstr == msgid) in `lang`'s .po."""
    po_file = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
    if not po_file.exists():
        return frozenset()
    from babel.messages.pofile import read_po

    with po_file.open("rb") as source:
        entries = read_po(source)
    return frozenset(
        entry.id
        for entry in entries
        if entry.id and isinstance(entry.id, str) and entry.string == entry.id
    )


@cache
def _patterns(lang: str) -> tuple[tuple[str, re.Pattern], ...]:
    """For each checked msgid, a pattern of the whole string, any value in its placeholders.

    Longest first, so a sentence is found (and blanked) before the words inside it.
    """
    skip = SAME_IN_EVERY_LANGUAGE | kept_as_is(lang)
    patterns = []
    for msgid in sorted(extracted_ids(), key=len, reverse=True):
        literal = _PLACEHOLDER.sub("", msgid)
        # Ids of one or two letters ("of") or none (a lone placeholder) say nothing alone.
        if msgid in skip or len(_LETTERS.findall(literal)) < 3:
            continue
        # A placeholder at either end needs no matching: the words around it identify the id.
        literals = _PLACEHOLDER.split(msgid.strip())
        while not literals[0].strip():
            literals.pop(0)
        while not literals[-1].strip():
            literals.pop()
        source = r".{1,80}?".join(_words(part.strip()) for part in literals)
        # Whole words only: "email" is not in "not-an-email".
        start = r"(?<![\w-])" if re.match(r"\w", literals[0].strip()) else ""
        end = r"(?![\w-])" if re.search(r"\w$", literals[-1].strip()) else ""
        patterns.append((msgid, re.compile(start + source + end)))
    return tuple(patterns)


def _words(text: str) -> str:
    """`text` as a pattern where any run of white space matches any other (lines wrap)."""
    return r"\s+".join(re.escape(word) for word in text.split(" "))


# Three or more English words in a row: a sentence the catalogue does not know
# (a library's error message, text written into a template without _()).
_ENGLISH_PHRASE = re.compile(r"(?<![\w-])[A-Za-z][a-z']+(?:[ ]+[A-Za-z][a-z']*){2,}(?![\w-])")


def untranslated(text: str, lang: str) -> list[str]:
    """The catalogue's English strings in `text` (shown in `lang`), then other English phrases."""
    text = _USER_DATA.sub(" ", text)
    found = []
    for msgid, pattern in _patterns(lang):
        text, count = pattern.subn(" \u2022 ", text)
        if count:
            found.append(msgid)
    found += [f"(not in the catalogue) {phrase}" for phrase in _ENGLISH_PHRASE.findall(text)]
    return found


def compiled_translation_is_stale(lang: str) -> bool:
    po_file = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
    mo_file = po_file.with_suffix(".mo")
    return po_file.exists() and (
        not mo_file.exists() or mo_file.stat().st_mtime < po_file.stat().st_mtime
    )


# -- what a page shows -------------------------------------------------------------------

# The text a person sees or hears: the body's visible text, plus placeholders, the
# labels screen readers read, the values of submit inputs and the confirmation questions.
_SHOWN_TEXT = """() => {
  const shown = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const parts = [document.body.innerText];
  const described = "[placeholder], [aria-label], [title], input[type=submit]";
  for (const el of document.querySelectorAll(described)) {
    if (!shown(el)) continue;
    for (const name of ["placeholder", "aria-label", "title"]) parts.push(el.getAttribute(name));
    if (el.matches("input[type=submit]")) parts.push(el.value);
  }
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    parts.push(form.dataset.confirm);
  }
  return parts.filter(Boolean).join("\\n");
}"""

# Visible form controls without an accessible name: no label[for], wrapping label,
# aria-label or aria-labelledby with text; buttons without text or aria-label.
_UNLABELLED = """() => {
  const shown = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length)
    && getComputedStyle(el).visibility !== "hidden";
  const has = (text) => !!(text && text.trim());
  const missing = [];
  for (const el of document.querySelectorAll("input, select, textarea, button")) {
    const type = (el.getAttribute("type") || "").toLowerCase();
    if (el.tagName === "INPUT" && ["hidden", "image"].includes(type)) continue;
    if (!shown(el)) continue;
    const names = [el.getAttribute("aria-label")];
    for (const id of (el.getAttribute("aria-labelledby") || "").split(/\\s+/).filter(Boolean)) {
      const ref = document.getElementById(id);
      if (ref) names.push(ref.textContent);
    }
    const pressed = el.tagName === "INPUT" && ["submit", "button", "reset"].includes(type);
    if (el.tagName === "BUTTON") names.push(el.textContent);
    else if (pressed) names.push(el.value);
    else {
      if (el.id) {
        for (const label of document.querySelectorAll(`label[for="${CSS.escape(el.id)}"]`)) {
          names.push(label.textContent);
        }
      }
      const wrapping = el.closest("label");
      if (wrapping) names.push(wrapping.textContent);
    }
    if (!names.some(has)) missing.push(el.outerHTML.slice(0, 160));
  }
  return missing;
}"""


def shown_text(page: Page) -> str:
    return page.evaluate(_SHOWN_TEXT)


def unlabelled_controls(page: Page) -> list[str]:
    return page.evaluate(_UNLABELLED)


# -- one journey in one language ------------------------------------------------------------


class Interface:
    """The app as one journey sees it in `lang`: its words, and checks on each page."""

    def __init__(self, app: Flask, lang: str):
        self.app = app
        self.lang = lang
        self.findings: dict[str, list[str]] = {}

    def t(self, msgid: str, **variables) -> str:
        """`msgid` as the interface shows it in this journey's language."""
        with self.app.test_request_context(), force_locale(self.lang):
            return gettext(msgid, **variables)

    def tn(self, singular: str, plural: str, num: int, **variables) -> str:
        with self.app.test_request_context(), force_locale(self.lang):
            return ngettext(singular, plural, num, **variables)

    def admin_t(self, msgid: str) -> str:
        """A string of Flask-Admin's own (its "admin" domain), as this language shows it."""
        from flask_admin.babel import gettext as admin_gettext

        with self.app.test_request_context(), force_locale(self.lang):
            return admin_gettext(msgid)

    def look(self, page: Page, *, labels: bool = True) -> None:
        """Check the page on screen: labelled controls now; untranslated text, collected."""
        page.wait_for_load_state()
        if labels:
            missing = unlabelled_controls(page)
            assert not missing, f"unlabelled controls on {page.url}:\n" + "\n".join(missing)
        if self.lang != "en":
            self.read(shown_text(page), urlsplit(page.url).path)

    def read(self, text: str, where: str) -> None:
        """Collect the English strings in `text` (a page, an email) shown in another language."""
        if self.lang == "en":
            return
        found = untranslated(text, self.lang)
        if found:
            self.findings.setdefault(where, []).extend(found)

    def assert_translated(self) -> None:
        """Fail, listing each page's English strings, if any page looked at had some."""
        if not self.findings:
            return
        lines = [f"untranslated text in {self.lang}:"]
        for path, found in self.findings.items():
            lines.append(f"  {path}")
            lines.extend(f"    {msgid!r}" for msgid in dict.fromkeys(found))
        if compiled_translation_is_stale(self.lang):
            lines.append(f"  (messages.mo of {self.lang} is older than its .po: run make run/test)")
        raise AssertionError("\n".join(lines))


# -- people and keyboards --------------------------------------------------------------------


def log_in(page: Page, ui: Interface, email_address: str, password: str) -> None:
    page.goto("/auth/login")
    page.get_by_label(ui.t("Email")).fill(email_address)
    page.get_by_label(ui.t("Password")).fill(password)
    page.locator("main form").get_by_role("button", name=ui.t("Log in")).click()
    expect(page.locator("nav .dropdown-toggle").first).to_be_visible()
    # The menus open once Bootstrap's script has run: a click before it only followed
    # the toggle's "#" (seen in CI, on a loaded machine).
    page.wait_for_load_state()


def tab_to(page: Page, selector: str, *, limit: int = 60) -> None:
    """Press Tab until the element matching `selector` has the focus, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => !!document.activeElement?.matches(s)", selector):
            return
    raise AssertionError(f"{limit} presses of Tab never reached {selector} on {page.url}")


def tab_and_type(page: Page, selector: str, text: str) -> None:
    """The next Tab lands on `selector` (a sensible order), then type `text` into it."""
    page.keyboard.press("Tab")
    expect(page.locator(selector)).to_be_focused()
    page.keyboard.type(text)


# -- the outbox --------------------------------------------------------------------------------


def outbox(folder: str | Path) -> list[EmailMessage]:
    """The emails written to the outbox so far, oldest first."""
    paths = sorted(Path(folder).glob("*.eml"), key=lambda path: path.stat().st_mtime_ns)
    return [email.message_from_bytes(path.read_bytes(), policy=policy.default) for path in paths]


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
