"""The rApp as a package for the O-RAN SC rApp Manager (a CSAR), and the checks it must pass."""

from rapp.csar.build import build_csar, package_files, plan_from
from rapp.csar.chart import Chart, ChartError, archive_chart, read_chart
from rapp.csar.check import check_csar, check_files
from rapp.csar.descriptors import PackagePlan

__all__ = [
    "Chart",
    "ChartError",
    "PackagePlan",
    "archive_chart",
    "build_csar",
    "check_csar",
    "check_files",
    "package_files",
    "plan_from",
    "read_chart",
]
