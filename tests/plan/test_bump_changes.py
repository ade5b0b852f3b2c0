"""The bump's reading of the offline plan's change view, on the shipped stacks (in process)."""

from __future__ import annotations

import pytest

from tools import bump_changes
from tools.bump_changes import PlanFailed

OLD = ("22bba72", "sha256:" + "1" * 64)
NEW = ("3f9c2d1", "sha256:" + "2" * 64)
NEW_REF = f"ghcr.io/joshsymonds/nix-config/egoengine:{NEW[0]}@{NEW[1]}"


def test_a_stack_without_children_only_updates_its_templates() -> None:
    changes = bump_changes.plan_bump("dev", OLD, NEW)
    assert changes.children == () and changes.rebuilt_children == () and changes.replaced == ()
    assert [(t.template, t.after) for t in changes.templates] == [("docker-envbuilder", NEW_REF), ("docker-shell", NEW_REF)]
    text = changes.text()
    assert text[0] == "Children rebuilt: none (the stack has no child images)"
    assert text[-1].startswith("0 to create, 2 to update, 0 to replace, 0 to delete")


def test_the_same_digest_under_a_new_tag_rebuilds_no_child() -> None:
    changes = bump_changes.plan_bump("vermissian", OLD, (NEW[0], OLD[1]))
    assert changes.children == ("egoengine-image-creative-lab",) and changes.rebuilt_children == ()
    assert changes.text()[0] == "Children rebuilt: none (the base digest is unchanged)"


def test_a_plan_that_cannot_run_is_one_line() -> None:
    with pytest.raises(PlanFailed) as raised:
        bump_changes.plan_bump("no-such-stack", OLD, NEW)
    message = str(raised.value)
    assert message.startswith("the offline plan of no-such-stack on base tag 22bba72 failed: ") and "\n" not in message
