"""A YAML loader that remembers where each key and item came from, so pack errors name file and line."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from zhisuan.core.errors import PolicyError
from zhisuan.policy.errors import PackError


class MarkedDict(dict[str, Any]):
    """A mapping from a YAML file, with the 1-based line of itself and of each key."""

    line: int
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class MarkedList(list[Any]):
    """A sequence from a YAML file, with the 1-based line of itself and of each item."""

    line: int
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


class _MarkedLoader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences carry line numbers; duplicate keys are errors."""

    def construct_marked_mapping(self, node: MappingNode) -> MarkedDict:
        out = MarkedDict()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == "tag:yaml.org,2002:bool":
                key: object = key_node.value  # YAML 1.1 reads a key `on:` as true; keys stay text
            else:
                key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int) or isinstance(key, bool):
                raise PolicyError(
                    f"keys must be plain text, got {key!r}", row=key_node.start_mark.line + 1, field=str(key)
                )
            skey = str(key)
            if skey in out:
                raise PolicyError(
                    f"duplicate key {skey!r} (first on line {out.key_lines[skey]})",
                    row=key_node.start_mark.line + 1,
                    field=skey,
                )
            out[skey] = self.construct_object(value_node, deep=True)
            out.key_lines[skey] = key_node.start_mark.line + 1
        return out

    def construct_marked_sequence(self, node: SequenceNode) -> MarkedList:
        out = MarkedList(self.construct_object(child, deep=True) for child in node.value)
        out.line = node.start_mark.line + 1
        out.item_lines = [child.start_mark.line + 1 for child in node.value]
        return out


def _construct_decimal(loader: _MarkedLoader, node: yaml.ScalarNode) -> Decimal:
    """Read a YAML float as an exact Decimal, from its text: packs never hold binary floats."""
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise PolicyError(f"not a finite number: {text!r}", row=node.start_mark.line + 1) from None


def _construct_date(loader: _MarkedLoader, node: yaml.ScalarNode) -> object:
    """A YAML date or timestamp; one that is not on the calendar (2025-13-01) names its line."""
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError as exc:
        raise PolicyError(f"not a date: {node.value!r} ({exc})", row=node.start_mark.line + 1) from None


_MarkedLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)
_MarkedLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_date)
_MarkedLoader.add_constructor("tag:yaml.org,2002:map", _MarkedLoader.construct_marked_mapping)
_MarkedLoader.add_constructor("tag:yaml.org,2002:seq", _MarkedLoader.construct_marked_sequence)


def load_marked(text: str, filename: str) -> Any:
    """Parse YAML text into MarkedDict/MarkedList values; syntax errors name the file and line."""
    try:
        return yaml.load(text, Loader=_MarkedLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise PackError(
            f"YAML syntax error: {exc.problem or exc}", file=filename, line=line, key=None
        ) from None
    except PackError:
        raise
    except PolicyError as exc:
        raise PackError(exc.message, file=filename, line=exc.row, key=exc.field) from None
