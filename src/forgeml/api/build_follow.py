"""Following an environment build over SSE: which blocks each poll of the build log yields."""

from __future__ import annotations

from collections.abc import Callable

from forgeml.api.algorithm_schemas import BuildLineOut, BuildProgressOut
from forgeml.domain.build_progress import BuildLogPage, BuildProgress
from forgeml.edge.sse import Batch, event


class BuildFollower:
    """The follower's cursor and the last progress it sent; a new attempt starts from its first
    line (line ids of a dropped build may be reused)."""

    def __init__(self, after: int) -> None:
        self.pos = after
        self.last: BuildProgress | None = None

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
                shown = BuildProgressOut.model_validate(got.progress).model_dump(mode="json")
                chunks.append(event("build", shown))
        for line in got.lines:
            shown_line = BuildLineOut.model_validate(line).model_dump(mode="json")
            chunks.append(event("log", shown_line, line.id))
            self.pos = line.id
        if got.finished:
            chunks.append(event("end", {}))
        return Batch(chunks, done=got.finished, more=bool(got.lines) and not got.finished)
