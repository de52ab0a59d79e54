"""Where embedlab keeps files it builds: unpacked models and cached embeddings."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "CACHE_ENV_VAR"]

#: Set this environment variable to move every embedlab cache (models, embeddings).
CACHE_ENV_VAR = "EMBEDLAB_CACHE_DIR"


def cache_dir() -> Path:
    """The embedlab cache folder (``$EMBEDLAB_CACHE_DIR`` or the per-user cache dir).

    Example:
        >>> cache_dir()
        # PosixPath('/home/me/.cache/embedlab')
    """
    env = os.environ.get(CACHE_ENV_VAR, "").strip()
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("embedlab", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path
