"""SDK: the algorithm registry (`client.algorithms`): register folders or bundles, admin views,
tenant cards, hyperparameter checks, build logs and bundle downloads."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from forgeml.client.errors import ApiError, error_from
from forgeml.client.packing import file_digest, pack_folder
from forgeml.client.transport import Transport, tail

API = "/api/v1"
ADMIN = f"{API}/admin/algorithms"
CARDS = f"{API}/algorithms"
Json = dict[str, Any]
Progress = Callable[[int, int], None]  # (bytes done, bytes total)
DONE = frozenset({"ready", "failed"})
_CHUNK = 1 << 20


class Algorithms:
    def __init__(self, client: Transport) -> None:
        self.c = client

    # --- platform admins -----------------------------------------------------------------

    def register(
        self,
        path: Path | str,
        *,
        build: bool = False,
        wait: bool = False,
        timeout: float = 1800.0,
        progress: Progress | None = None,
        poll: Callable[[Json], None] | None = None,
        exist_ok: bool = False,
    ) -> Json:
        """Register a folder (packed first) or a `.tar.gz` bundle; with `wait`, return only once
        the queued environment build is ready or failed. With `exist_ok`, a bundle registered
        before returns that version (marked `already_registered`) instead of a conflict."""
        source = Path(path)
        packed = None
        if source.is_dir():
            packed, digest = pack_folder(source)
            source = packed
        else:
            digest = file_digest(source)
        try:
            version = self._upload(source, build, progress)
        except ApiError as exc:
            # the very same bundle again (a re-run script, a tour after the demo) is no clash
            same = self._by_digest(digest) if exc.code == "already_exists" and exist_ok else None
            if same is None:
                raise
            version = {**same, "already_registered": True}
        finally:
            if packed is not None:
                packed.unlink(missing_ok=True)
        if build and wait:
            version = self.wait(version["algorithm_id"], version["id"], timeout=timeout, poll=poll)
        return version

    def _by_digest(self, digest: str) -> Json | None:
        for alg in self.list():
            for v in alg["versions"]:
                if v["digest"] == digest:
                    return self.version(alg["id"], v["id"])
        return None

    def _upload(self, bundle: Path, build: bool, progress: Progress | None) -> Json:
        total = bundle.stat().st_size

        def chunks() -> Iterator[bytes]:
            done = 0
            with bundle.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    done += len(chunk)
                    if progress:
                        progress(done, total)
                    yield chunk

        return self.c.call(
            "POST",
            ADMIN,
            params={"build": str(build).lower()},
            content=chunks(),
            headers={"Content-Type": "application/gzip", "Content-Length": str(total)},
        )

    def wait(
        self,
        algorithm_id: str,
        version_id: str,
        *,
        timeout: float = 1800.0,
        interval: float = 1.0,
        poll: Callable[[Json], None] | None = None,
    ) -> Json:
        """Poll a version until its environment is ready or failed (TimeoutError otherwise)."""
        deadline = time.monotonic() + timeout
        while True:
            version = self.version(algorithm_id, version_id)
            if poll:
                poll(version)
            if version["status"] in DONE or version["status"] == "registered":
                return version
            if time.monotonic() > deadline:
                raise TimeoutError(f"{version['name']} {version['version']} still building")
            time.sleep(interval)

    def list(self, name: str | None = None) -> list[Json]:
        return list(self.c.pages(ADMIN, {"name": name}))

    def get(self, algorithm_id: str) -> Json:
        return self.c.call("GET", f"{ADMIN}/{algorithm_id}")

    def version(self, algorithm_id: str, version_id: str) -> Json:
        return self.c.call("GET", f"{ADMIN}/{algorithm_id}/versions/{version_id}")

    def _change(self, algorithm_id: str, version_id: str, verb: str) -> Json:
        return self.c.call("POST", f"{ADMIN}/{algorithm_id}/versions/{version_id}/{verb}")

    def deprecate(self, algorithm_id: str, version_id: str) -> Json:
        return self._change(algorithm_id, version_id, "deprecate")

    def undeprecate(self, algorithm_id: str, version_id: str) -> Json:
        return self._change(algorithm_id, version_id, "undeprecate")

    def rebuild(self, algorithm_id: str, version_id: str) -> Json:
        return self._change(algorithm_id, version_id, "rebuild")

    def build_log(self, algorithm_id: str, version_id: str) -> str:
        resp = self.c.request("GET", f"{ADMIN}/{algorithm_id}/versions/{version_id}/build-log")
        return resp.text

    def build_lines(
        self, algorithm_id: str, version_id: str, *, after: int = 0, follow: bool = False
    ) -> Iterator[Json]:
        """The latest build's kept lines (`id`, `at`, `phase`, `line`); with `follow`, keep
        polling until the build ended and every line came (a version never queued ends at once)."""
        url = f"{ADMIN}/{algorithm_id}/versions/{version_id}/build-log/lines"
        yield from tail(self.c, url, after=after, follow=follow)

    def build(self, algorithm_id: str, version_id: str) -> Json | None:
        """The latest build's phase, times and counters; None when it was never built."""
        url = f"{ADMIN}/{algorithm_id}/versions/{version_id}/build-log/lines"
        build: Json | None = self.c.json("GET", url, params={"limit": 1})["build"]
        return build

    def download_bundle(
        self, algorithm_id: str, version_id: str, dest: Path | str, progress: Progress | None = None
    ) -> Path:
        """Stream the bundle to `dest` (a file, or a folder to put `<name>-<version>.tar.gz` in)."""
        url = f"{ADMIN}/{algorithm_id}/versions/{version_id}/bundle"
        with self.c.http.stream("GET", url) as resp:
            if resp.status_code >= 400:
                resp.read()
                raise _api_error(resp)
            target = Path(dest)
            if target.is_dir():
                name = resp.headers.get("content-disposition", "").split("filename=")[-1]
                target = target / (name.strip('"') or f"{version_id}.tar.gz")
            total, done = int(resp.headers.get("content-length", 0)), 0
            with target.open("wb") as f:
                for chunk in resp.iter_bytes(_CHUNK):
                    f.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        return target

    # --- everyone: cards -----------------------------------------------------------------

    def cards(self, include_deprecated: bool = False) -> builtins.list[Json]:
        params = {"include_deprecated": "true"} if include_deprecated else {}
        return list(self.c.pages(CARDS, params))

    def card(self, algorithm_id: str, include_deprecated: bool = False) -> Json:
        params = {"include_deprecated": "true"} if include_deprecated else {}
        return self.c.call("GET", f"{CARDS}/{algorithm_id}", params=params)

    def validate_hyperparameters(
        self, algorithm_id: str, version_id: str, hyperparameters: dict[str, Any]
    ) -> dict[str, str]:
        url = f"{CARDS}/{algorithm_id}/versions/{version_id}/validate-hyperparameters"
        data: Json = self.c.json("POST", url, json={"hyperparameters": hyperparameters})
        return dict(data["hyperparameters"])


def _api_error(resp: Any) -> ApiError:
    err: ApiError = error_from(resp)
    return err
