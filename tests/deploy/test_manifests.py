"""The deploy kit, checked offline: Kubernetes manifests render and validate against the
Kubernetes schemas, the compose file and the systemd units are well formed, and every
command they start is one the `forgeyard` CLI accepts, with settings it knows."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from forgeyard.app.cli import app
from forgeyard.settings import Settings, environment_names
from serving.server import ModelServer

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
SYSTEMD = DEPLOY / "systemd"
OVERLAYS = ("cpu", "gpu")
CONTAINER_BIN = "/opt/forgeyard/bin/forgeyard"
# Variables the kit sets that are not Forgeyard settings, and why.
YAML_SAFE = YAML(typ="safe", pure=True)
NOT_SETTINGS = {
    "VLLM_ALLOW_RUNTIME_LORA_UPDATING",  # vLLM's own switch (model serve sets it as well)
    "WORKER_ARGS",  # systemd worker instances' pool options
}

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")


# -- helpers -------------------------------------------------------------------------
def render(overlay_dir: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize` of a directory, as documents."""
    out = subprocess.run(
        ["kubectl", "kustomize", str(overlay_dir)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in YAML_SAFE.load_all(out) if doc]


def schema_errors(docs: list[dict[str, Any]]) -> list[str]:
    """Each document checked against the Kubernetes schemas bundled with kubernetes-validate
    (strict: unknown fields are errors too)."""
    errors = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    return errors


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["spec"]["template"]["spec"]["containers"]


def cli_accepts(args: list[str]) -> None:
    """The CLI parses ``args`` (options, values, subcommands) without running the command."""
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, f"`forgeyard {' '.join(args)}` is refused:\n{result.output}"


def setting_variables() -> set[str]:
    """Every environment variable the settings read (prefix + field, or an alias)."""
    return {name for field in Settings.model_fields for name in environment_names(field)}


def documented_variables() -> set[str]:
    """The variables in the README's Configuration table (`A` / `_B` rows name two)."""
    readme = (REPO / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    known, names = setting_variables(), set()
    for row in re.findall(r"^\| (`[^|]+`) \|", table, flags=re.M):
        cells = re.findall(r"`([^`]+)`", row)
        stem = cells[0]
        for cell in cells:
            if not cell.startswith("_"):
                names.add(cell)
                continue
            # `_HOST` after `FORGEYARD_SERVE_PORT`: the stem's head plus the suffix.
            parts = stem.split("_")
            heads = ("_".join(parts[:i]) for i in range(1, len(parts)))
            names.update(head + cell for head in heads if head + cell in known)
    return names


def assert_known_settings(keys: set[str], where: str) -> None:
    unknown = keys - setting_variables() - NOT_SETTINGS
    assert not unknown, f"{where} sets variables no setting reads: {sorted(unknown)}"
    undocumented = keys - documented_variables() - NOT_SETTINGS
    assert not undocumented, f"{where}: not in the README's Configuration: {sorted(undocumented)}"


def test_every_setting_is_in_the_readme_configuration_table():
    # The kit's files are checked against that table, so it must be whole.
    primary = {variables[0] for variables in map(environment_names, Settings.model_fields)}
    assert primary - documented_variables() == set()


# -- Kubernetes ------------------------------------------------------------------------
@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not installed")
    return request.param, render(K8S / "overlays" / request.param)


@needs_kubectl
def test_each_overlay_renders_and_validates_against_the_kubernetes_schemas(rendered):
    overlay, docs = rendered
    kinds = sorted({d["kind"] for d in docs})
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "Job",
        "Namespace",
        "PersistentVolumeClaim",
        "Secret",
        "Service",
    ], overlay
    assert schema_errors(docs) == []


@needs_kubectl
def test_a_deployment_without_selector_fails_validation(tmp_path):
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    worker = copy / "base" / "worker.yaml"
    text = worker.read_text()
    broken = re.sub(r"  selector:\n    matchLabels:\n      [^\n]+\n", "", text)
    assert broken != text
    worker.write_text(broken)
    errors = schema_errors(render(copy / "overlays" / "cpu"))
    assert len(errors) == 1
    assert errors[0].startswith("Deployment/forgeyard-worker: 'selector' is a required property")


def test_an_unknown_field_fails_strict_validation():
    job = YAML_SAFE.load(K8S / "base" / "migrate-job.yaml")
    job["spec"]["backofLimit"] = 3
    (error,) = schema_errors([job])
    assert "'backofLimit' was unexpected" in error


@needs_kubectl
def test_exactly_one_sweeper_and_no_other_pod_sweeps(rendered):
    _, docs = rendered
    sweeper = find(docs, "Deployment", "forgeyard-sweeper")
    assert sweeper["spec"]["replicas"] == 1
    assert sweeper["spec"]["strategy"]["type"] == "Recreate"  # a roll never runs two
    assert [c["args"] for c in containers(sweeper)] == [["beat"]]
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job") and doc is not sweeper:
            for c in containers(doc):
                assert "beat" not in c["args"] and "--beat" not in c["args"], doc["metadata"]


@needs_kubectl
def test_api_probes_are_on_healthz_and_readyz(rendered):
    _, docs = rendered
    (api,) = containers(find(docs, "Deployment", "forgeyard-api"))
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    port = {p["name"]: p["containerPort"] for p in api["ports"]}[
        api["livenessProbe"]["httpGet"]["port"]
    ]
    config = find(docs, "ConfigMap", "forgeyard-config")["data"]
    assert port == int(config["FORGEYARD_API_PORT"])
    service = find(docs, "Service", "forgeyard-api")
    assert (
        service["spec"]["selector"]
        == find(docs, "Deployment", "forgeyard-api")["spec"]["selector"]["matchLabels"]
    )


@needs_kubectl
def test_training_workers_and_model_server_get_gpus_only_in_the_gpu_overlay(rendered):
    overlay, docs = rendered
    for name in ("forgeyard-training-worker", "forgeyard-model"):
        deployment = find(docs, "Deployment", name)
        pod = deployment["spec"]["template"]["spec"]
        (container,) = containers(deployment)
        gpus = container["resources"].get("limits", {}).get("nvidia.com/gpu")
        if overlay == "gpu":
            assert gpus == 1, name
            assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
            assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
                "tolerations"
            ]
            assert container["image"].endswith("-gpu")
        else:
            assert gpus is None and "nodeSelector" not in pod, name
    for name in ("forgeyard-api", "forgeyard-worker", "forgeyard-sweeper"):
        (container,) = containers(find(docs, "Deployment", name))
        assert "nvidia.com/gpu" not in container["resources"].get("limits", {}), name


@needs_kubectl
def test_migration_job_runs_db_upgrade(rendered):
    _, docs = rendered
    job = find(docs, "Job", "forgeyard-migrate")
    assert [c["args"] for c in containers(job)] == [["db", "upgrade"]]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")


@needs_kubectl
def test_model_server_has_lora_and_shares_the_adapter_volume_with_training(rendered):
    _, docs = rendered
    model = find(docs, "Deployment", "forgeyard-model")
    training = find(docs, "Deployment", "forgeyard-training-worker")
    (server,) = containers(model)
    assert server["args"] == ["model", "serve"]
    env = {e["name"]: e["value"] for e in server.get("env", [])}
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    # `model serve` starts vLLM with LoRA on: the command it builds says so.
    command = ModelServer("/models/m").command()
    assert "--enable-lora" in command and "--max-lora-rank" in command
    assert ModelServer("/models/m").environment()["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"

    data_dir = find(docs, "ConfigMap", "forgeyard-config")["data"]["FORGEYARD_DATA_DIR"]

    def data_claim(deployment: dict[str, Any]) -> str:
        spec = deployment["spec"]["template"]["spec"]
        claims = {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in spec["volumes"]
            if "persistentVolumeClaim" in v
        }
        (mount,) = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] in claims]
        assert mount["mountPath"] == data_dir  # same path: adapters are loaded by path
        return claims[mount["name"]]

    worker = find(docs, "Deployment", "forgeyard-worker")
    assert data_claim(model) == data_claim(training) == data_claim(worker) == "forgeyard-data"
    claim = find(docs, "PersistentVolumeClaim", "forgeyard-data")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    service = find(docs, "Service", "forgeyard-model")
    base_url = find(docs, "ConfigMap", "forgeyard-config")["data"]["FORGEYARD_MODEL_BASE_URL"]
    assert base_url == f"http://forgeyard-model:{service['spec']['ports'][0]['port']}/v1"


@needs_kubectl
def test_postgres_and_redis_are_external_services_the_settings_point_at(rendered):
    _, docs = rendered
    for name in ("forgeyard-postgres", "forgeyard-redis"):
        assert find(docs, "Service", name)["spec"]["type"] == "ExternalName"
    config = find(docs, "ConfigMap", "forgeyard-config")["data"]
    secret = find(docs, "Secret", "forgeyard-secrets")["stringData"]
    assert config["FORGEYARD_BROKER_URL"].startswith("redis://forgeyard-redis:6379/")
    assert "@forgeyard-postgres:5432/" in secret["DATABASE_URL"]


@needs_kubectl
def test_config_and_secret_hold_only_known_settings_and_placeholder_secrets(rendered):
    _, docs = rendered
    config = find(docs, "ConfigMap", "forgeyard-config")["data"]
    secret = find(docs, "Secret", "forgeyard-secrets")["stringData"]
    assert_known_settings(set(config) | set(secret), "the ConfigMap/Secret")
    assert secret["FORGEYARD_WEBHOOK_SECRET"] == "change-me"
    assert ":CHANGE-ME@" in secret["DATABASE_URL"]
    # Outside development the placeholder stops every pod with a clear message.
    assert config["FORGEYARD_ENVIRONMENT"] != "development"
    with pytest.raises(ValueError, match="FORGEYARD_WEBHOOK_SECRET is the placeholder"):
        Settings(environment=config["FORGEYARD_ENVIRONMENT"], webhook_secret="change-me")
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            for c in containers(doc):
                for key in {e["name"] for e in c.get("env", [])}:
                    assert_known_settings({key}, doc["metadata"]["name"])


@needs_kubectl
def test_every_container_runs_a_command_the_cli_accepts(rendered):
    _, docs = rendered
    seen = set()
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            for c in containers(doc):
                assert c["image"].startswith("registry.example.internal/forgeyard:")
                assert "command" not in c  # the image's entrypoint is `forgeyard`
                cli_accepts(c["args"])
                seen.add(c["args"][0])
    assert seen == {"api", "worker", "beat", "model", "db"}


# -- images ---------------------------------------------------------------------------
def test_dockerfile_builds_both_flavours_from_the_package_extras():
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    assert re.search(r"^ARG FLAVOUR=cpu$", dockerfile, flags=re.M)
    assert 'pip install --no-cache-dir ".[$FLAVOUR]"' in dockerfile
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert {"cpu", "gpu"} <= set(extras)
    for source in re.findall(r"^COPY (?!--from)(\S+) ", dockerfile, flags=re.M):
        assert (REPO / source).exists(), f"COPY {source}: no such path in the repository"
    assert 'ENTRYPOINT ["/usr/bin/tini", "--", "forgeyard"]' in dockerfile


# -- compose --------------------------------------------------------------------------
def load_compose(name: str = "compose.yaml") -> dict[str, Any]:
    # The safe loader resolves the anchors and `<<` merge keys the file uses, as compose does.
    return YAML_SAFE.load(DEPLOY / name)


def test_compose_file_has_the_site_and_runs_real_commands():
    compose = load_compose()
    services = compose["services"]
    assert set(services) == {
        "api",
        "worker",
        "training-worker",
        "beat",
        "vllm",
        "migrate",
        "postgres",
        "redis",
    }
    ours = {n: s for n, s in services.items() if s["image"].startswith("forgeyard:")}
    assert set(ours) == set(services) - {"postgres", "redis"}
    for name, service in ours.items():
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        cli_accepts(service["command"])
        assert_known_settings(set(service["environment"]), f"compose service {name}")
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
    sweepers = [n for n, s in ours.items() if "beat" in s["command"] or "--beat" in s["command"]]
    assert sweepers == ["beat"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    assert services["api"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }
    # The training worker writes adapters where the model server reads them.
    assert "forgeyard-data:/var/lib/forgeyard" in services["training-worker"]["volumes"]
    assert "forgeyard-data:/var/lib/forgeyard" in services["vllm"]["volumes"]
    assert services["vllm"]["environment"]["FORGEYARD_DATA_DIR"] == "/var/lib/forgeyard"
    assert services["api"]["environment"]["FORGEYARD_MODEL_BASE_URL"] == "http://vllm:8000/v1"


def test_compose_gpu_override_names_existing_services_and_gives_gpus():
    base, gpu = load_compose()["services"], load_compose("compose.gpu.yaml")["services"]
    assert set(gpu) <= set(base)
    for name in ("vllm", "training-worker"):
        (device,) = gpu[name]["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
        assert gpu[name]["build"]["args"]["FLAVOUR"] == "gpu"
    assert all(s["image"] == "forgeyard:gpu" for s in gpu.values())


def test_docker_compose_config_accepts_the_files():
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run([docker, "compose", "version"], capture_output=True).returncode
    ):
        pytest.skip("the docker compose plugin is not installed here")
    for files in (["compose.yaml"], ["compose.yaml", "compose.gpu.yaml"]):
        args = [a for f in files for a in ("-f", str(DEPLOY / f))]
        subprocess.run([docker, "compose", *args, "config", "--quiet"], check=True)


# -- systemd --------------------------------------------------------------------------
UNITS = ("forgeyard-api.service", "forgeyard-beat.service", "forgeyard-model.service")
WORKER_INSTANCES = ("forgeyard-worker@runs.service", "forgeyard-worker@training.service")
needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)


def units_in(tmp_path: Path) -> list[Path]:
    """The units, pointed at a stand-in `forgeyard` in ``tmp_path`` (verify checks that the
    binary exists), with the worker template instantiated for both queues."""
    binary = tmp_path / "bin" / "forgeyard"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    paths = []
    for name in (*UNITS, *WORKER_INSTANCES):
        source = SYSTEMD / re.sub(r"@\w+\.", "@.", name)
        path = tmp_path / name
        path.write_text(source.read_text().replace(CONTAINER_BIN, str(binary)))
        paths.append(path)
    return paths


def verify(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, paths)],
        capture_output=True,
        text=True,
    )


@needs_systemd
def test_units_pass_systemd_analyze_verify(tmp_path):
    result = verify(units_in(tmp_path))
    assert result.returncode == 0, result.stderr
    ours = [line for line in result.stderr.splitlines() if "forgeyard" in line]
    assert ours == []  # no warnings about our units either


@needs_systemd
def test_a_unit_without_execstart_fails_verify(tmp_path):
    (api, *_) = units_in(tmp_path)
    api.write_text(re.sub(r"^ExecStart=.*$", "", api.read_text(), flags=re.M))
    result = verify([api])
    assert result.returncode != 0
    assert "has no ExecStart=" in result.stderr


def exec_start(text: str) -> list[str]:
    (line,) = re.findall(r"^ExecStart=(.*)$", text, flags=re.M)
    return line.split()


def test_units_start_real_commands_with_known_settings():
    commands = {}
    for name in (*UNITS, "forgeyard-worker@.service"):
        text = (SYSTEMD / name).read_text()
        argv = exec_start(text)
        assert argv[0] == CONTAINER_BIN
        # %i: the instance (a queue alias); $WORKER_ARGS: options from worker-%i.env.
        args = [a.replace("%i", "runs") for a in argv[1:] if a != "$WORKER_ARGS"]
        cli_accepts(args)
        commands[name] = args[0]
        assert "EnvironmentFile=/etc/forgeyard/forgeyard.env" in text
        assert "--beat" not in argv
    assert commands == {
        "forgeyard-api.service": "api",
        "forgeyard-beat.service": "beat",
        "forgeyard-model.service": "model",
        "forgeyard-worker@.service": "worker",
    }
    worker_args = env_file(SYSTEMD / "worker-runs.env")["WORKER_ARGS"].split()
    cli_accepts(["worker", "--queues", "runs", *worker_args])


def env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def test_environment_file_sets_known_settings():
    values = env_file(SYSTEMD / "forgeyard.env")
    assert_known_settings(set(values), "deploy/systemd/forgeyard.env")
    assert values["FORGEYARD_WEBHOOK_SECRET"] == "change-me"
    assert values["FORGEYARD_ENVIRONMENT"] == "production"
