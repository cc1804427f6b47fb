"""Priority matching of resources for key enterprises (art. 8).

* :mod:`.model` — pure: pool offers ranked (a full pool dropped, cheapest after vouchers first), their
  reasons in words, and the :class:`~.model.DatasetCatalog` port for open datasets.
* :mod:`.services` — the suggestions for one enterprise of the registry: compute (compute's read model
  priced by the platform's art. 2 rule), datasets, open scenarios, funds and sub-funds, park sites.
* :mod:`.priority` — the key enterprises' priority weight in placement, the scheduler's art. 8 rule
  (the pack's weight, the registry's organizations).

It sits above ``compute``, ``metering``'s rule (through the composition root) and ``registries``; none
of them imports it.
"""
