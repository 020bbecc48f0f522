"""The command line, run as a user runs it: a process of its own (tests.cli_process) with a config file in a
fresh directory."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_process import notifier_env, run_notifier
from tests.factories import dossier, officers


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_notifier(cwd, *args)


def _config(tmp_path: Path, db_url: str) -> None:
    (tmp_path / "config.toml").write_text(
        f'[database]\nurl = "{db_url}"\n[channels.file]\npath = "out/outbox.jsonl"\n', encoding="utf-8"
    )


@pytest.mark.empty_database  # `db upgrade` itself is under test: it starts from nothing
def test_import_scan_dispatch_status(tmp_path: Path, db_url: str) -> None:
    _config(tmp_path, db_url)
    assert _cli(tmp_path, "db", "upgrade").returncode == 0
    # the command closed its connections as it left, so SQLite's write-ahead log is in the file
    assert not (tmp_path / "notifier.db-wal").exists()
    (tmp_path / "officers.json").write_text(json.dumps(officers()), encoding="utf-8")
    assert _cli(tmp_path, "import-officers", "officers.json").returncode == 0
    items = [
        dossier("CLI-1", MaCanBo="CB01", NgayHenTra="20261130170000"),
        dossier("CLI-2", SoDienThoai="0999"),
        dossier("CLI-3", TrangThaiHoSo=2, NgayTiepNhan="20261201080000"),
    ]
    (tmp_path / "d.json").write_text(json.dumps({"data": items}), encoding="utf-8")
    imp = _cli(tmp_path, "import", "d.json", "--now", "2026-12-01T09:00")
    assert imp.returncode == 1  # something was rejected
    assert "2 created" in imp.stdout
    assert "rejected: row 2 (MaHoSo CLI-2): field SoDienThoai: value '0999':" in imp.stderr
    scan = _cli(tmp_path, "scan", "--now", "2026-12-01T09:00")
    assert scan.returncode == 0, scan.stderr
    disp = _cli(tmp_path, "dispatch", "--once", "--now", "2026-12-01T09:00")
    assert disp.returncode == 0, disp.stderr
    # the honest overdue notice (no Mẫu 04 was issued) + assigned officer alert for CLI-1, received for CLI-3, and the day's digests (09:00 is past
    # [digest] at): CB01 (CLI-1, CLI-3), CB02 (CLI-3, unassigned) and the head
    assert "sent 6" in disp.stdout
    lines = [json.loads(x) for x in (tmp_path / "out" / "outbox.jsonl").read_text().splitlines()]
    assert sorted(x["kind"] for x in lines) == [
        "head_digest", "officer_digest", "officer_digest", "overdue_alert", "overdue_notice", "received"
    ]
    notice = next(x for x in lines if x["kind"] == "overdue_notice")
    assert "30/11/2026" in notice["text"] and "chưa có kết quả đúng hẹn" in notice["text"]
    st = _cli(tmp_path, "status", "CLI-1", "--now", "2026-12-01T10:00")
    assert st.returncode == 0 and "QUÁ HẠN 1 ngày làm việc" in st.stdout and "overdue_notice" in st.stdout
    assert _cli(tmp_path, "status", "NOPE").returncode == 1


def test_bad_now_and_missing_file_are_named(tmp_path: Path) -> None:
    _config(tmp_path, f"sqlite:///{tmp_path / 'n.db'}")
    bad = _cli(tmp_path, "scan", "--now", "03/02/2027")
    assert bad.returncode == 2 and "--now: value '03/02/2027'" in bad.stderr
    missing = _cli(tmp_path, "import", "nope.json")
    assert missing.returncode == 2 and "nope.json" in missing.stderr
    conf = _cli(tmp_path, "--config", "other.toml", "scan")
    assert conf.returncode == 2 and "config: file 'other.toml' does not exist" in conf.stderr


def test_an_empty_now_is_refused_not_read_as_the_clock(tmp_path: Path, sqlite_template: Path) -> None:
    # `--now "$AT"` with AT unset scanned (or sent) at the wall clock's time, saying nothing.
    _config(tmp_path, f"sqlite:///{tmp_path / 'n.db'}")
    shutil.copyfile(sqlite_template, tmp_path / "n.db")
    for value in ("", " "):
        done = _cli(tmp_path, "scan", "--now", value)
        assert done.returncode == 2, done.stdout
        assert done.stdout == ""
        assert f"--now: value '{value}': empty; give a date-time like 2027-02-03T09:00" in done.stderr


def test_apikey_create_prints_once(tmp_path: Path, sqlite_template: Path) -> None:
    _config(tmp_path, f"sqlite:///{tmp_path / 'n.db'}")
    shutil.copyfile(sqlite_template, tmp_path / "n.db")  # what `db upgrade` leaves, tested above
    first = _cli(tmp_path, "apikey", "create", "portal")
    assert first.returncode == 0 and first.stdout.strip().startswith("nk_")
    dup = _cli(tmp_path, "apikey", "create", "portal")
    assert dup.returncode == 1 and "field name: value 'portal': an API key with this name exists already" in dup.stderr


def test_demo_then_messages_in_the_file(tmp_path: Path) -> None:
    _config(tmp_path, f"sqlite:///{tmp_path / 'n.db'}")
    assert _cli(tmp_path, "demo", "--now", "2026-12-01T09:00").returncode == 0
    assert _cli(tmp_path, "scan", "--now", "2026-12-01T09:00").returncode == 0
    disp = _cli(tmp_path, "dispatch", "--once", "--now", "2026-12-01T09:00")
    assert disp.returncode == 0, disp.stderr
    lines = [json.loads(x) for x in (tmp_path / "out" / "outbox.jsonl").read_text().splitlines()]
    kinds = {x["kind"] for x in lines}
    assert {
        "received",
        "supplement_requested",
        "payment_requested",
        "overdue_notice",
        "result_ready",
        "returned",
        "rejected",
        "due_soon",
        "overdue_alert",
        "escalation",
    } <= kinds

    # Only the 2026 Hai Phong: departments, the city police, wards; no district, no merged-away department.
    import sqlite3

    with sqlite3.connect(tmp_path / "n.db") as db:
        agencies = {name: level for name, level in db.execute("SELECT name, level FROM agencies")}
        unreachable = db.execute("SELECT count(*) FROM notifications WHERE status = 'unreachable'").fetchone()[0]
    assert agencies == {
        "Sở Tư pháp thành phố Hải Phòng": "province",
        "Sở Tài chính thành phố Hải Phòng": "province",
        "Sở Nông nghiệp và Môi trường thành phố Hải Phòng": "province",
        "Sở Xây dựng thành phố Hải Phòng": "province",
        "Công an thành phố Hải Phòng": "province",
        "UBND phường Lê Chân": "commune",
        "UBND phường Hải Dương": "commune",
    }
    texts = " ".join(x["text"] for x in lines)
    for old in ("quận", "huyện", "Bộ phận Một cửa", "Kế hoạch và Đầu tư", "Tài nguyên và Môi trường", "CCCD", "₫"):
        assert old not in texts, old
    # SMS-family messages never go to a landline; the applicant without any contact is recorded unreachable.
    assert not any(x["recipient"].startswith("+84225") or x["recipient"].startswith("+84220") for x in lines)
    assert unreachable > 0
    assert "Công an TP HP: Hồ sơ" in texts and "UBND P. Lê Chân: Hồ sơ" in texts  # SMS short names


# Run in a new interpreter: records what `tests.cli_process.preload()` reads of the process's environment,
# working directory and terminal through code of ours. A read by a library our module-level code calls
# counts; a library's reads at its own import do not (the old fork-from-pytest design imported libraries
# ahead too; the zygote guards their environment reads per command like any other, see cli_process).
_IMPORT_READS = r"""
import json, os, sys

reads = []


def ours(frame):
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return None  # a library's own import, not a call from our code
        name = frame.f_globals.get("__name__", "")
        if name.split(".")[0] in ("notifier", "jobs"):
            return name
        frame = frame.f_back
    return None


def record(what):
    module = ours(sys._getframe(2))
    if module:
        reads.append(f"{module}: {what}")


class Environ(type(os.environ)):
    def __getitem__(self, key):
        record(f"environment {key}")
        return super().__getitem__(key)

    def __iter__(self):
        record("environment (all of it)")
        return super().__iter__()


os.environ.__class__ = Environ
for name in ("getcwd", "getcwdb", "stat", "lstat", "listdir", "scandir"):
    def wrapped(*args, _real=getattr(os, name), _name=name, **kwargs):
        path = args[0] if args else kwargs.get("path", ".")
        if _name.startswith("getcwd") or not os.path.isabs(os.fsdecode(path) if not isinstance(path, int) else "/"):
            record(f"working directory ({_name} {path!r})" if not _name.startswith("getcwd") else "working directory")
        return _real(*args, **kwargs)
    setattr(os, name, wrapped)


def audit(event, args):
    if event == "open" and isinstance(args[0], (str, bytes)) and not os.path.isabs(os.fsdecode(args[0])):
        record(f"working directory (open {args[0]!r})")


sys.addaudithook(audit)


class Terminal:
    def __init__(self, stream):
        self.stream = stream

    def isatty(self):
        record("terminal")
        return self.stream.isatty()

    def __getattr__(self, name):
        return getattr(self.stream, name)


sys.stdin, sys.stdout, sys.stderr = Terminal(sys.stdin), Terminal(sys.stdout), Terminal(sys.stderr)
"""


def test_importing_the_command_reads_no_environment_working_directory_or_terminal(tmp_path: Path) -> None:
    """What tests.cli_process's zygote rests on: a command forked after `preload()` behaves as a new
    interpreter only if nothing imported there read what the command's own process differs in."""
    probe = """
def probe():
    os.environ.get("NOTIFIER_PROBE"); os.getcwd(); os.path.exists("config.toml"); sys.stdout.isatty()
    try:
        open("config.toml")
    except OSError:
        pass


exec(probe.__code__, {"__name__": "notifier.probe", "os": os, "sys": sys})  # a module of ours, as seen
"""
    script = f"""{_IMPORT_READS}
sys.path.insert(0, {str(Path(__file__).parent)!r})
import cli_process
guarded = cli_process.preload()
assert all(name in sys.modules for name in cli_process.PRELOAD), "preload fell back"
preloaded, reads = reads, []
{probe}
json.dump({{"preload": preloaded, "guarded": guarded, "probe": reads}}, sys.__stdout__)
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=notifier_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    # Environment variables may be read (pydantic's plugin switch at each model class): the zygote reports
    # those preload() read and run_notifier spawns a command whose environment differs in one. The working
    # directory and the terminal it cannot compare, so they must not be read.
    environment = [read for read in found["preload"] if read.split(": ", 1)[1].startswith("environment ")]
    assert [read for read in found["preload"] if read not in environment] == []
    assert {read.split("environment ", 1)[1] for read in environment} <= set(found["guarded"])
    assert "PYDANTIC_DISABLE_PLUGINS" in found["guarded"]
    # the recorder sees each kind of read when a module of ours makes it
    assert found["probe"] == [
        "notifier.probe: environment NOTIFIER_PROBE",
        "notifier.probe: working directory",
        "notifier.probe: working directory (stat 'config.toml')",
        "notifier.probe: terminal",
        "notifier.probe: working directory (open 'config.toml')",
    ]


def test_a_database_without_the_schema_is_named_not_a_traceback(tmp_path: Path) -> None:
    # Every command but `db upgrade` and `demo` used to end in SQLAlchemy's "no such table" traceback with
    # its SQL statement (sixty lines for `report monthly`) when the operator had not run `db upgrade` yet.
    url = f"sqlite:///{tmp_path / 'n.db'}"
    _config(tmp_path, url)
    for command in (["status", "X"], ["user", "list"], ["report", "monthly", "--month", "2026-10"],
                    ["dispatch", "--once"]):
        done = _cli(tmp_path, *command)
        assert done.returncode == 2, (command, done.stderr)
        assert done.stderr == f"error: database {url}: no schema yet: run `notifier db upgrade` first\n", command

    from notifier.store.engine import make_engine, upgrade

    engine = make_engine(url)
    upgrade(engine, "0029")  # a schema of an older version of notifier
    engine.dispose()
    behind = _cli(tmp_path, "apikey", "list")
    assert behind.returncode == 2
    assert behind.stderr.startswith(f"error: database {url}: schema at revision 0029, this version needs ")
    assert behind.stderr.endswith(": run `notifier db upgrade` first\n")
    assert _cli(tmp_path, "db", "upgrade").returncode == 0
    assert _cli(tmp_path, "apikey", "list").returncode == 0


def test_a_database_that_does_not_answer_is_one_line_without_its_password(tmp_path: Path) -> None:
    # Nothing listens on port 1: a stopped server, a wrong port. It was the driver's traceback.
    _config(tmp_path, "postgresql://notifier:s3cret@127.0.0.1:1/notifier")
    for command in (["db", "upgrade"], ["demo"], ["status", "X"], ["dispatch", "--once"]):
        done = _cli(tmp_path, *command)
        assert done.returncode == 1, (command, done.stderr)
        assert done.stderr.startswith(
            "error: database postgresql://notifier:***@127.0.0.1:1/notifier: unavailable (OperationalError: "
        ), (command, done.stderr)
        assert "Connection refused" in done.stderr and len(done.stderr.splitlines()) == 1
        assert "s3cret" not in done.stderr


def test_now_out_of_the_calendar_and_an_unwritable_out_are_named(tmp_path: Path, sqlite_template: Path) -> None:
    _config(tmp_path, f"sqlite:///{tmp_path / 'n.db'}")
    shutil.copyfile(sqlite_template, tmp_path / "n.db")
    # A year-1 clock overflowed converting to UTC: "OverflowError: date value out of range" and a traceback.
    for now in ("0001-01-01T00:00", "9999-12-31T23:59"):
        scan = _cli(tmp_path, "scan", "--now", now)
        assert scan.returncode == 2 and scan.stderr == f"error: --now: value '{now}': year must be 1900-2200\n"
    # --out into a folder that does not exist was a FileNotFoundError traceback.
    out = tmp_path / "missing" / "r.csv"
    report = _cli(tmp_path, "report", "monthly", "--month", "2026-10", "--format", "csv", "--out", str(out))
    assert report.returncode == 2
    assert report.stderr == f"error: file '{out}': cannot write it: No such file or directory\n"


def test_help_texts_keep_their_bracketed_setting_names(tmp_path: Path) -> None:
    # rich reads "[bot]" as markup: `notifier --help` said "the webhook route when  webhook_url is set".
    import typer.main
    from rich.markup import render

    from jobs.cli import app

    def walk(command, path):  # type: ignore[no-untyped-def]
        yield path, command
        for name, sub in (getattr(command, "commands", None) or {}).items():
            yield from walk(sub, f"{path} {name}")

    lost = []
    for path, command in walk(typer.main.get_command(app), "notifier"):
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        lost += [(path, t) for t in texts if render(t).plain != t.replace("\\[", "[")]
    assert lost == []
    shown = _cli(tmp_path, "--help").stdout
    assert "the webhook route when [bot] webhook_url is set" in shown
