"""Progress lines go to the stderr of the command that is running, not of an earlier one."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from corpusforge.cli.main import _log_progress


def test_a_second_command_logs_to_its_own_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("corpusforge")
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    _log_progress(plain=True)
    logger.info("first command")
    first.close()  # what CliRunner does when an invocation ends
    monkeypatch.setattr(sys, "stderr", second)
    _log_progress(plain=True)
    logger.info("second command")
    assert "second command" in second.getvalue()
    assert "Logging error" not in second.getvalue()
    assert len([h for h in logger.handlers if getattr(h, "corpusforge_cli", False)]) == 1
