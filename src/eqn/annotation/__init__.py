"""Annotation: texts in memory (:mod:`.texts`) and files, streamed and resumable (:mod:`.files`)."""

from eqn.annotation.files import annotate_file, annotate_paths
from eqn.annotation.texts import FLAG_COLUMN, AnnotationSummary, annotate_texts

__all__ = ["FLAG_COLUMN", "AnnotationSummary", "annotate_file", "annotate_paths", "annotate_texts"]
