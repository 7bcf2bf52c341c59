"""Exception types raised by keras_ae.

Every error subclasses a built-in type users already catch (``ValueError``,
``FileNotFoundError``), so ``except ValueError`` keeps working, while
``except keras_ae.KerasAEError`` catches everything the toolkit raises on purpose.
"""

from __future__ import annotations


class KerasAEError(Exception):
    """Base class of every error keras_ae raises deliberately."""


class InputValidationError(KerasAEError, ValueError):
    """Data or arguments with the wrong shape, dtype, range or values (NaN, inf, empty)."""


class UnknownNameError(KerasAEError, ValueError):
    """An unknown dataset, model, noise or loss name. The message lists the valid ones."""


class DatasetNotAvailableError(KerasAEError, FileNotFoundError):
    """A dataset could not be read or downloaded. The message names the file to provide."""


class TrainingDivergedError(KerasAEError, RuntimeError):
    """Training produced a NaN or infinite loss."""
