"""The README's status table is generated from the recipes and cards, and is current."""
import json
import shutil

from conftest import REPO
from zoo.cli import main
from zoo.report import END, START, render, update_readme


def test_the_readme_status_table_is_current(capsys):
    assert main(["report", "--check"]) == 0, "run python -m zoo report"
    assert "is current" in capsys.readouterr().out


def test_every_recipe_and_card_has_a_row():
    table = render()
    for recipe in REPO.glob("recipes/*.yaml"):
        assert f"`recipes/{recipe.name}`" in table
    for card in REPO.glob("weights/*.json"):
        meta = json.loads(card.read_text())
        assert f"`{meta['arch']}.{meta['tag']}`" in table and f"{meta['metrics']['acc1']:.2f}%" in table


def test_report_rewrites_a_stale_table(tmp_path):
    for folder in ("recipes", "weights"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    (tmp_path / "README.md").write_text(f"intro\n{START}\nold table\n{END}\noutro\n")
    assert not update_readme(tmp_path, check=True)
    assert not update_readme(tmp_path)
    text = (tmp_path / "README.md").read_text()
    assert text.startswith("intro\n") and text.endswith("\noutro\n") and "old table" not in text
    assert update_readme(tmp_path, check=True)
