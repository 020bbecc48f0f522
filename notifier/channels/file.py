"""The embedded default: one JSON object a line, so a fresh install shows its messages without credentials."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import ClassVar

from notifier.channels.addresses import any_address
from notifier.channels.base import BaseChannel, ChannelSettings, Message, Recipient


class FileSettings(ChannelSettings):
    path: str = "var/outbox.jsonl"
    template: str = "sms"
    fsync: bool = False


class FileChannel(BaseChannel):
    name: ClassVar[str] = "file"
    medium: ClassVar[str] = "file"
    settings_model: ClassVar[type[ChannelSettings]] = FileSettings

    def __init__(self, settings: FileSettings, clock, instance_name: str | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings, clock, instance_name)
        self.path = Path(settings.path)
        self._fsync = settings.fsync
        self._lock = threading.Lock()
        self._written: set[int] | None = None

    def address_for(self, recipient: Recipient) -> str | None:
        # Record the address a real SMS/e-mail/chat channel would have used; a recipient none of them could
        # reach (a landline only, no contact) is not "sent" to the file: routing records it unreachable.
        return any_address(recipient)

    def _ids_in_file(self) -> set[int]:
        # A row replayed after a crash must not be written twice: remember what the file already holds.
        ids: set[int] = set()
        if self.path.exists():
            with self.path.open(encoding="utf-8") as fh:
                for line in fh:
                    try:
                        ids.add(int(json.loads(line)["id"]))
                    except (ValueError, KeyError, TypeError):
                        continue
        return ids

    async def send(self, message: Message) -> str:
        with self._lock:
            # Another worker may have written this row before it died, so a retry reads the file again.
            if self._written is None or message.attempt > 1:
                self._written = self._ids_in_file()
            if message.notification_id not in self._written:
                record = {
                    "id": message.notification_id,
                    "kind": message.kind,
                    "audience": message.audience,
                    "channel": self.instance_name,
                    "recipient": message.address,
                    "dossier_code": message.dossier_code,
                    "subject": message.subject,
                    "text": message.text,
                    "sent_at": self.clock.now().isoformat(),
                }
                self.path.parent.mkdir(parents=True, exist_ok=True)
                line = json.dumps(record, ensure_ascii=False) + "\n"
                # O_APPEND keeps lines whole when several workers share the file.
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
                try:
                    os.write(fd, line.encode("utf-8"))
                    if self._fsync:
                        os.fsync(fd)
                finally:
                    os.close(fd)
                self._written.add(message.notification_id)
        return f"file:{message.notification_id}"
