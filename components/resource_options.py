"""Options for a component's children."""

from __future__ import annotations

from typing import Any

import pulumi


def child_options(
    parent: pulumi.Resource, opts: pulumi.ResourceOptions | None, **options: Any
) -> pulumi.ResourceOptions:
    """``parent=parent`` plus ``options``, with the component's own ``depends_on`` forwarded:
    children do not inherit it, so a component that wraps one resource must pass it on."""
    return pulumi.ResourceOptions(
        parent=parent, depends_on=opts.depends_on if opts else None, **options
    )
