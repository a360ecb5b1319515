"""Upload/download bench: the same bytes through a real `forgeml up` (file store; and S3 on a real
SeaweedFS), a bare ASGI app on the same uvicorn settings (bench/support/bare.py: writes the body
to disk as it arrives, fsyncs; downloads with FileResponse), a local copy + fsync, and boto3
straight to SeaweedFS. Same client library (httpx) for both HTTP paths, every repetition runs
every path (order rotating), ratios per repetition with their spread, CPU s/GiB, load average.
A ForgeML upload is session, PUT, commit into an existing dataset; the PUT is also timed alone.

    .venv/bin/python bench/upload.py [--size-mib 64] [--reps 5] [--stores file,s3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support.report import load, spread, spread_text, table
from bench.support.servers import bare_app, clean_env, forgeml_up
from tests.support.seaweedfs import start_seaweedfs

from forgeml.client import Client
from forgeml.client.datasets import LocalFile, sha256_file

MB = 1_000_000
CHUNK = 1 << 20
GIB = 1 << 30
GOAL = 0.8


def cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system) of this process (the client), or of process `pid`."""
    if pid is None:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(size: int, fn: Callable[[], Any], pid: int | None) -> dict[str, float]:
    c0, s0 = cpu_s(), cpu_s(pid) if pid else 0.0
    t = time.perf_counter()
    fn()
    dt = time.perf_counter() - t
    c1, s1 = cpu_s(), cpu_s(pid) if pid else 0.0
    return {
        "mbps": size / MB / dt,
        "srv_cpu": (s1 - s0) * GIB / size,
        "cli_cpu": (c1 - c0) * GIB / size,
    }


def make_source(path: Path, size: int) -> None:
    with path.open("wb") as f:
        for off in range(0, size, CHUNK):
            f.write(os.urandom(min(CHUNK, size - off)))


def copy_fsync(src: Path, dst: Path) -> None:
    with src.open("rb") as i, dst.open("wb") as o:
        while chunk := i.read(CHUNK):
            o.write(chunk)
        o.flush()
        os.fsync(o.fileno())


def stream_to(http: httpx.Client, url: str, out: Path) -> None:
    with http.stream("GET", url, timeout=600) as r, out.open("wb") as o:
        r.raise_for_status()
        for chunk in r.iter_raw():
            o.write(chunk)
        o.flush()
        os.fsync(o.fileno())


def file_body(src: Path) -> Iterator[bytes]:
    with src.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


class ApiPath:
    """Upload = open session, streamed PUT, commit (the dataset exists already: creating one is
    no part of an upload); download = GET the file. The PUT alone is timed too (`put_s`)."""

    def __init__(self, url: str, token: str, pid: int, src: Path, size: int) -> None:
        self.c = Client(url, token, timeout=600)
        self.pid, self.src, self.size = pid, src, size
        self.f = LocalFile("bench/blob.bin", src, size, sha256_file(src))  # not timed
        self.ds = self._dataset()
        self.put_s = 0.0

    def _dataset(self) -> str:
        return str(self.c.datasets.create(f"bench-{time.time_ns()}", kind="platform")["id"])

    def up(self) -> None:
        s = self.c.datasets.open_upload(self.ds, [self.f.decl()])
        t = time.perf_counter()
        self.c.datasets.put_file(self.ds, s["version"]["id"], self.f)
        self.put_s = time.perf_counter() - t
        self.c.datasets.commit(self.ds, s["version"]["id"])

    def down(self, out: Path) -> None:
        stream_to(self.c.http, f"/api/v1/datasets/{self.ds}/versions/1/files/bench/blob.bin", out)

    def cleanup(self, out: Path) -> None:
        """Check the bytes that came back, then a fresh dataset for the next round (untimed)."""
        assert sha256_file(out) == self.f.sha256
        self.c.datasets.delete(self.ds)
        self.ds = self._dataset()


def paths(stack: ExitStack, work: Path, src: Path, size: int, stores: list[str]) -> dict[str, Any]:
    """name -> (up, down, cleanup, server pid, ApiPath or None) for every path of this run."""
    out: dict[str, Any] = {}
    direct = work / "direct.bin"
    copy_down = partial(copy_fsync, direct)
    out["copy"] = (partial(copy_fsync, src, direct), copy_down, None, None, None)
    (work / "bare").mkdir()
    bare_url, bare_pid = stack.enter_context(bare_app(work / "bare"))
    http = stack.enter_context(httpx.Client(base_url=bare_url, timeout=600))

    def bare_up() -> None:
        headers = {"content-length": str(size)}
        http.put("/bare/upload/blob", content=file_body(src), headers=headers).raise_for_status()

    bare_down = partial(stream_to, http, "/bare/download/blob")
    out["bare"] = (bare_up, bare_down, None, bare_pid, None)
    if "file" in stores:
        url, token, pid = stack.enter_context(forgeml_up(work / "home-file"))
        api = ApiPath(url, token, pid, src, size)
        out["api"] = (api.up, api.down, api.cleanup, pid, api)
    if "s3" in stores:
        out.update(s3_paths(stack, work, src, size))
    return out


def s3_paths(stack: ExitStack, work: Path, src: Path, size: int) -> dict[str, Any]:
    from boto3.s3.transfer import TransferConfig

    (work / "seaweed").mkdir()
    sw = start_seaweedfs(work / "seaweed")
    stack.callback(sw.stop)
    client, bucket = sw.client(), sw.create_bucket()
    cfg = TransferConfig(multipart_chunksize=16 * CHUNK, max_concurrency=4)  # as storage/s3.py
    env = {
        **clean_env(),
        "FORGEML_STORAGE_URL": f"s3://{sw.create_bucket()}/lake",
        "FORGEML_S3__ENDPOINT_URL": sw.endpoint_url,
        "FORGEML_S3__ACCESS_KEY_ID": sw.access_key,
        "FORGEML_S3__SECRET_ACCESS_KEY": sw.secret_key,
    }
    url, token, pid = stack.enter_context(forgeml_up(work / "home-s3", env))
    api = ApiPath(url, token, pid, src, size)
    return {
        "boto3": (
            lambda: client.upload_file(str(src), bucket, "blob", Config=cfg),
            lambda o: client.download_file(bucket, "blob", str(o), Config=cfg),
            None,
            None,
            None,
        ),
        "api-s3": (api.up, api.down, api.cleanup, pid, api),
    }


def run(size: int, reps: int, stores: list[str]) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="forgeml-bench-up-", dir=os.environ.get("BENCH_DIR")))
    src, out = work / "source.bin", work / "out.bin"
    make_source(src, size)
    rounds: list[dict[str, Any]] = []
    try:
        with ExitStack() as stack:
            ps = paths(stack, work, src, size, stores)
            names = list(ps)
            for r in range(reps + 1):  # round 0 warms caches and servers up, not reported
                got: dict[str, Any] = {"load": load()}
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    up, down, cleanup, pid, api = ps[name]
                    got[name] = {
                        "up": timed(size, up, pid),
                        "down": timed(size, partial(down, out), pid),
                    }
                    if api is not None:
                        got[name]["put"] = {"mbps": size / MB / api.put_s}
                    if cleanup:
                        cleanup(out)
                    out.unlink(missing_ok=True)
                if r:
                    rounds.append(got)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summarize(rounds, size)


PAIRS = [("api", "bare"), ("api", "copy"), ("bare", "copy"), ("api-s3", "boto3")]


def summarize(rounds: list[dict[str, Any]], size: int) -> dict[str, Any]:
    res: dict[str, Any] = {"bench": "upload", "size_mib": size // CHUNK, "reps": len(rounds)}
    names = [k for k in rounds[0] if k != "load"]
    for name in names:
        res[name] = {
            d: {
                m: spread([r[name][d][m] for r in rounds], 2)
                for m in ("mbps", "srv_cpu", "cli_cpu")
            }
            for d in ("up", "down")
        }
        if "put" in rounds[0][name]:
            res[name]["put"] = {"mbps": spread([r[name]["put"]["mbps"] for r in rounds], 2)}
    res["ratios"] = {
        f"{a}/{b} {d}": spread([r[a][d]["mbps"] / r[b][d]["mbps"] for r in rounds])
        for a, b in PAIRS
        if a in names and b in names
        for d in ("up", "down")
    }
    # The PUT alone against the same bytes' bare upload: the session's open and commit are
    # fixed per-file costs, which `up` includes and this leaves out.
    res["ratios"] |= {
        f"{a} PUT/{b} up": spread([r[a]["put"]["mbps"] / r[b]["up"]["mbps"] for r in rounds])
        for a, b in PAIRS
        if b in ("bare", "boto3") and a in names and b in names and "put" in rounds[0][a]
    }
    res["loads"] = [r["load"] for r in rounds]
    res["goal"] = GOAL
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mib", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions of every path")
    ap.add_argument("--stores", default="file,s3", help="comma-separated: file, s3")
    args = ap.parse_args()
    res = run(args.size_mib * CHUNK, args.reps, args.stores.split(","))
    print(json.dumps(res, indent=2))
    rows = []
    for name in [k for k in res if isinstance(res[k], dict) and "up" in res[k]]:
        up, down = res[name]["up"], res[name]["down"]
        rows.append([name, spread_text(up["mbps"]), spread_text(down["mbps"]),
                     f"{up['srv_cpu']['median']} / {down['srv_cpu']['median']}"])  # fmt: skip
    print(table(["path", "up MB/s", "down MB/s", "server CPU s/GiB up/down"], rows))
    print()
    print(
        table(
            ["ratio", "median [min-max, n]"],
            [[k, spread_text(v)] for k, v in res["ratios"].items()],
        )
    )
    print(f"load per round: {res['loads']}; goal api/bare and api-s3/boto3 >= {GOAL}")


if __name__ == "__main__":
    main()
