"""What the worker image runs, read from the Dockerfile itself, so tests start ``lookalike worker`` exactly as
the image would (there is no Docker daemon to build it here).

A small parser of the instructions that matter at run time (``ENV``, ``CMD``, ``HEALTHCHECK``,
``STOPSIGNAL``, ``USER``, ``WORKDIR``) in the final stage; line continuations, comments, quoted
values and ``$VAR`` / ``${VAR}`` references are handled; anything fancier is not needed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
#: Where the image keeps its virtualenv; run locally, the venv of the running Python stands in for it.
IMAGE_VENV = "/opt/venv"


@dataclass
class Stage:
    base: str
    name: str = ""
    env: dict[str, str] = field(default_factory=dict)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    healthcheck_options: dict[str, str] = field(default_factory=dict)
    stopsignal: str = ""
    user: str = ""
    workdir: str = ""
    runs: list[str] = field(default_factory=list)
    copies: list[str] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):  # comments inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        if whole:
            keyword, _, rest = whole.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    if pending.strip():
        keyword, _, rest = pending.strip().partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def _expand(value: str, env: Mapping[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return env.get(name, "")

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, value)


def _env_pairs(args: str, env: Mapping[str, str]) -> dict[str, str]:
    words = shlex.split(args)
    if words and "=" not in words[0]:  # the old form: ENV NAME value with spaces
        name, _, value = args.partition(" ")
        return {name: _expand(value.strip(), env)}
    pairs: dict[str, str] = {}
    for word in words:
        name, _, value = word.partition("=")
        pairs[name] = _expand(value, env)  # Docker expands with the values from before this instruction
    return pairs


def _command(args: str) -> list[str]:
    """Exec form (a JSON array) as is; shell form as Docker runs it."""
    if args.startswith("["):
        command = json.loads(args)
        if not (isinstance(command, list) and all(isinstance(a, str) for a in command)):
            raise ValueError(f"not an exec-form command: {args}")
        return command
    return ["/bin/sh", "-c", args]


def parse(text: str, base_env: Mapping[str, str] | None = None) -> list[Stage]:
    """Every stage of a Dockerfile; ``base_env`` stands in for the base image's environment (for ``$PATH``)."""
    base_env = dict(os.environ if base_env is None else base_env)
    stages: list[Stage] = []
    for keyword, args in instructions(text):
        if keyword == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--")]
            stages.append(Stage(base=words[0], name=words[2] if len(words) >= 3 and words[1].upper() == "AS" else ""))
            continue
        if not stages:
            continue  # ARG before the first FROM
        stage = stages[-1]
        if keyword == "ENV":
            stage.env.update(_env_pairs(args, {**base_env, **stage.env}))
        elif keyword == "CMD":
            stage.cmd = _command(args)
        elif keyword == "HEALTHCHECK":
            options: dict[str, str] = {}
            rest = args
            while rest.startswith("--"):
                option, _, rest = rest.partition(" ")
                name, _, value = option[2:].partition("=")
                options[name] = value
                rest = rest.strip()
            if rest.upper() == "NONE":
                stage.healthcheck, stage.healthcheck_options = [], {}
            else:
                keyword2, _, command = rest.partition(" ")
                if keyword2.upper() != "CMD":
                    raise ValueError(f"HEALTHCHECK without CMD: {args}")
                stage.healthcheck, stage.healthcheck_options = _command(command.strip()), options
        elif keyword == "STOPSIGNAL":
            stage.stopsignal = args
        elif keyword == "USER":
            stage.user = args
        elif keyword == "WORKDIR":
            stage.workdir = args
        elif keyword == "RUN":
            stage.runs.append(args)
        elif keyword in ("COPY", "ADD"):
            stage.copies.append(args)
    return stages


def image_stage(dockerfile_path: Path = DOCKERFILE, base_env: Mapping[str, str] | None = None) -> Stage:
    """The final stage: what the image is."""
    stages = parse(Path(dockerfile_path).read_text(), base_env)
    if not stages:
        raise ValueError(f"{dockerfile_path} has no FROM")
    return stages[-1]


def image_command_and_env(
    dockerfile_path: Path = DOCKERFILE, venv: Path | None = Path(sys.prefix)
) -> tuple[list[str], dict[str, str]]:
    """(command, environment) of the image's ``CMD``, to run as a plain process here.

    The environment is the image's ``ENV`` with this machine's ``$PATH`` behind it and, unless ``venv`` is
    None, the image's venv (``/opt/venv``) replaced by ``venv`` (default: the running Python's), so
    ``lookalike`` resolves to this checkout.  Merge it over ``os.environ`` and override what must differ
    on a shared machine (``LOOKALIKE_HOME``: the image uses ``/tmp/lookalike``).
    """
    stage = image_stage(dockerfile_path)
    env = dict(stage.env)
    if venv is not None:
        env = {name: value.replace(IMAGE_VENV, str(venv)) for name, value in env.items()}
    return list(stage.cmd), env
