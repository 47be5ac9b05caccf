"""Where backups live: a directory or an S3-compatible bucket (boto3). Each backup is two objects:
``<name>`` (the gzip file) and ``<name>.json`` (its manifest)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

MANIFEST_SUFFIX = ".json"


class BackupStore(Protocol):
    location: str

    def put(self, local: Path, name: str) -> None: ...

    def get(self, name: str, local: Path) -> None: ...

    def names(self) -> list[str]:
        """Backup names (without manifests), oldest first."""
        ...

    def delete(self, name: str) -> None: ...


def write_manifest(store: BackupStore, name: str, manifest: dict[str, Any], scratch: Path) -> None:
    path = scratch / f"{name}{MANIFEST_SUFFIX}"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    store.put(path, f"{name}{MANIFEST_SUFFIX}")


def read_manifest(store: BackupStore, name: str, scratch: Path) -> dict[str, Any]:
    path = scratch / f"{name}{MANIFEST_SUFFIX}"
    store.get(f"{name}{MANIFEST_SUFFIX}", path)
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


class DirectoryStore:
    def __init__(self, root: Path) -> None:
        self.root = root.expanduser()
        self.location = str(self.root)

    def put(self, local: Path, name: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{name}.partial"
        shutil.copyfile(local, tmp)
        tmp.replace(self.root / name)  # atomic: a listed backup is always complete

    def get(self, name: str, local: Path) -> None:
        source = self.root / name
        if not source.is_file():
            raise FileNotFoundError(f"no backup {name!r} in {self.root}")
        shutil.copyfile(source, local)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.name.endswith(".gz") and (self.root / f"{p.name}{MANIFEST_SUFFIX}").is_file()
        )

    def delete(self, name: str) -> None:
        for path in (self.root / name, self.root / f"{name}{MANIFEST_SUFFIX}"):
            path.unlink(missing_ok=True)


class S3Store:
    """``s3://bucket/prefix``; ``endpoint_url`` for S3-compatible servers. Credentials: boto3's chain."""

    def __init__(self, url: str, *, endpoint_url: str | None = None) -> None:
        import boto3

        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"expected s3://bucket/prefix, got {url!r}")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.location = url
        self._s3 = boto3.client("s3", endpoint_url=endpoint_url)

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, local: Path, name: str) -> None:
        self._s3.upload_file(str(local), self.bucket, self._key(name))

    def get(self, name: str, local: Path) -> None:
        self._s3.download_file(self.bucket, self._key(name), str(local))

    def names(self) -> list[str]:
        found: set[str] = set()
        paginator = self._s3.get_paginator("list_objects_v2")
        prefix = f"{self.prefix}/" if self.prefix else ""
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            found.update(obj["Key"][len(prefix) :] for obj in page.get("Contents", []))
        return sorted(n for n in found if n.endswith(".gz") and f"{n}{MANIFEST_SUFFIX}" in found)

    def delete(self, name: str) -> None:
        for key in (name, f"{name}{MANIFEST_SUFFIX}"):
            self._s3.delete_object(Bucket=self.bucket, Key=self._key(key))
