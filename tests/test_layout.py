"""The package's shape: scripts are thin entry points, nothing loads a script by path, every
subpackage says what it holds, settings are declared once, and the version has one source."""

import argparse
import ast
import dataclasses
import importlib
import re

import pytest
from conftest import REPO

import jaxgru
from jaxgru.runs.config import Config, RunOptions, command_line_message

SCRIPTS = sorted((REPO / "experiments").glob("*.py"))
SUBPACKAGES = sorted(p.parent.name for p in (REPO / "jaxgru").glob("*/__init__.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_are_thin_entry_points(script):
    """An experiments/ script defines nothing: it calls one ``main`` of the package."""
    tree = ast.parse(script.read_text())
    assert not [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))], script.name
    mains = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module.startswith("jaxgru.")
             and [a.name for a in n.names] == ["main"]]
    assert len(mains) == 1, script.name
    importlib.import_module(mains[0].module).main  # noqa: B018 (the module and its main exist)


def test_nothing_loads_a_script_by_path():
    for path in [*(REPO / "jaxgru").rglob("*.py"), *(REPO / "tests").glob("*.py"), *SCRIPTS]:
        text = path.read_text()
        assert "spec_from_file_location" not in text or path.name == "test_layout.py", path


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_every_subpackage_says_what_it_holds(name):
    module = importlib.import_module(f"jaxgru.{name}")
    doc = (module.__doc__ or "").strip()
    assert len(doc) > 40 and "TODO" not in doc, name


def test_study_options_come_from_the_settings_declaration():
    """A study's option named like a setting has that setting's help text (declared once); a
    study's ``--out`` is its own folder of many runs, not a run's, so it is the study's own."""
    from jaxgru.studies import (
        beacon_compare,
        evosax_compare,
        exact_front,
        large_population,
        mohaq,
        pymoo_compare,
        stack_compare,
    )

    declared = {f.name: f.metadata["help"] for cls in (Config, RunOptions) for f in dataclasses.fields(cls)
                if f.name != "out"}
    for study in (beacon_compare, evosax_compare, exact_front, large_population, mohaq, pymoo_compare, stack_compare):
        parser = _parser_of(study)
        shared = [a for a in parser._actions if a.dest in declared]
        assert shared, study.__name__
        for action in shared:
            assert action.help == declared[action.dest], (study.__name__, action.dest)


def _parser_of(study) -> argparse.ArgumentParser:
    """The parser ``study.parse_args`` builds (captured as it parses ``--help``)."""
    captured = {}
    original = argparse.ArgumentParser.parse_args

    def capture(self, *args, **kwargs):
        captured["parser"] = self
        raise SystemExit(0)

    argparse.ArgumentParser.parse_args = capture
    try:
        with pytest.raises(SystemExit):
            study.parse_args([])
    finally:
        argparse.ArgumentParser.parse_args = original
    return captured["parser"]


def test_one_version_number():
    text = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^dynamic = \["version"\]', text, re.M) and 'attr = "jaxgru.__version__"' in text
    assert re.fullmatch(r"\d+\.\d+\.\d+", jaxgru.__version__)


def test_library_errors_name_settings_and_the_command_line_names_flags():
    with pytest.raises(ValueError, match=r"^`population` must be an even number") as err:
        Config(population=5).check()
    assert command_line_message(str(err.value)).startswith("--population must be an even number")
    assert command_line_message("use `source`=tfds, pass `download`; `unknown` stays") == (
        "use --source tfds, pass --download; `unknown` stays")
