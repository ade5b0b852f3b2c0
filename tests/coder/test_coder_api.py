"""The Coder REST client against the fake server: health, retries, timeouts, error text,
token lifetimes, uploads and import jobs."""

from __future__ import annotations

import io
import socket
import tarfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from components.coder_api import (
    CoderApiError,
    CoderClient,
    CoderUnavailableError,
    TemplateImportError,
    VariableValue,
    lifetime_nanoseconds,
)
from components.template_archive import ustar_archive
from tests.coder.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_USERNAME
from tests.coder.fake_coder import FakeCoder


def _client(
    url: str,
    *,
    request_timeout_seconds: float = 5.0,
    startup_grace_seconds: float = 2.0,
    poll_interval_seconds: float = 0.001,
) -> CoderClient:
    return CoderClient(
        url,
        request_timeout_seconds=request_timeout_seconds,
        startup_grace_seconds=startup_grace_seconds,
        poll_interval_seconds=poll_interval_seconds,
    )


def _logged_in(fake: FakeCoder) -> CoderClient:
    client = _client(fake.url)
    client.create_first_user(email=ADMIN_EMAIL, username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    client.login(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
    return client


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts TCP connections but never answers (the kernel completes the handshake)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def test_wait_until_healthy_names_the_url_and_seconds(closed_port_url: str) -> None:
    started = time.monotonic()
    with _client(closed_port_url) as client, pytest.raises(CoderUnavailableError) as caught:
        client.wait_until_healthy(0.1)
    assert time.monotonic() - started < 2
    message = str(caught.value)
    assert closed_port_url in message
    assert "within 0.1 seconds" in message
    assert "cannot connect" in message


def test_wait_until_healthy_reports_an_unhealthy_answer(fake_coder: FakeCoder) -> None:
    fake_coder.healthy = False
    with _client(fake_coder.url) as client, pytest.raises(CoderUnavailableError, match="HTTP 503"):
        client.wait_until_healthy(0.1)
    fake_coder.healthy = True
    with _client(fake_coder.url) as client:
        client.wait_until_healthy(0.2)
        assert client.build_info().version == "v2.26.6"


def test_requests_retry_while_the_server_starts(fake_coder: FakeCoder) -> None:
    fake_coder.unavailable_requests = 3
    with _client(fake_coder.url) as client:
        assert client.first_user_exists() is False
    assert fake_coder.unavailable_requests == 0


def test_retries_stop_at_the_deadline(fake_coder: FakeCoder, closed_port_url: str) -> None:
    fake_coder.unavailable_requests = 10_000
    with _client(fake_coder.url, startup_grace_seconds=0.1) as client:
        with pytest.raises(
            CoderUnavailableError, match=r"still not ready after 0\.1 seconds \(HTTP 503\)"
        ):
            client.first_user_exists()
    with _client(closed_port_url, startup_grace_seconds=0.1) as client:
        with pytest.raises(CoderUnavailableError, match="cannot connect"):
            client.first_user_exists()


def test_every_request_has_a_timeout(silent_server: str) -> None:
    started = time.monotonic()
    with _client(silent_server, request_timeout_seconds=0.1) as client:
        with pytest.raises(CoderUnavailableError, match=r"GET /api/v2/users/first .* timed out"):
            client.first_user_exists()
    assert time.monotonic() - started < 3


def test_api_errors_carry_status_message_method_and_path(fake_coder: FakeCoder) -> None:
    with _client(fake_coder.url) as client:
        with pytest.raises(CoderApiError) as caught:
            client.me()  # no session token
    error = caught.value
    assert (error.status, error.method, error.path) == (401, "GET", "/api/v2/users/me")
    assert "coder_session_token" in error.message
    assert "HTTP 401" in str(error)


def test_wrong_password_error_does_not_echo_the_password(fake_coder: FakeCoder) -> None:
    fake_coder.add_first_user(email=ADMIN_EMAIL, username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    wrong = "wrong-password-1234567"
    with _client(fake_coder.url) as client, pytest.raises(CoderApiError) as caught:
        client.login(email=ADMIN_EMAIL, password=wrong)
    assert caught.value.status == 401
    assert "Incorrect email or password" in str(caught.value)
    assert wrong not in str(caught.value)


def test_secrets_the_server_echoes_are_masked() -> None:
    password, token = "hunter2-hunter2", "abcdefghij-0123456789abcdefghijkl"

    def echo(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/users/login":
            return httpx.Response(201, json={"session_token": token})
        seen = request.headers.get("Coder-Session-Token")
        return httpx.Response(
            500, json={"message": f"boom for {password}", "detail": f"token {seen} rejected"}
        )

    client = CoderClient("http://coder.invalid", transport=httpx.MockTransport(echo))
    client.login(email=ADMIN_EMAIL, password=password)
    with pytest.raises(CoderApiError) as caught:
        client.me()
    text = str(caught.value)
    assert password not in text and token not in text
    assert "boom for ***" in text and "token *** rejected" in text


def test_token_lifetime_is_sent_in_nanoseconds(fake_coder: FakeCoder) -> None:
    assert lifetime_nanoseconds(timedelta(days=30)) == 2_592_000_000_000_000
    with _logged_in(fake_coder) as client:
        token = client.create_token(token_name="ci", lifetime=timedelta(hours=5))
        found = client.get_token("ci")
        assert found is not None
        assert [k.lifetime_seconds for k in fake_coder.tokens()] == [5 * 3600]
        # The minted token authenticates on its own.
        with _client(fake_coder.url) as other:
            other.use_session_token(token)
            assert other.me().username == ADMIN_USERNAME
        assert client.delete_api_key(found.id) is True
        assert client.delete_api_key(found.id) is False
        assert client.get_token("ci") is None


def test_fake_enforces_the_upload_format(fake_coder: FakeCoder, tmp_path: Path) -> None:
    """The fake is strict, so a client that sent the wrong thing would fail these tests."""
    (tmp_path / "main.tf").write_text('resource "null_resource" "x" {}\n')
    with _logged_in(fake_coder) as client:
        headers = {"Coder-Session-Token": client.login(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)}
        good = ustar_archive(tmp_path)
        wrong_type = httpx.post(
            f"{fake_coder.url}/api/v2/files",
            content=good,
            headers={**headers, "Content-Type": "application/octet-stream"},
        )
        assert wrong_type.status_code == 400
        for tar_format in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as archive:
                archive.add(tmp_path / "main.tf", arcname="main.tf")
            refused = httpx.post(
                f"{fake_coder.url}/api/v2/files",
                content=buffer.getvalue(),
                headers={**headers, "Content-Type": "application/x-tar"},
            )
            assert refused.status_code == 400, tar_format
            assert refused.json()["message"] == "Archive must be ustar."
        file_id = client.upload_file(good)
        assert client.upload_file(good) == file_id  # same bytes, same user: same file


def test_wait_for_import_times_out_with_a_provisioner_hint(tmp_path: Path) -> None:
    fake = FakeCoder(polls_pending=10_000)
    fake.start()
    try:
        (tmp_path / "main.tf").write_text('resource "null_resource" "x" {}\n')
        with _logged_in(fake) as client:
            org = client.default_organization().id
            version = client.create_template_version(
                org,
                file_id=client.upload_file(ustar_archive(tmp_path)),
                variables=[VariableValue("a", "b")],
            )
            with pytest.raises(TemplateImportError) as caught:
                client.wait_for_import(version.id, 0.1)
        message = str(caught.value)
        assert "still pending after 0.1 seconds" in message
        assert "provisioner" in message and "matching provisioners: 1" in message
    finally:
        fake.stop()
