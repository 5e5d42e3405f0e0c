"""O1 telemetry simulator: a RAN load model published as ranpm PM reports on Kafka (the demo's
``Network``), and a labelled traffic generator for training and evaluating models
(``simulate``, see docs/simulator.md)."""

from simulators.o1.dataset import Dataset, simulate
from simulators.o1.network import PRBS, SITE_PLAN, Network
from simulators.o1.report import encode_reports, rop_reports

__all__ = ["PRBS", "SITE_PLAN", "Dataset", "Network", "encode_reports", "rop_reports", "simulate"]
