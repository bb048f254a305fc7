"""podman, driven as an operator would drive compose: images, then the topology."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.containers.compose import ROOT

CONF = ROOT / "deploy" / "podman"
ENV = {
    **os.environ,
    "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(CONF / "containers.conf")),
}


@dataclass
class Done:
    code: int
    out: str
    err: str


def podman(*args: str, check: bool = True, timeout: float = 120, log: Path | None = None) -> Done:
    done = subprocess.run(
        ["podman", *args], env=ENV, capture_output=True, text=True, timeout=timeout
    )
    if log is not None:
        with log.open("a") as f:
            f.write(f"$ podman {' '.join(args)}\n{done.stdout}{done.stderr}\n")
    if check and done.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)}: exit {done.returncode}\n{done.stderr}")
    return Done(done.returncode, done.stdout, done.stderr)


def qualified(image: str) -> str:
    """A compose image name as a registry reference (Docker Hub's conventions)."""
    name, _, _ = image.partition(":")
    first = name.split("/")[0]
    if "." in first or ":" in first or first == "localhost":
        return image
    return f"docker.io/{image}" if "/" in name else f"docker.io/library/{image}"


def pulled(image: str, log: Path) -> bool:
    """The image is here, or a registry gave it to us now."""
    if podman("image", "exists", qualified(image), check=False).code == 0:
        return True
    return podman("pull", "--quiet", qualified(image), check=False, timeout=600, log=log).code == 0


# Images of docker-compose.yml that a registry cannot give here, and what stands in.
STANDIN_PREFIX = "localhost/practice-rooms-standin"
STANDINS = {
    "postgres:16": ("standin-postgres", f"{STANDIN_PREFIX}/postgres:16"),
    "axllent/mailpit:v1.29": ("standin-mailsink", f"{STANDIN_PREFIX}/mailpit:v1.29"),
}


def dockerfile_base() -> str:
    """The default of the Dockerfile's `ARG PYTHON_IMAGE`."""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("ARG PYTHON_IMAGE="):
            return line.split("=", 1)[1].strip()
    raise AssertionError("the Dockerfile has no ARG PYTHON_IMAGE")


@dataclass
class Images:
    base: str  # what the Dockerfile's FROM resolved to
    base_is_standin: bool
    resolved: dict[str, str]  # compose image name -> the image that runs


def ensure_images(
    compose_images: dict[str, str | None], log: Path, always_standin: frozenset[str] = frozenset()
) -> Images:
    """Every image the compose services name: built (ours), pulled, or stood in for.

    `compose_images` maps each image name to its build context (None: a registry's);
    `always_standin` names images replaced by their stand-in even when a pull works."""
    base, standin = dockerfile_base(), False
    if not pulled(base, log):
        base, standin = f"{STANDIN_PREFIX}/python:3.11-slim-bookworm", True
        script = CONF / "standin-base.sh"
        done = subprocess.run(
            [str(script), base], env=ENV, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, f"{script}: {done.stdout}{done.stderr}"
    resolved = {}
    for image, context in compose_images.items():
        if context is not None:
            build(image, ROOT / context, {"PYTHON_IMAGE": base}, log)
            resolved[image] = image
        elif image not in always_standin and pulled(image, log):
            resolved[image] = qualified(image)
        else:
            directory, name = STANDINS[image]
            build(name, CONF / directory, {"BASE": base}, log)
            resolved[image] = name
    return Images(base, standin, resolved)


def build(tag: str, context: Path, args: dict[str, str], log: Path) -> None:
    build_args = [f"--build-arg={key}={value}" for key, value in args.items()]
    podman("build", "--pull=never", *build_args, "-t", tag, str(context), timeout=1200, log=log)


def inspect_state(container: str) -> dict[str, object]:
    return dict(json.loads(podman("inspect", "--format", "{{json .State}}", container).out))


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.3
) -> None:
    """Polls for a positive signal, with a deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout}s")
