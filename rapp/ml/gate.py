"""The promotion gate: a challenger replaces the champion only if it beats it on the same data.

Which figure decides, and which way is better, is data per kind of model (``GATE_RULES``), not
branches in the registry's code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rapp.ml.card import ModelCard


@dataclass(frozen=True)
class GateRule:
    """The backtest figure a kind of model is promoted on, and which way is better."""

    metric: str
    higher_is_better: bool

    def beats(self, challenger: float, champion: float) -> bool:
        return challenger > champion if self.higher_is_better else challenger < champion


GATE_RULES: Mapping[str, GateRule] = {
    "forecaster": GateRule("wape_1h", higher_is_better=False),
    "detector": GateRule("f1", higher_is_better=True),
}


@dataclass(frozen=True)
class GateVerdict:
    """``refusal`` is None when the challenger may be promoted; the figures are for the card."""

    refusal: str | None
    value: float | None
    champion_value: float | None


def judge(card: ModelCard, champion: ModelCard | None, rule: GateRule) -> GateVerdict:
    """Whether ``card`` beats ``champion`` under ``rule`` on a backtest both were scored on;
    ``refusal`` says why not, with both figures."""
    own = card.metrics.get(rule.metric)
    if champion is None:
        return GateVerdict(None, own, None)
    if champion.kind != card.kind:
        return GateVerdict(
            f"{card.version} is a {card.kind}, champion {champion.version} a {champion.kind}",
            own,
            None,
        )
    for backtest in reversed(card.backtests):
        theirs = champion.backtest_on(backtest.dataset_sha256)
        if theirs is None:
            continue
        mine, best = backtest.metrics.get(rule.metric), theirs.metrics.get(rule.metric)
        if mine is None or best is None:
            missing = card.version if mine is None else champion.version
            return GateVerdict(
                f"{missing} has no {rule.metric} on backtest {backtest.dataset_sha256[:12]}",
                mine,
                best,
            )
        if rule.beats(mine, best):
            return GateVerdict(None, mine, best)
        direction = "higher" if rule.higher_is_better else "lower"
        return GateVerdict(
            f"{card.version} does not beat champion {champion.version}: {rule.metric} "
            f"{mine:.4g} vs {best:.4g} ({direction} is better) "
            f"on backtest {backtest.dataset_sha256[:12]}",
            mine,
            best,
        )
    ours = ", ".join(b.dataset_sha256[:12] for b in card.backtests) or "none"
    theirs_ = ", ".join(b.dataset_sha256[:12] for b in champion.backtests) or "none"
    return GateVerdict(
        f"{card.version} and champion {champion.version} were not scored on the same backtest "
        f"({card.version}: {ours}; {champion.version}: {theirs_}); score both on one backtest",
        own,
        None,
    )
