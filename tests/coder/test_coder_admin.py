"""The admin dynamic provider, called the way the Pulumi engine calls it, against the fake."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pulumi.output import Unknown

from components.coder_admin import AdminProvider, CoderAdminError
from components.coder_api import CoderApiError, CoderClient, CoderUnavailableError
from tests.coder.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_USERNAME
from tests.coder.fake_coder import FakeCoder

Props = Callable[..., dict[str, Any]]


def _token_works(url: str, token: str) -> bool:
    with CoderClient(url, session_token=token, startup_grace_seconds=0) as client:
        try:
            client.me()
        except CoderApiError as exc:
            assert exc.status == 401
            return False
    return True


def _assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


def test_create_makes_the_first_user_and_a_token(
    fake_coder: FakeCoder, admin_provider: AdminProvider, admin_props: Props
) -> None:
    result = admin_provider.create(admin_props(token_lifetime_hours=100))

    outs = result.outs
    assert outs is not None
    [user] = fake_coder.users
    assert result.id == outs["user_id"] == user.id
    assert (user.email, user.username, user.name) == (
        ADMIN_EMAIL,
        ADMIN_USERNAME,
        "egoengine admin",
    )
    assert outs["organization_id"] == fake_coder.organization_id
    [token] = fake_coder.tokens()
    assert (token.token_name, token.lifetime_seconds) == ("egoengine-operator", 100 * 3600)
    assert outs["token_id"] == token.id
    assert _token_works(fake_coder.url, outs["token"])


def test_existing_first_user_with_the_right_credentials_is_adopted(
    fake_coder: FakeCoder, admin_provider: AdminProvider, admin_props: Props
) -> None:
    existing = fake_coder.add_first_user(
        email=ADMIN_EMAIL, username=ADMIN_USERNAME, password=ADMIN_PASSWORD
    )

    result = admin_provider.create(admin_props())

    assert result.id == existing.id
    assert ("POST", "/api/v2/users/first") not in fake_coder.writes
    assert len(fake_coder.users) == 1


def test_existing_first_user_with_wrong_credentials_fails_clearly(
    fake_coder: FakeCoder, admin_provider: AdminProvider, admin_props: Props
) -> None:
    fake_coder.add_first_user(
        email=ADMIN_EMAIL, username=ADMIN_USERNAME, password="someone-elses-password"
    )

    with pytest.raises(CoderAdminError) as caught:
        admin_provider.create(admin_props())

    message = str(caught.value)
    assert message.startswith(
        "a first user already exists and the configured credentials do not log in:"
    )
    assert "Incorrect email or password" in message and ADMIN_EMAIL in message
    _assert_no_secret(message, ADMIN_PASSWORD, "someone-elses-password")
    assert fake_coder.tokens() == []


def test_lifetime_above_the_owner_cap_says_how_to_raise_it(
    fake_coder: FakeCoder, admin_provider: AdminProvider, admin_props: Props
) -> None:
    with pytest.raises(CoderAdminError) as caught:
        admin_provider.create(admin_props(token_lifetime_hours=24 * 30))

    message = str(caught.value)
    assert "lifetime must be less than 168h0m0s" in message
    assert "raise CODER_MAX_ADMIN_TOKEN_LIFETIME on the server" in message
    assert "720h" in message
    _assert_no_secret(message, ADMIN_PASSWORD)
    assert fake_coder.tokens() == []


def test_diff_is_offline_and_finds_no_change_for_the_same_inputs(
    fake_coder: FakeCoder, admin_provider: AdminProvider, admin_props: Props
) -> None:
    outs = admin_provider.create(admin_props()).outs
    assert outs is not None
    fake_coder.reset_records()

    diff = admin_provider.diff(outs["user_id"], outs, admin_props(health_timeout_seconds=99.0))

    assert diff.changes is False
    assert fake_coder.requests == []


@pytest.mark.parametrize("key", ["email", "username", "full_name", "password", "url"])
def test_credential_changes_update_in_place_never_replace(
    admin_provider: AdminProvider, admin_props: Props, key: str
) -> None:
    olds = admin_props()
    diff = admin_provider.diff("id", olds, {**olds, key: "changed-value"})
    assert diff.changes is True
    assert diff.replaces == []


def test_unknown_inputs_during_preview_count_as_changes(
    admin_provider: AdminProvider, admin_props: Props
) -> None:
    olds = admin_props()
    assert admin_provider.diff("id", olds, {**olds, "url": Unknown()}).changes is True


def test_lifetime_change_mints_a_new_token_and_deletes_the_old_one(
    fake_coder: FakeCoder, admin_provider: AdminProvider, admin_props: Props
) -> None:
    olds = admin_provider.create(admin_props()).outs
    assert olds is not None
    news = admin_props(token_lifetime_hours=72)
    assert admin_provider.diff(olds["user_id"], olds, news).changes is True

    outs = admin_provider.update(olds["user_id"], olds, news).outs

    assert outs is not None
    assert outs["token"] != olds["token"]
    [token] = fake_coder.tokens()
    assert (token.id, token.lifetime_seconds) == (outs["token_id"], 72 * 3600)
    assert _token_works(fake_coder.url, outs["token"])
    assert not _token_works(fake_coder.url, olds["token"])


def test_token_name_change_mints_under_the_new_name(
    fake_coder: FakeCoder, admin_provider: AdminProvider, admin_props: Props
) -> None:
    olds = admin_provider.create(admin_props()).outs
    assert olds is not None
    outs = admin_provider.update(olds["user_id"], olds, admin_props(token_name="ci-deploy")).outs
    assert outs is not None
    assert [t.token_name for t in fake_coder.tokens()] == ["ci-deploy"]
    assert not _token_works(fake_coder.url, olds["token"])


def test_a_leftover_token_with_the_same_name_is_replaced(
    fake_coder: FakeCoder, admin_provider: AdminProvider, admin_props: Props
) -> None:
    """E.g. the state was lost after a create: Coder answers 409 for the name."""
    first = admin_provider.create(admin_props()).outs
    assert first is not None

    again = admin_provider.create(admin_props()).outs

    assert again is not None
    assert [t.token_name for t in fake_coder.tokens()] == ["egoengine-operator"]
    assert _token_works(fake_coder.url, again["token"])
    assert not _token_works(fake_coder.url, first["token"])


def test_password_change_re_adopts_and_keeps_the_token(
    fake_coder: FakeCoder, admin_provider: AdminProvider, admin_props: Props
) -> None:
    olds = admin_provider.create(admin_props()).outs
    assert olds is not None
    fake_coder.users[0].password = "rotated-in-coder-first"  # the operator changed it in Coder
    fake_coder.reset_records()

    outs = admin_provider.update(
        olds["user_id"], olds, admin_props(password="rotated-in-coder-first")
    ).outs

    assert outs is not None
    assert (outs["token"], outs["token_id"]) == (olds["token"], olds["token_id"])
    assert outs["password"] == "rotated-in-coder-first"
    assert fake_coder.writes == []  # logins only
    assert fake_coder.logins == 1


def test_an_expired_token_is_minted_again_on_update(
    fake_coder: FakeCoder, admin_provider: AdminProvider, admin_props: Props
) -> None:
    olds = admin_provider.create(admin_props()).outs
    assert olds is not None
    fake_coder.invalidate_token("egoengine-operator")

    outs = admin_provider.update(olds["user_id"], olds, admin_props(full_name="New Name")).outs

    assert outs is not None
    assert outs["token"] != olds["token"]
    assert _token_works(fake_coder.url, outs["token"])


def test_delete_removes_the_token_and_keeps_the_user(
    fake_coder: FakeCoder, admin_provider: AdminProvider, admin_props: Props
) -> None:
    outs = admin_provider.create(admin_props()).outs
    assert outs is not None

    admin_provider.delete(outs["user_id"], outs)

    assert fake_coder.tokens() == []
    assert len(fake_coder.users) == 1
    admin_provider.delete(outs["user_id"], outs)  # already gone: fine


@pytest.mark.parametrize("server", ["unhealthy", "refusing"])
def test_a_server_that_never_becomes_healthy_fails_with_a_timeout(
    fake_coder: FakeCoder,
    closed_port_url: str,
    admin_provider: AdminProvider,
    admin_props: Props,
    server: str,
) -> None:
    fake_coder.healthy = False
    url = fake_coder.url if server == "unhealthy" else closed_port_url

    with pytest.raises(CoderUnavailableError) as caught:
        admin_provider.create(admin_props(url=url, health_timeout_seconds=0.1))

    message = str(caught.value)
    assert f"Coder at {url} did not become healthy within 0.1 seconds" in message
    _assert_no_secret(message, ADMIN_PASSWORD)
    assert fake_coder.users == []


def test_check_reports_bad_inputs_offline(
    admin_provider: AdminProvider, admin_props: Props
) -> None:
    result = admin_provider.check({}, admin_props(token_lifetime_hours=0, email=""))
    assert sorted(f.property for f in result.failures) == ["email", "token_lifetime_hours"]
    assert admin_provider.check({}, admin_props(url=Unknown())).failures == []
