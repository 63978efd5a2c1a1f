"""The interface's strings as `make messages` extracts them: Babel's API on the same babel.cfg."""

from __future__ import annotations

from functools import cache

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from mailer.i18n import TRANSLATIONS


@cache
def extracted_ids() -> frozenset[str]:
    """Every msgid of the code and templates (emails included), singular and plural."""
    with (TRANSLATIONS / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config, "babel.cfg")
    found = extract_from_dir(
        str(TRANSLATIONS.parent), method_map, options_map, keywords=DEFAULT_KEYWORDS
    )
    ids: set[str] = set()
    for _path, _line, message, _comments, _context in found:
        ids.update(message if isinstance(message, tuple) else (message,))
    return frozenset(ids - {""})
