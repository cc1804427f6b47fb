"""Settings, read from the environment once, by the composition root only."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    database_url: str
    secret_key: str
    run_worker: bool = True
    #: local engines the demo adds centers for (``ZHISUAN_DEMO_ENGINES=slurm,ray``); none by default
    demo_engines: tuple[str, ...] = ()
    #: the env file ``scripts/services/services-up`` writes (``ZHISUAN_SERVICES_ENV``, else
    #: ``$ZHISUAN_SERVICES_DIR/env``, default ``var/services/env``)
    services_env: Path = Path("var/services/env")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _secret(data_dir: Path, env: Mapping[str, str]) -> str:
    if env.get("ZHISUAN_SECRET_KEY"):
        return env["ZHISUAN_SECRET_KEY"]
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """``ZHISUAN_DATA_DIR`` (default ./var), ``ZHISUAN_DATABASE_URL`` (default SQLite in the data dir)."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("ZHISUAN_DATA_DIR", "var")).resolve()
    url = env.get("ZHISUAN_DATABASE_URL") or f"sqlite:///{data_dir / 'zhisuan.db'}"
    return Settings(
        data_dir=data_dir,
        database_url=url,
        secret_key=_secret(data_dir, env),
        run_worker=env.get("ZHISUAN_WORKER", "1") != "0",
        demo_engines=tuple(k.strip() for k in env.get("ZHISUAN_DEMO_ENGINES", "").split(",") if k.strip()),
        services_env=Path(
            env.get("ZHISUAN_SERVICES_ENV") or Path(env.get("ZHISUAN_SERVICES_DIR", "var/services")) / "env"
        ),
    )
