"""Templates in the database: seeded from notifier/templates, versioned on every save."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from notifier.rules.rendering import Syntax, TemplateError, TemplateFile, load_template_files, validate
from notifier.store.limits import SEED_LOCK_SPACE, take_turns
from notifier.store.models import Template


@dataclass(frozen=True)
class TemplateSource:
    kind: str
    channel_type: str
    subject: str | None
    body: str
    version: int
    agency_id: int | None
    syntax: str = Syntax.JINJA


# The author of the versions copied from the shipped files: not a person's edit.
SYSTEM = "system"


@dataclass(frozen=True)
class Seeded:
    added: int  # families the database lacked
    updated: int  # copies of a shipped file brought to the file's newer text


def seed_defaults(session: Session, now: datetime, files: Iterable[TemplateFile]) -> Seeded:
    """Store each shipped template `files` names whose (kind, channel type) the database does not have yet.

    Where the province's newest version of a family is still the copy of a shipped file (author `system`:
    nobody has saved over it) and the file's text has changed since, the file's text is stored as a new
    version: a corrected shipped text reaches a database seeded before it, as the bot texts do
    (notifier.store.bot_texts). A person's save, and every agency's own version, wins and is left alone."""
    take_turns(session, SEED_LOCK_SPACE, ["templates"])
    newest: dict[tuple[str, str], Template] = {}
    for row in session.scalars(
        select(Template).where(Template.agency_id.is_(None)).order_by(Template.version)
    ):
        newest[(row.kind, row.channel_type)] = row
    added = updated = 0
    for tf in files:
        stored = newest.get((tf.kind, tf.channel_type))
        if stored is not None and (
            stored.author != SYSTEM
            or (stored.subject, stored.body, stored.syntax) == (tf.subject, tf.body, tf.syntax)
        ):
            continue
        session.add(
            Template(
                kind=tf.kind,
                channel_type=tf.channel_type,
                agency_id=None,
                version=1 if stored is None else stored.version + 1,
                subject=tf.subject,
                body=tf.body,
                syntax=str(tf.syntax),
                author=SYSTEM,
                created_at=now,
            )
        )
        if stored is None:
            added += 1
        else:
            updated += 1
    session.flush()
    return Seeded(added, updated)


@dataclass(frozen=True)
class NewVersion:
    """The text of a template version to store, for one family (kind, channel type, agency or None for the
    province); the store gives it the next version number."""

    kind: str
    channel_type: str
    agency_id: int | None
    subject: str | None
    body: str
    syntax: str = Syntax.JINJA


def save(session: Session, text: NewVersion, author: str, now: datetime) -> Template:
    """Validate, then store as a new version; nothing is stored when invalid."""
    kind, channel_type, syntax = text.kind, text.channel_type, text.syntax
    errors = validate(text.body, field="body", kind=kind, channel_type=channel_type, syntax=syntax)
    if text.subject:
        errors += validate(text.subject, field="subject", kind=kind, channel_type=channel_type, syntax=syntax)
    if errors:
        raise errors[0]
    return store_version(session, text, author, now)


def store_version(session: Session, text: NewVersion, author: str, now: datetime) -> Template:
    """Append a version after the newest one; callers validate first."""
    latest = session.scalar(
        select(func.max(Template.version)).where(
            Template.kind == text.kind,
            Template.channel_type == text.channel_type,
            Template.agency_id.is_(None) if text.agency_id is None else Template.agency_id == text.agency_id,
        )
    )
    row = Template(
        kind=text.kind,
        channel_type=text.channel_type,
        agency_id=text.agency_id,
        version=(latest or 0) + 1,
        subject=text.subject,
        body=text.body,
        syntax=str(Syntax(text.syntax)),
        author=author,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


@functools.cache
def _shipped_files() -> dict[tuple[str, str], TemplateFile]:
    # The shipped files do not change while the process runs; read them once, not once per batch.
    return {(f.kind, f.channel_type): f for f in load_template_files()}


Q = TypeVar("Q", bound=Select)  # any select: of Template or of its columns


def _newest(query: Q) -> Q:
    """`query` (of Template or of its columns) kept to the newest version of every template family (kind,
    channel type, agency)."""
    # GROUP BY puts every NULL agency (the province defaults) in one group.
    newest = (
        select(
            Template.kind,
            Template.channel_type,
            Template.agency_id,
            func.max(Template.version).label("v"),
        )
        .group_by(Template.kind, Template.channel_type, Template.agency_id)
        .subquery()
    )
    return query.join(
        newest,
        (Template.kind == newest.c.kind)
        & (Template.channel_type == newest.c.channel_type)
        & (Template.version == newest.c.v)
        & Template.agency_id.is_not_distinct_from(newest.c.agency_id),
    )


def newest_versions(session: Session) -> list[Template]:
    """The newest version of every template family, in one query."""
    return list(session.scalars(_newest(select(Template))))


class TemplateCache:
    """The newest version of every template, read in one query per dispatch batch."""

    def __init__(self, session: Session) -> None:
        # Plain rows of the columns a render needs: ORM objects of every template, each batch, cost more.
        columns = (
            Template.kind,
            Template.channel_type,
            Template.subject,
            Template.body,
            Template.version,
            Template.agency_id,
            Template.syntax,
        )
        self._by_key = {
            (kind, channel_type, agency_id): TemplateSource(
                kind, channel_type, subject, body, version, agency_id, syntax
            )
            for kind, channel_type, subject, body, version, agency_id, syntax in session.execute(
                _newest(select(*columns))
            )
        }
        self._files = _shipped_files()

    def get(self, kind: str, channel_type: str, agency_id: int | None) -> TemplateSource:
        """An agency's own version wins over the province's; the shipped file is the last resort."""
        for key in ((kind, channel_type, agency_id), (kind, channel_type, None)):
            if key in self._by_key:
                return self._by_key[key]
        f = self._files.get((kind, channel_type))
        if f is None:
            raise TemplateError(
                f"no template for kind '{kind}' and channel type '{channel_type}'", field="template"
            )
        return TemplateSource(kind, channel_type, f.subject, f.body, 0, None, f.syntax)
