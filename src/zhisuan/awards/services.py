"""The names the web pages still import from here; they live in :mod:`.calls`, :mod:`.applications`,
:mod:`.review` and :mod:`.views`. Import from those: this module goes once the pages do."""

from __future__ import annotations

from zhisuan.awards.applications import (
    add_evidence,
    create_application,
    evidence_file,
    submit,
    update_application,
)
from zhisuan.awards.calls import create_call, get_call, list_calls
from zhisuan.awards.review import review
from zhisuan.awards.views import SORTS, get_application, list_applications

__all__ = [
    "SORTS",
    "add_evidence",
    "create_application",
    "create_call",
    "evidence_file",
    "get_application",
    "get_call",
    "list_applications",
    "list_calls",
    "review",
    "submit",
    "update_application",
]
