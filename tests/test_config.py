"""Settings: the shipped config.toml, the embedded defaults, and what happens to settings nobody knows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from notifier.config import load_settings

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "config.toml"
EMPTY = Path(__file__).parent / "empty.toml"


@pytest.fixture(autouse=True)
def _no_notifier_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own NOTIFIER_* variables must not leak into what these tests load."""
    for name in list(os.environ):
        if name.upper().startswith("NOTIFIER_"):
            monkeypatch.delenv(name)


def test_shipped_config_holds_the_embedded_defaults() -> None:
    # config.toml says it lists "every setting, with the embedded defaults": running without it must not
    # change anything (the channel tables differ on purpose: the file adds comments and optional keys).
    shipped = load_settings(SHIPPED).model_dump(exclude={"channels"})
    embedded = load_settings(EMPTY).model_dump(exclude={"channels"})
    assert shipped == embedded
    assert embedded["database"]["url"] == "sqlite:///var/notifier.db"
