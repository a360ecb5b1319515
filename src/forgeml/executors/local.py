"""The local executor: every host of the job as a process on this node, in threads.

Multi-host jobs share a private loopback network namespace (`JobNetwork`) when sandboxed, so
`algo-1` and `algo-2` reach each other and nothing else. One host failing stops the others.
"""

from __future__ import annotations

import socket
import threading
from contextlib import ExitStack
from dataclasses import replace

from forgeml.executors.base import HostCrashed, RunRequest
from forgeml.training import sandbox as sb
from forgeml.training.launcher import run_host
from forgeml.training.spec import HostResult, HostSpec, Outcome
from forgeml.training.warm_pool import WarmPool


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalExecutor:
    """`warm`: the pool single-host jailed jobs take a ready interpreter from (owned: `close`)."""

    name = "local"

    def __init__(self, warm: WarmPool | None = None) -> None:
        self.warm = warm

    def close(self) -> None:
        if self.warm is not None:
            self.warm.close()

    def run(self, request: RunRequest) -> dict[str, HostResult]:
        hosts = request.hosts
        if len(hosts) == 1:
            return {hosts[0].host: self._one(request, hosts[0], request.stop, None)}
        jailed = sb.choose(request.sandbox).use_bwrap
        needs_net = jailed and not any(h.network_allowed for h in hosts)
        port = free_port()
        specs = [replace(h, master_port=port) for h in hosts]
        inner = threading.Event()  # set by the user's stop or by any host failing
        results: dict[str, HostResult] = {}
        errors: dict[str, BaseException] = {}
        with ExitStack() as stack:
            network = stack.enter_context(sb.JobNetwork()) if needs_net else None
            threads = [
                threading.Thread(
                    target=self._host_thread,
                    args=(request, spec, inner, network, results, errors),
                    name=f"host-{spec.host}",
                    daemon=True,
                )
                for spec in specs
            ]
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                if request.stop.is_set():
                    inner.set()
                for t in threads:
                    t.join(0.1)
        if errors:
            exc = next(iter(errors.values()))
            if isinstance(exc, Exception) and not isinstance(exc, OSError):
                raise exc  # e.g. InvalidInput from the spec check: the caller classifies it
            raise HostCrashed(f"a host could not run: {exc!r}") from exc
        return results

    def _host_thread(
        self,
        request: RunRequest,
        spec: HostSpec,
        inner: threading.Event,
        network: sb.JobNetwork | None,
        results: dict[str, HostResult],
        errors: dict[str, BaseException],
    ) -> None:
        try:
            result = self._one(request, spec, inner, network)
            results[spec.host] = result
            if result.outcome != Outcome.COMPLETED:
                inner.set()
        except BaseException as exc:
            errors[spec.host] = exc
            inner.set()

    def _one(
        self,
        request: RunRequest,
        spec: HostSpec,
        stop: threading.Event,
        network: sb.JobNetwork | None,
    ) -> HostResult:
        return run_host(
            spec,
            on_log=request.on_log,
            stop=stop,
            sandbox=request.sandbox,
            network=network,
            checkpoints_from=request.checkpoints_from.get(spec.host),
            checkpoint_sync=request.checkpoint_sync.get(spec.host),
            checkpoint_interval_s=request.checkpoint_interval_s,
            warm_pool=self.warm,
        )
