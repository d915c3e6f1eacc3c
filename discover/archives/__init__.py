"""Archives by name (config key `archive`)."""

from discover.archives.base import ARCHIVES, Archive, Member, register_archive
from discover.archives import ranked  # noqa: F401,E402  (registers "ranked")

__all__ = ["ARCHIVES", "Archive", "Member", "register_archive"]
