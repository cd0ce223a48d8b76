"""The Ray Serve replicas of a test's decoder app: list them, kill one, wait until Serve has
replaced it. Shared by tests/stt/test_ray_decoder.py and tests/server/test_scale_cluster.py
(both import Ray only after pytest.importorskip has found it)."""
from __future__ import annotations

import time

import ray


def replicas(app: str) -> list[str]:
    """The actor names of the app's live replicas."""
    return [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
            if "SERVE_REPLICA" in a["name"] and app in a["name"]]


def kill(name: str) -> None:
    """Kill one replica for good (Serve, not Ray, is to start its successor)."""
    ray.kill(ray.get_actor(name, namespace="serve"), no_restart=True)


def wait_replaced(app: str, dead: str, count: int, timeout_s: float = 120) -> list[str]:
    """Wait up to timeout_s for Serve to replace the replica `dead` (again `count` replicas, none
    of them `dead`); the replicas then (the caller asserts)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        live = replicas(app)
        if len(live) == count and dead not in live:
            break
        time.sleep(1)
    return replicas(app)
