"""A stateful fake Coder server for tests: a real HTTP server on 127.0.0.1 (a free port).

It follows the documented API (``/work/shared/reference/coder-api.md`` sections 2-4 and Coder's
handlers) strictly enough that a client bug shows up as an error, not as a silent success:

- every ``/api/v2`` call except build info, ``/users/first`` and ``/users/login`` needs a valid
  ``Coder-Session-Token`` (401 otherwise);
- ``POST /files`` needs ``Content-Type: application/x-tar`` and a *ustar* archive (PAX and GNU
  headers are refused with 400);
- token lifetimes are integers of nanoseconds, capped for the Owner like
  ``CODER_MAX_ADMIN_TOKEN_LIFETIME`` (400 "lifetime must be less than ...");
- a second first user is refused (409), a duplicate token name too (409);
- import jobs go pending -> running -> succeeded/failed over successive GETs; a version whose
  ``.tf`` files contain :data:`FAIL_MARKER` fails with log lines, and a Terraform ``variable``
  without a default and without a value fails like ``REQUIRED_TEMPLATE_VARIABLES``;
- a template PATCH treats its body as the full settings set (a missing TTL resets to 0, as the
  real handler does), and returns 304 when nothing changed;
- deleting a template with workspaces is refused with Coder's 400 message;
- an expired key is refused (401), and a password change (``PUT /users/{user}/password``)
  deletes all of the user's API keys, as coderd's ``putUserPassword`` does
  (``tx.DeleteAPIKeysByUserID``).

Test hooks: :attr:`FakeCoder.healthy`, :attr:`FakeCoder.unavailable_requests`,
:meth:`FakeCoder.set_workspace_count`, :meth:`FakeCoder.add_first_user`, and the records
:attr:`FakeCoder.writes` (POST/PATCH/DELETE other than login), :attr:`FakeCoder.logins` and
:attr:`FakeCoder.requests` (everything); :attr:`FakeCoder.sessions` counts the session keys
password logins created. Changes "in the UI": :meth:`FakeCoder.ui_delete_template`,
:meth:`FakeCoder.ui_activate_version`, :meth:`FakeCoder.ui_set_display_name`,
:meth:`FakeCoder.ui_change_password`, :meth:`FakeCoder.ui_delete_token`,
:meth:`FakeCoder.expire_token`.
"""

from __future__ import annotations

import functools
import io
import json
import re
import secrets
import socket
import string
import tarfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import hcl2

FAIL_MARKER = "FAKE_CODER_IMPORT_FAILS"
"""Put this string in a template's ``.tf`` file to make its import job fail."""

FAILURE_LOG_LINES = tuple(f"Error: fake terraform failure line {n}" for n in range(1, 31))

_TOKEN_ALPHABET = string.ascii_letters + string.digits
_NAME = re.compile(r"^[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*$")


class _Reply(Exception):  # noqa: N818 - a reply, not an error
    """Raised by a route to answer with ``status`` and a JSON (or empty) body."""

    def __init__(self, status: int, body: Any = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _error(status: int, message: str, detail: str = "", **extra: Any) -> _Reply:
    body: dict[str, Any] = {"message": message}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return _Reply(status, body)


def go_duration(value: timedelta) -> str:
    """Go's ``time.Duration.String()`` for whole seconds, e.g. ``168h0m0s``."""
    total = int(value.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes}m{seconds}s"


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class FakeUser:
    id: str
    email: str
    username: str
    name: str
    password: str


@dataclass
class FakeKey:
    id: str
    secret: str
    user_id: str
    login_type: str  # "password" (session) or "token"
    token_name: str
    lifetime_seconds: int
    expires_at: str
    valid: bool = True

    @property
    def key(self) -> str:
        return f"{self.id}-{self.secret}"


@dataclass
class FakeJob:
    script: list[str]  # statuses shown on the following GETs; the last one sticks
    error: str = ""
    error_code: str = ""
    final_logs: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    status: str = "pending"

    def advance(self) -> None:
        if self.script:
            self.status = self.script.pop(0)
        if self.status == "running" and not self.logs:
            self.logs.append("Setting up")
        if self.status in ("succeeded", "failed") and self.final_logs:
            self.logs.extend(self.final_logs)
            self.final_logs = []


@dataclass
class FakeVersion:
    id: str
    organization_id: str
    template_id: str | None
    file_id: str
    tags: dict[str, str]
    variables: dict[str, str]
    message: str
    job: FakeJob


@dataclass
class FakeTemplate:
    id: str
    organization_id: str
    name: str
    active_version_id: str
    display_name: str
    description: str
    icon: str
    settings: dict[str, Any] = field(
        default_factory=lambda: {
            "default_ttl_ms": 0,
            "activity_bump_ms": 3600000,
            "allow_user_autostart": True,
            "allow_user_autostop": True,
            "allow_user_cancel_workspace_jobs": False,
            "failure_ttl_ms": 0,
            "time_til_dormant_ms": 0,
            "time_til_dormant_autodelete_ms": 0,
            "require_active_version": False,
        }
    )
    deleted: bool = False


class FakeCoder:
    """The fake's state and routes. Start with :meth:`start`, stop with :meth:`stop`."""

    def __init__(
        self,
        *,
        owner_token_cap: timedelta = timedelta(hours=168),
        polls_pending: int = 1,
        polls_running: int = 1,
        version: str = "v2.26.6",
    ) -> None:
        self.owner_token_cap = owner_token_cap
        self.polls_pending = polls_pending
        self.polls_running = polls_running
        self.version = version
        self.healthy = True
        self.unavailable_requests = 0
        """The next N ``/api/v2`` requests get 503, as from a proxy while Coder starts."""
        self.organization_id = str(uuid.uuid4())
        self.users: list[FakeUser] = []
        self.keys: dict[str, FakeKey] = {}
        self.files: dict[str, tuple[str, bytes]] = {}  # id -> (uploader, bytes)
        self.versions: dict[str, FakeVersion] = {}
        self.templates: dict[str, FakeTemplate] = {}
        self.workspace_counts: dict[str, int] = {}  # template name -> count
        self.writes: list[tuple[str, str]] = []
        self.logins = 0
        self.sessions_created = 0
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Any], bool]] = []
        self._add_routes()

    # -- server lifecycle ------------------------------------------------------------------------

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            # As Coder (Go's net/http) answers: HTTP/1.1 keep-alive, Nagle off. An HTTP/1.0
            # connection per request costs ~2 ms here; keep-alive with Nagle on, ~40 ms.
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_PATCH(self) -> None:
                fake._handle(self, "PATCH")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    # -- test hooks ------------------------------------------------------------------------------

    def add_first_user(self, *, email: str, username: str, password: str) -> FakeUser:
        with self._lock:
            return self._create_user(email, username, "", password)

    def set_workspace_count(self, template_name: str, count: int) -> None:
        with self._lock:
            self.workspace_counts[template_name] = count

    def template(self, name: str) -> FakeTemplate | None:
        return next((t for t in self.templates.values() if t.name == name and not t.deleted), None)

    def versions_of(self, template_name: str) -> list[FakeVersion]:
        template = self.template(template_name)
        if template is None:
            return []
        return [v for v in self.versions.values() if v.template_id == template.id]

    def tokens(self) -> list[FakeKey]:
        return [k for k in self.keys.values() if k.login_type == "token" and k.valid]

    def invalidate_token(self, token_name: str) -> None:
        """Make a minted token stop working (as if it expired)."""
        with self._lock:
            for key in self.keys.values():
                if key.token_name == token_name:
                    key.valid = False

    @property
    def sessions(self) -> int:
        """Session keys made by password logins so far (each login makes one)."""
        return self.sessions_created

    def ui_delete_template(self, name: str) -> None:
        with self._lock:
            template = self.template(name)
            assert template is not None, name
            template.deleted = True

    def ui_activate_version(self, name: str, version_id: str) -> None:
        with self._lock:
            template = self.template(name)
            assert template is not None, name
            template.active_version_id = version_id

    def ui_set_display_name(self, name: str, display_name: str) -> None:
        with self._lock:
            template = self.template(name)
            assert template is not None, name
            template.display_name = display_name

    def ui_change_password(self, email: str, password: str) -> None:
        """Like ``PUT /users/{user}/password``: the user's API keys are all deleted."""
        with self._lock:
            user = next(u for u in self.users if u.email == email)
            user.password = password
            for key_id in [k.id for k in self.keys.values() if k.user_id == user.id]:
                del self.keys[key_id]

    def ui_delete_token(self, token_name: str) -> None:
        with self._lock:
            for key_id in [k.id for k in self.keys.values() if k.token_name == token_name]:
                del self.keys[key_id]

    def expire_token(self, token_name: str, *, in_: timedelta = timedelta(0)) -> None:
        """Move a token's expiry to now + ``in_`` (0 or negative: expired now)."""
        with self._lock:
            for key in self.keys.values():
                if key.token_name == token_name:
                    key.expires_at = (datetime.now(UTC) + in_).isoformat()

    def reset_records(self) -> None:
        with self._lock:
            self.writes.clear()
            self.requests.clear()
            self.logins = 0
            self.sessions_created = 0

    # -- request handling ------------------------------------------------------------------------

    def _add_routes(self) -> None:
        route = self._routes.append
        route(("GET", re.compile(r"/healthz"), self._healthz, False))
        route(("GET", re.compile(r"/api/v2/buildinfo"), self._buildinfo, False))
        route(("GET", re.compile(r"/api/v2/users/first"), self._get_first_user, False))
        route(("POST", re.compile(r"/api/v2/users/first"), self._post_first_user, False))
        route(("POST", re.compile(r"/api/v2/users/login"), self._login, False))
        route(("GET", re.compile(r"/api/v2/users/me"), self._me, True))
        route(
            ("PUT", re.compile(r"/api/v2/users/(?P<who>[^/]+)/password"), self._put_password, True)
        )
        route(("GET", re.compile(r"/api/v2/users/me/organizations"), self._my_orgs, True))
        route(("GET", re.compile(r"/api/v2/organizations"), self._my_orgs, True))
        route(("POST", re.compile(r"/api/v2/users/me/keys/tokens"), self._post_token, True))
        route(
            (
                "GET",
                re.compile(r"/api/v2/users/me/keys/tokens/(?P<name>[^/]+)"),
                self._get_token,
                True,
            )
        )
        route(
            (
                "DELETE",
                re.compile(r"/api/v2/users/me/keys/(?P<key_id>[^/]+)"),
                self._delete_key,
                True,
            )
        )
        route(("POST", re.compile(r"/api/v2/files"), self._post_file, True))
        route(
            (
                "POST",
                re.compile(r"/api/v2/organizations/(?P<org>[^/]+)/templateversions"),
                self._post_version,
                True,
            )
        )
        route(
            ("GET", re.compile(r"/api/v2/templateversions/(?P<vid>[^/]+)"), self._get_version, True)
        )
        route(
            (
                "GET",
                re.compile(r"/api/v2/templateversions/(?P<vid>[^/]+)/logs"),
                self._get_logs,
                True,
            )
        )
        route(
            (
                "GET",
                re.compile(r"/api/v2/organizations/(?P<org>[^/]+)/templates/(?P<name>[^/]+)"),
                self._get_template_by_name,
                True,
            )
        )
        route(
            (
                "POST",
                re.compile(r"/api/v2/organizations/(?P<org>[^/]+)/templates"),
                self._post_template,
                True,
            )
        )
        route(("GET", re.compile(r"/api/v2/templates/(?P<tid>[^/]+)"), self._get_template, True))
        route(
            ("PATCH", re.compile(r"/api/v2/templates/(?P<tid>[^/]+)"), self._patch_template, True)
        )
        route(
            ("PATCH", re.compile(r"/api/v2/templates/(?P<tid>[^/]+)/versions"), self._promote, True)
        )
        route(
            ("DELETE", re.compile(r"/api/v2/templates/(?P<tid>[^/]+)"), self._delete_template, True)
        )
        route(("GET", re.compile(r"/api/v2/workspaces"), self._workspaces, True))

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        path = parts.path
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append((method, path))
            try:
                status, payload = self._dispatch(method, path, parts.query, handler.headers, body)
            except _Reply as reply:
                status, payload = reply.status, reply.body
        if isinstance(payload, str):
            data, content_type = payload.encode(), "text/plain; charset=utf-8"
        elif payload is None or status in (204, 304):
            data, content_type = b"", "application/json"
        else:
            data, content_type = json.dumps(payload).encode(), "application/json"
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if data:
            handler.wfile.write(data)

    def _dispatch(
        self, method: str, path: str, query: str, headers: Any, body: bytes
    ) -> tuple[int, Any]:
        if path.startswith("/api/v2") and self.unavailable_requests > 0:
            self.unavailable_requests -= 1
            raise _Reply(503, "Service Unavailable")
        for route_method, pattern, action, needs_auth in self._routes:
            match = pattern.fullmatch(path)
            if route_method != method or match is None:
                continue
            user = self._authenticate(headers) if needs_auth else None
            if method != "GET" and path != "/api/v2/users/login":
                self.writes.append((method, path))
            params = {key: unquote(value) for key, value in match.groupdict().items()}
            return action(user=user, body=body, headers=headers, query=parse_qs(query), **params)
        raise _error(404, "Route not found.")

    def _authenticate(self, headers: Any) -> FakeUser:
        token = headers.get("Coder-Session-Token")
        if not token:
            raise _error(
                401,
                'Cookie "coder_session_token" or query parameter must be provided.',
            )
        key_id, _, secret = token.partition("-")
        key = self.keys.get(key_id)
        if key is None or not secrets.compare_digest(key.secret, secret) or not key.valid:
            raise _error(401, "API key is invalid.")
        if datetime.fromisoformat(key.expires_at) <= datetime.now(UTC):
            raise _error(401, f"API key expired at {key.expires_at}.")
        return next(u for u in self.users if u.id == key.user_id)

    @staticmethod
    def _json(body: bytes) -> dict[str, Any]:
        try:
            value = json.loads(body or b"null")
        except ValueError:
            raise _error(400, "Request body must be valid JSON.") from None
        if not isinstance(value, dict):
            raise _error(400, "Request body must be valid JSON.")
        return value

    def _new_key(
        self, user: FakeUser, *, login_type: str, token_name: str, lifetime: timedelta
    ) -> FakeKey:
        key = FakeKey(
            id="".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(10)),
            secret="".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(22)),
            user_id=user.id,
            login_type=login_type,
            token_name=token_name,
            lifetime_seconds=int(lifetime.total_seconds()),
            expires_at=(datetime.now(UTC) + lifetime).isoformat(),
        )
        self.keys[key.id] = key
        return key

    def _create_user(self, email: str, username: str, name: str, password: str) -> FakeUser:
        user = FakeUser(str(uuid.uuid4()), email, username, name, password)
        self.users.append(user)
        return user

    def _user_json(self, user: FakeUser) -> dict[str, Any]:
        return {
            "id": user.id,
            "username": user.username,
            "email": user.email,
            "name": user.name,
            "status": "active",
            "organization_ids": [self.organization_id],
            # The first user is an Owner.
            "roles": [{"name": "owner", "display_name": "Owner"}],
        }

    # -- health and users ------------------------------------------------------------------------

    def _healthz(self, **_: Any) -> tuple[int, Any]:
        return (200, "OK") if self.healthy else (503, "database unreachable")

    def _buildinfo(self, **_: Any) -> tuple[int, Any]:
        return 200, {"version": self.version, "external_url": "https://github.com/coder/coder"}

    def _get_first_user(self, **_: Any) -> tuple[int, Any]:
        if self.users:
            return 200, {"message": "The initial user has already been created!"}
        return 404, {"message": "The initial user has not been created!"}

    def _post_first_user(self, body: bytes, **_: Any) -> tuple[int, Any]:
        request = self._json(body)
        if self.users:
            raise _error(409, "The initial user has already been created.")
        missing = [key for key in ("email", "username", "password") if not request.get(key)]
        if missing:
            raise _error(
                400,
                "Validation failed.",
                validations=[
                    {"field": key, "detail": 'Validation failed for tag "required"'}
                    for key in missing
                ],
            )
        if not _NAME.match(str(request["username"])):
            raise _error(
                400, "Validation failed.", validations=[{"field": "username", "detail": "invalid"}]
            )
        user = self._create_user(
            str(request["email"]),
            str(request["username"]),
            str(request.get("name", "")),
            str(request["password"]),
        )
        return 201, {"user_id": user.id, "organization_id": self.organization_id}

    def _login(self, body: bytes, **_: Any) -> tuple[int, Any]:
        request = self._json(body)
        self.logins += 1
        user = next((u for u in self.users if u.email == request.get("email")), None)
        if user is None or not secrets.compare_digest(
            user.password, str(request.get("password", ""))
        ):
            raise _error(401, "Incorrect email or password.")
        key = self._new_key(
            user, login_type="password", token_name="", lifetime=timedelta(hours=24)
        )
        self.sessions_created += 1
        return 201, {"session_token": key.key}

    def _me(self, user: FakeUser, **_: Any) -> tuple[int, Any]:
        return 200, self._user_json(user)

    def _put_password(self, user: FakeUser, who: str, body: bytes, **_: Any) -> tuple[int, Any]:
        if who not in ("me", user.id, user.username):
            raise _error(404, "Resource not found or you do not have access to this resource")
        request = self._json(body)
        if not request.get("password"):
            raise _error(400, "Validation failed.", validations=[{"field": "password"}])
        user.password = str(request["password"])
        for key_id in [k.id for k in self.keys.values() if k.user_id == user.id]:
            del self.keys[key_id]
        return 204, None

    def _my_orgs(self, **_: Any) -> tuple[int, Any]:
        return 200, [
            {
                "id": self.organization_id,
                "name": "coder",
                "display_name": "Coder",
                "is_default": True,
            }
        ]

    # -- tokens ----------------------------------------------------------------------------------

    def _post_token(self, user: FakeUser, body: bytes, **_: Any) -> tuple[int, Any]:
        request = self._json(body)
        lifetime_ns = request.get("lifetime", 0)
        if isinstance(lifetime_ns, bool) or not isinstance(lifetime_ns, int):
            # Go's json decoder refuses a string or float for a time.Duration.
            raise _error(
                400, "Request body must be valid JSON.", "lifetime: not an integer of nanoseconds"
            )
        lifetime = timedelta(microseconds=lifetime_ns // 1000) if lifetime_ns else timedelta(days=7)
        if lifetime <= timedelta(0):
            raise _error(
                400,
                "Failed to validate create API key request.",
                "lifetime must be positive number greater than 0",
            )
        if lifetime > self.owner_token_cap:
            raise _error(
                400,
                "Failed to validate create API key request.",
                f"lifetime must be less than {go_duration(self.owner_token_cap)}",
            )
        name = str(request.get("token_name") or "random-name")
        if any(
            k.token_name == name and k.user_id == user.id and k.login_type == "token"
            for k in self.keys.values()
        ):
            raise _error(
                409,
                f'A token with name "{name}" already exists.',
                validations=[
                    {
                        "field": "name",
                        "detail": "This value is already in use and should be unique.",
                    }
                ],
            )
        key = self._new_key(user, login_type="token", token_name=name, lifetime=lifetime)
        return 201, {"key": key.key}

    def _get_token(self, user: FakeUser, name: str, **_: Any) -> tuple[int, Any]:
        key = next(
            (
                k
                for k in self.keys.values()
                if k.token_name == name and k.user_id == user.id and k.login_type == "token"
            ),
            None,
        )
        if key is None:
            raise _error(404, "Resource not found or you do not have access to this resource")
        return 200, {
            "id": key.id,
            "user_id": key.user_id,
            "token_name": key.token_name,
            "login_type": "token",
            "lifetime_seconds": key.lifetime_seconds,
            "expires_at": key.expires_at,
        }

    def _delete_key(self, user: FakeUser, key_id: str, **_: Any) -> tuple[int, Any]:
        key = self.keys.get(key_id)
        if key is None or key.user_id != user.id:
            raise _error(404, "Resource not found or you do not have access to this resource")
        del self.keys[key_id]
        return 204, None

    # -- files and versions ----------------------------------------------------------------------

    def _post_file(self, user: FakeUser, body: bytes, headers: Any, **_: Any) -> tuple[int, Any]:
        content_type = headers.get("Content-Type", "")
        if content_type not in ("application/x-tar", "application/zip"):
            raise _error(400, f'Unsupported content type header "{content_type}".')
        _check_ustar(body)
        for file_id, (uploader, data) in self.files.items():
            if uploader == user.id and data == body:
                return 200, {"hash": file_id}
        file_id = str(uuid.uuid4())
        self.files[file_id] = (user.id, body)
        return 201, {"hash": file_id}

    def _post_version(self, org: str, body: bytes, **_: Any) -> tuple[int, Any]:
        if org != self.organization_id:
            raise _error(404, "Resource not found or you do not have access to this resource")
        request = self._json(body)
        if request.get("storage_method") != "file":
            raise _error(
                400,
                "Validation failed.",
                validations=[{"field": "storage_method", "detail": "must be file"}],
            )
        if request.get("provisioner") != "terraform":
            raise _error(
                400,
                "Validation failed.",
                validations=[{"field": "provisioner", "detail": "must be terraform"}],
            )
        file_id = request.get("file_id")
        if file_id not in self.files:
            raise _error(
                400, "File not found.", validations=[{"field": "file_id", "detail": "unknown"}]
            )
        template_id = request.get("template_id")
        if template_id is not None and (
            template_id not in self.templates or self.templates[template_id].deleted
        ):
            raise _error(404, f"Template with id {template_id} not found.")
        tags = request.get("tags") or {}
        values = request.get("user_variable_values") or []
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise _error(400, "Request body must be valid JSON.", "tags: map of strings")
        if not isinstance(values, list) or not all(
            isinstance(v, dict)
            and set(v) == {"name", "value"}
            and all(isinstance(x, str) for x in v.values())
            for v in values
        ):
            raise _error(
                400, "Request body must be valid JSON.", "user_variable_values: [{name, value}]"
            )
        variables = {v["name"]: v["value"] for v in values}
        job = self._plan_job(self.files[file_id][1], variables)
        version = FakeVersion(
            id=str(uuid.uuid4()),
            organization_id=org,
            template_id=template_id,
            file_id=file_id,
            tags=dict(tags),
            variables=variables,
            message=str(request.get("message", "")),
            job=job,
        )
        self.versions[version.id] = version
        return 201, self._version_json(version)

    def _plan_job(self, archive: bytes, variables: dict[str, str]) -> FakeJob:
        script = ["pending"] * self.polls_pending + ["running"] * self.polls_running
        sources = _terraform_sources(archive)
        if any(FAIL_MARKER in text for text in sources.values()):
            # Terraform may print variable values; the client must mask the sensitive ones.
            echoed = ", ".join(f"{name}={value}" for name, value in sorted(variables.items()))
            return FakeJob(
                script=[*script, "failed"],
                error="terraform plan: exit status 1",
                final_logs=[*FAILURE_LOG_LINES, f"Error: planned with {echoed}"],
            )
        missing = sorted(set(_required_variables(sources)) - set(variables))
        if missing:
            return FakeJob(
                script=[*script, "failed"],
                error=f"required template variables need values: {', '.join(missing)}",
                error_code="REQUIRED_TEMPLATE_VARIABLES",
                final_logs=[f"Error: No value for required variable {name!r}" for name in missing],
            )
        return FakeJob(
            script=[*script, "succeeded"], final_logs=["Terraform plan ok", "Cleaning Up"]
        )

    def _version_json(self, version: FakeVersion) -> dict[str, Any]:
        job = version.job
        return {
            "id": version.id,
            "template_id": version.template_id,
            "organization_id": version.organization_id,
            "name": version.id[:8],
            "message": version.message,
            "created_at": _now(),
            "job": {
                "id": version.id,
                "status": job.status,
                "error": job.error if job.status == "failed" else "",
                "error_code": job.error_code if job.status == "failed" else "",
                "tags": version.tags,
            },
            "matched_provisioners": {"count": 1, "available": 1},
        }

    def _get_version(self, vid: str, **_: Any) -> tuple[int, Any]:
        version = self.versions.get(vid)
        if version is None:
            raise _error(404, "Resource not found or you do not have access to this resource")
        version.job.advance()
        return 200, self._version_json(version)

    def _get_logs(self, vid: str, **_: Any) -> tuple[int, Any]:
        version = self.versions.get(vid)
        if version is None:
            raise _error(404, "Resource not found or you do not have access to this resource")
        return 200, [
            {
                "id": n,
                "created_at": _now(),
                "log_source": "provisioner",
                "log_level": "info",
                "stage": "Planning",
                "output": line,
            }
            for n, line in enumerate(version.job.logs, start=1)
        ]

    # -- templates -------------------------------------------------------------------------------

    def _template_json(self, template: FakeTemplate) -> dict[str, Any]:
        return {
            "id": template.id,
            "organization_id": template.organization_id,
            "name": template.name,
            "display_name": template.display_name,
            "description": template.description,
            "icon": template.icon,
            "provisioner": "terraform",
            "active_version_id": template.active_version_id,
            "created_at": _now(),
            **template.settings,
        }

    def _live_template(self, tid: str) -> FakeTemplate:
        template = self.templates.get(tid)
        if template is None or template.deleted:
            raise _error(404, "Resource not found or you do not have access to this resource")
        return template

    def _get_template_by_name(self, org: str, name: str, **_: Any) -> tuple[int, Any]:
        template = self.template(name) if org == self.organization_id else None
        if template is None:
            raise _error(404, "Resource not found or you do not have access to this resource")
        return 200, self._template_json(template)

    def _get_template(self, tid: str, **_: Any) -> tuple[int, Any]:
        return 200, self._template_json(self._live_template(tid))

    def _post_template(self, org: str, body: bytes, **_: Any) -> tuple[int, Any]:
        if org != self.organization_id:
            raise _error(404, "Resource not found or you do not have access to this resource")
        request = self._json(body)
        name = str(request.get("name", ""))
        if not _NAME.match(name) or len(name) > 32:
            raise _error(
                400,
                "Validation failed.",
                validations=[{"field": "name", "detail": "invalid template name"}],
            )
        if len(str(request.get("description", "")).encode()) >= 128:
            raise _error(
                400,
                "Validation failed.",
                validations=[{"field": "description", "detail": "too long"}],
            )
        if self.template(name) is not None:
            raise _error(409, f'Template with name "{name}" already exists.')
        version = self.versions.get(str(request.get("template_version_id")))
        if version is None:
            raise _error(
                404, f"Template version {request.get('template_version_id')!r} does not exist."
            )
        if version.template_id is not None:
            raise _error(400, f"Template version {version.id} is already part of a template")
        if version.job.status != "succeeded":
            raise _error(
                400,
                f"Template version {version.id} has not finished importing ({version.job.status}).",
            )
        template = FakeTemplate(
            id=str(uuid.uuid4()),
            organization_id=org,
            name=name,
            active_version_id=version.id,
            display_name=str(request.get("display_name", "")),
            description=str(request.get("description", "")),
            icon=str(request.get("icon", "")),
        )
        self.templates[template.id] = template
        version.template_id = template.id
        return 201, self._template_json(template)

    def _patch_template(self, tid: str, body: bytes, **_: Any) -> tuple[int, Any]:
        template = self._live_template(tid)
        request = self._json(body)
        # Like coderd's patchTemplateMeta: the body is the full settings set; zero values reset.
        new_meta = {
            "name": str(request.get("name") or template.name),
            "display_name": str(request.get("display_name", "")),
            "description": str(request.get("description", "")),
            "icon": str(request.get("icon", "")),
        }
        new_settings = {
            key: request.get(key, type(value)()) for key, value in template.settings.items()
        }
        old_meta = {key: getattr(template, key) for key in new_meta}
        if new_meta == old_meta and new_settings == template.settings:
            return 304, None
        for key, value in new_meta.items():
            setattr(template, key, value)
        template.settings = new_settings
        return 200, self._template_json(template)

    def _promote(self, tid: str, body: bytes, **_: Any) -> tuple[int, Any]:
        template = self._live_template(tid)
        request = self._json(body)
        version = self.versions.get(str(request.get("id")))
        if version is None:
            raise _error(404, "Template version not found.")
        if version.template_id != template.id:
            raise _error(
                400, "The provided template version doesn't belong to the specified template."
            )
        if version.job.status != "succeeded":
            raise _error(
                400,
                "The provided template version has not imported successfully "
                f"({version.job.status}).",
            )
        template.active_version_id = version.id
        return 200, {"message": "Updated the active template version!"}

    def _delete_template(self, tid: str, **_: Any) -> tuple[int, Any]:
        template = self._live_template(tid)
        if self.workspace_counts.get(template.name, 0) > 0:
            raise _error(400, "All workspaces must be deleted before a template can be removed.")
        template.deleted = True
        return 200, {"message": "Template has been deleted!"}

    def _workspaces(self, query: dict[str, list[str]], **_: Any) -> tuple[int, Any]:
        q = (query.get("q") or [""])[0]
        match = re.fullmatch(r"template:(\S+)", q.strip())
        if match is None:
            raise _error(400, "Invalid workspace search query.", f"unsupported q {q!r}")
        name = match.group(1)
        count = self.workspace_counts.get(name, 0)
        workspaces = [
            {"id": str(uuid.uuid4()), "name": f"{name}-ws-{n}", "template_name": name}
            for n in range(count)
        ]
        return 200, {"workspaces": workspaces, "count": count}


# -- archive inspection ------------------------------------------------------------------------


def _check_ustar(data: bytes) -> None:
    """Refuse anything but a plain POSIX ustar archive (no PAX or GNU extension headers)."""
    if not data:
        raise _error(400, "Archive must be ustar.", "empty body")
    position = 0
    while position + 512 <= len(data):
        block = data[position : position + 512]
        if block == bytes(512):
            break
        magic, version, typeflag = block[257:263], block[263:265], block[156:157]
        if magic != b"ustar\x00" or version != b"00":
            raise _error(
                400,
                "Archive must be ustar.",
                f"header at byte {position} is not POSIX ustar (magic {magic!r})",
            )
        if typeflag in (b"x", b"g"):
            raise _error(400, "Archive must be ustar.", "PAX extended headers are not supported")
        if typeflag in (b"L", b"K"):
            raise _error(400, "Archive must be ustar.", "GNU long-name headers are not supported")
        size = int(block[124:136].strip(b"\x00 ") or b"0", 8)
        position += 512 + ((size + 511) // 512) * 512
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            archive.getmembers()
    except tarfile.TarError as exc:
        raise _error(400, "Archive must be ustar.", f"unreadable tar: {exc}") from None


def _terraform_sources(archive: bytes) -> dict[str, str]:
    sources: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith((".tf", ".tf.json")):
                extracted = tar.extractfile(member)
                if extracted is not None:
                    sources[member.name] = extracted.read().decode("utf-8", "replace")
    return sources


def _required_variables(sources: dict[str, str]) -> list[str]:
    """Names of Terraform ``variable`` blocks without a default (the import needs a value)."""
    required: list[str] = []
    for name, text in sources.items():
        if not name.endswith(".tf"):
            continue
        required.extend(_variables_without_default(text))
    return required


@functools.lru_cache(maxsize=256)
def _variables_without_default(text: str) -> tuple[str, ...]:
    """One file's variables without a default; memoized: tests upload the same files often and
    a parse costs tens of milliseconds."""
    try:
        parsed = hcl2.loads(text)
    except Exception:  # not a Terraform parser: leave odd syntax to the real import
        return ()
    return tuple(
        label.strip('"')
        for block in parsed.get("variable", [])
        for label, body in block.items()
        if isinstance(body, dict) and "default" not in body
    )
