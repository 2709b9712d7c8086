"""Version of mmvireid."""
import re

__version__ = '0.1.0'


def parse_version_info(version_str: str) -> tuple:
    """Parse a version string like ``'0.1.0'`` or ``'0.1.0rc1'``.

    Args:
        version_str (str): The version string.

    Returns:
        tuple: Integer parts followed by a pre-release tag if any, e.g.
        ``(0, 1, 0, 'rc1')``.
    """
    info = []
    for piece in version_str.split('.'):
        match = re.fullmatch(r'(\d+)(.*)', piece)
        if match is None:
            info.append(piece)
            continue
        info.append(int(match.group(1)))
        if match.group(2):
            info.append(match.group(2))
    return tuple(info)


version_info = parse_version_info(__version__)
