"""``make lab`` where classes run it: as root, on a chosen port and address, and with
terminals whose ``python`` is this environment's whatever ``~/.bashrc`` puts first."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pdsgd.course import lab

ROOT = Path(__file__).resolve().parents[1]
BIN = str(Path(sys.executable).parent)


def _hostile_home(tmp_path):
    """A home whose ~/.bashrc puts a pyenv-like ``python`` (one without pdsgd) first."""
    shims = tmp_path / "pyenv" / "shims"
    shims.mkdir(parents=True)
    fake = shims / "python"
    fake.write_text("#!/bin/sh\necho 'pyenv python: no pdsgd here' >&2\nexit 3\n")
    fake.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text(f'export PATH="{shims}:$PATH"\nexport FROM_BASHRC=yes\n')
    return home


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_terminal_shell_finds_this_python_even_when_bashrc_puts_pyenv_first(tmp_path):
    home = _hostile_home(tmp_path)
    env = lab.environment({"PATH": "/usr/bin:/bin", "HOME": str(home),
                           "SHELL": shutil.which("bash")})
    # What the terminal runs, fed the lines a student types.
    typed = 'echo "rc=$FROM_BASHRC"\npython -c "import pdsgd; print(pdsgd.__name__)"\nexit\n'
    done = subprocess.run(lab.shell_command(env), input=typed, env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert "rc=yes" in done.stdout, "the user's ~/.bashrc is still read"
    assert "pdsgd" in done.stdout.splitlines(), done.stderr[-2000:]
    assert "no pdsgd here" not in done.stderr
    # Without the launcher's start-up file, the same home shadows the environment's python.
    plain = subprocess.run([shutil.which("bash"), "-i"], input=typed, env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert "no pdsgd here" in plain.stderr


def test_as_root_the_launcher_adds_allow_root_and_only_then(monkeypatch):
    monkeypatch.setattr(lab, "is_root", lambda: True)
    assert lab.command("notebooks").count("--allow-root") == 1
    assert lab.command("notebooks", "--allow-root").count("--allow-root") == 1
    monkeypatch.setattr(lab, "is_root", lambda: False)
    assert "--allow-root" not in lab.command("notebooks")


def test_other_shells_are_started_as_they_are():
    assert lab.shell_command({"SHELL": "/usr/bin/zsh"}) == ["/usr/bin/zsh"]
    assert lab.shell_command({}) == ["/bin/sh"]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("variables,passed", [
    ([], []),
    (["PORT=8890"], ["--port=8890"]),
    (["PORT=8890", "IP=0.0.0.0"], ["--port=8890", "--ip=0.0.0.0"]),
])
def test_make_lab_passes_port_and_ip(variables, passed):
    # make -n prints the command without running it (the stamp is up to date here).
    done = subprocess.run(["make", "-n", "-o", ".venv/.installed", "lab", *variables],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    line = next(x for x in done.stdout.splitlines() if "pdsgd.course.lab" in x)
    assert line.split()[4:] == passed, line
