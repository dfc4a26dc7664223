"""A local stand-in for the parts of the Databricks REST API that the step launcher uses.

``FakeDatabricks`` serves, on 127.0.0.1 and a free port, with a bearer token required:

- DBFS 2.0: ``create``/``add-block``/``close``/``put``/``read``/``get-status``/``mkdirs``/
  ``delete``/``list``, over a temporary folder (``dbfs:/x`` is ``<root>/x``); a missing path
  answers 404 ``RESOURCE_DOES_NOT_EXIST`` like the real service.
- Jobs 2.2: ``runs/submit`` (one ``spark_python_task``), ``runs/get``, ``runs/get-output``,
  ``runs/cancel``; Clusters 2.1 ``clusters/get`` for the one fake cluster id.

A submitted run goes PENDING -> RUNNING -> TERMINATED (SUCCESS or FAILED) and executes its
``python_file`` in a subprocess of this interpreter with local PySpark (``databricks_runtime.py``),
which creates the session and injects the ``sc`` and ``dbutils`` globals the runtime provides.
On the existing cluster that subprocess attaches to the cluster's driver JVM, started with the
first run and kept warm until ``stop()``, as a running cluster's driver is; a ``new_cluster``
run starts a JVM of its own, as a new job cluster does.

Fidelity limits (what it does NOT emulate):
- No cluster: no cluster start-up time, no autoscaling, no node types, no instance pools; a
  ``new_cluster`` spec is only recorded (its ``spark_env_vars`` are applied); the libraries are
  recorded, never installed (the subprocess uses this virtualenv's packages).
- ``/dbfs/...`` FUSE paths exist only as the task's parameters, which are rewritten to the local
  folder; code that builds ``/dbfs/`` paths itself would not find them. Spark sees no ``dbfs:``
  filesystem: tables must be given as ``file://`` URIs into the DBFS folder.
- ``dbutils`` has only ``fs`` basics and ``secrets.get`` from a dict; no widgets, no notebooks.
- No Unity Catalog, no Delta (the pyspark package has no Delta jars), no MLflow server.
- The existing cluster runs one task at a time (its driver holds one SparkContext; the next
  task stays PENDING meanwhile), where a real all-purpose cluster runs them side by side.
- One task per run, no job definitions (``jobs/create``), permissions, repair, cluster
  logs (``wait_for_logs``) or rate limits. ``runs/get`` reports ``start_time``/``end_time`` and
  ``setup_``/``execution_``/``cleanup_``/``run_duration`` like the real API, but they are wall
  times of a local subprocess (setup is only the moment before it starts, not a cluster start).
- DBFS block size limits (1 MB ``add-block``) and the 2 GB file limit are not enforced.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from pdm_assets.resources.class_archive import with_class_archive
from pdm_assets.resources.spark import LOCAL_SPARK_CONF
from pdm_assets_tests.spark_conf import TEST_JVM

RUNTIME_SCRIPT = Path(__file__).with_name("databricks_runtime.py")
CLUSTER_ID = "0101-000000-standin"
RUN_TIMEOUT_SECONDS = 1200  # a run is killed (FAILED) after this; generous for a loaded machine
DRIVER_START_SECONDS = 300


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class SubmittedRun:
    run_id: int
    request: dict[str, Any]
    life_cycle_state: str = "PENDING"
    result_state: str | None = None
    state_message: str = ""
    start_time: int = field(default_factory=lambda: int(time.time() * 1000))
    running_at: int = 0  # when the task started (PENDING ended)
    end_time: int = 0
    log: str = ""
    process: subprocess.Popen | None = None

    def as_json(self, host: str) -> dict[str, Any]:
        state: dict[str, Any] = {
            "life_cycle_state": self.life_cycle_state,
            "state_message": self.state_message,
        }
        if self.result_state:
            state["result_state"] = self.result_state
        task = self.request["tasks"][0]
        # As the real service: durations in ms, 0 until known; setup is the time spent PENDING
        # (cluster start-up on a real job cluster), execution the task's, cleanup after it.
        setup = (self.running_at or self.end_time or self.start_time) - self.start_time
        execution = (self.end_time - self.running_at) if self.end_time and self.running_at else 0
        return {
            "run_id": self.run_id,
            "job_id": 1000 + self.run_id,
            "run_name": self.request.get("run_name") or "Untitled",
            "run_page_url": f"{host}/#job/{1000 + self.run_id}/run/{self.run_id}",
            "state": state,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "setup_duration": setup,
            "execution_duration": execution,
            "cleanup_duration": 0,
            "run_duration": (self.end_time - self.start_time) if self.end_time else 0,
            "tasks": [
                {
                    "run_id": self.run_id,
                    "task_key": task.get("task_key", "task"),
                    "state": state,
                    "cluster_instance": {"cluster_id": task.get("existing_cluster_id", CLUSTER_ID)},
                }
            ],
        }


class FakeDatabricks:
    """Start with ``start()`` (or as a context manager); ``host`` and ``token`` to connect."""

    def __init__(self, root: Path, token: str = "dapi-standin-token", python: str | None = None):
        self.root = Path(root)
        self.dbfs = self.root / "dbfs"
        self.dbfs.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.python = python or sys.executable
        self.requests: list[tuple[str, str]] = []  # (method, path) of every authorized call
        self.runs: dict[int, SubmittedRun] = {}
        self.secrets: dict[tuple[str, str], str] = {}
        self._handles: dict[int, tuple[Path, bytearray]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._cluster_busy = threading.Lock()  # one task at a time on the existing cluster
        self._driver: subprocess.Popen | None = None
        self._driver_gateway: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def host(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeDatabricks:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        for run in self.runs.values():
            if run.process is not None and run.process.poll() is None:
                run.process.kill()
                run.process.wait(timeout=10)
        if self._driver is not None:
            self._driver.stdin.close()  # the driver process exits, and its JVM with it
            try:
                self._driver.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._driver.kill()
                self._driver.wait(timeout=10)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeDatabricks:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def local_path(self, path: str) -> Path:
        """``dbfs:/a``, ``dbfs://a``, ``/dbfs/a`` and ``/a`` all name ``<root>/dbfs/a``."""
        for prefix in ("dbfs:", "/dbfs/"):
            if path.startswith(prefix):
                path = path[len(prefix) :]
        relative = Path("/" + path.lstrip("/")).resolve().relative_to("/")
        return self.dbfs / relative

    def submitted(self) -> list[dict[str, Any]]:
        return [run.request for run in self.runs.values()]

    # -- HTTP ------------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # keep test output clean

            def do_GET(self) -> None:
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                self._answer("GET", url.path, params)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                self._answer("POST", urlparse(self.path).path, body)

            def _answer(self, method: str, path: str, params: dict[str, Any]) -> None:
                try:
                    if self.headers.get("Authorization") != f"Bearer {fake.token}":
                        raise ApiError(
                            HTTPStatus.FORBIDDEN, "PERMISSION_DENIED", "Invalid access token."
                        )
                    with fake._lock:
                        fake.requests.append((method, path))
                    result = fake._route(method, path, params)
                    self._send(HTTPStatus.OK, result)
                except ApiError as e:
                    self._send(e.status, {"error_code": e.code, "message": e.message})

            def _send(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _route(self, method: str, path: str, p: dict[str, Any]) -> dict[str, Any]:
        routes = {
            ("POST", "/api/2.0/dbfs/create"): self._create,
            ("POST", "/api/2.0/dbfs/add-block"): self._add_block,
            ("POST", "/api/2.0/dbfs/close"): self._close,
            ("POST", "/api/2.0/dbfs/put"): self._put,
            ("GET", "/api/2.0/dbfs/read"): self._read,
            ("GET", "/api/2.0/dbfs/get-status"): self._get_status,
            ("POST", "/api/2.0/dbfs/mkdirs"): self._mkdirs,
            ("POST", "/api/2.0/dbfs/delete"): self._delete,
            ("GET", "/api/2.0/dbfs/list"): self._list,
            ("POST", "/api/2.2/jobs/runs/submit"): self._submit,
            ("GET", "/api/2.2/jobs/runs/get"): self._get_run,
            ("GET", "/api/2.2/jobs/runs/get-output"): self._get_output,
            ("POST", "/api/2.2/jobs/runs/cancel"): self._cancel,
            ("GET", "/api/2.1/clusters/get"): self._get_cluster,
        }
        handler = routes.get((method, path))
        if handler is None:
            raise ApiError(
                HTTPStatus.NOT_FOUND, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'"
            )
        return handler(p)

    # -- DBFS ------------------------------------------------------------------------------
    def _existing(self, path: str) -> Path:
        local = self.local_path(path)
        if not local.exists():
            raise ApiError(
                HTTPStatus.NOT_FOUND,
                "RESOURCE_DOES_NOT_EXIST",
                f"No file or directory exists on path {path}.",
            )
        return local

    def _create(self, p: dict[str, Any]) -> dict[str, Any]:
        local = self.local_path(p["path"])
        if local.exists() and not p.get("overwrite"):
            raise ApiError(
                HTTPStatus.CONFLICT, "RESOURCE_ALREADY_EXISTS", f"{p['path']} already exists."
            )
        with self._lock:
            handle = next(self._ids)
            self._handles[handle] = (local, bytearray())
        return {"handle": handle}

    def _add_block(self, p: dict[str, Any]) -> dict[str, Any]:
        handle = int(p["handle"])
        if handle not in self._handles:
            raise ApiError(HTTPStatus.NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", f"no handle {handle}")
        self._handles[handle][1].extend(base64.b64decode(p["data"]))
        return {}

    def _close(self, p: dict[str, Any]) -> dict[str, Any]:
        handle = int(p["handle"])
        with self._lock:
            if handle not in self._handles:
                raise ApiError(
                    HTTPStatus.NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", f"no handle {handle}"
                )
            local, data = self._handles.pop(handle)
        self._write(local, bytes(data))
        return {}

    def _put(self, p: dict[str, Any]) -> dict[str, Any]:
        local = self.local_path(p["path"])
        if local.exists() and not p.get("overwrite"):
            raise ApiError(
                HTTPStatus.CONFLICT, "RESOURCE_ALREADY_EXISTS", f"{p['path']} already exists."
            )
        self._write(local, base64.b64decode(p.get("contents", "")))
        return {}

    @staticmethod
    def _write(local: Path, data: bytes) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, local)  # readers never see half a file

    def _read(self, p: dict[str, Any]) -> dict[str, Any]:
        local = self._existing(p["path"])
        if local.is_dir():
            raise ApiError(HTTPStatus.BAD_REQUEST, "NOT_A_FILE", f"{p['path']} is a directory")
        offset, length = int(p.get("offset", 0)), int(p.get("length", 1 << 20))
        with local.open("rb") as f:
            f.seek(offset)
            chunk = f.read(length)
        return {"bytes_read": len(chunk), "data": base64.b64encode(chunk).decode()}

    def _status(self, path: str, local: Path) -> dict[str, Any]:
        stat = local.stat()
        return {
            "path": path,
            "is_dir": local.is_dir(),
            "file_size": 0 if local.is_dir() else stat.st_size,
            "modification_time": int(stat.st_mtime * 1000),
        }

    def _get_status(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._status(p["path"], self._existing(p["path"]))

    def _mkdirs(self, p: dict[str, Any]) -> dict[str, Any]:
        self.local_path(p["path"]).mkdir(parents=True, exist_ok=True)
        return {}

    def _delete(self, p: dict[str, Any]) -> dict[str, Any]:
        local = self.local_path(p["path"])
        if local.is_dir():
            if any(local.iterdir()) and not p.get("recursive"):
                raise ApiError(
                    HTTPStatus.BAD_REQUEST, "IO_ERROR", f"{p['path']} is a non-empty directory"
                )
            shutil.rmtree(local)
        elif local.exists():
            local.unlink()
        return {}  # deleting a missing path succeeds, as on DBFS

    def _list(self, p: dict[str, Any]) -> dict[str, Any]:
        local = self._existing(p["path"])
        base = "/" + p["path"].removeprefix("dbfs:").strip("/")
        children = sorted(local.iterdir()) if local.is_dir() else []
        return {
            "files": [self._status(f"{base.rstrip('/')}/{c.name}", c) for c in children]
            if local.is_dir()
            else [self._status(base, local)]
        }

    # -- Jobs ------------------------------------------------------------------------------
    def _run(self, p: dict[str, Any]) -> SubmittedRun:
        run = self.runs.get(int(p.get("run_id", -1)))
        if run is None:
            raise ApiError(
                HTTPStatus.NOT_FOUND,
                "RESOURCE_DOES_NOT_EXIST",
                f"Run {p.get('run_id')} does not exist.",
            )
        return run

    def _submit(self, p: dict[str, Any]) -> dict[str, Any]:
        tasks = p.get("tasks") or []
        if len(tasks) != 1 or "spark_python_task" not in tasks[0]:
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                "INVALID_PARAMETER_VALUE",
                "the stand-in runs exactly one task, a spark_python_task",
            )
        task = tasks[0]
        cluster = task.get("existing_cluster_id")
        if cluster is not None and cluster != CLUSTER_ID:
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                "INVALID_PARAMETER_VALUE",
                f"Cluster {cluster} does not exist",
            )
        if cluster is None and not task.get("new_cluster"):
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                "INVALID_PARAMETER_VALUE",
                "One of existing_cluster_id or new_cluster must be specified",
            )
        with self._lock:
            run = SubmittedRun(run_id=next(self._ids), request=p)
            self.runs[run.run_id] = run
        threading.Thread(target=self._execute, args=(run,), daemon=True).start()
        return {"run_id": run.run_id}

    def _cluster_env(self, task: dict[str, Any]) -> dict[str, str]:
        # A cluster's environment, not the test's: the launcher must carry what the step needs.
        keep = ("PATH", "HOME", "JAVA_HOME", "LANG", "TMPDIR", "PYSPARK_PYTHON")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update((task.get("new_cluster") or {}).get("spark_env_vars") or {})
        env.update(
            {
                "DATABRICKS_RUNTIME_VERSION": "15.4-standin",
                "SPARK_LOCAL_IP": "127.0.0.1",
                "PYSPARK_PYTHON": self.python,
                "PDM_STANDIN_DBFS_ROOT": str(self.dbfs),
                "PDM_STANDIN_DRIVER_JAVA_OPTIONS": with_class_archive(
                    f"{LOCAL_SPARK_CONF['spark.driver.extraJavaOptions']} {TEST_JVM}"
                ),
                "PDM_STANDIN_SECRETS": json.dumps(
                    {f"{s}/{k}": v for (s, k), v in self.secrets.items()}
                ),
            }
        )
        return env

    def _driver_env(self, env: dict[str, str]) -> dict[str, str]:
        """The existing cluster's driver JVM, started with the first task that needs it."""
        if self._driver is None or self._driver.poll() is not None:
            info = self.root / "driver" / "gateway.json"
            info.parent.mkdir(parents=True, exist_ok=True)
            info.unlink(missing_ok=True)
            log = self.root / "driver" / "driver.log"
            with log.open("a") as out:
                self._driver = subprocess.Popen(
                    [self.python, str(RUNTIME_SCRIPT), "--driver", str(info)],
                    cwd=info.parent,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            deadline = time.monotonic() + DRIVER_START_SECONDS
            while not info.exists():
                if self._driver.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the stand-in's driver did not start; see {log}")
                time.sleep(0.2)
            gateway = json.loads(info.read_text())
            self._driver_gateway = {
                "PYSPARK_GATEWAY_PORT": str(gateway["port"]),
                "PYSPARK_GATEWAY_SECRET": gateway["secret"],
            }
        return {**env, **self._driver_gateway}

    def _execute(self, run: SubmittedRun) -> None:
        task = run.request["tasks"][0]
        if task.get("existing_cluster_id"):
            with self._cluster_busy:  # PENDING until the cluster's driver is free
                self._execute_task(run, task, on_cluster=True)
        else:
            self._execute_task(run, task, on_cluster=False)

    def _execute_task(self, run: SubmittedRun, task: dict[str, Any], on_cluster: bool) -> None:
        python_task = task["spark_python_task"]
        script = self.local_path(python_task["python_file"])
        args = [
            str(self.local_path(a)) if a.startswith(("/dbfs/", "dbfs:")) else a
            for a in python_task.get("parameters", [])
        ]
        workdir = self.root / "runs" / str(run.run_id)
        workdir.mkdir(parents=True, exist_ok=True)
        env = self._cluster_env(task)
        log_path = workdir / "driver.log"
        if run.result_state == "CANCELED":  # cancelled while PENDING
            run.end_time = int(time.time() * 1000)
            run.life_cycle_state = "TERMINATED"
            return
        try:
            if on_cluster:
                env = self._driver_env(env)
        except RuntimeError as e:
            run.log, run.end_time = str(e), int(time.time() * 1000)
            run.life_cycle_state, run.result_state = "INTERNAL_ERROR", "FAILED"
            run.state_message = str(e)
            return
        run.running_at = int(time.time() * 1000)
        run.life_cycle_state = "RUNNING"
        with log_path.open("w") as log:
            run.process = subprocess.Popen(
                [self.python, str(RUNTIME_SCRIPT), str(script), *args],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                code = run.process.wait(timeout=RUN_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                run.process.kill()
                code = run.process.wait()
        run.log = log_path.read_text(errors="replace")
        run.end_time = int(time.time() * 1000)
        if run.result_state == "CANCELED":
            run.life_cycle_state = "TERMINATED"
            return
        run.life_cycle_state = "TERMINATED"
        if code == 0:
            run.result_state, run.state_message = "SUCCESS", ""
        else:
            run.result_state = "FAILED"
            run.state_message = "Workload failed, see run output for details"

    def _get_run(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._run(p).as_json(self.host)

    def _get_output(self, p: dict[str, Any]) -> dict[str, Any]:
        run = self._run(p)
        out: dict[str, Any] = {"metadata": run.as_json(self.host), "logs": run.log[-5000:]}
        if run.result_state == "FAILED":
            lines = [line for line in run.log.splitlines() if line.strip()]
            out["error"] = lines[-1] if lines else "failed"
            out["error_trace"] = run.log[-5000:]
        return out

    def _cancel(self, p: dict[str, Any]) -> dict[str, Any]:
        run = self._run(p)
        if run.life_cycle_state in ("PENDING", "RUNNING"):
            run.result_state, run.state_message = "CANCELED", "Run cancelled."
            run.life_cycle_state = "TERMINATING"
            if run.process is not None:
                run.process.kill()
        return {}

    def _get_cluster(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("cluster_id") != CLUSTER_ID:
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                "INVALID_PARAMETER_VALUE",
                f"Cluster {p.get('cluster_id')} does not exist",
            )
        return {
            "cluster_id": CLUSTER_ID,
            "cluster_name": "stand-in",
            "state": "RUNNING",
            "spark_version": "15.4.x-scala2.12",
            "num_workers": 0,
        }
