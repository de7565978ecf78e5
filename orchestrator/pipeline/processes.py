"""Whether a process recorded by pid is still there: for job directories, the workspace's running
actions, the reconcile sensor's run workers and the local stack."""

import os


def pid_alive(pid: int) -> bool:
    """True while a process with this pid exists, ours or another user's (PermissionError: it exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
