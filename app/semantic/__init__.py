"""The semantic layer: YAML entities that tell the agent what the data means.

Per-org entities live in the semantic_entities table (the truth) and are
synced to ``{semantic_root}/.orgs/{orgId}/entities/``; the default layer,
used without an org, is ``{semantic_root}/entities/``. See semantic/README.md.
"""
from __future__ import annotations

from app.semantic.layer import SemanticLayer
from app.semantic.schema import validate_entity_name, validate_entity_yaml

__all__ = ["SemanticLayer", "validate_entity_name", "validate_entity_yaml"]
