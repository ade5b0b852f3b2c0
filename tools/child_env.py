"""The environment a helper gives the tools it starts: an allow-list, never the whole inheritance.

pulumi-command starts a ``local.Command`` with the provider's whole environment plus the command's
own ``environment`` (``cmd.Env = os.Environ()`` in provider/pkg/provider/local/commandOutputs.go),
so whatever the deploy had — ``PULUMI_CONFIG_PASSPHRASE``, ``OP_SERVICE_ACCOUNT_TOKEN``, a CI
token — reaches ``tools.pg_backup`` and ``tools.build_image``. They pass on only the names below
and the few each tool needs, so ``pg_dump``, skopeo, docker and nix never see the rest.

Standard library only: the helpers start without importing pulumi.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# What any command-line tool needs to find itself, its home, its locale, temp space and CAs.
BASE_NAMES: frozenset[str] = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
    "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "NIX_SSL_CERT_FILE",
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
})
BASE_PREFIXES: tuple[str, ...] = ("LC_",)

# libpq's documented environment variables (PostgreSQL 15 docs, "Environment Variables"), which
# pg_dump reads: the connection, its TLS files and the password (given to pg_dump on purpose).
LIBPQ_NAMES: frozenset[str] = frozenset({
    "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGPASSFILE",
    "PGCHANNELBINDING", "PGSERVICE", "PGSERVICEFILE", "PGOPTIONS", "PGAPPNAME", "PGSSLMODE",
    "PGREQUIRESSL", "PGSSLCOMPRESSION", "PGSSLCERT", "PGSSLKEY", "PGSSLROOTCERT", "PGSSLCRL",
    "PGSSLCRLDIR", "PGSSLSNI", "PGREQUIREPEER", "PGSSLMINPROTOCOLVERSION",
    "PGSSLMAXPROTOCOLVERSION", "PGGSSENCMODE", "PGKRBSRVNAME", "PGGSSLIB", "PGCONNECT_TIMEOUT",
    "PGCLIENTENCODING", "PGTARGETSESSIONATTRS", "PGDATESTYLE", "PGTZ", "PGGEQO", "PGSYSCONFDIR",
    "PGLOCALEDIR",
})

# The engine client (docker CLI), the containers tools (skopeo) and nix.
IMAGE_TOOL_NAMES: frozenset[str] = frozenset({
    "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_BUILDKIT",
    "DOCKER_CLI_HINTS", "REGISTRIES_CONFIG_PATH", "NIX_PATH", "NIX_REMOTE", "NIX_USER_CONF_FILES",
})
IMAGE_TOOL_PREFIXES: tuple[str, ...] = ("CONTAINERS_",)


def child_environment(
    inherited: Mapping[str, str],
    *,
    names: Iterable[str] = (),
    prefixes: Iterable[str] = (),
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``inherited`` reduced to the base names plus ``names``/``prefixes``, then ``overrides`` set."""
    allowed = BASE_NAMES | frozenset(names)
    allowed_prefixes = BASE_PREFIXES + tuple(prefixes)
    environment = {
        key: value for key, value in inherited.items()
        if key in allowed or key.startswith(allowed_prefixes)
    }
    environment.update(overrides or {})
    return environment
