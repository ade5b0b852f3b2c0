"""Read-only look-ups of the egoengine base image in its registry, with skopeo.

Nothing here writes to a registry: ``skopeo inspect`` (digest and image config ``Created``) and
``skopeo list-tags``. Credentials come from the environment (``REGISTRY_USERNAME`` and
``REGISTRY_PASSWORD``, both or neither) and reach skopeo only through a mode-600 auth file in a
private temporary directory, never on a command line; without them skopeo uses its usual auth files
(a public base needs none).

``Digest`` in ``skopeo inspect`` is the digest of the top-level manifest (skopeo's
docs/skopeo-inspect.1.md), the same value ``docker.get_registry_image`` resolves at preview.
Images are addressed as ``repo:tag`` or ``repo@digest``: skopeo 1.9 rejects ``repo:tag@digest``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from components.image_build import registry_host

GIT_SHA_TAG: Final = re.compile(r"^[0-9a-f]{7,40}$")
"""A tag shaped like a git commit sha (short or full): the only tags --newest considers."""
SKOPEO_TIMEOUT_SECONDS: Final = 120
PARALLEL_INSPECTIONS: Final = 4
CREDENTIAL_VARIABLES: Final = ("REGISTRY_USERNAME", "REGISTRY_PASSWORD")
# skopeo's wording (distribution, GHCR, Docker Hub); matched on the message with the registry host
# and repository path blanked out, so a port such as 39401 or a repository name cannot match.
_ABSENT: Final = ("manifest unknown", "name unknown", "not found")
_DENIED: Final = ("unauthorized", "authentication required", "denied", "forbidden")
_UNREACHABLE: Final = (
    "connection refused", "no such host", "i/o timeout", "network is unreachable", "timeout",
    "tls: ", "server gave http response to https client", "pinging container registry",
)


class RegistryError(Exception):
    """A look-up that failed: the message is one line for the operator (no credential in it)."""


class TagMissing(RegistryError):
    """The tag does not exist in the repository."""


@dataclass(frozen=True)
class BaseImage:
    """One tag of the base repository, resolved."""

    repository: str
    tag: str
    digest: str
    created: datetime | None

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}@{self.digest}"

    @property
    def created_text(self) -> str:
        return self.created.isoformat().replace("+00:00", "Z") if self.created else "unknown"


def parse_created(text: Any) -> datetime | None:
    """An image config's RFC 3339 ``created`` (nanoseconds allowed), or None when absent or malformed."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def skopeo_message(stderr: str) -> str:
    """skopeo's own message: the last line, without logrus' ``time=... level=fatal msg=`` wrapper."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else "no output"
    match = re.search(r'msg="(?P<msg>(?:[^"\\]|\\.)*)"', line)
    message = match["msg"].replace('\\"', '"') if match else line
    # skopeo wraps every failure of `inspect` in the image name it was given; the name is known.
    return re.sub(r'^Error parsing image name "[^"]*": ', "", message)


def skopeo_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """skopeo's environment: the caller's, without the credentials (they are in the auth file)."""
    return {key: value for key, value in environ.items() if key not in CREDENTIAL_VARIABLES}


def failure(command: str, reference: str, message: str) -> RegistryError:
    """The operator's one line for skopeo's ``message`` about ``reference`` (``repo[:tag|@digest]``)."""
    host = registry_host(reference)
    path = re.split(r"[:@]", reference.removeprefix(f"{host}/"), maxsplit=1)[0]
    lowered = message.lower().replace(host.lower(), " ").replace(path.lower(), " ")
    if any(marker in lowered for marker in _DENIED):
        return RegistryError(
            f"registry {host} refused access to {reference.split('@')[0]}: {message} "
            "(credentials: REGISTRY_USERNAME and REGISTRY_PASSWORD)"
        )
    if any(marker in lowered for marker in _UNREACHABLE):
        return RegistryError(f"registry {host} cannot be reached: {message}")
    if any(marker in lowered for marker in _ABSENT):
        return TagMissing(f"{reference} does not exist: {message}")
    return RegistryError(f"skopeo {command} docker://{reference} failed: {message}")


@dataclass(frozen=True)
class Skopeo:
    """How skopeo reaches the base registry."""

    insecure: bool = False
    authfile: Path | None = None

    def _options(self) -> list[str]:
        options = ["--tls-verify=false"] if self.insecure else []
        return options + (["--authfile", str(self.authfile)] if self.authfile else [])

    def run(self, command: str, reference: str, *extra: str) -> str:
        argv = ["skopeo", command, *self._options(), *extra, f"docker://{reference}"]
        try:
            completed = subprocess.run(
                argv, env=skopeo_environment(os.environ), capture_output=True, text=True,
                timeout=SKOPEO_TIMEOUT_SECONDS, check=False,
            )
        except FileNotFoundError:
            raise RegistryError("skopeo is not installed; the bump tool resolves tags with it") from None
        except subprocess.TimeoutExpired:
            raise RegistryError(
                f"registry {registry_host(reference)} did not answer within {SKOPEO_TIMEOUT_SECONDS}s"
            ) from None
        if completed.returncode != 0:
            raise failure(command, reference, skopeo_message(completed.stderr))
        return completed.stdout

    def inspect(self, repository: str, tag: str) -> BaseImage:
        """Digest (top-level manifest) and config ``Created`` of ``repository:tag``, in one request."""
        document = json.loads(self.run("inspect", f"{repository}:{tag}", "--no-tags"))
        return BaseImage(repository, tag, str(document["Digest"]), parse_created(document.get("Created")))

    def tags(self, repository: str) -> list[str]:
        document = json.loads(self.run("list-tags", repository))
        return [str(tag) for tag in document.get("Tags") or []]


def resolve_tag(skopeo: Skopeo, repository: str, sha: str) -> BaseImage:
    """The image of ``sha``: its exact tag, or the one sha-shaped tag that is a prefix of a longer sha.

    The base CI tags ``git rev-parse --short HEAD``; a caller that only has the full sha (a
    ``workflow_run`` event) still finds that tag.
    """
    try:
        return skopeo.inspect(repository, sha)
    except TagMissing:
        candidates = [tag for tag in skopeo.tags(repository) if GIT_SHA_TAG.match(tag) and sha.startswith(tag)]
        if len(candidates) == 1:
            return skopeo.inspect(repository, candidates[0])
        detail = f"; tags {', '.join(sorted(candidates))} all match it" if candidates else ""
        raise TagMissing(f"tag {sha} does not exist in {repository}{detail}") from None


def newest(images: Iterable[BaseImage], prefer_length: int) -> BaseImage:
    """The image with the newest config ``created``.

    Tags of one commit in two lengths (same digest) are one image: the tag as long as the stack's
    current one wins. Different images with the same newest time cannot be ordered: RegistryError.
    """
    dated = [image for image in images if image.created is not None]
    if not dated:
        raise RegistryError("no git-sha tag has an image config 'created' time to order by; pass --tag")
    latest = max(image.created for image in dated if image.created is not None)
    tied = [image for image in dated if image.created == latest]
    if len({image.digest for image in tied}) > 1:
        names = ", ".join(sorted(image.tag for image in tied))
        raise RegistryError(
            f"tags {names} are different images with the same newest 'created' time "
            f"{tied[0].created_text}; pass --tag (a Nix-built base keeps dockerTools' fixed "
            "1970-01-01T00:00:01Z unless it sets created = \"now\")"
        )
    return min(tied, key=lambda image: (len(image.tag) != prefer_length, len(image.tag), image.tag))


def resolve_newest(skopeo: Skopeo, repository: str, prefer_length: int) -> BaseImage:
    """The newest of the repository's git-sha tags (``latest`` and other names ignored)."""
    sha_tags = sorted(tag for tag in skopeo.tags(repository) if GIT_SHA_TAG.match(tag))
    if not sha_tags:
        raise RegistryError(f"{repository} has no git-sha tags (7-40 lowercase hex) to choose from")
    with ThreadPoolExecutor(max_workers=PARALLEL_INSPECTIONS) as pool:
        images: Sequence[BaseImage] = list(pool.map(lambda tag: skopeo.inspect(repository, tag), sha_tags))
    return newest(images, prefer_length)
