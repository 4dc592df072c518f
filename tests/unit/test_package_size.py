"""bench/package_size.py attributes each file of the deployment package to its distribution."""

from __future__ import annotations

import zipfile
from pathlib import Path

from bench.package_size import by_distribution, measure


def _package(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("yaml/__init__.py", b"x" * 300)
        archive.writestr("_yaml/__init__.py", b"x" * 200)
        archive.writestr("pyyaml-6.0.3.dist-info/METADATA", b"m" * 10)
        archive.writestr(
            "pyyaml-6.0.3.dist-info/RECORD",
            "yaml/__init__.py,sha256=a,300\n_yaml/__init__.py,sha256=b,200\n"
            "pyyaml-6.0.3.dist-info/METADATA,,\npyyaml-6.0.3.dist-info/RECORD,,\n",
        )
        archive.writestr("botocore/data/x.json", b"b" * 5000)
        archive.writestr("botocore-1.44.5.dist-info/RECORD", "botocore/data/x.json,sha256=c,5000\n")
        archive.writestr("chalicelib/api/docs.py", b"c" * 700)
        archive.writestr("app.py", b"a" * 50)
    return path


def test_files_count_under_their_distribution_or_top_level_name(tmp_path: Path) -> None:
    with zipfile.ZipFile(_package(tmp_path / "deployment.zip")) as archive:
        sizes = by_distribution(archive)
        record = len(archive.read("pyyaml-6.0.3.dist-info/RECORD"))
        boto_record = len(archive.read("botocore-1.44.5.dist-info/RECORD"))
    assert sizes == {
        "pyyaml": 300 + 200 + 10 + record,
        "botocore": 5000 + boto_record,
        "chalicelib": 700,
        "app.py": 50,
    }


def test_measure_reports_ratios_biggest_and_the_runtime_sdk(tmp_path: Path) -> None:
    result = measure(_package(tmp_path / "deployment.zip"))
    assert result["files"] == 8
    assert result["unzipped_ratio"] == round(result["unzipped_bytes"] / (250 * 1024 * 1024), 4)
    assert [entry["name"] for entry in result["biggest"]][:2] == ["botocore", "chalicelib"]
    assert result["runtime_provided_in_package"]["boto3"] == 0
    assert result["runtime_provided_in_package"]["botocore"] > 5000
    assert result["met"] == {"unzipped_ratio": True, "zipped_ratio": True}
