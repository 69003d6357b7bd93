"""Pure helpers every layer shares: kinds, object keys, quantities, labels and selectors."""
