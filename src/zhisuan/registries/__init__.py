"""The registries and bulletins of art. 6–15: one machinery, ten registries.

* :mod:`.spec` — what a registry is: typed fields with Chinese and English labels, a scope, a public flag;
  checking values (money as fen, dates, choices, cities).
* :mod:`.specs` — the ten registries: scenarios, products, enterprises, parks, competitions, talents,
  startups, funds, standards, trainings.
* :mod:`.rules` — pure rules: a scenario's status and dates, talents' recognitions kept apart from the
  green channels, funds and sub-funds; what the policy engine says of a park's share (art. 9), a
  competition winner's support (art. 10) and a standard's one award (art. 14).
* :mod:`.tabular` — CSV and Excel in (every row checked, line and column named) and out (Chinese headers).
* :mod:`.services` — list, filter, sort, page; add and change with an audit; import; export.
* :mod:`.bulletins` — the quarterly scenario bulletin and the annual ranking, frozen when published.

Matching key enterprises with resources (art. 8) reads these registries and compute; it lives in
:mod:`zhisuan.matching`, which may import both.
"""
