"""What every command group shares: the console, JSON output and the one way errors end a command."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import pydantic
import typer
from rich.console import Console
from rich.table import Table

from zhisuan.core.errors import ValidationError, ZhisuanError

console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

P = ParamSpec("P")
R = TypeVar("R")

#: the options every command group's commands take alike
AS = typer.Option(None, "--as", help="Act as this user (the role and scope decide what is allowed).")
JSON = typer.Option(False, "--json", help="Machine-readable output.")

EXIT_BAD_INPUT = 2


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print one clear red line on stderr and exit non-zero."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def from_pydantic(exc: pydantic.ValidationError) -> ZhisuanError:
    """The first problem pydantic found, as a ValidationError naming its field."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first.get("loc", ())) or None
    return ValidationError(str(first.get("msg", "invalid value")), field=field)


def guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a ZhisuanError (or an unreadable file) raised by a command into one red line and exit 2."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ZhisuanError as exc:
            fail(str(exc))
        except pydantic.ValidationError as exc:
            fail(str(from_pydantic(exc)))
        except UnicodeDecodeError as exc:
            fail(f"the file is not UTF-8 text (byte {exc.start}); save it as UTF-8 and try again")
        except IsADirectoryError as exc:
            fail(f"{exc.filename}: is a directory; give a file")
        except FileNotFoundError as exc:
            fail(f"{exc.filename}: no such file")
        except PermissionError as exc:
            fail(f"{exc.filename}: permission denied")

    return wrapper


def output_file(path: Path | None, field: str, suffixes: Sequence[str] = ()) -> None:
    """Check, before any work is done, that the command can write its output to ``path`` (None: the
    option was not given, nothing to check).

    A wrong suffix (when ``suffixes`` are given, lower case with the dot), a directory, or a place
    nothing can be written to is a ValidationError naming ``field``, so a long run or a recorded
    action does not end in an error about where to put its result. Missing parent folders are
    created. The check writes nothing: a file created to probe is removed again.
    """
    if path is None:
        return
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValidationError(f"{path.name!r}: the file ends in {' or '.join(suffixes)}", field=field)
    if path.is_dir():
        raise ValidationError(f"{path}: is a directory; give a file", field=field)
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab"):
            pass
    except OSError as exc:
        raise ValidationError(f"cannot write {path}: {exc.strerror or exc}", field=field) from None
    if not existed:
        path.unlink(missing_ok=True)


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=_default, sort_keys=False)


def print_json(value: object) -> None:
    """Machine-readable output on stdout (no Rich markup)."""
    sys.stdout.write(dumps(value) + "\n")
    sys.stdout.flush()


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = Table(title=title, show_lines=False)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


Cell = str | Callable[[Mapping[str, Any]], object]


def print_records(
    title: str, records: Iterable[Mapping[str, Any]], columns: Sequence[str | tuple[str, Cell]]
) -> None:
    """A table of records, a column each: ``"key"`` (the key is the header), ``("header", "key")``, or
    ``("header", cell)`` where ``cell`` makes the text from the record."""
    cols = [(c, c) if isinstance(c, str) else c for c in columns]
    print_table(
        title,
        [header for header, _ in cols],
        [[cell(r) if callable(cell) else r[cell] for _, cell in cols] for r in records],
    )
