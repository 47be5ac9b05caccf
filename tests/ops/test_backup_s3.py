"""The S3 target against a real S3-compatible server on loopback (moto's server mode)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from smc_agent.control.clock import WallClock
from smc_agent.ops.backup.service import BackupService
from smc_agent.ops.backup.storage import S3Store


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="smc-trading-backups")
    yield endpoint
    server.stop()


def test_backups_to_s3_list_verify_prune(migrated_sqlite_url: str, s3_endpoint: str) -> None:
    store = S3Store("s3://smc-trading-backups/daily", endpoint_url=s3_endpoint)
    service = BackupService(database_url=migrated_sqlite_url, store=store, clock=WallClock())
    names = [service.create(label="daily")["name"] for _ in range(3)]
    keys = sorted(
        o["Key"]
        for o in boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket="smc-trading-backups")[
            "Contents"
        ]
    )
    assert keys == sorted([f"daily/{n}" for n in names] + [f"daily/{n}.json" for n in names])
    assert [m["name"] for m in service.list_backups()] == names
    report = service.verify(names[-1])
    assert report.ok, report.checks
    assert service.prune(keep=2) == names[:1]
    assert store.names() == names[1:]
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        S3Store("https://example.test/bucket")
