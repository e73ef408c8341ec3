"""Fixtures of the chaos battery: its own PostgreSQL cluster and Redis, a replica, a deployment factory.

The figures each scenario records are printed again at the end of the session (``CHAOS {json}`` lines in the
terminal summary, written by tests/conftest.py), so they appear in the CI log even though pytest captures test
output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.battery import DEPLOYMENTS, FIGURES, ChaosRun
from tests.chaos.services import PostgresCluster, RedisServer
from tests.conftest import CHAOS_PROPERTY
from tests.replica import Replica

ROLE, ROLE_PASSWORD = "chaos", "chaos-test-password"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """The battery's own PostgreSQL 15 cluster (port 5439 or the next free one), removed at the end."""
    cluster = PostgresCluster()
    cluster.init()
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster, request: pytest.FixtureRequest) -> str:
    """A fresh database for this scenario, reached over TCP with a password role."""
    name = "fc_" + re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40]
    return pg_cluster.create_database(name, ROLE, ROLE_PASSWORD)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """The scenario's own Redis (AOF everysec, noeviction) on port 6390 or the next free one."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def replica_factory() -> Iterator[Callable[..., Replica]]:
    """Start in-thread replicas (closed at the end of the test)."""
    started: list[Replica] = []

    def make(generate: int, seed: int) -> Replica:
        replica = Replica(generate=generate, seed=seed, partitions=["FB030010:2025"])
        replica.start()
        started.append(replica)
        return replica

    yield make
    for replica in started:
        replica.close()


@dataclass(frozen=True)
class Deployment:
    """What a scenario runs against: ``fleet`` (the battery's PostgreSQL + Redis) or ``embedded`` (SQLite
    database and broker in the data dir, no URLs set)."""

    kind: str
    database_url: str = ""
    broker_url: str = ""

    @property
    def embedded(self) -> bool:
        return self.kind == "embedded"


@pytest.fixture(params=DEPLOYMENTS)
def deployment(request: pytest.FixtureRequest) -> Deployment:
    """Run the scenario once per deployment; the fleet's servers start only for the fleet run."""
    if request.param == "embedded":
        return Deployment("embedded")
    redis_server: RedisServer = request.getfixturevalue("redis_server")
    return Deployment("fleet", request.getfixturevalue("pg_url"), redis_server.url())


@pytest.fixture
def chaos_run(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., ChaosRun]]:
    """Build :class:`ChaosRun` deployments; every process they started is stopped at the end.

    ``make(name, replica, database_url, broker_url)`` for the fleet, ``make(name, replica,
    deployment=deployment)`` with the :func:`deployment` fixture for either kind.
    """
    runs: list[ChaosRun] = []

    def make(name: str, replica: Replica, database_url: str = "", broker_url: str = "",
             deployment: Deployment | None = None, **options: Any) -> ChaosRun:
        if deployment is not None:
            database_url, broker_url = deployment.database_url, deployment.broker_url
            options["deployment"] = deployment.kind
        run = ChaosRun(name, tmp_path, replica, database_url, broker_url, **options)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.close()


@pytest.fixture(autouse=True)
def _report_figures(request: pytest.FixtureRequest) -> Iterator[None]:
    """Attach what the scenario recorded to its test report, as ``CHAOS`` lines: reports travel from pytest-xdist
    workers to the terminal summary (tests/conftest.py), module globals do not."""
    recorded = len(FIGURES)
    yield
    request.node.user_properties.extend(
        (CHAOS_PROPERTY, json.dumps(figures, default=str)) for figures in FIGURES[recorded:])
