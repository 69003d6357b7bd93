"""What keeps ``gitkube watch`` from deleting live objects by mistake (pure decisions).

- **A file being written is not a deletion.** Shell redirection (``gen > app.yaml``)
  truncates the file first; an editor may write it in two steps. A file that gave objects in
  the last good state and gives none now while it still exists is *in progress*: the loop
  waits for it to settle (at most ``SETTLE_BOUND`` seconds) before it reconciles, so its
  objects are not pruned and re-created. (A file that stops parsing already applies nothing:
  invalid manifests keep the last good state.) A file that is removed is a deletion.
- **A large prune is looked at twice.** A reconcile that would delete more than
  ``max_objects`` objects, or more than ``max_fraction`` of the objects the source owns,
  applies its other changes and holds the deletions until the next look (a moment later)
  sees the very same deletions — as Flux's and Argo CD's prune safety guard against a
  half-checked-out tree or a directory being regenerated. ``--allow-large-prune`` skips it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from gitkube.model.objects import ObjectRef
from gitkube.plan.planner import Desired

SETTLE_BOUND = 5.0   # seconds an emptied file may stay empty before that counts as meant
SETTLE_STEP = 0.3    # seconds between looks at a file that is being written
CONFIRM_DELAY = 1.0  # seconds before a held prune is looked at again


@dataclass(frozen=True)
class PruneSafety:
    """When a prune is large enough to need a second look (or ``--allow-large-prune``)."""

    max_objects: int = 10
    max_fraction: float = 0.5

    def large(self, deleting: int, owned: int) -> str | None:
        """Why deleting ``deleting`` of the ``owned`` objects is large, or None."""
        if deleting > self.max_objects:
            return f"{deleting} deletions (more than {self.max_objects})"
        if deleting > 1 and owned > 0 and deleting / owned > self.max_fraction:
            return (f"{deleting} deletions of the {owned} objects this source owns (more than "
                    f"{self.max_fraction:.0%})")
        return None


def files_in_progress(last_good: Sequence[Desired], desired: Sequence[Desired],
                      exists: Callable[[str], bool]) -> list[str]:
    """Files that gave objects in the last good state, give none now, and still exist."""
    before = {d.file for d in last_good if d.file}
    now = {d.file for d in desired if d.file}
    return sorted(f for f in before - now if exists(f))


def confirmed(pending: frozenset[ObjectRef] | None, deleting: Iterable[ObjectRef]) -> bool:
    """Whether this look's deletions are exactly the held ones (the second observation)."""
    return pending is not None and pending == frozenset(deleting)


__all__ = ["CONFIRM_DELAY", "SETTLE_BOUND", "SETTLE_STEP", "PruneSafety", "confirmed",
           "files_in_progress"]
