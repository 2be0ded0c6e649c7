"""The deployment files (README, "Deploy"), checked as far as the machine running the tests
allows: kustomize renders deploy/k8s and we read what each pod would run; compose.yaml is read,
and checked by Docker Compose itself where its v2 CLI is installed; the Dockerfile is read as
text, and built only where a Docker daemon answers. Each check that needs a missing tool is
skipped, saying which tool and why."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main as aftercare_cli

yaml = pytest.importorskip(
    "yaml", reason="PyYAML is missing: the test extra brings it (`pip install -c requirements.lock -e '.[test]'`)"
)

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"

API_PORT = 8000
DASHBOARD_PORT = 8501
APP_SERVICES = ("migrate", "api", "worker", "dashboard")  # compose services that run the image
# Secret keys the manifests reference, per Secret: the contract with whoever creates them.
SECRET_KEYS = {
    "aftercare-secrets": {"database-url", "secret-key", "redis-url", "dashboard-secret", "metrics-token"},
    "aftercare-fcm": {"service-account.json"},
}
# Settings read by uvicorn rather than by our code (README, "Configuration").
UVICORN_SETTINGS = {"FORWARDED_ALLOW_IPS"}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|_KEY$|CREDENTIAL|DATABASE_URL|REDIS_URL")


def looks_secret(value: str) -> bool:
    """A URL with a password in it, or a long random-looking string."""
    if re.search(r"://[^/@\s]*:[^/@\s]+@", value):
        return True
    return bool(
        re.fullmatch(r"[A-Za-z0-9_\-+/=]{24,}", value) and re.search(r"\d", value) and re.search(r"[A-Za-z]", value)
    )


# --- Kubernetes ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: it renders deploy/k8s (kustomize is built in); install it to check")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )
    assert result.returncode == 0, f"kubectl kustomize deploy/k8s failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def objects(docs: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def workloads(docs: list[dict]) -> dict[str, dict]:
    """Every pod template: the Deployments' and the Job's, by their object's name."""
    return {
        name: doc["spec"]["template"] for kind in ("Deployment", "Job") for name, doc in objects(docs, kind).items()
    }


def container(docs: list[dict], deployment: str) -> dict:
    (only,) = objects(docs, "Deployment")[deployment]["spec"]["template"]["spec"]["containers"]
    return only


def env_of(spec: dict) -> dict[str, dict]:
    return {item["name"]: item for item in spec.get("env", [])}


def test_kustomize_renders_every_part_and_no_secret(rendered):
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in rendered}
    assert {
        ("Deployment", "aftercare-api"),
        ("Deployment", "aftercare-worker"),
        ("Deployment", "aftercare-dashboard"),
        ("Job", "aftercare-migrate"),
        ("Service", "aftercare-api"),
        ("Service", "aftercare-dashboard"),
        ("HorizontalPodAutoscaler", "aftercare-api"),
    } <= kinds
    assert not [name for kind, name in kinds if kind == "Secret"], "Secrets are created by hand, never shipped"


def test_every_pod_runs_unprivileged_on_a_read_only_root_with_resources(rendered):
    for name, template in workloads(rendered).items():
        pod = template["spec"]
        assert pod.get("automountServiceAccountToken") is False, name
        volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
        for box in pod["containers"] + pod.get("initContainers", []):
            where = f"{name}/{box['name']}"
            security = pod.get("securityContext", {}) | box.get("securityContext", {})
            assert security.get("runAsNonRoot") is True, where
            assert security.get("runAsUser", 10001) != 0, where
            assert security.get("allowPrivilegeEscalation") is False, where
            assert security.get("readOnlyRootFilesystem") is True, where
            assert "ALL" in security.get("capabilities", {}).get("drop", []), where
            mounts = {mount["mountPath"]: mount["name"] for mount in box.get("volumeMounts", [])}
            assert "emptyDir" in volumes[mounts["/tmp"]], f"{where}: /tmp must be writable (an emptyDir)"
            resources = box.get("resources", {})
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), where
            assert "memory" in resources.get("limits", {}), where
            assert "command" not in box, f"{where}: the image's ENTRYPOINT (aftercare) runs; give args only"


def test_the_api_is_probed_on_its_real_health_routes(rendered):
    from api.health import live, ready

    api = container(rendered, "aftercare-api")
    ports = {port["name"]: port["containerPort"] for port in api["ports"]}
    assert ports == {"http": API_PORT}
    assert api["args"] == ["serve", "--host", "0.0.0.0", "--port", str(API_PORT)]

    def probed(probe: str) -> tuple[str, int]:
        get = api[probe]["httpGet"]
        return get["path"], ports.get(get["port"], get["port"])

    assert probed("livenessProbe") == (next(iter(live.paths)), API_PORT) == ("/health/live", API_PORT)
    assert probed("readinessProbe") == (next(iter(ready.paths)), API_PORT) == ("/health/ready", API_PORT)
    assert probed("startupProbe")[0] == "/health/live"  # readiness waits for migrations; startup must not


def test_the_worker_has_no_probe_and_the_dashboard_is_probed_on_streamlits_health(rendered):
    worker = container(rendered, "aftercare-worker")
    assert worker["args"] == ["worker"]
    assert not {"livenessProbe", "readinessProbe", "startupProbe"} & set(worker)  # no health route (see there)
    # Its one port is its metrics', where the worker is told to listen (AFTERCARE_WORKER_METRICS_*).
    env = env_of(worker)
    assert [(port["name"], str(port["containerPort"])) for port in worker.get("ports", [])] == [
        ("metrics", env["AFTERCARE_WORKER_METRICS_PORT"]["value"])
    ]
    assert env["AFTERCARE_WORKER_METRICS_HOST"]["value"] == "0.0.0.0"
    dashboard = container(rendered, "aftercare-dashboard")
    assert dashboard["args"] == ["dashboard", "--host", "0.0.0.0", "--port", str(DASHBOARD_PORT)]
    for probe in ("livenessProbe", "readinessProbe"):
        assert dashboard[probe]["httpGet"]["path"] == "/_stcore/health"


def test_the_autoscaler_scales_the_api_deployment_on_cpu(rendered):
    (hpa,) = objects(rendered, "HorizontalPodAutoscaler").values()
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "aftercare-api")
    assert target["name"] in objects(rendered, "Deployment")
    assert hpa["spec"]["minReplicas"] >= 2
    assert [metric["resource"]["name"] for metric in hpa["spec"]["metrics"]] == ["cpu"]
    # Otherwise every `kubectl apply` would reset what the autoscaler chose.
    assert "replicas" not in objects(rendered, "Deployment")["aftercare-api"]["spec"]


def test_services_select_their_pods_and_the_dashboard_is_sticky(rendered):
    deployments = objects(rendered, "Deployment")
    for name, service in objects(rendered, "Service").items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items(), name
        (box,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert {port["targetPort"] for port in service["spec"]["ports"]} <= {port["name"] for port in box["ports"]}
    assert objects(rendered, "Service")["aftercare-dashboard"]["spec"]["sessionAffinity"] == "ClientIP"


def test_secrets_come_from_secret_refs_and_no_literal_looks_like_one(rendered):
    api, worker = container(rendered, "aftercare-api"), container(rendered, "aftercare-worker")
    (migrate,) = objects(rendered, "Job")["aftercare-migrate"]["spec"]["template"]["spec"]["containers"]
    expected = {
        "aftercare-api": (api, {"DATABASE_URL": "database-url", "AFTERCARE_SECRET_KEY": "secret-key"}),
        "aftercare-worker": (worker, {"DATABASE_URL": "database-url"}),
        "aftercare-migrate": (migrate, {"DATABASE_URL": "database-url"}),
    }
    for where, (box, wanted) in expected.items():
        env = env_of(box)
        for name, key in wanted.items():
            assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "aftercare-secrets", "key": key}, where

    # The FCM service account: a file from the Secret aftercare-fcm, its path the only literal.
    pod = objects(rendered, "Deployment")["aftercare-worker"]["spec"]["template"]["spec"]
    path = Path(env_of(worker)["AFTERCARE_FCM_CREDENTIALS"]["value"])
    (mount,) = [m for m in worker["volumeMounts"] if path.parent == Path(m["mountPath"])]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == "aftercare-fcm"
    assert {item["path"] for item in volume["secret"]["items"]} == {path.name}

    for name, template in workloads(rendered).items():
        for box in template["spec"]["containers"]:
            for item in box.get("env", []):
                where = f"{name}/{box['name']}: {item['name']}"
                if "value" in item:
                    assert not looks_secret(item["value"]), where
                    assert not SECRET_NAME.search(item["name"]) or item["value"].startswith("/"), where
                elif "secretKeyRef" not in item.get("valueFrom", {}):
                    assert not SECRET_NAME.search(item["name"]), f"{where} must come from a Secret"
    for config in objects(rendered, "ConfigMap").values():
        for name, value in config["data"].items():
            assert not SECRET_NAME.search(name) and not looks_secret(value), f"ConfigMap {name}"


def test_the_example_secret_names_every_key_used_and_is_not_deployed(rendered):
    referenced: dict[str, set[str]] = {}
    for template in workloads(rendered).values():
        for volume in template["spec"].get("volumes", []):
            if "secret" in volume:
                keys = {item["key"] for item in volume["secret"]["items"]}
                referenced.setdefault(volume["secret"]["secretName"], set()).update(keys)
        for box in template["spec"]["containers"]:
            for item in box.get("env", []):
                if ref := item.get("valueFrom", {}).get("secretKeyRef"):
                    referenced.setdefault(ref["name"], set()).add(ref["key"])
    assert referenced == SECRET_KEYS

    example = list(yaml.safe_load_all((K8S / "secret.example.yaml").read_text()))
    assert {doc["metadata"]["name"]: set(doc["stringData"]) for doc in example} == SECRET_KEYS
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert "secret.example.yaml" not in kustomization["resources"]
    # Placeholders the programs refuse, should the example be applied by mistake.
    (main_secret,) = [doc for doc in example if doc["metadata"]["name"] == "aftercare-secrets"]
    assert all(len(value) < 32 and "://" not in value for value in main_secret["stringData"].values())


def test_the_migration_job_runs_db_upgrade_with_the_api_image(rendered):
    job = objects(rendered, "Job")["aftercare-migrate"]
    (box,) = job["spec"]["template"]["spec"]["containers"]
    assert box["args"] == ["db", "upgrade"]
    images = {container(rendered, name)["image"] for name in objects(rendered, "Deployment")}
    assert images == {box["image"]}, "one image for every part"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_settings_named_in_the_deploy_files_are_ones_the_code_reads(rendered):
    code = "\n".join(
        path.read_text() for package in ("api", "admin_dashboard") for path in (ROOT / package).rglob("*.py")
    )
    names = {
        item["name"]
        for template in workloads(rendered).values()
        for box in template["spec"]["containers"]
        for item in box.get("env", [])
    }
    for config in objects(rendered, "ConfigMap").values():
        names |= set(config["data"])
    compose = yaml.safe_load(COMPOSE.read_text())
    for service in APP_SERVICES:
        names |= set(compose["services"][service].get("environment", {}))
    unknown = {name for name in names - UVICORN_SETTINGS if f'"{name}"' not in code}
    assert not unknown, f"settings no code reads (a typo?): {sorted(unknown)}"


# --- the command lines -----------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments left out."""
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.lstrip().startswith("#"):
            continue
        current += raw.rstrip().removesuffix("\\") + " "
        if not raw.rstrip().endswith("\\"):
            if current.strip():
                lines.append(current.strip())
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's build stages, each its instructions from its FROM on."""
    found: list[list[tuple[str, str]]] = []
    for instruction in dockerfile_instructions():
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def exec_form(arguments: str) -> list[str]:
    return json.loads(arguments)


def every_command_line(rendered: list[dict] | None) -> dict[str, list[str]]:
    """Each place the image is run, and the arguments it gives `aftercare`."""
    final = stages()[-1]
    lines = {"Dockerfile CMD": exec_form(dict(final)["CMD"])}
    compose = yaml.safe_load(COMPOSE.read_text())
    lines |= {f"compose {name}": compose["services"][name]["command"] for name in APP_SERVICES}
    for name, template in workloads(rendered or []).items():
        for box in template["spec"]["containers"]:
            lines[f"k8s {name}/{box['name']}"] = box["args"]
    return lines


def test_every_command_line_is_a_real_aftercare_command(request):
    rendered = request.getfixturevalue("rendered") if shutil.which("kubectl") else None
    runner = CliRunner()
    for where, argv in every_command_line(rendered).items():
        # --help last: click parses (and refuses) every option before it, then exits 0.
        result = runner.invoke(aftercare_cli, [*argv, "--help"])
        assert result.exit_code == 0, f"{where}: `aftercare {' '.join(argv)}` is refused:\n{result.output}"


def test_the_dashboard_answers_the_probes_path():
    """The probe path is Streamlit's, not ours: started as the pods start it (a free local port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "dashboard", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                    assert (answer.status, answer.read()) == (200, b"ok")
                    break
            except OSError:
                assert process.poll() is None, "the dashboard exited"
                assert time.monotonic() < deadline, "the dashboard did not answer /_stcore/health within 30 s"
                time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=15)


# --- the Dockerfile --------------------------------------------------------------------------


def test_the_dockerfile_builds_in_one_stage_and_runs_in_a_slim_unprivileged_one():
    built = stages()
    assert len(built) >= 2, "multi-stage: the build's tools and caches stay out of the image"
    arguments = {
        name: default
        for kind, text in dockerfile_instructions()
        if kind == "ARG" and "=" in text
        for name, default in [text.split("=", 1)]
    }
    final = dict(built[-1])
    base = re.sub(r"\$\{?(\w+)\}?", lambda m: arguments.get(m.group(1), m.group(0)), final["FROM"].split()[0])
    assert base == "python:3.11-slim"

    users = [text for kind, text in built[-1] if kind == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the last USER must not be root"
    assert exec_form(final["ENTRYPOINT"]) == ["aftercare"]
    assert exec_form(final["CMD"]) == ["serve", "--host", "0.0.0.0", "--port", str(API_PORT)]
    assert set(final["EXPOSE"].split()) == {str(API_PORT), str(DASHBOARD_PORT)}
    health = final["HEALTHCHECK"]
    assert "python" in health and f"127.0.0.1:{API_PORT}/health/live" in health and "curl" not in health

    builder = " ".join(text for kind, text in built[0] if kind == "RUN")
    # The project (with the optional EXTRAS asked for at build time), pinned by the lock.
    assert re.search(r'pip install -c requirements\.lock "\.\$\{EXTRAS:\+\[\$EXTRAS\]\}"', builder), builder
    final_runs = " ".join(text for kind, text in built[-1] if kind == "RUN")
    for tool in ("apt-get install", "gcc", "build-essential", "pip install"):
        assert tool not in final_runs, f"the runtime stage installs nothing ({tool})"
    assert any(kind == "COPY" and text.startswith("--from=") for kind, text in built[-1])


def test_the_build_context_leaves_out_local_state_and_secrets():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".git", "test-artifacts", ".aftercare", "bench", "**/__pycache__", ".env"} <= ignored
    for needed in ("api", "db", "notifications", "admin_dashboard", "pyproject.toml", "requirements.lock", "README.md"):
        assert needed not in ignored, f"the build copies {needed}"


# --- compose.yaml ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_runs_every_part_from_one_image(compose):
    services = compose["services"]
    assert {"postgres", "redis", *APP_SERVICES} <= set(services)
    assert len({services[name]["image"] for name in APP_SERVICES}) == 1
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["worker"]["command"] == ["worker"]
    assert services["dashboard"]["environment"]["AFTERCARE_API_URL"] == f"http://api:{API_PORT}"
    assert services["api"]["environment"]["REDIS_URL"].startswith("redis://redis:")
    for name in APP_SERVICES:
        assert services[name].get("read_only") is True, name


def test_compose_starts_the_api_after_the_migration(compose):
    services = compose["services"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["worker"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    (volume,) = services["postgres"]["volumes"]
    assert volume.split(":")[0] in compose["volumes"], "the database's files live in a named volume"


def test_compose_takes_every_secret_from_the_environment(compose):
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            value, where = str(value), f"{name}: {key}"
            if "${" not in value:
                assert not looks_secret(value), where
            # Exceptions: the FCM setting is a path; a URL with no password in it (the project's own Redis).
            if key == "AFTERCARE_FCM_CREDENTIALS" or (key.endswith("_URL") and "@" not in value):
                continue
            if SECRET_NAME.search(key):  # required from the environment, or optional with no default
                assert re.search(r"\$\{[A-Z_]+:\?", value) or re.fullmatch(r"\$\{[A-Z_]+:-\}", value), (
                    f"{where} must be ${{VAR:?...}} (or ${{VAR:-}} when optional)"
                )


def compose_cli() -> list[str] | None:
    """Docker Compose v2: the docker CLI's plugin, else a standalone docker-compose."""
    for candidate in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(candidate[0]) is None:
            continue
        version = subprocess.run([*candidate, "version"], capture_output=True, text=True, timeout=30, check=False)
        if version.returncode == 0 and re.search(r"v?2\.\d+", version.stdout):
            return candidate
    return None


def test_the_proxy_replaces_the_forwarded_address_it_passes_on():
    """The API trusts X-Forwarded-For from any container ("*": uvicorn takes the leftmost
    entry), so the proxy must replace a client's header, never append to it: otherwise a
    client chooses its own address (its sign-in limit, its audit address)."""
    text = (ROOT / "compose.yaml").read_text()
    forwarded = re.findall(r"proxy_set_header\s+X-Forwarded-For\s+(\S+);", text)
    assert forwarded == ["$$remote_addr"], forwarded


def test_docker_compose_accepts_the_file_and_requires_its_secrets(tmp_path):
    cli = compose_cli()
    if cli is None:
        pytest.skip("Docker Compose v2 is not installed (neither `docker compose` nor docker-compose v2)")
    dummy = {
        "POSTGRES_PASSWORD": "dummy-postgres-password",
        "AFTERCARE_SECRET_KEY": "dummy-secret-key-dummy-secret-key-dummy",
        "AFTERCARE_DASHBOARD_SECRET": "dummy-dashboard-secret-dummy-dashboard",
    }
    base = {name: value for name, value in os.environ.items() if name not in dummy}
    no_dotenv = tmp_path / "empty.env"  # a .env beside compose.yaml (someone's real one) is not read
    no_dotenv.write_text("")

    def config(env: dict[str, str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*cli, "-f", str(COMPOSE), "--env-file", str(no_dotenv), "config", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=tmp_path,
            check=False,
        )

    done = config(base | dummy)
    assert done.returncode == 0, done.stderr
    for name in dummy:
        refused = config(base | {k: v for k, v in dummy.items() if k != name})
        assert refused.returncode != 0 and name in refused.stderr, f"compose.yaml must require {name}"


# --- the image -------------------------------------------------------------------------------


def test_the_image_builds_and_runs_as_its_own_user():
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI: the image is not built here")
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30, check=False)
    if info.returncode != 0:
        pytest.skip("no Docker daemon answers (`docker info` fails): the image is not built here")
    tag = "aftercare:test-deploy"
    build = subprocess.run(
        ["docker", "build", "-t", tag, str(ROOT)], capture_output=True, text=True, timeout=1800, check=False
    )
    assert build.returncode == 0, build.stderr[-4000:]
    try:
        shown = subprocess.run(
            ["docker", "run", "--rm", tag, "--help"], capture_output=True, text=True, timeout=120, check=False
        )
        assert shown.returncode == 0 and "Usage: aftercare" in shown.stdout, shown.stderr
        user = subprocess.run(
            ["docker", "run", "--rm", "--entrypoint", "id", tag, "-u"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert user.stdout.strip() == "10001"
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, timeout=120, check=False)
