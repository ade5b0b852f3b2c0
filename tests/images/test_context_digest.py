"""The streamed, cached context digest keeps the tag's definition and never trusts a stale cache."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
import tracemalloc
from pathlib import Path, PurePosixPath

import pytest

from components import context_digest as digest_module
from components.context_digest import CHUNK_BYTES, cache_files, context_digest
from components.image_build import ImageExtras, child_tag

BASE_DIGEST = "sha256:" + "a" * 64
EXTRAS = ImageExtras(('export PATH="$PATH:/opt/lab/bin"',), {"lab": "/opt/lab/bin/lab"})


def reference_digest(directory: Path) -> str:
    """The definition before streaming and caching (commit 9150151), verbatim: the oracle."""
    root = Path(directory)
    entries: list[tuple[str, str, bool]] = []
    pending = [root]
    while pending:
        current = pending.pop()
        with os.scandir(current) as scan:
            for item in scan:
                if item.name.startswith("."):
                    continue
                relative = PurePosixPath(Path(item.path).relative_to(root)).as_posix()
                if item.is_symlink():
                    entries.append((relative, "symlink", False))
                elif item.is_dir(follow_symlinks=False):
                    entries.append((relative, "dir", False))
                    pending.append(Path(item.path))
                else:
                    mode = item.stat(follow_symlinks=False).st_mode
                    entries.append((relative, "file", bool(mode & stat.S_IXUSR)))
    entries.sort(key=lambda entry: entry[0])
    hasher = hashlib.sha256()

    def put(data: bytes) -> None:
        hasher.update(len(data).to_bytes(8, "big"))
        hasher.update(data)

    for relative, kind, executable in entries:
        put(relative.encode())
        put(kind.encode())
        absolute = root / relative
        if kind == "symlink":
            put(os.readlink(absolute).encode())
        elif kind == "file":
            put(b"x" if executable else b"-")
            put(absolute.read_bytes())
    return "sha256:" + hasher.hexdigest()


@pytest.fixture()
def context(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "bin").mkdir(parents=True)
    (root / "deep" / "er" / "est").mkdir(parents=True)
    (root / "Containerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    (root / "bin" / "lab").write_text("#!/bin/sh\necho lab\n")
    (root / "bin" / "lab").chmod(0o755)
    (root / "empty").write_bytes(b"")
    (root / "deep" / "er" / "est" / "naïve file.txt").write_text("ünïcode\n")
    (root / "big.bin").write_bytes(os.urandom(2 * CHUNK_BYTES + 12345))  # several chunks, a tail
    (root / "link").symlink_to("bin/lab")
    (root / "dangling").symlink_to("/nowhere")
    (root / ".hidden").write_text("left out")
    (root / "a-b").write_text("sorts before a/b in byte order")
    return root


@pytest.fixture()
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock 10 s ahead: files written by the test are past the racy window, so the cache is used."""
    real = time.time_ns
    monkeypatch.setattr(digest_module.time, "time_ns", lambda: real() + 10_000_000_000)


def rewrite_same_size_same_mtime(path: Path, content: bytes) -> None:
    """Replace the bytes in place (same inode, same size) and put the old mtime back, as a tool that
    preserves timestamps would; only ctime, which no program can set, tells the change."""
    before = path.stat()
    assert len(content) == before.st_size
    while True:
        with open(path, "r+b") as handle:
            handle.write(content)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = path.stat()
        if after.st_ctime_ns != before.st_ctime_ns:
            break
        time.sleep(0.005)  # same coarse clock tick as the first write: what the racy window covers
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)


def test_new_digest_and_tag_equal_the_old_definition(context: Path, settled: None) -> None:
    expected = reference_digest(context)
    assert context_digest(context, use_cache=False) == expected
    assert context_digest(context) == expected  # cold cache
    assert context_digest(context) == expected  # warm cache
    assert child_tag(context_digest(context), BASE_DIGEST, EXTRAS) == child_tag(expected, BASE_DIGEST, EXTRAS)


def test_a_warm_cache_reads_no_file(context: Path, settled: None, monkeypatch: pytest.MonkeyPatch) -> None:
    first = context_digest(context)
    opened: list[str] = []
    monkeypatch.setattr(digest_module, "open", lambda path, *a, **k: opened.append(path), raising=False)
    assert context_digest(context) == first
    assert opened == []


@pytest.mark.parametrize(
    "change",
    ["same-size rewrite, mtime restored", "append", "new file", "delete", "chmod +x", "retarget link", "rename"],
)
def test_every_content_change_changes_the_digest_through_a_warm_cache(
    context: Path, settled: None, change: str
) -> None:
    before = context_digest(context)
    assert context_digest(context) == before  # the cache is warm
    target = context / "bin" / "lab"
    if change == "same-size rewrite, mtime restored":
        rewrite_same_size_same_mtime(target, target.read_bytes().replace(b"lab", b"LAB"))
    elif change == "append":
        with open(context / "big.bin", "ab") as handle:
            handle.write(b"!")
    elif change == "new file":
        (context / "deep" / "new").write_text("x")
    elif change == "delete":
        (context / "empty").unlink()
    elif change == "chmod +x":
        (context / "Containerfile").chmod(0o755)
    elif change == "retarget link":
        (context / "link").unlink()
        (context / "link").symlink_to("bin/other")
    else:
        target.rename(context / "bin" / "lab2")
    after = context_digest(context)
    assert after != before
    assert after == reference_digest(context)


def test_a_touch_without_a_content_change_keeps_the_digest_and_reads_only_that_file(
    context: Path, settled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = context_digest(context)
    os.utime(context / "bin" / "lab", ns=(1, 1))
    real_open = open
    opened: list[str] = []

    def counting_open(path: str, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        opened.append(os.path.relpath(path, context))
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(digest_module, "open", counting_open, raising=False)
    assert context_digest(context) == before
    assert opened == ["bin/lab"]


def test_a_recently_modified_file_is_rehashed_even_when_its_key_looks_unchanged(
    context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rewrite in the same clock tick leaves size, mtime, inode and ctime as they were: only the
    racy window catches it. Simulated by recording the new key beside the old digests."""
    real = time.time_ns
    offset = [10_000_000_000]
    monkeypatch.setattr(digest_module.time, "time_ns", lambda: real() + offset[0])
    before = context_digest(context)  # every file past the window: all of them cached
    head_path, files_path = cache_files(str(context))
    stale_head, stale_files = head_path.read_text(), json.loads(files_path.read_text())
    target = context / "bin" / "lab"
    old_bytes = target.read_bytes()
    target.write_bytes(old_bytes.replace(b"lab", b"LAB"))

    def forge_same_tick_cache() -> None:
        status = target.stat()
        document = json.loads(json.dumps(stale_files))
        document["files"]["bin/lab"] = [
            status.st_size, status.st_mtime_ns, status.st_ino, status.st_ctime_ns,
            hashlib.sha256(old_bytes).hexdigest(),
        ]
        files_path.write_text(json.dumps(document))
        head_path.write_text(stale_head)

    forge_same_tick_cache()
    offset[0] = 1_000_000_000  # one second after the rewrite: inside the window
    assert context_digest(context) == reference_digest(context) != before
    forge_same_tick_cache()
    offset[0] = 10_000_000_000  # outside the window the key is trusted: the reason for the window
    assert context_digest(context) == before


def corrupt(path: Path, corruption: str, context: Path) -> None:
    text = path.read_text()
    if corruption == "garbage bytes":
        path.write_bytes(os.urandom(512))
    elif corruption == "truncated":
        path.write_text(text[: len(text) // 2])
    elif corruption == "wrong shape":
        path.write_text(json.dumps([1, 2, 3]))
    elif corruption == "wrong types":
        path.write_text(json.dumps({"format": 1, "root": str(context), "files": 7, "manifest": 1, "stats": []}))
    elif corruption == "bad digests":
        document = json.loads(text)
        if "files" in document:
            document["files"] = {name: record[:4] + ["zz"] for name, record in document["files"].items()}
        else:
            document["digest"] = "sha256:" + "0" * 64
        path.write_text(json.dumps(document))
    elif corruption == "a directory":
        path.unlink()
        path.mkdir()


@pytest.mark.parametrize(
    "corruption",
    ["garbage bytes", "truncated", "wrong shape", "wrong types", "bad digests", "a directory", "unwritable dir"],
)
def test_a_corrupt_or_unreadable_cache_falls_back_to_full_hashing(
    context: Path, settled: None, corruption: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = reference_digest(context)
    assert context_digest(context) == expected
    for path in cache_files(str(context)):
        corrupt(path, corruption, context)
    if corruption == "unwritable dir":
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("")
        monkeypatch.setenv("EGOENGINE_CACHE_DIR", str(blocker))
    assert context_digest(context) == expected
    assert context_digest(context) == expected


def test_files_are_hashed_in_chunks(tmp_path: Path) -> None:
    root = tmp_path / "large"
    root.mkdir()
    with open(root / "blob", "wb") as handle:
        for _ in range(32):
            handle.write(os.urandom(CHUNK_BYTES))
    tracemalloc.start()
    try:
        context_digest(root, use_cache=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * CHUNK_BYTES  # the old read_bytes() held all 32 MiB at once


def test_a_file_that_shrinks_while_it_is_read_is_not_hashed_short(
    context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fstat = os.fstat

    def stale_fstat(descriptor: int) -> os.stat_result:
        status = real_fstat(descriptor)
        fields = list(status)
        fields[stat.ST_SIZE] += 1  # the scan saw one byte more than the file now holds
        return os.stat_result(fields)

    monkeypatch.setattr(digest_module.os, "fstat", stale_fstat)
    with pytest.raises(ValueError, match="changed while it was being hashed"):
        context_digest(context, use_cache=False)
