"""`zhisuan policy publish | versions | approve | reject`: publishing a pack version from the command line.

Commands act as the user named by ``--as`` (a province user or an administrator); without it, as the
root option's account or the command line's administrator ``cli:<login>``. A second user must
approve: the one who submitted may not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import typer

from zhisuan import publishing
from zhisuan.cli._common import console, guarded, print_json, print_table
from zhisuan.cli._platform import acting, platform
from zhisuan.cli.policy import app as policy_app
from zhisuan.core.access import Principal
from zhisuan.core.clock import Month
from zhisuan.core.errors import ValidationError

AS_HELP = "Act as this province user (default: the root option --as, else the administrator 'cli:<login>')."


def _who(username: str | None) -> Principal:
    return acting(username)


def _print_review(review: dict[str, Any]) -> None:
    diff, impact = review["diff"], review["would_change"]
    against = diff["against"] or "nothing in force"
    console.print(f"[green]valid[/] pack {review['pack']} ({review['filename']}); against {against}")
    if diff["changes"]:
        print_table(
            "changes",
            ["article", "what", "in force", "new"],
            [(c["article"], c["what"], c["a"], c["b"]) for c in diff["changes"]],
        )
    console.print(
        f"recorded decisions of {impact['month'] or '— (nothing settled yet)'}: {impact['checked']} checked, "
        f"{impact['changed']} would change ({impact['old_total']} → {impact['new_total']})",
        highlight=False,
    )
    if impact["cases"]:
        print_table(
            "would change",
            ["kind", "id", "article", "on", "case", "old", "new"],
            [
                (c["kind"], c["id"], c["article"], c["on"], c["label"], c.get("old", ""), c.get("new", ""))
                for c in impact["cases"]
            ],
        )


@guarded
def publish_cmd(
    path: Path = typer.Argument(..., help="The pack version, a YAML file."),
    note: str = typer.Option("", "--note", help="What this version changes and why."),
    check: bool = typer.Option(False, "--check", help="Validate, diff and compare only; store nothing."),
    month: str | None = typer.Option(None, "--month", help="Settlement month to re-judge (YYYY-MM)."),
    username: str | None = typer.Option(None, "--as", help=AS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Submit a new pack version for approval: validation (file, line, key), diff, decisions it changes."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {path}: {exc}", field="path") from None
    who, p = _who(username), platform()
    when = Month.parse(month) if month else None
    with p.uow() as uow:
        if check:
            out = publishing.review(uow, who, p.packs, text, path.name, when)
        else:
            out = publishing.submit(uow, who, p.packs, text, path.name, p.clock, note, when)
            uow.commit()
    if as_json:
        print_json(out)
        return
    if check:
        _print_review(out)
        return
    _print_review(cast(dict[str, Any], out["review"]))
    console.print(
        f"submitted version {out['version']} of {out['pack']} as #{out['id']}; "
        f"a second province user approves it: zhisuan policy approve {out['id']}",
        highlight=False,
    )


@guarded
def versions_cmd(
    pack: str | None = typer.Option(None, "--pack", help="Versions of this pack only."),
    state: str | None = typer.Option(None, "--state", help="submitted, approved or rejected."),
    username: str | None = typer.Option(None, "--as", help=AS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Pack versions, newest first."""
    if state is not None and state not in {s.value for s in publishing.State}:
        raise ValidationError("state is submitted, approved or rejected", field="state")
    with platform().uow(read_only=True) as uow:
        rows = publishing.list_versions(uow, _who(username), pack, state)
    if as_json:
        print_json({"versions": rows})
        return
    print_table(
        "pack versions",
        ["id", "pack", "version", "state", "submitted by", "decided by", "reason", "note"],
        [
            (
                r["id"],
                r["pack"],
                r["version"],
                r["state"],
                r["submitted_by"],
                r["decided_by"] or "",
                r["reason"] or "",
                r["note"],
            )
            for r in rows
        ],
    )


@guarded
def approve_cmd(
    version_id: int = typer.Argument(..., help="The version's id (see `zhisuan policy versions`)."),
    username: str | None = typer.Option(None, "--as", help=AS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Approve a submitted version (not one's own): it takes effect on its own dates, without a restart."""
    p = platform()
    with p.uow() as uow:
        out = publishing.approve(uow, _who(username), p.packs, version_id, p.clock)
        uow.commit()
    if as_json:
        print_json(out)
        return
    console.print(f"approved version {out['version']} of {out['pack']} (#{out['id']})", highlight=False)


@guarded
def reject_cmd(
    version_id: int = typer.Argument(..., help="The version's id (see `zhisuan policy versions`)."),
    reason: str = typer.Option(..., "--reason", help="Why it is rejected."),
    username: str | None = typer.Option(None, "--as", help=AS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Reject a submitted version (not one's own), saying why."""
    p = platform()
    with p.uow() as uow:
        out = publishing.reject(uow, _who(username), version_id, reason, p.clock)
        uow.commit()
    if as_json:
        print_json(out)
        return
    console.print(f"rejected version {out['version']} of {out['pack']} (#{out['id']})", highlight=False)


# the publishing commands join the `zhisuan policy` group (the command line's table loads it from here)
policy_app.command("publish")(publish_cmd)
policy_app.command("versions")(versions_cmd)
policy_app.command("approve")(approve_cmd)
policy_app.command("reject")(reject_cmd)
