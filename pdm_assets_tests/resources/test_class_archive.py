"""The JVM class archive is used by local and cluster drivers when it exists, and never required."""

import sys
from pathlib import Path

import pytest

from pdm_assets.resources.class_archive import ARCHIVE_ENV, archive_path, build_class_archive
from pdm_assets.resources.spark import cluster_spark_conf, local_spark_conf

DRIVER = "spark.driver.extraJavaOptions"
EXECUTOR = "spark.executor.extraJavaOptions"


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No overrides from the caller's environment; the default archive path inside tmp_path."""
    for name in (ARCHIVE_ENV, "PDM_SPARK_CONF", "PDM_SPARK_MASTER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    return tmp_path


def test_without_an_archive_the_driver_options_are_the_defaults(clean_env):
    assert not archive_path().exists()
    assert local_spark_conf()[DRIVER] == "-Duser.timezone=UTC"


def test_the_installed_archive_is_added_to_the_driver_only(clean_env):
    path = archive_path()
    assert path.is_relative_to(clean_env)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    conf = local_spark_conf()
    assert conf[DRIVER].startswith("-Duser.timezone=UTC ")
    assert f"-XX:SharedArchiveFile={path}" in conf[DRIVER].split()
    assert "SharedArchiveFile" not in conf[EXECUTOR]  # executors may run on other machines
    assert f"-XX:SharedArchiveFile={path}" in cluster_spark_conf("spark://h:7077")[DRIVER]


def test_an_explicit_path_and_off(clean_env, monkeypatch, tmp_path):
    chosen = tmp_path / "elsewhere.jsa"
    chosen.write_bytes(b"archive")
    monkeypatch.setenv(ARCHIVE_ENV, str(chosen))
    assert f"-XX:SharedArchiveFile={chosen}" in local_spark_conf()[DRIVER]
    monkeypatch.setenv(ARCHIVE_ENV, "off")
    assert archive_path() is None
    assert "SharedArchiveFile" not in local_spark_conf()[DRIVER]


def test_options_that_name_their_own_archive_are_left_alone(clean_env, monkeypatch):
    path = archive_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    own = "-XX:ArchiveClassesAtExit=/tmp/new.jsa"
    monkeypatch.setenv("PDM_SPARK_CONF", f"{DRIVER}={own}")
    assert local_spark_conf()[DRIVER] == own


def test_a_warm_up_that_overruns_is_stopped_and_leaves_the_old_archive(tmp_path):
    target = tmp_path / "spark.jsa"
    target.write_bytes(b"the archive from the last install")
    # 8 s: past the warm-up's imports, into its JVM's start
    with pytest.raises(TimeoutError, match="did not finish within 8 s"):
        build_class_archive(target, timeout=8.0)
    assert target.read_bytes() == b"the archive from the last install"
    assert list(tmp_path.iterdir()) == [target]  # no .partial left behind
    assert not _processes_running("pdm_assets.resources.class_archive")
    assert not _processes_running(f"ArchiveClassesAtExit={target}")  # the JVM's options


def _processes_running(marker: str) -> list[Path]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                found.append(cmdline)
        except OSError:  # the process ended while we looked
            pass
    return found
