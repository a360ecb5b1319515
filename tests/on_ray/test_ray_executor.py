"""The Ray executor on a 2-node cluster simulated on this machine: the job contract as the local
executor gives it, hosts on distinct nodes that reach each other, logs, stop, checkpoint syncs
through the driver, and a lost node as a platform error."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from forgeml.config import RaySettings
from forgeml.executors.base import HostCrashed, RunRequest
from forgeml.executors.local import LocalExecutor
from forgeml.executors.ray_executor import RayExecutor
from forgeml.training.spec import HostResult, HostSpec, Outcome
from tests.integration.training_helpers import Captured, make_spec, processes_with_marker
from tests.on_ray.nodes import kill_node

CONTRACT = """
import json, os, sys
env = {k: v for k, v in os.environ.items() if k.startswith("SM_")}
print("CONTRACT " + json.dumps({"env": env, "argv": sys.argv[1:], "cwd": os.getcwd()}, sort_keys=True))
"""

PEERS = """
import os, socket, time
host, master = os.environ["SM_CURRENT_HOST"], os.environ["MASTER_ADDR"]
port = int(os.environ["MASTER_PORT"])
if host == "algo-1":
    s = socket.create_server((master, port))
    conn, _ = s.accept()
    print("algo-1 got", conn.recv(64).decode(), flush=True)
else:
    for _ in range(200):
        try:
            c = socket.create_connection((master, port), timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    c.sendall(b"hello from algo-2")
    print("algo-2 sent", flush=True)
"""


def spec_in(tmp: Path, script: str, **kw: Any) -> HostSpec:
    tmp.mkdir(parents=True, exist_ok=True)
    return make_spec(tmp, script, **kw)


def two_hosts(tmp: Path, script: str) -> tuple[HostSpec, ...]:
    base = make_spec(tmp, script, hosts=("algo-1", "algo-2"), stop_grace_s=2.0)
    return tuple(replace(base, host=h, work_root=tmp / f"host-{h}") for h in ("algo-1", "algo-2"))


def run(
    executor: Any, hosts: tuple[HostSpec, ...], **kw: Any
) -> tuple[dict[str, HostResult], Captured]:
    captured = Captured()
    request = RunRequest(
        hosts=hosts, sandbox="off", on_log=captured, stop=kw.pop("stop", threading.Event()), **kw
    )
    return executor.run(request), captured


def contract_of(captured: Captured) -> dict[str, Any]:
    line = next(x.text for x in captured.lines if x.text.startswith("CONTRACT "))
    return json.loads(line.removeprefix("CONTRACT "))  # type: ignore[no-any-return]


def test_one_host_sees_the_local_executors_contract(cluster: Any, tmp_path: Path) -> None:
    spec = spec_in(tmp_path / "ray", CONTRACT)
    results, on_ray = run(RayExecutor(RaySettings(address=cluster.address)), (spec,))
    assert results["algo-1"].outcome == Outcome.COMPLETED
    assert any("on Ray node" in x.text and x.stream == "system" for x in on_ray.lines)
    local_spec = spec_in(tmp_path / "local", CONTRACT)
    local, here = run(LocalExecutor(), (local_spec,))
    assert local["algo-1"].outcome == Outcome.COMPLETED
    ray_env, local_env = contract_of(on_ray), contract_of(here)
    # Same program, same contract; only the host folders differ (two work roots on purpose).
    assert ray_env["argv"] == local_env["argv"]
    assert sorted(ray_env["env"]) == sorted(local_env["env"])
    for key in ("SM_HOSTS", "SM_CURRENT_HOST", "SM_HPS", "SM_CHANNELS", "SM_NUM_CPUS"):
        assert ray_env["env"][key] == local_env["env"][key], key


def test_spread_hosts_run_on_two_nodes_and_reach_each_other(cluster: Any, tmp_path: Path) -> None:
    settings = RaySettings(address=cluster.address, multi_node="spread")
    results, captured = run(RayExecutor(settings), two_hosts(tmp_path, PEERS))
    assert {h: r.outcome for h, r in results.items()} == {
        "algo-1": Outcome.COMPLETED,
        "algo-2": Outcome.COMPLETED,
    }, captured.text()
    nodes = {x.text.split()[3] for x in captured.lines if "on Ray node" in x.text}
    assert len(nodes) == 2, captured.text("system")
    assert "algo-1 got hello from algo-2" in captured.text()


def test_packed_hosts_share_one_node(cluster: Any, tmp_path: Path) -> None:
    results, captured = run(
        RayExecutor(RaySettings(address=cluster.address)), two_hosts(tmp_path, PEERS)
    )
    assert all(r.outcome == Outcome.COMPLETED for r in results.values()), captured.text()
    nodes = {x.text.split()[3] for x in captured.lines if "on Ray node" in x.text}
    assert len(nodes) == 1


def test_stop_ends_every_host_and_leaves_no_process(cluster: Any, tmp_path: Path) -> None:
    marker = f"ray-stop-{time.monotonic_ns()}"
    script = "import time\nprint('up', flush=True)\ntime.sleep(600)\n"
    stop = threading.Event()
    settings = RaySettings(address=cluster.address, multi_node="spread")
    hosts = tuple(
        replace(h, hyperparameters={"marker": marker}) for h in two_hosts(tmp_path, script)
    )
    box: dict[str, Any] = {}

    def go() -> None:
        box["results"], box["captured"] = run(RayExecutor(settings), hosts, stop=stop)

    t = threading.Thread(target=go)
    t.start()
    deadline = time.monotonic() + 120
    while len(processes_with_marker(marker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(processes_with_marker(marker)) >= 2
    stop.set()
    t.join(120)
    assert not t.is_alive()
    assert {r.outcome for r in box["results"].values()} == {Outcome.STOPPED}
    assert processes_with_marker(marker) == []


def test_checkpoints_are_synced_by_the_driver(cluster: Any, tmp_path: Path) -> None:
    script = """
import os, pathlib
pathlib.Path(os.environ.get("SM_CHECKPOINT_DIR", "/opt/ml/checkpoints"))
d = pathlib.Path("/opt/ml/checkpoints") if os.path.isdir("/opt/ml/checkpoints") else None
"""
    spec = make_spec(tmp_path, "import os, pathlib\nprint('ok')\n")
    seen: list[Path] = []
    results, _ = run(
        RayExecutor(RaySettings(address=cluster.address)),
        (spec,),
        checkpoint_sync={"algo-1": seen.append},
    )
    assert results["algo-1"].outcome == Outcome.COMPLETED
    assert seen, "the final checkpoint sync ran through the driver"
    assert all(p.name == "checkpoints" for p in seen)
    del script


def test_a_lost_node_is_a_platform_error(cluster: Any, tmp_path: Path) -> None:
    # The host is pinned to a node of its own through the class resource only that node has.
    node = cluster.add_node(num_cpus=2, resources={"forgeml-class-doomed": 1})
    cluster.wait_for_nodes(timeout=180)
    marker = f"ray-lost-{time.monotonic_ns()}"
    script = "import time\nprint('up', flush=True)\ntime.sleep(600)\n"
    spec = spec_in(tmp_path, script, resource_class="doomed", hyperparameters={"marker": marker})
    settings = RaySettings(address=cluster.address, class_resources=True)
    box: dict[str, Any] = {}

    def go() -> None:
        try:
            box["results"] = run(RayExecutor(settings), (spec,))
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=go)
    t.start()
    deadline = time.monotonic() + 120
    while not processes_with_marker(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_with_marker(marker), "the host started on the pinned node"
    kill_node(cluster, node)  # SIGKILL: the node is gone
    t.join(180)
    assert not t.is_alive()
    assert isinstance(box.get("error"), HostCrashed), box
    deadline = time.monotonic() + 30
    while processes_with_marker(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_with_marker(marker) == []


def test_gpus_are_the_ones_ray_gave_the_host(cluster: Any, tmp_path: Path) -> None:
    # GPUs declared to Ray (no device needed with the sandbox off): the program must see the
    # index Ray assigned on its node, never the worker's own index 7.
    cluster.add_node(num_cpus=2, num_gpus=2, resources={"forgeml-class-gpu-test": 1})
    cluster.wait_for_nodes(timeout=180)
    script = "import os\nprint('CUDA=' + os.environ['CUDA_VISIBLE_DEVICES'], flush=True)\n"
    spec = spec_in(tmp_path, script, resource_class="gpu-test", gpu_indices=(7,))
    settings = RaySettings(address=cluster.address, class_resources=True)
    results, captured = run(RayExecutor(settings), (spec,))
    assert results["algo-1"].outcome == Outcome.COMPLETED, captured.text()
    seen = next(x.text for x in captured.lines if x.text.startswith("CUDA="))
    assert seen in ("CUDA=0", "CUDA=1"), seen


def test_a_sandboxed_host_cannot_reach_the_ray_cluster(cluster: Any, tmp_path: Path) -> None:
    # Hostile tenant: a program on a Ray node must not talk to Ray itself (the GCS would let it
    # start actors of its own). Packed hosts keep the sandbox's own network: loopback only.
    from tests.support.platform_jobs import require_bwrap

    require_bwrap()
    host, port = cluster.address.rsplit(":", 1)
    script = f"""
import socket
try:
    socket.create_connection(({host!r}, {port}), timeout=3)
    print("REACHED the Ray GCS", flush=True)
except OSError as exc:
    print("refused:", type(exc).__name__, flush=True)
"""
    spec = spec_in(tmp_path, script)
    captured = Captured()
    request = RunRequest(hosts=(spec,), sandbox="required", on_log=captured, stop=threading.Event())
    results = RayExecutor(RaySettings(address=cluster.address)).run(request)
    assert results["algo-1"].outcome == Outcome.COMPLETED, captured.text()
    assert "refused:" in captured.text() and "REACHED" not in captured.text()
