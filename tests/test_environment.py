"""The two dependency lists agree, and the book's configuration is consistent."""

import re
import tomllib

import yaml

from analysis_lib.pipeline import book_page, default_root, load_stages

ROOT = default_root()


def _normalise(requirement):
    name, spec = re.match(r"\s*([A-Za-z0-9_.\-\[\]]+)\s*(.*)", requirement).groups()
    return name.lower().replace("_", "-"), ",".join(sorted(s.strip() for s in spec.split(",") if s.strip()))


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_normalise(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    pip = next(d["pip"] for d in conda if isinstance(d, dict))
    assert {_normalise(r) for r in pip} == wanted
    assert "python>=3.11,<3.14" in conda and project["requires-python"] == ">=3.11,<3.14"


def test_book_renders_executed_notebooks_without_re_executing_them():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"  # quoted: the string, not YAML false
    assert config["only_build_toc_files"] is True


def test_table_of_contents_lists_every_stage_and_only_those():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    chapters = {c["file"] for part in toc["parts"] for c in part["chapters"]}
    expected = {f"book/{book_page(s, ROOT).with_suffix('')}" for s in load_stages(ROOT / "stages.yml")}
    written_pages = {c for c in chapters if (ROOT / f"{c}.md").is_file()}  # pages written by hand, not stages
    assert written_pages == {"book/your_files"}
    assert chapters - written_pages == expected
    assert (ROOT / f"{toc['root']}.md").exists()


def test_the_library_has_no_import_cycles():
    """Following every import, function bodies included, to the module it names: a
    package itself when a name comes from its ``__init__`` (the readers once reached the
    detectors' package, whose file writers reached the readers)."""
    from analysis_lib.pipeline.hashing import LIBRARY_DIR, _imports, _module_file, _parse

    graph = {}
    for file in LIBRARY_DIR.rglob("*.py"):
        parts = list(file.relative_to(LIBRARY_DIR.parent).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        graph[name] = {f"{module}.{n}" if n and _module_file(f"{module}.{n}") else module
                       for module, names in _imports(_parse(file), name, file.name == "__init__.py")
                       if module.split(".")[0] == LIBRARY_DIR.name for n in names or ("",)} - {name}
    assert "analysis_lib.studies.shashlik" in graph and graph["analysis_lib.io.showers"]
    for start in graph:
        reachable, frontier = set(), set(graph[start])
        while frontier:
            reachable |= frontier
            frontier = set().union(*(graph.get(m, set()) for m in frontier)) - reachable
        assert start not in reachable, f"{start} imports itself through {sorted(graph[start] & reachable)}"


def test_every_detector_follows_one_protocol():
    import inspect

    from analysis_lib.detectors import DETECTORS

    for name, detector in DETECTORS.items():
        assert detector.name == name and detector.yields in ("images", "hits")
        parameters = inspect.signature(detector.simulate).parameters
        assert list(parameters)[:2] == ["particle", "n_events"], name
        assert parameters["seed"].kind is parameters["mapper"].kind is inspect.Parameter.KEYWORD_ONLY, name
        if detector.yields == "images":
            assert len(detector.layer_names) == len(detector.layer_shapes), name


def test_nothing_in_the_project_refers_outside_the_repository():
    """A user's clone has nothing beside it: no tracked file may point at the folders
    that lay beside the repository where it was developed."""
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    outside = re.compile(r"\.\./shared|shared/(testdata|reference|seeds)|parents\[2\] / \"shared\"")
    offenders = []
    for name in tracked:
        path = ROOT / name
        if path.suffix in {".py", ".md", ".yml", ".yaml", ".toml", ".ipynb", ".cfg", ".txt", ""} and path.is_file():
            text = path.read_text(errors="replace")
            offenders += [f"{name}: {m.group(0)}" for m in outside.finditer(text)]
    assert not offenders, offenders


def test_every_import_inside_the_library_names_a_module_that_exists():
    """Function-level imports run only when called: a relative import that a move left
    pointing at nothing (``from .io import ...`` in a subpackage) failed only on Ctrl-C."""
    from analysis_lib.pipeline.hashing import LIBRARY_DIR, _imports, _module_file, _parse

    wrong = []
    for file in LIBRARY_DIR.rglob("*.py"):
        parts = list(file.relative_to(LIBRARY_DIR.parent).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for module, _ in _imports(_parse(file), name, file.name == "__init__.py"):
            if module.split(".")[0] == LIBRARY_DIR.name and _module_file(module) is None:
                wrong.append(f"{file.relative_to(LIBRARY_DIR.parent)} imports {module}")
    assert not wrong


def test_the_code_keeps_the_projects_style():
    """The ruff configuration of pyproject.toml (pyflakes, pycodestyle, 120 characters),
    over the library, the tests, the benchmarks and the notebooks."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
