"""The README's curl session works when pasted, against a live runtime on both backends."""

import os
import re
import subprocess

from orchestrator.client_config import save_credentials
from tests.conftest import REPO_ROOT


def curl_session() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## A curl session", 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_curl_session(store, server, tmp_path):
    store.create_user("local-admin", "pw", is_admin=True)
    home = tmp_path / "home"
    env = {**os.environ, "ORCHESTRATOR_HOME": str(home)}
    save_credentials(home, server, "local-admin", "pw")
    script = curl_session().replace("API=http://127.0.0.1:8000", f"API={server}")
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "second claim: 409" in proc.stdout
    assert "\nsucceeded\n" in proc.stdout
    assert '"checksums":[{"type":"sha-256"' in proc.stdout
