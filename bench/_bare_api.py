"""The reference of ``bench_api.py``: a FastAPI sync handler that takes a job's JSON and does one INSERT.

Run by uvicorn as a factory (``uvicorn --factory _bare_api:app``) with ``BARE_DATABASE_URL`` set.
"""

from __future__ import annotations

import datetime as dt
import os

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import create_engine, text


class Job(BaseModel):
    name: str
    command: str
    cards: int
    runtime_s: int


def app() -> FastAPI:
    engine = create_engine(
        os.environ["BARE_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1), pool_size=20
    )
    api = FastAPI()

    @api.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.post("/jobs", status_code=201)
    def submit(job: Job) -> dict[str, object]:
        with engine.begin() as conn:
            new = conn.execute(
                text(
                    "INSERT INTO bench_jobs (name, command, cards, runtime_s, submitted_at) "
                    "VALUES (:name, :command, :cards, :runtime_s, :at) RETURNING id"
                ),
                {**job.model_dump(), "at": dt.datetime.now(dt.UTC)},
            ).scalar_one()
        return {"id": new, **job.model_dump(), "state": "queued"}

    return api
