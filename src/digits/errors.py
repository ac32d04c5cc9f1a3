"""The one error type that user-caused data problems raise."""


class DataError(Exception):
    """A problem with user input or data files, reported as one line with exit status 2."""
