"""Annotation: texts in memory (:mod:`.texts`), files streamed and resumable (:mod:`.files`),
with one options object (:mod:`.options`) and pluggable engines (:mod:`.engines`)."""

from eqn.annotation.engines import Engine, FileEngine, LocalEngine
from eqn.annotation.files import annotate_file, annotate_paths
from eqn.annotation.options import AnnotateOptions
from eqn.annotation.texts import FLAG_COLUMN, AnnotationSummary, annotate_texts

__all__ = [
    "FLAG_COLUMN",
    "AnnotateOptions",
    "AnnotationSummary",
    "Engine",
    "FileEngine",
    "LocalEngine",
    "annotate_file",
    "annotate_paths",
    "annotate_texts",
]
