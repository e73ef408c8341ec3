"""NAV growth against the benchmark, per class heading."""

from __future__ import annotations

from tests.parsing.conftest import Parsed


def test_class_headings_map_to_class_names_and_skip_header_only_table(parsed: Parsed) -> None:
    perf = parsed("001643_2024_annual").document["nav_performance"]
    assert set(perf) == {"汇丰晋信智造先锋股票A", "汇丰晋信智造先锋股票C"}
    assert perf["汇丰晋信智造先锋股票C"][2] == {
        "horizon": "过去一年",
        "nav_growth": -14.92,
        "nav_growth_std": 2.64,
        "benchmark_return": 6.5,
        "benchmark_std": 1.75,
        "excess_return": -21.42,
        "std_diff": 0.89,
    }
    assert [r["horizon"] for r in perf["汇丰晋信智造先锋股票A"]] == [
        "过去三个月",
        "过去六个月",
        "过去一年",
        "过去三年",
        "过去五年",
        "自基金合同生效起至今",
    ]


def test_full_class_name_suffix(parsed: Parsed) -> None:
    perf = parsed("970127_2025_q1").document["nav_performance"]
    assert perf["德邦资管月月鑫30天滚动债A"][-1]["nav_growth"] == 11.69
    assert perf["德邦资管月月鑫30天滚动债C"][0]["excess_return"] == 0.24


def test_single_class_is_total(parsed: Parsed) -> None:
    perf = parsed("013242_2025_q1").document["nav_performance"]
    assert list(perf) == ["total"]
    assert perf["total"][0]["horizon"] == "过去三个月"


def test_single_class_values(parsed: Parsed) -> None:
    first = parsed("013242_2025_q1").document["nav_performance"]["total"][0]
    assert (first["nav_growth"], first["benchmark_return"], first["excess_return"]) == (13.77, -1.06, 14.83)
