"""talkface_lite.viz: saving figures/tables and the MANIFEST that traces them."""

import pytest

from talkface_lite import repro, viz


@pytest.fixture
def figdir(tmp_path, monkeypatch):
    monkeypatch.setenv("TALKFACE_FIGURES", str(tmp_path))
    monkeypatch.setenv("TALKFACE_BUILD", str(tmp_path / "build"))
    return tmp_path


def test_save_records_artifact_with_run(figdir):
    repro.start_run("98_viz_test", quick=False, device="cpu", seed=0)
    fig, axes = viz.figure()
    axes[0, 0].plot([0, 1], [1, 0])
    path = viz.save(fig, "98_line", close=True)
    assert path == figdir / "98_line.png" and path.read_bytes()[:4] == b"\x89PNG"
    rows = viz.read_manifest()
    assert len(rows) == 1
    row = rows[0]
    assert (row["artifact"], row["notebook"], row["mode"], row["device"]) == (
        "98_line.png",
        "98_viz_test",
        "FULL",
        "cpu",
    )
    assert row["commit"]


def test_resaving_replaces_the_row(figdir):
    for _ in range(2):
        fig, _ = viz.figure()
        viz.save(fig, "98_again", notebook="nb_a", close=True)
    fig, _ = viz.figure()
    viz.save(fig, "98_other", notebook="nb_b", close=True)
    rows = viz.read_manifest()
    assert [r["artifact"] for r in rows] == ["98_again.png", "98_other.png"]
    header = (figdir / "MANIFEST").read_text().splitlines()[0].split("\t")
    assert tuple(header) == viz.MANIFEST_COLUMNS


def test_save_table_writes_csv_and_markdown(figdir):
    rows = [{"method": "mean", "LMD": 3.14159}, {"method": "ours", "LMD": 1.5}]
    csv_path = viz.save_table(rows, "98_table", notebook="nb")
    assert csv_path.read_text().splitlines() == ["method,LMD", "mean,3.14159", "ours,1.5"]
    md = (figdir / "98_table.md").read_text()
    assert "| method | LMD |" in md and "| mean | 3.142 |" in md
    assert {r["artifact"] for r in viz.read_manifest()} == {"98_table.csv", "98_table.md"}


def test_bad_names_and_empty_tables_are_refused(figdir):
    fig, _ = viz.figure()
    with pytest.raises(ValueError, match="plain file stem"):
        viz.save(fig, "../escape")
    with pytest.raises(ValueError, match="no rows"):
        viz.save_table([], "98_empty")
    assert not (figdir / "MANIFEST").exists()
