"""The README, ``docs/`` and ``deploy/README.md`` say only what works: their relative links and
anchors exist, every ``alert-ingest`` command they show parses, and every benchmark they name
answers ``--help`` with the flags they use.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from alert_ingest.cli import parser

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "deploy" / "README.md"]
FENCE = re.compile(r"^ *```.*?^ *```", re.S | re.M)


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to dashes, repeats -1, -2."""
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}\s+(.+)$", FENCE.sub("", page.read_text()), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        seen[slug] = seen.get(slug, -1) + 1
        if seen[slug]:
            seen[f"{slug}-{seen[slug]}"] = 0
    return set(seen)


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_relative_links_and_anchors_exist(page: Path) -> None:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", FENCE.sub("", page.read_text())):
        if re.match(r"[a-z][a-z+.-]*:", target):
            continue  # http:, mailto: ...
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and anchor not in _anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {_name(linked)}")
    assert not broken, f"{_name(page)}: {broken}"


def _shell_lines(page: Path) -> list[str]:
    """The lines of a page's ``sh`` blocks, continuation lines joined, comments dropped."""
    lines = []
    for block in re.findall(r"^ *```sh\n(.*?)^ *```", page.read_text(), re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s#.*$", "", line).strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def _cli_commands() -> list[tuple[str, str]]:
    """(page, argv after ``alert-ingest``) for each command shown, placeholders filled in."""
    commands = []
    for page in PAGES:
        for line in _shell_lines(page):
            match = re.search(
                r"(?:^|[\s/])alert-ingest ((?:api|worker|dev|migrate|tokens|dlq|import)\b.*)", line
            )
            if match:
                # `[--dry-run]` is an option shown as optional; `[ALERT_ID]` an optional argument
                argv = re.sub(r"\[(--[\w-]+)\]", r"\1", match.group(1))
                commands.append((_name(page), re.sub(r"\s\[[A-Z_]+\]", "", argv)))
    return commands


def test_every_documented_command_line_parses() -> None:
    commands = _cli_commands()
    # the README's command-line section alone shows a dozen; finding none means the scan broke
    assert len(commands) >= 12, commands
    refused = []
    for page, argv in commands:
        try:
            parser().parse_args(shlex.split(argv))
        except SystemExit:
            refused.append(f"{page}: alert-ingest {argv}")
    assert not refused, refused


def _bench_mentions() -> dict[str, set[str]]:
    """Each ``bench/<name>`` the pages name, with the flags written right after it."""
    flags: dict[str, set[str]] = {}
    for page in PAGES:
        for name, rest in re.findall(
            r"bench/(\w+)(?:\.py)?((?: +\[?--[\w-]+(?: +[\w.,]+)?\]?)*)", page.read_text()
        ):
            if (ROOT / "bench" / f"{name}.py").exists():
                flags.setdefault(name, set()).update(re.findall(r"--[\w-]+", rest))
    return flags


def test_documented_benchmarks_answer_help_with_their_flags() -> None:
    mentions = _bench_mentions()
    assert {"ingest", "pipeline", "queries", "templates"} <= set(mentions), mentions
    for name, flags in sorted(mentions.items()):
        wrapper = ROOT / "bench" / name
        argv = [str(wrapper)] if wrapper.exists() else [sys.executable, f"bench/{name}.py"]
        done = subprocess.run(
            [*argv, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (name, done.stderr[-2000:])
        assert done.stdout.startswith("usage:"), (name, done.stdout[:500])
        missing = sorted(flag for flag in flags if flag not in done.stdout)
        assert not missing, f"bench/{name} --help lacks {missing}"


def test_deploy_readme_alertmanager_example_is_the_shipped_one() -> None:
    text = (ROOT / "deploy" / "README.md").read_text()
    [block] = re.findall(r"^## Alertmanager\n.*?^```yaml\n(.*?)^```", text, re.S | re.M)
    [shown] = yaml.safe_load(block)["receivers"]
    shipped_file = yaml.safe_load(
        (ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text()
    )
    shipped = {r["name"]: r for r in shipped_file["receivers"]}[shown["name"]]
    for config, shipped_config in zip(
        shown["webhook_configs"], shipped["webhook_configs"], strict=True
    ):
        assert {key: shipped_config.get(key) for key in config} == config


def _links_services() -> set[str]:
    """``host:port`` of every shipped service whose process runs ``--serve links``."""
    out: set[str] = set()
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        command = service.get("command") or []
        if "--serve" in command and command[command.index("--serve") + 1] == "links":
            out.add(f"{name}:{command[command.index('--port') + 1]}")
    k8s = ROOT / "deploy" / "k8s"
    components = set()
    for path in k8s.glob("*-deployment.yaml"):
        deployment = yaml.safe_load(path.read_text())
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        if container["command"][2:4] == ["--serve", "links"]:
            components.add(
                deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
            )
    for path in k8s.glob("*-service.yaml"):
        service = yaml.safe_load(path.read_text())
        if service["spec"]["selector"].get("app.kubernetes.io/component") in components:
            ports = [p["port"] for p in service["spec"]["ports"] if p["name"] == "http"]
            out.update(f"{service['metadata']['name']}:{port}" for port in ports)
    return out


def test_oncall_switch_sends_senders_to_the_process_that_serves_links() -> None:
    links = _links_services()
    assert {"links:8080", "alert-ingest-links:8080"} <= links
    page = (ROOT / "docs" / "import-oncall.md").read_text()
    switch = page[page.index("## The switch") :]
    targets = re.findall(r"https?://([a-z0-9.-]+:\d+)", switch)
    assert targets and set(targets) <= links, targets
    readme = (ROOT / "README.md").read_text()
    moving = readme[readme.index("## Moving from Grafana OnCall") :]
    moving = moving[: moving.index("\n## ", 1)]
    named = set(re.findall(r"`([a-z0-9.-]+:\d+)`", moving))
    assert named and named <= links, named
    for text in (switch, moving):
        assert "ALERT_INGEST_LINKS_BASE_URL" in text
