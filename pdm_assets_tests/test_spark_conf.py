"""Test JVMs run with the options ``spark_conf.py`` gives them: the suite's time depends on them."""

from pdm_assets.resources.spark import env_spark_conf
from pdm_assets_tests.spark_conf import SHORT_LIVED_JVM, TEST_JVM, spark_conf_env

DRIVER = "spark.driver.extraJavaOptions"
EXECUTOR = "spark.executor.extraJavaOptions"


def test_the_sessions_jvm_runs_the_serial_collector_in_utc(spark):
    jvm = spark.sparkContext._jvm
    beans = jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
    assert {bean.getName() for bean in beans} == {"Copy", "MarkSweepCompact"}  # serial's two
    assert jvm.java.util.TimeZone.getDefault().getID() == "UTC"


def test_spawned_short_lived_jvms_add_the_client_jit_to_the_same_options(monkeypatch):
    def read_back(env: str) -> dict[str, str]:  # as a spawned process reads PDM_SPARK_CONF
        monkeypatch.setenv("PDM_SPARK_CONF", env)
        return env_spark_conf()

    conf, long_lived = read_back(spark_conf_env(short_lived=True)), read_back(spark_conf_env())
    for key in (DRIVER, EXECUTOR):
        assert long_lived[key].split() == ["-Duser.timezone=UTC", TEST_JVM]
        assert conf[key].split() == ["-Duser.timezone=UTC", TEST_JVM, SHORT_LIVED_JVM]
