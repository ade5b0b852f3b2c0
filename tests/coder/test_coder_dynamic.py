"""The plumbing both Coder providers share: the admin login and the recorded outputs."""

from __future__ import annotations

import httpx
import pytest

from components.coder_api import CoderApiError, CoderClient, CoderError
from components.coder_dynamic import LOGIN_REFUSED_STATUSES, login_as_admin, provider_outputs
from tests.coder.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_USERNAME
from tests.coder.fake_coder import FakeCoder


class _CallerError(CoderError):
    """Stands for CoderAdminError / CoderTemplateError: the caller's own error type."""


def _refused(exc: CoderApiError) -> CoderError:
    return _CallerError(f"cannot log in for the test: {exc}")


def _answering(status: int) -> CoderClient:
    """A client whose server answers every login with ``status`` and a Coder error body."""

    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"message": f"refused with {status}"})

    return CoderClient(
        "http://coder.invalid", startup_grace_seconds=0, transport=httpx.MockTransport(answer)
    )


def test_login_as_admin_logs_in_and_uses_the_session(fake_coder: FakeCoder) -> None:
    fake_coder.add_first_user(email=ADMIN_EMAIL, username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    with CoderClient(fake_coder.url) as client:
        token = login_as_admin(client, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, refused=_refused)
        assert token and client.me().email == ADMIN_EMAIL
    assert fake_coder.logins == 1


@pytest.mark.parametrize("status", sorted(LOGIN_REFUSED_STATUSES))
def test_a_refused_login_raises_the_callers_error_without_the_password(status: int) -> None:
    with _answering(status) as client, pytest.raises(_CallerError) as caught:
        login_as_admin(client, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, refused=_refused)
    message = str(caught.value)
    assert message.startswith("cannot log in for the test: ")
    assert f"returned HTTP {status}: refused with {status}" in message
    assert ADMIN_PASSWORD not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_refused_login_at_the_fake_server_is_the_callers_error(fake_coder: FakeCoder) -> None:
    fake_coder.add_first_user(email=ADMIN_EMAIL, username=ADMIN_USERNAME, password="other-password")
    with CoderClient(fake_coder.url) as client, pytest.raises(_CallerError) as caught:
        login_as_admin(client, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, refused=_refused)
    assert "Incorrect email or password" in str(caught.value)


@pytest.mark.parametrize("status", [404, 409, 500])
def test_other_failures_are_not_called_a_refused_login(status: int) -> None:
    with _answering(status) as client, pytest.raises(CoderApiError) as caught:
        login_as_admin(client, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, refused=_refused)
    assert caught.value.status == status
    assert not isinstance(caught.value, _CallerError)


def test_provider_outputs_echo_the_set_inputs_and_add_what_was_created() -> None:
    props = {"url": "http://coder", "name": "shell", "ignored": "x"}
    outputs = provider_outputs(props, ("url", "name", "icon"), template_id="t-1", version_id="v")
    assert outputs == {
        "url": "http://coder", "name": "shell", "template_id": "t-1", "version_id": "v"
    }
