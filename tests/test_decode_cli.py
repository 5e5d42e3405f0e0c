"""`rapp decode` over every shared sample: format sniffed, one JSON line per record."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rapp.cli import app
from rapp.telemetry import DecodeError, Format, decode_any, sniff

runner = CliRunner()


def run(*files: Path) -> tuple[int, list[dict], str]:
    result = runner.invoke(app, ["decode", *map(str, files)])
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, lines, result.stderr


def test_pm_xml_sample_records(samples: Path):
    code, lines, err = run(samples / "pm-xml" / "onap_A20181002.0000-1000-0015-1000_5G.xml")
    assert code == 0, err
    assert {r["kind"] for r in lines} == {"pm"}
    cell = next(r for r in lines if r["cell"].endswith("UtranCell=Gbg-997"))
    assert cell["counters"]["attTCHSeizures"] == 234
    assert cell["period_end"] == "2000-03-01T12:14:30+00:00"
    assert "pm-xml:" in err
    assert f"{len(lines)} pm records" in err


def test_gzipped_xml_and_ranpm_json_are_sniffed(samples: Path):
    assert sniff((samples / "pm-xml" / "ranpm_docker-proj_pm.xml.gz").read_bytes()) is Format.PM_XML
    ranpm = (samples / "pm-json" / "ranpm_pm_report.json").read_bytes()
    assert sniff(ranpm) is Format.RANPM_JSON
    assert sniff(gzip.compress(ranpm)) is Format.RANPM_JSON
    code, lines, _ = run(samples / "pm-json" / "ranpm_pm_report.json")
    assert code == 0
    assert lines
    assert all(r["kind"] == "pm" for r in lines)


def test_ves_fault_batch_gives_alarm_records(samples: Path):
    code, lines, err = run(samples / "ves-fault" / "onap_ves7_batch_valid.json")
    assert code == 0, err
    assert [r["kind"] for r in lines] == ["alarm", "alarm"]
    assert all(r["severity"] in {"CRITICAL", "MAJOR", "MINOR", "WARNING", "CLEARED"} for r in lines)


def test_a_file_that_cannot_be_decoded_exits_non_zero_with_the_reason(tmp_path: Path, samples):
    bad = tmp_path / "bad.xml"
    bad.write_text("<measCollecFile><measData><measInfo>")
    good = samples / "pm-json" / "ranpm_pm_report.json"
    code, lines, err = run(good, bad)
    assert code == 1
    assert lines  # the good file still printed
    assert f"{bad}: cannot decode:" in err
    with pytest.raises(DecodeError, match="unknown format"):
        decode_any(b"\x00\x01 not telemetry")


def test_every_shared_sample_decodes(samples: Path):
    """The acceptance list: every file in pm-xml, pm-json and ves-fault decodes (the O-DU
    simulator template is the one exception: its values are @placeholders@, refused by name)."""
    files = sorted(
        p
        for d in ("pm-xml", "pm-json", "ves-fault")
        for p in (samples / d).iterdir()
        if p.is_file()
    )
    for path in files:
        code, lines, err = run(path)
        if path.name.startswith("pynts_template"):
            assert code == 1
            assert "placeholder" in err
            continue
        assert code == 0, f"{path.name}: {err}"
        assert lines, path.name


def test_o_ru_template_times_fall_back_to_the_time_received(samples: Path):
    code, lines, err = run(samples / "ves-fault" / "oran_oru_LinkFailureEvent.json")
    assert code == 0, err
    [alarm] = lines
    assert alarm["kind"] == "alarm"
    assert alarm["source"] == "ERICSSON-O-RU-11225"
    assert alarm["condition"] == "28"
    assert alarm["severity"] == "CRITICAL"
    code, lines, _ = run(samples / "ves-fault" / "oran_oru_LinkClearedEvent.json")
    assert lines[0]["cleared"] is True
    assert lines[0]["alarm_id"] == alarm["alarm_id"]


def test_a_pm_topic_dead_letters_fault_events_instead_of_dropping_them(samples: Path):
    from rapp.intake import decode_sniffed

    fault = (samples / "ves-fault" / "onap_ves7_fault_event.json").read_bytes()
    xml = (samples / "pm-xml" / "onap_A20181002.0000-1000-0015-1000_5G.xml").read_bytes()
    batch, failures = decode_sniffed([xml, fault])
    assert len(batch) > 0
    [(index, error)] = failures
    assert index == 1
    assert "alarm" in error.reason


def test_a_file_with_no_records_is_a_failure(tmp_path: Path):
    empty = tmp_path / "empty.json"
    empty.write_text('{"eventList": []}')
    code, lines, err = run(empty)
    assert code == 1
    assert lines == []
    assert "holds no records" in err
