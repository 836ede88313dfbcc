"""The WSGI entry point for gunicorn reads a configuration with chat sections, as serve does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wsgi_app_registers_the_chat_platforms_before_reading_the_settings(tmp_path: Path) -> None:
    config = tmp_path / "listbridge.toml"
    config.write_text(
        '[site]\nmail_domain = "lists.example.org"\nsecret_key = "0123456789abcdef0123"\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "listbridge.db"}"\n'
        '[slack]\nbot_token = "xoxb-test"\nsigning_secret = "secret"\n'
    )
    result = subprocess.run(
        [sys.executable, "-c", "from listbridge.wsgi import app; print(app.name)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LISTBRIDGE_CONFIG": str(config)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "web.app\n"
