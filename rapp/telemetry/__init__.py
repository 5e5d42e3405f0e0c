"""Telemetry in: codecs into ``PmBatch``, derived KPIs, and the Kafka source with dead letters."""

from rapp.telemetry.kafka import DeadLetterError, KafkaPmSource, SourceBatch
from rapp.telemetry.kpi import derive_kpis
from rapp.telemetry.ranpm import DecodeError, decode_batch, decode_ranpm

__all__ = [
    "DeadLetterError",
    "DecodeError",
    "KafkaPmSource",
    "SourceBatch",
    "decode_batch",
    "decode_ranpm",
    "derive_kpis",
]
