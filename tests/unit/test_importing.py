"""Reading and checking the operator's files: every error names its line and field."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from workorders.appointments import WorkingHours
from workorders.importing import (
    FileFormat,
    ImportKind,
    InvalidFile,
    OltRow,
    RegionRow,
    TechnicianRow,
    check_coverage,
    format_of,
    plan,
    read_rows,
    validate,
)
from workorders.reference import load_regions

REGIONS = {"haidian", "chaoyang"}
TECHNICIANS_CSV = """id,name,regions,skills,active,max_open_jobs
tech-a,王磊,haidian,fibre;copper,true,4

tech-b,"Li, Na","haidian;chaoyang",fibre,false,6
"""
OLTS_TOML = """
[[olts]]
id = "olt-x"
region = "haidian"
pon_ports = 16
vlan_low = 100
vlan_high = 199

[[olts]]
id = "olt-y"
region = "chaoyang"
pon_ports = 8
onts_per_port = 32
vlan_low = 200
vlan_high = 299
remove = true
"""


def errors(kind: ImportKind, fmt: FileFormat, text: str) -> list[tuple[int, str | None]]:
    with pytest.raises(InvalidFile) as e:
        validate(kind, read_rows(kind, fmt, text), regions=REGIONS)
    return [(x.line, x.field) for x in e.value.errors]


def test_a_csv_file_of_technicians_is_read_with_its_line_numbers() -> None:
    rows = read_rows(ImportKind.TECHNICIANS, FileFormat.CSV, TECHNICIANS_CSV)

    valid = validate(ImportKind.TECHNICIANS, rows, regions=REGIONS)

    assert [line for line, _ in rows] == [2, 4]  # the blank line 3 is no row
    assert valid == [
        TechnicianRow(
            id="tech-a", name="王磊", regions=["haidian"], skills=["fibre", "copper"], active=True
        ),
        TechnicianRow(
            id="tech-b",
            name="Li, Na",
            regions=["haidian", "chaoyang"],
            skills=["fibre"],
            active=False,
            max_open_jobs=6,
        ),
    ]


def test_a_technicians_working_hours_are_read_from_csv_columns_and_a_toml_table() -> None:
    csv_text = (
        "id,name,regions,skills,mon,tue,sat,days_off\n"
        "tech-a,王磊,haidian,fibre,08:00-12:00;14:00-18:00,08:00-12:00,,2026-12-25;2027-01-01\n"
        "tech-b,Li Na,haidian,fibre,,,,\n"
    )
    toml_text = """
[[technicians]]
id = "tech-a"
name = "王磊"
regions = ["haidian"]
skills = ["fibre"]

[technicians.working_hours]
mon = ["08:00-12:00", "14:00-18:00"]
tue = ["08:00-12:00"]
days_off = [2026-12-25, 2027-01-01]

[[technicians]]
id = "tech-b"
name = "Li Na"
regions = ["haidian"]
skills = ["fibre"]
"""
    hours = WorkingHours(
        mon=["08:00-12:00", "14:00-18:00"],
        tue=["08:00-12:00"],
        days_off=[date(2026, 12, 25), date(2027, 1, 1)],
    )
    for fmt, text in ((FileFormat.CSV, csv_text), (FileFormat.TOML, toml_text)):
        rows = validate(
            ImportKind.TECHNICIANS, read_rows(ImportKind.TECHNICIANS, fmt, text), regions=REGIONS
        )
        assert [r.working_hours for r in rows if isinstance(r, TechnicianRow)] == [hours, None]


def test_bad_working_hours_are_named_by_their_column() -> None:
    csv_text = (
        "id,name,regions,skills,mon,sun,days_off\n"
        "tech-a,A,haidian,fibre,18:00-08:00,8-12,2026-02-30\n"
    )
    assert errors(ImportKind.TECHNICIANS, FileFormat.CSV, csv_text) == [
        (2, "mon.0"),
        (2, "sun.0"),
        (2, "days_off.0"),
    ]
    toml_text = """
[[technicians]]
id = "tech-a"
name = "A"
regions = ["haidian"]
skills = ["fibre"]
working_hours = { mon = ["08:00-12:00"], someday = ["08:00-12:00"] }
"""
    assert errors(ImportKind.TECHNICIANS, FileFormat.TOML, toml_text) == [
        (1, "working_hours.someday")
    ]
    both = {"id": "tech-a", "name": "A", "regions": ["haidian"], "skills": ["fibre"]}
    with pytest.raises(InvalidFile, match="not both"):
        validate(
            ImportKind.TECHNICIANS,
            [(2, {**both, "working_hours": {"mon": ["08:00-12:00"]}, "tue": ["08:00-12:00"]})],
            regions=REGIONS,
        )


def test_a_toml_file_of_olts_is_read_with_its_table_numbers() -> None:
    rows = read_rows(ImportKind.INVENTORY, FileFormat.TOML, OLTS_TOML)

    valid = validate(ImportKind.INVENTORY, rows, regions=REGIONS)

    assert [line for line, _ in rows] == [1, 2]
    assert [(o.id, o.onts_per_port, o.remove) for o in valid if isinstance(o, OltRow)] == [
        ("olt-x", 64, False),
        ("olt-y", 32, True),
    ]


def test_every_bad_row_and_field_is_named() -> None:
    text = (
        "id,name,regions,skills,max_open_jobs\n"
        "tech-a,A,haidian,fibre,4\n"
        "Tech B,,nowhere,laser,0\n"
        "tech-a,A again,haidian,fibre,4\n"
    )
    assert errors(ImportKind.TECHNICIANS, FileFormat.CSV, text) == [
        (3, "id"),
        (3, "name"),
        (3, "skills.0"),
        (3, "max_open_jobs"),
        (4, "id"),
    ]


def test_an_unknown_region_is_named_once_the_row_is_otherwise_valid() -> None:
    text = "id,name,regions,skills\ntech-a,A,haidian;mars,fibre\n"
    assert errors(ImportKind.TECHNICIANS, FileFormat.CSV, text) == [(2, "regions")]


def test_unknown_columns_and_wrong_types_are_refused_not_dropped() -> None:
    text = "id,region,pon_ports,vlan_low,vlan_high,colour\nolt-a,haidian,x,100,99,red\n"
    assert errors(ImportKind.INVENTORY, FileFormat.CSV, text) == [(2, "pon_ports"), (2, "colour")]
    reversed_pool = "id,region,pon_ports,vlan_low,vlan_high\nolt-a,haidian,2,100,99\n"
    assert errors(ImportKind.INVENTORY, FileFormat.CSV, reversed_pool) == [(2, None)]


@pytest.mark.parametrize(
    ("kind", "fmt", "text", "where"),
    [
        (ImportKind.TECHNICIANS, FileFormat.CSV, "", (1, None)),
        (ImportKind.TECHNICIANS, FileFormat.CSV, "id,name\n", (0, None)),
        (ImportKind.TECHNICIANS, FileFormat.CSV, "id,id\na,b\n", (1, None)),
        (ImportKind.TECHNICIANS, FileFormat.CSV, "id,name\na,b,c\n", (2, None)),
        (ImportKind.INVENTORY, FileFormat.TOML, "olts = 3", (0, "olts")),
        (ImportKind.INVENTORY, FileFormat.TOML, "[[technicians]]\nid='a'", (0, None)),
        (ImportKind.INVENTORY, FileFormat.TOML, "[[olts]\n", (0, None)),
    ],
)
def test_a_file_that_is_not_rows_is_refused(
    kind: ImportKind, fmt: FileFormat, text: str, where: tuple[int, str | None]
) -> None:
    with pytest.raises(InvalidFile) as e:
        read_rows(kind, fmt, text)
    assert [(x.line, x.field) for x in e.value.errors] == [where]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", FileFormat.CSV),
        ("A.TOML", FileFormat.TOML),
        ("text/csv; charset=utf-8", FileFormat.CSV),
        ("application/toml", FileFormat.TOML),
    ],
)
def test_the_format_is_told_by_the_name_or_media_type(name: str, fmt: FileFormat) -> None:
    assert format_of(name) is fmt


def test_another_format_is_refused() -> None:
    with pytest.raises(InvalidFile, match="neither CSV"):
        format_of("technicians.xlsx")


def test_the_plan_tells_added_changed_removed_and_unchanged_apart() -> None:
    rows = validate(
        ImportKind.INVENTORY,
        read_rows(ImportKind.INVENTORY, FileFormat.TOML, OLTS_TOML),
        regions=REGIONS,
    )
    x = {"id": "olt-x", "region": "haidian", "pon_ports": 8, "onts_per_port": 64}
    current = {"olt-x": {**x, "vlan_low": 100, "vlan_high": 199}}

    result = plan(ImportKind.INVENTORY, rows, current)

    assert result.added == [] and result.removed == [] and result.unchanged == ["olt-y"]
    assert [(c.id, c.fields) for c in result.changed] == [("olt-x", {"pon_ports": (8, 16)})]
    same = plan(ImportKind.INVENTORY, rows[:1], {"olt-x": rows[0].model_dump()})
    assert not same.changes_anything


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        (ImportKind.TECHNICIANS, "technicians.csv"),
        (ImportKind.INVENTORY, "olts.toml"),
        (ImportKind.REGIONS, "regions.toml"),
        (ImportKind.REGIONS, "regions.csv"),
    ],
)
def test_the_example_files_of_the_docs_are_valid(kind: ImportKind, name: str) -> None:
    path = Path(__file__).parents[2] / "docs" / "examples" / name
    rows = read_rows(kind, format_of(name), path.read_text(encoding="utf-8"))
    assert validate(kind, rows, regions={r.code for r in load_regions()})


# Regions -------------------------------------------------------------------------

REGION_COLUMNS = (
    "id,name,country,province,city,districts,postcode_prefixes,vlan_low,vlan_high,"
    "installation_hours,jeopardy_hours,test_servers"
)
REGIONS_CSV = f"""{REGION_COLUMNS}
shijingshan,石景山区,CN,北京市,北京市,石景山区,100040;100043,1700,1799,72,48,speedtest-a;speedtest-b
central,Central,DE,,,,501,500,599,36.5,24,speedtest-c
"""


def shipped() -> dict[str, dict[str, object]]:
    """The shipped regions as the database's rows (the fields of RegionRow)."""
    return {
        r.code: {
            "country": r.country,
            "province": r.province,
            "city": r.city,
            "districts": r.districts,
            "postcode_prefixes": r.postcode_prefixes,
        }
        for r in load_regions()
    }


def region_rows(text: str) -> list[tuple[int, RegionRow]]:
    rows = read_rows(ImportKind.REGIONS, FileFormat.CSV, text)
    valid = validate(ImportKind.REGIONS, rows, regions=set())
    return [(line, r) for (line, _), r in zip(rows, valid, strict=True) if isinstance(r, RegionRow)]


def test_a_csv_file_of_regions_is_read_with_lists_numbers_and_empty_cells() -> None:
    [(first_line, first), (second_line, second)] = region_rows(REGIONS_CSV)

    assert (first_line, second_line) == (2, 3)
    assert (first.districts, first.postcode_prefixes) == (["石景山区"], ["100040", "100043"])
    assert (first.province, first.test_servers) == ("北京市", ["speedtest-a", "speedtest-b"])
    assert (second.province, second.districts, second.postcode_prefixes) == (None, [], ["501"])
    assert (second.installation_hours, second.jeopardy_hours) == (36.5, 24)


def test_every_bad_region_field_is_named_by_line() -> None:
    header = REGION_COLUMNS
    text = "\n".join(
        [
            header,
            "a,A,CN,北京市,北京市,石景山区,1000400,1700,1799,72,48,s",  # prefix too long
            "b,B,XX,,,,501,500,599,72,48,s",  # no such country
            "c,C,DE,,,Mitte,501,500,599,72,48,s",  # a DE address has no district
            "d,D,CN,,北京市,石景山区,,1700,1799,72,48,s",  # no province
            "e,E,DE,,,,,600,599,48,72,s",  # nothing covered; reversed pool and SLA
            "f,F,DE,,,,601,600,699,72,48,",  # no test servers
        ]
    )
    assert errors(ImportKind.REGIONS, FileFormat.CSV, text) == [
        (2, "postcode_prefixes"),
        (3, "country"),
        (4, "districts"),
        (5, "province"),
        (6, "vlan_high"),
        (6, "jeopardy_hours"),
        (6, "districts"),
        (7, "test_servers"),
    ]


def test_a_district_or_postcode_two_regions_claim_is_named_on_the_later_line() -> None:
    header = REGION_COLUMNS
    rows = region_rows(
        "\n".join(
            [
                header,
                "sjs,石景山区,CN,北京市,北京市,石景山区,100040,1700,1799,72,48,s",
                "hd2,海淀区二,CN,北京市,北京市,海淀区,,1800,1899,72,48,s",  # haidian's
                "sjs2,石景山区二,CN,北京市,北京市,石景山区,10004,1700,1799,72,48,s",
                "n2,North two,DE,,,,1015,500,599,72,48,s",  # within north's 101
            ]
        )
    )

    found = check_coverage(rows, shipped())

    assert [(e.line, e.field) for e in found] == [
        (3, "districts"),
        (4, "districts"),
        (4, "postcode_prefixes"),
        (5, "postcode_prefixes"),
    ]
    assert "region haidian (in the database)" in found[0].message
    assert "region sjs (line 2)" in found[1].message
    assert "'101' of region north" in found[3].message


def test_a_region_changed_or_removed_by_the_file_frees_what_it_covered() -> None:
    header = REGION_COLUMNS
    moved = region_rows(
        f"{header}\nhaidian,海淀区,CN,北京市,北京市,海淀区,,1000,1199,48,36,s\n"
        "hd-west,海淀西,CN,北京市,北京市,,10008,1200,1299,48,36,s\n"
    )
    removed = region_rows(
        f"{header}\nnorth,North,DE,,,,101,100,199,48,36,s\nn2,North 2,DE,,,,101,500,599,48,36,s\n"
    )
    removed[0] = (removed[0][0], removed[0][1].model_copy(update={"remove": True}))

    assert check_coverage(moved, shipped()) == []
    assert check_coverage(removed, shipped()) == []


def test_the_shipped_regions_overlap_nowhere() -> None:
    rows = [
        (
            n,
            RegionRow(
                id=r.code,
                name=r.name,
                country=r.country,
                province=r.province,
                city=r.city,
                districts=r.districts,
                postcode_prefixes=r.postcode_prefixes,
                vlan_low=r.vlan_range[0],
                vlan_high=r.vlan_range[1],
                installation_hours=r.installation_hours,
                jeopardy_hours=r.jeopardy_hours,
                test_servers=r.test_servers,
            ),
        )
        for n, r in enumerate(load_regions(), start=1)
    ]
    assert [row.problems() for _, row in rows] == [[] for _ in rows]
    assert check_coverage(rows, {}) == []
