"""Job engines behind the centers: one port, adapters for Slurm, Ray, Kubernetes and a simulated engine."""

from zhisuan.compute.engines.kubernetes import KubernetesEngine
from zhisuan.compute.engines.port import (
    Capacity,
    Engine,
    EngineJobState,
    EngineUnavailableError,
    JobRequest,
    JobStatus,
    Submission,
    UsageRecord,
    engine_job_name,
    parse_engine_job_name,
)
from zhisuan.compute.engines.ray import RayEngine
from zhisuan.compute.engines.registry import KINDS, EngineSet, build_engine, merge_pool_configs
from zhisuan.compute.engines.simulated import SimulatedEngine
from zhisuan.compute.engines.slurm import SlurmEngine

__all__ = [
    "KINDS",
    "Capacity",
    "Engine",
    "EngineJobState",
    "EngineSet",
    "EngineUnavailableError",
    "JobRequest",
    "JobStatus",
    "KubernetesEngine",
    "RayEngine",
    "SimulatedEngine",
    "SlurmEngine",
    "Submission",
    "UsageRecord",
    "build_engine",
    "engine_job_name",
    "merge_pool_configs",
    "parse_engine_job_name",
]
