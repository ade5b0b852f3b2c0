"""A small typed client for the Coder v2 REST API, used by the admin and template dynamic providers.

Only the calls the deployment needs (see ``/work/shared/reference/coder-api.md`` sections 2-4):
health, build info, first-user bootstrap, login, API tokens, organizations, file upload, template
versions and their import jobs, templates, and the workspace count of a template.

Rules the client keeps:

- every request has a timeout;
- requests are retried only while the server is starting (connection refused, HTTP 502/503), and
  only until a deadline, so a stopped server fails in bounded time;
- every failure raises a :class:`CoderError` whose message names the method, the path, the HTTP
  status and Coder's own ``message``/``detail`` — and never a password or token: every secret the
  client has seen (passwords it sent, session tokens, minted API tokens) is masked in error text.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

# The client raises these; importers may take them from here or, without the client, from there.
from components.coder_errors import CoderApiError, CoderError, CoderUnavailableError, TemplateImportError

if TYPE_CHECKING:
    import ssl

    import httpx  # imported where a request is made: the program's evaluation never needs it

SESSION_TOKEN_HEADER = "Coder-Session-Token"
TAR_CONTENT_TYPE = "application/x-tar"

# Job states (codersdk ProvisionerJobStatus). "unknown" exists in newer servers; it is not
# terminal, so waiting continues until the deadline and the timeout message shows it.
JOB_SUCCEEDED = "succeeded"
JOB_FAILED_STATES = frozenset({"failed", "canceled"})

# A reverse proxy (or Coder itself while starting) answers 502/503 until the server is ready.
_STARTING_STATUSES = frozenset({502, 503})

# Settings a template PATCH must carry over: the handler treats the body as the full settings set
# (zero values reset TTLs and flags), so the current values are sent back unchanged.
_TEMPLATE_SETTINGS_KEYS = (
    "name",
    "display_name",
    "description",
    "icon",
    "default_ttl_ms",
    "activity_bump_ms",
    "max_ttl_ms",
    "autostop_requirement",
    "autostart_requirement",
    "allow_user_autostart",
    "allow_user_autostop",
    "allow_user_cancel_workspace_jobs",
    "failure_ttl_ms",
    "time_til_dormant_ms",
    "time_til_dormant_autodelete_ms",
    "require_active_version",
    "deprecation_message",
    "max_port_share_level",
    "use_classic_parameter_flow",
)

LOG_LINES_ON_FAILURE = 20
_MASK = "***"


@dataclass(frozen=True)
class BuildInfo:
    version: str


@dataclass(frozen=True)
class FirstUser:
    user_id: str
    organization_id: str


@dataclass(frozen=True)
class User:
    id: str
    username: str
    email: str
    roles: tuple[str, ...]

    @property
    def is_owner(self) -> bool:
        return "owner" in self.roles


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    is_default: bool


@dataclass(frozen=True)
class ApiToken:
    id: str
    token_name: str
    expires_at: str


@dataclass(frozen=True)
class ProvisionerJob:
    status: str
    error: str
    error_code: str


@dataclass(frozen=True)
class TemplateVersion:
    id: str
    template_id: str | None
    job: ProvisionerJob
    # None when the server predates matched_provisioners (Coder < 2.18).
    matched_provisioners: int | None


@dataclass(frozen=True)
class Template:
    id: str
    name: str
    organization_id: str
    active_version_id: str
    display_name: str
    description: str
    icon: str
    raw: Mapping[str, Any] = field(compare=False, repr=False)


@dataclass(frozen=True)
class VariableValue:
    """One ``user_variable_values`` entry. The value is kept out of repr; a ``sensitive`` value
    is also masked in every error the client raises (job errors, log lines)."""

    name: str
    value: str = field(repr=False)
    sensitive: bool = False


def lifetime_nanoseconds(lifetime: timedelta) -> int:
    """``CreateTokenRequest.lifetime`` is a Go ``time.Duration``: an integer of nanoseconds."""
    return (lifetime // timedelta(microseconds=1)) * 1000


class CoderClient:
    """Synchronous client for one Coder server.

    ``url`` is the server's base URL (the internal URL the deploy machine reaches). Use it as a
    context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        url: str,
        *,
        session_token: str | None = None,
        request_timeout_seconds: float = 30.0,
        startup_grace_seconds: float = 60.0,
        poll_interval_seconds: float = 1.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.startup_grace_seconds = startup_grace_seconds
        self.poll_interval_seconds = poll_interval_seconds
        self._secrets: set[str] = set()
        import httpx

        self._http = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(request_timeout_seconds),
            transport=transport,
            verify=_tls_context(),
            follow_redirects=False,
        )
        if session_token:
            self.use_session_token(session_token)

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CoderClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def use_session_token(self, token: str) -> None:
        """Authenticate later requests with ``token`` (a session token or an API token)."""
        self._remember_secret(token)
        self._http.headers[SESSION_TOKEN_HEADER] = token

    # -- health ----------------------------------------------------------------------------------

    def _health_problem(self) -> str | None:
        """One ``GET /healthz`` probe: None when it answers 200 ``OK``, else what it answered."""
        import httpx

        try:
            response = self._http.get("/healthz")
        except httpx.HTTPError as exc:
            return _describe_transport_error(exc)
        if response.status_code == 200 and response.text.strip() == "OK":
            return None
        return f"HTTP {response.status_code}"

    def is_healthy(self) -> bool:
        return self._health_problem() is None

    def wait_until_healthy(self, timeout_seconds: float) -> None:
        """Poll ``/healthz`` until it answers ``OK``, or raise after ``timeout_seconds``."""
        deadline = time.monotonic() + timeout_seconds
        while (problem := self._health_problem()) is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CoderUnavailableError(
                    f"Coder at {self.url} did not become healthy within {timeout_seconds:g} "
                    f"seconds (GET {self.url}/healthz, last answer: {problem}); check that "
                    "the server container is running and read its logs"
                )
            time.sleep(min(self.poll_interval_seconds, remaining))

    def build_info(self) -> BuildInfo:
        body = self._json("GET", "/api/v2/buildinfo")
        return BuildInfo(version=str(body.get("version", "")))

    # -- users and tokens ------------------------------------------------------------------------

    def first_user_exists(self) -> bool:
        response = self._request("GET", "/api/v2/users/first", expected=(200, 404))
        return response.status_code == 200

    def create_first_user(
        self, *, email: str, username: str, password: str, full_name: str = ""
    ) -> FirstUser:
        self._remember_secret(password)
        body = self._json(
            "POST",
            "/api/v2/users/first",
            json={
                "email": email,
                "username": username,
                "name": full_name,
                "password": password,
                "trial": False,
            },
            expected=(201, 200),
        )
        return FirstUser(user_id=str(body["user_id"]), organization_id=str(body["organization_id"]))

    def login(self, *, email: str, password: str) -> str:
        """Log in with a password; later requests use the returned session token."""
        self._remember_secret(password)
        body = self._json(
            "POST",
            "/api/v2/users/login",
            json={"email": email, "password": password},
            expected=(201, 200),
        )
        token = str(body["session_token"])
        self.use_session_token(token)
        return token

    def me(self) -> User:
        body = self._json("GET", "/api/v2/users/me")
        roles = tuple(
            str(role.get("name", "")) if isinstance(role, Mapping) else str(role)
            for role in body.get("roles") or ()
        )
        return User(
            id=str(body["id"]),
            username=str(body.get("username", "")),
            email=str(body.get("email", "")),
            roles=roles,
        )

    def create_token(self, *, token_name: str, lifetime: timedelta) -> str:
        """Mint an API token for the logged-in user; returns the token (a secret)."""
        body = self._json(
            "POST",
            "/api/v2/users/me/keys/tokens",
            json={"token_name": token_name, "lifetime": lifetime_nanoseconds(lifetime)},
            expected=(201, 200),
        )
        key = str(body["key"])
        self._remember_secret(key)
        return key

    def get_token(self, token_name: str) -> ApiToken | None:
        """The logged-in user's token called ``token_name``, or None."""
        response = self._request(
            "GET", f"/api/v2/users/me/keys/tokens/{_segment(token_name)}", expected=(200, 404)
        )
        if response.status_code == 404:
            return None
        body = _body(response)
        return ApiToken(
            id=str(body["id"]),
            token_name=str(body.get("token_name", token_name)),
            expires_at=str(body.get("expires_at", "")),
        )

    def delete_api_key(self, key_id: str) -> bool:
        """Delete one of the logged-in user's keys; False if it did not exist."""
        response = self._request(
            "DELETE", f"/api/v2/users/me/keys/{_segment(key_id)}", expected=(204, 200, 404)
        )
        return response.status_code != 404

    # -- organizations ---------------------------------------------------------------------------

    def default_organization(self) -> Organization:
        body = self._json_any("GET", "/api/v2/users/me/organizations")
        organizations = [
            Organization(
                id=str(item["id"]),
                name=str(item.get("name", "")),
                is_default=bool(item.get("is_default", False)),
            )
            for item in body or ()
        ]
        defaults = [org for org in organizations if org.is_default]
        if defaults:
            return defaults[0]
        if len(organizations) == 1:  # servers before multi-org have no is_default flag
            return organizations[0]
        raise CoderError(
            f"Coder at {self.url}: cannot tell the default organization "
            f"({len(organizations)} organizations, none marked is_default)"
        )

    # -- files and template versions -------------------------------------------------------------

    def upload_file(self, data: bytes) -> str:
        """Upload a ustar archive; returns the file ID (Coder calls it ``hash``)."""
        body = self._json(
            "POST",
            "/api/v2/files",
            content=data,
            headers={"Content-Type": TAR_CONTENT_TYPE},
            expected=(201, 200),
        )
        return str(body["hash"])

    def create_template_version(
        self,
        organization_id: str,
        *,
        file_id: str,
        template_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        variables: Iterable[VariableValue] = (),
        message: str = "",
    ) -> TemplateVersion:
        variables = list(variables)
        for variable in variables:
            if variable.sensitive:
                self._remember_secret(variable.value)
        request: dict[str, Any] = {
            "storage_method": "file",
            "provisioner": "terraform",
            "file_id": file_id,
            "tags": dict(tags or {}),
            "user_variable_values": [{"name": v.name, "value": v.value} for v in variables],
        }
        if template_id:
            request["template_id"] = template_id
        if message:
            request["message"] = message
        body = self._json(
            "POST",
            f"/api/v2/organizations/{_segment(organization_id)}/templateversions",
            json=request,
            expected=(201, 200),
        )
        return _template_version(body)

    def get_template_version(self, version_id: str) -> TemplateVersion:
        return _template_version(
            self._json("GET", f"/api/v2/templateversions/{_segment(version_id)}")
        )

    def template_version_logs(self, version_id: str) -> list[str]:
        """The import job's log lines (each entry's ``output``), oldest first."""
        body = self._json_any("GET", f"/api/v2/templateversions/{_segment(version_id)}/logs")
        return [str(entry.get("output", "")) for entry in body or () if isinstance(entry, Mapping)]

    def wait_for_import(self, version_id: str, timeout_seconds: float) -> TemplateVersion:
        """Poll the version's import job until it succeeds; raise with its last log lines if it
        fails, is canceled, or is still active after ``timeout_seconds``."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            version = self.get_template_version(version_id)
            status = version.job.status
            if status == JOB_SUCCEEDED:
                return version
            if status in JOB_FAILED_STATES:
                lines = self._last_log_lines(version_id)
                reason = self.redact(version.job.error) or "(no error message)"
                if version.job.error_code:
                    reason += f" [{version.job.error_code}]"
                raise TemplateImportError(
                    f"template version {version_id}: import {status}: {reason}"
                    + _format_log_tail(lines),
                    status=status,
                    log_lines=lines,
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                lines = self._last_log_lines(version_id)
                hint = ""
                if status == "pending":
                    hint = (
                        "; a job stays pending when no provisioner daemon matches its tags "
                        "(check CODER_PROVISIONER_DAEMONS > 0 and the provisioner tags)"
                    )
                    if version.matched_provisioners is not None:
                        hint += f"; matching provisioners: {version.matched_provisioners}"
                raise TemplateImportError(
                    f"template version {version_id}: import still {status} after "
                    f"{timeout_seconds:g} seconds{hint}" + _format_log_tail(lines),
                    status=status,
                    log_lines=lines,
                )
            time.sleep(min(self.poll_interval_seconds, remaining))

    # -- templates -------------------------------------------------------------------------------

    def get_template_by_name(self, organization_id: str, name: str) -> Template | None:
        response = self._request(
            "GET",
            f"/api/v2/organizations/{_segment(organization_id)}/templates/{_segment(name)}",
            expected=(200, 404),
        )
        return None if response.status_code == 404 else _template(_body(response))

    def get_template(self, template_id: str) -> Template | None:
        response = self._request(
            "GET", f"/api/v2/templates/{_segment(template_id)}", expected=(200, 404)
        )
        return None if response.status_code == 404 else _template(_body(response))

    def create_template(
        self,
        organization_id: str,
        *,
        name: str,
        version_id: str,
        display_name: str = "",
        description: str = "",
        icon: str = "",
    ) -> Template:
        body = self._json(
            "POST",
            f"/api/v2/organizations/{_segment(organization_id)}/templates",
            json={
                "name": name,
                "template_version_id": version_id,
                "display_name": display_name,
                "description": description,
                "icon": icon,
            },
            expected=(201, 200),
        )
        return _template(body)

    def update_template_metadata(
        self, template_id: str, *, display_name: str, description: str, icon: str
    ) -> None:
        """Set display name, description and icon, keeping every other template setting."""
        current = self.get_template(template_id)
        if current is None:
            raise CoderApiError(
                method="GET",
                path=f"/api/v2/templates/{template_id}",
                status=404,
                message="template not found",
            )
        request = {key: current.raw[key] for key in _TEMPLATE_SETTINGS_KEYS if key in current.raw}
        request.update(display_name=display_name, description=description, icon=icon)
        # 304 Not Modified: nothing differed, which is success too.
        self._request(
            "PATCH",
            f"/api/v2/templates/{_segment(template_id)}",
            json=request,
            expected=(200, 304),
        )

    def promote_template_version(self, template_id: str, version_id: str) -> None:
        self._request(
            "PATCH",
            f"/api/v2/templates/{_segment(template_id)}/versions",
            json={"id": version_id},
            expected=(200,),
        )

    def delete_template(self, template_id: str) -> bool:
        """Delete a template; False if it did not exist. Coder refuses (400) while workspaces
        use it: that raises :class:`CoderApiError`."""
        response = self._request(
            "DELETE", f"/api/v2/templates/{_segment(template_id)}", expected=(200, 204, 404)
        )
        return response.status_code != 404

    def count_workspaces(self, template_name: str) -> int:
        body = self._json("GET", "/api/v2/workspaces", params={"q": f"template:{template_name}"})
        if "count" in body:
            return int(body["count"])
        return len(body.get("workspaces") or ())

    # -- plumbing --------------------------------------------------------------------------------

    def _remember_secret(self, value: str) -> None:
        if value:
            self._secrets.add(value)

    def redact(self, text: str) -> str:
        """``text`` with every secret this client has seen replaced by ``***``."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, _MASK)
        return text

    def _last_log_lines(self, version_id: str) -> list[str]:
        try:
            lines = self.template_version_logs(version_id)
        except CoderError as exc:
            return [f"(could not read the import logs: {exc})"]
        return [self.redact(line) for line in lines[-LOG_LINES_ON_FAILURE:]]

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body = _body(self._request(method, path, **kwargs))
        if not isinstance(body, dict):
            raise CoderError(f"Coder API {method} {path}: expected a JSON object in the answer")
        return body

    def _json_any(self, method: str, path: str, **kwargs: Any) -> Any:
        return _body(self._request(method, path, **kwargs))

    def _request(
        self,
        method: str,
        path: str,
        *,
        expected: Sequence[int] = (200,),
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request, retrying only while the server is starting, and check the status."""
        import httpx

        deadline = time.monotonic() + self.startup_grace_seconds
        while True:
            try:
                response = self._http.request(
                    method, path, json=json, content=content, headers=headers, params=params
                )
            except httpx.ConnectError as exc:
                waiting_for = _describe_transport_error(exc)
            except httpx.HTTPError as exc:
                raise CoderUnavailableError(
                    self.redact(
                        f"Coder API {method} {path} at {self.url} failed: "
                        f"{_describe_transport_error(exc)}"
                    )
                ) from None
            else:
                if response.status_code not in _STARTING_STATUSES:
                    break
                waiting_for = f"HTTP {response.status_code}"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CoderUnavailableError(
                    f"Coder API {method} {path} at {self.url}: the server was still not ready "
                    f"after {self.startup_grace_seconds:g} seconds ({waiting_for})"
                )
            time.sleep(min(self.poll_interval_seconds, remaining))
        if response.status_code not in expected:
            raise self._api_error(method, path, response)
        return response

    def _api_error(self, method: str, path: str, response: httpx.Response) -> CoderApiError:
        message, detail, validations = "", "", []
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            message = str(body.get("message", ""))
            detail = str(body.get("detail", ""))
            for item in body.get("validations") or ():
                if isinstance(item, Mapping):
                    validations.append(f"{item.get('field', '?')}: {item.get('detail', '')}")
        else:
            message = response.text.strip()[:200]
        return CoderApiError(
            method=method,
            path=self.redact(path),
            status=response.status_code,
            message=self.redact(message),
            detail=self.redact(detail),
            validations=[self.redact(v) for v in validations],
        )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS settings (certifi's CA bundle, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``),
    made once per process: each build reads the whole bundle (about 15 ms), and every provider
    operation opens a client. A context is safe to share between clients."""
    import httpx

    return httpx.create_ssl_context()


def _segment(value: str) -> str:
    """One URL path segment, percent-encoded (names come from config)."""
    return quote(value, safe="")


def _body(response: httpx.Response) -> Any:
    if response.status_code in (204, 304) or not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        raise CoderError(
            f"Coder API {response.request.method} {response.request.url.path}: the answer is "
            f"not JSON (HTTP {response.status_code})"
        ) from None


def _describe_transport_error(exc: httpx.HTTPError) -> str:
    import httpx

    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"


def _format_log_tail(lines: Sequence[str]) -> str:
    if not lines:
        return "\n(no import log lines)"
    return f"\nlast {len(lines)} import log lines:\n" + "\n".join(f"  {line}" for line in lines)


def _template_version(body: Mapping[str, Any]) -> TemplateVersion:
    job = body.get("job") or {}
    matched = body.get("matched_provisioners")
    return TemplateVersion(
        id=str(body["id"]),
        template_id=str(body["template_id"]) if body.get("template_id") else None,
        job=ProvisionerJob(
            status=str(job.get("status", "")),
            error=str(job.get("error") or ""),
            error_code=str(job.get("error_code") or ""),
        ),
        matched_provisioners=int(matched["count"])
        if isinstance(matched, Mapping) and "count" in matched
        else None,
    )


def _template(body: Mapping[str, Any]) -> Template:
    return Template(
        id=str(body["id"]),
        name=str(body.get("name", "")),
        organization_id=str(body.get("organization_id", "")),
        active_version_id=str(body.get("active_version_id", "")),
        display_name=str(body.get("display_name", "")),
        description=str(body.get("description", "")),
        icon=str(body.get("icon", "")),
        raw=dict(body),
    )
