"""Settings, read from the environment once, by the composition root only."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from zhisuan.core.errors import ValidationError


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of a zhisuan process; only :func:`load_settings` reads the environment."""

    data_dir: Path
    database_url: str
    secret_key: str
    #: ``zhisuan serve`` runs a dispatch worker in the same process (``ZHISUAN_WORKER=0``: none)
    run_worker: bool = True
    #: seconds between the dispatch worker's steps (``ZHISUAN_WORKER_INTERVAL``)
    worker_interval_s: float = 2.0
    #: session cookies only over HTTPS (``ZHISUAN_COOKIE_SECURE=1`` behind a TLS proxy)
    cookie_secure: bool = False
    #: a bearer token a Prometheus scraper sends for ``/metrics`` (``ZHISUAN_METRICS_TOKEN``); staff
    #: accounts read it without one
    metrics_token: str | None = None
    #: the account command-line actions are recorded under (``ZHISUAN_CLI_USER``, or ``--as``)
    cli_user: str | None = None
    #: the audit log's HMAC key (``ZHISUAN_AUDIT_KEY``, the same on every machine of a PostgreSQL
    #: installation); None means the owner-only file ``<data_dir>/audit_key``, created on first use
    audit_key: str | None = None
    #: where administrators publish policy packs (``*.yaml``); None means ``<data_dir>/packs``
    packs_dir: Path | None = None
    #: local engines the demo adds centers for (``ZHISUAN_DEMO_ENGINES=slurm,ray``); none by default
    demo_engines: tuple[str, ...] = ()
    #: the env file ``scripts/services/services-up`` writes (``ZHISUAN_SERVICES_ENV``, else
    #: ``$ZHISUAN_SERVICES_DIR/env``, default ``var/services/env``)
    services_env: Path = Path("var/services/env")

    def __post_init__(self) -> None:
        if self.packs_dir is None:
            object.__setattr__(self, "packs_dir", self.data_dir / "packs")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _secret(data_dir: Path, env: Mapping[str, str]) -> str:
    if env.get("ZHISUAN_SECRET_KEY"):
        return env["ZHISUAN_SECRET_KEY"]
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    make_private_dir(data_dir)
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # owner-only from the first byte
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


def make_private_dir(path: Path) -> None:
    """Create the data directory readable by its owner only (0700); an existing one keeps its mode."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a number of seconds, got {raw!r}", field=name) from None
    if not 0 < value < 86_400:
        raise ValidationError(f"{name} must be between 0 and 86400 seconds, got {raw!r}", field=name)
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings from ``env`` (default: the process environment); README's table lists the variables."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("ZHISUAN_DATA_DIR", "var")).resolve()
    url = env.get("ZHISUAN_DATABASE_URL") or f"sqlite:///{data_dir / 'zhisuan.db'}"
    return Settings(
        data_dir=data_dir,
        database_url=url,
        secret_key=_secret(data_dir, env),
        run_worker=env.get("ZHISUAN_WORKER", "1") != "0",
        worker_interval_s=_positive(env, "ZHISUAN_WORKER_INTERVAL", 2.0),
        cookie_secure=env.get("ZHISUAN_COOKIE_SECURE", "0") == "1",
        metrics_token=env.get("ZHISUAN_METRICS_TOKEN") or None,
        cli_user=env.get("ZHISUAN_CLI_USER") or None,
        audit_key=env.get("ZHISUAN_AUDIT_KEY") or None,
        packs_dir=Path(env["ZHISUAN_PACKS_DIR"]).resolve() if env.get("ZHISUAN_PACKS_DIR") else None,
        demo_engines=tuple(k.strip() for k in env.get("ZHISUAN_DEMO_ENGINES", "").split(",") if k.strip()),
        services_env=Path(
            env.get("ZHISUAN_SERVICES_ENV") or Path(env.get("ZHISUAN_SERVICES_DIR", "var/services")) / "env"
        ),
    )
