"""Many senders at once: ``dicomnet serve`` on one and on every core against
``storescp --fork``, side by side on 127.0.0.1.

    .venv/bin/python benchmarks/scale_bench.py [--senders 50] [--images 20] [--rounds 5]
                                               [--workers 1,2,auto] [--postgresql]

``--senders`` DCMTK ``storescu`` processes start together, each sending its own
``--images`` CT images (512x512, 16 bit, ~0.5 MB, Explicit VR Little Endian, every
instance a new SOP Instance UID) in one association. The time of a run is from the
first sender's start to the last one's exit; the server was listening before. Servers:

    storescp --fork            (the reference: a process per association, files only)
    dicomnet serve --workers W (for each W of --workers; files and the SQLite index)
    ... --index postgresql://  (with --postgresql: the same on a PostgreSQL index that
                                the benchmark starts itself, conformance/postgres.py)

After every run the benchmark counts what the server holds: every instance sent must be
there exactly once, as a file (and, for serve, as an index row); a run that lost or
duplicated one fails the benchmark. Rounds interleave the servers; the table gives the
best and the median round and their ratios to storescp --fork. The clients are C++ and
cost the same for every server; on a 2-core machine they share the cores with it.
DCMTK runs with TCP_NODELAY=1. Every process has a timeout.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import pydicom
from common import dcmtk, free_port, wait_for
from store_bench import make_images

ENV = {**os.environ, "TCP_NODELAY": "1"}
PY = sys.executable
TIMEOUT = 900
REFERENCE = "storescp --fork"


def usable_cores() -> int:
    return len(os.sched_getaffinity(0))


def server_command(server: str, port: int, out: Path, index_url: str | None) -> list[str]:
    if server == REFERENCE:
        return [dcmtk("storescp"), "--fork", "-od", str(out), str(port)]
    workers = server.split("--workers ")[1].split(maxsplit=1)[0]
    command = [PY, "-m", "dicomnet", "serve", "--port", str(port), "--any-aet",
               "--data", str(out), "--workers", workers, "-q",
               "--max-associations", "200"]
    if "postgresql" in server:
        assert index_url is not None
        command += ["--index", index_url]
    return command


def sent_uids(folders: list[Path]) -> set[str]:
    return {str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
            for folder in folders for path in folder.iterdir()}


def held_files(out: Path) -> list[str]:
    """The SOP Instance UID of every whole file the server wrote."""
    uids = []
    for path in out.rglob("*"):
        if not path.is_file() or path.name.startswith(".") or ".incoming" in path.parts:
            continue
        if path.name.startswith("index.sqlite"):
            continue
        uids.append(str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID))
    return uids


def index_rows(server: str, out: Path, database: PostgreSQLDatabase | None) -> list[str]:
    if "postgresql" in server:
        assert database is not None
        return database.instance_uids()
    with sqlite3.connect(out / "index.sqlite") as db:
        return [str(row[0]) for row in db.execute("SELECT sop_instance_uid FROM instance")]


class PostgreSQLDatabase:
    """A fresh database per run on the benchmark's own PostgreSQL server (started by
    the test suite's harness, conformance/postgres.py: initdb + pg_ctl in a temporary
    folder on a free port of 127.0.0.1)."""

    def __init__(self, stack: ExitStack) -> None:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "conformance"))
        from postgres import PostgresServer

        self.server = stack.enter_context(PostgresServer.started(durable=True))
        self.url = ""

    def fresh(self) -> str:
        self.url = self.server.new_database("scale")
        return self.url

    def instance_uids(self) -> list[str]:
        import psycopg

        with psycopg.connect(self.url) as db:
            return [str(row[0]) for row in db.execute("SELECT sop_instance_uid FROM instance")]


def run_once(server: str, folders: list[Path], expected: set[str], *, work: Path,
             attempt: int, database: PostgreSQLDatabase | None) -> float:
    """One timed run: all senders at once into a fresh server; the wall seconds."""
    os.sync()
    port = free_port()
    out = work / f"out-{attempt}-{server.replace(' ', '_').replace('/', '_')}"
    out.mkdir()
    index_url = database.fresh() if database is not None and "postgresql" in server else None
    process = subprocess.Popen(server_command(server, port, out, index_url), env=ENV,
                               cwd=out, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(port, process)
        time.sleep(0.5)  # every worker started, not only the first that listens
        commands = [[dcmtk("storescu"), "-aec", "ANY", "+sd", "127.0.0.1", str(port),
                     str(folder)] for folder in folders]
        started = time.perf_counter()
        senders = [subprocess.Popen(command, env=ENV, cwd=work, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT) for command in commands]
        failed = []
        for sender in senders:
            output, _ = sender.communicate(timeout=TIMEOUT)
            if sender.returncode != 0:
                failed.append(output.decode(errors="replace")[-300:])
        elapsed = time.perf_counter() - started
        if failed:
            raise RuntimeError(f"{len(failed)} senders into {server} failed: {failed[0]}")
    finally:
        process.terminate()
        try:
            _, errors = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            _, errors = process.communicate()
    files = held_files(out)
    problems = _count_problems("files", files, expected)
    if server != REFERENCE:
        problems += _count_problems("index rows", index_rows(server, out, database), expected)
    if problems:
        raise RuntimeError(f"{server}: " + "; ".join(problems) + "\n"
                           + errors.decode(errors="replace")[-1500:])
    shutil.rmtree(out, ignore_errors=True)
    return elapsed


def _count_problems(what: str, held: list[str], expected: set[str]) -> list[str]:
    problems = []
    lost = expected - set(held)
    if lost:
        problems.append(f"{len(lost)} instances lost ({what})")
    if len(held) != len(set(held)):
        problems.append(f"{len(held) - len(set(held))} duplicated ({what})")
    extra = set(held) - expected
    if extra:
        problems.append(f"{len(extra)} unknown ({what})")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--images", type=int, default=20, help="images per sender")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", default="1,2,auto",
                        help="serve's --workers values to run, comma separated")
    parser.add_argument("--postgresql", action="store_true",
                        help="also run serve --workers auto on a PostgreSQL index")
    args = parser.parse_args()
    for tool in ("storescu", "storescp"):
        dcmtk(tool)
    servers = [REFERENCE]
    for workers in dict.fromkeys(args.workers.split(",")):
        servers.append(f"serve --workers {workers}")
    if args.postgresql:
        servers.append("serve --workers auto --index postgresql")
    import dicomnet

    compileall.compile_dir(Path(dicomnet.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory(prefix="dicomnet-scale-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        database = PostgreSQLDatabase(stack) if args.postgresql else None
        template = work / "template"
        template.mkdir()
        make_images(template, 1)
        folders = []
        for sender in range(args.senders):
            folder = work / f"sender{sender:03d}"
            folder.mkdir()
            _copies(template, folder, args.images)
            folders.append(folder)
        expected = sent_uids(folders)
        assert len(expected) == args.senders * args.images
        print(f"{args.senders} senders x {args.images} images at once, "
              f"{usable_cores()} usable cores, best and median of {args.rounds} rounds\n")
        times: dict[str, list[float]] = {server: [] for server in servers}
        for attempt in range(args.rounds):
            for server in servers:
                times[server].append(run_once(server, folders, expected, work=work,
                                              attempt=attempt, database=database))
        best_ref = min(times[REFERENCE])
        median_ref = statistics.median(times[REFERENCE])
        total = args.senders * args.images
        print(f"{'server':42} {'best s':>7} {'images/s':>9} {'vs storescp':>12} "
              f"{'median s':>9} {'median ratio':>13}")
        for server, seconds in times.items():
            best, median = min(seconds), statistics.median(seconds)
            print(f"{server:42} {best:7.2f} {total / best:9.0f} {best_ref / best:12.2f} "
                  f"{median:9.2f} {median_ref / median:13.2f}")
        print("\nevery run: each instance sent held exactly once (files, index rows)")
    return 0


def _copies(template: Path, folder: Path, count: int) -> None:
    """``count`` copies of the template image, each a new instance."""
    from pydicom.uid import generate_uid

    (source,) = template.iterdir()
    dataset = pydicom.dcmread(source)
    for number in range(count):
        dataset.SOPInstanceUID = generate_uid()
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        dataset.InstanceNumber = number + 1
        dataset.save_as(folder / f"ct{number:04d}.dcm", enforce_file_format=True)


if __name__ == "__main__":
    sys.exit(main())
