"""The word count's helper module, shipped to the driver and the executors in `textutil.zip`
(`py_files`)."""

# A Java regular expression (Spark's `split`): anything that is not a letter or a digit.
SEPARATORS = "[^\\p{L}\\p{N}]+"


def normalize(word):
    """The word as counted: lower case, without surrounding blanks."""
    return (word or "").strip().lower()
