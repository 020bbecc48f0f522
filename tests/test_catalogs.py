"""The message catalogs (public page: ``web``, chatbot: ``chat``, words code puts into notifications:
``messages``) hold exactly the strings the code marks, each translated in Vietnamese and English."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.cli import catalogs
from notifier.rules import i18n


@pytest.mark.parametrize("domain", i18n.DOMAINS)
def test_catalogs_match_the_code_and_are_complete(domain: str) -> None:
    assert catalogs.problems(domain) == []


@pytest.mark.parametrize(
    ("asked", "served"),
    [(None, "vi"), ("", "vi"), ("en", "en"), ("EN-us", "en"), ("en_GB", "en"), ("vi-VN", "vi"), ("fr", "vi")],
)
def test_languages_fall_back_to_vietnamese(asked: str | None, served: str) -> None:
    assert i18n.normalise_language(asked) == served


def test_an_unknown_domain_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'sms'"):
        i18n.translations("vi", "sms")


@pytest.fixture
def probe_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project of one source file marking one string for the `web` domain, with no catalog yet."""
    source = tmp_path / "notifier" / "probe.py"
    source.parent.mkdir(parents=True)
    source.write_text('t(lang, "Tra cứu hồ sơ")\n', encoding="utf-8")
    locales = tmp_path / "notifier" / "locales"
    locales.mkdir()
    (locales / "web.cfg").write_text("[python: notifier/**.py]\n", encoding="utf-8")
    monkeypatch.setattr(catalogs, "ROOT", tmp_path)
    monkeypatch.setattr(catalogs, "LOCALES_DIR", locales)
    monkeypatch.setattr(i18n, "LOCALES_DIR", locales)
    return tmp_path


def test_a_missing_entry_is_reported(probe_tree: Path) -> None:
    # A marked string with no catalog entry: the check names it for both languages.
    assert catalogs.problems("web") == [
        "web/vi: no catalog for 1 strings",
        "web/en: no catalog for 1 strings",
    ]


def test_a_new_string_waits_untranslated_in_english(probe_tree: Path) -> None:
    # The update fills Vietnamese with the msgid; English must stay empty (and be reported) until translated.
    catalogs.update("web")
    vi, en = catalogs.load("vi", "web"), catalogs.load("en", "web")
    assert vi is not None and en is not None
    assert (vi["Tra cứu hồ sơ"].string, en["Tra cứu hồ sơ"].string) == ("Tra cứu hồ sơ", "")
    assert catalogs.problems("web") == ["web/en: untranslated 'Tra cứu hồ sơ'"]


def test_a_status_reads_the_same_in_every_catalog_that_holds_it() -> None:
    # The page, the chatbot and the notifications each mark the portal's status names in their own files;
    # a citizen who reads a status on the page and in a chat must read the same words.
    from notifier.rules.statuses import STATUS_NAMES

    for language in i18n.LANGUAGES:
        for name in STATUS_NAMES.values():
            held = {
                domain: i18n.gettext(language, domain, name)
                for domain in i18n.DOMAINS
                if catalogs.load(language, domain) is not None and catalogs.load(language, domain).get(name)
            }
            assert len(set(held.values())) <= 1, (language, name, held)
