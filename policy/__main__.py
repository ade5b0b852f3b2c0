"""Entry point the Pulumi CLI runs for `--policy-pack ./policy`.

Constructing PolicyPack starts the analyzer's gRPC server and blocks forever, so this module is the
only place that does it; tests import `policy.policies` and never this file. The CLI runs this file
with the pack directory first on sys.path, hence the top-level `policies` import.
"""

from pulumi_policy import PolicyPack

from policies import ALL_POLICIES, DEFAULT_ENFORCEMENT, POLICY_PACK_DESCRIPTION, POLICY_PACK_NAME

PolicyPack(
    name=POLICY_PACK_NAME,
    policies=list(ALL_POLICIES),
    enforcement_level=DEFAULT_ENFORCEMENT,
    description=POLICY_PACK_DESCRIPTION,
    display_name="egoengine guardrails",
)
