"""Pure helpers every layer shares: kinds, object keys, quantities, labels and selectors,
typed views of objects, and the one home of each Kubernetes rule several layers apply
(timestamps, conditions, pod state, rollout status, scheduling predicates, printers)."""
