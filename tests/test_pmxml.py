"""3GPP PM XML codec (TS 32.435 / TS 28.532): the shared samples, both encodings, gzip, junk
before the XML, several periods, streaming in chunks, and every malformed form."""

from __future__ import annotations

import gzip
import io
import logging
import math
from pathlib import Path

import pandas as pd
import pytest

from rapp.domain import PmBatch
from rapp.telemetry.pmxml import decode_pm_xml, iter_pm_xml
from rapp.telemetry.ranpm import DecodeError

NS_32435 = "http://www.3gpp.org/ftp/specs/archive/32_series/32.435#measCollec"
DN = "SubNetwork=CountryNN,MeContext=MEC-Gbg-1,ManagedElement=RNC-Gbg-1"
CELL_997 = f"{DN},RncFunction=RF-1,UtranCell=Gbg-997"
CELL_998 = f"{DN},RncFunction=RF-1,UtranCell=Gbg-998"
CELL_999 = f"{DN},RncFunction=RF-1,UtranCell=Gbg-999"
ENB = f"{DN},ENodeBFunction=1"  # measObjLdn "ManagedElement=RNC-Gbg-1,ENodeBFunction=1" merged
A_END = pd.Timestamp("2000-03-01T12:14:30Z")  # granPeriod endTime 14:14:30+02:00


def _xml(samples: Path, name: str) -> Path:
    return samples / "pm-xml" / name


def _values(frame: pd.DataFrame) -> pd.Series:
    return frame.set_index(["cell", "counter"])["value"]


# --- the shared samples ----------------------------------------------------------------------


def test_32435_measType_sample(samples: Path) -> None:
    frame = decode_pm_xml(_xml(samples, "onap_A20181002.0000-1000-0015-1000_5G.xml")).frame
    assert list(frame.columns) == [
        "cell",
        "period_end",
        "granularity_s",
        "counter",
        "value",
        "suspect",
    ]
    assert str(frame["period_end"].dtype) == "datetime64[ns, UTC]"
    assert str(frame["granularity_s"].dtype) == "int32"
    assert sorted(frame["cell"].unique()) == sorted([CELL_997, CELL_998, CELL_999, ENB])
    assert len(frame) == 3 * 4 + (3 + 9) + 3 * 4
    assert set(frame["period_end"]) == {A_END}
    assert set(frame["granularity_s"]) == {900}
    v = _values(frame)
    assert v[(CELL_997, "attTCHSeizures")] == 234
    assert v[(CELL_998, "succImmediateAssignProcs")] == 234
    assert v[(CELL_999, "succImmediateAssignProcs8")] == 785
    assert v[(ENB, "attTCHSeizures1")] == 4
    # "86,87,2,6,77,96,75,33,24" is a vector (PDF) counter: one row per bin
    assert [v[(ENB, f"succTCHSeizures2[{i}]")] for i in range(9)] == [
        86,
        87,
        2,
        6,
        77,
        96,
        75,
        33,
        24,
    ]
    assert set(frame.loc[frame["suspect"], "cell"]) == {CELL_999}
    assert frame["suspect"].sum() == 8


def test_28532_sample_equals_32435_sample(samples: Path) -> None:
    a = decode_pm_xml(_xml(samples, "onap_A20181002.0000-1000-0015-1000_5G.xml")).frame
    b = decode_pm_xml(
        _xml(samples, "onap_PM202007171301+020024C202007171207+0200-1215+0200_45678_28532.xml")
    ).frame
    pd.testing.assert_frame_equal(a, b)
    assert _values(b)[(CELL_998, "attTCHSeizures5")] == 898


def test_measTypes_variant_sample(samples: Path) -> None:
    frame = decode_pm_xml(_xml(samples, "onap_C20190328.0000-0015_measTypes-variant.xml")).frame
    # three measData blocks, each with its own managedElement and its own granPeriod
    assert list(frame["cell"].unique()) == ["Dublin1,objLdn", "Dublin2,objLdn", "Dublin3,objLdn"]
    assert len(frame) == 12
    v = _values(frame)
    assert v[("Dublin1,objLdn", "z1")] == 1
    assert v[("Dublin1,objLdn", "b1")] == 1111
    assert v[("Dublin2,objLdn", "b2")] == 2222
    assert v[("Dublin3,objLdn", "zz3")] == 333
    periods = frame.groupby("cell")[["period_end", "granularity_s"]].first()
    assert periods.loc["Dublin1,objLdn"].tolist() == [pd.Timestamp("2001-10-02T12:15Z"), 100]
    assert periods.loc["Dublin2,objLdn"].tolist() == [pd.Timestamp("2002-10-02T12:15Z"), 200]
    assert periods.loc["Dublin3,objLdn"].tolist() == [pd.Timestamp("2003-10-02T12:15Z"), 300]
    assert not frame["suspect"].any()


def test_ranpm_gzip_sample(samples: Path) -> None:
    path = _xml(samples, "ranpm_docker-proj_pm.xml.gz")
    frame = decode_pm_xml(path).frame
    me = "nodedntest,ManagedElement=nodedntest"  # localDn "nodedntest" shares no RDN: no merge
    assert frame["cell"].nunique() == 96
    assert len(frame) == 11995
    assert set(frame["period_end"]) == {pd.Timestamp("2022-04-18T19:15:00Z")}
    assert set(frame["granularity_s"]) == {900}
    v = _values(frame)
    du32 = f"{me},GNBDUFunction=1,NRCellDU=32"
    assert v[(du32, "pmCounterNumber170")] == 2880
    assert v[(du32, "pmCounterNumber238[11]")] == 1_800_001  # line 806: 12th bin of a vector
    assert v[(f"{me},GNBCUCPFunction=1,NRCellCU=32", "pmCounterNumber7")] == 180
    # line 2508: <r p="2"> , , </r> is a 3-bin vector with every bin missing
    r608 = f"{me},Equipment=1,FieldReplaceableUnit=R608"
    assert all(math.isnan(v[(r608, f"pmCounterNumber481[{i}]")]) for i in range(3))
    assert v[(r608, "pmCounterNumber480")] == 0
    # the two <suspect>true</suspect> measValues (lines 3059 and 3100)
    assert (
        set(frame.loc[frame["suspect"], "cell"])
        == {
            f"{me},NodeSupport=1,ConsumedEnergyMeasurement=1",
            f"{me},Equipment=1,FieldReplaceableUnit=BB-1,EnergyMeter=1",
        }
        or frame["suspect"].sum() == 454
    )
    assert frame["suspect"].sum() == 454
    # the same file through a stream gives the same frame
    with gzip.open(path) as f:
        plain = f.read()
    pd.testing.assert_frame_equal(decode_pm_xml(io.BytesIO(plain)).frame, frame)


def test_simulator_template_is_refused(samples: Path) -> None:
    with pytest.raises(DecodeError) as err:
        decode_pm_xml(_xml(samples, "pynts_template_5G_NR_28532.xml"))
    assert "@hostname@" in err.value.reason
    assert "line 5" in err.value.reason
    assert "template" in err.value.reason


# --- constructed files -----------------------------------------------------------------------


def _doc(
    body: str,
    *,
    root: str = "measCollecFile",
    ns: str = NS_32435,
    me: str | None = 'localDn="ManagedElement=me1"',
    header: str = 'dnPrefix="DC=x" vendorName="V"',
    sender: str = '<fileSender localDn="ManagedElement=sender"/>',
) -> bytes:
    me_el = f"<managedElement {me}/>" if me is not None else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{ns}">\n'
        f"<fileHeader {header}>{sender}"
        '<measCollec beginTime="2024-01-01T00:00:00Z"/></fileHeader>\n'
        f"<measData>{me_el}\n{body}</measData>\n"
        f'<fileFooter><measCollec endTime="2024-01-01T00:15:00Z"/></fileFooter></{root}>\n'
    ).encode()


def _info(
    values: str,
    types: str = '<measType p="1">c1</measType><measType p="2">c2</measType>',
    gran: str = '<granPeriod duration="PT900S" endTime="2024-01-01T00:15:00+02:00"/>',
    attrs: str = "",
) -> str:
    return f'<measInfo {attrs}><job jobId="1"/>\n{gran}\n{types}\n{values}</measInfo>\n'


R_FORM = _doc(
    _info(
        '<measValue measObjLdn="Cell=1"><r p="1">1</r><r p="2">2.5</r></measValue>\n'
        '<measValue measObjLdn="Cell=2"><r p="2">-3e2</r><r p="1">4</r>'
        "<suspect>true</suspect></measValue>\n"
    )
)
LIST_FORM = _doc(
    _info(
        '<measValue measObjLdn="Cell=1"><measResults>1 2.5</measResults></measValue>\n'
        '<measValue measObjLdn="Cell=2"><measResults> 4\n -3e2 </measResults>'
        "<suspect>true</suspect></measValue>\n",
        types="<measTypes>c1 c2</measTypes>",
    )
)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["cell", "counter"]).reset_index(drop=True)


def test_both_32435_encodings_give_the_same_frame() -> None:
    a, b = decode_pm_xml(R_FORM).frame, decode_pm_xml(LIST_FORM).frame
    pd.testing.assert_frame_equal(_sorted(a), _sorted(b))
    v = _values(a)
    assert v[("ManagedElement=me1,Cell=2", "c2")] == -300
    assert v[("ManagedElement=me1,Cell=1", "c2")] == 2.5
    assert set(a["period_end"]) == {pd.Timestamp("2023-12-31T22:15:00Z")}  # +02:00 to UTC
    assert a.loc[a["cell"] == "ManagedElement=me1,Cell=2", "suspect"].all()


def test_gzip_bom_and_junk_before_the_declaration(caplog: pytest.LogCaptureFixture) -> None:
    expected = decode_pm_xml(R_FORM).frame
    junk = b"Vendor X PM export v3\r\nfile 17 of 20\n"
    for data in (
        gzip.compress(R_FORM),
        b"\xef\xbb\xbf" + R_FORM,
        junk + R_FORM,
        gzip.compress(junk + R_FORM),
        b"garbage <not a tag\n" + R_FORM,
        junk + R_FORM.split(b"\n", 1)[1],  # no XML declaration: cut at the first '<'
    ):
        pd.testing.assert_frame_equal(decode_pm_xml(data).frame, expected)
    with caplog.at_level(logging.DEBUG, logger="rapp.telemetry.pmxml"):
        decode_pm_xml(junk + R_FORM)
    assert f"dropped {len(junk)} bytes" in caplog.text
    # junk longer than one read buffer
    big = b"x" * 200_000 + b"\n" + R_FORM
    pd.testing.assert_frame_equal(decode_pm_xml(big).frame, expected)


def test_stream_and_path_sources(tmp_path: Path) -> None:
    path = tmp_path / "a.xml.gz"
    path.write_bytes(gzip.compress(R_FORM))
    expected = decode_pm_xml(R_FORM).frame
    pd.testing.assert_frame_equal(decode_pm_xml(path).frame, expected)
    with path.open("rb") as f:
        pd.testing.assert_frame_equal(decode_pm_xml(f).frame, expected)
    pd.testing.assert_frame_equal(decode_pm_xml(io.BytesIO(R_FORM)).frame, expected)


def test_several_granularity_periods_in_one_measData() -> None:
    body = (
        _info(
            '<measValue measObjLdn="Cell=1"><r p="1">1</r><r p="2">2</r></measValue>',
            gran='<granPeriod duration="PT15M" endTime="2024-01-01T00:15:00Z"/>',
            attrs='measInfoId="g"',
        )
        + _info(
            '<measValue measObjLdn="Cell=1"><r p="1">3</r><r p="2">4</r></measValue>',
            gran='<granPeriod endTime="2024-01-01T01:05:00+01:00" duration="PT300S"/>',
            attrs='measInfoId="g"',  # repeated measInfoId
        )
        + _info(
            '<measValue measObjLdn="Cell=1"><r p="1">5</r></measValue>',
            gran='<granPeriod duration="PT1H" endTime="2024-01-01T01:00:00Z"/>',
        )
    )  # and one without measInfoId
    frame = decode_pm_xml(_doc(body)).frame
    by_period = frame.groupby(["period_end", "granularity_s"])["value"].apply(list).to_dict()
    assert by_period == {
        (pd.Timestamp("2024-01-01T00:05:00Z"), 300): [3.0, 4.0],
        (pd.Timestamp("2024-01-01T00:15:00Z"), 900): [1.0, 2.0],
        (pd.Timestamp("2024-01-01T01:00:00Z"), 3600): [5.0],
    }


def test_repeated_measInfo_headers_keep_their_own_element_and_p_mapping() -> None:
    """A file repeats one measInfo header per managed element; the codec reads a repeat from a
    cache, which must still take each element's DN, and a header that differs only in which p
    names which counter must not be taken for a repeat."""
    mv = '<measValue measObjLdn="Cell=1"><r p="1">1</r><r p="2">2</r></measValue>'
    swapped = '<measType p="1">c2</measType><measType p="2">c1</measType>'
    body = "".join(
        f'<measData><managedElement localDn="ManagedElement=me{i}"/>{_info(mv, **kw)}</measData>'
        for i, kw in enumerate([{}, {}, {"types": swapped}])
    )
    doc = (
        f'<?xml version="1.0"?><measCollecFile xmlns="{NS_32435}">'
        '<fileHeader dnPrefix=""><measCollec beginTime="2024-01-01T00:00:00Z"/></fileHeader>'
        f"{body}</measCollecFile>"
    ).encode()
    v = _values(decode_pm_xml(doc).frame)
    assert v[("ManagedElement=me0,Cell=1", "c1")] == 1
    assert v[("ManagedElement=me1,Cell=1", "c1")] == 1
    assert v[("ManagedElement=me2,Cell=1", "c1")] == 2
    assert v[("ManagedElement=me2,Cell=1", "c2")] == 1


def test_cell_ids_empty_object_dn_and_fallbacks() -> None:
    mv = '<measValue measObjLdn=""><r p="1">1</r></measValue><measValue><r p="1">2</r></measValue>'
    mv += '<measValue measObjLdn="ManagedElement=me1,Cell=9"><r p="1">3</r></measValue>'
    frame = decode_pm_xml(_doc(_info(mv), me='localDn="SubNetwork=S,ManagedElement=me1"')).frame
    assert frame["cell"].tolist() == [
        "SubNetwork=S,ManagedElement=me1",  # empty measObjLdn: the managed element itself
        "SubNetwork=S,ManagedElement=me1",  # no measObjLdn at all: the same
        "SubNetwork=S,ManagedElement=me1,Cell=9",  # overlap-merged, as in the ranpm codec
    ]
    one = '<measValue measObjLdn="Cell=1"><r p="1">1</r></measValue>'
    assert decode_pm_xml(_doc(_info(one), me=None)).frame["cell"].tolist() == [
        "ManagedElement=sender,Cell=1"  # no managedElement: fileSender localDn
    ]
    assert decode_pm_xml(_doc(_info(one), me='localDn=""', sender="")).frame["cell"].tolist() == [
        "DC=x,Cell=1"  # neither: dnPrefix
    ]
    with pytest.raises(DecodeError, match=r"measValue \(line 8\) has an empty measObjLdn"):
        decode_pm_xml(_doc(_info(mv), me=None, sender="", header='vendorName="V"'))


def test_28532_root_and_sender_name() -> None:
    data = _doc(
        _info('<measValue measObjLdn="Cell=1"><r p="2">7</r></measValue>'),
        root="measDataFile",
        ns="http://www.3gpp.org/ftp/specs/archive/28_series/28.532#measData",
        me=None,
        sender='<fileSender senderName="ManagedElement=du1"/>',
    )
    frame = decode_pm_xml(data).frame
    assert frame[["cell", "counter", "value"]].values.tolist() == [
        ["ManagedElement=du1,Cell=1", "c2", 7.0]
    ]


def test_missing_values_are_nan() -> None:
    mv = (
        '<measValue measObjLdn="Cell=1"><r p="1"/><r p="2">NIL</r></measValue>'
        '<measValue measObjLdn="Cell=2"><r p="1"> </r><r p="2">1,,NIL,2</r></measValue>'
    )
    frame = decode_pm_xml(_doc(_info(mv))).frame
    v = frame["value"].tolist()
    assert frame["counter"].tolist() == ["c1", "c2", "c1", "c2[0]", "c2[1]", "c2[2]", "c2[3]"]
    assert [math.isnan(x) for x in v] == [True, True, True, False, True, True, False]
    lst = _info(
        '<measValue measObjLdn="Cell=1"><measResults>NIL 5</measResults></measValue>',
        types="<measTypes>c1 c2</measTypes>",
    )
    f2 = decode_pm_xml(_doc(lst)).frame
    assert math.isnan(f2["value"][0])
    assert f2["value"][1] == 5


def _synthetic(n_cells: int, n_counters: int = 20) -> bytes:
    """One ROP of ``n_cells`` cells under one managed element, ``n_counters`` counters each."""
    types = "".join(f'<measType p="{p}">pmC{p}</measType>' for p in range(1, n_counters + 1))
    rows = []
    for c in range(n_cells):
        rs = "".join(
            f'<r p="{p}">{(c * 31 + p * 7) % 100_000}</r>' for p in range(1, n_counters + 1)
        )
        susp = "<suspect>true</suspect>" if c % 1000 == 0 else ""
        rows.append(
            f'<measValue measObjLdn="GNBDUFunction=1,NRCellDU={c}">\n{rs}{susp}</measValue>\n'
        )
    return _doc(_info("".join(rows), types=types))


def test_10k_cells_stream_in_chunks() -> None:
    data = _synthetic(10_000)
    whole = decode_pm_xml(data).frame
    assert len(whole) == 200_000
    assert whole["cell"].nunique() == 10_000
    assert whole["suspect"].sum() == 10 * 20
    assert _values(whole)[("ManagedElement=me1,GNBDUFunction=1,NRCellDU=9999", "pmC20")] == (
        (9999 * 31 + 140) % 100_000
    )
    for chunk_rows in (50_000, 33_333):
        batches = list(iter_pm_xml(io.BytesIO(data), chunk_rows=chunk_rows))
        assert len(batches) > 1
        assert all(isinstance(b, PmBatch) and 0 < len(b) <= chunk_rows for b in batches)
        pd.testing.assert_frame_equal(PmBatch.concat(batches).frame, whole)


# --- malformed -------------------------------------------------------------------------------

GOOD_MV = '<measValue measObjLdn="Cell=1"><r p="1">1</r></measValue>'


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (R_FORM[: len(R_FORM) // 2], r"not well-formed XML at line \d+, column \d+"),
        (b"<html><body/></html>", r"root element is <html> \(line 1\), expected <measCollecFile>"),
        (
            _doc(_info('<measValue measObjLdn="Cell=1">\n<r p="3">1</r></measValue>')),
            r"r p='3' \(line 9\) matches no measType .*declared p: 1, 2",
        ),
        (
            _doc(_info('<measValue measObjLdn="Cell=1">\n<r p="1">12abc</r></measValue>')),
            r"non-numeric value '12abc' for c1 \(line 9\)",
        ),
        (
            _doc(_info('<measValue measObjLdn="Cell=1">\n<r p="1">nan</r></measValue>')),
            r"non-numeric value 'nan' for c1 \(line 9\)",
        ),
        (
            _doc(_info('<measValue measObjLdn="Cell=1">\n<r p="1">1e999</r></measValue>')),
            r"infinite value '1e999' for c1 \(line 9\)",
        ),
        (
            _doc(_info(GOOD_MV, gran='<granPeriod duration="PT900S"/>')),
            r"granPeriod of measInfo \(line 5\) has no endTime",
        ),
        (
            _doc(_info(GOOD_MV, gran='<granPeriod duration="PT900S" endTime="yesterday"/>')),
            r"endTime 'yesterday' of measInfo \(line 5\) is not an ISO 8601 date-time",
        ),
        (
            _doc(
                _info(GOOD_MV, gran='<granPeriod duration="900" endTime="2024-01-01T00:15:00Z"/>')
            ),
            r"duration '900' of measInfo \(line 5\) is not an ISO 8601 duration",
        ),
        (
            _doc(
                _info(GOOD_MV, gran='<granPeriod duration="PT0S" endTime="2024-01-01T00:15:00Z"/>')
            ),
            r"duration 'PT0S' .* not a positive whole number of seconds",
        ),
        (
            _doc(_info(GOOD_MV, gran="", attrs='measInfoId="x"')),
            r"measInfo 'x' \(line 5\) has no granPeriod",
        ),
        (
            _doc(
                _info(
                    '<measValue measObjLdn="Cell=1">\n<measResults>1 2 3</measResults></measValue>',
                    types="<measTypes>c1 c2</measTypes>",
                )
            ),
            r"measResults \(line 9\) has 3 values for 2 measTypes",
        ),
        (
            _doc(_info(GOOD_MV, types='<measType p="x">c1</measType>')),
            r"measType p='x' \(line 7\) is not a positive integer",
        ),
        (
            _doc(
                _info(
                    '<measValue measObjLdn="Cell=1"><r p="1">1</r>'
                    "<suspect>maybe</suspect></measValue>"
                )
            ),
            r"suspect is 'maybe'",
        ),
        (
            _doc(_info(GOOD_MV, gran='<granPeriod duration="@log-period@" endTime="x"/>')),
            r"placeholder @log-period@ in granPeriod duration \(line 6\)",
        ),
        (b"", r"empty input"),
        (b"just some text", r"no XML found"),
        (b"\x1f\x8b\x08\x00garbage", r"bad gzip"),
        (gzip.compress(R_FORM)[:-30], r"bad gzip|not well-formed"),
    ],
    ids=[
        "truncated",
        "wrong-root",
        "p-out-of-range",
        "non-numeric",
        "nan-spelling",
        "infinite",
        "missing-endTime",
        "bad-endTime",
        "bad-duration",
        "zero-duration",
        "no-granPeriod",
        "measResults-count",
        "bad-measType-p",
        "bad-suspect",
        "placeholder",
        "empty",
        "not-xml",
        "bad-gzip",
        "truncated-gzip",
    ],
)
def test_malformed(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_pm_xml(data)


def test_truncated_stream_yields_before_the_cut_then_fails() -> None:
    data = _synthetic(2_000)
    cut = data[: len(data) * 3 // 4]
    got: list[PmBatch] = []
    batches = iter_pm_xml(cut, chunk_rows=10_000)
    with pytest.raises(DecodeError, match="not well-formed XML at line"):
        got.extend(batches)  # the batches before the cut arrive, then the error
    assert sum(len(b) for b in got) >= 20_000
