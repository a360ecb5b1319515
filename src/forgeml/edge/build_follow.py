"""Following an environment build over SSE (the admin API and the portal's build log page):
which blocks each poll of the build log yields; each transport renders the objects its way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from forgeml.domain.build_progress import BuildLine, BuildLogPage, BuildProgress
from forgeml.edge.sse import Batch, event


class BuildFollower:
    """The follower's cursor and the last progress it sent; a new attempt starts from its first
    line (line ids of a dropped build may be reused)."""

    def __init__(
        self,
        after: int,
        show_build: Callable[[BuildProgress], Any],
        show_line: Callable[[BuildLine], Any],
    ) -> None:
        self.pos = after
        self.last: BuildProgress | None = None
        self.show_build = show_build
        self.show_line = show_line

    def poll(self, page: Callable[[int], BuildLogPage]) -> Batch:
        got = page(self.pos)
        chunks: list[str] = []
        if got.progress != self.last:
            old, new = self.last, got.progress
            if old is not None and new is not None and new.attempt != old.attempt:
                self.pos = 0
                got = page(0)
            self.last = got.progress
            if got.progress is not None:
                chunks.append(event("build", self.show_build(got.progress)))
        for line in got.lines:
            chunks.append(event("log", self.show_line(line), line.id))
            self.pos = line.id
        if got.finished:
            chunks.append(event("end", {}))
        return Batch(chunks, done=got.finished, more=bool(got.lines) and not got.finished)
