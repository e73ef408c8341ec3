"""Fund managers: dates, experience, REIT six-column tables, read off the pages by hand."""

from __future__ import annotations

from tests.parsing.conftest import Parsed


def test_quarterly_manager_in_office(parsed: Parsed) -> None:
    (manager,) = parsed("013242_2025_q1").document["managers"]
    assert {k: manager[k] for k in ("name", "title", "start_date", "end_date", "years_experience")} == {
        "name": "程敏",
        "title": "基金经理,权益投资部副总经理（主持工作）",
        "start_date": "2021-09-27",
        "end_date": None,
        "years_experience": 13.0,
    }
    assert manager["bio"].startswith("程敏先生，清华大学数学学士")


def test_annual_managers_and_assistant_who_left(parsed: Parsed) -> None:
    managers = {m["name"]: m for m in parsed("001643_2024_annual").document["managers"]}
    assert managers["闫湜"]["start_date"] == "2021-12-25"
    assert managers["闫湜"]["end_date"] == "2024-12-20"
    assert managers["闫湜"]["years_experience"] == 12.0


def test_reit_managers_six_columns(parsed: Parsed) -> None:
    managers = {m["name"]: m for m in parsed("180801_2024_annual").document["managers"]}
    assert list(managers) == ["宋鑫", "汪应伟", "王峥恺", "朱小东"]
    assert (managers["朱小东"]["start_date"], managers["朱小东"]["end_date"]) == ("2021-06-07", "2024-04-26")
    assert managers["王峥恺"]["years_text"] == "5年以上"
    assert (
        managers["汪应伟"]["infra_experience"]
        == "除管理本基金外，曾参与北京首钢生物质能源基础设施项目运营管理工作"
    )
