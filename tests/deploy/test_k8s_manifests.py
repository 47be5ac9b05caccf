"""Offline validation of deploy/k8s (no cluster here): structure, cross-references, the playbook's
names, and that every container command is a real ``smc-agent`` command line."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import defaultdict
from typing import Any

import pytest
import yaml
from tests._shared import PROJECT_ROOT
from typer.testing import CliRunner

from smc_agent.cli.main import app

K8S = PROJECT_ROOT / "deploy" / "k8s"
BLOCKED_BACKEND = "ingress-blocked"  # the api-ingress's defaultBackend: a Service without endpoints
ROLES = ("trading-engine", "execution-engine", "data-pipeline", "api-gateway", "websocket-service", "web-app")


def _load() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        docs.extend(d for d in yaml.safe_load_all((K8S / name).read_text()) if d)
    return docs


@pytest.fixture(scope="module")
def by_kind() -> dict[str, dict[str, dict[str, Any]]]:
    index: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for doc in _load():
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), doc
        name = doc["metadata"]["name"]
        assert name not in index[doc["kind"]], f"duplicate {doc['kind']}/{name}"
        index[doc["kind"]][name] = doc
    return index


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def test_namespace_and_contract_names(by_kind: dict[str, dict[str, dict[str, Any]]]) -> None:
    assert "smc-trading" in by_kind["Namespace"]
    for kind, docs in by_kind.items():
        for name, doc in docs.items():
            if kind != "Namespace":
                assert doc["metadata"].get("namespace") == "smc-trading", f"{kind}/{name}"
    assert set(ROLES) | {"pgbouncer"} <= set(by_kind["Deployment"])
    assert {"postgres-primary", "redis"} <= set(by_kind["StatefulSet"])
    assert "api-key-rotation" in by_kind["CronJob"]
    assert "api-ingress" in by_kind["Ingress"]
    assert (
        by_kind["HorizontalPodAutoscaler"]["api-gateway"]["spec"]["scaleTargetRef"]["name"] == "api-gateway"
    )
    redis_svc = by_kind["Service"]["redis"]["spec"]
    assert [p["port"] for p in redis_svc["ports"]] == [6379]  # redis.Redis(host='redis', port=6379)


def test_workloads_are_consistent(by_kind: dict[str, dict[str, dict[str, Any]]]) -> None:
    for kind in ("Deployment", "StatefulSet"):
        for name, doc in by_kind[kind].items():
            selector = doc["spec"]["selector"]["matchLabels"]
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items(), f"{kind}/{name} selector does not match its pods"
            assert labels.get("app") == name  # the playbook selects pods with -l app=<name>
            for container in _pod_spec(doc)["containers"]:
                ports = {p.get("name") for p in container.get("ports", [])}
                for probe in ("livenessProbe", "readinessProbe"):
                    target = container.get(probe, {}).get("httpGet", {}).get("port")
                    if isinstance(target, str):
                        assert target in ports, f"{kind}/{name} {probe} names unknown port {target}"
                assert "limits" in container.get("resources", {}), f"{kind}/{name} has no resource limits"


def test_services_and_ingress_point_at_something(by_kind: dict[str, dict[str, dict[str, Any]]]) -> None:
    pods = [
        (doc["spec"]["template"]["metadata"]["labels"], _pod_spec(doc))
        for kind in ("Deployment", "StatefulSet")
        for doc in by_kind[kind].values()
    ]
    for name, svc in by_kind["Service"].items():
        if name == BLOCKED_BACKEND:  # selects no pods on purpose
            assert "selector" not in svc["spec"]
            continue
        matches = [spec for labels, spec in pods if svc["spec"]["selector"].items() <= labels.items()]
        assert matches, f"Service/{name} selects no pods"
        port_names = {
            p.get("name") for spec in matches for c in spec["containers"] for p in c.get("ports", [])
        }
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in port_names, (
                f"Service/{name} targets unknown port {port['targetPort']}"
            )
    for rule in by_kind["Ingress"]["api-ingress"]["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            svc = by_kind["Service"][backend["name"]]
            assert backend["port"]["name"] in {p["name"] for p in svc["spec"]["ports"]}
    paths = {
        p["path"]: p["backend"]["service"]["name"]
        for r in by_kind["Ingress"]["api-ingress"]["spec"]["rules"]
        for p in r["http"]["paths"]
    }
    assert paths["/ws"] == "websocket-service"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (``kubectl patch --type merge``; for ``spec.rules`` the default
    strategic merge does the same: the list has no merge key and is replaced)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


BLOCK_PATCH = {
    "spec": {"rules": []}
}  # playbook: kubectl patch ingress api-ingress -p '{"spec":{"rules":[]}}'


def test_the_playbooks_ingress_block_is_a_valid_ingress_that_serves_nothing(
    by_kind: dict[str, dict[str, dict[str, Any]]],
) -> None:
    # the patch left neither rules nor a defaultBackend: the API server refuses it ("either
    # defaultBackend or rules must be specified") and external traffic kept flowing
    ingress = by_kind["Ingress"]["api-ingress"]
    blocked = merge_patch(ingress, BLOCK_PATCH)["spec"]
    assert blocked["rules"] == []
    assert blocked.get("rules") or blocked.get("defaultBackend"), "the API server refuses this Ingress"
    backend = blocked["defaultBackend"]["service"]
    svc = by_kind["Service"][backend["name"]]
    assert backend["port"]["name"] in {p["name"] for p in svc["spec"]["ports"]}
    assert "selector" not in svc["spec"] and backend["name"] not in by_kind.get("Endpoints", {})
    assert backend["name"] not in by_kind.get("EndpointSlice", {})
    # before the patch every request still goes to the rules (they take precedence)
    hosts = {r["host"] for r in ingress["spec"]["rules"]}
    assert hosts == {"api.smc-trading.com", "app.smc-trading.com"}
    assert all(p["path"] == "/" for r in ingress["spec"]["rules"] for p in r["http"]["paths"][-1:])


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kubectl_applies_the_playbooks_ingress_block_offline(
    by_kind: dict[str, dict[str, dict[str, Any]]], tmp_path: Any
) -> None:
    manifest = tmp_path / "api-ingress.json"
    manifest.write_text(json.dumps(by_kind["Ingress"]["api-ingress"]))
    proc = subprocess.run(
        ["kubectl", "patch", "--local", "-f", str(manifest), "-p", json.dumps(BLOCK_PATCH), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    spec = json.loads(proc.stdout)["spec"]
    assert spec["rules"] == [] and spec["defaultBackend"]["service"]["name"] == BLOCKED_BACKEND


def test_postgres_initialises_pg_stat_statements_where_the_playbook_queries_it(
    by_kind: dict[str, dict[str, dict[str, Any]]], tmp_path: Any
) -> None:
    # the library was preloaded but nothing ran CREATE EXTENSION: the playbook's slow-query step
    # (psql -U postgres, the "postgres" database) found no relation pg_stat_statements
    pod = _pod_spec(by_kind["StatefulSet"]["postgres-primary"])
    container = pod["containers"][0]
    assert "shared_preload_libraries=pg_stat_statements" in container["args"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/docker-entrypoint-initdb.d")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    scripts = by_kind["ConfigMap"][volume["configMap"]["name"]]["data"]
    assert scripts and all(name.endswith((".sh", ".sql")) for name in scripts)
    # run the scripts as the image's entrypoint does, with a psql that records what it is asked
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    psql = bin_dir / "psql"
    psql.write_text('#!/bin/sh\necho "$*" >> "$PSQL_LOG"\n')
    psql.chmod(0o755)
    env = {k: v["value"] for k, v in ((e["name"], e) for e in container["env"]) if "value" in v}
    log_file = tmp_path / "psql.log"
    for name, script in sorted(scripts.items()):
        (tmp_path / name).write_text(script)
        proc = subprocess.run(
            ["sh", str(tmp_path / name)],
            env={"PATH": f"{bin_dir}:/usr/bin:/bin", "PSQL_LOG": str(log_file), **env},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
    calls = log_file.read_text().splitlines()
    created_in = {
        c.split("--dbname ")[1].split()[0]
        for c in calls
        if "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" in c
    }
    assert {"postgres", env["POSTGRES_DB"]} <= created_in


def test_every_container_runs_a_real_cli_command(by_kind: dict[str, dict[str, dict[str, Any]]]) -> None:
    runner = CliRunner()
    checked = 0
    for kind in ("Deployment", "CronJob"):
        for name, doc in by_kind[kind].items():
            for container in _pod_spec(doc)["containers"]:
                if container.get("command") != ["smc-agent"]:
                    continue
                args = container["args"]
                if kind == "Deployment" and name in ROLES:
                    assert args[:2] == ["serve", name], f"{name} must run `smc-agent serve {name}`"
                result = runner.invoke(app, [*args, "--help"])
                assert result.exit_code == 0, f"{kind}/{name}: smc-agent {' '.join(args)} -> {result.output}"
                checked += 1
    assert checked >= len(ROLES) + 1


# the Secret "smc-secrets" the deploy README tells the operator to create (values made up here)
SECRETS = {
    "SMC_SECRET_KEY": "k8s-test-secret-key-0123456789",
    "SMC_MASTER_KEY": "k8s-test-master-key-0123456789",
    "SMC_EXCHANGE_API_KEY": "made-up-key",
    "SMC_EXCHANGE_SECRET": "made-up-secret",
    "SMC_BACKUP_EXCHANGE_API_KEY": "made-up-backup-key",
    "SMC_BACKUP_EXCHANGE_SECRET": "made-up-backup-secret",
}


@pytest.mark.parametrize("role", ["trading-engine", "execution-engine", "data-pipeline"])
def test_each_engine_starts_with_the_manifests_arguments_and_environment(
    by_kind: dict[str, dict[str, dict[str, Any]]],
    role: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    """The command line and environment of the pod, run up to serving (nothing connects): the
    execution-engine's paper mode without a paper venue exited 2 at once, a crash loop with no order
    gateway to enforce a halt; `--help` alone never saw it."""
    from smc_agent.cli import runtime

    container = _pod_spec(by_kind["Deployment"][role])["containers"][0]
    refs = [e.get("configMapRef", e.get("secretRef", {})).get("name") for e in container.get("envFrom", [])]
    assert refs == ["smc-config", "smc-secrets"], refs
    for name in [k for k in os.environ if k.startswith("SMC_")]:
        monkeypatch.delenv(name)
    for name, value in {**by_kind["ConfigMap"]["smc-config"]["data"], **SECRETS}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SMC_DATA_DIR", str(tmp_path))  # the pod's volume
    served: list[object] = []
    monkeypatch.setattr(runtime, "_serve", served.append)
    result = CliRunner().invoke(app, container["args"])
    assert result.exit_code == 0, f"{role}: smc-agent {' '.join(container['args'])} -> {result.output}"
    assert len(served) == 1
    if role == "execution-engine":  # and without the exchange keys it refuses, naming them
        monkeypatch.delenv("SMC_EXCHANGE_SECRET")
        refused = CliRunner().invoke(app, container["args"])
        assert refused.exit_code == 2 and "SMC_EXCHANGE_SECRET" in refused.output


def test_live_order_entry_needs_live_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    # SMC_MODE=live is what refuses default secrets: --live under paper mode ran with them
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SMC_MODE", "paper")
    monkeypatch.setenv("SMC_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("SMC_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["serve", "execution-engine", "--live"])
    assert result.exit_code == 2 and "--live needs SMC_MODE=live" in " ".join(result.output.split())


def test_playbook_names_exist(by_kind: dict[str, dict[str, dict[str, Any]]]) -> None:
    playbook = (PROJECT_ROOT / ".." / "shared" / "seed" / "000_3a10138110158ae2.txt").resolve()
    if not playbook.exists():
        pytest.skip(f"playbook not found at {playbook}")
    text = playbook.read_text(encoding="utf-8")
    refs = {
        "Deployment": set(re.findall(r"deployment[/ ]([a-z][a-z-]+)", text)),
        "StatefulSet": set(re.findall(r"statefulset[/ ]([a-z][a-z-]+)", text)),
        "CronJob": set(re.findall(r"cronjob/([a-z][a-z-]+)", text)),
        "Ingress": set(re.findall(r"ingress ([a-z][a-z-]+) -n", text)),
        "Service": set(re.findall(r"(?:service|endpoints) ([a-z][a-z-]+) -n", text)),
    }
    assert refs["Deployment"] >= {
        "trading-engine",
        "api-gateway",
        "execution-engine",
        "web-app",
        "data-pipeline",
    }
    for kind, names in refs.items():
        missing = names - set(by_kind[kind])
        assert not missing, f"the playbook names {kind} {sorted(missing)} that deploy/k8s does not define"


def test_admin_port_only_for_admin_pods(by_kind: dict[str, dict[str, dict[str, Any]]]) -> None:
    """The edge roles' admin listener (open while public traffic is blocked) is not public."""
    policy = by_kind["NetworkPolicy"]["edge-admin-port"]["spec"]
    selected = set(policy["podSelector"]["matchExpressions"][0]["values"])
    assert selected == {"api-gateway", "websocket-service", "web-app"}
    rules = {r["ports"][0]["port"]: r.get("from") for r in policy["ingress"]}
    assert rules[8000] is None  # public port: from anywhere (the ingress controller)
    assert rules[8001] == [{"podSelector": {"matchLabels": {"smc-trading/admin-access": "true"}}}]
    for role in selected:
        container = _pod_spec(by_kind["Deployment"][role])["containers"][0]
        assert "--admin-port" in container["args"] and "8001" in container["args"]
        assert container["livenessProbe"]["httpGet"]["port"] == "admin"
        assert container["readinessProbe"]["httpGet"]["port"] == "http"  # blocked pods leave the Service


def test_the_key_rotation_job_revokes_every_key_when_the_playbook_runs_it(
    by_kind: dict[str, dict[str, dict[str, Any]]],
    migrated_sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    # its command line refused to run (new keys need --output): the breach step rotated nothing
    from smc_agent.api import keys as key_service
    from smc_agent.store.db import make_engine, make_session_factory, transaction
    from smc_agent.store.models import ApiKey, User

    factory = make_session_factory(make_engine(migrated_sqlite_url))
    with transaction(factory) as session:
        session.add(User(id="usr_k8s", username="k8s", password_hash="x", role="trader"))
        session.flush()
        issued = key_service.create_key(session, user_id="usr_k8s", name="bot", scopes=["read"])
    job = by_kind["CronJob"]["api-key-rotation"]
    assert job["spec"].get("suspend") is True  # a template for the breach step, not a weekly revocation
    args = _pod_spec(job)["containers"][0]["args"]
    monkeypatch.setenv("SMC_DATABASE_URL", migrated_sqlite_url)
    monkeypatch.setenv("SMC_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with factory() as session:
        assert session.get(ApiKey, issued.key.id).revoked_at is not None  # type: ignore[union-attr]


def test_the_image_has_the_tools_the_playbook_runs_in_it() -> None:
    # `kubectl exec -it deployment/api-gateway -- netstat -tulpn` (security breach, evidence) failed: the
    # slim image has no netstat; pg_dump / pg_restore are what `smc-agent backup` runs
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8")
    runtime = dockerfile[dockerfile.rindex("FROM python:") :]
    installed = set(re.findall(r"apt-get install[^&]*", runtime)[0].split())
    assert {"net-tools", "postgresql-client"} <= installed, installed
