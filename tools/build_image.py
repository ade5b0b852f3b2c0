"""Build a child image FROM the pinned egoengine base, push it under an immutable tag, check its config.

    python -m tools.build_image containerfile --name NAME --context DIR --base REPO:TAG@sha256:<hex>
        --repo REGISTRY/REPO [--tag TAG] [--env-local LINE]... [--link NAME=TARGET]...
        [--home DIR] [--insecure-registry] [--rebuild] [--config-key egoengine:images.children[0]]
    python -m tools.build_image nix --name NAME --flake DIR --attr ATTR --base ... --repo ... (same options)

The Pulumi program runs this in a ``command.local.Command`` at ``up`` only. Environment:
  ENGINE_HOST        the engine's Docker-compatible API socket, e.g. unix:///run/podman/podman.sock
  REGISTRY_USERNAME  optional registry credentials for the --repo registry (both or neither); they are
  REGISTRY_PASSWORD  written to a mode-600 auth file in a private temp dir, never on a command line or
                     in any output, and are only offered to the --repo registry's host.

containerfile: the context's non-hidden files are copied to a temp dir, the extras (~/.env.local, links
in ~/.local/bin) are appended to its Containerfile, and the engine builds it with the Docker CLI's
legacy builder (``DOCKER_HOST=$ENGINE_HOST DOCKER_BUILDKIT=0 docker build --build-arg BASE_IMAGE=...``;
Podman's compat API serves that, and pulls the base with the auth file's credentials). The built image's
config is checked against the base's *before* anything is pushed; then skopeo copies it from the engine
to ``docker://REPO:TAG`` and the pushed config is checked again.

nix: ``nix build .#ATTR --out-link TMP/result`` in the flake dir, then skopeo copies the docker-archive
to the registry (a gzip'd archive is decompressed first: skopeo 1.9 cannot read compressed ones). With
extras, the archive is first loaded into the engine and the extras are built on top of it (no intermediate
tag is published). Nix must be on PATH; the tag's inputs are the flake dir's files, the base digest, the
extras and the attribute.

An existing REPO:TAG is reused, not rebuilt (tags are immutable and derived from the inputs), unless
--rebuild is given; its config is still checked. A plain-HTTP registry must also be trusted by the engine
itself (registries.conf ``insecure = true`` for Podman) because the engine pulls the base;
--insecure-registry only affects skopeo.

stdout: one JSON line ``{"ref": "REPO:TAG@sha256:...", "tag": TAG, "digest": "sha256:..."}``.
stderr: progress, the build log, and on failure one line starting with ``build_image:``.
Exit status: 0 success, 1 build/push/inheritance failure, 2 bad input.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from components.input_error import InputError
from components.image_build import (
    CONTAINERFILE_NAME,
    ImageExtras,
    InheritanceError,
    PinnedRef,
    check_inheritance,
    config_env,
    context_entries,
    extras_containerfile_lines,
    extras_context_files,
    parse_extras,
    registry_host,
    source_tag,
    validate_containerfile_context,
    validate_flake_attr,
    validate_flake_dir,
)

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
LOCAL_NAME_PREFIX = "localhost/egoengine-build"
IMAGE_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
TAG_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# skopeo's "the tag/repository does not exist" answers (distribution, GHCR and Docker Hub wording).
_ABSENT_MARKERS = ("manifest unknown", "name unknown", "not found")


class BuildFailure(Exception):
    """An expected failure of a build step: printed as one line, no traceback."""


# ---------------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryAccess:
    """How skopeo (and the Docker CLI) reach the registries."""

    insecure: bool
    authfile: Path | None

    def inspect_options(self) -> list[str]:
        options = ["--tls-verify=false"] if self.insecure else []
        return options + (["--authfile", str(self.authfile)] if self.authfile else [])

    def dest_options(self) -> list[str]:
        options = ["--dest-tls-verify=false"] if self.insecure else []
        return options + (["--dest-authfile", str(self.authfile)] if self.authfile else [])


@dataclass(frozen=True)
class Request:
    builder: Literal["containerfile", "nix"]
    name: str
    base: PinnedRef
    repo: str
    tag: str | None
    extras: ImageExtras
    home: str | None
    insecure: bool
    rebuild: bool
    context: Path | None = None
    flake: Path | None = None
    attr: str | None = None


@dataclass(frozen=True)
class Result:
    repo: str
    tag: str
    digest: str

    def as_json(self) -> str:
        return json.dumps({"ref": f"{self.repo}:{self.tag}@{self.digest}", "tag": self.tag, "digest": self.digest})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.build_image", description=__doc__.split("\n\n")[0])
    builders = parser.add_subparsers(dest="builder", required=True)
    for builder in ("containerfile", "nix"):
        sub = builders.add_parser(builder)
        sub.add_argument("--name", required=True, help="child image name (lowercase), e.g. creative-lab")
        if builder == "containerfile":
            sub.add_argument("--context", required=True, type=Path, help="build context holding a Containerfile")
        else:
            sub.add_argument("--flake", required=True, type=Path, help="directory holding flake.nix")
            sub.add_argument("--attr", required=True, help="flake attribute: nix build .#ATTR")
        sub.add_argument("--base", required=True, help="the base image, pinned: repo:tag@sha256:<hex>")
        sub.add_argument("--repo", required=True, help="repository to push to, e.g. ghcr.io/owner/creative-lab")
        sub.add_argument("--tag", help="immutable tag (default: computed from context, base digest and extras)")
        sub.add_argument("--env-local", action="append", default=[], metavar="LINE", help="a line of ~/.env.local")
        sub.add_argument(
            "--link", action="append", default=[], metavar="NAME=TARGET", help="~/.local/bin/NAME -> TARGET"
        )
        sub.add_argument("--home", help="the base user's home (default: HOME from the base image's Env)")
        sub.add_argument("--insecure-registry", action="store_true", help="plain HTTP / unverified TLS for skopeo")
        sub.add_argument("--rebuild", action="store_true", help="build and push even when REPO:TAG exists")
        sub.add_argument("--config-key", default="", help="stack config key of this child, used in error messages")
    return parser


def _key(prefix: str, field_name: str, flag: str) -> str:
    return f"{prefix}.{field_name}" if prefix else flag


def parse_request(argv: Sequence[str]) -> Request:
    """Parse and validate the command line; InputError names the stack key (or the flag)."""
    args = _parser().parse_args(argv)
    prefix: str = args.config_key
    if not IMAGE_NAME_PATTERN.match(args.name):
        raise InputError(
            _key(prefix, "name", "--name"),
            f"{args.name!r} is not an image name",
            "lowercase letters, digits, '.', '_', '-'",
        )
    try:
        base = PinnedRef.parse(args.base)
    except ValueError as error:
        raise InputError(
            "--base", str(error).split("; ")[0], "repo:tag@sha256:<64 hex> (the pinned base image)"
        ) from None
    if "@" in args.repo or ":" in args.repo.rsplit("/", 1)[-1]:
        raise InputError(
            "--repo", f"{args.repo!r} carries a tag or digest", "a repository name without tag, e.g. ghcr.io/owner/name"
        )
    if args.tag is not None and not TAG_PATTERN.match(args.tag):
        raise InputError("--tag", f"{args.tag!r} is not a valid tag", "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
    links: dict[str, str] = {}
    for item in args.link:
        link_name, separator, target = item.partition("=")
        if not separator:
            raise InputError(_key(prefix, "links", "--link"), f"{item!r} has no '='", "NAME=/absolute/target")
        links[link_name] = target
    extras = parse_extras(args.env_local, links, prefix or f"child {args.name}")
    if args.home is not None and not args.home.startswith("/"):
        raise InputError("--home", f"{args.home!r} is not absolute", "an absolute path")
    context = flake = attr = None
    if args.builder == "containerfile":
        validate_containerfile_context(args.context, _key(prefix, "context", "--context"))
        context = args.context
    else:
        attr = validate_flake_attr(args.attr, _key(prefix, "attr", "--attr"))
        flake = validate_flake_dir(args.flake, _key(prefix, "flake", "--flake"))
    return Request(
        builder=args.builder,
        name=args.name,
        base=base,
        repo=args.repo,
        tag=args.tag,
        extras=extras,
        home=args.home,
        insecure=args.insecure_registry,
        rebuild=args.rebuild,
        context=context,
        flake=flake,
        attr=attr,
    )


def engine_host_from(environ: Mapping[str, str]) -> str:
    host = environ.get("ENGINE_HOST", "")
    if not host:
        raise InputError(
            "ENGINE_HOST", "is not set", "the engine's Docker-compatible API, e.g. unix:///run/podman/podman.sock"
        )
    if not host.startswith(("unix://", "tcp://")):
        raise InputError(
            "ENGINE_HOST", f"{host!r} is not a unix:// or tcp:// address", "e.g. unix:///run/podman/podman.sock"
        )
    return host


def credentials_from(environ: Mapping[str, str]) -> tuple[str, str] | None:
    username = environ.get("REGISTRY_USERNAME", "")
    password = environ.get("REGISTRY_PASSWORD", "")
    if bool(username) != bool(password):
        # Say which one is missing, never the value of the other.
        missing = "REGISTRY_PASSWORD" if username else "REGISTRY_USERNAME"
        raise InputError(
            missing, "is not set while its partner is", "both REGISTRY_USERNAME and REGISTRY_PASSWORD, or neither"
        )
    return (username, password) if username else None


def write_authfile(directory: Path, host: str, credentials: tuple[str, str]) -> Path:
    """A containers/Docker auth file (``{"auths": {host: {"auth": b64(user:pass)}}}``), mode 600.

    The same file serves skopeo (--authfile) and the Docker CLI (DOCKER_CONFIG=<directory>), which
    forwards it to the engine for the base image pull of the build.
    """
    token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
    hosts = [host] + (["https://index.docker.io/v1/"] if host == "docker.io" else [])
    document = {"auths": {name: {"auth": token} for name in hosts}}
    path = directory / "config.json"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(document, handle)
    return path


# ---------------------------------------------------------------------------------------------------
# Command lines (pure, so they are unit-tested without the tools installed)
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One external command of a build."""

    description: str
    argv: tuple[str, ...]
    cwd: Path | None = None


def local_image_name(name: str, tag: str, suffix: str = "") -> str:
    return f"{LOCAL_NAME_PREFIX}/{name}:{tag}{suffix}"


def docker_build_step(containerfile: Path, context: Path, base_ref: str, local_name: str) -> Step:
    argv = (
        "docker",
        "build",
        "--force-rm",
        "--file",
        str(containerfile),
        "--build-arg",
        f"BASE_IMAGE={base_ref}",
        "--tag",
        local_name,
        str(context),
    )
    return Step(f"build {local_name}", argv)


def skopeo_inspect_step(
    reference: str, access: RegistryAccess, *, config: bool = False, digest_only: bool = False
) -> Step:
    argv = ["skopeo", "inspect", *access.inspect_options()]
    if config:
        argv.append("--config")
    if digest_only:
        argv += ["--no-tags", "--format", "{{.Digest}}"]
    argv.append(f"docker://{reference}")
    return Step(f"inspect {reference}", tuple(argv))


def skopeo_push_from_engine_step(
    engine_host: str, local_name: str, destination: str, access: RegistryAccess, digestfile: Path
) -> Step:
    argv = (
        "skopeo",
        "copy",
        "--quiet",
        "--src-daemon-host",
        engine_host,
        *access.dest_options(),
        "--digestfile",
        str(digestfile),
        f"docker-daemon:{local_name}",
        f"docker://{destination}",
    )
    return Step(f"push {destination}", argv)


def nix_build_step(flake: Path, attr: str, out_link: Path) -> Step:
    argv = ("nix", "build", "--print-build-logs", f".#{attr}", "--out-link", str(out_link))
    return Step(f"nix build .#{attr}", argv, cwd=flake)


def skopeo_archive_to_registry_step(archive: Path, destination: str, access: RegistryAccess, digestfile: Path) -> Step:
    argv = (
        "skopeo",
        "copy",
        "--quiet",
        *access.dest_options(),
        "--digestfile",
        str(digestfile),
        f"docker-archive:{archive}",
        f"docker://{destination}",
    )
    return Step(f"push {destination}", argv)


def skopeo_archive_to_engine_step(archive: Path, engine_host: str, local_name: str) -> Step:
    argv = (
        "skopeo",
        "copy",
        "--quiet",
        "--dest-daemon-host",
        engine_host,
        f"docker-archive:{archive}",
        f"docker-daemon:{local_name}",
    )
    return Step(f"load {local_name}", argv)


def nix_archive_copy_step(
    archive: Path,
    destination: str,
    access: RegistryAccess,
    digestfile: Path,
    engine_host: str,
    local_name: str,
    with_extras: bool,
) -> Step:
    """The archive goes straight to the registry, or (with extras to build on top) into the engine."""
    if with_extras:
        return skopeo_archive_to_engine_step(archive, engine_host, local_name)
    return skopeo_archive_to_registry_step(archive, destination, access, digestfile)


def uncompressed_archive(archive: Path, workdir: Path) -> Path:
    """The archive itself, or a decompressed copy when it is gzip'd.

    dockerTools.buildLayeredImage writes a gzip'd docker-archive by default, and skopeo 1.9 (Debian 12)
    fails to read compressed docker-archives ("archive/tar: invalid tar header"), so decompress first.
    """
    with archive.open("rb") as handle:
        if handle.read(2) != b"\x1f\x8b":
            return archive
    target = workdir / "image.tar"
    with gzip.open(archive, "rb") as source, target.open("wb") as sink:
        shutil.copyfileobj(source, sink, length=1 << 20)
    return target


def containerfile_with_extras(original: str, user: str, home: str, extras: ImageExtras) -> str:
    lines = extras_containerfile_lines(user, home, extras)
    if not lines:
        return original
    return original.rstrip("\n") + "\n" + "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------
# Running commands
# ---------------------------------------------------------------------------------------------------


def _progress(message: str) -> None:
    print(f"build_image: {message}", file=sys.stderr, flush=True)


def _tool_message(stderr: str) -> str:
    """skopeo/docker's own error, one line: the ``msg="..."`` of a logrus line, else the last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "no error output"
    last = lines[-1]
    found = re.search(r'msg="((?:[^"\\]|\\.)*)"', last)
    return found.group(1).replace('\\"', '"') if found else last


def run_captured(step: Step, env: Mapping[str, str]) -> str:
    try:
        completed = subprocess.run(step.argv, cwd=step.cwd, env=dict(env), capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BuildFailure(f"{step.description}: `{step.argv[0]}` is not installed or not on PATH") from None
    if completed.returncode != 0:
        raise BuildFailure(f"{step.description} failed: {_tool_message(completed.stderr)}")
    return completed.stdout


def run_streamed(step: Step, env: Mapping[str, str]) -> None:
    """Run with the tool's output shown on our stderr (stdout stays for the one JSON line)."""
    _progress(step.description)
    tail: deque[str] = deque(maxlen=1)
    try:
        with subprocess.Popen(
            step.argv, cwd=step.cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                sys.stderr.write(line)
                if line.strip():
                    tail.append(line.strip())
            returncode = process.wait()
    except FileNotFoundError:
        raise BuildFailure(f"{step.description}: `{step.argv[0]}` is not installed or not on PATH") from None
    sys.stderr.flush()
    if returncode != 0:
        last = tail[0] if tail else "no output"
        raise BuildFailure(f"{step.description} failed (exit {returncode}): {last}")


# ---------------------------------------------------------------------------------------------------
# The build
# ---------------------------------------------------------------------------------------------------


class Builder:
    """One build of one child image, in a private temporary directory."""

    def __init__(self, request: Request, engine_host: str | None, credentials: tuple[str, str] | None, workdir: Path):
        self.request = request
        self.engine_host = engine_host
        self.workdir = workdir
        authfile = write_authfile(workdir, registry_host(request.repo), credentials) if credentials else None
        self.access = RegistryAccess(request.insecure, authfile)
        self.env = dict(os.environ)
        # DOCKER_CONTEXT would override DOCKER_HOST; the engine is the one ENGINE_HOST names.
        self.env.pop("DOCKER_CONTEXT", None)
        self.env.update({"DOCKER_BUILDKIT": "0", "DOCKER_CLI_HINTS": "false"})
        if engine_host:
            self.env["DOCKER_HOST"] = engine_host
        if authfile:
            self.env["DOCKER_CONFIG"] = str(workdir)
        self.local_images: list[str] = []

    # -- registry ---------------------------------------------------------------------------------

    def image_config(self, reference: str) -> dict[str, Any]:
        document = json.loads(run_captured(skopeo_inspect_step(reference, self.access, config=True), self.env))
        return document.get("config") or {}

    def existing_digest(self, reference: str) -> str | None:
        step = skopeo_inspect_step(reference, self.access, digest_only=True)
        completed = subprocess.run(step.argv, env=self.env, capture_output=True, text=True, check=False)
        if completed.returncode == 0:
            return completed.stdout.strip()
        message = _tool_message(completed.stderr)
        if any(marker in message.lower() for marker in _ABSENT_MARKERS):
            return None
        raise BuildFailure(f"{step.description} failed: {message}")

    # -- engine -----------------------------------------------------------------------------------

    def require_engine(self) -> str:
        if not self.engine_host:
            raise InputError(
                "ENGINE_HOST", "is not set", "the engine's Docker-compatible API, e.g. unix:///run/podman/podman.sock"
            )
        return self.engine_host

    def engine_config(self, local_name: str) -> dict[str, Any]:
        step = Step(f"inspect {local_name}", ("docker", "image", "inspect", "--format", "{{json .Config}}", local_name))
        return json.loads(run_captured(step, self.env) or "null") or {}

    def remove_local_images(self) -> None:
        for local_name in self.local_images:
            # Best effort: a leftover local tag costs disk space, not correctness.
            subprocess.run(("docker", "image", "rm", local_name), env=self.env, capture_output=True, check=False)
        self.local_images.clear()

    def build_on_engine(
        self, context: Path, containerfile_text: str, base_ref: str, local_name: str, base_config: dict[str, Any]
    ) -> None:
        """Build a prepared context with the extras appended; fail before pushing if config changed."""
        request = self.request
        user = str(base_config.get("User") or "")
        home = request.home or config_env(base_config, "HOME")
        if not request.extras.is_empty and not home:
            raise InputError(
                "--home", "the base image's Env has no HOME", "--home with the base user's home directory"
            )
        for relative, content in extras_context_files(request.extras).items():
            target = context / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        containerfile = context / CONTAINERFILE_NAME
        containerfile.write_text(
            containerfile_with_extras(containerfile_text, user, home or "", request.extras), encoding="utf-8"
        )
        self.local_images.append(local_name)
        run_streamed(docker_build_step(containerfile, context, base_ref, local_name), self.env)
        check_inheritance(request.name, base_config, self.engine_config(local_name))

    def push_from_engine(self, local_name: str, destination: str) -> str:
        digestfile = self.workdir / "digest"
        _progress(f"push {destination}")
        run_captured(
            skopeo_push_from_engine_step(self.require_engine(), local_name, destination, self.access, digestfile),
            self.env,
        )
        return digestfile.read_text().strip()

    # -- builders ---------------------------------------------------------------------------------

    def tag(self) -> str:
        request = self.request
        if request.tag:
            return request.tag
        source = request.context if request.builder == "containerfile" else request.flake
        assert source is not None
        return source_tag(request.builder, source, request.base.digest, request.extras, attr=request.attr)

    def run(self) -> Result:
        request = self.request
        tag = self.tag()
        destination = f"{request.repo}:{tag}"
        base_config = self.image_config(request.base.by_digest)
        digest = None if request.rebuild else self.existing_digest(destination)
        if digest:
            _progress(f"{destination} exists ({digest}); tags are immutable, reusing it")
        else:
            try:
                digest = (
                    self.build_containerfile(destination, tag, base_config)
                    if request.builder == "containerfile"
                    else self.build_nix(destination, tag, base_config)
                )
            finally:
                self.remove_local_images()
        # The pushed (or reused) image is what consumers get: check its config as the registry has it.
        check_inheritance(request.name, base_config, self.image_config(f"{request.repo}@{digest}"))
        return Result(request.repo, tag, digest)

    def build_containerfile(self, destination: str, tag: str, base_config: dict[str, Any]) -> str:
        request = self.request
        assert request.context is not None
        self.require_engine()
        context = self.workdir / "context"
        copy_context(request.context, context)
        original = (request.context / CONTAINERFILE_NAME).read_text(encoding="utf-8")
        local_name = local_image_name(request.name, tag)
        self.build_on_engine(context, original, str(request.base), local_name, base_config)
        return self.push_from_engine(local_name, destination)

    def build_nix(self, destination: str, tag: str, base_config: dict[str, Any]) -> str:
        request = self.request
        assert request.flake is not None and request.attr is not None
        with_extras = not request.extras.is_empty
        engine_host = self.require_engine() if with_extras else (self.engine_host or "")
        nix_local = local_image_name(request.name, tag, "-nix")
        out_link = self.workdir / "result"
        run_streamed(nix_build_step(request.flake.resolve(), request.attr, out_link), self.env)
        archive = uncompressed_archive(out_link, self.workdir)
        digestfile = self.workdir / "digest"
        copy = nix_archive_copy_step(archive, destination, self.access, digestfile, engine_host, nix_local, with_extras)
        _progress(copy.description)
        if not with_extras:
            run_captured(copy, self.env)
            return digestfile.read_text().strip()
        self.local_images.append(nix_local)
        run_captured(copy, self.env)
        context = self.workdir / "context"
        context.mkdir()
        stub = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
        local_name = local_image_name(request.name, tag)
        self.build_on_engine(context, stub, nix_local, local_name, base_config)
        return self.push_from_engine(local_name, destination)


def copy_context(source: Path, destination: Path) -> None:
    """Copy exactly the entries context_digest hashes (hidden files are left out)."""
    destination.mkdir(parents=True)
    for entry in context_entries(source):
        origin, target = source / entry.relative_path, destination / entry.relative_path
        if entry.kind == "dir":
            target.mkdir()
        elif entry.kind == "symlink":
            os.symlink(os.readlink(origin), target)
        else:
            shutil.copy2(origin, target)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Pulumi cancels a command with SIGTERM: unwind so the temp dir (and its auth file) is removed.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        request = parse_request(sys.argv[1:] if argv is None else argv)
        credentials = credentials_from(os.environ)
        engine_host = (
            engine_host_from(os.environ)
            if (request.builder == "containerfile" or not request.extras.is_empty)
            else os.environ.get("ENGINE_HOST") or None
        )
        with tempfile.TemporaryDirectory(prefix="egoengine-build-") as workdir:
            result = Builder(request, engine_host, credentials, Path(workdir)).run()
    except InputError as error:
        print(f"build_image: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (BuildFailure, InheritanceError) as error:
        print(f"build_image: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except (OSError, json.JSONDecodeError) as error:
        print(f"build_image: {error.__class__.__name__}: {error}", file=sys.stderr)
        return EXIT_FAILURE
    print(result.as_json(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
