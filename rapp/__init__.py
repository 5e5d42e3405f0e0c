"""rapp: an O-RAN rApp for the Non-RT RIC.

O1 PM telemetry in over Kafka, per-cell forecasts, capacity decisions checked against operator
Rego policies, and allowed decisions enacted as A1 policies plus Nephio package revisions.
"""

__version__ = "0.1.0"
