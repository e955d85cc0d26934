"""The README's Python examples run as written (docs that match the code)."""

import re
from pathlib import Path

import pytest

_README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCKS = re.findall(r"```python\n(.*?)```", _README.read_text(), re.S)


def test_readme_has_examples():
    assert len(_BLOCKS) >= 3


@pytest.mark.parametrize("code", _BLOCKS, ids=[f"block {i}" for i in range(len(_BLOCKS))])
def test_readme_example_runs(code, monkeypatch, tmp_path):
    if "load_co2" in code:
        pytest.importorskip("statsmodels")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(_README), "exec"), {"__name__": "__readme__"})
