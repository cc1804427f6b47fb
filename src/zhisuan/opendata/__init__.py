"""Open public data (art. 3) and data suppliers (art. 4).

* :mod:`.model` — pure values: openness, themes, publishers and who manages what, a dataset's fields,
  grants, quarters and the opening bulletin's figures and ranking;
* :mod:`.search` — jieba segmentation and the databases' full-text indexes (FTS5, ``tsvector``), facets;
* :mod:`.publishers` — who an entry belongs to (a city, a department, or the one the data bureau names);
* :mod:`.catalog` — the entries (history kept), their search and listings;
* :mod:`.distributions` — files stored by SHA-256 or links, and downloads;
* :mod:`.sharing` — requests for conditional data, grants and refusals;
* :mod:`.dcat` — DCAT-AP JSON-LD, CSV and Excel exports;
* :mod:`.bulletins` — quarterly opening bulletins, frozen when published;
* :mod:`.suppliers` — the art. 4 registry, the cities' ratios, the engine's subsidy paid through awards,
  the province's performance reward;
* :mod:`.imports` — bulk registration from CSV or Excel, all rows or none.

See docs/opendata.md.
"""

from zhisuan.opendata.model import DatasetFields, Openness, Quarter, RequestState
from zhisuan.opendata.search import Filters

__all__ = ["DatasetFields", "Filters", "Openness", "Quarter", "RequestState"]
