"""deploy/ parses and agrees with the code: images, commands, ports, probes, env names, metrics.

No container engine here: every file is parsed and cross-checked, nothing is run.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from prometheus_client import REGISTRY

from ingest.redis_conn import connect
from ingest.settings import PREFIX, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "alert-ingest.json"

Doc = dict[str, Any]

API_PORT = Settings().port
WORKER_METRICS_PORT = 9100
# The CLI contract deploy files rely on: subcommand → flags that take a value.
CLI_FLAGS = {
    "api": {"--host", "--port", "--serve"},
    "worker": {"--concurrency", "--metrics-port", "--completion-wait"},
}
APP_SERVICES = ("api", "links", "worker-1", "worker-2")
# Processes of `alert-ingest api`, by what they serve (compose service = k8s component).
HTTP_PARTS = ("api", "links")
WORKER_SERVICES = ("worker-1", "worker-2")


# --- helpers -------------------------------------------------------------------------------------


def valid_env_names() -> set[str]:
    return {
        PREFIX + field.name.upper()
        for field in dataclasses.fields(Settings)
        if field.name != "redis_url_from_env"
    }


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yml", ".yaml"))


@cache
def compose() -> Doc:
    doc: Doc = load_yaml(COMPOSE_FILE)
    return doc


def service(name: str) -> Doc:
    svc: Doc = compose()["services"][name]
    return svc


def compose_env(svc: Doc) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


@cache
def k8s_docs() -> tuple[Doc, ...]:
    docs: list[Doc] = []
    for path in sorted(K8S.glob("*.y*ml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d is not None)
    return tuple(docs)


def k8s(kind: str, name: str) -> Doc:
    found = [d for d in k8s_docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name} in deploy/k8s, found {len(found)}"
    return found[0]


def pod_spec(deployment: str) -> Doc:
    spec: Doc = k8s("Deployment", deployment)["spec"]["template"]["spec"]
    return spec


def only_container(deployment: str) -> Doc:
    containers = pod_spec(deployment)["containers"]
    assert len(containers) == 1
    container: Doc = containers[0]
    return container


def command_flags(argv: list[str]) -> tuple[str, dict[str, str]]:
    """Check ``argv`` is ``alert-ingest <api|worker> [--flag value ...]``; return command, flags."""
    assert argv[:1] == ["alert-ingest"], f"{argv}: must run the alert-ingest console script"
    assert len(argv) >= 2 and argv[1] in CLI_FLAGS, f"{argv}: command must be api or worker"
    rest = argv[2:]
    assert len(rest) % 2 == 0, f"{argv}: every flag takes one value"
    flags = dict(zip(rest[::2], rest[1::2], strict=True))
    assert set(flags) <= CLI_FLAGS[argv[1]], (
        f"{argv}: unknown flags {set(flags) - CLI_FLAGS[argv[1]]}"
    )
    return argv[1], flags


def url_ports_and_paths(texts: Iterable[str]) -> list[tuple[int, str]]:
    found = re.findall(r"https?://[^/'\"\s:]+:(\d+)(/[^'\"\s]*)", " ".join(texts))
    return [(int(port), path) for port, path in found]


def container_port(container: Doc, ref: int | str) -> int:
    """Resolve a probe or Service target port (a number or a port name) against a container."""
    ports = {p["name"]: int(p["containerPort"]) for p in container["ports"]}
    if isinstance(ref, int):
        assert ref in ports.values(), f"port {ref} is not declared by container {container['name']}"
        return ref
    assert ref in ports, f"port name {ref!r} is not declared by container {container['name']}"
    return ports[ref]


# --- metrics helpers -----------------------------------------------------------------------------

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "info": ("_info",),
}
_PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
}


@cache
def exported_metric_names() -> frozenset[str]:
    for module in ("ingest.metrics", "worker.metrics"):
        importlib.import_module(module)
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return frozenset(names)


def promql_metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (identifiers that are not functions or keywords)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\$\{?\w+\}?", "", text)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\boffset\s+\S+", " ", text)
    text = re.sub(r"(?<![\w:])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        if re.match(r"\s*\(", text[match.end() :]) or match.group().lower() in _PROMQL_WORDS:
            continue
        names.add(match.group())
    return names


def dashboard() -> Doc:
    doc: Doc = json.loads(DASHBOARD.read_text())
    return doc


def dashboard_panels() -> list[Doc]:
    panels: list[Doc] = []
    for panel in dashboard()["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard_panels() for t in p.get("targets", [])]


def rule_exprs() -> list[str]:
    rules = load_yaml(DEPLOY / "prometheus" / "alert-ingest-rules.yml")
    return [str(rule["expr"]) for group in rules["groups"] for rule in group["rules"]]


# --- parsing -------------------------------------------------------------------------------------


def test_every_yaml_file_in_deploy_parses_to_mappings() -> None:
    files = yaml_files()
    assert len(files) >= 10
    for path in files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert docs, f"{path} is empty"
        assert all(isinstance(d, dict) for d in docs), f"{path}: a document is not a mapping"


def test_k8s_objects_are_well_formed_and_namespaced() -> None:
    for doc in k8s_docs():
        assert {"apiVersion", "kind"} <= doc.keys()
        if doc["kind"] in ("Kustomization", "Namespace"):
            continue
        assert doc["metadata"]["namespace"] == "alert-ingest", doc["metadata"]["name"]


def test_kustomization_lists_existing_files_and_leaves_optional_crds_out() -> None:
    kustomization = load_yaml(K8S / "kustomization.yaml")
    resources = kustomization["resources"]
    for resource in resources:
        assert (K8S / resource).is_file(), f"kustomization lists missing {resource}"
    kinds = {d["kind"] for r in resources for d in yaml.safe_load_all((K8S / r).read_text())}
    expected = {"Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget"}
    assert expected | {"HorizontalPodAutoscaler"} <= kinds
    # CRD-backed objects (KEDA, prometheus-operator) would fail the whole apply without the CRD.
    assert kinds <= expected | {"HorizontalPodAutoscaler", "Namespace"}
    assert not {"worker-hpa.yaml", "worker-scaledobject.yaml"} <= set(resources)


# --- env names and values ------------------------------------------------------------------------


def test_every_alert_ingest_name_in_deploy_files_is_a_setting() -> None:
    valid = valid_env_names()
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        for name in re.findall(r"ALERT_INGEST_[A-Z0-9_]+", path.read_text()):
            assert name in valid, f"{path.relative_to(ROOT)}: {name} is not a setting"


def test_compose_env_of_each_app_service_is_valid_settings() -> None:
    valid = valid_env_names()
    for name in APP_SERVICES:
        env = compose_env(service(name))
        assert {k for k in env if k.startswith(PREFIX)} <= valid
        settings = load_settings(env)
        assert urlsplit(settings.redis_url).hostname == "redis", name
        assert settings.queue_name == Settings().queue_name


def test_k8s_configmap_and_secret_hold_only_valid_settings() -> None:
    valid = valid_env_names()
    data: dict[str, str] = k8s("ConfigMap", "alert-ingest")["data"]
    secret: dict[str, str] = k8s("Secret", "alert-ingest")["stringData"]
    # envFrom imports every key, so a typo would be a silently ignored variable.
    assert set(data) <= valid
    assert set(secret) == {PREFIX + "REDIS_URL"}
    assert PREFIX + "REDIS_URL" not in data, "the Redis URL may hold a password: Secret only"
    settings = load_settings({**data, **secret})
    assert settings.redis_url.startswith("redis+sentinel://")
    assert connect(settings.redis_url) is not None  # the documented Sentinel form is accepted


def test_k8s_containers_load_the_configmap_and_secret() -> None:
    valid = valid_env_names()
    for deployment in ("alert-ingest-api", "alert-ingest-links", "alert-ingest-worker"):
        container = only_container(deployment)
        refs = {
            ("ConfigMap" if "configMapRef" in ref else "Secret"): (
                ref.get("configMapRef") or ref["secretRef"]
            )["name"]
            for ref in container["envFrom"]
        }
        assert refs == {"ConfigMap": "alert-ingest", "Secret": "alert-ingest"}
        for var in container.get("env", []):
            assert not var["name"].startswith(PREFIX) or var["name"] in valid


# --- images and commands -------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_is_slim_non_root_with_healthcheck_ports_and_api_default() -> None:
    instructions = dockerfile_instructions()
    args = dict(arg.split("=", 1) for op, arg in instructions if op == "ARG" and "=" in arg)
    bases = [arg.split()[0] for op, arg in instructions if op == "FROM"]
    assert bases and all(
        re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], b) == "python:3.11-slim" for b in bases
    )
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    health = [arg for op, arg in instructions if op == "HEALTHCHECK"]
    assert len(health) == 1 and "/health/live" in health[0] and "python" in health[0]
    exposed = {int(p) for op, arg in instructions if op == "EXPOSE" for p in arg.split()}
    assert exposed == {API_PORT, WORKER_METRICS_PORT}
    cmd = [arg for op, arg in instructions if op == "CMD"]
    assert json.loads(cmd[-1]) == ["alert-ingest", "api"]


def test_dockerfile_copies_only_existing_paths_the_dockerignore_allows() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for op, arg in dockerfile_instructions():
        if op != "COPY" or arg.startswith("--from"):
            continue
        for source in arg.split()[:-1]:
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, missing from the repo"
            assert source.rstrip("/") in allowed, f"{source} is excluded by the dockerignore"


def test_compose_app_services_build_the_image_and_run_api_or_worker() -> None:
    for name in APP_SERVICES:
        svc = service(name)
        assert svc["image"] == "alert-ingest:local"
        build = svc["build"]
        assert (COMPOSE_FILE.parent / build["context"] / build["dockerfile"]).resolve() == (
            DEPLOY / "Dockerfile"
        )
        command, _ = command_flags(svc["command"])
        assert command == ("api" if name in HTTP_PARTS else "worker")
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"


def test_k8s_deployments_run_one_image_with_api_and_worker_commands() -> None:
    api, worker = only_container("alert-ingest-api"), only_container("alert-ingest-worker")
    assert command_flags(api["command"])[0] == "api"
    assert command_flags(worker["command"])[0] == "worker"
    assert api["image"] == worker["image"] == only_container("alert-ingest-links")["image"]
    images = load_yaml(K8S / "kustomization.yaml")["images"]
    assert [i["name"] for i in images] == [api["image"].split(":")[0]]


def test_links_and_public_api_run_apart_in_compose_and_k8s() -> None:
    for part in HTTP_PARTS:
        assert command_flags(service(part)["command"])[1]["--serve"] == part
        container = only_container(f"alert-ingest-{part}")
        assert command_flags(container["command"])[1]["--serve"] == part
    env = compose_env(service("api"))
    links_port = int(str(service("links")["ports"][0]).split(":")[0])
    assert urlsplit(env[PREFIX + "LINKS_BASE_URL"]).port == links_port
    assert urlsplit(env[PREFIX + "BASE_URL"]).port == API_PORT


def test_third_party_images_are_pinned() -> None:
    for name, svc in compose()["services"].items():
        if name in APP_SERVICES:
            continue
        image, _, tag = svc["image"].partition(":")
        assert tag and tag != "latest", f"{name}: pin {image} to a version"
    redis = service("redis")["image"]
    assert redis.startswith("redis:7")


def test_deploy_commands_parse_with_the_real_cli() -> None:
    cli = importlib.import_module("alert_ingest.cli")
    parser: argparse.ArgumentParser = cli.parser()
    argvs = [service(n)["command"] for n in APP_SERVICES] + [
        only_container(f"alert-ingest-{d}")["command"] for d in (*HTTP_PARTS, "worker")
    ]
    for argv in argvs:
        parser.parse_args(argv[1:])


def test_workers_get_longer_to_stop_than_they_wait_for_jobs_in_flight() -> None:
    for name in WORKER_SERVICES:
        svc = service(name)
        wait = int(command_flags(svc["command"])[1]["--completion-wait"])
        grace = re.fullmatch(r"(\d+)s", svc["stop_grace_period"])
        assert grace and int(grace.group(1)) > wait, name
    container = only_container("alert-ingest-worker")
    wait = int(command_flags(container["command"])[1]["--completion-wait"])
    assert pod_spec("alert-ingest-worker")["terminationGracePeriodSeconds"] > wait


# --- ports and probes ----------------------------------------------------------------------------


def test_compose_api_port_mapping_healthcheck_and_scrape_target_agree() -> None:
    for part in HTTP_PARTS:
        api = service(part)
        _, flags = command_flags(api["command"])
        port = int(flags.get("--port", compose_env(api).get(PREFIX + "PORT", API_PORT)))
        assert [str(p).split(":")[-1] for p in api["ports"]] == [str(port)]
        assert url_ports_and_paths(api["healthcheck"]["test"]) == [(port, "/health/live")]
        # /metrics is scraped on its own port, which is not published
        metrics = load_settings(compose_env(api), port=port).metrics_port
        assert metrics and metrics != port and [str(metrics)] == api["expose"]
        assert scrape_targets(f"alert-ingest-{part}") == {f"{part}:{metrics}"}


def test_compose_workers_metrics_port_healthcheck_and_scrape_targets_agree() -> None:
    targets = set()
    for name in WORKER_SERVICES:
        svc = service(name)
        _, flags = command_flags(svc["command"])
        port = int(flags.get("--metrics-port", WORKER_METRICS_PORT))
        assert url_ports_and_paths(svc["healthcheck"]["test"]) == [(port, "/health/live")]
        assert str(port) in [str(p) for p in svc.get("expose", [])]
        targets.add(f"{name}:{port}")
    assert scrape_targets("alert-ingest-worker") == targets


def scrape_targets(job: str) -> set[str]:
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    [scrape] = [s for s in config["scrape_configs"] if s["job_name"] == job]
    assert scrape.get("metrics_path", "/metrics") == "/metrics"
    return {t for static in scrape["static_configs"] for t in static["targets"]}


def test_compose_redis_uses_aof_everysec_on_a_named_volume() -> None:
    redis = service("redis")
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--appendfsync everysec" in command
    volume = next(v for v in redis["volumes"] if v.endswith(":/data"))
    assert volume.split(":")[0] in compose()["volumes"]


def test_compose_mounts_prometheus_and_grafana_config_where_they_are_read() -> None:
    mounts = {
        v.split(":")[1]: (COMPOSE_FILE.parent / v.split(":")[0]).resolve()
        for name in ("prometheus", "grafana")
        for v in service(name)["volumes"]
        if v.startswith(".")
    }
    for path in mounts.values():
        assert path.exists(), f"compose mounts missing {path}"
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    for rule_file in config["rule_files"]:
        assert rule_file in mounts
    assert mounts["/etc/prometheus/prometheus.yml"] == DEPLOY / "prometheus" / "prometheus.yml"
    provider = load_yaml(DEPLOY / "grafana/provisioning/dashboards/alert-ingest.yml")
    [dashboards_path] = [p["options"]["path"] for p in provider["providers"]]
    assert mounts[dashboards_path] == DASHBOARD.parent
    datasources = load_yaml(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")
    [source] = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert urlsplit(source["url"]).hostname == "prometheus"
    [variable] = dashboard()["templating"]["list"]
    assert variable["type"] == "datasource" and variable["current"]["value"] == source["uid"]


def test_k8s_api_ports_service_and_probes_agree() -> None:
    for part in HTTP_PARTS:
        container = only_container(f"alert-ingest-{part}")
        _, flags = command_flags(container["command"])
        configured = k8s("ConfigMap", "alert-ingest")["data"].get(PREFIX + "PORT", API_PORT)
        port = int(flags.get("--port", configured))
        assert container_port(container, "http") == port
        assert probe(container, "livenessProbe") == (port, "/health/live")
        assert probe(container, "readinessProbe") == (port, "/health/ready")
        ports = {p["name"]: p for p in k8s("Service", f"alert-ingest-{part}")["spec"]["ports"]}
        assert container_port(container, ports["http"]["targetPort"]) == port
        # /metrics on its own port: the ConfigMap's METRICS_PORT, declared, served and scraped
        metrics = int(k8s("ConfigMap", "alert-ingest")["data"][PREFIX + "METRICS_PORT"])
        assert metrics != port and container_port(container, "metrics") == metrics
        assert container_port(container, ports["metrics"]["targetPort"]) == metrics
        annotations = k8s("Deployment", f"alert-ingest-{part}")["spec"]["template"]["metadata"]
        assert annotations["annotations"]["prometheus.io/port"] == str(metrics)
    [monitor] = [d for d in k8s_docs() if d["kind"] == "ServiceMonitor"
                 and d["metadata"]["name"] == "alert-ingest-api"]  # fmt: skip
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]


def test_k8s_worker_metrics_port_service_and_probe_agree() -> None:
    container = only_container("alert-ingest-worker")
    _, flags = command_flags(container["command"])
    port = int(flags.get("--metrics-port", WORKER_METRICS_PORT))
    assert container_port(container, "metrics") == port
    assert probe(container, "livenessProbe") == (port, "/health/live")
    [svc_port] = k8s("Service", "alert-ingest-worker")["spec"]["ports"]
    assert container_port(container, svc_port["targetPort"]) == port


def probe(container: Doc, kind: str) -> tuple[int, str]:
    http = container[kind]["httpGet"]
    return container_port(container, http["port"]), str(http["path"])


def test_k8s_selectors_and_scale_targets_match_the_deployments() -> None:
    for component in (*HTTP_PARTS, "worker"):
        name = f"alert-ingest-{component}"
        deployment = k8s("Deployment", name)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert k8s("Service", name)["spec"]["selector"].items() <= labels.items()
        pdb = k8s("PodDisruptionBudget", name)["spec"]["selector"]["matchLabels"]
        assert pdb.items() <= labels.items()
        for monitor in [d for d in k8s_docs() if d["kind"] == "ServiceMonitor"]:
            if monitor["metadata"]["name"] == name:
                service_doc = k8s("Service", name)
                assert monitor["spec"]["selector"]["matchLabels"].items() <= (
                    service_doc["metadata"]["labels"].items()
                )
                port_names = {p["name"] for p in service_doc["spec"]["ports"]}
                assert {e["port"] for e in monitor["spec"]["endpoints"]} <= port_names
    for doc in k8s_docs():
        if doc["kind"] in ("HorizontalPodAutoscaler", "ScaledObject"):
            target = doc["spec"]["scaleTargetRef"]["name"]
            assert k8s("Deployment", target)


def test_keda_scales_workers_on_the_exported_queue_depth() -> None:
    scaled = k8s("ScaledObject", "alert-ingest-worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "alert-ingest-worker"
    [prometheus] = [t for t in scaled["spec"]["triggers"] if t["type"] == "prometheus"]
    assert promql_metric_names(prometheus["metadata"]["query"]) == {"alert_ingest_queue_depth"}
    assert int(prometheus["metadata"]["threshold"]) > 0


# --- metrics in the dashboard and rules ----------------------------------------------------------


def test_promql_metric_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{handler="link",x=~"y.*"}'
        "[$__rate_interval]))) / clamp_min(sum(b_total) without (instance), 1e-9) "
        "+ time() - max(c) > bool 5 and on(job) up"
    )
    assert promql_metric_names(expr) == {"a_bucket", "b_total", "c", "up"}


def test_the_exported_metric_names_include_the_core_series() -> None:
    names = exported_metric_names()
    assert {
        "alert_ingest_queue_depth",
        "alert_ingest_http_requests_total",
        "alert_ingest_http_request_duration_seconds_bucket",
        "alert_ingest_jobs_total",
        "alert_ingest_queue_wait_seconds_bucket",
    } <= names


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    exported = exported_metric_names()
    exprs = dashboard_exprs()
    assert len(exprs) >= 20
    for expr in exprs:
        used = promql_metric_names(expr)
        assert used, f"no metric in {expr!r}"
        assert used <= exported, f"{sorted(used - exported)} not exported (in {expr!r})"
        assert any(name.startswith("alert_ingest_") for name in used), expr


def test_the_dashboard_covers_what_operators_watch() -> None:
    used = set().union(*(promql_metric_names(e) for e in dashboard_exprs()))
    assert {
        "alert_ingest_alerts_accepted_total",
        "alert_ingest_http_requests_total",
        "alert_ingest_http_request_duration_seconds_bucket",
        "alert_ingest_queue_depth",
        "alert_ingest_queue_wait_seconds_bucket",
        "alert_ingest_jobs_total",
        "alert_ingest_alert_processing_seconds_bucket",
        "alert_ingest_received_to_grouped_seconds_bucket",
        "alert_ingest_alerts_total",
        "alert_ingest_template_errors_total",
        "alert_ingest_dead_letter_size",
        "alert_ingest_rate_limited_total",
        "alert_ingest_enqueue_failures_total",
        "alert_ingest_heartbeat_last_received_timestamp_seconds",
    } <= used


def test_dashboard_panels_have_unique_ids_and_use_the_datasource_variable() -> None:
    doc = dashboard()
    assert doc["uid"] == "alert-ingest"
    panels = dashboard_panels()
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]


def test_every_metric_the_alerting_rules_use_is_exported() -> None:
    exported = exported_metric_names() | {"up"}
    for expr in rule_exprs():
        used = promql_metric_names(expr)
        assert used and used <= exported, f"{sorted(used - exported)} not exported (in {expr!r})"


# --- alertmanager --------------------------------------------------------------------------------


def test_alertmanager_example_posts_every_alert_and_resolution_to_a_link() -> None:
    config = load_yaml(DEPLOY / "alertmanager" / "alertmanager.yml")
    receivers = {r["name"]: r for r in config["receivers"]}
    [webhook] = receivers[config["route"]["receiver"]]["webhook_configs"]
    url = urlsplit(webhook["url"])
    assert re.fullmatch(r"/integrations/v1/alertmanager/[^/]+/", url.path)
    assert url.hostname == "links" and url.port == API_PORT
    assert webhook["send_resolved"] is True
    assert webhook["max_alerts"] == 0


@pytest.mark.parametrize("section", ["compose", "k8s", "Sentinel", "everysec", "always"])
def test_deploy_readme_documents(section: str) -> None:
    assert section in (DEPLOY / "README.md").read_text()
