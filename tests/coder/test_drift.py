"""Drift repair and session counting, driven the way the engine drives a refresh and an up.

``pulumi refresh`` (or ``up --refresh``) calls ``read(id, state)``; the next ``up`` calls
``diff(id, olds, news)`` with olds = what read returned, and ``update(id, olds, news)`` when the
diff reports a change (pulumi/pulumi ``sdk/python/lib/pulumi/dynamic/__main__.py``: ``Read``,
``Diff``, ``Update``). All against the fake Coder.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from components.coder_admin import AdminProvider, CoderAdminError
from components.coder_template import TemplateProvider
from tests.coder.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, TEMPLATE_NAMES
from tests.coder.fake_coder import FakeCoder

Props = Callable[..., dict[str, Any]]
Deploy = Callable[[], tuple[dict[str, Any], dict[str, dict[str, Any]]]]
"""The first `pulumi up`: returns (the admin's outputs, each template's outputs by name)."""
ENVBUILDER, SHELL = TEMPLATE_NAMES
TOKEN_NAME = "egoengine-operator"


def refresh_and_up(
    provider: Any, state: dict[str, Any], news: dict[str, Any], id_: str = "id"
) -> tuple[bool, dict[str, Any]]:
    """read, then diff against what read returned, then update if it changed. Returns
    (changed, the state after)."""
    read = provider.read(id_, state)
    olds = read.outs
    assert olds is not None and read.id == id_
    diff = provider.diff(id_, olds, news)
    if not diff.changes:
        return False, olds
    assert diff.replaces == []
    outs = provider.update(id_, olds, news).outs
    assert outs is not None
    return True, outs


@pytest.fixture
def deploy(
    admin_provider: AdminProvider,
    template_provider: TemplateProvider,
    admin_props: Props,
    template_props: Props,
    template_dirs: dict[str, Path],
) -> Deploy:
    """The first `pulumi up`: the admin, then the templates with the admin's token."""

    def run() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        admin = admin_provider.create(admin_props()).outs
        assert admin is not None
        templates = {}
        for name, directory in template_dirs.items():
            outs = template_provider.create(
                template_props(name, directory, admin_token=admin["token"])
            ).outs
            assert outs is not None
            templates[name] = outs
        return admin, templates

    return run


def test_first_deploy_creates_one_session_and_an_unchanged_redeploy_none(
    fake_coder: FakeCoder,
    admin_provider: AdminProvider,
    template_provider: TemplateProvider,
    admin_props: Props,
    template_props: Props,
    template_dirs: dict[str, Path],
    deploy: Deploy,
) -> None:
    admin, templates = deploy()
    assert fake_coder.sessions == 1  # the admin's login to mint the token; templates use it
    fake_coder.reset_records()

    # `pulumi up --refresh` with nothing changed: read and diff everything.
    changed, _ = refresh_and_up(admin_provider, admin, admin_props(), admin["user_id"])
    assert not changed
    for name, directory in template_dirs.items():
        news = template_props(name, directory, admin_token=admin["token"])
        changed, _ = refresh_and_up(template_provider, templates[name], news)
        assert not changed

    assert fake_coder.sessions == 0
    assert fake_coder.writes == []


def test_a_template_deleted_in_the_ui_is_recreated(
    fake_coder: FakeCoder,
    template_provider: TemplateProvider,
    template_props: Props,
    template_dirs: dict[str, Path],
    deploy: Deploy,
) -> None:
    admin, templates = deploy()
    old_id = templates[SHELL]["template_id"]
    fake_coder.ui_delete_template(SHELL)
    fake_coder.reset_records()

    news = template_props(SHELL, template_dirs[SHELL], admin_token=admin["token"])
    changed, outs = refresh_and_up(template_provider, templates[SHELL], news, old_id)

    assert changed
    template = fake_coder.template(SHELL)
    assert template is not None and template.id != old_id
    assert outs["template_id"] == template.id
    assert outs["active_version_id"] == outs["live_active_version_id"] == template.active_version_id
    assert fake_coder.sessions == 0
    # And then it is settled: the next refresh and up change nothing.
    assert refresh_and_up(template_provider, outs, news, old_id)[0] is False


def test_an_active_version_changed_in_the_ui_is_promoted_back(
    fake_coder: FakeCoder,
    template_provider: TemplateProvider,
    template_props: Props,
    template_dirs: dict[str, Path],
    deploy: Deploy,
) -> None:
    admin, templates = deploy()
    first_version = templates[SHELL]["active_version_id"]
    (template_dirs[SHELL] / "extra.tf").write_text("# a second version\n")
    news = template_props(SHELL, template_dirs[SHELL], admin_token=admin["token"])
    ours = template_provider.update("id", templates[SHELL], news).outs
    assert ours is not None and ours["active_version_id"] != first_version
    fake_coder.ui_activate_version(SHELL, first_version)  # someone rolled back in the UI
    fake_coder.reset_records()

    changed, outs = refresh_and_up(template_provider, ours, news)

    assert changed
    template = fake_coder.template(SHELL)
    assert template is not None and template.active_version_id == ours["active_version_id"]
    assert outs["live_active_version_id"] == ours["active_version_id"]
    assert len(fake_coder.versions_of(SHELL)) == 2  # promoted back, no new version
    assert [w[0] for w in fake_coder.writes] == ["PATCH"]


def test_metadata_edited_in_the_ui_is_set_back(
    fake_coder: FakeCoder,
    template_provider: TemplateProvider,
    template_props: Props,
    template_dirs: dict[str, Path],
    deploy: Deploy,
) -> None:
    admin, templates = deploy()
    fake_coder.ui_set_display_name(SHELL, "Renamed by hand")
    news = template_props(SHELL, template_dirs[SHELL], admin_token=admin["token"])

    changed, outs = refresh_and_up(template_provider, templates[SHELL], news)

    assert changed
    template = fake_coder.template(SHELL)
    assert template is not None and template.display_name == news["display_name"]
    assert len(fake_coder.versions_of(SHELL)) == 1


@pytest.mark.parametrize("how", ["deleted", "expired", "expiring"])
def test_an_operator_token_gone_or_expiring_is_minted_again(
    fake_coder: FakeCoder,
    admin_provider: AdminProvider,
    admin_props: Props,
    how: str,
) -> None:
    admin = admin_provider.create(admin_props()).outs
    assert admin is not None
    if how == "deleted":
        fake_coder.ui_delete_token(TOKEN_NAME)
    else:
        fake_coder.expire_token(TOKEN_NAME, in_=timedelta(hours=2 if how == "expiring" else -1))
    fake_coder.reset_records()

    changed, outs = refresh_and_up(admin_provider, admin, admin_props(), admin["user_id"])

    assert changed
    assert outs["token"] and outs["token"] != admin["token"]
    [token] = fake_coder.tokens()
    assert outs["token_id"] == token.id
    assert fake_coder.sessions == 1  # minting needs one login
    assert refresh_and_up(admin_provider, outs, admin_props(), admin["user_id"])[0] is False


def test_a_first_user_whose_password_changed_fails_with_one_clear_line(
    fake_coder: FakeCoder,
    admin_provider: AdminProvider,
    admin_props: Props,
) -> None:
    admin = admin_provider.create(admin_props()).outs
    assert admin is not None
    new_password = "changed-in-the-ui-4b1e"
    fake_coder.ui_change_password(ADMIN_EMAIL, new_password)  # Coder drops the user's tokens

    with pytest.raises(CoderAdminError) as caught:
        refresh_and_up(admin_provider, admin, admin_props(), admin["user_id"])

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"the first Coder user {ADMIN_EMAIL} no longer logs in")
    assert "egoengine:secrets.adminPassword" in message
    assert ADMIN_PASSWORD not in message and new_password not in message


def test_a_rotated_token_reaches_the_templates_without_a_login_per_template(
    fake_coder: FakeCoder,
    admin_provider: AdminProvider,
    template_provider: TemplateProvider,
    admin_props: Props,
    template_props: Props,
    template_dirs: dict[str, Path],
    deploy: Deploy,
) -> None:
    admin, templates = deploy()
    fake_coder.expire_token(TOKEN_NAME, in_=timedelta(hours=-1))
    fake_coder.reset_records()

    changed, admin = refresh_and_up(admin_provider, admin, admin_props(), admin["user_id"])
    assert changed
    for name, directory in template_dirs.items():
        news = template_props(name, directory, admin_token=admin["token"])
        changed, outs = refresh_and_up(template_provider, templates[name], news)
        assert changed and outs["admin_token"] == admin["token"]  # recorded, nothing pushed

    assert fake_coder.sessions == 1
    assert all(path.startswith("/api/v2/users/me/keys") for _, path in fake_coder.writes)


def test_template_directories_resolve_from_the_project_root_not_the_working_directory(
    fake_coder: FakeCoder,
    template_provider: TemplateProvider,
    template_props: Props,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The program records ``coder-templates/<name>`` relative; the provider process may start
    anywhere."""
    from components.project_root import PROJECT_ROOT
    from components.template_archive import content_hash

    fake_coder.add_first_user(email=ADMIN_EMAIL, username="admin", password=ADMIN_PASSWORD)
    relative = f"coder-templates/{SHELL}"
    monkeypatch.chdir(tmp_path)  # nothing called coder-templates here

    props = {**template_props(SHELL, PROJECT_ROOT / relative), "directory": relative}
    assert props["content_hash"] == content_hash(PROJECT_ROOT / relative)
    outs = template_provider.create(props).outs

    assert outs is not None and outs["directory"] == relative
    assert fake_coder.template(SHELL) is not None


def test_state_written_before_read_existed_stays_updatable_and_deletable(
    fake_coder: FakeCoder,
    admin_provider: AdminProvider,
    template_provider: TemplateProvider,
    admin_props: Props,
    template_props: Props,
    template_dirs: dict[str, Path],
) -> None:
    """The previous release recorded no admin_token and no live_active_version_id."""
    admin = admin_provider.create(admin_props()).outs
    assert admin is not None
    outs = template_provider.create(template_props(SHELL, template_dirs[SHELL])).outs
    assert outs is not None
    old_state = {k: v for k, v in outs.items() if k not in ("admin_token", "live_active_version_id")}
    news = template_props(SHELL, template_dirs[SHELL], admin_token=admin["token"])
    fake_coder.reset_records()

    changed, state = refresh_and_up(template_provider, old_state, news)

    assert changed and state["admin_token"] == admin["token"]  # recorded once, nothing pushed
    assert fake_coder.writes == [] and fake_coder.sessions == 0
    assert template_provider.diff("id", state, news).changes is False
    template_provider.delete(state["template_id"], old_state)  # old state: password login
    assert fake_coder.template(SHELL) is None
