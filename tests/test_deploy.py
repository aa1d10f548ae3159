"""Deployment files: every Kubernetes manifest validates; compose and Dockerfile keep their promises."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).parent.parent
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_validates_strictly(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs
    version = kubernetes_validate.latest_version()
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def _pod_specs() -> list[dict[str, object]]:
    specs = []
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Deployment":
                specs.append(doc["spec"]["template"]["spec"])
    return specs


def test_pods_are_locked_down_and_probed() -> None:
    specs = _pod_specs()
    assert len(specs) == 2
    for spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True  # type: ignore[index]
        containers = list(spec.get("containers", [])) + list(spec.get("initContainers", []))  # type: ignore[call-overload]
        for c in containers:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert "resources" in c
            if c["name"] == "token-service":
                assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
                assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
                assert "startupProbe" in c
                env = {e["name"]: e.get("value") for e in c["env"]}
                assert "TOKEN_SERVICE_KEYS_FILE" in env
                assert env["TOKEN_SERVICE_REDIS_URL"].startswith(
                    ("redis+sentinel://", "redis+cluster://")
                )


def test_sidecar_is_native() -> None:
    sidecar = next(
        c
        for spec in _pod_specs()
        for c in spec.get("initContainers", [])  # type: ignore[attr-defined]
        if c["name"] == "token-service"
    )
    assert sidecar["restartPolicy"] == "Always"


def test_compose_waits_for_a_healthy_redis_and_reads_secrets() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    svc = compose["services"]["token-service"]
    assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "healthcheck" in compose["services"]["redis"] and "healthcheck" in svc
    assert svc["environment"]["TOKEN_SERVICE_KEYS_FILE"].startswith("/run/secrets/")


def test_dockerfile_runs_as_non_root_with_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "USER 10001" in text and "HEALTHCHECK" in text and "-slim" in text
