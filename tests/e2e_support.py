"""What the end-to-end tests check in a Nephio repository and an A1-PMS, shared between them."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
from ruamel.yaml import YAML

KPT_LINE = re.compile(r"^kpt:(\{.*\})$", re.MULTILINE)

# The fields a capacity change may touch: the Capacity throughputs and what nfdeploy-fn derives
# from them in the NFDeployment.
SCALED_PATHS = {
    ("req.nephio.org/v1alpha1", "Capacity", "spec"),
    ("workload.nephio.org/v1alpha1", "NFDeployment", "spec", "capacity"),
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={repo}", *args], check=True, capture_output=True, text=True
    ).stdout


def tags_of(repo: Path, package: str) -> list[str]:
    return git(repo, "tag", "-l", f"{package}/v*").split()


def workspace_of(repo: Path, tag: str) -> str | None:
    message = git(repo, "log", "-1", "--format=%B", tag)
    match = KPT_LINE.search(message)
    return json.loads(match.group(1)).get("workspaceName") if match else None


def package_docs(repo: Path, tag: str, package: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every KRM resource of the package at ``tag``, keyed by (file, kind/name)."""
    yaml = YAML(typ="safe")
    docs: dict[tuple[str, str], dict[str, Any]] = {}
    for name in git(repo, "ls-tree", "-r", "--name-only", tag, f"{package}/").split():
        if not name.endswith((".yaml", ".yml")) and not name.endswith("Kptfile"):
            continue
        for doc in yaml.load_all(git(repo, "show", f"{tag}:{name}")):
            if isinstance(doc, dict):
                docs[(name, f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}")] = doc
    return docs


def changed_paths(before: Any, after: Any, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    if isinstance(before, dict) and isinstance(after, dict):
        out: set[tuple[str, ...]] = set()
        for key in before.keys() | after.keys():
            out |= changed_paths(before.get(key), after.get(key), (*path, str(key)))
        return out
    return set() if before == after else {path}


def only_scaled_fields_differ(repo: Path, package: str, old_tag: str, new_tag: str) -> list[str]:
    """Differences between two revisions outside the scaled fields (empty means clean)."""
    old, new = package_docs(repo, old_tag, package), package_docs(repo, new_tag, package)
    if old.keys() != new.keys():
        return [f"resources differ: {sorted(old.keys() ^ new.keys())}"]
    stray = []
    for key in old:
        doc_old, doc_new = old[key], new[key]
        prefix = (doc_old.get("apiVersion", ""), doc_old.get("kind", ""))
        for path in changed_paths(doc_old, doc_new):
            if not any((*prefix, *path)[: len(p)] == p for p in SCALED_PATHS):
                stray.append(f"{key}: {'.'.join(path)}")
    return stray


def a1_policy_ids(a1pms: str) -> list[str]:
    rows = httpx.get(f"{a1pms}/a1-policy-management/v1/policies", timeout=5).json()
    return [row["policyId"] for row in rows]
