"""SIGTERM on a real `forgeml up` under traffic: /readyz turns 503 while the listener still serves,
a slow upload in flight completes, one stalled past the grace period gets a clean 503 and resumes
after a restart, the event stream is told to reconnect, and the process exits 0.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.server import Server, free_port, start

API = "/api/v1"
DRAIN_S, GRACE_S = 2, 4
PIECES, PIECE_GAP_S = 8, 0.5  # the slow upload: 4 s, past the drain, inside the grace


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGEML_")}
    env["FORGEML_CONFIG_DIR"] = str(tmp_path / "cli-config")
    env["FORGEML_SERVER__DRAIN_S"] = str(DRAIN_S)
    env["FORGEML_SERVER__GRACE_S"] = str(GRACE_S)
    env["FORGEML_EVENTS__POLL_S"] = "0.2"
    return env


def _tenant(srv: Server) -> dict[str, str]:
    admin = {"Authorization": f"Bearer {srv.info['token']}"}
    with httpx.Client(base_url=srv.url, headers=admin) as h:
        tenant = h.post(f"{API}/tenants", json={"name": "drain"}).json()
        body = {"email": "ann@drain.example.com", "role": "tenant-admin", "tenant_id": tenant["id"]}
        user = h.post(f"{API}/users", json=body).json()
        token = h.post(f"{API}/tokens", json={"name": "t", "user_id": user["id"]}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def _open_put(url: str, auth: str, size: int) -> socket.socket:
    parts = urlsplit(url)
    s = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80))
    head = (
        f"PUT {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: {auth}\r\n"
        f"Content-Length: {size}\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    s.sendall(head.encode())
    return s


def _response(s: socket.socket) -> bytes:
    s.settimeout(30)
    out = b""
    # A reset after the response was read is still a clean answer; no response fails the caller.
    with contextlib.suppress(OSError):
        while chunk := s.recv(65536):
            out += chunk
    return out


def _slow_upload(s: socket.socket, body: bytes, box: dict[str, Any]) -> None:
    step = len(body) // PIECES
    for i in range(PIECES):
        s.sendall(body[i * step : (i + 1) * step if i < PIECES - 1 else len(body)])
        time.sleep(PIECE_GAP_S)
    box["slow"] = _response(s)


def _sse(url: str, headers: dict[str, str], box: dict[str, Any]) -> None:
    text = ""
    with httpx.stream("GET", url, headers=headers, timeout=30) as resp:
        box["sse_status"] = resp.status_code
        for chunk in resp.iter_text():
            text += chunk
    box["sse"] = text  # set only once the server ended the stream


def _poll_readyz(url: str, stop: threading.Event, box: dict[str, Any]) -> None:
    seen: list[int] = []
    while not stop.is_set():
        try:
            seen.append(httpx.get(f"{url}/readyz", timeout=2).status_code)
        except httpx.HTTPError:
            seen.append(0)  # refused: the listener is closed
            if 503 in seen:
                break
        time.sleep(0.1)
    box["readyz"] = seen


@pytest.mark.timeout(180)
def test_sigterm_drains_then_finishes_in_flight_work_and_exits_0(tmp_path: Path) -> None:
    env, home, port = _env(tmp_path), tmp_path / "home", free_port()
    srv = start(home, port, env)
    try:
        h = _tenant(srv)
        ds = httpx.post(f"{srv.url}{API}/datasets", json={"name": "d"}, headers=h).json()
        slow, cut = os.urandom(96 * 1024), os.urandom(64 * 1024)
        files = [
            {"path": name, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
            for name, b in (("slow.bin", slow), ("cut.bin", cut))
        ]
        ups = f"{srv.url}{API}/datasets/{ds['id']}/uploads"
        uid = httpx.post(ups, json={"files": files}, headers=h).json()["version"]["id"]
        box: dict[str, Any] = {}
        sse = threading.Thread(target=_sse, args=(f"{srv.url}{API}/events/stream", h, box))
        sse.start()
        stalled = _open_put(f"{ups}/{uid}/files/cut.bin", h["Authorization"], len(cut))
        stalled.sendall(cut[: len(cut) // 2])  # then nothing more: it outlives the grace period
        moving = _open_put(f"{ups}/{uid}/files/slow.bin", h["Authorization"], len(slow))
        uploader = threading.Thread(target=_slow_upload, args=(moving, slow, box))
        uploader.start()
        time.sleep(PIECE_GAP_S)  # the slow upload is under way
        stop = threading.Event()
        poller = threading.Thread(target=_poll_readyz, args=(srv.url, stop, box))
        srv.proc.send_signal(signal.SIGTERM)
        poller.start()
        rc = srv.proc.wait(timeout=DRAIN_S + GRACE_S + 30)
        stop.set()
        for t in (poller, uploader, sse):
            t.join(30)
        cut_answer = _response(stalled)
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()
    assert rc == 0
    assert 503 in box["readyz"] and 200 not in box["readyz"][box["readyz"].index(503) :]
    assert box["slow"].startswith(b"HTTP/1.1 200"), box["slow"][:300]
    assert cut_answer.startswith(b"HTTP/1.1 503"), cut_answer[:300]
    assert b'"unavailable"' in cut_answer and b"retry-after: 1" in cut_answer.lower()
    assert box["sse_status"] == 200
    assert "retry: " in box["sse"] and ": server shutting down; reconnect" in box["sse"]

    srv = start(home, free_port(), env)  # the session survived: only the cut file is missing
    try:
        base = f"{srv.url}{API}/datasets/{ds['id']}/uploads/{uid}"
        state = {f["path"]: f["state"] for f in httpx.get(base, headers=h).json()["files"]}
        assert state["cut.bin"] == "pending" and state["slow.bin"] != "pending", state
        put = httpx.put(f"{base}/files/cut.bin", content=cut, headers=h)
        assert put.status_code == 200, put.text
        version = httpx.post(f"{base}/commit", headers=h).json()
        assert (version["file_count"], version["size_bytes"]) == (2, len(slow) + len(cut))
    finally:
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(timeout=DRAIN_S + GRACE_S + 30) == 0
