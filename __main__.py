"""egoengine: Coder, PostgreSQL, templates and images for one stack."""

import pulumi

from components import settings
from components.program import build

for name, value in build(settings.load()).items():
    pulumi.export(name, value)
