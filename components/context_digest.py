"""The digest of a child image's build context: streamed, with a per-file digest cache.

The digest is one definition, shared by the program (plan time) and ``tools/build_image.py`` (up):
``sha256:<hex>`` over, for every entry of ``context_entries`` in path order, the length-prefixed
relative path and kind, then a symlink's target, or a file's executable flag and bytes (each field
prefixed with its length as 8 big-endian bytes, so no two different contexts give one byte stream).

Files are read in chunks, so memory stays flat whatever their size. A sha256 over the concatenation
cannot be assembled from per-file digests, so the cache (``components/cache.py``) works in steps:

1. Per-file digests (sha256 of the bytes) are kept keyed by relative path, size, ``mtime_ns``,
   inode and ``ctime_ns``. A file whose key differs, or that changed within the last
   ``RACY_SECONDS`` (a second write in the same clock tick would not show in its key), is read
   again. A rewrite that restores the old mtime still changes ``ctime``, which no program can set.
2. The context digest is kept with a *manifest*: a sha256 over each entry's path, kind, link target,
   executable flag and per-file digest, i.e. over everything the context digest depends on. When
   the manifest is unchanged, so is the digest, and only the files whose key changed were read.
   Otherwise every file is streamed again.
3. The fast path: a sha256 over every entry's path, kind, link target and key, taken during the
   scan and kept when no file was inside the racy window. The same value now, with no file inside the window, means every file
   has the key its cached digest was taken under, so the cached digest stands without reading the
   per-file records.

The cache is only a shortcut: missing, corrupt or unreadable, the digest is computed in full.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from array import array
from pathlib import Path
from typing import Any, Literal, NamedTuple

from components.cache import cache_dir, read_json, write_json

EntryKind = Literal["dir", "file", "symlink"]
CHUNK_BYTES = 1 << 20
RACY_SECONDS = 2
CACHE_FORMAT = 1
_ATTEMPTS = 3


class ContextEntry(NamedTuple):
    """One entry of a build context, by its POSIX path relative to the context root."""

    relative_path: str
    kind: EntryKind
    executable: bool = False


class _Scanned(NamedTuple):
    relative_path: str
    kind: EntryKind
    executable: bool
    link: str
    """Symlinks: the target."""
    key: tuple[int, int, int, int] | None
    """Files: (size, mtime_ns, inode, ctime_ns) from lstat."""
    changed_ns: int
    """Files: the later of mtime and ctime."""


def _file_key(status: os.stat_result) -> tuple[int, int, int, int]:
    return (status.st_size, status.st_mtime_ns, status.st_ino, status.st_ctime_ns)


class _Scan(NamedTuple):
    entries: list[_Scanned]
    """Sorted by relative path (empty when not collected)."""
    stats: str
    """sha256 over every entry's path, kind, link target, mode and file key, in the order the
    directories listed them (an unchanged directory lists the same order; a different order only
    misses the fast path)."""
    latest_change_ns: int
    """The latest mtime or ctime of any file."""


_DIR, _SYMLINK = 1 << 62, 1 << 61  # in the place of a file's mode: no mode has these bits


def _scan(directory: Path | str, *, collect: bool = True) -> _Scan:
    """Walk ``directory``: its fast-path value always, its entries if ``collect`` (the fast path
    needs only the former, so it skips building and sorting them)."""
    root = os.fspath(directory)
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{root}: not a directory")
    found: list[_Scanned] = []
    names: list[str] = []
    numbers = array("Q")  # mode (or _DIR/_SYMLINK), size, inode per entry
    times = array("q")  # mtime_ns, ctime_ns per file (before 1970: negative)
    add_numbers, add_times = numbers.extend, times.extend
    pending = [("", root)]
    while pending:
        prefix, current = pending.pop()
        with os.scandir(current) as scan:
            for item in scan:
                name = item.name
                if name[0] == ".":
                    continue
                relative = prefix + name
                names.append(relative)
                if item.is_file(follow_symlinks=False):
                    status = item.stat(follow_symlinks=False)
                    add_numbers((status.st_mode, status.st_size, status.st_ino))
                    add_times((status.st_mtime_ns, status.st_ctime_ns))
                    if collect:
                        mtime, ctime = status.st_mtime_ns, status.st_ctime_ns
                        key = (status.st_size, mtime, status.st_ino, ctime)
                        executable = bool(status.st_mode & stat.S_IXUSR)
                        found.append(_Scanned(relative, "file", executable, "", key, max(mtime, ctime)))
                elif item.is_symlink():
                    target = os.readlink(item.path)
                    names.append(target)
                    add_numbers((_SYMLINK, 0, 0))
                    if collect:
                        found.append(_Scanned(relative, "symlink", False, target, None, 0))
                elif item.is_dir(follow_symlinks=False):
                    add_numbers((_DIR, 0, 0))
                    pending.append((relative + "/", item.path))
                    if collect:
                        found.append(_Scanned(relative, "dir", False, "", None, 0))
                else:
                    raise ValueError(f"{item.path}: not a regular file, directory or symlink")
    found.sort()  # by relative path: paths are unique, so later fields never decide
    stats = hashlib.sha256("\0".join(names).encode(errors="surrogateescape") + b"\0\0")
    stats.update(numbers.tobytes())
    stats.update(times.tobytes())
    return _Scan(found, stats.hexdigest(), max(times, default=0))


def context_entries(directory: Path | str) -> list[ContextEntry]:
    """Every non-hidden directory, regular file and symlink under ``directory``, sorted by path.

    Hidden entries (``.git``, editor files, ``.dockerignore``) are skipped, and a hidden directory is
    not entered. The builder copies exactly these entries, so what is hashed is what is built.
    Symlinks are recorded as links (never followed), as a container build copies them.
    """
    return [ContextEntry(item.relative_path, item.kind, item.executable) for item in _scan(directory).entries]


class _ChangedWhileHashing(Exception):
    pass


def _put(hasher: Any, data: bytes) -> None:
    hasher.update(len(data).to_bytes(8, "big"))
    hasher.update(data)


def _stream(root: str, scanned: list[_Scanned], known: dict[str, str]) -> tuple[str, dict[str, str], set[str]]:
    """One pass over every byte: the context digest, every file's digest (read alongside unless
    ``known``), and the files whose bytes were not the ones the scan saw (not to be cached)."""
    hasher = hashlib.sha256()
    digests: dict[str, str] = {}
    moved: set[str] = set()
    view = memoryview(bytearray(CHUNK_BYTES))
    for entry in scanned:
        _put(hasher, entry.relative_path.encode())
        _put(hasher, entry.kind.encode())
        if entry.kind == "symlink":
            _put(hasher, entry.link.encode())
        elif entry.kind == "file":
            _put(hasher, b"x" if entry.executable else b"-")
            path = os.path.join(root, entry.relative_path)
            with open(path, "rb", buffering=0) as handle:
                status = os.fstat(handle.fileno())
                if _file_key(status) != entry.key:
                    moved.add(entry.relative_path)
                cached = known.get(entry.relative_path) if entry.relative_path not in moved else None
                file_hasher = hashlib.sha256() if cached is None else None
                remaining = status.st_size
                hasher.update(remaining.to_bytes(8, "big"))
                while remaining:
                    count = handle.readinto(view[: min(CHUNK_BYTES, remaining)])
                    if not count:
                        raise _ChangedWhileHashing(path)  # shorter than its length prefix
                    hasher.update(view[:count])
                    if file_hasher is not None:
                        file_hasher.update(view[:count])
                    remaining -= count
                if handle.readinto(view[:1]):
                    raise _ChangedWhileHashing(path)  # grew while it was read
            digests[entry.relative_path] = file_hasher.hexdigest() if file_hasher is not None else str(cached)
    return "sha256:" + hasher.hexdigest(), digests, moved


def _file_digest(path: str) -> str:
    hasher = hashlib.sha256()
    view = memoryview(bytearray(CHUNK_BYTES))
    with open(path, "rb", buffering=0) as handle:
        while count := handle.readinto(view):
            hasher.update(view[:count])
    return hasher.hexdigest()


def _manifest(scanned: list[_Scanned], digests: dict[str, str]) -> str:
    """sha256 over every entry's path, kind and content (link target, or executable flag and file
    digest), NUL-separated: neither a path nor a link target can hold a NUL, so it is unambiguous."""
    fields: list[str] = []
    for entry in scanned:
        if entry.kind == "file":
            fields += (entry.relative_path, "x" if entry.executable else "-", digests[entry.relative_path])
        else:
            fields += (entry.relative_path, entry.kind, entry.link)
    return hashlib.sha256("\0".join(fields).encode(errors="surrogateescape")).hexdigest()


def cache_files(root: str) -> tuple[Path, Path]:
    """The cache of one context directory (by its absolute path): a small head (digest, manifest,
    fast-path value) and the per-file records, apart so the fast path does not parse the records."""
    name = hashlib.sha256(os.fsencode(root)).hexdigest()[:32]
    directory = cache_dir() / "context-digests"
    return directory / f"{name}.json", directory / f"{name}.files.json"


def _check(root: str, stats: str, manifest: str, digest: str) -> str:
    return hashlib.sha256(f"{root}\n{stats}\n{manifest}\n{digest}".encode(errors="surrogateescape")).hexdigest()


def _read_head(path: Path, root: str) -> tuple[str, str, str]:
    """(fast-path value, manifest, digest) of an intact head for ``root``, else empty strings."""
    head = read_json(path)
    if not isinstance(head, dict) or head.get("format") != CACHE_FORMAT or head.get("root") != root:
        return "", "", ""
    stats, manifest, digest = head.get("stats"), head.get("manifest"), head.get("digest")
    if not (isinstance(stats, str) and isinstance(manifest, str) and isinstance(digest, str)):
        return "", "", ""
    if head.get("check") != _check(root, stats, manifest, digest):
        return "", "", ""  # the answer taken on trust must be whole
    return stats, manifest, digest


def _read_files(path: Path, root: str) -> dict[str, Any]:
    document = read_json(path)
    if not isinstance(document, dict) or document.get("format") != CACHE_FORMAT or document.get("root") != root:
        return {}
    files = document.get("files")
    return files if isinstance(files, dict) else {}


def context_digest(directory: Path | str, *, use_cache: bool = True) -> str:
    """``sha256:<hex>`` of a build context (definition in the module docstring)."""
    for attempt in range(_ATTEMPTS):
        try:
            return _context_digest(os.path.abspath(directory), use_cache)
        except _ChangedWhileHashing as changed:
            if attempt == _ATTEMPTS - 1:
                raise ValueError(f"{changed}: changed while it was being hashed; try again") from None
    raise AssertionError("unreachable")


def _context_digest(root: str, use_cache: bool) -> str:
    if not use_cache:
        return _stream(root, _scan(root).entries, {})[0]
    racy_after = time.time_ns() - RACY_SECONDS * 1_000_000_000
    head_path, files_path = cache_files(root)
    cached_stats, cached_manifest, cached_digest = _read_head(head_path, root)
    if cached_stats:
        # Fast path: every file has the key it had when the digest was cached, none changed lately.
        quick = _scan(root, collect=False)
        if quick.latest_change_ns <= racy_after and quick.stats == cached_stats:
            return cached_digest
    scan = _scan(root)
    scanned = scan.entries
    stats = scan.stats if scan.latest_change_ns <= racy_after else ""
    files = [entry for entry in scanned if entry.key is not None]
    settled = [entry for entry in files if entry.changed_ns <= racy_after]

    records = _read_files(files_path, root)
    known: dict[str, str] = {}
    for entry in settled:
        record = records.get(entry.relative_path)
        if type(record) is list and len(record) == 5 and tuple(record[:4]) == entry.key and type(record[4]) is str:
            known[entry.relative_path] = record[4]

    def save(digests: dict[str, str], manifest: str, digest: str, moved: set[str] | None = None) -> None:
        keep = [entry for entry in settled if not moved or entry.relative_path not in moved]
        fast = stats if len(keep) == len(files) else ""
        kept = {entry.relative_path: [*(entry.key or ()), digests[entry.relative_path]] for entry in keep}
        if kept != records:  # while files are inside the racy window, nothing new is learnt
            write_json(files_path, {"format": CACHE_FORMAT, "root": root, "files": kept})
        if (fast, manifest, digest) != (cached_stats, cached_manifest, cached_digest):
            head = {"format": CACHE_FORMAT, "root": root, "stats": fast, "manifest": manifest, "digest": digest}
            write_json(head_path, {**head, "check": _check(root, fast, manifest, digest)})

    if cached_manifest:
        # Read only the files whose key changed: if their bytes did not, neither did the digest.
        rehashed = {
            entry.relative_path: known.get(entry.relative_path)
            or _file_digest(os.path.join(root, entry.relative_path))
            for entry in files
        }
        if _manifest(scanned, rehashed) == cached_manifest:
            save(rehashed, cached_manifest, cached_digest)
            return cached_digest
    digest, digests, moved = _stream(root, scanned, known)
    save(digests, _manifest(scanned, digests), digest, moved)
    return digest
