"""The one exception type users see.

Anything a user can cause (a bad prompt, an absurd duration, a missing or corrupt file, an unmapped skeleton, a
missing backend) raises `MotionError` with a one-line message that says what to do. The CLI prints it as
`error: <message>` and exits with status 2; the Blender add-on shows it in the panel and changes nothing.
Programming errors stay `ValueError` / `TypeError` and keep their tracebacks.
"""


class MotionError(Exception):
    """A user-facing failure with a one-line, actionable message."""
