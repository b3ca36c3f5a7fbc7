"""The exports: the xlsx workbook read back with openpyxl matches the CSV; both have the same columns."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from mailbot.adapters.db import ExportRow
from mailbot.adapters.exports.csv_export import COLUMNS, CSV_COLUMNS, LOCAL_COLUMNS, render_csv
from mailbot.adapters.exports.xlsx_export import render_xlsx
from mailbot.cli import cli
from mailbot.core.model import Event
from tests.integration.test_desk import invoke, read_csv
from tests.servers import Dovecot, ImapAccount
from tests.test_admin_cli import CONFIG

T0 = datetime(2020, 9, 21, 8, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def registration(n: int, name: str) -> bytes:
    """A plain registration mail from person n with the given display name."""
    return (
        f'From: "{name}" <person{n}@example.org>\r\nTo: digitalisierung@castrop-rauxel.de\r\n'
        f"Subject: Digitalisierung 08.10.\r\nMessage-ID: <reg{n}@example.org>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Hiermit melde ich mich an.\r\n"
    ).encode()


def local(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A wall-clock time in Berlin as the workbook stores it: naive."""
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).replace(tzinfo=None)


def sheet_rows(sheet: Worksheet) -> list[tuple[object, ...]]:
    """Every row of a sheet as values."""
    return list(sheet.iter_rows(values_only=True))


def export_row(event_id: str, position: int, name: str, **changes: object) -> ExportRow:
    """An ExportRow with plausible defaults (a confirmed email registration, reply sent)."""
    values: dict[str, object] = {
        "event_id": event_id,
        "position": position,
        "status": "confirmed",
        "name": name,
        "email": f"person{position}@example.org",
        "phone": "",
        "channel": "email",
        "received_at": T0 + timedelta(minutes=position),
        "replied_at": T0 + timedelta(minutes=position, seconds=5),
        "reply_status": "sent",
        "cancelled_at": None,
        "promoted_at": None,
    }
    values.update(changes)
    return ExportRow(**values)


def event(event_id: str, capacity: int = 10) -> Event:
    """A configured event."""
    return Event(
        id=event_id,
        title=f"Title of {event_id}",
        keyword=event_id,
        capacity=capacity,
        starts_at=datetime(2020, 10, 8, 16, 0, tzinfo=UTC),
    )


def test_xlsx_export_matches_the_csv_and_is_private(
    dovecot_server: Dovecot, imap_account: ImapAccount, config_file: Path
) -> None:
    """The workbook has the CSV's columns (but the local-time copies) and rows in arrival order, real dates,
    and formula-like names as they are, stored as text (the CSV guards them with "'")."""
    names = ["Anna Müller", "=HYPERLINK(1)", "Bernd Schulz"]
    dovecot_server.append_many(
        imap_account.user,
        [(registration(i + 1, name), T0 + timedelta(minutes=i)) for i, name in enumerate(names)],
    )
    assert invoke(config_file, "run", "--once")[0] == 0
    code, out, err = invoke(config_file, "export")
    assert code == 0, err
    csv_text = out.lstrip("\ufeff")
    csv_rows = read_csv(out.encode("utf-8"))

    path = config_file.parent / "anmeldungen.xlsx"
    code, _, err = invoke(config_file, "export", "--format", "xlsx", "-o", str(path))
    assert code == 0, err
    assert "3 registration(s) written to" in err
    assert path.stat().st_mode & 0o777 == 0o600

    workbook = load_workbook(path)
    assert workbook.sheetnames == ["digitalisierung-2020", "info"]
    sheet = workbook["digitalisierung-2020"]
    rows = sheet_rows(sheet)
    assert csv_text.splitlines()[0].split(";") == list(COLUMNS) + list(LOCAL_COLUMNS)
    assert list(rows[0]) == list(COLUMNS)  # its times are dates already: no local-time copies
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert [r[COLUMNS.index("arrival_no")] for r in rows[1:]] == [1, 2, 3]
    assert [r[COLUMNS.index("email")] for r in rows[1:]] == [r["email"] for r in csv_rows]

    evil = sheet.cell(row=3, column=COLUMNS.index("name") + 1)
    assert evil.value == "=HYPERLINK(1)"
    assert csv_rows[1]["name"] == "'=HYPERLINK(1)"
    assert evil.data_type == "s"

    received = [r[COLUMNS.index("received_at")] for r in rows[1:]]
    assert all(isinstance(value, datetime) and value.tzinfo is None for value in received)
    # Local wall-clock time in [bot] timezone, the same instants as the CSV's offsets.
    assert received == [
        datetime.fromisoformat(r["received_at"]).astimezone(BERLIN).replace(tzinfo=None) for r in csv_rows
    ]
    assert received[0] == local(2020, 9, 21, 10, 0)  # 08:00 UTC is 10:00 in Berlin (summer time)

    info = {row[0]: row[1:] for row in sheet_rows(workbook["info"]) if row[0]}
    assert info["digitalisierung-2020"][:2] == ("Digitalisierung in Castrop-Rauxel", 75)
    assert info["timezone"][0] == "Europe/Berlin"
    assert isinstance(info["exported_at"][0], datetime)


def test_xlsx_without_output_file_is_a_usage_error(tmp_path: Path) -> None:
    """`export --format xlsx` without -o exits 2 with one line on stderr and writes nothing to stdout."""
    result = CliRunner().invoke(
        cli, ["--config", str(tmp_path / "no-such.toml"), "export", "--format", "xlsx"], obj={}
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "mailbot: export: --format xlsx needs -o FILE (a workbook is not written to the terminal)"
    ]
    assert result.stdout == ""


def test_xlsx_has_a_sheet_per_event_or_only_the_chosen_one(tmp_path: Path) -> None:
    """Every configured event gets a sheet (also an empty one, header only); --event gives just that one."""
    path = tmp_path / "config.toml"
    path.write_text(
        CONFIG.format(db=tmp_path / "m.db")
        + '\n[[events]]\nid = "ki-workshop"\ntitle = "KI"\nkeyword = "KI 09.10."\ncapacity = 20\n'
        "starts_at = 2020-10-09T18:00:00+02:00\n",
        encoding="utf-8",
    )
    out = tmp_path / "all.xlsx"
    result = CliRunner().invoke(
        cli, ["--config", str(path), "export", "--format", "xlsx", "-o", str(out)], obj={}
    )
    assert result.exit_code == 0, result.stderr
    workbook = load_workbook(out)
    assert workbook.sheetnames == ["digi", "ki-workshop", "info"]
    assert sheet_rows(workbook["digi"]) == [tuple(COLUMNS)]

    one = tmp_path / "one.xlsx"
    result = CliRunner().invoke(
        cli,
        ["--config", str(path), "export", "--format", "xlsx", "--event", "ki-workshop", "-o", str(one)],
        obj={},
    )
    assert result.exit_code == 0, result.stderr
    workbook = load_workbook(one)
    assert workbook.sheetnames == ["ki-workshop", "info"]
    info = {row[0]: row[1:] for row in sheet_rows(workbook["info"]) if row[0]}
    assert info["ki-workshop"][:2] == ("KI", 20)
    assert "digi" not in info


def test_sheet_names_are_cut_to_31_characters_and_unique() -> None:
    """Long event ids are cut to Excel's 31 characters, clashes get a suffix, and no event takes "info"."""
    long_a, long_b = "a" * 31 + "-first", "a" * 31 + "-second"
    rows = [export_row(long_a, 1, "A"), export_row(long_b, 1, "B"), export_row("info", 1, "C")]
    workbook = load_workbook(
        io.BytesIO(render_xlsx(rows, [event(long_a), event(long_b), event("info")], BERLIN, T0))
    )
    assert workbook.sheetnames == ["a" * 31, "a" * 29 + "~2", "info~2", "info"]
    assert all(len(name) <= 31 for name in workbook.sheetnames)
    assert sheet_rows(workbook["a" * 29 + "~2"])[1][0] == long_b


def test_xlsx_cells_are_safe_text_and_empty_times_are_empty() -> None:
    """Control characters (illegal in xlsx) are replaced, formula starts kept as text, unset times empty."""
    rows = [
        export_row("e", 1, "Bell\x07 Boy"),
        export_row("e", 2, "+49 2305 1234", replied_at=None, reply_status="pending"),
        export_row("e", 3, "@SUM(A1)"),
        export_row("gone", 1, "-1", status="cancelled", cancelled_at=T0 + timedelta(days=1)),
    ]
    workbook = load_workbook(io.BytesIO(render_xlsx(rows, [event("e")], BERLIN, T0)))
    assert workbook.sheetnames == ["e", "gone", "info"]
    sheet = workbook["e"]
    name = COLUMNS.index("name") + 1
    assert [sheet.cell(row=r, column=name).value for r in (2, 3, 4)] == [
        "Bell\ufffd Boy",
        "+49 2305 1234",
        "@SUM(A1)",
    ]
    assert all(sheet.cell(row=r, column=name).data_type == "s" for r in (2, 3, 4))
    assert sheet.cell(row=3, column=COLUMNS.index("replied_at") + 1).value is None
    gone = sheet_rows(workbook["gone"])[1]
    assert gone[COLUMNS.index("name")] == "-1"
    assert gone[COLUMNS.index("cancelled_at")] == local(2020, 9, 22, 10, 0)
    info = {row[0]: row[1:] for row in sheet_rows(workbook["info"]) if row[0]}
    assert info["gone"][0] == "(no longer configured)"


def test_phone_column_follows_email_in_csv_and_xlsx() -> None:
    """`phone` follows `email`: empty for a mail registration, the number by phone (guarded in the CSV)."""
    rows = [
        export_row("e", 1, "Anna"),
        export_row("e", 2, "Bernd", email="", phone="+49 2305 1234", channel="phone"),
    ]
    header, first, second = render_csv(rows, BERLIN).splitlines()
    assert header.split(";") == list(CSV_COLUMNS)
    assert COLUMNS[COLUMNS.index("email") + 1] == "phone"
    by_mail = dict(zip(CSV_COLUMNS, first.split(";"), strict=True))
    by_phone = dict(zip(CSV_COLUMNS, second.split(";"), strict=True))
    assert (by_mail["phone"], by_mail["received_at"]) == ("", "2020-09-21T10:01:00+02:00")
    assert (by_phone["email"], by_phone["phone"], by_phone["channel"]) == ("", "'+49 2305 1234", "phone")

    sheet = load_workbook(io.BytesIO(render_xlsx(rows, [event("e")], BERLIN, T0)))["e"]
    phone = COLUMNS.index("phone") + 1
    assert [sheet.cell(row=r, column=phone).value for r in (2, 3)] == [None, "+49 2305 1234"]


def test_csv_has_german_local_times_after_the_iso_columns() -> None:
    """Each time is also in a `*_local` column as TT.MM.JJJJ HH:MM:SS in [bot] timezone (summer and winter
    time), empty where the ISO column is empty; the ISO columns and their positions stay as they were."""
    rows = [
        export_row("e", 1, "Anna"),  # 08:01 UTC in September: 10:01 in Berlin
        export_row(
            "e",
            2,
            "Bernd",
            received_at=datetime(2026, 12, 6, 1, 16, 12, tzinfo=UTC),  # winter: 02:16:12 in Berlin
            replied_at=None,
            reply_status="pending",
            cancelled_at=datetime(2026, 12, 31, 23, 0, 0, tzinfo=UTC),  # already the new year in Berlin
        ),
    ]
    header, first, second = render_csv(rows, BERLIN).splitlines()
    assert header.split(";")[: len(COLUMNS)] == list(COLUMNS)
    assert header.split(";")[len(COLUMNS) :] == [
        "received_at_local",
        "replied_at_local",
        "cancelled_at_local",
        "promoted_at_local",
    ]
    anna = dict(zip(CSV_COLUMNS, first.split(";"), strict=True))
    bernd = dict(zip(CSV_COLUMNS, second.split(";"), strict=True))
    assert anna["received_at"] == "2020-09-21T10:01:00+02:00"
    assert anna["received_at_local"] == "21.09.2020 10:01:00"
    assert anna["replied_at_local"] == "21.09.2020 10:01:05"
    assert (anna["cancelled_at_local"], anna["promoted_at_local"]) == ("", "")
    assert bernd["received_at"] == "2026-12-06T02:16:12+01:00"
    assert bernd["received_at_local"] == "06.12.2026 02:16:12"
    assert (bernd["replied_at"], bernd["replied_at_local"]) == ("", "")
    assert bernd["cancelled_at_local"] == "01.01.2027 00:00:00"


def test_xlsx_text_is_an_inline_string_never_a_formula() -> None:
    """In the sheet's XML a formula-like name is an inline string (t="inlineStr") with the name as written:
    no <f> element anywhere, no apostrophe."""
    rows = [export_row("e", 1, '=HYPERLINK("http://evil.example/","Klick")'), export_row("e", 2, "#N/A")]
    data = render_xlsx(rows, [event("e")], BERLIN, T0)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert "<f>" not in xml
    assert "<f " not in xml
    evil = '<c r="D2" t="inlineStr"><is><t>=HYPERLINK("http://evil.example/","Klick")</t></is></c>'
    assert evil in xml.replace("&quot;", '"')
    assert '<c r="D3" t="inlineStr"><is><t>#N/A</t></is></c>' in xml
