"""The template dynamic provider (and the admin one for the first deploy), called the way the
Pulumi engine calls them, against the fake Coder server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pulumi.output import Unknown

from components.coder_admin import AdminProvider
from components.coder_template import CoderTemplateError, TemplateProvider
from tests.coder.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    OP_TOKEN,
    PLAIN_VARIABLES,
    SECRET_VARIABLES,
    TEMPLATE_NAMES,
)
from tests.coder.fake_coder import FAIL_MARKER, FAILURE_LOG_LINES, FakeCoder

Props = Callable[..., dict[str, Any]]
ENVBUILDER, SHELL = TEMPLATE_NAMES


def _deploy(
    admin_provider: AdminProvider,
    template_provider: TemplateProvider,
    admin_props: Props,
    template_props: Props,
    template_dirs: dict[str, Path],
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """First `pulumi up`: the admin, then one template per directory (the engine's order)."""
    admin = admin_provider.create(admin_props()).outs
    assert admin is not None
    templates = {}
    for name, directory in template_dirs.items():
        outs = template_provider.create(template_props(name, directory)).outs
        assert outs is not None
        templates[name] = outs
    return admin, templates


@pytest.fixture
def deployed(
    fake_coder: FakeCoder,
    admin_provider: AdminProvider,
    template_provider: TemplateProvider,
    admin_props: Props,
    template_props: Props,
    template_dirs: dict[str, Path],
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    state = _deploy(admin_provider, template_provider, admin_props, template_props, template_dirs)
    fake_coder.reset_records()
    return state


def _version_writes(fake: FakeCoder) -> list[tuple[str, str]]:
    return [
        w
        for w in fake.writes
        if w[1] == "/api/v2/files" or w[1].endswith(("/templateversions", "/versions"))
    ]


def test_first_deploy_makes_the_admin_the_token_and_both_templates(
    fake_coder: FakeCoder,
    admin_provider: AdminProvider,
    template_provider: TemplateProvider,
    admin_props: Props,
    template_props: Props,
    template_dirs: dict[str, Path],
) -> None:
    admin, templates = _deploy(
        admin_provider, template_provider, admin_props, template_props, template_dirs
    )

    assert [u.username for u in fake_coder.users] == [ADMIN_USERNAME]
    assert [t.token_name for t in fake_coder.tokens()] == ["egoengine-operator"]
    assert admin["token_id"] == fake_coder.tokens()[0].id
    for name in TEMPLATE_NAMES:
        template = fake_coder.template(name)
        assert template is not None
        [version] = fake_coder.versions_of(name)
        assert templates[name]["template_id"] == template.id
        assert templates[name]["active_version_id"] == template.active_version_id == version.id
        assert templates[name]["organization_id"] == admin["organization_id"]
        assert version.job.status == "succeeded"
        assert version.variables == {**PLAIN_VARIABLES, **SECRET_VARIABLES}
        assert version.tags == {"scope": "organization"}
        assert (template.display_name, template.description, template.icon) == (
            name.replace("-", " ").title(),
            f"egoengine {name} workspace",
            "/icon/docker.png",
        )


def test_redeploy_with_unchanged_directories_changes_nothing(
    fake_coder: FakeCoder,
    admin_provider: AdminProvider,
    template_provider: TemplateProvider,
    admin_props: Props,
    template_props: Props,
    template_dirs: dict[str, Path],
    deployed: tuple[dict[str, Any], dict[str, dict[str, Any]]],
) -> None:
    admin, templates = deployed

    # Second `pulumi up`: inputs recomputed from the same directories; diff decides.
    assert admin_provider.diff(admin["user_id"], admin, admin_props()).changes is False
    for name, directory in template_dirs.items():
        news = template_props(name, directory)
        assert news["content_hash"] == templates[name]["content_hash"]
        diff = template_provider.diff(templates[name]["template_id"], templates[name], news)
        assert diff.changes is False and diff.replaces == []
        # Even if the engine called update with the same inputs, nothing would be written.
        template_provider.update(templates[name]["template_id"], templates[name], news)

    assert fake_coder.writes == []
    assert fake_coder.requests == []  # diff (and a no-op update) never touch the network
    assert [len(fake_coder.versions_of(name)) for name in TEMPLATE_NAMES] == [1, 1]


def test_one_changed_file_makes_exactly_one_new_promoted_version(
    fake_coder: FakeCoder,
    template_provider: TemplateProvider,
    template_props: Props,
    template_dirs: dict[str, Path],
    deployed: tuple[dict[str, Any], dict[str, dict[str, Any]]],
) -> None:
    _, templates = deployed
    readme = template_dirs[SHELL] / "README.md"
    readme.write_text((readme.read_text() if readme.exists() else "") + "\nOne more line.\n")
    news = {name: template_props(name, d) for name, d in template_dirs.items()}

    assert template_provider.diff("x", templates[ENVBUILDER], news[ENVBUILDER]).changes is False
    diff = template_provider.diff("x", templates[SHELL], news[SHELL])
    assert diff.changes is True and diff.replaces == []
    outs = template_provider.update(
        templates[SHELL]["template_id"], templates[SHELL], news[SHELL]
    ).outs

    assert outs is not None
    shell = fake_coder.template(SHELL)
    assert shell is not None
    assert len(fake_coder.versions_of(SHELL)) == 2
    assert len(fake_coder.versions_of(ENVBUILDER)) == 1
    assert (
        outs["active_version_id"]
        == shell.active_version_id
        != templates[SHELL]["active_version_id"]
    )
    assert outs["content_hash"] == news[SHELL]["content_hash"]
    assert fake_coder.writes == [
        ("POST", "/api/v2/files"),
        ("POST", f"/api/v2/organizations/{fake_coder.organization_id}/templateversions"),
        ("PATCH", f"/api/v2/templates/{shell.id}/versions"),
    ]


def test_variable_and_tag_changes_make_a_new_version(
    fake_coder: FakeCoder,
    template_provider: TemplateProvider,
    template_props: Props,
    template_dirs: dict[str, Path],
    deployed: tuple[dict[str, Any], dict[str, dict[str, Any]]],
) -> None:
    _, templates = deployed
    olds = templates[SHELL]
    rotated = {"op_service_account_token": "ops_rotated-token-5e8a"}
    news = template_props(
        SHELL,
        template_dirs[SHELL],
        secret_variables=rotated,
        provisioner_tags={"host": "vermissian"},
    )

    assert template_provider.diff("x", olds, news).changes is True
    template_provider.update(olds["template_id"], olds, news)

    latest = fake_coder.versions_of(SHELL)[-1]
    assert latest.variables["op_service_account_token"] == "ops_rotated-token-5e8a"
    assert latest.tags == {"host": "vermissian"}
    assert len(_version_writes(fake_coder)) == 3


def test_metadata_change_patches_the_template_without_a_new_version(
    fake_coder: FakeCoder,
    template_provider: TemplateProvider,
    template_props: Props,
    template_dirs: dict[str, Path],
    deployed: tuple[dict[str, Any], dict[str, dict[str, Any]]],
) -> None:
    _, templates = deployed
    shell = fake_coder.template(SHELL)
    assert shell is not None
    shell.settings["default_ttl_ms"] = 8 * 3600 * 1000  # set by an admin in the UI
    news = template_props(SHELL, template_dirs[SHELL], description="A plain shell")

    assert template_provider.diff("x", templates[SHELL], news).changes is True
    template_provider.update(shell.id, templates[SHELL], news)

    assert fake_coder.writes == [("PATCH", f"/api/v2/templates/{shell.id}")]
    assert shell.description == "A plain shell"
    assert shell.settings["default_ttl_ms"] == 8 * 3600 * 1000  # other settings kept
    assert len(fake_coder.versions_of(SHELL)) == 1


def test_a_failing_import_shows_its_log_lines(
    fake_coder: FakeCoder,
    template_provider: TemplateProvider,
    template_props: Props,
    template_dirs: dict[str, Path],
    deployed: tuple[dict[str, Any], dict[str, dict[str, Any]]],
) -> None:
    _, templates = deployed
    main_tf = template_dirs[SHELL] / "main.tf"
    main_tf.write_text(main_tf.read_text() + f"\n# {FAIL_MARKER}\n")
    news = template_props(SHELL, template_dirs[SHELL])

    with pytest.raises(CoderTemplateError) as caught:
        template_provider.update(templates[SHELL]["template_id"], templates[SHELL], news)

    message = str(caught.value)
    assert f"template '{SHELL}'" in message
    assert "import failed: terraform plan: exit status 1" in message
    # The last 20 lines: 19 of the failure lines and the one echoing the variables.
    for line in FAILURE_LOG_LINES[-19:]:
        assert line in message
    assert f"{FAILURE_LOG_LINES[-20]}\n" not in message
    assert "op_service_account_token=***" in message  # the sensitive value is masked...
    assert "workspace_user=joshsymonds" in message  # ...plain ones are not
    assert OP_TOKEN not in message and ADMIN_PASSWORD not in message
    shell = fake_coder.template(SHELL)
    assert shell is not None and shell.active_version_id == templates[SHELL]["active_version_id"]


def test_a_missing_required_variable_fails_the_import(
    fake_coder: FakeCoder,
    template_provider: TemplateProvider,
    admin_provider: AdminProvider,
    admin_props: Props,
    template_props: Props,
    template_dirs: dict[str, Path],
) -> None:
    admin_provider.create(admin_props())
    variables = {k: v for k, v in PLAIN_VARIABLES.items() if k != "workspace_image"}

    with pytest.raises(
        CoderTemplateError, match=r"REQUIRED_TEMPLATE_VARIABLES[\s\S]*workspace_image"
    ):
        template_provider.create(template_props(SHELL, template_dirs[SHELL], variables=variables))
    assert fake_coder.template(SHELL) is None


def test_a_directory_changed_since_preview_is_refused(
    fake_coder: FakeCoder,
    template_provider: TemplateProvider,
    template_props: Props,
    template_dirs: dict[str, Path],
    deployed: tuple[dict[str, Any], dict[str, dict[str, Any]]],
) -> None:
    _, templates = deployed
    (template_dirs[SHELL] / "notes.md").write_text("planned")
    news = template_props(SHELL, template_dirs[SHELL])
    (template_dirs[SHELL] / "notes.md").write_text("edited after preview")

    with pytest.raises(CoderTemplateError, match="changed since preview"):
        template_provider.update(templates[SHELL]["template_id"], templates[SHELL], news)
    assert _version_writes(fake_coder) == []


def test_deleting_a_template_with_workspaces_fails_with_the_count(
    fake_coder: FakeCoder,
    template_provider: TemplateProvider,
    deployed: tuple[dict[str, Any], dict[str, dict[str, Any]]],
) -> None:
    _, templates = deployed
    fake_coder.set_workspace_count(SHELL, 3)

    with pytest.raises(CoderTemplateError) as caught:
        template_provider.delete(templates[SHELL]["template_id"], templates[SHELL])

    message = str(caught.value)
    assert f"cannot delete Coder template '{SHELL}': 3 workspace(s) still use it" in message
    assert "All workspaces must be deleted before a template can be removed." in message
    assert "Delete or move those workspaces first" in message
    assert "`pulumi state delete`" in message
    assert fake_coder.template(SHELL) is not None

    fake_coder.set_workspace_count(SHELL, 0)
    template_provider.delete(templates[SHELL]["template_id"], templates[SHELL])
    assert fake_coder.template(SHELL) is None
    template_provider.delete(templates[SHELL]["template_id"], templates[SHELL])  # already gone


def test_connection_only_changes_are_recorded_without_api_calls(
    fake_coder: FakeCoder,
    template_provider: TemplateProvider,
    template_props: Props,
    template_dirs: dict[str, Path],
    deployed: tuple[dict[str, Any], dict[str, dict[str, Any]]],
) -> None:
    _, templates = deployed
    news = template_props(SHELL, template_dirs[SHELL], admin_password="rotated-admin-password")

    assert template_provider.diff("x", templates[SHELL], news).changes is True
    outs = template_provider.update(templates[SHELL]["template_id"], templates[SHELL], news).outs

    assert outs is not None and outs["admin_password"] == "rotated-admin-password"
    assert outs["template_id"] == templates[SHELL]["template_id"]
    assert fake_coder.requests == []


def test_name_change_replaces_create_before_delete(
    template_provider: TemplateProvider, template_props: Props, template_dirs: dict[str, Path]
) -> None:
    olds = template_props(SHELL, template_dirs[SHELL])
    diff = template_provider.diff("x", olds, {**olds, "name": "shell-v2"})
    assert (diff.changes, diff.replaces, diff.delete_before_replace) == (True, ["name"], False)


def test_unknown_inputs_during_preview_count_as_changes(
    template_provider: TemplateProvider, template_props: Props, template_dirs: dict[str, Path]
) -> None:
    olds = template_props(SHELL, template_dirs[SHELL])
    news = {**olds, "variables": {**olds["variables"], "workspace_image": Unknown()}}
    assert template_provider.diff("x", olds, news).changes is True


def test_create_adopts_a_template_that_already_exists(
    fake_coder: FakeCoder,
    template_provider: TemplateProvider,
    template_props: Props,
    template_dirs: dict[str, Path],
    deployed: tuple[dict[str, Any], dict[str, dict[str, Any]]],
) -> None:
    """E.g. pushed by hand before the stack managed it: a new version goes onto it (no 409)."""
    _, templates = deployed
    outs = template_provider.create(template_props(SHELL, template_dirs[SHELL])).outs
    assert outs is not None
    assert outs["template_id"] == templates[SHELL]["template_id"]
    assert len(fake_coder.versions_of(SHELL)) == 2


def test_check_reports_bad_inputs_offline(
    template_provider: TemplateProvider, template_props: Props, template_dirs: dict[str, Path]
) -> None:
    bad = {
        **template_props(SHELL, template_dirs[SHELL]),
        "name": "Not a name!",
        "content_hash": "md5:abc",
        "description": "x" * 200,
        "variables": {"op_service_account_token": "plain"},
    }
    result = template_provider.check({}, bad)
    assert sorted(f.property for f in result.failures) == [
        "content_hash",
        "description",
        "name",
        "secret_variables",
    ]
    assert template_provider.check({}, template_props(SHELL, template_dirs[SHELL])).failures == []


def test_the_admin_credentials_must_log_in(
    fake_coder: FakeCoder,
    template_provider: TemplateProvider,
    template_props: Props,
    template_dirs: dict[str, Path],
    deployed: tuple[dict[str, Any], dict[str, dict[str, Any]]],
) -> None:
    wrong = "not-the-admin-password"
    with pytest.raises(CoderTemplateError) as caught:
        template_provider.create(template_props(SHELL, template_dirs[SHELL], admin_password=wrong))
    message = str(caught.value)
    assert f"cannot log in to Coder at {fake_coder.url} as {ADMIN_EMAIL}" in message
    assert wrong not in message and ADMIN_PASSWORD not in message
