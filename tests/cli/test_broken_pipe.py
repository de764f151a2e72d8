import os
import subprocess
import sys

from oauthcli.store import User, UserStore


def test_reader_closing_the_pipe_is_not_an_error(tmp_path):
    path = tmp_path / "users.toml"
    store = UserStore(path)
    with store.edit(create=True) as data:
        for i in range(3000):
            data.users[f"user{i}"] = User(f"user{i}", "$2b$04$" + "x" * 53, scopes=["me"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "oauthcli", "user", "list", "--store", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("OAUTHCLI_")},
    )
    assert proc.stdout.read(8) == b"USERNAME"
    proc.stdout.close()  # like `| head -c 8`
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0
    assert stderr == b""
