"""Package mutations declared in configuration: which field of which resource is an NF's capacity.

NF packages differ: the free5gc UPF sizes itself from a ``Capacity`` resource that Porch's
pipeline mirrors into its ``NFDeployment``; a plain workload scales by a Deployment's replicas;
an operator's own package may hold its size anywhere. So the edit is data
(:class:`rapp.config.PackageMutation`), not code: a package takes the first declared mutation
whose resource it holds exactly once. Edits go through ruamel.yaml round-trip (packages.py), so
comments, key order and every untouched file survive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ruamel.yaml.comments import CommentedMap

from rapp.config import PackageMutation, ResourceRef
from rapp.enact.packages import (
    PackageError,
    child_map,
    dump_yaml,
    find_resource,
    load_resources,
    mirror,
    quantity_value,
)
from rapp.quantity import format_quantity, parse_quantity

__all__ = ["Mutations"]

_Docs = dict[str, list[Any]]


class Mutations:
    """The declared mutations, in order of preference."""

    def __init__(self, declared: Sequence[PackageMutation]) -> None:
        if not declared:
            raise ValueError("at least one package mutation must be declared")
        self.declared = tuple(declared)

    def for_files(self, files: Mapping[str, str]) -> PackageMutation:
        """The first mutation whose resource the package holds exactly once."""
        return self._locate(files)[0]

    def read(self, files: Mapping[str, str]) -> str:
        """The package's capacity, as written in its capacity field."""
        mutation, docs = self._locate(files)
        _, _, res = _find(docs, mutation.resource)
        return str(_get(res, mutation.capacity, mutation.resource))

    def apply(
        self, files: Mapping[str, str], *, capacity_to: str, ratio: Decimal | None
    ) -> dict[str, str]:
        """``files`` with the capacity field set to ``capacity_to``, the ``scaled`` fields
        multiplied by ``ratio`` and the copies refreshed; only touched files are re-written."""
        parse_quantity(capacity_to)  # a bad value is refused before anything is edited
        mutation, docs = self._locate(files, copies=True)
        file, _, res = _find(docs, mutation.resource)
        touched = {file}
        current = _get(res, mutation.capacity, mutation.resource)
        _set(res, mutation.capacity, _like(current, parse_quantity(capacity_to), capacity_to))
        if mutation.scaled and ratio is None:
            raise PackageError(f"{mutation.name}: cannot scale {mutation.scaled} from zero")
        for path in mutation.scaled:
            assert ratio is not None
            value = _get(res, path, mutation.resource)
            _set(res, path, _like(value, parse_quantity(str(value)) * ratio))
        for copy in mutation.copies:
            target_file, _, target = _find(docs, copy.target)
            _copy_into(target, copy.path, _get(res, copy.source, mutation.resource), copy.after)
            touched.add(target_file)
        out = dict(files)
        for name in touched:
            out[name] = dump_yaml(files[name], docs[name])
        return out

    def _locate(
        self, files: Mapping[str, str], *, copies: bool = False
    ) -> tuple[PackageMutation, dict[str, list[Any]]]:
        """The mutation that fits, and the package's documents that may matter to it: parsed
        once (round-trip parsing is most of an edit's cost)."""
        kinds = {m.resource.kind for m in self.declared}
        if copies:
            kinds |= {c.target.kind for m in self.declared for c in m.copies}
        docs = load_resources(files, kinds)
        for mutation in self.declared:
            try:
                _find(docs, mutation.resource)
            except PackageError:
                continue
            return mutation, docs
        names = ", ".join(f"{m.name} ({_what(m.resource)})" for m in self.declared)
        raise PackageError(f"no declared mutation fits this package; tried {names}")


def _find(docs: _Docs, ref: ResourceRef) -> tuple[str, int, CommentedMap]:
    return find_resource(docs, ref.api_version, ref.kind, ref.name)


def _what(ref: ResourceRef) -> str:
    return f"{ref.api_version} {ref.kind}" + (f" {ref.name}" if ref.name else "")


def _get(res: Mapping[str, Any], path: str, ref: ResourceRef) -> Any:
    node: Any = res
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            raise PackageError(f"{_what(ref)} has no {path}")
        node = node[key]
    return node


def _set(res: CommentedMap, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = res
    for key in parents:
        node = child_map(node, key)
    node[last] = value


def _copy_into(target: CommentedMap, path: str, value: Any, after: str | None) -> None:
    *parents, last = path.split(".")
    node = target
    for key in parents:
        node = child_map(node, key)
    if isinstance(value, Mapping):
        mirror(child_map(node, last, after=after), value)
    else:
        node[last] = value


def _like(current: Any, value: Decimal, written: str | None = None) -> Any:
    """``value`` in the form of ``current``: an integer field (replicas) stays an integer,
    rounded up so that scaling never undersizes; a quantity stays a quantity string."""
    if isinstance(current, int) and not isinstance(current, bool):
        if written is None:
            return math.ceil(value)
        if value != value.to_integral_value():
            raise PackageError(f"{written} is not a whole number, as this field needs")
        return int(value)
    if written is not None:
        return quantity_value(written)
    return quantity_value(format_quantity(value))
