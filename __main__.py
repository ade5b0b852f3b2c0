"""egoengine: Coder, PostgreSQL, templates and images for one stack."""

import pulumi

from components import settings
from components.onepassword_cli import require_op_cli
from components.program import build

resolved = settings.load()
# Before any resource: pulumi-onepassword needs the `op` CLI for every op:// secret.
require_op_cli(resolved.settings)
for name, value in build(resolved).items():
    pulumi.export(name, value)
