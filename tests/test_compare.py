"""bench/compare.py: two readings of the same images compared image by image."""

import json

import pytest

from conftest import bench_module

compare = bench_module("compare")


def real_json(path, misread: dict[str, set[str]], images: int = 10):
    """What bench/real.py --json writes for one folder: ``misread`` maps each half read to
    the names of its misread images."""
    entry = {"images": images, "misread": [
        {"file_name": n, "half": side, "text": "1", "beam": "7"}
        for side, names in misread.items() for n in sorted(names)]}
    for side in misread:
        entry[side] = {"images": images,
                       "beam": {"exact": 1 - len(misread[side]) / images}}
    path.write_text(json.dumps({"folders": {"meza": entry}}))
    return path


def battery_json(path, wrong: set[str], images: int = 6):
    """What bench/battery.py --json writes: misread images with every path's reading (here
    the direct path misreads one image the default path reads right)."""
    misread = [{"file_name": n, "text": "12", "default": "2", "direct": "12"} for n in wrong]
    misread.append({"file_name": "d.png", "text": "5", "default": "5", "direct": "6"})
    path.write_text(json.dumps({"overall": {"default": {"images": images}},
                                "misread": misread}))
    return path


@pytest.mark.parametrize("fixed, broke, p", [
    (0, 0, 1.0),
    (10, 0, 2 * 0.5 ** 10),  # every discordant image went the change's way
    (3, 3, 1.0),
    (1, 4, 0.375),  # 2 * P(X <= 1), X ~ Binomial(5, 1/2) = 2 * 6/32
])
def test_mcnemar_exact(fixed, broke, p):
    assert compare.mcnemar(fixed, broke) == pytest.approx(p)


def test_counts_fixed_and_broken_per_half(tmp_path, capsys):
    before = real_json(tmp_path / "a.json", {"tune": {"a", "b", "c"}})
    after = real_json(tmp_path / "b.json", {"tune": {"c", "d"}})
    assert compare.main([str(before), str(after), "--json", str(tmp_path / "c.json")]) == 0
    row = json.loads((tmp_path / "c.json").read_text())["groups"]["meza tune"]
    assert (row["fixed"], row["broke"]) == (2, 1)
    assert row["before"] == pytest.approx(0.7) and row["after"] == pytest.approx(0.8)
    assert row["points"] == pytest.approx(10.0)
    assert "meza tune" in capsys.readouterr().out


def test_battery_default_path_only(tmp_path):
    """The battery is compared on its default path: an image only the direct path misread
    is no error of either."""
    rows = compare.compare(compare.load(battery_json(tmp_path / "a.json", {"x", "y"})),
                           compare.load(battery_json(tmp_path / "b.json", {"y"})))
    assert rows["battery (default path)"]["fixed"] == 1
    assert rows["battery (default path)"]["broke"] == 0
    assert rows["battery (default path)"]["after"] == pytest.approx(5 / 6)


@pytest.mark.parametrize("make_after, message", [
    (lambda p: real_json(p, {"tune": set()}, images=12), "12 after"),
    (lambda p: real_json(p, {"report": set()}), "no folder half or battery in common"),
    (lambda p: (p.write_text("{}"), p)[1], "is not what bench/real.py"),
    (lambda p: p, "cannot read"),
])
def test_bad_pairs_end_in_one_line(tmp_path, make_after, message):
    before = real_json(tmp_path / "a.json", {"tune": {"a"}})
    with pytest.raises(SystemExit) as e:
        compare.main([str(before), str(make_after(tmp_path / "b.json"))])
    assert message in str(e.value) and "\n" not in str(e.value)
