"""ranpm PM report JSON codec: the shared O-RAN SC samples, gzip, and every malformed form."""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rapp.telemetry.ranpm import DecodeError, decode_batch, decode_ranpm

DN = "SubNetwork=CountryNN,MeContext=MEC-Gbg-1,ManagedElement=RNC-Gbg-1"
CELL_997 = f"{DN},RncFunction=RF-1,UtranCell=Gbg-997"
CELL_999 = f"{DN},RncFunction=RF-1,UtranCell=Gbg-999"
# the sample's *EpochMicrosec are really milliseconds: 951912000000 ms = 2000-03-01T12:00Z
SAMPLE_END = pd.Timestamp("2000-03-01T12:15:00Z")


def _load(samples: Path, name: str) -> bytes:
    return (samples / "pm-json" / name).read_bytes()


def _doc(samples: Path) -> dict[str, Any]:
    return json.loads(_load(samples, "ranpm_pm_report_filtered.json"))


def test_full_sample(samples: Path) -> None:
    frame = decode_ranpm(_load(samples, "ranpm_pm_report.json")).frame
    assert set(frame["period_end"]) == {SAMPLE_END}
    assert set(frame["granularity_s"]) == {900}
    assert frame["cell"].nunique() == 4
    v = frame.set_index(["cell", "counter"])["value"]
    assert v[(CELL_997, "attTCHSeizures")] == 813
    assert v[(CELL_997, "succImmediateAssignProcs8")] == 787
    # its measObjInstId repeats the DN's ManagedElement: merged, not duplicated
    enb = f"{DN},ENodeBFunction=1"
    assert not frame["cell"].str.contains("ManagedElement=RNC-Gbg-1,ManagedElement").any()
    # "86,87,2,..." is a distribution counter: one row per bin
    assert v[(enb, "succTCHSeizures2[0]")] == 86
    assert v[(enb, "succTCHSeizures2[8]")] == 24
    assert v[(enb, "attTCHSeizures1")] == 4
    assert set(frame.loc[frame["suspect"], "cell"]) == {CELL_999}
    assert len(frame) == 3 * 4 * 2 + 3 + 9


def test_filtered_sample(samples: Path) -> None:
    frame = decode_ranpm(_load(samples, "ranpm_pm_report_filtered.json")).frame
    assert list(frame["counter"].unique()) == ["succImmediateAssignProcs"]
    assert frame.set_index("cell")["value"].to_dict() == {
        CELL_997: 1113.0,
        f"{DN},RncFunction=RF-1,UtranCell=Gbg-998": 234.0,
        CELL_999: 789.0,
    }
    assert frame["suspect"].tolist() == [False, False, True]
    assert str(frame["period_end"].dtype) == "datetime64[ns, UTC]"
    assert str(frame["granularity_s"].dtype) == "int32"


def test_gzip_is_detected(samples: Path) -> None:
    raw = _load(samples, "ranpm_pm_report.json")
    pd.testing.assert_frame_equal(decode_ranpm(gzip.compress(raw)).frame, decode_ranpm(raw).frame)


def test_microsecond_header_and_lying_last_epoch(samples: Path) -> None:
    doc = _doc(samples)
    hdr = doc["event"]["commonEventHeader"]
    hdr["startEpochMicrosec"], hdr["lastEpochMicrosec"] = (
        1_736_163_900_000_000,
        1_736_164_800_000_000,
    )
    assert set(decode_ranpm(json.dumps(doc).encode()).frame["period_end"]) == {
        pd.Timestamp("2025-01-06T12:00Z")
    }
    hdr["lastEpochMicrosec"] = 1_736_170_000_123_456  # converter clock, not the ROP end
    assert set(decode_ranpm(json.dumps(doc).encode()).frame["period_end"]) == {
        pd.Timestamp("2025-01-06T12:00Z")
    }
    hdr["startEpochMicrosec"] = 0  # insane start, sane last: trust last
    hdr["lastEpochMicrosec"] = 1_736_164_800_000_000
    assert set(decode_ranpm(json.dumps(doc).encode()).frame["period_end"]) == {
        pd.Timestamp("2025-01-06T12:00Z")
    }


def test_empty_svalue_is_nan(samples: Path) -> None:
    doc = _doc(samples)
    mdc = doc["event"]["perf3gppFields"]["measDataCollection"]
    mdc["measInfoList"][0]["measValuesList"][0]["measResults"][0]["sValue"] = ""
    frame = decode_ranpm(json.dumps(doc).encode()).frame
    assert frame["value"].isna().tolist() == [True, False, False]


def test_empty_dn_uses_instance_id(samples: Path) -> None:
    doc = _doc(samples)
    doc["event"]["perf3gppFields"]["measDataCollection"]["measuredEntityDn"] = ""
    frame = decode_ranpm(json.dumps(doc).encode()).frame
    assert frame["cell"].iloc[0] == "RncFunction=RF-1,UtranCell=Gbg-997"


def _mdc(d: dict[str, Any]) -> dict[str, Any]:
    return d["event"]["perf3gppFields"]["measDataCollection"]


def _mv(d: dict[str, Any]) -> dict[str, Any]:
    return _mdc(d)["measInfoList"][0]["measValuesList"][0]


def _set(path: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: Any) -> Callable:
    def mutate(d: dict[str, Any]) -> None:
        if value is _DELETE:
            del path(d)[key]
        else:
            path(d)[key] = value

    return mutate


_DELETE = object()
_HDR = lambda d: d["event"]["commonEventHeader"]  # noqa: E731
_FIELDS = lambda d: d["event"]["perf3gppFields"]  # noqa: E731
_RESULT = lambda d: _mv(d)["measResults"][0]  # noqa: E731

MALFORMED = [
    ("domain", _set(_HDR, "domain", "fault"), "domain is 'fault'"),
    ("no header", _set(lambda d: d["event"], "commonEventHeader", _DELETE), "commonEventHeader"),
    ("no mdc", _set(_FIELDS, "measDataCollection", _DELETE), "measDataCollection missing"),
    ("no infos", _set(_mdc, "measInfoList", _DELETE), "measInfoList missing"),
    ("granularity", _set(_mdc, "granularityPeriod", "900"), "granularityPeriod"),
    ("p high", _set(_RESULT, "p", 2), "p=2 out of range 1..1"),
    ("p zero", _set(_RESULT, "p", 0), "p=0 out of range"),
    ("p string", _set(_RESULT, "p", "1"), "p='1' out of range"),
    ("no p", _set(_RESULT, "p", _DELETE), "without 'p'"),
    ("svalue", _set(_RESULT, "sValue", "12a"), "non-numeric sValue '12a'"),
    ("svalue inf", _set(_RESULT, "sValue", "inf"), "non-numeric sValue 'inf'"),
    ("svalue huge", _set(_RESULT, "sValue", "1e999"), "infinite sValue '1e999'"),
    ("svalue blank", _set(_RESULT, "sValue", " "), "non-numeric sValue ' '"),
    (
        "rvalue nan",
        lambda d: _RESULT(d).update(rValue=float("nan")) or _RESULT(d).pop("sValue"),
        "non-finite value nan",
    ),
    (
        "ivalue huge",
        lambda d: _RESULT(d).update(iValue=10**400) or _RESULT(d).pop("sValue"),
        "non-finite value",
    ),
    ("suspect", _set(_mv, "suspectFlag", "maybe"), "suspectFlag is 'maybe'"),
    ("instance", _set(_mv, "measObjInstId", ""), "measObjInstId"),
    ("times", lambda d: _HDR(d).update(startEpochMicrosec=-1, lastEpochMicrosec="x"), "no sane"),
]


@pytest.mark.parametrize(
    ("mutate", "reason"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_reason(samples: Path, mutate: Callable, reason: str) -> None:
    doc = copy.deepcopy(_doc(samples))
    mutate(doc)
    with pytest.raises(DecodeError) as info:
        decode_ranpm(json.dumps(doc).encode())
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty payload"),
        (b"{not json", "not JSON"),
        (b"\xff\xfe{}", "not"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"event": {}}', "commonEventHeader missing"),
        (b"\x1f\x8b\x08\x00garbage", "bad gzip"),
    ],
)
def test_malformed_bytes(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_ranpm(payload)
    assert reason in info.value.reason


def test_decode_batch_isolates_failures(samples: Path) -> None:
    good = _load(samples, "ranpm_pm_report_filtered.json")
    batch, failures = decode_batch([good, b"nope", gzip.compress(good), b'{"event": 1}'])
    assert [i for i, _ in failures] == [1, 3]
    assert "not JSON" in failures[0][1].reason
    assert len(batch) == 6
    assert batch.frame.index.tolist() == list(range(6))


def test_decode_batch_all_bad_is_empty() -> None:
    batch, failures = decode_batch([b"x"])
    assert len(batch) == 0
    assert len(failures) == 1
    assert list(batch.frame.columns) == [
        "cell",
        "period_end",
        "granularity_s",
        "counter",
        "value",
        "suspect",
    ]


def _with_inst(samples: Path, dn: str, inst: str) -> str:
    doc = _doc(samples)
    _mdc(doc)["measuredEntityDn"] = dn
    _mv(doc)["measObjInstId"] = inst
    return decode_ranpm(json.dumps(doc).encode()).frame["cell"].iloc[0]


@pytest.mark.parametrize(
    ("dn", "inst", "cell"),
    [
        # ordinary ids are prefixed
        (DN, "GNBDUFunction=1,NRCellDU=2", f"{DN},GNBDUFunction=1,NRCellDU=2"),
        (
            "ManagedElement=gnb-1",
            "GNBDUFunction=1,NRCellDU=2",
            "ManagedElement=gnb-1,GNBDUFunction=1,NRCellDU=2",
        ),
        # the id starts inside the DN: joined at that RDN
        (
            DN,
            "ManagedElement=RNC-Gbg-1,ENodeBFunction=1,EUtranCellFDD=3",
            f"{DN},ENodeBFunction=1,EUtranCellFDD=3",
        ),
        (DN, "MeContext=MEC-Gbg-1,ManagedElement=RNC-Gbg-1,X=1", f"{DN},X=1"),
        (DN, f"{DN},X=1", f"{DN},X=1"),  # the full DN again
        (
            "SubNetwork=S, ManagedElement=me",
            "ManagedElement = me,X=1",
            "SubNetwork=S,ManagedElement = me,X=1",
        ),
        # same type, other value; same value, other type; a later RDN only: plain prefix
        (DN, "ManagedElement=RNC-Gbg-2,X=1", f"{DN},ManagedElement=RNC-Gbg-2,X=1"),
        (DN, "MeContext=RNC-Gbg-1,X=1", f"{DN},MeContext=RNC-Gbg-1,X=1"),
        (DN, "X=1,ManagedElement=RNC-Gbg-1", f"{DN},X=1,ManagedElement=RNC-Gbg-1"),
        # an escaped comma is part of a value, not an RDN separator
        (
            "SubNetwork=a\\,ManagedElement=m,MeContext=c",
            "ManagedElement=m,X=1",
            "SubNetwork=a\\,ManagedElement=m,MeContext=c,ManagedElement=m,X=1",
        ),
        (
            "SubNetwork=a,ManagedElement=m",
            "SubNetwork=a\\,b,X=1",
            "SubNetwork=a,ManagedElement=m,SubNetwork=a\\,b,X=1",
        ),
    ],
)
def test_cell_dn_join(samples: Path, dn: str, inst: str, cell: str) -> None:
    assert _with_inst(samples, dn, inst) == cell


@pytest.mark.parametrize(
    "text",
    [
        "1_000",
        " 12 ",
        "12 ",
        "nan",
        "NaN",
        "-inf",
        "Infinity",
        "0x10",
        "1e",
        ".",
        "١٢",
        "1,,2",
        "1, 2",
        "1,nan",
    ],
)
def test_svalue_not_a_plain_number(samples: Path, text: str) -> None:
    doc = _doc(samples)
    _RESULT(doc)["sValue"] = text
    with pytest.raises(DecodeError) as info:
        decode_ranpm(json.dumps(doc).encode())
    assert f"non-numeric sValue {text!r}" in info.value.reason


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12.0),
        ("-3", -3.0),
        ("+4.5", 4.5),
        ("0.25", 0.25),
        (".5", 0.5),
        ("7.", 7.0),
        ("1e3", 1000.0),
        ("2.5E-2", 0.025),
        ("-1.5e+2", -150.0),
    ],
)
def test_svalue_plain_numbers(samples: Path, text: str, value: float) -> None:
    doc = _doc(samples)
    _RESULT(doc)["sValue"] = text
    assert decode_ranpm(json.dumps(doc).encode()).frame["value"].iloc[0] == value


def test_distribution_bins_are_plain_numbers(samples: Path) -> None:
    doc = _doc(samples)
    _RESULT(doc)["sValue"] = "1,2.5,3e1"
    frame = decode_ranpm(json.dumps(doc).encode()).frame
    first = frame[frame["cell"] == CELL_997]
    assert first["counter"].tolist() == [f"succImmediateAssignProcs[{i}]" for i in range(3)]
    assert first["value"].tolist() == [1.0, 2.5, 30.0]


# --- the fast (msgspec) path and the reference path agree, row for row and error for error ---


def _reference(payload: bytes) -> pd.DataFrame | str:
    from rapp.telemetry.ranpm import _parse

    try:
        return _parse(payload).to_batch().frame
    except DecodeError as err:
        return err.reason


def _fast(payload: bytes) -> pd.DataFrame | str:
    try:
        return decode_ranpm(payload).frame
    except DecodeError as err:
        return err.reason


def _same(payload: bytes) -> None:
    ref, fast = _reference(payload), _fast(payload)
    if isinstance(ref, str):
        assert fast == ref
    else:
        assert not isinstance(fast, str), fast
        pd.testing.assert_frame_equal(fast, ref)


ODD_FORMS: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("ivalue", lambda d: _RESULT(d).update(iValue=7) or _RESULT(d).pop("sValue")),
    ("rvalue", lambda d: _RESULT(d).update(rValue=0.5) or _RESULT(d).pop("sValue")),
    ("no value", lambda d: _RESULT(d).pop("sValue")),
    ("empty", _set(_RESULT, "sValue", "")),
    ("distribution", _set(_RESULT, "sValue", "1,2,3")),
    ("plus", _set(_RESULT, "sValue", "+4.5")),
    ("dot", _set(_RESULT, "sValue", ".5")),
    ("leading zero", _set(_RESULT, "sValue", "007")),
    ("exponent", _set(_RESULT, "sValue", "1E5")),
    ("huge", _set(_RESULT, "sValue", "1e999")),
    ("suspect bool", _set(_mv, "suspectFlag", True)),
    ("suspect int", _set(_mv, "suspectFlag", 1)),
    ("no suspect", _set(_mv, "suspectFlag", _DELETE)),
    ("null dn", _set(_mdc, "measuredEntityDn", None)),
    ("granularity float", _set(_mdc, "granularityPeriod", 900.0)),
    ("granularity bool", _set(_mdc, "granularityPeriod", True)),
    ("p bool", _set(_RESULT, "p", True)),
    ("p float", _set(_RESULT, "p", 1.0)),
    ("unicode svalue", _set(_RESULT, "sValue", "١٢")),
    ("start string", _set(_HDR, "startEpochMicrosec", "951912000000")),
    ("extra keys", lambda d: _mv(d).update(extra={"x": [1, 2]})),
    ("results not list", _set(_mv, "measResults", {"p": 1})),
    ("result not object", _set(_mv, "measResults", [1])),
    (
        "types not strings",
        lambda d: _mdc(d)["measInfoList"][0]["measTypes"].update(sMeasTypesList=[1]),
    ),
]


@pytest.mark.parametrize("mutate", [m[1] for m in ODD_FORMS], ids=[m[0] for m in ODD_FORMS])
def test_fast_path_agrees_with_reference(samples: Path, mutate: Callable) -> None:
    doc = copy.deepcopy(_doc(samples))
    mutate(doc)
    _same(json.dumps(doc).encode())


@pytest.mark.parametrize(("mutate", "_"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_fast_path_agrees_on_malformed(samples: Path, mutate: Callable, _: str) -> None:
    doc = copy.deepcopy(_doc(samples))
    mutate(doc)
    _same(json.dumps(doc).encode())


def test_fast_path_agrees_on_samples_and_reordered_p(samples: Path) -> None:
    for name in ("ranpm_pm_report.json", "ranpm_pm_report_filtered.json"):
        _same(_load(samples, name))
    doc = json.loads(_load(samples, "ranpm_pm_report.json"))
    results = _mdc(doc)["measInfoList"][0]["measValuesList"][0]["measResults"]
    results.reverse()  # p = 4, 3, 2, 1
    del results[1]  # and a gap
    _same(json.dumps(doc).encode())
    _same(b"NaN")
    _same(_load(samples, "ranpm_pm_report.json").replace(b"Gbg-997", b"Gbg-\xd3\x97", 1))
    _same(_load(samples, "ranpm_pm_report.json").replace(b"Gbg-997", b"Gbg-\\ud800", 1))
    _same(b'{"event": {"commonEventHeader": {"domain": "perf3gpp"}, "perf3gppFields": 1}}')


def test_batch_with_odd_values_matches_record_by_record(samples: Path) -> None:
    """One odd value makes the bulk conversion decline: every record is then resolved alone."""
    good = _load(samples, "ranpm_pm_report.json")
    doc = _doc(samples)
    _RESULT(doc)["sValue"] = "3,4"
    dist = json.dumps(doc).encode()
    _RESULT(doc)["sValue"] = "x"
    bad = json.dumps(doc).encode()
    payloads = [good, dist, bad, good, b"", gzip.compress(dist)]
    batch, failures = decode_batch(payloads)
    assert [i for i, _ in failures] == [2, 4]
    expected = pd.concat(
        [decode_ranpm(p).frame for i, p in enumerate(payloads) if i not in (2, 4)],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(batch.frame, expected)


def test_bulk_float_conversion_is_exact() -> None:
    import random

    from rapp.telemetry.ranpm import _bulk_values, _Rec

    rng = random.Random(7)
    raw = [repr(rng.uniform(-1e6, 1e6)) for _ in range(2000)]
    raw += [f"{rng.random():.17g}" for _ in range(2000)] + ["0", "-0", "1e-300", "123456789012"]
    values = _bulk_values([_Rec([], [], [], [], {}, raw, 0, 900)])
    assert values is not None
    assert values.tolist() == [float(v) for v in raw]


def test_more_results_than_types_is_refused_past_256_too() -> None:
    """A report with more measResults than measTypes must never be decoded as rows named after
    another measInfo's counters (the fast path once skipped the check past 256 results)."""
    from rapp.telemetry import DecodeError, decode_ranpm

    report = {
        "event": {
            "commonEventHeader": {
                "domain": "perf3gpp",
                "sourceName": "gnb-1",
                "startEpochMicrosec": 1_700_000_000_000_000,
                "lastEpochMicrosec": 1_700_000_900_000_000,
            },
            "perf3gppFields": {
                "measDataCollection": {
                    "granularityPeriod": 900,
                    "measuredEntityDn": "ManagedElement=gnb-1",
                    "measInfoList": [
                        {
                            "measTypes": {"sMeasTypesList": ["A", "B"]},
                            "measValuesList": [
                                {
                                    "measObjInstId": "NRCellDU=1",
                                    "suspectFlag": "false",
                                    "measResults": [{"p": p, "sValue": "1"} for p in range(1, 301)],
                                }
                            ],
                        }
                    ],
                }
            },
        }
    }
    with pytest.raises(DecodeError, match="p=3"):
        decode_ranpm(json.dumps(report).encode())
