"""Servers the test session launches ahead of the tests that need them.

A vLLM server takes 30-40 s to boot on this machine, and a clean-clone ``make test`` starts
several of them (the default chat and embedding servers, the classification server, the private
keyed server of the reliability tests, the two pool replicas). Started by their fixtures, each
boot is waited for while nothing else runs. Here each one is *launched* (the process starts,
nobody waits) at a planned point of the session, and its fixture later *takes* it and waits
until it is healthy, so the boot overlaps the tests that run in between.

A group of servers is launched either when collection ends (``after`` None), or when the last
selected test of the group it follows has run (``after`` names it): that group's servers are
then stopped first, which keeps the session under four servers at once with the live tier order
of ``tests/conftest.py``. Nothing is launched for a group none of whose tests is selected. A
server that cannot start still fails each test that needs it: its fixture's wait raises.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class Launchable(Protocol):
    """What a group holds: a ``VLLMServer``, or another process a test needs booted early
    (``tests/live/server/conftest.py``)."""

    def launch(self) -> object: ...

    def stop(self) -> None: ...


@dataclass
class Group:
    """Servers launched together: ``make`` builds them (not yet launched)."""

    name: str
    where: tuple[str, ...]
    """Node id prefixes of the tests that use the group."""
    make: Callable[[], Sequence[Launchable]]
    after: str | None = None
    """Launch when that group is released (None: when collection ends)."""
    selected: bool = False
    last: str | None = None
    """Node id of the group's last selected test: the group is released after it."""
    servers: list[Launchable] = field(default_factory=list)


class Early:
    """The planned groups of the session (one instance: :data:`EARLY`)."""

    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}

    def plan(self, group: Group) -> None:
        """Register a group (a conftest does it when imported, i.e. when its folder is
        collected); re-planning a name keeps the first plan."""
        self.groups.setdefault(group.name, group)

    def collected(self, nodeids: Sequence[str]) -> None:
        """Mark the groups with selected tests and launch those due when collection ends."""
        for group in self.groups.values():
            mine = [n for n in nodeids if n.startswith(group.where)]
            group.selected, group.last = bool(mine), (mine[-1] if mine else None)
        for group in self.groups.values():
            if group.selected and (group.after is None or not self._selected(group.after)):
                self._launch(group)

    def take(self, name: str) -> list[Any]:
        """The servers of ``name``: the launched ones, or (nothing launched) new ones built by
        the group's ``make``. The caller launches them (a no-op for a launched server), waits
        for them and stops them; a release stops them too."""
        group = self.groups[name]
        if not group.servers:
            group.servers = list(group.make())
        return group.servers

    def finished(self, nodeid: str) -> None:
        """After a test: release the groups whose last test it was and that another group
        follows (stop their servers, then launch the followers). The others are left to their
        fixtures: a ``sampled`` test may yet be rerun, so a group released early must have none
        (the reliability tests never rerun; the classification tests are not sampled)."""
        for group in list(self.groups.values()):
            if group.last == nodeid and any(g.after == group.name for g in self.groups.values()):
                self.release(group.name)

    def release(self, name: str) -> None:
        """Stop the servers of ``name`` and launch the selected groups planned after it."""
        group = self.groups[name]
        group.last = None
        for server in group.servers:
            server.stop()
        for follower in self.groups.values():
            if follower.after == name and follower.selected:
                self._launch(follower)

    def stop_all(self) -> None:
        """Stop every server launched here (end of session; stopping twice is harmless)."""
        for group in self.groups.values():
            for server in group.servers:
                server.stop()

    def _selected(self, name: str) -> bool:
        group = self.groups.get(name)
        return group is not None and group.selected

    @staticmethod
    def _launch(group: Group) -> None:
        if group.servers:
            return
        try:
            group.servers = list(group.make())
            for server in group.servers:
                server.launch()
        except Exception:  # the fixture starts the server itself, and fails on it
            with contextlib.suppress(Exception):
                for server in group.servers:
                    server.stop()
            group.servers = []


EARLY = Early()
"""The session's planned groups."""
