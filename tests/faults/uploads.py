"""Dataset uploads cut by a fault: a streamed PUT that pauses half-way (so the fault lands inside
it), and the checks after: nothing partial visible, the session resumable, the commit whole."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.faults.platform import new_upload
from tests.faults.stack import Api
from tests.support.threads import CheckedThread

CHUNK = 1024 * 1024


@dataclass
class CutUpload:
    """A PUT of `data` in a thread that stops after `pause_at` bytes until `release()`."""

    api: Api
    path: str
    data: bytes
    pause_at: int
    paused: threading.Event = field(default_factory=threading.Event)
    _go: threading.Event = field(default_factory=threading.Event)
    result: Any = None  # the response, or the transport error that cut it

    def _body(self) -> Iterator[bytes]:
        for start in range(0, len(self.data), CHUNK):
            if start >= self.pause_at and not self.paused.is_set():
                self.paused.set()
                self._go.wait(60)
            yield self.data[start : start + CHUNK]

    def _run(self) -> None:
        try:
            self.result = self.api.put(
                self.path, content=self._body(), headers={"Content-Length": str(len(self.data))}
            )
        except httpx.TransportError as exc:
            self.result = exc

    def start(self) -> CutUpload:
        self._thread = CheckedThread(target=self._run, daemon=True)
        self._thread.start()
        assert self.paused.wait(60), "the upload never reached its pause"
        return self

    def release(self) -> Any:
        self._go.set()
        self._thread.join(90)  # raises what the upload raised beyond a transport error
        return self.result


@dataclass
class Session:
    api: Api
    dataset: str
    upload: str
    files: dict[str, bytes]

    @property
    def base(self) -> str:
        return f"/api/v1/datasets/{self.dataset}/uploads/{self.upload}"

    def cut(self, name: str) -> CutUpload:
        data = self.files[name]
        return CutUpload(self.api, f"{self.base}/files/{name}", data, len(data) // 2).start()

    def put(self, name: str) -> httpx.Response:
        return self.api.put(f"{self.base}/files/{name}", content=self.files[name])

    def states(self) -> dict[str, str]:
        return {f["path"]: f["state"] for f in self.api.ok("GET", self.base)["files"]}

    def committed_versions(self) -> list[dict[str, Any]]:
        page = self.api.ok("GET", f"/api/v1/datasets/{self.dataset}/versions")
        return [v for v in page["items"] if v["status"] == "committed"]

    def commit(self) -> httpx.Response:
        return self.api.post(f"{self.base}/commit")

    def downloaded_sha256(self, number: int, name: str) -> str:
        url = f"/api/v1/datasets/{self.dataset}/versions/{number}/files/{name}"
        resp = self.api.get(url, follow_redirects=True)
        assert resp.status_code == 200, resp.text
        return hashlib.sha256(resp.content).hexdigest()


def new_session(api: Api, sizes: dict[str, int]) -> Session:
    files = {name: os.urandom(size) for name, size in sizes.items()}
    dataset, upload = new_upload(api, files)
    return Session(api, dataset, upload, files)


def partial_visible(session: Session, cut: str) -> int:
    """How many partial things a client can see after `cut` was interrupted: the file marked
    uploaded, a committed version, or a commit that is accepted with the file missing."""
    seen = int(session.states()[cut] != "pending") + len(session.committed_versions())
    early = session.commit()
    seen += int(early.status_code in (200, 201))
    return seen


def resume_and_commit(session: Session, cut: str) -> tuple[int, bool]:
    """Upload the cut file again, commit; (version number, every file's bytes came back whole)."""
    resp = session.put(cut)
    assert resp.status_code in (200, 201), resp.text
    resp = session.commit()
    assert resp.status_code in (200, 201), resp.text
    number = int(resp.json()["number"])
    whole = all(
        session.downloaded_sha256(number, name) == hashlib.sha256(data).hexdigest()
        for name, data in session.files.items()
    )
    return number, whole
