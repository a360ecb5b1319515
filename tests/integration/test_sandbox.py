"""The bubblewrap jail: contract at /opt/ml, hostile programs contained, shared job loopback."""

from __future__ import annotations

import json
import shutil
import tarfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from forgeml.domain.errors import Unavailable
from forgeml.training import sandbox as sb
from forgeml.training.launcher import run_host
from forgeml.training.spec import HostResult, HostSpec, Outcome
from forgeml.training.warm_pool import WarmPool
from tests.integration.training_helpers import (
    Captured,
    make_spec,
    model_json,
    processes_with_marker,
    run,
    stop_when,
    wait_warm,
    warm_started,
)
from tests.support.services import service_missing
from tests.support.threads import CheckedThread, run_all


@pytest.fixture(autouse=True)
def _bwrap() -> None:
    problem = sb.self_test()
    if problem is not None:
        service_missing(problem)


def jailed(spec: HostSpec, **kwargs: Any) -> tuple[HostResult, Captured]:
    result, captured = run(spec, mode="required", **kwargs)
    assert result.sandboxed
    return result, captured


Jail = Callable[..., tuple[HostResult, Captured]]


@pytest.fixture(params=["cold", "warm"])
def jail(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Jail]:
    """`jailed`, started cold or by a warm interpreter (which must then have been used)."""
    pool = WarmPool(tmp_path / "warm", 1, preload=()) if request.param == "warm" else None

    def go(spec: HostSpec, **kwargs: Any) -> tuple[HostResult, Captured]:
        if pool is not None:
            wait_warm(pool, spec.python)
        result, captured = jailed(spec, warm_pool=pool, **kwargs)
        assert warm_started(captured) == (pool is not None), captured.text("system")
        return result, captured

    yield go
    if pool is not None:
        pool.close()


def report(result: HostResult) -> dict[str, object]:
    return model_json(result)


def test_contract_is_at_opt_ml(tmp_path: Path, jail: Jail) -> None:
    script = """
    import json, os, sys
    cfg = "/opt/ml/input/config"
    out = {"argv": sys.argv[1:], "uid": os.getuid(), "cwd": os.getcwd(),
           "host": os.uname().nodename,
           "sm": {k: v for k, v in os.environ.items() if k.startswith("SM_")},
           "config": {n: json.load(open(f"{cfg}/{n}")) for n in os.listdir(cfg)},
           "data": open("/opt/ml/input/data/train/data.csv").read()}
    json.dump(out, open("/opt/ml/model/report.json", "w"))
    """
    result, captured = jail(make_spec(tmp_path, script))
    assert result.outcome == Outcome.COMPLETED, captured.text()
    seen = report(result)
    assert seen["argv"] == ["--epochs", "3", "--lr", "0.01", "--optimizer", "adam"]
    assert (seen["uid"], seen["cwd"], seen["host"]) == (65534, "/opt/ml/code", "algo-1")
    sm = seen["sm"]
    assert isinstance(sm, dict)
    assert sm["SM_MODEL_DIR"] == "/opt/ml/model"
    assert sm["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert sm["SM_INPUT_CONFIG_DIR"] == "/opt/ml/input/config"
    assert json.loads(sm["SM_TRAINING_ENV"])["module_dir"] == "/opt/ml/code"
    config = seen["config"]
    assert isinstance(config, dict)
    assert set(config) == {"hyperparameters.json", "inputdataconfig.json", "resourceconfig.json"}
    assert seen["data"] == "1,2\n3,4\n"
    assert captured.lines[0].text.startswith("sandbox=bwrap")


HOSTILE = """
import json, os, socket, sys
def attempt(fn):
    try:
        fn()
        return "allowed"
    except Exception as exc:
        return type(exc).__name__
def connect():
    socket.create_connection(("127.0.0.1", int(os.environ["TARGET_PORT"])), timeout=2)
def write(path):
    return lambda: open(path, "w").write("x")
secret_dir = os.environ["SECRET_DIR"]
out = {
    "read_store": attempt(lambda: os.listdir(secret_dir)),
    "read_db": attempt(lambda: open(secret_dir + "/forgeml.db").read()),
    "connect": attempt(connect),
    "dns": attempt(lambda: socket.getaddrinfo("example.com", 80)),
    "write_channel": attempt(write("/opt/ml/input/data/train/evil.csv")),
    "write_config": attempt(write("/opt/ml/input/config/hyperparameters.json")),
    "write_code": attempt(write("/opt/ml/code/evil.py")),
    "write_usr": attempt(write("/usr/evil")),
    "write_root": attempt(write("/evil")),
    "write_opt": attempt(write("/opt/ml/evil")),
    "write_tmp": attempt(write("/tmp/fine")),
    "env": sorted(os.environ),
    "see_pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
}
json.dump(out, open("/opt/ml/model/report.json", "w"))
"""


def test_hostile_program_is_contained(
    tmp_path: Path, listener: int, monkeypatch: pytest.MonkeyPatch, jail: Jail
) -> None:
    store = tmp_path / "object-store"
    store.mkdir()
    (store / "forgeml.db").write_text("SQLite format 3 secrets")
    monkeypatch.setenv("FORGEML_S3__SECRET_ACCESS_KEY", "super-secret")
    env = {"SECRET_DIR": str(store), "TARGET_PORT": str(listener)}
    spec = make_spec(tmp_path, HOSTILE, user_env=env)
    result, captured = jail(spec)
    assert result.outcome == Outcome.COMPLETED, captured.text()
    seen = report(result)
    for key in ("read_store", "read_db"):
        assert seen[key] == "FileNotFoundError"
    assert seen["connect"] in {"ConnectionRefusedError", "OSError", "TimeoutError"}
    assert seen["dns"] == "gaierror"
    for key in ("write_channel", "write_config", "write_code", "write_usr", "write_root"):
        assert seen[key] == "OSError", key  # EROFS
    assert seen["write_opt"] == "OSError"
    assert seen["write_tmp"] == "allowed"
    env_names = seen["env"]
    assert isinstance(env_names, list)
    assert not [n for n in env_names if n.startswith("FORGEML_")]
    assert not (spec.channels["train"].source / "evil.csv").exists()
    # Only bwrap's init and the program itself live in the jail's pid namespace.
    assert len(seen["see_pids"]) <= 3  # type: ignore[arg-type]


def test_launcher_can_read_and_remove_what_the_jail_wrote(tmp_path: Path, jail: Jail) -> None:
    script = """
    import os
    os.makedirs("/opt/ml/model/deep/er", mode=0o700)
    with open("/opt/ml/model/deep/er/private.bin", "w") as f:
        f.write("m")
    os.chmod("/opt/ml/model/deep/er/private.bin", 0)
    os.chmod("/opt/ml/model/deep", 0)
    """
    spec = make_spec(tmp_path, script)
    result, captured = jail(spec)
    assert result.outcome == Outcome.COMPLETED, captured.text()
    with tarfile.open(result.model_artifact) as tar:
        assert "deep/er/private.bin" in tar.getnames()
    shutil.rmtree(spec.work_root)
    assert not spec.work_root.exists()


def test_jailed_program_cannot_outlive_stop(tmp_path: Path) -> None:
    marker = f"forgeml-jail-{uuid.uuid4().hex}"
    script = f"""
    import os, signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)", "{marker}"])
    if os.fork() == 0:
        os.setsid()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(1000)",
                                  "{marker}-escapee"])
    print("forked", flush=True)
    time.sleep(1000)
    """
    spec = make_spec(tmp_path, script, stop_grace_s=1.0)
    stop = threading.Event()
    captured = Captured()
    on_log = stop_when(captured, "forked", stop)
    result = run_host(spec, on_log=on_log, stop=stop, sandbox="required")
    assert result.outcome == Outcome.STOPPED
    assert processes_with_marker(marker) == []


def test_max_runtime_in_jail(tmp_path: Path, jail: Jail) -> None:
    spec = make_spec(tmp_path, "import time; time.sleep(1000)", max_runtime_s=1.0)
    result, _ = jail(spec)
    assert result.outcome == Outcome.MAX_RUNTIME_EXCEEDED


def test_failure_reason_from_jail(tmp_path: Path, jail: Jail) -> None:
    script = "open('/opt/ml/output/failure', 'w').write('no labels'); raise SystemExit(2)"
    result, _ = jail(make_spec(tmp_path, script))
    assert (result.outcome, result.exit_code, result.failure_reason) == (
        Outcome.FAILED,
        2,
        "no labels",
    )


TWO_HOSTS = """
import os, socket, sys, time
port = int(os.environ["MASTER_PORT"])
me = os.environ["SM_CURRENT_HOST"]
if me == "algo-1":
    server = socket.create_server(("0.0.0.0", port))
    conn, _ = server.accept()
    conn.sendall(b"hello " + conn.recv(100))
    conn.close()
else:
    for _ in range(200):
        try:
            conn = socket.create_connection(("algo-1", port), timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    conn.sendall(me.encode())
    print("got", conn.recv(100).decode(), flush=True)
try:
    socket.create_connection(("127.0.0.1", int(os.environ["TARGET_PORT"])), timeout=1)
    print("host listener reachable", flush=True)
except OSError:
    print("host listener unreachable", flush=True)
"""


def _run_hosts(tmp_path: Path, script: str, **overrides: Any) -> list[tuple[HostResult, str]]:
    base = make_spec(tmp_path, script, hosts=("algo-1", "algo-2"), **overrides)
    results: dict[str, tuple[HostResult, str]] = {}

    def one(host: str, network: sb.JobNetwork) -> None:
        spec = replace(base, host=host, work_root=tmp_path / host)
        captured = Captured()
        result = run_host(
            spec, on_log=captured, stop=threading.Event(), sandbox="required", network=network
        )
        results[host] = (result, captured.text())

    with sb.JobNetwork() as network:
        run_all([CheckedThread(target=one, args=(h, network)) for h in base.hosts], 300)
    return [results["algo-1"], results["algo-2"]]


def test_two_hosts_share_only_the_job_loopback(tmp_path: Path, listener: int) -> None:
    env = {"TARGET_PORT": str(listener)}
    first, second = _run_hosts(tmp_path, TWO_HOSTS, user_env=env, master_port=29411)
    for result, text in (first, second):
        assert result.outcome == Outcome.COMPLETED, text
        assert "host listener unreachable" in text
    assert "got hello algo-2" in second[1]


TORCH_GLOO = """
import os, torch, torch.distributed as dist
dist.init_process_group("gloo")
t = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(t)
print(f"rank={dist.get_rank()} world={dist.get_world_size()} sum={t.item()}", flush=True)
dist.barrier()
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_two_hosts_torch_gloo(tmp_path: Path) -> None:
    outcomes = _run_hosts(tmp_path, TORCH_GLOO, master_port=29412, hyperparameters={})
    for rank, (result, text) in enumerate(outcomes):
        assert result.outcome == Outcome.COMPLETED, text
        assert f"rank={rank} world=2 sum=3.0" in text


def test_required_mode_refuses_without_bwrap() -> None:
    with pytest.raises(Unavailable):
        sb.choose("required", bwrap=Path("/nonexistent/bwrap"))
    choice = sb.choose("auto", bwrap=Path("/nonexistent/bwrap"))
    assert not choice.use_bwrap
    assert choice.warning is not None
    assert "WITHOUT isolation" in choice.warning
    assert sb.choose("required").use_bwrap


def test_process_count_is_capped(tmp_path: Path, jail: Jail) -> None:
    script = """
    import subprocess
    children = []
    try:
        for _ in range(60):
            children.append(subprocess.Popen(["sleep", "5"]))
        print("spawned all")
    except OSError as exc:
        print("refused", type(exc).__name__, flush=True)
    """
    result, captured = jail(make_spec(tmp_path, script, max_processes=20))
    assert result.outcome == Outcome.COMPLETED
    assert "refused BlockingIOError" in captured.text("stdout")
