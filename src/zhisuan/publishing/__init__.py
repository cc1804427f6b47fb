"""Publishing pack versions: a province user uploads a version, a second one approves or rejects it.

The public surface, for the web API and pages, the CLI and the composition root:

* :func:`review` — validate an upload (a :class:`~zhisuan.policy.PackError` names file, line and key),
  diff it against the version in force and list the recorded decisions it would change; stores nothing.
* :func:`submit`, :func:`approve`, :func:`reject` — the steps, each audited; approving one's own
  version is refused. :func:`list_versions`, :func:`get_version`, :func:`text_in_force` to read.
* :class:`DatabaseVersions` — the approved versions as the pack source's input (``bootstrap`` wires it):
  an approved version replaces the pack of its id and takes effect on its own dates, without a restart.
"""

from __future__ import annotations

from zhisuan.publishing.rules import State, check_may_decide, check_may_publish
from zhisuan.publishing.services import (
    approve,
    clean_filename,
    get_version,
    list_versions,
    reject,
    review,
    submit,
    text_in_force,
)
from zhisuan.publishing.source import DatabaseVersions

__all__ = [
    "DatabaseVersions",
    "State",
    "approve",
    "check_may_decide",
    "check_may_publish",
    "clean_filename",
    "get_version",
    "list_versions",
    "reject",
    "review",
    "submit",
    "text_in_force",
]
