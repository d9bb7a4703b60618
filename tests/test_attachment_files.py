"""A large result's CSV is a file of its run, not bytes in memory (`shared.run_files`).

What: `kusto.visualize` writes its CSV to a spooled file as the rows arrive (memory up to
1 MiB, then a file under the run's temporary folder), and the step's `csv` output is an
`Attachment` backed by that file. Every consumer reads the same bytes from it: the outbox
`.eml`, the ACS payload (base64 a chunk at a time), the zip that makes a mail fit, a blob
upload (streamed) and the local link file. The folder is removed when the run ends,
succeeded or failed, and a failed step removes its half-written file at once.

Why: holding a 33 MB CSV as bytes was most of a 500,000-row report's peak memory
(benchmarks/bench_client_cost.py); a file the run leaves behind would fill the
instance's temporary disk run after run. The flows run on the embedded engine, whose
StormEvents CSV (2.7 MB) is over the threshold; ACS is `tests.acs_fake.AcsFake` behind
the real SDK, blob storage Azurite.
"""

from __future__ import annotations

import base64
import csv
import email
import io
import json
import tempfile
import threading
import urllib.request
import zipfile
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from azure.communication.email import EmailClient
from azure.core.credentials import AzureKeyCredential

from shared.mail.acs import client_options
from shared.mail.acs_payload import message_payload
from shared.mail.limits import fit_attachments
from shared.mail.message import Attachment, AttachmentGone, EmailMessage
from shared.outputs import json_safe
from shared.results import RunResult, RunStatus, StepResult
from shared.run_files import SPOOL_THRESHOLD, RunFiles
from shared.settings import Settings
from tests.acs_fake import AcsFake
from tests.helpers import run_flow_file, settings_for, write_flow

KEY = base64.b64encode(b"kusto-flows test access key - not a secret").decode()

EVENTS = """
    steps:
      - id: events
        action: kusto.visualize
        connection: samples
        query: StormEvents
        chart: table
    """

MAILED = EVENTS + """
      - id: mail
        action: email.send
        to: ["analysts@contoso.com"]
        subject: "All storms"
        body: "{{ steps.events.body_html }}"
        attachments: ["{{ steps.events.csv }}"]
    """


class CsvSeen:
    """A run observer: each step's `csv` output as the step ends, the run still going
    (its file, whether the file is there, and its bytes)."""

    def __init__(self) -> None:
        self.file: dict[str, Path | None] = {}
        self.existed: dict[str, bool] = {}
        self.data: dict[str, bytes] = {}

    def run_started(self, run: RunResult) -> None:
        pass

    def step_started(self, run: RunResult, path: str, action: str) -> None:
        pass

    def step_finished(self, run: RunResult, step: StepResult) -> None:
        found = step.outputs.get("csv")
        if isinstance(found, Attachment):
            self.file[step.path] = found.file
            self.existed[step.path] = found.file is not None and found.file.exists()
            self.data[step.path] = found.read_bytes()

    def run_finished(self, run: RunResult) -> None:
        pass


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system temporary folder, for this test: where run folders are made."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _run_folders(root: Path) -> list[Path]:
    return sorted(root.glob("kusto-flows-*"))


def _run(tmp_path: Path, text: str, settings: Settings | None = None) -> tuple[RunResult, CsvSeen]:
    seen = CsvSeen()
    path = write_flow(tmp_path / "flows", "storms", text)
    run = run_flow_file(path, settings or settings_for(tmp_path), observers=[seen])
    return run, seen


def _check_csv(data: bytes, rows: int) -> None:
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert parsed[0][:3] == ["StartTime", "EndTime", "EpisodeId"]
    assert len(parsed) == rows + 1


# -- the CSV is a file of the run, and the run removes it --------------------------------

def test_a_large_csv_is_a_file_of_the_run_and_its_bytes_reach_the_eml_unchanged(
        tmp_path: Path, temp_root: Path) -> None:
    run, seen = _run(tmp_path, MAILED)

    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    file = seen.file["events"]
    assert file is not None and seen.existed["events"], "file-backed while the run ran"
    assert file.parent.parent == temp_root and file.name.endswith("events.csv")
    data = seen.data["events"]
    assert len(data) > SPOOL_THRESHOLD
    _check_csv(data, run.steps[0].outputs["row_count"])
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    parsed = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    (attached,) = parsed.iter_attachments()
    assert attached.get_filename() == "events.csv"
    assert attached.get_payload(decode=True) == data
    preview = (tmp_path / "outbox" / eml.name.replace(".eml", ".html")).read_text()
    assert f"events.csv ({len(data) / 1024:,.0f} KB)" in preview

    # The run is over: its folder is gone; the output still knows what it was.
    assert _run_folders(temp_root) == [] and not file.exists()
    kept = run.steps[0].outputs["csv"]
    assert kept.size == len(data) and kept.file == file
    with pytest.raises(AttachmentGone, match="events.csv was removed when its run ended"):
        kept.read_bytes()


def test_a_small_csv_stays_in_memory_and_makes_no_folder(tmp_path: Path,
                                                         temp_root: Path) -> None:
    run, seen = _run(tmp_path, EVENTS.replace("query: StormEvents",
                                              "query: StormEvents | take 20"))

    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    assert seen.file["events"] is None
    _check_csv(run.steps[0].outputs["csv"].read_bytes(), 20)
    assert _run_folders(temp_root) == []


FAILS_LATER = EVENTS + """
      - id: broken
        action: kusto.visualize
        connection: samples
        query: NoSuchTable
        chart: table
    """

#: Rows come in batches of 10,000: the first (5 MB of CSV) is written, the second
#: passes max_records.
FAILS_WHILE_WRITING = """
    limits: {max_records: 12000}
""" + EVENTS.replace("query: StormEvents", "query: union StormEvents, StormEvents, StormEvents")


@pytest.mark.parametrize(("text", "failed"), [(FAILS_LATER, "broken: KustoQueryError"),
                                             (FAILS_WHILE_WRITING, "events: LimitExceeded")],
                         ids=["a-later-step-fails", "the-csv-step-fails-midway"])
def test_a_failed_run_leaves_no_file_behind(tmp_path: Path, temp_root: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            text: str, failed: str) -> None:
    made: list[Path] = []
    new_file = RunFiles.new_file

    def recording(self: RunFiles, name: str) -> Any:
        path, handle = new_file(self, name)
        made.append(path)
        return path, handle

    monkeypatch.setattr(RunFiles, "new_file", recording)
    run, _seen = _run(tmp_path, text)

    assert run.status == RunStatus.FAILED and run.error is not None
    assert f"{run.error.step}: {run.error.code}" == failed
    assert made, "the CSV had passed the threshold before the failure"
    assert not any(path.exists() for path in made)
    assert _run_folders(temp_root) == []


# -- every consumer reads the same bytes -------------------------------------------------

@pytest.fixture(scope="module")
def acs_server() -> Iterator[AcsFake]:
    with AcsFake(KEY) as fake:
        yield fake


@pytest.fixture
def acs(acs_server: AcsFake, monkeypatch: pytest.MonkeyPatch) -> Iterator[AcsFake]:
    """The production ACS sender, its client pointed at the fake."""
    import shared.mail.acs as acs_module

    def build(settings: Settings, **kwargs: Any) -> EmailClient:
        return EmailClient(acs_server.url, AzureKeyCredential(KEY),
                           **{**client_options(settings), **kwargs})

    acs_server.reset()
    monkeypatch.setattr(acs_module, "build_client", build)
    yield acs_server
    acs_server.release()
    for thread in threading.enumerate():
        if thread.name.startswith("LROPoller"):
            thread.join(10)


def test_a_file_backed_csv_reaches_the_acs_payload_unchanged(tmp_path: Path, temp_root: Path,
                                                             acs: AcsFake) -> None:
    settings = settings_for(tmp_path, acs_endpoint="https://acs.invalid",
                            email_sender="reports@contoso.com", email_poll_seconds=0.05,
                            email_send_timeout_seconds=10.0)
    run, seen = _run(tmp_path, MAILED, settings)

    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    assert run.steps[1].outputs["delivery"] == "acs"
    assert seen.file["events"] is not None
    (post,) = acs.posts
    (attached,) = post.json["attachments"]
    assert attached["name"] == "events.csv" and attached["contentType"] == "text/csv"
    assert base64.b64decode(attached["contentInBase64"]) == seen.data["events"]
    assert _run_folders(temp_root) == []


def _file_backed(tmp_path: Path, data: bytes, name: str = "big.csv") -> Attachment:
    path = tmp_path / name
    path.write_bytes(data)
    return Attachment.from_file(name, "text/csv", path)


def _rows(count: int) -> bytes:
    return "".join(f"2007-01-{1 + i % 28:02d}T00:00:00Z,STATE {i % 50},{i * 7}\r\n"
                   for i in range(count)).encode("utf-8")


def test_base64_in_chunks_is_the_base64_of_the_whole(tmp_path: Path) -> None:
    for size in (0, 1, 3 << 18, (3 << 18) + 1, (3 << 19) + 2):
        data = bytes(i % 251 for i in range(size))
        part = _file_backed(tmp_path, data, f"part-{size}.bin")
        message = EmailMessage(sender="reports@contoso.com", to=["a@contoso.com"],
                               subject="s", html="<p>x</p>", text="x", attachments=[part])
        (attached,) = message_payload(message)["attachments"]
        assert attached["contentInBase64"] == base64.b64encode(data).decode("ascii"), size


def test_a_file_backed_csv_too_big_to_mail_is_zipped_from_its_file(tmp_path: Path) -> None:
    data = _rows(200_000)
    message = EmailMessage(sender="reports@contoso.com", to=["a@contoso.com"], subject="s",
                           html="<p>x</p>", text="x",
                           attachments=[_file_backed(tmp_path, data)])

    fitted = fit_attachments(message, max_bytes=len(data) // 2)

    (zipped,) = fitted.attachments
    assert zipped.name == "big.csv.zip" and zipped.size < len(data) // 3
    with zipfile.ZipFile(io.BytesIO(zipped.read_bytes())) as archive:
        (info,) = archive.infolist()
        assert info.filename == "big.csv" and info.compress_type == zipfile.ZIP_DEFLATED
        assert archive.read(info) == data


UPLOADED = EVENTS + """
      - id: link
        action: blob.upload
        file: "{{ steps.events.csv }}"
    """


def test_a_file_backed_csv_is_uploaded_whole_to_blob_storage(tmp_path: Path, temp_root: Path,
                                                             azurite_blob: Any) -> None:
    settings = settings_for(tmp_path, storage_connection_string=azurite_blob.connection_string,
                            results_container="results-files")
    run, seen = _run(tmp_path, UPLOADED, settings)

    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    link = run.steps[1].outputs
    assert link["storage"] == "blob" and link["size"] == len(seen.data["events"])
    with urllib.request.urlopen(link["url"], timeout=30) as response:
        assert response.read() == seen.data["events"]
    assert _run_folders(temp_root) == []


def test_a_file_backed_csv_is_copied_whole_to_a_local_link(tmp_path: Path,
                                                           temp_root: Path) -> None:
    run, seen = _run(tmp_path, UPLOADED)

    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    link = run.steps[1].outputs
    assert link["storage"] == "local"
    assert Path(link["location"]).read_bytes() == seen.data["events"]
    assert _run_folders(temp_root) == []


# -- never the bytes in JSON, and the spool itself ---------------------------------------

def test_outputs_as_json_carry_a_file_backed_csv_as_its_name_type_and_size(
        tmp_path: Path) -> None:
    part = _file_backed(tmp_path, _rows(50_000))

    assert json_safe({"csv": part}) == {"csv": {"name": "big.csv", "content_type": "text/csv",
                                                "size": part.size}}
    assert len(json.dumps({"csv": part}, default=str)) < 100


def test_a_spooled_file_holds_exactly_what_was_written_in_memory_or_on_disk(
        temp_root: Path) -> None:
    files = RunFiles("run-1")
    pieces = [bytes([i]) * (i * 37 % 1000) for i in range(200)]
    with files.spool("small.csv", "text/csv", threshold=1 << 20) as small:
        for piece in pieces:
            small.write(piece)
        in_memory = small.attachment()
    with files.spool("big.csv", "text/csv", threshold=10_000) as big:
        for piece in pieces:
            big.write(piece)
        on_disk = big.attachment()

    assert in_memory.file is None and in_memory.read_bytes() == b"".join(pieces)
    assert on_disk.file is not None and on_disk.file.parent == files.folder
    assert on_disk.read_bytes() == b"".join(pieces) and on_disk.size == big.size
    with on_disk.open() as stream:
        assert stream.read(5) == b"".join(pieces)[:5]
    assert on_disk != in_memory and on_disk == Attachment.from_file("big.csv", "text/csv",
                                                                    on_disk.file)
    with pytest.raises(ValueError, match="boom"), files.spool("gone.csv", "text/csv",
                                                              threshold=10) as failed:
        failed.write(b"x" * 100)
        raise ValueError("boom")
    assert files.folder is not None
    assert [p.name for p in files.folder.iterdir()] == [on_disk.file.name]
    files.remove()
    assert _run_folders(temp_root) == [] and files.folder is None
