"""The JVM class archive is used by local and cluster drivers when it exists, and never required."""

import sys

import pytest

from pdm_assets.resources.class_archive import ARCHIVE_ENV, archive_path
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
