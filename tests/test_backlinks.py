"""Docstring back-links point at a notebook or README section that really teaches the symbol.

The rules, each checkable by hand:

* A *link clause* in a module, class or function docstring starts at "Explained in", "Used in" or
  "See" (any case) and runs to the end of its sentence (a period followed by white space or the end
  of the docstring). Its targets are every ``notebooks/NN_name.ipynb`` in it, and every ``README.md``
  followed by a section heading in double quotes: ``README.md, "Preparing your own video"`` or
  ``README.md ("Preparing your own video")``.
* A notebook target must exist and *mention* the symbol in some cell's source (code or markdown;
  outputs do not count).
* A README target must quote the exact text of a ``## `` heading of README.md, and that section (up
  to the next ``#`` or ``##`` heading outside code blocks) must mention the symbol.
* *Mention*: a class or function is mentioned where its name appears as a whole word (not part of a
  longer identifier or hyphenated word). A module is mentioned where the text imports it or names it
  as code: its full dotted path (``talkface_lite.data.video.prepare``), or its last component
  (``prepare``; for a package's ``__init__.py``, the package's name) as a whole word that ends or
  continues a dotted or file path (``video.prepare``, ``prepare.py``, ``data/video/``,
  ``prepare.track_landmarks``), stands between backticks (`` `prepare` ``) or sits on an import line
  (``from talkface_lite import rendering``). Module names are common words ("sampling", "loop",
  "pose"), so prose alone does not count.

A failing test lists every bad link as ``path:line symbol -> target (why)``, so all can be fixed at once.

Separately, over every tracked text file (``git ls-files``, figures/ and binaries skipped): no file
may cite a design document or folder that is not in the repository (cite a file in the repository or
the paper instead), and every ``notebooks/NN_name.ipynb`` named anywhere (C++/CUDA comments, README,
Makefile) must exist.
"""

import ast
import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "talkface_lite"

LINK_START = re.compile(r"\b(?:explained in|used in|see)\b", re.IGNORECASE)
SENTENCE_END = re.compile(r"\.(?=\s|$)")
NOTEBOOK = re.compile(r"notebooks/[0-9]{2}_[\w-]+\.ipynb")
ANY_NOTEBOOK_PATH = re.compile(r"notebooks/[^\s,;)]*")
EXPLAINED_IN = re.compile(r"\bexplained in\b", re.IGNORECASE)
README_LINK = re.compile(r'README\.md(?:[\s,(]*"([^"]*)")?')
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
IMPORT_LINE = re.compile(r"^[ \t]*(?:from[ \t]+[\w.]+[ \t]+)?import[ \t].*$", re.MULTILINE)


def mentions(text: str, name: str) -> bool:
    """Whether ``text`` names the class or function ``name`` as a whole word."""
    return bool(re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text))


def mentions_module(text: str, dotted: str) -> bool:
    """Whether ``text`` imports or names the module ``dotted`` as code (see the module docstring)."""
    last = re.escape(dotted.rsplit(".", 1)[-1])
    as_code = (
        rf"(?<=[./]){last}(?![\w-])",  # ends or continues a path: talkface_lite.rendering, data/video/prepare.py
        rf"(?<![\w-]){last}(?=\.\w|/)",  # starts one: rendering.composite, prepare.py, training/
        rf"(?<=`){last}(?=`)",  # between backticks
    )
    return (
        dotted in text
        or any(re.search(p, text) for p in as_code)
        or any(mentions(line, dotted.rsplit(".", 1)[-1]) for line in IMPORT_LINE.findall(text))
    )


def notebook_source(path: Path) -> str:
    """The source of every cell (code and markdown), joined; outputs left out."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    return "\n".join(c["source"] if isinstance(c["source"], str) else "".join(c["source"]) for c in cells)


def readme_sections(text: str) -> dict:
    """``{heading text: section body}`` for every level-2 heading outside fenced code blocks."""
    sections, current, fenced = {}, None, False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else HEADING.match(line)
        if heading and len(heading.group(1)) <= 2:
            current = heading.group(2) if len(heading.group(1)) == 2 else None
            if current is not None:
                sections[current] = ""
            continue
        if current is not None:
            sections[current] += line + "\n"
    return sections


def module_name(relpath: str) -> str:
    parts = list(Path(relpath).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def documented(tree: ast.Module, module: str):
    """``(symbol, short name, docstring constant)`` for the module and every class and function in it."""
    if ast.get_docstring(tree, clean=False) is not None:
        yield module, module.rsplit(".", 1)[-1], tree.body[0].value

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qual = f"{prefix}.{child.name}"
                if ast.get_docstring(child, clean=False) is not None:
                    yield qual, child.name, child.body[0].value
                yield from visit(child, qual)

    yield from visit(tree, module)


def link_targets(doc: str):
    """``(offset in doc, target, README heading or None)`` for each target of each link clause."""
    found = {}
    for start in LINK_START.finditer(doc):
        end = SENTENCE_END.search(doc, start.end())
        stop = end.start() if end else len(doc)
        clause = doc[start.start() : stop]
        for m in NOTEBOOK.finditer(clause):
            found.setdefault(start.start() + m.start(), (m.group(0), None))
        for m in README_LINK.finditer(clause):
            heading = " ".join(m.group(1).split()) if m.group(1) is not None else None
            found.setdefault(start.start() + m.start(), ("README.md", heading))
    return [(pos, target, heading) for pos, (target, heading) in sorted(found.items())]


def malformed_links(doc: str):
    """``(offset, why)`` for link clauses a reader would take for a back-link but the checker cannot follow:
    an "Explained in" with no target, or a ``notebooks/...`` path that is not ``notebooks/NN_name.ipynb``."""
    for start in LINK_START.finditer(doc):
        end = SENTENCE_END.search(doc, start.end())
        clause = doc[start.start() : end.start() if end else len(doc)]
        for m in ANY_NOTEBOOK_PATH.finditer(clause):
            if not NOTEBOOK.fullmatch(m.group(0).rstrip(".")):
                yield start.start() + m.start(), f"{m.group(0)} (not a notebook path: write notebooks/NN_name.ipynb)"
        if EXPLAINED_IN.match(clause) and not (ANY_NOTEBOOK_PATH.search(clause) or README_LINK.search(clause)):
            yield start.start(), 'no target (write notebooks/NN_name.ipynb or README.md, "Section")'


def check_source(relpath: str, text: str, root: Path = ROOT, cache: dict = None) -> list:
    """Every bad back-link in one module's source, as ``path:line symbol -> target (why)``."""
    cache = {} if cache is None else cache
    module = module_name(relpath)
    bad = []
    for symbol, name, const in documented(ast.parse(text), module):
        for pos, why in malformed_links(const.value):
            bad.append(f"{relpath}:{const.lineno + const.value[:pos].count(chr(10))} {symbol} -> {why}")
        is_module = symbol == module
        named = (lambda text: mentions_module(text, module)) if is_module else (lambda text: mentions(text, name))
        what = f"module '{name}' as code" if is_module else f"'{name}'"
        for pos, target, heading in link_targets(const.value):
            where = f"{relpath}:{const.lineno + const.value[:pos].count(chr(10))} {symbol} -> "
            if target == "README.md":
                if "README.md" not in cache:
                    readme = root / "README.md"
                    cache["README.md"] = readme_sections(readme.read_text(encoding="utf-8")) if readme.exists() else {}
                sections = cache["README.md"]
                if heading is None:
                    bad.append(where + 'README.md (name the section in double quotes: README.md, "Heading")')
                elif heading not in sections:
                    bad.append(where + f'README.md "{heading}" (README.md has no "## {heading}" section)')
                elif not named(sections[heading]):
                    bad.append(where + f'README.md "{heading}" (the section does not mention {what})')
                continue
            path = root / target
            if target not in cache:
                cache[target] = notebook_source(path) if path.exists() else None
            if cache[target] is None:
                bad.append(where + f"{target} (no such notebook)")
            elif not named(cache[target]):
                bad.append(where + f"{target} (the notebook does not mention {what})")
    return bad


def test_every_docstring_back_link_is_live():
    cache, bad, links = {}, [], 0
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        relpath = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        links += sum(len(link_targets(c.value)) for _, _, c in documented(ast.parse(text), module_name(relpath)))
        bad += check_source(relpath, text, cache=cache)
    assert links > 50, f"only {links} back-links found: is the link syntax still 'Explained in notebooks/...'?"
    assert not bad, f"{len(bad)} stale back-link(s):\n" + "\n".join(bad)


# -- the checker itself, on a synthetic package ----------------------------------------------------

SYNTHETIC = '''"""A module.

Explained in notebooks/01_present.ipynb and notebooks/99_missing.ipynb.
"""


def taught():
    """Taught in notebook 01.

    Explained in notebooks/01_present.ipynb.
    """


def untaught():
    """Not taught anywhere. See notebooks/01_present.ipynb (it is not there)."""


class Reader:
    """Explained in README.md, "Reading files"."""

    def read(self):
        """Explained in README.md ("No such section")."""

    def close(self):
        """See README.md (Reading files)."""


def cli():
    """Explained in
    README.md, "Reading files".
    """
'''


@pytest.fixture
def fake_root(tmp_path):
    (tmp_path / "notebooks").mkdir()
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# 01 · Present\n", "Uses `toy.taught`.\n"]},
        {"cell_type": "code", "metadata": {}, "outputs": [{"text": "untaught"}], "source": "from pkg import toy\n"},
    ]
    (tmp_path / "notebooks" / "01_present.ipynb").write_text(json.dumps({"cells": cells}))
    (tmp_path / "README.md").write_text(
        "# pkg\n\n## Reading files\n\n`Reader` reads.\n\n```bash\n# not a heading\nreader\n```\n\n## Other\n\ncli\n"
    )
    return tmp_path


def test_checker_reports_each_kind_of_stale_link(fake_root):
    bad = check_source("pkg/toy.py", SYNTHETIC, root=fake_root)
    assert bad == [
        "pkg/toy.py:3 pkg.toy -> notebooks/99_missing.ipynb (no such notebook)",
        "pkg/toy.py:15 pkg.toy.untaught -> notebooks/01_present.ipynb (the notebook does not mention 'untaught')",
        'pkg/toy.py:22 pkg.toy.Reader.read -> README.md "No such section" (README.md has no "## No such section" section)',
        'pkg/toy.py:25 pkg.toy.Reader.close -> README.md (name the section in double quotes: README.md, "Heading")',
        "pkg/toy.py:30 pkg.toy.cli -> README.md \"Reading files\" (the section does not mention 'cli')",
    ], "\n".join(bad)


def test_checker_module_rule_and_readme_sections():
    assert mentions("x = composite(rgb)", "composite") and not mentions("composite_packed(x)", "composite")
    assert not mentions("a .talkface-decode-123 folder", "decode")
    module = "talkface_lite.data.video.prepare"
    for text in (
        "from talkface_lite import rendering, prepare as P",
        "from talkface_lite.data.video.prepare import x",
        "see `data/video/prepare.py`",
        "prepare.track_landmarks(frames)",
        "the `prepare` command",
        "python -m talkface_lite.data.video.prepare",
    ):
        assert mentions_module(text, module), text
    for text in ("prepare the clip", "we prepare.", "talkface-lite prepare clip.mp4", "prepare_video(clip)"):
        assert not mentions_module(text, module), text
    sections = readme_sections("# t\n## A\ntext\n```\n## not a heading\n```\n### sub\nmore\n## B\n")
    assert list(sections) == ["A", "B"] and "more" in sections["A"] and "not a heading" in sections["A"]


# -- no citations of design documents outside the repository --------------------------------------

OUTSIDE_FOLDER = re.compile(re.escape("../" + "shared"))
CITED_DOCUMENT = re.compile(r"\b(?:" + "DES" + r"IGN(?:\.md)?|STYLE\.md|REFERENCES\.md|paper\.txt)\b")


SELF = "tests/test_backlinks.py"


def tracked_text_files():
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    for name in out.decode("utf-8", "replace").split("\0"):
        path = ROOT / name
        if not name or name.startswith("figures/") or name == SELF or not path.is_file():
            continue  # this file's own self-tests hold deliberately broken links
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        yield name, data.decode("utf-8", "replace")


def test_no_file_cites_a_document_outside_the_repository():
    files = dict(tracked_text_files())
    basenames = {Path(name).name for name in files}
    bad = []
    for name, text in files.items():
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE_FOLDER.search(line):
                bad.append(f"{name}:{number} cites a folder outside the repository: {line.strip()[:100]}")
            for m in CITED_DOCUMENT.finditer(line):
                cited = m.group(0) if "." in m.group(0) else m.group(0) + ".md"
                if cited not in basenames:
                    bad.append(f"{name}:{number} cites {cited}, which is not in the repository: {line.strip()[:100]}")
    assert files, "git ls-files listed nothing"
    assert not bad, "cite a file in the repository or the paper instead:\n" + "\n".join(bad)


def test_every_notebook_named_in_a_tracked_file_exists():
    """Back-links outside docstrings (C++/CUDA comments, README, CONTRIBUTING, Makefile) name real notebooks."""
    bad = []
    for name, text in tracked_text_files():
        for number, line in enumerate(text.splitlines(), 1):
            for m in NOTEBOOK.finditer(line):
                if not (ROOT / "notebooks" / Path(m.group(0)).name).is_file():
                    bad.append(f"{name}:{number} -> {m.group(0)} (no such notebook)")
    assert not bad, "\n".join(bad)


def test_malformed_back_links_are_reported_not_skipped():
    text = '''"""A module.

    Explained in notebooks/1_volume_rendering.ipynb.
    """


def f():
    """Explained in notebook 01_volume_rendering."""
'''
    bad = check_source("talkface_lite/fake.py", text)
    assert len(bad) == 2, bad
    assert "notebooks/1_volume_rendering.ipynb (not a notebook path" in bad[0]
    assert bad[1].startswith("talkface_lite/fake.py:8 talkface_lite.fake.f -> no target")
