"""The enterprise MIB passes smilint at its strictest level, pysmi compiles it and net-snmp resolves its names,
with only the base modules vendored beside it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.snmp.mib import MIB_DIR, MIB_NAME, render_mib

pytestmark = pytest.mark.interop


def _smilint(tmp_path: Path, mib: Path) -> str:
    if shutil.which("smilint") is None:
        pytest.fail("smilint (Debian smitools) is not installed")
    conf = tmp_path / "smi.conf"
    conf.write_text(f"path {MIB_DIR}\n")
    # smilint exits 0 even on errors: any output at all is a failure.
    done = subprocess.run(["smilint", "-c", str(conf), "-l", "6", str(mib)], capture_output=True, text=True,
                          timeout=60)
    return done.stdout + done.stderr


def test_mib_passes_smilint_at_level_6(tmp_path: Path) -> None:
    assert _smilint(tmp_path, MIB_DIR / f"{MIB_NAME}.txt") == ""


def test_smilint_is_really_checking(tmp_path: Path) -> None:
    broken = tmp_path / f"{MIB_NAME}.txt"
    broken.write_text((MIB_DIR / f"{MIB_NAME}.txt").read_text().replace("ccaAgentsPaused }", "ccaAgentsPausedX }"))
    assert "ccaAgentsPausedX" in _smilint(tmp_path, broken)


def test_a_deployment_enterprise_number_renders_a_clean_mib(tmp_path: Path) -> None:
    mib = tmp_path / f"{MIB_NAME}.txt"
    mib.write_text(render_mib(54321))
    assert "{ enterprises 54321 }" in mib.read_text()
    assert _smilint(tmp_path, mib) == ""


def test_snmptranslate_resolves_names() -> None:
    out = subprocess.run(["snmptranslate", "-M", str(MIB_DIR), "-m", MIB_NAME, "-On",
                          f"{MIB_NAME}::ccaQueueAbandonRate", f"{MIB_NAME}::ccaAlarmRaised"],
                         capture_output=True, text=True, timeout=30, check=True).stdout.split()
    assert out == [".1.3.6.1.4.1.32473.1.5.1.8", ".1.3.6.1.4.1.32473.0.1"]


def test_pysmi_compiles_it(tmp_path: Path) -> None:
    from pysmi.codegen.pysnmp import PySnmpCodeGen
    from pysmi.compiler import MibCompiler
    from pysmi.parser.smi import parserFactory
    from pysmi.reader.localfile import FileReader
    from pysmi.searcher.pyfile import PyFileSearcher
    from pysmi.writer.pyfile import PyFileWriter

    compiler = MibCompiler(parserFactory()(), PySnmpCodeGen(), PyFileWriter(str(tmp_path)))
    compiler.add_sources(FileReader(str(MIB_DIR)))
    compiler.add_searchers(PyFileSearcher(str(tmp_path)))
    results = compiler.compile(MIB_NAME)
    assert results[MIB_NAME] == "compiled", results
    assert (tmp_path / f"{MIB_NAME}.py").stat().st_size > 10_000
