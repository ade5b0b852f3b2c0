"""Identical inputs on identical runs: a second `pulumi up` would change nothing."""

from __future__ import annotations

import pytest

from tests.unit.conftest import run_stack


def registered(run):
    return {
        urn: (reg.type, reg.inputs, reg.dependencies, reg.protect, reg.retain_on_delete,
              reg.delete_before_replace, reg.additional_secret_outputs, reg.parent, reg.provider)
        for urn, reg in run.registrations.items()
    }


@pytest.mark.parametrize("stack", ["dev", "vermissian"])
def test_two_runs_register_identical_inputs(stack: str) -> None:
    first, second = run_stack(stack), run_stack(stack)
    assert registered(first) == registered(second)
    assert first.outputs == second.outputs
    # Look-ups run concurrently, so only their set (not their order) must repeat.
    assert sorted(map(repr, first.invokes)) == sorted(map(repr, second.invokes))
