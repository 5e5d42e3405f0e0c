"""O1 telemetry simulator: a RAN load model published as ranpm PM reports on Kafka."""

from simulators.o1.network import PRBS, SITE_PLAN, Network
from simulators.o1.report import encode_reports, rop_reports

__all__ = ["PRBS", "SITE_PLAN", "Network", "encode_reports", "rop_reports"]
