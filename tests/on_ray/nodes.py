"""Helpers for the Ray tests."""

from __future__ import annotations

from typing import Any


def kill_node(cluster: Any, node: Any) -> None:
    """SIGKILL every process of a Ray node (a lost machine) and forget it, so the cluster's
    `wait_for_nodes` counts only the live ones."""
    node.kill_all_processes(check_alive=False, allow_graceful=False)
    cluster.worker_nodes.discard(node)
