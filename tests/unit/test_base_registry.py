"""Choosing the newest base tag, and reading skopeo's answers (the registry itself: tests/images)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tools import base_registry
from tools.base_registry import BaseImage, RegistryError

REPO = "ghcr.io/joshsymonds/nix-config/egoengine"
NIX_EPOCH = "1970-01-01T00:00:01Z"  # dockerTools' default `created`


def image(tag: str, created: str | None, digest: str | None = None) -> BaseImage:
    return BaseImage(REPO, tag, digest or "sha256:" + tag.ljust(64, "0")[:64], base_registry.parse_created(created))


def test_created_times_are_read_with_nanoseconds_and_offsets() -> None:
    assert base_registry.parse_created("2024-04-22T06:47:18.097636186Z") == datetime(
        2024, 4, 22, 6, 47, 18, 97636, tzinfo=timezone.utc
    )
    assert base_registry.parse_created("2026-03-10T01:00:00+01:00") == datetime(2026, 3, 10, tzinfo=timezone.utc)
    assert base_registry.parse_created("") is None and base_registry.parse_created("yesterday") is None
    assert base_registry.parse_created(None) is None


def test_the_newest_created_wins_whatever_the_names() -> None:
    chosen = base_registry.newest(
        [image("fff0001", "2026-01-01T00:00:00Z"), image("0000002", "2026-03-01T00:00:00Z"),
         image("aaa0003", "2026-02-01T00:00:00Z"), image("bbb0004", None)],
        prefer_length=7,
    )
    assert chosen.tag == "0000002"


def test_one_image_under_a_short_and_a_full_sha_is_one_choice() -> None:
    digest = "sha256:" + "c" * 64
    short, full = image("3f9c2d1", "2026-03-01T00:00:00Z", digest), image("3f9c2d1" + "a" * 33, "2026-03-01T00:00:00Z", digest)
    assert base_registry.newest([full, short], prefer_length=7).tag == "3f9c2d1"
    assert base_registry.newest([short, full], prefer_length=40).tag == full.tag


def test_different_images_with_the_same_newest_time_are_refused() -> None:
    with pytest.raises(RegistryError) as raised:
        base_registry.newest([image("22bba72", NIX_EPOCH), image("3f9c2d1", NIX_EPOCH)], prefer_length=7)
    message = str(raised.value)
    assert "tags 22bba72, 3f9c2d1 are different images with the same newest 'created' time" in message
    assert "1970-01-01T00:00:01Z" in message and "--tag" in message and 'created = "now"' in message


def test_no_created_time_at_all_is_refused() -> None:
    with pytest.raises(RegistryError, match="no git-sha tag has an image config 'created' time"):
        base_registry.newest([image("22bba72", None)], prefer_length=7)


@pytest.mark.parametrize(
    ("stderr", "message"),
    [
        ('time="2026-12-01T09:12:47Z" level=fatal msg="Error parsing image name \\"docker://r/e:abc\\": '
         'reading manifest abc in r/e: manifest unknown: manifest unknown"\n',
         "reading manifest abc in r/e: manifest unknown: manifest unknown"),
        ('time="x" level=fatal msg="Error listing repository tags: fetching tags list: invalid status code"\n',
         "Error listing repository tags: fetching tags list: invalid status code"),
        ("", "no output"),
        ("plain text\n", "plain text"),
    ],
)
def test_skopeos_message_is_taken_without_its_log_wrapper(stderr: str, message: str) -> None:
    assert base_registry.skopeo_message(stderr) == message


def test_only_git_sha_shaped_tags_are_candidates() -> None:
    shaped = [tag for tag in ["latest", "22bba72", "v1.2.3", "3F9C2D1", "abc123", "a" * 40, "a" * 41, "main"]
              if base_registry.GIT_SHA_TAG.match(tag)]
    assert shaped == ["22bba72", "a" * 40]


def test_skopeo_runs_without_the_credential_variables() -> None:
    environment = base_registry.skopeo_environment(
        {"PATH": "/usr/bin", "REGISTRY_USERNAME": "builder", "REGISTRY_PASSWORD": "pw", "HOME": "/root"}
    )
    assert environment == {"PATH": "/usr/bin", "HOME": "/root"}


@pytest.mark.parametrize(
    ("reference", "message", "kind", "says"),
    [
        # The port 39401 and the sha a401bcd hold "401": only skopeo's words may decide.
        ("127.0.0.1:39401/bump/egoengine:a401bcd",
         "reading manifest a401bcd in 127.0.0.1:39401/bump/egoengine: manifest unknown: manifest unknown",
         base_registry.TagMissing, "does not exist"),
        ("127.0.0.1:39401/bump/egoengine",
         "Error listing repository tags: fetching tags list: invalid status code from registry 404 (Not Found)",
         base_registry.TagMissing, "does not exist"),
        ("127.0.0.1:39401/bump/egoengine:a401bcd",
         "reading manifest a401bcd in 127.0.0.1:39401/bump/egoengine: unauthorized: authentication required",
         RegistryError, "refused access"),
        ("ghcr.io/owner/denied-images:22bba72",
         "reading manifest 22bba72 in ghcr.io/owner/denied-images: manifest unknown",
         base_registry.TagMissing, "does not exist"),
        ("ghcr.io/owner/egoengine:22bba72", "reading manifest 22bba72 in ghcr.io/owner/egoengine: denied",
         RegistryError, "refused access"),
        ("127.0.0.1:1/egoengine",
         'pinging container registry 127.0.0.1:1: Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: '
         "connection refused", RegistryError, "cannot be reached"),
        ("ghcr.io/owner/egoengine:22bba72", "something else entirely", RegistryError, "failed: something else"),
    ],
)
def test_skopeo_failures_are_told_apart_by_skopeos_words(
    reference: str, message: str, kind: type[RegistryError], says: str
) -> None:
    error = base_registry.failure("inspect", reference, message)
    assert type(error) is kind and says in str(error) and message in str(error)
