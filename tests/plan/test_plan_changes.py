"""``--against OLD.json``: what an ``up`` would change, proven on real plan documents.

Each case plans the stack twice (before and after one change) and compares the documents, in
process. Replacement rules come from the providers (``tools/plan_replacements.py`` cites them).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tools import plan_changes
from tools.plan import main as plan_main
from tools.plan import plan_document

NEW_CODER = ["egoengine:coder.version=v2.26.0", "egoengine:coder.digest=sha256:" + "1" * 64]


@pytest.fixture(scope="module")
def dev_before() -> dict[str, Any]:
    return plan_document("dev")


def changes_of(before: dict[str, Any], *overrides: str, stack: str = "dev") -> plan_changes.ChangeSet:
    return plan_changes.compare(before, plan_document(stack, overrides=list(overrides)))


def by_name(changes: plan_changes.ChangeSet) -> dict[str, plan_changes.ResourceChange]:
    return {change.name: change for change in changes.changes}


def test_no_change_is_no_change(dev_before: dict[str, Any]) -> None:
    changes = changes_of(dev_before)
    assert changes.lines() == []
    assert changes.summary() == (
        "0 to create, 0 to update, 0 to replace, 0 to delete, 17 unchanged; "
        "downtime: none; data at risk: none"
    )


def test_new_coder_version_replaces_image_container_and_takes_a_backup_first(dev_before: dict[str, Any]) -> None:
    changes = changes_of(dev_before, *NEW_CODER)
    found = by_name(changes)
    assert set(found) == {
        "egoengine-coder-image", "egoengine-coder-container", "egoengine-backup-pg-dump",
        "egoengine-downgrade-guard-check",
    }
    assert found["egoengine-coder-image"].forcing == ("name",)
    # A new digest gives a new image id: the container is recreated on it, stopped first.
    assert found["egoengine-coder-container"].forcing == ("image",)
    assert found["egoengine-backup-pg-dump"].forcing == ("triggers",)
    assert changes.lines() == [
        "replace  command:local:Command  egoengine-backup-pg-dump  (forced by triggers; also create)",
        "replace  docker:index/container:Container  egoengine-coder-container  "
        "(forced by image; the old one is deleted first)",
        "replace  docker:index/remoteImage:RemoteImage  egoengine-coder-image  (forced by name)",
        # No update command: pulumi-command runs create again (the version check).
        "update   command:local:Command  egoengine-downgrade-guard-check  (changes create)",
    ]
    assert changes.summary() == (
        "0 to create, 1 to update, 3 to replace, 0 to delete, 13 unchanged; "
        "downtime: Coder container replaced (egoengine-coder-container); data at risk: none"
    )


def test_token_lifetime_above_168h_adds_an_env_var_and_so_replaces_coder(dev_before: dict[str, Any]) -> None:
    after = plan_document("dev", overrides=["egoengine:admin.tokenLifetimeHours=720"])
    [coder] = [r for r in after["resources"] if r["name"] == "egoengine-coder-container"]
    assert "CODER_MAX_ADMIN_TOKEN_LIFETIME=720h" in coder["inputs"]["envs"]
    changes = plan_changes.compare(dev_before, after)
    assert changes.lines() == [
        "replace  docker:index/container:Container  egoengine-coder-container  "
        "(forced by envs; the old one is deleted first)",
        "update   pulumi-python:dynamic/coder:Admin  egoengine-admin-user  (changes token_lifetime_hours)",
    ]
    assert "downtime: Coder container replaced (egoengine-coder-container)" in changes.summary()


def test_168h_or_less_keeps_the_container(dev_before: dict[str, Any]) -> None:
    changes = changes_of(dev_before, "egoengine:admin.tokenLifetimeHours=24")
    assert changes.lines() == [
        "update   pulumi-python:dynamic/coder:Admin  egoengine-admin-user  (changes token_lifetime_hours)"
    ]
    assert "downtime: none" in changes.summary()


def test_a_changed_template_updates_only_that_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from components import egoengine
    from components.settings import values

    project = tmp_path / "project"
    shutil.copytree(values.PROJECT_ROOT / "coder-templates", project / "coder-templates")
    monkeypatch.setattr(values, "PROJECT_ROOT", project)
    monkeypatch.setattr(egoengine, "PROJECT_ROOT", project)
    before = plan_document("dev")
    main_tf = project / "coder-templates/docker-shell/main.tf"
    main_tf.write_text(main_tf.read_text() + "\n# a change\n")
    changes = plan_changes.compare(before, plan_document("dev"))
    assert changes.lines() == [
        "update   pulumi-python:dynamic/coder:Template  egoengine-template-docker-shell-template  "
        "(changes content_hash)"
    ]
    assert changes.summary().endswith("downtime: none; data at risk: none")


def test_restart_policy_is_changed_in_place(dev_before: dict[str, Any]) -> None:
    """The docker provider updates ``restart`` on the running container (no ForceNew)."""
    changes = changes_of(dev_before, "egoengine:coder.restart=unless-stopped")
    assert changes.lines() == [
        "update   docker:index/container:Container  egoengine-coder-container  (changes restart)"
    ]
    assert "downtime: none" in changes.summary()


def test_renaming_the_database_alters_it_but_a_new_volume_name_puts_data_at_risk(dev_before: dict[str, Any]) -> None:
    renamed = by_name(changes_of(dev_before, "egoengine:database.name=coderdb"))
    assert renamed["egoengine-database-database"].action == "update"  # ALTER DATABASE ... RENAME
    changes = changes_of(dev_before, "egoengine:database.volumeName=elsewhere")
    found = by_name(changes)
    assert found["egoengine-database-data"].action == "replace"
    assert found["egoengine-database-server"].forcing == ("volumes",)
    volume = "replace  docker:index/volume:Volume  egoengine-database-data  (forced by name; protected, retained on delete)"
    assert volume in changes.lines()
    assert changes.summary().endswith(
        "downtime: PostgreSQL container replaced (egoengine-database-server); "
        "data at risk: egoengine-database-data (replace; protected: up refuses until it is unprotected)"
    )


def test_a_removed_child_image_is_deleted() -> None:
    before = plan_document("vermissian")
    changes = changes_of(before, "egoengine:images.children=[]", stack="vermissian")
    assert [line.split()[0] for line in changes.lines()] == ["delete"]
    assert "0 to create" in changes.summary() and "1 to delete" in changes.summary()


def test_first_deploy_names_the_first_user_window(dev_before: dict[str, Any]) -> None:
    changes = plan_changes.compare({"resources": []}, dev_before)
    assert {change.action for change in changes.changes} == {"create"}
    assert changes.summary().endswith(
        "first-user window: until this up creates the admin, whoever reaches Coder first can claim "
        "it through /setup, so open the public route only after it"
    )
    assert "first-user window" not in plan_changes.compare(dev_before, dev_before).summary()


def test_against_prints_the_changes_and_one_summary_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dev_before: dict[str, Any]
) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps(dev_before))
    status = plan_main(["dev", "--against", str(old), *(f"--config-override={o}" for o in NEW_CODER)])
    out = capsys.readouterr().out
    assert status == 0
    lines = out.strip().splitlines()
    assert lines[0] == f"Changes to stack dev against {old} (up, computed outputs stubbed)"
    assert "  replace  docker:index/container:Container  egoengine-coder-container  " in out
    assert lines[-1].startswith("0 to create, 1 to update, 3 to replace, 0 to delete")


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "cannot be read (No such file or directory)"),
        ("not json", "is not JSON; expected the output of --json"),
        ('{"resources": []}', "is not a plan document; expected the output of --json"),
    ],
)
def test_against_a_bad_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    old = tmp_path / "old.json"
    if content is not None:
        old.write_text(content)
    status = plan_main(["dev", "--against", str(old)])
    captured = capsys.readouterr()
    assert (status, captured.out, captured.err) == (2, "", f"--against {old}: {message}\n")


def test_a_retained_resource_deleted_is_named_as_left_in_place(dev_before: dict[str, Any]) -> None:
    """Removing the role from the program (here: from the old document's point of view) deletes it
    from the stack, but retainOnDelete leaves it in PostgreSQL."""
    [role] = [r for r in dev_before["resources"] if r["type"] == "postgresql:index/role:Role"]
    after = {**dev_before, "resources": [r for r in dev_before["resources"] if r is not role]}
    changes = plan_changes.compare(dev_before, after)
    assert changes.lines() == [
        "delete   postgresql:index/role:Role  egoengine-database-role  (retained on delete)"
    ]
    assert changes.summary().endswith(
        "data at risk: egoengine-database-role (delete; retained: the old one is left in place, not deleted)"
    )
