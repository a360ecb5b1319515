"""Upload/download bench: N MiB through the API (a real `forgeml up` on loopback, a separate
process) on the file store and on SeaweedFS, against the direct paths (python copy + fsync to the
same disk; boto3 straight to SeaweedFS). Each path runs warm-up + repetitions; the table shows
median MB/s [min-max], API/direct ratios of medians, server and client CPU seconds per GiB and
the server's peak RSS. Every repetition deletes its output, so all paths write recycled pages.

    .venv/bin/python bench/upload.py --size-mib 1024 --reps 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.seaweedfs import SeaweedFS, start_seaweedfs  # noqa: E402

from forgeml.client import Client  # noqa: E402
from forgeml.client.datasets import LocalFile, sha256_file  # noqa: E402

MB = 1_000_000
CHUNK = 1 << 20
GIB = 1 << 30
FORGEML = str(Path(sys.executable).parent / "forgeml")


def cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system) of this process (the client), or of process `pid`."""
    if pid is None:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Runs:
    """Repetitions of one path and direction: MB/s, client CPU and (API paths) server CPU."""

    def __init__(self, size: int, warmup: int, reps: int, pid: int | None = None) -> None:
        self.size, self.warmup, self.reps, self.pid = size, warmup, reps, pid

    def sample(self, fn: Callable[[], Any]) -> tuple[float, float, float]:
        """One timed call: (MB/s, client CPU s/GiB, server CPU s/GiB)."""
        c0, s0 = cpu_s(), cpu_s(self.pid) if self.pid else 0.0
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        c1, s1 = cpu_s(), cpu_s(self.pid) if self.pid else 0.0
        return self.size / MB / dt, (c1 - c0) * GIB / self.size, (s1 - s0) * GIB / self.size

    def summary(self, samples: list[tuple[float, float, float]]) -> dict[str, Any]:
        rates = [x[0] for x in samples]
        out: dict[str, Any] = {
            "mbps": statistics.median(rates),
            "min": min(rates),
            "max": max(rates),
            "runs": [round(r, 1) for r in rates],
            "client_cpu_s_per_gib": round(statistics.median(x[1] for x in samples), 2),
        }
        if self.pid:
            out["server_cpu_s_per_gib"] = round(statistics.median(x[2] for x in samples), 2)
        return out

    def measure(
        self, fn: Callable[[], Any], cleanup: Callable[[], Any] | None = None
    ) -> dict[str, Any]:
        samples = []
        for i in range(self.warmup + self.reps):
            got = self.sample(fn)
            if cleanup:
                cleanup()
            if i >= self.warmup:
                samples.append(got)
        return self.summary(samples)


def make_source(path: Path, size: int) -> None:
    block = os.urandom(CHUNK)
    with path.open("wb") as f:
        for off in range(0, size, CHUNK):
            f.write(block[: min(CHUNK, size - off)] if off else os.urandom(min(CHUNK, size)))


def copy_fsync(src: Path, dst: Path) -> None:
    with src.open("rb") as i, dst.open("wb") as o:
        while chunk := i.read(CHUNK):
            o.write(chunk)
        o.flush()
        os.fsync(o.fileno())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def server(home: Path, env: dict[str, str]) -> Iterator[tuple[str, str, int]]:
    port = free_port()
    proc = subprocess.Popen(
        [FORGEML, "up", "--port", str(port), "--home", str(home), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("}"):
            break
    info = json.loads("".join(lines))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{info['url']}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield info["url"], info["token"], proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


def api_run(url: str, token: str, pid: int, src: Path, out: Path, runs: Runs) -> dict[str, Any]:
    """Upload (open session, streamed PUT, commit) then download, per repetition; each
    repetition deletes its dataset afterwards (objects removed) like the direct path does."""
    f = LocalFile("bench/blob.bin", src, runs.size, sha256_file(src))  # hashing is not timed
    with Client(url, token, timeout=600) as c:
        current: list[str] = []

        def upload() -> None:
            ds = c.datasets.create(f"bench-{time.time_ns()}", kind="platform")
            current[:] = [ds["id"]]
            s = c.datasets.open_upload(ds["id"], [f.decl()])
            c.datasets.put_file(ds["id"], s["version"]["id"], f)
            c.datasets.commit(ds["id"], s["version"]["id"])

        def download() -> None:
            path = f"/api/v1/datasets/{current[0]}/versions/1/files/bench/blob.bin"
            with c.http.stream("GET", path, timeout=600) as r, out.open("wb") as o:
                for chunk in r.iter_raw():  # no re-chunking: one copy less in the client
                    o.write(chunk)
                o.flush()
                os.fsync(o.fileno())

        def verify_and_delete() -> None:
            assert sha256_file(out) == f.sha256
            out.unlink()
            c.datasets.delete(current[0])

        rss0 = vm_hwm_mib(pid)
        api = Runs(runs.size, runs.warmup, runs.reps, pid)
        ups, downs = [], []
        for i in range(runs.warmup + runs.reps):  # upload and download alternate per repetition
            up, down = api.sample(upload), api.sample(download)
            verify_and_delete()
            if i >= runs.warmup:
                ups.append(up)
                downs.append(down)
        return {
            "up": api.summary(ups),
            "down": api.summary(downs),
            "rss_start_mib": round(rss0),
            "rss_peak_mib": round(vm_hwm_mib(pid)),
        }


def s3_direct(sw: SeaweedFS, src: Path, out: Path, runs: Runs) -> dict[str, Any]:
    from boto3.s3.transfer import TransferConfig

    client, bucket = sw.client(), sw.create_bucket()
    cfg = TransferConfig(multipart_chunksize=16 * CHUNK, max_concurrency=4)  # as storage/s3.py
    up = runs.measure(lambda: client.upload_file(str(src), bucket, "blob", Config=cfg))
    down = runs.measure(
        lambda: client.download_file(bucket, "blob", str(out), Config=cfg), out.unlink
    )
    return {"up": up, "down": down}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions per path (median)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed repetitions first")
    ap.add_argument("--stores", default="file,s3", help="comma-separated: file, s3")
    args = ap.parse_args()
    stores = args.stores.split(",")
    size = args.size_mib * CHUNK
    work = Path(tempfile.mkdtemp(prefix="forgeml-bench-", dir=os.environ.get("BENCH_DIR")))
    src, out = work / "source.bin", work / "out.bin"
    make_source(src, size)
    runs = Runs(size, args.warmup, args.reps)
    res: dict[str, Any] = {"size_mib": args.size_mib, "reps": args.reps, "warmup": args.warmup}
    res["load_avg_start"] = os.getloadavg()
    direct = work / "direct.bin"
    try:
        if "file" in stores:
            res["file_direct"] = {
                "up": runs.measure(lambda: copy_fsync(src, direct), direct.unlink),
                "down": runs.measure(lambda: copy_fsync(src, out), out.unlink),  # src: cached too
            }
            base = {k: v for k, v in os.environ.items() if not k.startswith("FORGEML_")}
            with server(work / "home-file", base) as (url, token, pid):
                res["file_api"] = api_run(url, token, pid, src, out, runs)
        if "s3" in stores:
            s3_paths(work, src, out, runs, res)
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    res["load_avg_end"] = os.getloadavg()
    report(res, [s for s in ("file", "s3") if s in stores])


def s3_paths(work: Path, src: Path, out: Path, runs: Runs, res: dict[str, Any]) -> None:
    (work / "seaweed").mkdir()
    sw = start_seaweedfs(work / "seaweed")
    try:
        res["s3_direct"] = s3_direct(sw, src, out, runs)
        bucket = sw.create_bucket()
        base = {k: v for k, v in os.environ.items() if not k.startswith("FORGEML_")}
        env = {
            **base,
            "FORGEML_STORAGE_URL": f"s3://{bucket}/lake",
            "FORGEML_S3__ENDPOINT_URL": sw.endpoint_url,
            "FORGEML_S3__ACCESS_KEY_ID": sw.access_key,
            "FORGEML_S3__SECRET_ACCESS_KEY": sw.secret_key,
        }
        with server(work / "home-s3", env) as (url, token, pid):
            res["s3_api"] = api_run(url, token, pid, src, out, runs)
    finally:
        sw.stop()


def report(res: dict[str, Any], stores: list[str]) -> None:
    for store in stores:
        for d in ("up", "down"):
            api, direct = res[f"{store}_api"][d]["mbps"], res[f"{store}_direct"][d]["mbps"]
            res[f"ratio_{store}_{d}"] = round(api / direct, 2)
    print(json.dumps(res, indent=2))
    head = ("path", "up MB/s [min-max]", "down MB/s [min-max]", "ratio up", "down")
    head2 = ("srv CPU s/GiB up/down", "cli CPU up/down", "peak RSS MiB")
    print("\n{:<12}{:>20}{:>22}{:>10}{:>6}{:>23}{:>17}{:>14}".format(*head, *head2))

    def cell(m: dict[str, Any]) -> str:
        return f"{m['mbps']:.0f} [{m['min']:.0f}-{m['max']:.0f}]"

    for store in stores:
        for kind in ("direct", "api"):
            r = res[f"{store}_{kind}"]
            up, down = r["up"], r["down"]
            line = f"{store + ' ' + kind:<12}{cell(up):>20}{cell(down):>22}"
            if kind == "api":
                line += f"{res[f'ratio_{store}_up']:>10.2f}{res[f'ratio_{store}_down']:>6.2f}"
                line += (
                    f"{up['server_cpu_s_per_gib']:>14.2f} / {down['server_cpu_s_per_gib']:<6.2f}"
                )
            else:
                line += " " * 39
            line += f"{up['client_cpu_s_per_gib']:>9.2f} / {down['client_cpu_s_per_gib']:<5.2f}"
            if kind == "api":
                line += f"{r['rss_peak_mib']:>12}"
            print(line)


if __name__ == "__main__":
    main()
