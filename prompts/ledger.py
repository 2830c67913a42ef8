"""Personal audio on disk, bounded: which contacts hold each file, when it was last used, and
which files may go (a settled contact's, or the least recently used ones over the budget).

The cache is content-addressed (the same text is the same file), so a file is removed only when
no contact holds it and no shared prompt is that file. Files of contacts not yet claimed are not
held: a contact's audio is prepared (found or rendered again) at its claim, before its Originate.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Iterable

log = logging.getLogger(__name__)

DEFAULT_BUDGET_BYTES = 2 * 1024**3  # 2 GB of personal audio, then the least recently used go


class AudioLedger:
    """Kept on the event loop's thread only (not thread-safe)."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.budget = budget_bytes
        self.files: OrderedDict[str, int] = OrderedDict()  # path -> size, least recently used first
        self.users: dict[str, set[int]] = {}  # path -> contacts holding it (claimed, call not over)
        self.held: dict[int, list[str]] = {}  # contact -> its files
        self.shared: set[str] = set()  # shared prompts: never removed
        self.bytes = 0  # personal audio on disk, as far as this ledger knows
        self.removed = 0

    def protect(self, paths: Iterable[str]) -> None:
        """Shared prompts: never counted nor removed."""
        for path in paths:
            self.shared.add(path)
            self.bytes -= self.files.pop(path, 0)

    def hold(self, contact_id: int, files: Iterable[tuple[str, int]]) -> None:
        """A claimed contact's files (most recently used now); held until release()."""
        paths = []
        for path, size in files:
            paths.append(path)
            if path in self.shared:
                continue
            self.bytes += size - self.files.pop(path, 0)
            self.files[path] = size
            self.users.setdefault(path, set()).add(contact_id)
        self.held[contact_id] = paths

    def release(self, contact_id: int) -> list[str]:
        """The contact's call is over: its files are no longer held by it; which they were."""
        paths = self.held.pop(contact_id, [])
        for path in paths:
            users = self.users.get(path)
            if users is not None:
                users.discard(contact_id)
                if not users:
                    del self.users[path]
        return paths

    def remove(self, paths: Iterable[str]) -> int:
        """Remove these files unless held or shared; how many bytes went."""
        freed = 0
        for path in paths:
            if path in self.shared or path in self.users or path not in self.files:
                continue
            freed += self._unlink(path)
        return freed

    def evict(self) -> int:
        """Over the budget: remove the least recently used files no contact holds; bytes freed."""
        freed = 0
        for path in list(self.files):
            if self.bytes <= self.budget:
                break
            if path not in self.users:
                freed += self._unlink(path)
        return freed

    def _unlink(self, path: str) -> int:
        size = self.files.pop(path)
        self.bytes -= size
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove %s: %s", path, exc)
            return 0
        self.removed += 1
        return size
