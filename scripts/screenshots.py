"""Screenshots of mailer's main pages for the README: `make screenshots`.

Starts mailer on a throwaway SQLite database with the demo data (what
`flask seed-demo` loads), sends one demo mailing so its page shows the
progress of a finished send, and saves PNGs of the main pages in English and
Russian into docs/screenshots/, desktop width plus one phone-width page and
one dark-themed page each.
Debian's chromium drives the pages (never a downloaded browser). When
`pngquant` is installed the PNGs are shrunk with it.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from mailer import create_app, demo  # noqa: E402
from mailer.extensions import db  # noqa: E402

OUTPUT = ROOT / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
DESKTOP = {"width": 1200, "height": 800}
PHONE = {"width": 375, "height": 812}  # as the layout tests (tests/e2e/test_long_words.py)
MAX_HEIGHT = 1400  # a long list is cut here: the top of a page shows what it is
BROWSER_LOCALES = {"en": "en-US", "ru": "ru-RU"}
ZONE = "Europe/Moscow"
# The demo mailing whose page shows a finished send: weekly, with past runs.
SENT_MAILING = "Новости недели"


def main() -> None:
    if not Path(CHROMIUM).exists():
        raise SystemExit("needs Debian's chromium: apt-get install chromium")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        app = _demo_app(Path(folder))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        app.config["BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            saved = _shoot_all(app, app.config["BASE_URL"])
        finally:
            server.shutdown()
    _shrink(saved)
    for path in saved:
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size // 1024} KB")


def _demo_app(folder: Path):
    environ = {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATABASE_URL": f"sqlite:///{folder / 'demo.db'}",
        "DEFAULT_TIMEZONE": ZONE,
        "LOG_LEVEL": "WARNING",
        "ARTICLE_UPLOAD_DIR": str(folder / "articles"),
        "AVATAR_UPLOAD_DIR": str(folder / "avatars"),
    }
    overrides = {"SESSION_COOKIE_SECURE": False, "MAIL_OUTBOX": str(folder / "outbox")}
    app = create_app(overrides=overrides, environ=environ)
    with app.app_context():
        upgrade()
        demo.seed_demo()
        db.session.commit()
        _send_demo_mailing()
    return app


def _send_demo_mailing() -> None:
    """Send one demo mailing now, here, so its page shows a finished run."""
    from mailer.delivery import dispatch, sender
    from mailer.models import Mailing, Message

    mailing = db.session.scalars(
        db.select(Mailing).join(Mailing.message).where(Message.subject == SENT_MAILING)
    ).first()
    run_id = dispatch.start_forced_run(mailing.id)
    for batch in dispatch.run_batches(run_id):
        sender.send_batch(run_id, batch)


def _set_people(lang: str) -> None:
    """The demo people speak `lang` and live in Moscow (dates are shown in their zone)."""
    from mailer.models import User

    for user in db.session.scalars(db.select(User)):
        user.locale = lang
        user.timezone = ZONE
    db.session.commit()


def _mailing_path(app) -> str:
    from mailer.models import Mailing, Message

    with app.app_context():
        mailing_id = db.session.scalar(
            db.select(Mailing.id).join(Mailing.message).where(Message.subject == SENT_MAILING)
        )
    return f"/mailings/{mailing_id}"


def _shoot_all(app, base_url: str) -> list[Path]:
    mailing = _mailing_path(app)
    shots = [  # (name, who is logged in, path, viewport, colour theme)
        ("home", "user@example.com", "/", DESKTOP, "light"),
        ("mailings", "user@example.com", "/mailings/", DESKTOP, "light"),
        ("mailing", "user@example.com", mailing, DESKTOP, "light"),
        ("mailing-dark", "user@example.com", mailing, DESKTOP, "dark"),
        ("clients", "user@example.com", "/clients/", DESKTOP, "light"),
        ("blog", None, "/blog/", DESKTOP, "light"),
        ("users", "manager@example.com", "/manager/users", DESKTOP, "light"),
        ("mailing-phone", "user@example.com", mailing, PHONE, "light"),
    ]
    saved = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        for lang in BROWSER_LOCALES:
            with app.app_context():
                _set_people(lang)
            for name, person, path, viewport, theme in shots:
                target = OUTPUT / f"{lang}-{name}.png"
                _shoot(browser, base_url, lang, person, (path, viewport, theme), target)
                saved.append(target)
        browser.close()
    return saved


def _shoot(browser, base_url, lang, person, shot: tuple, target: Path) -> None:
    """`shot`: the page's path, the viewport and the system's colour theme."""
    path, viewport, theme = shot
    context = browser.new_context(
        base_url=base_url,
        locale=BROWSER_LOCALES[lang],
        viewport=viewport,
        timezone_id=ZONE,
        color_scheme=theme,
    )
    page = context.new_page()
    if person:
        page.goto("/auth/login")
        page.fill("#email", person)
        page.fill("#password", demo.DEMO_PASSWORD)
        page.locator("main form button[type=submit]").click()
        page.locator("nav .dropdown-toggle").first.wait_for(state="attached")
    page.goto(path)
    page.wait_for_load_state("networkidle")
    height = min(page.evaluate("document.documentElement.scrollHeight"), MAX_HEIGHT)
    clip = {"x": 0, "y": 0, "width": viewport["width"], "height": height}
    page.screenshot(path=str(target), full_page=True, clip=clip)
    context.close()


def _shrink(paths: list[Path]) -> None:
    """256 colours are plenty for an interface; pngquant cuts the files to a third."""
    pngquant = shutil.which("pngquant")
    if pngquant is None:
        print("pngquant is not installed: the PNGs are left as chromium saved them")
        return
    subprocess.run(  # noqa: S603 - a fixed program on our own files
        [pngquant, "--force", "--skip-if-larger", "--ext", ".png", "--quality", "70-95"]
        + [str(path) for path in paths],
        check=False,
    )


if __name__ == "__main__":
    main()
