"""Reading client CSV files: encoding, delimiter, header mapping, cells, consent proof."""

from __future__ import annotations

import codecs
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.csv_import import (
    ConsentClaim,
    CsvFileError,
    CsvRow,
    RowError,
    consent_of,
    custom_value,
    describe_columns,
    detect_delimiter,
    normalise_header,
    parse_csv,
    profile_of,
)

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def file_error(raw: bytes, max_rows: int = 100) -> CsvFileError:
    with pytest.raises(CsvFileError) as info:
        parse_csv(raw, max_rows)
    return info.value


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [
        ("email,first_name", ","),
        ("email;first_name", ";"),
        ("email\tfirst_name", "\t"),
        ('"e,mail";first_name;x', ";"),  # the comma is quoted
        ("email", ","),
        ("email;a,b;c", ";"),
        ("email,a;b,c", ","),
        ("a;b,c", ","),  # a tie: the comma
    ],
)
def test_delimiter_comes_from_the_header_line(header: str, delimiter: str) -> None:
    assert detect_delimiter(header + "\nx,y;z\n") == delimiter


def test_utf8_with_and_without_bom_and_both_delimiters() -> None:
    body = "E-mail;Jméno;Surname;Tags\nanna@example.com;Anna;Nováková;vip|hair\n"
    for raw in (body.encode(), codecs.BOM_UTF8 + body.encode()):
        parsed = parse_csv(raw, 10)
        assert parsed.delimiter == ";"
        assert [c.target for c in parsed.columns] == ["email", "first_name", "last_name", "tags"]
        assert parsed.rows[0].values["email"] == "anna@example.com"
        assert parsed.rows[0].values["last_name"] == "Nováková"


def test_invalid_utf8_is_refused_whole() -> None:
    error = file_error(b"email\nanna@example.com\n" + b"\xff\xfe")
    assert error.code == "invalid_encoding" and "offset" in error.message


def test_header_mapping() -> None:
    assert normalise_header(" E-Mail ") == "email"
    assert normalise_header("First Name") == "first_name"
    assert normalise_header("Phone.Number") == "phone"
    assert normalise_header("fields.Visits") == "fields.Visits"
    assert normalise_header("Loyalty Points") == "loyalty_points"
    raw = b"email,Loyalty Points,fields.Code,client_id,created_at\na@b.example,12,007,cl_1,x\n"
    parsed = parse_csv(raw, 10, custom_fields=True)
    assert [c.target for c in parsed.columns] == ["email", "fields.loyalty_points", "fields.Code", "", ""]
    assert parsed.ignored == ["client_id", "created_at"]
    assert profile_of(parsed.rows[0]) == {
        "email": "a@b.example",
        "fields": {"loyalty_points": 12, "Code": "007"},
    }
    # Without custom_fields an unknown header is reported, not imported; fields.x is always a field.
    parsed = parse_csv(raw, 10)
    assert [c.target for c in parsed.columns] == ["email", "", "fields.Code", "", ""]
    assert parsed.unknown == ["Loyalty Points"]
    assert profile_of(parsed.rows[0]) == {"email": "a@b.example", "fields": {"Code": "007"}}


@pytest.mark.parametrize(
    ("header", "field"),
    [
        # every built-in field in English, Czech and Italian, accents and case ignored
        ("E-mail", "email"), ("E-mailová adresa", "email"), ("Indirizzo e-mail", "email"),
        ("First name", "first_name"), ("Jméno", "first_name"), ("Nome", "first_name"),
        ("Křestní jméno", "first_name"),
        ("Last name", "last_name"), ("Příjmení", "last_name"), ("Cognome", "last_name"),
        ("Phone", "phone"), ("Telefon", "phone"), ("Telefono", "phone"), ("Cellulare", "phone"),
        ("Language", "language"), ("Jazyk", "language"), ("Lingua", "language"),
        ("Tags", "tags"), ("Štítky", "tags"), ("Tag", "tags"), ("Etichette", "tags"),
        ("Status", "status"), ("Stav", "status"), ("Stato", "status"),
        ("Last visit", "last_visit_at"), ("Poslední návštěva", "last_visit_at"),
        ("Ultima visita", "last_visit_at"), ("ULTIMA VISITA", "last_visit_at"),
        ("Consent", "consent"), ("Souhlas", "consent"), ("Consenso", "consent"),
        ("Consent date", "consent_date"), ("Datum souhlasu", "consent_date"),
        ("Data consenso", "consent_date"),
        ("Consent source", "consent_source"), ("Zdroj souhlasu", "consent_source"),
        ("Fonte consenso", "consent_source"),
    ],
)  # fmt: skip
def test_localised_headers_map_to_built_in_fields(header: str, field: str) -> None:
    assert normalise_header(header) == field
    assert describe_columns(["email" if field != "email" else "x", header])[1].target == field


def test_the_mapping_is_data_for_a_preview() -> None:
    columns = describe_columns(["Nome", "Cognome", "Telefono", "Ultima visita", "Note", "", "Nome"])
    assert [(c.target, c.kind) for c in columns] == [
        ("first_name", "field"),
        ("last_name", "field"),
        ("phone", "field"),
        ("last_visit_at", "field"),
        ("", "unknown"),
        ("", "invalid"),
        ("", "invalid"),
    ]
    assert describe_columns(["Note"], custom_fields=True)[0].target == "fields.note"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "empty_file"),
        (b"\n \n", "empty_file"),
        (b"first_name,last_name\nA,B\n", "missing_email_column"),
        (b"email,Email\n", "invalid_header"),
        (b"email,,x\n", "invalid_header"),
        (b"email,1st visit\n", None),  # unknown: reported, not an error
        (b'email,first_name\n"a@b.example,Anna\n', "malformed_csv"),
    ],
)
def test_unreadable_files(raw: bytes, code: str | None) -> None:
    if code is None:
        assert parse_csv(raw, 10).unknown == ["1st visit"]
        assert parse_csv_error(raw, custom_fields=True).code == "invalid_header"
        return
    assert file_error(raw).code == code


def parse_csv_error(raw: bytes, **options: bool) -> CsvFileError:
    with pytest.raises(CsvFileError) as info:
        parse_csv(raw, 10, **options)
    return info.value


def test_row_limit() -> None:
    raw = b"email\n" + b"".join(f"c{i}@example.com\n".encode() for i in range(4))
    assert len(parse_csv(raw, 4).rows) == 4
    assert file_error(raw, max_rows=3).code == "too_many_rows"


def test_rows_cells_and_blank_lines() -> None:
    raw = b'email,first_name,tags\n a@b.example , Anna ,"vip, hair"\n\nc@d.example\nx@y.example,X,t,extra\n'
    parsed = parse_csv(raw, 10)
    assert [r.number for r in parsed.rows] == [1, 3]
    assert parsed.rows[0].values == {"email": "a@b.example", "first_name": "Anna", "tags": "vip, hair"}
    assert profile_of(parsed.rows[0])["tags"] == ["vip", "hair"]
    assert parsed.rows[1].values == {"email": "c@d.example"}  # missing trailing cells are empty
    assert [(n, e.code) for n, e in parsed.row_errors] == [(4, "invalid_row")]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12),
        ("-3", -3),
        ("0", 0),
        ("2.50", 2.5),
        ("007", "007"),
        ("1e3", "1e3"),
        ("TRUE", True),
        ("false", False),
        ("12 ", "12 "),
        ("yes", "yes"),
        ("1990-05-01", "1990-05-01"),
    ],
)
def test_custom_values_are_typed_only_when_canonical(text: str, value: object) -> None:
    assert custom_value(text) == value and type(custom_value(text)) is type(value)


def row(**values: str) -> CsvRow:
    return CsvRow(1, {"email": "a@b.example", **values})


def test_consent_needs_its_proof() -> None:
    assert consent_of(row(), NOW) is None
    claim = consent_of(row(consent="yes", consent_date="2019-05-01", consent_source="paper form"), NOW)
    assert claim == ConsentClaim(True, datetime(2019, 5, 1, tzinfo=UTC), "paper form")
    assert (
        consent_of(row(consent="Denied", consent_date="2019-05-01", consent_source="x"), NOW).granted is False
    )
    for partial in (
        {"consent": "yes"},
        {"consent": "yes", "consent_date": "2019-05-01"},
        {"consent": "yes", "consent_source": "paper"},
        {"consent_date": "2019-05-01"},
    ):
        with pytest.raises(RowError) as info:
            consent_of(row(**partial), NOW)
        assert info.value.code == "consent_without_proof"
    for bad in (
        {"consent": "maybe", "consent_date": "2019-05-01", "consent_source": "x"},
        {"consent": "yes", "consent_date": "last year", "consent_source": "x"},
        {"consent": "yes", "consent_date": "2099-01-01", "consent_source": "x"},
        {"consent": "yes", "consent_date": "2019-05-01", "consent_source": "x" * 201},
    ):
        with pytest.raises(RowError) as info:
            consent_of(row(**bad), NOW)
        assert info.value.code == "invalid_consent"


_cell = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)


@given(st.lists(st.lists(_cell, min_size=3, max_size=3), max_size=8), st.sampled_from([",", ";"]))
def test_written_csv_reads_back(rows: list[list[str]], delimiter: str) -> None:
    """Whatever the cells hold (quotes, delimiters, newlines, accents), a file written by a
    standard CSV writer reads back to the same trimmed cells, row numbers intact."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["email", "first_name", "status"])
    writer.writerows(rows)
    parsed = parse_csv(out.getvalue().encode(), 100)
    expected = [
        (
            number,
            {
                k: v.strip()
                for k, v in zip(("email", "first_name", "status"), cells, strict=True)
                if v.strip()
            },
        )
        for number, cells in enumerate(rows, start=1)
        if any(c.strip() for c in cells)
    ]
    assert [(r.number, r.values) for r in parsed.rows] == expected
