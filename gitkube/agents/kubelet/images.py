"""Images: whether a container's image is there, pulling it per ``imagePullPolicy``, and the
pull back-off (upstream's ``images`` package).

``image_step(policy, present, retry_at, now)`` decides purely: use the image, wait for it
(ErrImageNeverPull, or ImagePullBackOff until ``retry_at``) or pull it. ``ImageCache`` asks
the runtime: an image seen present is trusted for ``ttl`` seconds (a burst of replicas asks
once) and forgotten when a container fails to be created; an image's USER is asked once.
"""

from __future__ import annotations

import threading
import time
from typing import Literal

from gitkube.agents.kubelet.actions import Backoff
from gitkube.runtime.base import ContainerRuntime

IMAGE_TTL = 30.0  # seconds an image seen present is not looked up again
ImageStep = Literal["use", "never", "back-off", "pull"]


def image_step(policy: str, present: bool, retry_at: float, now: float) -> ImageStep:
    """What to do about a container's image: ``use`` it (present, and the policy does not
    ask for a pull), ``never`` (missing with policy Never), ``back-off`` (a pull failed and
    ``retry_at`` is still ahead) or ``pull``."""
    if policy == "Never":
        return "use" if present else "never"
    if present and policy == "IfNotPresent":
        return "use"
    return "back-off" if now < retry_at else "pull"


def pull_delay(failures: int, backoff: Backoff) -> float:
    """Seconds before pulling again after ``failures`` failed pulls in a row."""
    return float(min(backoff.base * 2 ** (failures - 1), backoff.max))


class ImageCache:
    """The runtime's images as the kubelet remembers them (thread-safe)."""

    def __init__(self, runtime: ContainerRuntime, *, ttl: float = IMAGE_TTL):
        self.runtime = runtime
        self.ttl = ttl
        self._present: dict[str, float] = {}  # image ref -> when last seen present
        self._users: dict[str, str] = {}  # image ref -> its USER (securityContext)
        self._lock = threading.Lock()

    def present(self, image: str) -> bool:
        """Whether the image is there (a positive answer is trusted for ``ttl`` s)."""
        with self._lock:
            seen = self._present.get(image)
        if seen is not None and time.monotonic() - seen < self.ttl:
            return True
        present = self.runtime.image(image) is not None
        if present:
            with self._lock:
                self._present[image] = time.monotonic()
        return present

    def forget(self, image: str) -> None:
        """Look the image up again next time (a container of it could not be created)."""
        with self._lock:
            self._present.pop(image, None)

    def user(self, image: str) -> str:
        """The image's USER ("" when it sets none, or is missing); asked once per image."""
        with self._lock:
            user = self._users.get(image)
        if user is None:
            info = self.runtime.image(image)
            user = info.user if info is not None else ""
            with self._lock:
                self._users[image] = user
        return user


__all__ = ["IMAGE_TTL", "ImageCache", "ImageStep", "image_step", "pull_delay"]
