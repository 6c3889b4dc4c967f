"""The documentation site builds without a warning (no broken link, no page left out of the navigation),
every shipped weight has its page, and the README stays a front door."""
import os
import subprocess
import sys

from conftest import REPO


def test_the_site_builds_strictly_with_a_page_per_shipped_weight(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                           cwd=REPO, capture_output=True, text=True, env=env)
    assert build.returncode == 0, build.stderr[-2000:]
    for card in sorted((REPO / "weights").glob("*.json")):
        page = tmp_path / "site" / "models" / card.stem / "index.html"
        assert page.is_file(), f"no page for {card.stem}"
        assert f"python -m zoo eval {card.stem}" in page.read_text()


def test_the_readme_is_a_front_door():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert "make demo" in readme and "make test" in readme and "docs/models/index.md" in readme
