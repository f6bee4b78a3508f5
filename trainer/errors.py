"""User-facing errors of the trainer: the CLI prints their message on one line and exits non-zero."""


class TrainerError(Exception):
    """A problem with the user's input (corpus, config, run directory), not a bug."""


class CorpusError(TrainerError):
    """The corpus cannot be found, fetched, verified or decoded."""


class VocabularyError(TrainerError):
    """Text and vocabulary disagree (unseen characters, a drifted vocabulary file)."""


class ConfigError(TrainerError):
    """A training or search-space configuration is invalid."""


class RunError(TrainerError):
    """A run or checkpoint directory is missing, incomplete or corrupted."""


class ExportError(TrainerError):
    """A model cannot be exported: the model base path is unusable, or the export does not load."""
