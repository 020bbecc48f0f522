"""Find channel classes by name through the `notifier.channels` entry-point group, and build them.

A class is built through the `Channel` protocol's constructor, `cls(settings, clock, instance_name=NAME)`,
with `settings` validated by the class's own `settings_model`. What an entry point loads is checked
against the protocol first, so a plugin that does not fit is named with what it lacks.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from importlib.metadata import EntryPoint, entry_points
from typing import Any, cast

from pydantic import ValidationError

from notifier.channels.base import Channel, ChannelSettings
from notifier.rules.clock import Clock

GROUP = "notifier.channels"
# What the protocol asks of the class itself, before it is built (`channel_type` is set by the constructor).
CLASS_MEMBERS = ("name", "medium", "settings_model", "address_for", "send", "aclose")


class UnknownChannel(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            f"channel '{name}': no plugin of that name (installed: {', '.join(known) or 'none'})"
        )
        self.name = name


class ChannelConfigError(ValueError):
    pass


class NotAChannel(ChannelConfigError):
    """An entry point that does not load a class fitting the Channel protocol."""

    def __init__(self, plugin: str, target: str, problem: str) -> None:
        super().__init__(f"channel plugin '{plugin}' ({target}): {problem}")
        self.plugin = plugin


def available() -> dict[str, Any]:
    return dict(_entry_points(_import_path_state()))


def _import_path_state() -> tuple[object, ...]:
    """What decides which distributions are installed: the import path, each entry's modification time
    (installing or removing a distribution adds or removes a directory there) and the finders."""
    try:
        cwd: str | None = os.getcwd()  # "" on sys.path is the working directory
    except OSError:  # it was removed: importlib.metadata skips it too
        cwd = None
    state: list[object] = [cwd, *map(id, sys.meta_path)]
    for entry in sys.path:
        try:
            state.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            state.append((entry, None))
    return tuple(state)


@functools.lru_cache(maxsize=4)
def _entry_points(_state: tuple[object, ...]) -> dict[str, EntryPoint]:
    # importlib.metadata reads every installed distribution's metadata on each call (milliseconds, and a
    # channel is built per configured name per process, per test): read again only when the import path
    # or one of its directories changed, which is when importlib.metadata itself lists them again.
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load_class(plugin: str) -> type[Channel]:
    eps = available()
    if plugin not in eps:
        raise UnknownChannel(plugin, sorted(eps))
    target = eps[plugin].value
    loaded = eps[plugin].load()
    if not inspect.isclass(loaded):
        raise NotAChannel(plugin, target, f"not a class but {type(loaded).__name__}")
    found: Any = loaded  # checked member by member below
    missing = [m for m in CLASS_MEMBERS if m not in dir(found)]
    if missing:
        raise NotAChannel(plugin, target, f"lacks {', '.join(missing)} of the Channel protocol")
    if not (inspect.isclass(found.settings_model) and issubclass(found.settings_model, ChannelSettings)):
        raise NotAChannel(plugin, target, "settings_model is not a subclass of ChannelSettings")
    try:
        # The constructor is part of the protocol: it must take what `build` passes (the shape only).
        inspect.signature(found).bind(None, None, instance_name=plugin)
    except TypeError as exc:
        raise NotAChannel(
            plugin, target, f"constructor does not take (settings, clock, instance_name): {exc}"
        ) from exc
    return cast(type[Channel], found)


def build(name: str, table: dict[str, Any], clock: Clock) -> Channel:
    """Instantiate the channel configured under [channels.NAME]."""
    plugin = table.get("plugin") or name
    cls = load_class(plugin)
    try:
        settings = cls.settings_model.model_validate(table)
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise ChannelConfigError(f"[channels.{name}] {problems}") from exc
    channel = cls(settings, clock, instance_name=name)
    if not isinstance(channel, Channel):  # e.g. a constructor that never set channel_type
        target = f"{cls.__module__}:{cls.__qualname__}"
        raise NotAChannel(plugin, target, "what its constructor built does not satisfy the Channel protocol")
    return channel


def _problem(err: Any) -> str:
    """One of a channel table's errors: its field, the value and the reason (without pydantic's "Value
    error, " before our validators' own words); a check of the whole table, its reason alone."""
    message = str(err["msg"]).removeprefix("Value error, ")
    if not err["loc"]:
        return message
    return f"field {'.'.join(str(p) for p in err['loc'])}: value {err.get('input')!r}: {message}"


class Channels:
    """The channels a process has built, lazily, by configured name."""

    def __init__(self, tables: dict[str, dict[str, Any]], clock: Clock) -> None:
        self._tables = tables
        self._clock = clock
        self._built: dict[str, Channel] = {}

    def get(self, name: str) -> Channel:
        if name not in self._built:
            if name not in self._tables:
                raise UnknownChannel(name, sorted(self._tables))
            self._built[name] = build(name, self._tables[name], self._clock)
        return self._built[name]

    def configured(self, name: str) -> bool:
        return name in self._tables

    def enabled(self, name: str) -> bool:
        return bool(self._tables.get(name, {}).get("enabled", True))

    def put(self, name: str, channel: Channel) -> None:
        """Use an already built channel (a process embedding notifier, or a test's own plugin)."""
        self._built[name] = channel

    async def aclose(self) -> None:
        for channel in self._built.values():
            await channel.aclose()
        self._built.clear()
