"""Server-side apply: field ownership as upstream's structured-merge-diff defines it.

``shape`` reads list and map semantics from gitkube's schemas; ``fieldset`` holds field sets
in the FieldsV1 encoding; ``merge`` merges an applied configuration and removes dropped
fields; ``managed`` runs an Apply or an Update over ``metadata.managedFields``. All pure:
the api layer (gitkube/api/local.py) reads, calls them and writes. docs/SSA.md explains.
"""
