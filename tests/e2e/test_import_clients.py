"""A user imports a Russian Excel CSV, previews it, confirms, and deletes a client (CSRF on)."""

from __future__ import annotations

from tests import factories


def _log_in(page, user) -> None:
    page.goto("/auth/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", factories.PASSWORD)
    page.locator("form button[type=submit], form input[type=submit]").last.click()


def test_import_preview_confirm_and_delete_with_confirmation(
    page, live_app, user, tmp_path, monkeypatch
):
    monkeypatch.setitem(live_app.config, "CLIENT_IMPORT_DIR", str(tmp_path / "imports"))
    _log_in(page, user)
    csv_file = tmp_path / "clients.csv"
    lines = ["E-mail;ФИО;Комментарий", "anna@example.com;Анна Иванова;с выставки", "not-an-email;;"]
    csv_file.write_bytes("\r\n".join(lines).encode("cp1251"))
    page.goto("/clients/")
    page.get_by_role("link", name="Import CSV").click()
    page.set_input_files("input[type=file]", str(csv_file))
    page.get_by_role("button", name="Upload and preview").click()
    assert page.locator("#encoding").inner_text() == "Windows-1251"
    assert page.get_by_text("Анна Иванова").is_visible()

    page.get_by_role("button", name="Import 1 row").click()
    assert page.locator("#imported").inner_text() == "Imported 1 client."
    assert page.get_by_text("not-an-email").is_visible()

    page.get_by_role("link", name="Go to clients").click()
    assert page.get_by_text("anna@example.com").is_visible()
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete", exact=True).click()
    assert page.get_by_text("anna@example.com").is_visible()  # dismissed: still there
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete", exact=True).click()
    assert page.get_by_text("Client deleted.").is_visible()
    assert page.get_by_text("No clients yet.").is_visible()
