"""The Ray executor: every host of an attempt as a Ray actor on a cluster node, in one placement
group, running the same node-side launcher and sandbox as the local executor (so the job contract
is the local one's). Logs and checkpoint syncs flow back through the actors; a lost node is
`HostCrashed` (a platform error the retry policy handles)."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from forgeml.config import RaySettings
from forgeml.domain.job_model import ClassDemand
from forgeml.executors.base import HostCrashed, RunRequest
from forgeml.executors.ray_node import HostActor
from forgeml.training.artifacts import CheckpointSync
from forgeml.training.spec import HostResult, HostSpec, LogLine, Outcome
from forgeml.training.volume import release_stale

MAX_DEMAND_BUNDLES = 1000  # the head of the queue is what an autoscaler can act on
_POLL_S = 0.1  # how often the driver collects log lines and checkpoint requests
_CONNECT_LOCK = threading.Lock()


def class_resource(resource_class: str) -> str:
    """The custom resource an admin gives the nodes that may run hosts of `resource_class`."""
    return f"forgeml-class-{resource_class}"


def bundle(spec: HostSpec, settings: RaySettings, hosts: int = 1) -> dict[str, float]:
    """What one placement bundle asks for: the class's CPUs, memory and GPUs (x `hosts`)."""
    wanted: dict[str, float] = {
        "CPU": float(spec.cpu_count * hosts),
        "memory": float(spec.memory_limit_bytes * hosts),
    }
    if spec.gpu_indices:
        wanted["GPU"] = float(len(spec.gpu_indices) * hosts)
    if settings.class_resources:
        wanted[class_resource(spec.resource_class or spec.instance_type)] = 0.001 * hosts
    return wanted


@dataclass
class Placement:
    group: PlacementGroup
    spread: bool  # one bundle per host on distinct nodes; else one bundle for the whole job


class RayExecutor:
    name = "ray"

    def __init__(self, settings: RaySettings) -> None:
        self.settings = settings

    def connect(self) -> None:
        with _CONNECT_LOCK:
            if not ray.is_initialized():
                ray.init(
                    address=self.settings.address,
                    namespace=self.settings.namespace,
                    log_to_driver=False,  # job output comes back as log lines, not on our stderr
                    configure_logging=False,
                )

    def close(self) -> None:
        """Nothing of this runner's lives on the cluster between attempts (each attempt removes
        its placement group and kills its actors); the driver connection ends with the process."""

    def request_demand(self, demand: list[ClassDemand]) -> None:
        """Pending hosts as bundles for Ray's autoscaler (it keeps the last request: an empty
        one lets the cluster shrink); capped, as an autoscaler reads the head of a long queue."""
        from ray.autoscaler.sdk import request_resources

        self.connect()
        bundles: list[dict[str, float]] = []
        for d in demand:
            one = {"CPU": float(d.cpus), "memory": float(d.memory_bytes)}
            if d.gpus:
                one["GPU"] = float(d.gpus)
            if self.settings.class_resources:
                one[class_resource(d.resource_class)] = 0.001
            bundles += [one] * min(d.instances, MAX_DEMAND_BUNDLES - len(bundles))
        request_resources(bundles=bundles)

    def run(self, request: RunRequest) -> dict[str, HostResult]:
        self.connect()
        placement = self._place(request)
        try:
            if placement.spread:
                return self._run_spread(request, placement.group)
            return self._run_packed(request, placement.group)
        finally:
            remove_placement_group(placement.group)

    # --- placement --------------------------------------------------------------------------

    def _nodes_fitting(self, wanted: dict[str, float]) -> int:
        """Alive nodes whose total resources hold one host's bundle (busy or not)."""
        nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
        return sum(
            1
            for n in nodes
            if n.get("Alive")
            and all(n.get("Resources", {}).get(k, 0.0) >= v for k, v in wanted.items())
        )

    def _place(self, request: RunRequest) -> Placement:
        hosts = request.hosts
        spread = (
            len(hosts) > 1
            and self.settings.multi_node == "spread"
            and self._nodes_fitting(bundle(hosts[0], self.settings)) >= len(hosts)
        )
        if spread:
            group = placement_group(
                [bundle(h, self.settings) for h in hosts], strategy="STRICT_SPREAD"
            )
        else:  # every host on one node, as the local executor runs them
            group = placement_group([bundle(hosts[0], self.settings, len(hosts))], strategy="PACK")
        deadline = time.monotonic() + self.settings.placement_timeout_s
        said = False
        while not group.wait(timeout_seconds=1):
            if not said:
                shape = "one per node" if spread else "together on one node"
                _system(request, hosts[0].host, f"waiting for the Ray cluster to place "
                        f"{len(hosts)} host(s) {shape}")  # fmt: skip
                said = True
            if request.stop.is_set() or time.monotonic() > deadline:
                remove_placement_group(group)
                why = "stopped" if request.stop.is_set() else "timed out"
                raise HostCrashed(f"the Ray cluster did not place the job's hosts ({why})")
        return Placement(group, spread)

    def _actor(self, group: PlacementGroup, index: int, wanted: dict[str, float]) -> Any:
        extra = {k: v for k, v in wanted.items() if k not in ("CPU", "GPU", "memory")}
        return HostActor.options(  # type: ignore[attr-defined]
            num_cpus=wanted["CPU"],
            num_gpus=wanted.get("GPU", 0.0),
            memory=wanted["memory"],
            resources=extra,
            max_concurrency=4,  # run() in one thread; drain/stop/sync replies beside it
            scheduling_strategy=PlacementGroupSchedulingStrategy(
                group, placement_group_bundle_index=index
            ),
        ).remote()

    # --- running ----------------------------------------------------------------------------

    def _run_packed(self, request: RunRequest, group: PlacementGroup) -> dict[str, HostResult]:
        hosts = request.hosts
        actor = self._actor(group, 0, bundle(hosts[0], self.settings, len(hosts)))
        try:
            info = ray.get(actor.where.remote(), timeout=120)
        except (RayError, GetTimeoutError) as exc:
            raise HostCrashed(f"a Ray node did not answer: {exc!r}") from exc
        for spec in hosts:
            _system(request, spec.host, f"on Ray node {info['node'][:12]} ({info['address']})")
        ref = actor.run_local.remote(
            hosts, request.sandbox, dict(request.checkpoints_from), request.checkpoint_interval_s,
            sorted(request.checkpoint_sync),
        )  # fmt: skip
        results = self._follow(request, {"job": (actor, ref)})
        return cast(dict[str, HostResult], results["job"])

    def _run_spread(self, request: RunRequest, group: PlacementGroup) -> dict[str, HostResult]:
        actors = {
            h.host: self._actor(group, i, bundle(h, self.settings))
            for i, h in enumerate(request.hosts)
        }
        first = actors[request.hosts[0].host]
        try:
            where = ray.get([a.where.remote() for a in actors.values()], timeout=120)
            port = ray.get(first.free_port.remote(), timeout=60)
        except (RayError, GetTimeoutError) as exc:
            raise HostCrashed(f"a Ray node did not answer: {exc!r}") from exc
        addresses = {h: w["address"] for h, w in zip(actors, where, strict=True)}
        for host, info in zip(actors, where, strict=True):
            _system(request, host, f"on Ray node {info['node'][:12]} ({info['address']})")
        refs: dict[str, tuple[Any, Any]] = {}
        for spec, info in zip(request.hosts, where, strict=True):
            remote = replace(
                spec,
                master_port=port,
                host_addresses=addresses,
                network_interface=info["interface"],
                network_allowed=True,  # the node's network: hosts dial each other across nodes
            )
            actor = actors[spec.host]
            syncs = [spec.host] if spec.host in request.checkpoint_sync else []
            refs[spec.host] = (
                actor,
                actor.run_one.remote(
                    remote,
                    request.sandbox,
                    request.checkpoints_from.get(spec.host),
                    request.checkpoint_interval_s,
                    syncs,
                ),
            )
        return self._follow(request, refs)

    def _follow(self, request: RunRequest, running: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
        """Collect logs and checkpoint requests until every actor returned; stop them all when
        the user stops or one host fails. Actors are killed on the way out, whatever happened."""
        results: dict[str, Any] = {}
        stopped = False
        try:
            while len(results) < len(running):
                self._drain(request, running)
                pending = {ref: key for key, (_a, ref) in running.items() if key not in results}
                done, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL_S)
                for ref in done:
                    key = pending[ref]
                    results[key] = ray.get(ref)
                    if _failed(results[key]) and not stopped:  # one host failing stops the rest
                        stopped = self._stop_all(running)
                if request.stop.is_set() and not stopped:
                    stopped = self._stop_all(running)
            self._drain(request, running)
        except RayError as exc:
            self._wind_down(request, running, results)
            lost = isinstance(exc, RayActorError)
            what = f"a Ray node running the job was lost: {exc}" if lost else repr(exc)
            raise HostCrashed(what[:2000]) from exc
        finally:
            for actor, _ref in running.values():
                ray.kill(actor, no_restart=True)
        return results

    def _wind_down(
        self, request: RunRequest, running: dict[str, tuple[Any, Any]], results: dict[str, Any]
    ) -> None:
        """A host was lost: the others stop within their grace, then killed actors' mounts and
        folders visible here are released (their launcher could not clean up)."""
        self._stop_all(running)
        others = [ref for key, (_a, ref) in running.items() if key not in results]
        grace = max(h.stop_grace_s for h in request.hosts) + 10
        with contextlib.suppress(RayError):
            ray.wait(others, num_returns=len(others), timeout=grace)
        for actor, _ref in running.values():
            ray.kill(actor, no_restart=True)
        for spec in request.hosts:
            release_stale(spec.work_root)

    def _stop_all(self, running: dict[str, tuple[Any, Any]]) -> bool:
        for actor, _ref in running.values():
            actor.stop.remote()
        return True

    def _drain(self, request: RunRequest, running: dict[str, tuple[Any, Any]]) -> None:
        for actor, _ref in running.values():
            try:
                lines, syncs = ray.get(actor.drain.remote(), timeout=30)
            except RayActorError:
                continue  # the result's ray.get reports the loss
            for line in lines:
                request.on_log(line)
            for token, host, folder in syncs:
                _sync_beside(actor, token, request.checkpoint_sync.get(host), Path(folder))


def _system(request: RunRequest, host: str, text: str) -> None:
    request.on_log(LogLine(datetime.now(UTC), host, "system", text))


def _failed(result: Any) -> bool:
    values = result.values() if isinstance(result, dict) else [result]
    return any(r.outcome not in (Outcome.COMPLETED,) for r in values)


def _sync_beside(actor: Any, token: int, sync: CheckpointSync | None, folder: Path) -> None:
    """Run the driver's checkpoint upload for a host's folder, then release the waiting host."""

    def work() -> None:
        error = None
        try:
            if sync is not None:
                sync(folder)
        except Exception as exc:  # reported to the host's log like a local sync failure
            error = repr(exc)
        actor.synced.remote(token, error)

    threading.Thread(target=work, name="ray-checkpoint-sync", daemon=True).start()
