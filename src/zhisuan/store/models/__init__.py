"""Every context's tables, imported so that ``Base.metadata`` knows them all (one line per context)."""

from zhisuan.store.models import awards as awards
from zhisuan.store.models import compute as compute
from zhisuan.store.models import core as core
from zhisuan.store.models import ledger as ledger
from zhisuan.store.models import metering as metering
from zhisuan.store.models import opendata as opendata
from zhisuan.store.models import publishing as publishing
from zhisuan.store.models import registries as registries

__all__ = ["core"]
