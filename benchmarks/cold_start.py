"""Cold start of a new Spark process, with and without the JVM class archive, in one invocation.

Every daemon-launched run, CLI command and remote step is a new process with a new JVM. This
times what such a process pays before its work is done: imports, the session, a first
partitioned parquet write and a read back, alternating the two settings so machine load hits both.

    python benchmarks/cold_start.py [--repeat 4]

Needs the archive (``make install`` builds it; or ``pdm-assets class-archive``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from pdm_assets.resources.class_archive import ARCHIVE_ENV, archive_path

PROCESS = """
import sys, time
t0 = time.monotonic()
import dagster, mlflow
from pyspark.sql import functions as F
from pdm_assets.resources.spark import build_local_spark
spark = build_local_spark({"spark.master": "local[2]", "spark.sql.shuffle.partitions": "2"})
t1 = time.monotonic()
rows = spark.range(24 * 100).select(
    (F.col("id") % 100).alias("machineID"),
    F.timestamp_seconds(F.lit(1420070400) + F.floor(F.col("id") / 100) * 3600).alias("datetime"),
    F.rand(1).alias("volt"),
).withColumn("dt", F.to_date("datetime"))
rows.write.mode("overwrite").partitionBy("dt").parquet(sys.argv[1])
t2 = time.monotonic()
spark.read.parquet(sys.argv[1]).groupBy("machineID").avg("volt").collect()
t3 = time.monotonic()
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {t3 - t2:.3f}")
"""


def one_process(use_archive: bool, out: str) -> dict[str, float]:
    env = {**os.environ}
    if not use_archive:
        env[ARCHIVE_ENV] = "off"
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", PROCESS, out], env=env, capture_output=True, text=True, check=True
    )
    wall = time.monotonic() - t0
    session, write, read = (float(x) for x in done.stdout.split()[-3:])
    return {"wall": wall, "session": session, "first_write": write, "read": read}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=4)
    args = parser.parse_args()
    path = archive_path()
    if path is None or not path.is_file():
        sys.exit(f"no class archive at {path}: run `pdm-assets class-archive` first")
    runs: dict[str, list[dict[str, float]]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory() as work:
        for i in range(args.repeat):
            for name in ("without", "with"):
                runs[name].append(one_process(name == "with", f"{work}/{name}{i}"))
    median = {
        name: {k: round(statistics.median(r[k] for r in rs), 2) for k in rs[0]}
        for name, rs in runs.items()
    }
    print(f"cold Spark process, median of {args.repeat} (archive {path}):")
    print(f"{'':10} {'wall s':>8} {'session s':>10} {'1st write s':>12} {'read s':>8}")
    for name, m in median.items():
        print(
            f"{name + ' archive':10} {m['wall']:>8} {m['session']:>10} {m['first_write']:>12} "
            f"{m['read']:>8}"
        )
    saved = median["without"]["wall"] - median["with"]["wall"]
    print(f"saved per process: {saved:.1f} s ({saved / median['without']['wall']:.0%})")
    print(json.dumps({"median": median, "saved_s": round(saved, 2), "repeat": args.repeat}))


if __name__ == "__main__":
    main()
