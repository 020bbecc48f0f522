"""Catalog maintenance behind ``scripts/i18n``: extract, update, fill the Vietnamese catalog, compile.

Run as ``python -m notifier.cli.catalogs [--check]``. ``--check`` changes nothing and exits 1
naming every domain whose catalogs are out of step with the code or have an untranslated entry.
"""

from __future__ import annotations

import sys

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from notifier.rules.i18n import DOMAINS, LANGUAGES, LOCALES_DIR, catalog_path

ROOT = LOCALES_DIR.parent.parent


# babel's keyword spec: None means the first argument; a tuple names the argument positions (1-based).
KEYWORDS: dict[str, tuple[int, ...] | None] = {"_": None, "gettext": (3,), "ngettext": (3, 4), "t": (2,)}


def read_mapping(domain: str) -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    """The ``[method: pattern]`` sections of ``notifier/locales/<domain>.cfg`` (babel's mapping format)."""
    from babel.messages.frontend import parse_mapping_cfg

    path = LOCALES_DIR / f"{domain}.cfg"
    if not path.exists():
        return [], {}
    with path.open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle, filename=str(path))
    return list(method_map), dict(options_map)


def extract(domain: str) -> Catalog:
    """Every marked string of one domain, as found in the sources its mapping file lists."""
    method_map, options_map = read_mapping(domain)
    catalog = Catalog(domain=domain, charset="utf-8", project="notifier")
    if not method_map:
        return catalog
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def load(language: str, domain: str) -> Catalog | None:
    path = catalog_path(language, domain)
    if not path.exists():
        return None
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain=domain)


def problems(domain: str) -> list[str]:
    """What is wrong with one domain's catalogs: ids the code uses but a catalog lacks (or the reverse),
    empty or fuzzy translations."""
    found = {message.id for message in extract(domain) if message.id}
    wrong: list[str] = []
    for language in LANGUAGES:
        catalog = load(language, domain)
        if catalog is None:
            if found:
                wrong.append(f"{domain}/{language}: no catalog for {len(found)} strings")
            continue
        held = {message.id for message in catalog if message.id}
        for missing in sorted(found - held, key=str):
            wrong.append(f"{domain}/{language}: missing {missing!r}")
        for stale in sorted(held - found, key=str):
            wrong.append(f"{domain}/{language}: no longer in the code {stale!r}")
        for message in catalog:
            if not message.id:
                continue
            if message.fuzzy:
                wrong.append(f"{domain}/{language}: fuzzy {message.id!r}")
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if not all(strings):
                wrong.append(f"{domain}/{language}: untranslated {message.id!r}")
    return wrong


def update(domain: str) -> None:
    for language in LANGUAGES:
        # A fresh template per language: Catalog.update adds the template's own Message objects, so one
        # template shared by both would carry the vi fill-in (msgstr = msgid) into the en catalog, where an
        # untranslated string would then pass for translated.
        template = extract(domain)
        old = load(language, domain) or Catalog(locale=language, domain=domain, project="notifier")
        old.update(template, no_fuzzy_matching=True)
        old.obsolete.clear()
        if language == "vi":
            for message in old:
                if message.id and not message.string:
                    message.string = message.id
        path = catalog_path(language, domain)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(handle, old, width=100, omit_header=False, sort_output=True)
        with catalog_path(language, domain, ".mo").open("wb") as handle:
            write_mo(handle, old)


def main(argv: list[str]) -> int:
    if "--check" in argv:
        wrong = [line for domain in DOMAINS for line in problems(domain)]
        print("\n".join(wrong) or "catalogs complete")
        return 1 if wrong else 0
    for domain in DOMAINS:
        update(domain)
        print(f"{domain}: {len(extract(domain))} strings")
    return 0


if __name__ == "__main__":  # pragma: no cover - the command line
    sys.exit(main(sys.argv[1:]))

