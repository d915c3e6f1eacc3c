"""Archives by name (config key `archive`)."""

from discover.archives.base import ARCHIVES, Archive, Member, register_archive
from discover.archives import ranked  # noqa: F401,E402  (registers "ranked")
from discover.archives import pareto  # noqa: F401,E402  (registers "pareto")

__all__ = ["ARCHIVES", "Archive", "Member", "register_archive"]
from discover.archives import islands, map_elites  # noqa: F401,E402  (register "islands", "map-elites")
