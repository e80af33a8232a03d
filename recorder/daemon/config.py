"""The daemon's configuration: one frozen, validated object built at the edge.

Sources, later ones winning: the TOML file (``--config``), environment variables
``TICKTAPE_<SECTION>__<KEY>`` (e.g. ``TICKTAPE_RECORDER__DATA=/srv/data``,
``TICKTAPE_SUPERVISION__STALE_AFTER_S=30``), then command-line flags. Everything is
checked before anything is refused: one ``ConfigError`` names every problem found (each
with its key; ``.problems`` lists them), and the CLI turns it into exit status 2.

With ``dashboard = true`` and no ``log_file``, the JSON log lines go to
``DATA/logs/recorder.jsonl`` (``DASHBOARD_LOG``): the live view owns the terminal.

``config_hash`` is written into every stream the daemon registers, so a recording
says which configuration produced it. It covers what shapes the recording (venues,
symbols, channels, URLs, supervision), not how the daemon is watched (logs, metrics
port, dashboard, duration).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from recorder.errors import ConfigError
from recorder.journal.remote import said_url
from recorder.journal.writer import DURABILITY, shard_problem
from recorder.venues import VENUES as DESCRIPTORS
from recorder.venues.base import origin
from recorder.venues.descriptor import VenueOption
from recorder.venues.instruments import instruments_for
from recorder.venues.universe import ALL

VENUES = tuple(DESCRIPTORS)
ENV_PREFIX = "TICKTAPE_"
# The [[venue]] keys a venue owns (its default and its check), whichever venue declares them.
OPTIONS: dict[str, VenueOption] = {o.key: o for d in DESCRIPTORS.values() for o in d.options}
# Fields that change how the daemon is observed, not what it records: not hashed.
_UNHASHED = frozenset({"dashboard", "duration_s", "log_file", "log_level", "metrics_port",
                       "metrics_host", "compaction", "influx", "publish", "broker"})
# Sections whose job runs as a hook registered from outside ``recorder`` (an entry point of
# the same name in the ``ticktape.recorder_hooks`` group; see recorder.daemon.hooks).
HOOK_SECTIONS = ("compaction", "influx")
SECTIONS = ("recorder", "supervision", "projection", "publish", "listing", "tier", "shard", "broker",
            *HOOK_SECTIONS)
TIERS = ("", "short")
# Upbit's announcement list (not part of its Open API; see recorder.listing) and market list
NOTICE_URL = ("https://api-manager.upbit.com/api/v1/announcements"
              "?os=web&page=1&per_page=20&category=trade")
MARKET_URL = "https://api.upbit.com/v1/market/all?isDetails=false"
# Where JSON log lines go with the dashboard on and no ``log_file``: DATA/logs/recorder.jsonl
DASHBOARD_LOG = "logs/recorder.jsonl"


@dataclass(frozen=True, slots=True)
class VenueConfig:
    """One venue to record: which symbols and channels, where, and venue-specific knobs."""

    venue: str
    symbols: tuple[str, ...]
    channels: tuple[str, ...]
    ws_url: str = ""  # "" = the venue's default; only scheme/host/port are used
    rest_url: str = ""
    snapshots: bool = True  # diff depth of a venue with snapshots: REST snapshot on start/reconnect/gap
    snapshot_limit: int = OPTIONS["snapshot_limit"].default  # Binance /fapi/v1/depth limit (weight 20 at 1000)
    weight_limit_per_min: int = OPTIONS["weight_limit_per_min"].default  # Binance REQUEST_WEIGHT per IP
    rotate_after_s: float = OPTIONS["rotate_after_s"].default  # Binance cuts at 24 h
    subscribe: bool = OPTIONS["subscribe"].default  # Binance: SUBSCRIBE messages instead of streams in the URL
    format: str = OPTIONS["format"].default  # Upbit: DEFAULT or SIMPLE field names
    ping_interval_s: float = OPTIONS["ping_interval_s"].default  # Upbit text PING cadence
    max_streams_per_connection: int = 200  # Binance streams / Upbit codes per connection
    # The symbol universe (recorder.venues.universe): symbols = "all", globs over the venue's
    # list, and "not a KRW market on Upbit". ``listing``: fetch the list at start (refusing
    # a symbol it lacks) and every supervision.universe_refresh_s (marking what changed).
    market: str = ""  # "" = the venue's first market (Gate spot, Bybit spot...)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    not_on_upbit_krw: bool = False
    listing: bool = True
    # "short": journaled into the tier (DATA/tier, [tier] retention_hours), not the journal;
    # for the "not yet on Upbit" universe the listing watcher cuts its capture windows from
    tier: str = ""

    @property
    def ws_base(self) -> str:
        return self.ws_url or DESCRIPTORS[self.venue].ws_url

    @property
    def rest_base(self) -> str:
        return self.rest_url or DESCRIPTORS[self.venue].rest_url


@dataclass(frozen=True, slots=True)
class Supervision:
    """Reconnect, watchdog and rotation timing shared by every connection (seconds)."""

    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    backoff_factor: float = 2.0
    jitter: float = 0.5  # fraction of each backoff step drawn at random
    rate_limit_cooldown_s: float = 60.0  # after a 429 without Retry-After
    ip_ban_cooldown_s: float = 300.0  # after a 418 without Retry-After
    stale_after_s: float = 60.0  # no data frame for this long: reconnect
    open_timeout_s: float = 10.0  # WebSocket handshake
    close_timeout_s: float = 2.0
    rotation_overlap_s: float = 2.0  # both connections record this long after the new one delivers
    rotation_deliver_timeout_s: float = 30.0  # give up waiting for the replacement's first frame
    max_frame_bytes: int = 64 << 20  # larger frames close the connection (1009)
    compression: bool = True  # permessage-deflate
    rest_timeout_s: float = 10.0
    seed: int | None = None  # jitter seed; None = fresh randomness per run
    universe_refresh_s: float = 3600.0  # refetch each venue's instrument list; 0 = never


@dataclass(frozen=True, slots=True)
class ProjectionConfig:
    """The live in-process projection and its checkpoints."""

    enabled: bool = True
    depth_levels: int = 20
    checkpoint_every_records: int = 200_000
    checkpoint_every_s: float = 300.0


@dataclass(frozen=True, slots=True)
class PublishConfig:
    """The live table other processes attach to, and the control socket (``publish``,
    ``control``): how the recorder is read, not what it records (not hashed)."""

    enabled: bool = True  # the table needs the projection; the control socket does not
    depth: int = 10  # book levels a side in each row
    rows: int = 4096  # symbols the table holds
    row_bytes: int = 4096  # bytes a row holds (header and key included)
    dir: str = ""  # "" = /dev/shm when it exists, else DATA/live
    batch: bool = True  # a row once per loop turn (a socket read's frames), not per record


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Publishing every committed record to NATS JetStream (``recorder.daemon.broker``) for
    followers on other hosts: how the recorder is read, not what it records (not hashed)."""

    url: str = ""  # "" = off; "nats://host:4222"
    queue: int = 64  # record batches waiting for the broker; past it a batch is dropped (and
    # recovered from the journal before anything newer is published)
    batch_records: int = 1024  # records a batch holds at most (and a message, under max payload)
    stream: str = ""  # "" = TICKTAPE_<SHARD or MAIN>; else this prefix + "_" + the shard
    ack_timeout_s: float = 5.0
    max_age_h: float = 0.0  # the stream's age limit when the publisher creates it; 0 = keep all


@dataclass(frozen=True, slots=True)
class CompactionConfig:
    """Nightly compaction of finished journal days into the Parquet archive (``query``)."""

    enabled: bool = True
    hour: int = 0  # UTC
    minute: int = 10
    catch_up: bool = True  # also run at start: a night the daemon was down is made up
    keep_days: int = 2  # journal days kept after they are archived
    derived: bool = True  # also write the derived tables (trades, quotes, features, ...)
    # where the archive goes: "" = DATA/archive, else a directory or s3://bucket/prefix
    # (endpoint and keys from AWS_* or the AWS shared files, never from this file)
    archive: str = ""


@dataclass(frozen=True, slots=True)
class InfluxConfig:
    """Optional InfluxDB sink: 1 s features and 1 m bars from the live projection."""

    enabled: bool = False
    url: str = ""  # e.g. http://127.0.0.1:8086
    token: str = ""  # better given as TICKTAPE_INFLUX__TOKEN than written in the file
    org: str = ""
    bucket: str = "ticktape_raw"  # features (retention 7 d)
    bars_bucket: str = "ticktape_1m"  # 1 m bars (retention 30 d)
    feature_interval_ms: int = 1000
    batch_size: int = 5000
    flush_interval_s: float = 1.0
    max_pending: int = 200_000  # points queued; beyond it points are dropped and counted
    max_retries: int = 5
    push_interval_s: float = 1.0  # how often the daemon hands finished rows to the sink


@dataclass(frozen=True, slots=True)
class ListingConfig:
    """``[listing]``: the Upbit listing watcher (``recorder.listing``) inside ``recorder run``.

    It polls the notice board every ``interval_ms`` and Upbit's market list every
    ``market_interval_ms`` (a second signal); ``--notice-url``/``--market-url`` replace only
    scheme, host and port. A detected KRW listing pins ``before_s`` .. ``after_s`` around
    its announcement on the overseas venues being recorded.
    """

    enabled: bool = False
    notice_url: str = NOTICE_URL
    market_url: str = MARKET_URL
    interval_ms: int = 1000  # the board is behind Cloudflare: faster polling meets 429s
    market_interval_ms: int = 5000
    timeout_s: float = 5.0
    max_backoff_s: float = 300.0
    before_s: float = 20.0
    after_s: float = 40.0


@dataclass(frozen=True, slots=True)
class TierConfig:
    """``[tier]``: the journal of the venues with ``tier = "short"`` (``DATA/tier``): hour
    segments, each deleted once ``retention_hours`` old unless a capture window needs it."""

    retention_hours: float = 6.0
    check_every_s: float = 60.0


@dataclass(frozen=True, slots=True)
class ShardConfig:
    """``[shard]``: this recorder's shard when several recorders feed one archive, each with
    its own journal. ``name`` (lowercase ``[a-z0-9-]{1,32}``) is what the archive and the
    queries call it; ``number`` (1..63) picks its block of stream ids, so no two shards
    ever give one id (``recorder.journal.writer``). No section: unsharded ("", 0)."""

    name: str = ""
    number: int = 0

    @property
    def sharded(self) -> bool:
        return bool(self.name or self.number)


@dataclass(frozen=True, slots=True)
class RecorderConfig:
    """Everything ``recorder run`` needs; build it with ``load_config``."""

    data: str
    venues: tuple[VenueConfig, ...]
    durability: str = "fsync"
    committer: str = "process"  # who does the LMDB puts and fsyncs: "process" or "thread"
    commit_interval_ms: float = 10.0
    commit_max_records: int = 5000
    max_pending: int = 200_000
    duration_s: float | None = None  # None = until signalled
    metrics_port: int | None = None  # None = no endpoint; 0 = any free port
    metrics_host: str = "127.0.0.1"
    log_file: str = ""  # "" = stderr (with the dashboard on: DATA/logs/recorder.jsonl)
    log_level: str = "info"
    dashboard: bool = False
    supervision: Supervision = field(default_factory=Supervision)
    projection: ProjectionConfig = field(default_factory=ProjectionConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)
    compaction: CompactionConfig = field(default_factory=CompactionConfig)
    influx: InfluxConfig = field(default_factory=InfluxConfig)
    listing: ListingConfig = field(default_factory=ListingConfig)
    tier: TierConfig = field(default_factory=TierConfig)
    shard: ShardConfig = field(default_factory=ShardConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def config_hash(self) -> str:
        """sha256 (first 16 hex) of the canonical JSON of what shapes the recording."""
        d = {k: v for k, v in self.to_dict().items() if k not in _UNHASHED}
        if not self.listing.enabled:  # off, it shapes nothing (and older hashes stay)
            del d["listing"]
        if not any(v.tier for v in self.venues):
            del d["tier"]
        if not self.shard.sharded:  # what [recorder] shard = "" hashed as, before [shard]
            d["shard"] = ""
        for v in d["venues"]:
            if not v["tier"]:
                del v["tier"]
        blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# ---------------------------------------------------------------------------- building


class Problems(list):
    """Every problem found in a configuration, in the order found; checking goes on after
    each, so one run of ``recorder run`` names them all (``raise_if_any``)."""

    def add(self, message: str) -> None:
        self.append(message)

    def raise_if_any(self) -> None:
        if self:
            raise config_error(list(self))


def config_error(problems: list[str]) -> ConfigError:
    """One ``ConfigError`` naming every problem (``.problems`` lists them)."""
    if len(problems) == 1:
        exc = ConfigError(problems[0])
    else:
        exc = ConfigError(f"{len(problems)} problems:\n" + "\n".join(f"  {p}" for p in problems))
    exc.problems = list(problems)  # type: ignore[attr-defined]
    return exc


def _typed(cls: type, raw: Mapping[str, Any], where: str, problems: Problems) -> dict[str, Any]:
    """``raw`` checked against the dataclass ``cls``: known keys, right scalar types.

    A key that is unknown or of the wrong type is reported to ``problems`` and left out.
    """
    known = {f.name: f for f in fields(cls)}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            problems.add(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")
            continue
        try:
            out[key] = _coerce(value, known[key].type, f"{where}.{key}")
        except ConfigError as exc:
            problems.add(str(exc))
    return out


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    ann = str(annotation)
    if "tuple" in ann:
        if isinstance(value, str):
            value = [v for v in re.split(r"[,\s]+", value) if v]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
        return tuple(value)
    if ann.startswith("bool"):
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if value is None and "None" in ann:
        return None
    if ann.startswith(("int", "float")):
        want_int = ann.startswith("int")
        if isinstance(value, str):
            try:
                value = int(value) if want_int else float(value)
            except ValueError:
                raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if want_int and not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value if want_int else float(value)
    if ann.startswith("str"):
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _venue(raw: Any, where: str, problems: Problems) -> VenueConfig | None:
    """The venue table checked; None (its problems reported) when it is not usable."""
    if not isinstance(raw, Mapping):
        problems.add(f"{where}: expected a table, got {raw!r}")
        return None
    before = len(problems)
    d = _typed(VenueConfig, raw, where, problems)
    venue = d.get("venue")
    if venue not in VENUES and not ("venue" in raw and "venue" not in d):  # not a type error told
        problems.add(f"{where}.venue: expected one of {', '.join(VENUES)}, got {venue!r}")
    for key, what in (("symbols", "symbol"), ("channels", "channel")):
        told = key in raw and key not in d  # its type error was reported
        if not d.setdefault(key, ()) and not told and not (key == "symbols" and d.get("include")):
            problems.add(f"{where}.{key}: at least one {what} is required")
    d["symbols"] = tuple(dict.fromkeys(s.upper() for s in d["symbols"]))
    d["channels"] = tuple(dict.fromkeys(d["channels"]))
    desc = DESCRIPTORS.get(venue) if isinstance(venue, str) else None
    if desc is not None:
        _universe(d, venue, where, problems)
        for s in d["symbols"]:
            if s != ALL and not desc.is_symbol(s):
                problems.add(f"{where}.symbols: {s!r} is not a {venue} symbol "
                             f"(e.g. {desc.symbol_example})")
        for ch in d["channels"]:
            if ch not in desc.channels:
                problems.add(f"{where}.channels: {ch!r} is not a {venue} channel "
                             f"(one of {', '.join(desc.channels)})")
    for key in ("ws_url", "rest_url"):
        if d.get(key):
            try:
                origin(d[key])
            except ValueError as exc:
                problems.add(f"{where}.{key}: {exc}")
    if d.get("tier", "") not in TIERS:
        problems.add(f"{where}.tier: \"\" (the journal) or \"short\" (the tier), got {d['tier']!r}")
    if d.get("max_streams_per_connection", 1) < 1 or d.get("weight_limit_per_min", 1) < 1:
        problems.add(f"{where}: max_streams_per_connection and weight_limit_per_min must be >= 1")
    own = {o.key: o for o in desc.options} if desc is not None else {}
    for key, opt in OPTIONS.items():  # a venue-owned key is checked wherever it is given
        opt = own.get(key, opt)  # by this venue's own rule when it has one (market: Gate, Bybit)
        problem = opt.check(d[key]) if key in d else None
        if problem:
            problems.add(f"{where}.{key}: {problem}")
    return VenueConfig(**d) if len(problems) == before else None


def _universe(d: dict[str, Any], venue: str, where: str, problems: Problems) -> None:
    """The universe keys of one venue table checked (market, globs, the Upbit filter)."""
    src = instruments_for(venue)
    market = d.get("market", "")
    if market and "market" not in OPTIONS:  # no venue owns the key: the list's markets say
        markets = src.markets if src is not None else (DESCRIPTORS[venue].market,)
        if market not in markets:
            problems.add(f"{where}.market: {venue} has market {', '.join(markets)}, not {market!r}")
    for key in ("include", "exclude"):
        if any(not p.strip() for p in d.get(key, ())):
            problems.add(f"{where}.{key}: an empty pattern")
    expands = ALL in (s.upper() for s in d.get("symbols", ())) or any(
        d.get(k) for k in ("include", "exclude", "not_on_upbit_krw"))
    if expands and not d.get("listing", True):
        problems.add(f"{where}: symbols = \"all\", include, exclude and not_on_upbit_krw need "
                     "listing = true (they select from the venue's list)")
    if (expands or d.get("listing", True)) and src is None:
        problems.add(f"{where}: no instrument list is known for {venue} (set listing = false "
                     "and name the symbols)")
    if d.get("not_on_upbit_krw") and venue == "upbit":
        problems.add(f"{where}.not_on_upbit_krw: a filter for the other venues, not Upbit")


def _section(raw: Any, name: str, problems: Problems) -> Mapping[str, Any]:
    if isinstance(raw, Mapping):
        return raw
    problems.add(f"[{name}]: expected a table, got {raw!r}")
    return {}


def _supervision(raw: Mapping[str, Any], problems: Problems) -> Supervision:
    s = Supervision(**_typed(Supervision, raw, "supervision", problems))
    if s.backoff_initial_s <= 0 or s.backoff_max_s < s.backoff_initial_s or s.backoff_factor < 1:
        problems.add("supervision: need backoff_initial_s > 0, backoff_max_s >= "
                     "backoff_initial_s, backoff_factor >= 1")
    if not 0 <= s.jitter <= 1:
        problems.add("supervision.jitter: a fraction in [0, 1]")
    for key in ("stale_after_s", "open_timeout_s", "close_timeout_s", "rest_timeout_s",
                "rotation_deliver_timeout_s"):
        if not getattr(s, key) > 0:
            problems.add(f"supervision.{key}: must be > 0")
    if s.rotation_overlap_s < 0 or s.rate_limit_cooldown_s < 0 or s.ip_ban_cooldown_s < 0:
        problems.add("supervision: rotation_overlap_s and cool-downs must be >= 0")
    if s.universe_refresh_s < 0:
        problems.add("supervision.universe_refresh_s: must be >= 0 (0 = never)")
    if s.max_frame_bytes < 1024:
        problems.add("supervision.max_frame_bytes: at least 1024")
    return s


def _projection(raw: Mapping[str, Any], problems: Problems) -> ProjectionConfig:
    p = ProjectionConfig(**_typed(ProjectionConfig, raw, "projection", problems))
    if p.depth_levels < 1 or p.checkpoint_every_records < 1 or p.checkpoint_every_s <= 0:
        problems.add("projection: depth_levels, checkpoint_every_records and "
                     "checkpoint_every_s must be positive")
    return p


def _publish(raw: Mapping[str, Any], problems: Problems) -> PublishConfig:
    p = PublishConfig(**_typed(PublishConfig, raw, "publish", problems))
    if not 1 <= p.depth <= 1000 or not 1 <= p.rows <= 1 << 24:
        problems.add("publish: depth 1..1000 and rows 1..16777216")
    if not 256 <= p.row_bytes <= 1 << 24:
        problems.add("publish.row_bytes: 256..16777216")
    return p


_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # S3's bucket naming rule


def _compaction(raw: Mapping[str, Any], problems: Problems) -> CompactionConfig:
    c = CompactionConfig(**_typed(CompactionConfig, raw, "compaction", problems))
    if not 0 <= c.hour <= 23 or not 0 <= c.minute <= 59:
        problems.add("compaction: hour 0..23 and minute 0..59 (UTC)")
    if c.keep_days < 0:
        problems.add("compaction.keep_days: must be >= 0")
    if c.archive.startswith("s3://"):
        bucket = c.archive[len("s3://"):].partition("/")[0]
        if not _S3_BUCKET.fullmatch(bucket):  # the rest is query.store's to check, at the job
            problems.add(f"compaction.archive: not s3://bucket/prefix with an S3 bucket name "
                         f"(3-63 of a-z 0-9 . -): {c.archive!r}")
    elif "://" in c.archive:
        problems.add(f"compaction.archive: a directory or s3://bucket/prefix, not {c.archive!r}")
    return c


def _listing(raw: Mapping[str, Any], problems: Problems) -> ListingConfig:
    c = ListingConfig(**_typed(ListingConfig, raw, "listing", problems))
    for key in ("notice_url", "market_url"):
        if not getattr(c, key).startswith(("http://", "https://")):
            problems.add(f"listing.{key}: an http(s) URL, got {getattr(c, key)!r}")
    if c.interval_ms < 100 or c.market_interval_ms < 100:
        problems.add("listing: interval_ms and market_interval_ms >= 100 (the venues' limits)")
    if c.timeout_s <= 0 or c.max_backoff_s <= 0:
        problems.add("listing: timeout_s and max_backoff_s must be > 0")
    if c.before_s < 0 or c.after_s <= 0:
        problems.add("listing: before_s >= 0 and after_s > 0")
    return c


def _broker(raw: Mapping[str, Any], problems: Problems) -> BrokerConfig:
    c = BrokerConfig(**_typed(BrokerConfig, raw, "broker", problems))
    if c.url and not c.url.startswith(("nats://", "tls://")):
        problems.add(f"broker.url: nats://host:port, not {said_url(c.url)!r}")
    if c.queue < 1 or c.batch_records < 1 or c.ack_timeout_s <= 0 or c.max_age_h < 0:
        problems.add("broker: queue >= 1, batch_records >= 1, ack_timeout_s > 0 and max_age_h >= 0")
    if c.stream and not c.stream.replace("_", "").replace("-", "").isalnum():
        problems.add("broker.stream: letters, digits, '_' and '-' only")
    return c


def _tier(raw: Mapping[str, Any], problems: Problems) -> TierConfig:
    c = TierConfig(**_typed(TierConfig, raw, "tier", problems))
    if c.retention_hours <= 0 or c.check_every_s <= 0:
        problems.add("tier: retention_hours and check_every_s must be > 0")
    return c


def _shard(raw: Mapping[str, Any], problems: Problems) -> ShardConfig:
    if not raw:
        return ShardConfig()
    given = _typed(ShardConfig, raw, "shard", problems)
    if len(given) != len(raw):  # an unknown key or a wrong type: its problem is told
        return ShardConfig()
    if set(given) != {"name", "number"}:
        problems.add("[shard]: give both name and number (or leave the section out: unsharded)")
        return ShardConfig()
    c = ShardConfig(**given)
    if not c.sharded:  # ("", 0) is "no shard" to the journal; a section that is there names one
        problems.add("[shard]: name (1 to 32 of a-z, 0-9 and '-') and number (1..63) name a "
                     "shard; leave the section out to record unsharded")
    elif problem := shard_problem(c.name, c.number):
        problems.add(f"[shard]: {problem}")
    return c


def _influx(raw: Mapping[str, Any], problems: Problems) -> InfluxConfig:
    c = InfluxConfig(**_typed(InfluxConfig, raw, "influx", problems))
    if not c.enabled:
        return c
    for key in ("url", "org", "bucket"):
        if not getattr(c, key):
            problems.add(f"influx.{key}: required when influx.enabled = true")
    if c.url and not c.url.startswith(("http://", "https://")):
        problems.add(f"influx.url: an http(s) URL, got {c.url!r}")
    if (c.feature_interval_ms < 1 or c.batch_size < 1 or c.max_pending < 1 or c.max_retries < 0
            or c.flush_interval_s <= 0 or c.push_interval_s <= 0):
        problems.add("influx: feature_interval_ms, batch_size, max_pending, flush_interval_s "
                     "and push_interval_s must be positive, max_retries >= 0")
    return c


def build_config(doc: Mapping[str, Any], *, problems: list[str] | None = None) -> RecorderConfig:
    """A validated ``RecorderConfig`` from a TOML-shaped mapping (see recorder.example.toml).

    Checks everything before it raises: the one ``ConfigError`` names every problem
    (an unknown key and a missing venue alike), ``problems`` (found earlier, e.g. in the
    environment) first.
    """
    found = Problems(problems or ())
    known = {*SECTIONS, "venue"}
    for key in doc:
        if key not in known:
            found.add(f"unknown section [{key}] (known: {', '.join(sorted(known))})")
    rec = dict(_section(doc.get("recorder", {}), "recorder", found))
    rec.pop("venues", None)
    if rec.pop("shard", "") not in ("", None):  # "" was the default of the key it replaces
        found.add("recorder.shard: moved to a [shard] section, with name and number (1..63)")
    d = _typed(RecorderConfig, {k: v for k, v in rec.items() if k not in SECTIONS},
               "recorder", found)
    venues_raw = doc.get("venue", [])
    if isinstance(venues_raw, Mapping):
        venues_raw = [venues_raw]
    if not isinstance(venues_raw, list):
        found.add(f"[[venue]]: expected tables, got {venues_raw!r}")
        venues_raw = []
    listing_on = _section(doc.get("listing", {}), "listing", Problems()).get("enabled") is True
    if not venues_raw and not listing_on:
        found.add("no venue to record: add a [[venue]] table or pass --venue/--symbols/--channels")
    checked = [_venue(v, f"venue[{i}]", found) for i, v in enumerate(venues_raw)]
    venues = tuple(v for v in checked if v is not None)
    names = [v.venue for v in venues]
    if len(set(names)) != len(names):
        found.add("venue: each venue may appear once (put all its symbols in one table)")
    if "data" not in d or not d["data"]:
        found.add("recorder.data: the data directory is required")
    if d.get("durability", "fsync") not in DURABILITY:
        found.add(f"recorder.durability: one of {', '.join(DURABILITY)}")
    if d.get("committer", "process") not in ("process", "thread"):
        found.add("recorder.committer: \"process\" or \"thread\"")
    port = d.get("metrics_port")
    if port is not None and not 0 <= port <= 65535:
        found.add("recorder.metrics_port: 0..65535 (0 = any free port)")
    if d.get("duration_s") is not None and not d["duration_s"] > 0:
        found.add("recorder.duration_s: must be > 0")
    if d.get("log_level", "info") not in ("debug", "info", "warning", "error"):
        found.add("recorder.log_level: debug, info, warning or error")
    if d.get("commit_interval_ms", 1.0) <= 0 or d.get("commit_max_records", 1) < 1:
        found.add("recorder: commit_interval_ms > 0 and commit_max_records >= 1")
    projection = _projection(_section(doc.get("projection", {}), "projection", found), found)
    influx = _influx(_section(doc.get("influx", {}), "influx", found), found)
    if influx.enabled and not projection.enabled:
        found.add("influx.enabled needs projection.enabled (features come from the live projection)")
    supervision = _supervision(_section(doc.get("supervision", {}), "supervision", found), found)
    compaction = _compaction(_section(doc.get("compaction", {}), "compaction", found), found)
    publish = _publish(_section(doc.get("publish", {}), "publish", found), found)
    listing = _listing(_section(doc.get("listing", {}), "listing", found), found)
    tier = _tier(_section(doc.get("tier", {}), "tier", found), found)
    shard = _shard(_section(doc.get("shard", {}), "shard", found), found)
    broker = _broker(_section(doc.get("broker", {}), "broker", found), found)
    found.raise_if_any()
    if d.get("dashboard") and not d.get("log_file"):
        # the live view owns the terminal: JSON log lines go to a file, never under it
        d["log_file"] = str(Path(d["data"]) / DASHBOARD_LOG)
    return RecorderConfig(venues=venues, supervision=supervision, projection=projection,
                          publish=publish, compaction=compaction, influx=influx, listing=listing,
                          tier=tier, shard=shard, broker=broker, **d)


def env_overrides(doc: dict[str, Any], environ: Mapping[str, str],
                  problems: list[str] | None = None) -> dict[str, Any]:
    """``doc`` with ``TICKTAPE_<SECTION>__<KEY>`` variables applied (strings, coerced later).

    A variable naming an unknown section raises ``ConfigError``, or is added to
    ``problems`` when a list is given (``load_config`` reports it with the rest).
    """
    out = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in doc.items()}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX):].lower().partition("__")
        if section not in SECTIONS:
            message = f"{name}: unknown section {section!r} ({', '.join(SECTIONS)})"
            if problems is None:
                raise ConfigError(message)
            problems.append(message)
            continue
        out.setdefault(section, {})[key] = None if value == "" else value
    return out


def load_toml(path: str | Path) -> dict[str, Any]:
    """The parsed TOML file; ``ConfigError`` when it is missing or malformed."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None


def load_config(path: str | Path | None = None, *, environ: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None,
                venue_override: Mapping[str, Any] | list[Mapping[str, Any]] | None = None,
                sections: Mapping[str, Mapping[str, Any]] | None = None,
                ) -> RecorderConfig:
    """TOML file (optional) + environment + CLI overrides -> a validated ``RecorderConfig``.

    ``overrides`` are ``[recorder]`` keys; ``venue_override`` (from ``--venue`` and friends)
    replaces the venue list when it names a venue (a list of tables: one per venue),
    else patches every venue's URL keys; ``sections`` patch other sections' keys
    (``{"listing": {"enabled": True}}``).
    """
    doc: dict[str, Any] = load_toml(path) if path is not None else {}
    problems: list[str] = []
    doc = env_overrides(doc, environ or {}, problems)
    rec = doc.get("recorder", {})
    rec = dict(rec) if isinstance(rec, Mapping) else {}
    rec.update({k: v for k, v in (overrides or {}).items() if v is not None})
    doc["recorder"] = rec
    for name, keys in (sections or {}).items():
        table = doc.get(name, {})
        doc[name] = {**(table if isinstance(table, Mapping) else {}), **keys}
    if isinstance(venue_override, list):
        doc["venue"] = [{k: v for k, v in t.items() if v not in (None, (), [])}
                        for t in venue_override]
        return build_config(doc, problems=problems)
    vo = {k: v for k, v in (venue_override or {}).items() if v not in (None, (), [])}
    if vo.get("venue"):
        doc["venue"] = [vo]
    elif vo:
        venues = doc.get("venue", [])
        venues = [venues] if isinstance(venues, Mapping) else venues
        doc["venue"] = [{**v, **vo} if isinstance(v, Mapping) else v for v in venues]
    return build_config(doc, problems=problems)
