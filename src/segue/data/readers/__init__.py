"""Readers: listening logs in many formats in, one canonical :class:`EventLog` out.

``read_log(source, format=None, columns=None, *, user=None, **options)`` reads a file, a folder
or a .zip (or a list of them), in any mix of formats and people; :data:`FORMATS` lists the
formats it knows. ``segue.concat_logs`` merges logs read separately.
"""

from segue.data.readers.formats import FORMATS
from segue.data.readers.read_log import read_log

__all__ = ["FORMATS", "read_log"]
