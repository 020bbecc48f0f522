"""Find channel classes by name through the `notifier.channels` entry-point group."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from notifier.channels.base import Channel, ChannelSettings
from notifier.rules.clock import Clock

GROUP = "notifier.channels"


class UnknownChannel(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            f"channel '{name}': no plugin of that name (installed: {', '.join(known) or 'none'})"
        )
        self.name = name


class ChannelConfigError(ValueError):
    pass


def available() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load_class(plugin: str) -> type[Channel]:
    eps = available()
    if plugin not in eps:
        raise UnknownChannel(plugin, sorted(eps))
    cls = eps[plugin].load()
    return cls  # type: ignore[no-any-return]


def build(name: str, table: dict[str, Any], clock: Clock) -> Channel:
    """Instantiate the channel configured under [channels.NAME]."""
    plugin = table.get("plugin") or name
    cls = load_class(plugin)
    model: type[ChannelSettings] = getattr(cls, "settings_model", ChannelSettings)
    try:
        settings = model.model_validate(table)
    except ValidationError as exc:
        problems = "; ".join(
            f"field {'.'.join(str(p) for p in err['loc'])}: value {err.get('input')!r}: {err['msg']}"
            for err in exc.errors()
        )
        raise ChannelConfigError(f"[channels.{name}] {problems}") from exc
    return cls(settings, clock, instance_name=name)  # type: ignore[call-arg]


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

    def enabled(self, name: str) -> bool:
        return bool(self._tables.get(name, {}).get("enabled", True))

    def put(self, name: str, channel: Channel) -> None:
        """Use an already built channel (a process embedding notifier, or a test's own plugin)."""
        self._built[name] = channel

    async def aclose(self) -> None:
        for channel in self._built.values():
            await channel.aclose()
        self._built.clear()
