"""Telemetry in: every O1 format into ``PmBatch`` / ``Alarm`` / ``FileReady``, counter mapping and
derived KPIs, and the sources (Kafka with dead letters and replay, a watched directory)."""

from rapp.telemetry.dlq import ReplayReport, replay
from rapp.telemetry.fetch import fetch_file
from rapp.telemetry.kafka import DeadLetterError, KafkaPmSource, SourceBatch
from rapp.telemetry.kpi import KPIS, derive_kpis
from rapp.telemetry.mapping import CounterMap, load_counter_map
from rapp.telemetry.pmxml import decode_pm_xml, iter_pm_xml
from rapp.telemetry.pool import DecodePool
from rapp.telemetry.ranpm import DecodeError, decode_batch, decode_ranpm
from rapp.telemetry.sniff import Decoded, Format, decode_any, decode_file, sniff
from rapp.telemetry.ves import VesBatch, decode_ves, validate_ves
from rapp.telemetry.watch import DirectorySource, FileBatch

__all__ = [
    "KPIS",
    "CounterMap",
    "DeadLetterError",
    "DecodeError",
    "DecodePool",
    "Decoded",
    "DirectorySource",
    "FileBatch",
    "Format",
    "KafkaPmSource",
    "ReplayReport",
    "SourceBatch",
    "VesBatch",
    "decode_any",
    "decode_batch",
    "decode_file",
    "decode_pm_xml",
    "decode_ranpm",
    "decode_ves",
    "derive_kpis",
    "fetch_file",
    "iter_pm_xml",
    "load_counter_map",
    "replay",
    "sniff",
    "validate_ves",
]
