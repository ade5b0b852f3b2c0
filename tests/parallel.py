"""pytest-xdist for this suite: every core by default, and every integration test in one worker.

The integration tests share session fixtures that start real services (Podman, an OCI registry,
PostgreSQL, sshd in a network namespace): in one worker they start once and never compete with
each other, while the unit tests spread over all the workers. Loaded by tests/conftest.py.

How: each integration test carries ``xdist_group("integration")``; a worker appends ``@integration``
to those tests' node ids (which is how xdist's schedulers see groups); and ``--dist load`` (what
``-n`` means by default) sends that whole group to one worker at the start and unit tests to it only
once the group is done, the rest as xdist's load scheduler does. ``--dist loadgroup`` keeps the
group together too, but sends one test per round trip (the unit suite ~24 s instead of ~17 s).
"""

from __future__ import annotations

from typing import Any

import pytest

INTEGRATION_GROUP = "integration"
_GROUP_IDS = "egoengine_group_ids"
_GROUPED_DISTS = ("load", "loadgroup")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """With pytest-xdist loaded and no ``-n``: one worker per core.

    Here rather than in pytest.ini's addopts, so that ``-p no:xdist`` still works. ``-n 0`` runs
    in this process (quicker for a single test); ``--pdb`` needs one process.
    """
    if not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput"):
        return
    if config.option.numprocesses is None and not config.option.usepdb:
        config.option.numprocesses = "auto"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if item.get_closest_marker("integration") is not None:
            item.add_marker(pytest.mark.xdist_group(INTEGRATION_GROUP))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist, controller side: a worker parses only the command line, so it is told here that
    its node ids must carry their group."""
    node.workerinput[_GROUP_IDS] = node.config.option.dist in _GROUPED_DISTS


def pytest_configure(config: pytest.Config) -> None:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and workerinput.get(_GROUP_IDS):
        config.pluginmanager.register(_GroupInNodeIds(), "egoengine-xdist-group-ids")


class _GroupInNodeIds:
    """xdist, worker side: end each grouped test's node id with ``@<group>``.

    xdist 3.8 does this for ``--dist loadgroup`` by writing ``item._nodeid``, which pytest 9.2's
    structured node ids no longer read (pytest-dev/pytest-xdist#1386, fix pending in #1388): the
    groups were silently spread over the workers. This sets the id pytest reads, where xdist's
    own suffix did not take, and for ``--dist load`` too (the scheduler below reads it).
    """

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        from _pytest.nodeid import NodeId

        for item in items:
            groups = sorted({str(mark.args[0]) for mark in item.iter_markers("xdist_group")})
            suffix = "@" + "_".join(groups)
            if groups and not item.nodeid.endswith(suffix):
                item._id = NodeId.parse(item.nodeid + suffix)  # type: ignore[attr-defined]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.option.dist != "load":
        return None
    from xdist.scheduler import LoadScheduling

    class LoadWithIntegrationInOneWorker(LoadScheduling):
        """xdist's load scheduling, except that the first worker it sends to gets every integration
        test at once, and no unit test while any of them is still to run (so no unit test waits
        behind them); the unit tests go to the other workers, and to that one after."""

        _group_node: Any = None

        def _send_tests(self, node: Any, num: int) -> None:
            assert self.collection is not None
            if self._group_node is None:
                self._group_node = node
                suffix = f"@{INTEGRATION_GROUP}"
                group = [i for i in self.pending if self.collection[i].endswith(suffix)]
                if group:
                    grouped = set(group)
                    self.pending[:] = [i for i in self.pending if i not in grouped]
                    self.node2pending[node].extend(group)
                    node.send_runtest_some(group)
            if node is self._group_node and self.node2pending[node] and self._holds_group(node):
                return
            super()._send_tests(node, num)

        def _holds_group(self, node: Any) -> bool:
            assert self.collection is not None
            suffix = f"@{INTEGRATION_GROUP}"
            return any(self.collection[i].endswith(suffix) for i in self.node2pending[node])

    return LoadWithIntegrationInOneWorker(config, log)
