"""All errors a user can cause, in one place.

Every class also subclasses the fitting built-in, so generic handlers keep working. A message
names the file, key path or node, what was found and what would be valid. The CLI prints an
:class:`AccelsimError` on one line and exits non-zero; any other exception is a bug.
"""


class AccelsimError(Exception):
    """Base of every error a user can cause."""


class ConfigError(AccelsimError, ValueError):
    """A config, sweep file, energy table or CLI value is malformed or impossible."""


class InputFileError(AccelsimError, ValueError):
    """A file the user named is missing, unreadable, corrupt or of the wrong shape."""


class UnsupportedOpError(AccelsimError, NotImplementedError):
    """A model holds an operator (or attribute) the importer, quantizer or datapath cannot handle."""


class MappingError(AccelsimError, ValueError):
    """A layer cannot be mapped onto the configured hardware (e.g. a tile larger than its SRAM)."""


class NotCalibratedError(AccelsimError, AttributeError):
    """A learned value (threshold, step) was read before any statistics were collected."""


class SchemaVersionError(AccelsimError, ValueError):
    """A descriptor file or results store was written by an incompatible accelsim version."""


class OutputFileError(AccelsimError, OSError):
    """A file or folder accelsim must write cannot be written (no space, read-only, permission, path too long)."""


class AccelsimWarning(UserWarning):
    """A clamp or fallback accelsim made on the user's behalf (e.g. a calibration batch larger than its
    data set); the run goes on, and the line is recorded in ``summary.json`` under ``warnings``."""
