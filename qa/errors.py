"""The few exception classes of the library; edges (CLI, web app) turn them into messages."""


class QAError(Exception):
    """Base class: every error the library raises on purpose."""


class ConfigError(QAError):
    """A setting has a value that cannot work."""


class DocumentError(QAError):
    """A document could not be read or holds no text."""


class EmptyCorpusError(QAError):
    """There are no usable documents to index."""


class IndexNotFoundError(QAError):
    """No index exists at the given path."""


class IndexMismatchError(QAError):
    """The index was built with other settings (model, chunking) or another format version."""


class IndexCorruptError(QAError):
    """The index files are missing, truncated or unreadable."""


class ModelLoadError(QAError):
    """The embedding model could not be loaded."""


class QuestionError(QAError):
    """The question is empty or too long to answer."""


class PortBusyError(QAError):
    """The address the web chat should listen on is taken by another program."""
