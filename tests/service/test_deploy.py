"""Deployment files: Kubernetes manifests and the compose file against their official schemas,
the systemd unit with systemd-analyze, and the Dockerfile by parsing it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from dockerfile_parse import DockerfileParser

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
# Clusters run versions older than the newest schema that kubernetes-validate ships, and the
# manifests use nothing newer than this version offers.
KUBERNETES_VERSION = "1.30.0"
MANIFESTS = sorted(path for path in KUBERNETES.glob("*.yaml") if path.name != "kustomization.yaml")


def resources(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def by_kind(kind: str) -> dict[str, Any]:
    found = [
        resource for path in MANIFESTS for resource in resources(path) if resource["kind"] == kind
    ]
    assert len(found) == 1, kind
    return found[0]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_manifest_matches_kubernetes_schema(path: Path) -> None:
    for resource in resources(path):
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_manifests() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])

    assert listed == {path.name for path in MANIFESTS} - {"secret.example.yaml"}


def container(name: str, *, init: bool = False) -> dict[str, Any]:
    pod = by_kind("Deployment")["spec"]["template"]["spec"]
    containers = pod["initContainers"] if init else pod["containers"]
    return next(item for item in containers if item["name"] == name)


def test_deployment_probes_endpoints() -> None:
    daemon = container("groupsync")

    assert daemon["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert daemon["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_deployment_listens_beyond_loopback() -> None:
    env = {item["name"]: item.get("value") for item in container("groupsync")["env"]}

    assert env["GROUPSYNC_HTTP_HOST"] == "0.0.0.0"
    assert env["GROUPSYNC_CONFIG"] == "/etc/groupsync/groupsync.toml"


def test_deployment_reads_secret_and_config() -> None:
    pod = by_kind("Deployment")["spec"]["template"]["spec"]
    secret = by_kind("Secret")
    config_map = by_kind("ConfigMap")

    assert container("groupsync")["envFrom"] == [
        {"secretRef": {"name": secret["metadata"]["name"]}}
    ]
    assert set(secret["stringData"]) == {"SQUARE_ACCESS_TOKEN", "GROUPSYNC_DATABASE_URL"}
    assert pod["volumes"][0]["configMap"]["name"] == config_map["metadata"]["name"]


def test_deployment_runs_as_non_root() -> None:
    pod = by_kind("Deployment")["spec"]["template"]["spec"]
    daemon = container("groupsync")

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert daemon["securityContext"]["readOnlyRootFilesystem"] is True
    assert daemon["securityContext"]["allowPrivilegeEscalation"] is False


def test_deployment_sets_resources() -> None:
    resources_set = container("groupsync")["resources"]

    assert resources_set["requests"]["memory"]
    assert resources_set["limits"]["memory"]


def test_deployment_migrates_first() -> None:
    assert container("migrate", init=True)["args"] == ["migrate"]


def test_grace_period_exceeds_request_timeout() -> None:
    pod = by_kind("Deployment")["spec"]["template"]["spec"]
    config = by_kind("ConfigMap")["data"]["groupsync.toml"]

    assert "request_timeout_s = 30.0" in config
    assert pod["terminationGracePeriodSeconds"] > 30


def test_config_map_is_valid_configuration(tmp_path: Path) -> None:
    from groupsync.config import load_settings

    path = tmp_path / "groupsync.toml"
    path.write_text(by_kind("ConfigMap")["data"]["groupsync.toml"])

    settings = load_settings(path, env={}, require_token=False, require_database=False)

    assert settings.http.port == 8080


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def test_compose_matches_compose_spec() -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("check-jsonschema")),
            "--builtin-schema",
            "vendor.compose-spec",
            str(DEPLOY / "compose.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_starts_trial_services() -> None:
    services = compose()["services"]

    assert set(services) == {"postgres", "emulator", "migrate", "groupsync"}
    assert services["emulator"]["command"][:3] == ["emulator", "--host", "0.0.0.0"]
    assert services["groupsync"]["environment"]["SQUARE_BASE_URL"] == "http://emulator:8085"
    assert services["groupsync"]["environment"]["GROUPSYNC_HTTP_HOST"] == "0.0.0.0"


def test_compose_healthchecks() -> None:
    services = compose()["services"]

    for name in ("postgres", "emulator", "groupsync"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name


def test_compose_migrates_before_run() -> None:
    depends_on = compose()["services"]["groupsync"]["depends_on"]

    assert depends_on["migrate"] == {"condition": "service_completed_successfully"}


def test_compose_publishes_only_loopback() -> None:
    services = compose()["services"]

    assert services["groupsync"]["ports"] == ["127.0.0.1:8080:8080"]
    assert "ports" not in services["emulator"]


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    groupsync = Path(sys.executable).with_name("groupsync")
    unit = tmp_path / "groupsync.service"
    # verify requires the commands to exist, so point them at this virtual environment's.
    unit.write_text(
        (DEPLOY / "systemd" / "groupsync.service")
        .read_text()
        .replace("/opt/groupsync/venv/bin/groupsync", str(groupsync))
    )

    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0
    assert result.stderr == ""


def unit_options() -> dict[str, str]:
    options = {}
    for line in (DEPLOY / "systemd" / "groupsync.service").read_text().splitlines():
        key, separator, value = line.partition("=")
        if separator and not line.startswith("#"):
            options.setdefault(key, value)
    return options


def test_systemd_unit_migrates_and_stops_cleanly() -> None:
    options = unit_options()

    assert options["Type"] == "simple"
    assert options["User"] == "groupsync"
    assert options["ExecStartPre"].endswith("groupsync migrate")
    assert options["ExecStart"].endswith("groupsync run")
    assert options["Restart"] == "on-failure"
    assert options["KillSignal"] == "SIGTERM"
    assert int(options["TimeoutStopSec"]) > 30
    assert options["EnvironmentFile"] == "/etc/groupsync/groupsync.env"


@pytest.fixture
def dockerfile() -> DockerfileParser:
    return DockerfileParser(path=str(DEPLOY / "Dockerfile"))


def final_stage(parser: DockerfileParser) -> list[dict[str, Any]]:
    instructions = parser.structure
    last_from = max(
        index for index, item in enumerate(instructions) if item["instruction"] == "FROM"
    )
    return list(instructions[last_from:])


def instruction(parser: DockerfileParser, name: str) -> str:
    values = [item["value"] for item in final_stage(parser) if item["instruction"] == name]
    assert len(values) == 1, name
    return str(values[0])


def test_dockerfile_slim_base(dockerfile: DockerfileParser) -> None:
    assert dockerfile.baseimage == "python:3.11-slim"


def test_dockerfile_non_root_user(dockerfile: DockerfileParser) -> None:
    user = instruction(dockerfile, "USER")

    assert user.split(":")[0] not in ("root", "0")


def test_dockerfile_healthcheck_hits_healthz(dockerfile: DockerfileParser) -> None:
    healthcheck = instruction(dockerfile, "HEALTHCHECK")

    assert "/healthz" in healthcheck
    assert "urllib.request" in healthcheck


def test_dockerfile_entrypoint_runs_daemon(dockerfile: DockerfileParser) -> None:
    assert json.loads(instruction(dockerfile, "ENTRYPOINT")) == ["groupsync"]
    assert json.loads(instruction(dockerfile, "CMD")) == ["run"]


def test_dockerfile_listens_beyond_loopback(dockerfile: DockerfileParser) -> None:
    assert dockerfile.envs["GROUPSYNC_HTTP_HOST"] == "0.0.0.0"
    assert dockerfile.envs["GROUPSYNC_MIGRATIONS_DIR"] == "/opt/groupsync/migrations"
