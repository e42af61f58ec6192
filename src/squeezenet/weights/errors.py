"""The one exception type for weights that cannot be found, read or fitted."""


class WeightsError(ValueError):
    """A weights file is missing, corrupt, of the wrong format or does not fit the model.

    The message always names the file (or URL) and what is wrong with it.
    """
