"""The journeys' checks can fail: they catch what they are meant to, and only that."""

from __future__ import annotations

from tests.e2e.ui import unlabelled_controls, untranslated


def test_english_strings_on_a_russian_page_are_found_with_any_placeholder_values():
    text = "Клиенты\nImported 3 clients.\nMailing #12 disabled.\nПоиск Search by email or name"
    found = untranslated(text, "ru")
    assert "Mailing #%(id)d disabled." in found
    assert "Search by email or name" in found
    assert any(msgid.startswith("Imported %(num)s client") for msgid in found)


def test_people_data_addresses_and_zones_on_a_russian_page_are_not_interface_text():
    text = (
        "Клиенты\nanna@example.com Анна Иванова\nЧасовой пояс Europe/Moscow\nMailer\nHTML"
        "\nnot-an-email\nПодстановки: {{ client.email }}"
    )
    assert untranslated(text, "ru") == []


def test_english_sentences_outside_the_catalogue_are_found_too():
    text = "ошибка: the library said something else entirely."
    assert untranslated(text, "ru") == [
        "(not in the catalogue) the library said something else entirely"
    ]


def test_label_check_names_each_unlabelled_control(page):
    page.set_content(
        """
        <label for="a">Email</label><input id="a">
        <input id="b" aria-label="Search">
        <span id="c-label">Comment</span><textarea aria-labelledby="c-label"></textarea>
        <label>Wrapped <input type="checkbox"></label>
        <input type="hidden" name="csrf_token">
        <input name="unlabelled">
        <select name="bare"><option>1</option></select>
        <button type="submit"></button>
        <label for="x"></label><input id="x" name="empty-label">
        """
    )
    missing = unlabelled_controls(page)
    assert len(missing) == 4
    assert all(
        name in " ".join(missing) for name in ('name="unlabelled"', 'name="bare"', "empty-label")
    )
