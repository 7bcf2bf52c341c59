"""The documentation: README.md as a landing page, the MkDocs site in docs/ and its API reference.

- README.md stays a landing page (<= 200 lines, lines <= 200 characters) with the set-up, test,
  lint and docs commands CI and contributors rely on.
- README.md and docs/**/*.md carry no history words ("new", "was", "now", "this round", issue
  numbers): the docs describe what is, not what changed.
- Every ```python block of README.md and docs/getting-started.md runs exactly as written, each in
  a fresh process from an empty working folder; the family pages' examples run too.
- docs/cli.md names every subcommand and every flag of ``keras_ae.cli.build_parser()``.
- Every figure in docs/figures/ is small (<= 100 KB), shown on a page, and names the command that
  regenerates it.
- ``mkdocs build --strict`` passes (no warning: broken links and anchors included), offline, and
  the built API reference has an entry (an HTML id) for every name of ``keras_ae.__all__`` and
  of each public sub-package's ``__all__``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
GETTING_STARTED = DOCS / "getting-started.md"

# The public sub-packages and the API page that documents each (docs/api/<page>.md).
API_PAGES = {
    "keras_ae": "index",
    "keras_ae.models": "models",
    "keras_ae.layers": "layers",
    "keras_ae.data": "data",
    "keras_ae.training": "training",
    "keras_ae.evaluation": "evaluation",
    "keras_ae.applications": "applications",
    "keras_ae.export": "export",
    "keras_ae.plotting": "plotting",
}

# History words: the docs say what keras_ae is and does, never what changed or when. Matched
# case-insensitively on word boundaries, so "renewal" or "nowhere" pass; "new" and "now" are
# banned as words altogether (rephrase "a new venv" as "a fresh venv"). An issue reference is a
# "#" followed by digits that does not belong to a repository name, so
# "keras-team/keras#20585" (an upstream bug) and page anchors ("results.md#vae") pass.
HISTORY_PATTERNS = {
    "new": r"\bnew\b",
    "was": r"\bwas\b",
    "now": r"\bnow\b",
    "this round": r"\bthis round\b",
    "as before": r"\bas before\b",
    "no longer": r"\bno longer\b",
    "previously": r"\bpreviously\b",
    "issue #": r"\bissues? #",
    "an issue number": r"(?<![\w/.-])#\d+\b",
}


def _markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def _python_blocks(path: Path) -> list[str]:
    """The ```python fenced blocks of a Markdown file, in order."""
    return re.findall(r"^```python\n(.*?)^```\s*$", path.read_text(encoding="utf-8"), re.S | re.M)


def _block_env() -> dict[str, str]:
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env.pop("KERAS_AE_DATA_DIR", None)  # the blocks use only the embedded datasets
    return env


# -- README ------------------------------------------------------------------------------------
def test_readme_is_a_short_landing_page():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move detail into docs/ (at most 200)"
    long = [(i + 1, len(line)) for i, line in enumerate(lines) if len(line) > 200]
    assert not long, f"README.md lines over 200 characters (line, length): {long}"


def test_readme_keeps_the_commands_ci_and_contributors_use():
    text = README.read_text(encoding="utf-8")
    for command in (
        "pip install -e . && python recipes/denoising.py",  # the main job
        'pip install -e ".[test]" && python -m pytest -q',  # the full suite, as .ci/run runs it
        'python -m pytest -m "not slow"',  # the fast tier
        "python -m ruff check keras_ae recipes tests conftest.py",  # the linter
        'pip install -e ".[docs]" && mkdocs serve',  # the docs, locally
    ):
        assert command in text, f"README.md lost the command {command!r}"
    for page in ("docs/getting-started.md", "docs/results.md", "docs/cli.md"):
        assert f"]({page})" in text, f"README.md does not link {page}"


def test_readme_links_point_at_existing_files():
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(((?!https?://)[^)#\s]+)(?:#[^)]*)?\)", text)
    assert targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


# -- history words -----------------------------------------------------------------------------
@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_history_words(path):
    hits = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        for word, pattern in HISTORY_PATTERNS.items():
            if re.search(pattern, line, re.IGNORECASE):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {word!r} in {line.strip()[:120]!r}")
    assert not hits, "history words (say what is, not what changed):\n" + "\n".join(hits)


def test_history_patterns_match_what_they_should():
    def flagged(text):
        return any(re.search(p, text, re.IGNORECASE) for p in HISTORY_PATTERNS.values())

    for bad in ("a new default", "it was 64", "It now also exports", "this round", "(#26)", "see issue #28",
                "as before", "No longer needed"):
        assert flagged(bad), bad
    for fine in ("renewal", "nowhere", "keras-team/keras#20585", "[row](results.md#vae)", "# Title", "known"):
        assert not flagged(fine), fine


# -- Python blocks -------------------------------------------------------------------------------
RUN_AS_WRITTEN = [(path, i) for path in (README, GETTING_STARTED) for i in range(len(_python_blocks(path)))]


def test_the_landing_pages_have_python_blocks():
    assert len(_python_blocks(README)) >= 1 and len(_python_blocks(GETTING_STARTED)) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("path, index", RUN_AS_WRITTEN, ids=lambda v: v.name if isinstance(v, Path) else str(v))
def test_python_block_runs_as_written(path, index, tmp_path):
    """Each block in a fresh process, from an empty folder (files it writes land there)."""
    block = _python_blocks(path)[index]
    result = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=_block_env(), capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, (
        f"{path.relative_to(ROOT)} python block {index + 1} failed:\n{block}\n--- stderr ---\n{result.stderr[-4000:]}")


# Runs every block given on stdin (JSON list of [label, code]) in a fresh namespace, one process.
_RUNNER = """
import json, sys, traceback
failed = []
for label, code in json.load(sys.stdin):
    try:
        exec(compile(code, label, "exec"), {"__name__": "__main__"})
    except BaseException:
        failed.append(label)
        print(f"FAILED {label}", file=sys.stderr)
        traceback.print_exc()
    else:
        print(f"ok {label}", flush=True)
if failed:
    print("FAILED BLOCKS: " + ", ".join(failed), file=sys.stderr)
    sys.exit(1)
"""


@pytest.mark.slow
def test_every_other_docs_python_block_runs(tmp_path):
    """The family, data and other pages' examples: one process, each block in a fresh namespace."""
    import json

    blocks = [(f"{path.relative_to(ROOT)}[{i + 1}]", code)
              for path in sorted(DOCS.rglob("*.md")) if path != GETTING_STARTED
              for i, code in enumerate(_python_blocks(path))]
    assert len(blocks) >= 10
    result = subprocess.run([sys.executable, "-c", _RUNNER], input=json.dumps(blocks), cwd=tmp_path,
                            env=_block_env(), capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-2000:] + "\n--- stderr ---\n" + result.stderr[-6000:]
    assert result.stdout.count("ok ") == len(blocks)


# -- the command-line page -----------------------------------------------------------------------
def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Yields (command path, parser) for the parser and every sub-parser, depth first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


def test_cli_page_names_every_subcommand_and_flag():
    from keras_ae.cli import build_parser

    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = []
    for path, parser in _commands(build_parser()):
        if path and f"`{path[-1]}" not in text and f"keras-ae {' '.join(path)}" not in text:
            missing.append(f"subcommand {' '.join(path)}")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            names = action.option_strings or [action.dest]
            for name in names:
                if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text):
                    missing.append(f"{' '.join(('keras-ae', *path))}: {name}")
    assert not missing, "docs/cli.md does not mention:\n" + "\n".join(missing)


# -- figures -------------------------------------------------------------------------------------
def test_figures_are_small_shown_and_regenerable():
    figures = sorted((DOCS / "figures").glob("*.png"))
    assert len(figures) >= 5
    pages = {path: path.read_text(encoding="utf-8") for path in DOCS.rglob("*.md")}
    for figure in figures:
        size = figure.stat().st_size
        assert size <= 100_000, f"{figure.name} is {size} bytes; downscale it (at most 100 KB)"
        shown = [(path, text) for path, text in pages.items() if f"figures/{figure.name})" in text]
        assert shown, f"docs/figures/{figure.name} is on no page"
        for path, text in shown:
            # The caption right under the image names the command that regenerates the figure.
            after = text.split(f"figures/{figure.name})", 1)[1][:600]
            assert re.search(r"Regenerate:\s*`python recipes/\w+\.py[^`]*`", after), (
                f"{path.relative_to(ROOT)}: no 'Regenerate: `python recipes/...`' under {figure.name}")


# -- the site and its API reference --------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """``mkdocs build --strict`` into a temporary folder (offline; about 10-30 s)."""
    pytest.importorskip("mkdocs", reason='the docs tools: pip install -e ".[docs]"')
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return out


@pytest.mark.slow
def test_mkdocs_build_strict_passes(site):
    for page in ("index.html", "getting-started/index.html", "results/index.html", "cli/index.html",
                 "performance/index.html", "api/index.html"):
        assert (site / page).is_file(), page
    # The Performance page includes the generated BENCHMARKS.md verbatim (its title comes along).
    title = re.search(r"^# (.+)$", (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8"), re.M).group(1)
    assert f">{title}<" in (site / "performance/index.html").read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("module", sorted(API_PAGES))
def test_api_reference_documents_every_public_name(site, module):
    page = API_PAGES[module]
    html_file = site / "api" / ("index.html" if page == "index" else f"{page}/index.html")
    html = html_file.read_text(encoding="utf-8")
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    names = importlib.import_module(module).__all__
    missing = [name for name in names if f"{module}.{name}" not in ids]
    assert not missing, f"docs/api/{page}.md renders no entry (id) for: " + ", ".join(
        f"{module}.{name}" for name in missing)


def test_every_public_subpackage_has_an_api_page():
    import keras_ae

    for module, page in API_PAGES.items():
        text = (DOCS / "api" / f"{page}.md").read_text(encoding="utf-8")
        assert f"::: {module}\n" in text or text.rstrip().endswith(f"::: {module}"), (page, module)
    subpackages = {f"keras_ae.{p.name}" for p in Path(keras_ae.__file__).parent.iterdir()
                   if (p / "__init__.py").is_file() and not p.name.startswith("_")}
    assert subpackages <= set(API_PAGES), f"sub-packages without an API page: {sorted(subpackages - set(API_PAGES))}"
